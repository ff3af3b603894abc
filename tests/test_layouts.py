"""Real model folders, as each library saves them: ``init``, a release to the embedded Hub, a download.

The folders in ``tests/fixtures/layouts/`` were saved by the libraries themselves (see
``tests/fixtures/layouts/make_layouts.py``, which also loads each one back with its library). Here each
goes through ``init`` and ``release`` with the real CLI, and the tag is downloaded with the real
huggingface_hub client: every file the library needs must come back, byte for byte, and what
comes back loads with the libraries this environment has (tokenizers, safetensors with numpy,
gguf, onnx). transformers, sentence-transformers, PEFT and diffusers need torch, which the test
environment cannot install: their files are checked by content instead (modules.json names only
released folders, model_index.json only released components, the adapter's weights its targets).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from huggingface_hub import snapshot_download
from project import run_cli
from safetensors.numpy import load_file, save_file
from wheelhouse import Wheelhouse

from release.card import CardMetadata
from release.formats.gguf import read_strings as gguf_strings
from release.hub.server import HubServer, Token
from release.libraries import onnx_external_data, read_layout, unreleased_files, with_layout
from release.scaffold import WeightsFolder, choose_model, scan_project

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "layouts"
LAYOUTS = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir() and p.name != "__pycache__")
READER = Token("reader", "hf_reader_token")
#: What init says of each fixture: the libraries, the card metadata the files state, the code run on load.
EXPECTED: dict[str, tuple[list[str], dict[str, str], list[str]]] = {
    "diffusers-ddpm": (
        ["diffusers"],
        {"library_name": "diffusers", "pipeline_tag": "unconditional-image-generation"},
        [],
    ),
    "diffusers-text-to-image": (
        ["diffusers"],
        {"library_name": "diffusers", "pipeline_tag": "text-to-image"},
        [],
    ),
    "gguf-f32": (["gguf"], {"base_model": "model-release-fixtures/tiny-bert"}, []),
    "onnx-external-data": (["onnx"], {}, []),
    "peft-lora": (["peft"], {"base_model": "model-release-fixtures/tiny-bert", "library_name": "peft"}, []),
    "sentence-transformers": (
        ["sentence-transformers", "transformers"],
        {"library_name": "sentence-transformers", "pipeline_tag": "sentence-similarity"},
        [],
    ),
    "transformers-bert": (
        ["transformers"],
        {"library_name": "transformers", "pipeline_tag": "text-classification"},
        [],
    ),
    "transformers-gpt2": (["transformers"], {"library_name": "transformers", "pipeline_tag": "text-generation"}, []),
    "transformers-vit-sharded": (
        ["transformers"],
        {"library_name": "transformers", "pipeline_tag": "image-classification"},
        [],
    ),
    "transformers-remote-code": (
        ["transformers"],
        {"library_name": "transformers"},
        ["configuration_tiny.py", "modeling_tiny.py"],
    ),
    "timm-vit": (["timm"], {"library_name": "timm", "pipeline_tag": "image-classification"}, []),
    "open-clip": (["open_clip"], {"library_name": "open_clip", "pipeline_tag": "zero-shot-image-classification"}, []),
}


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _project(root: Path, layout: str) -> Path:
    """A project holding the fixture as its model folder, with one dependency from the tests' wheelhouse."""
    shutil.copytree(FIXTURES / layout, root / "model")
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "{layout}"\nversion = "0.1.0"\ndependencies = ["tinypkg>=1.0"]\n'
    )
    return root


def _offline(wheelhouse: Wheelhouse) -> dict[str, str]:
    return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheelhouse.directory)}


def _front_matter(card: Path) -> dict[str, Any]:
    text = card.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    document = yaml.safe_load(text[4 : text.index("\n---\n", 4)])
    assert isinstance(document, dict)
    return document


def test_the_fixtures_are_small_and_hold_no_pickles() -> None:
    assert set(LAYOUTS) == set(EXPECTED)
    for layout in LAYOUTS:
        files = _files(FIXTURES / layout)
        assert sum(len(data) for data in files.values()) < 1_000_000, layout
        assert not [name for name in files if name.endswith((".bin", ".pt", ".pth", ".pkl", ".ckpt"))], layout


@pytest.mark.slow
@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_real_model_folder_is_released_whole_and_loads(layout: str, tmp_path: Path, wheelhouse: Wheelhouse) -> None:
    root = _project(tmp_path / layout, layout)
    fixture = _files(FIXTURES / layout)
    needed = {name: data for name, data in fixture.items() if name != "README.md"}  # the release writes its own card
    init = run_cli("init", "--json", cwd=root, env=_offline(wheelhouse))
    assert init.returncode == 0, init.stdout + init.stderr
    detected = json.loads(init.stdout)["detected"]["model"]
    libraries, metadata, code = EXPECTED[layout]
    assert (detected["dir"], detected["libraries"], detected["card_metadata"]) == ("model", libraries, metadata)
    assert detected["code"] == code
    assert detected["unreleased"] == sorted(set(fixture) - set(needed))  # the library's own card: listed, not lost

    released = run_cli("release", "--json", cwd=root, env=_offline(wheelhouse))
    assert released.returncode == 0, released.stdout + released.stderr
    repo_id, tag = f"your-username/{layout}", "v0.1.0"
    with HubServer(root / ".hub", [READER]) as hub:
        # Into a folder of real files: onnx refuses external data behind the cache's symlinks.
        snapshot = Path(
            snapshot_download(repo_id, revision=tag, endpoint=hub.url, token=READER.value, local_dir=tmp_path / "get")
        )
    downloaded = {name: data for name, data in _files(snapshot).items() if not name.startswith(".cache/")}
    assert {name: downloaded.get(name) for name in needed} == needed
    card = _front_matter(snapshot / "README.md")
    assert {key: card[key] for key in metadata} == metadata
    assert ("custom_code" in card.get("tags", [])) == bool(code)
    body = (snapshot / "README.md").read_text()
    if "README.md" in fixture:  # the library's own card is adopted: every field and paragraph it had
        original = (FIXTURES / layout / "README.md").read_text()
        adopted = _front_matter(FIXTURES / layout / "README.md")
        assert {key: card.get(key) for key in adopted if key != "tags"} == {
            k: v for k, v in adopted.items() if k != "tags"
        }
        assert set(adopted.get("tags", [])) <= set(card.get("tags", []))
        paragraphs = [p.strip() for p in original.split("\n---\n", 2)[-1].split("\n\n") if p.strip()]
        assert [p for p in paragraphs if p not in body] == []
    assert ("Code runs when this model loads" in body) == bool(code)  # flagged in the card's text too
    assert all(f"`{path}`" in body for path in code)
    LOADERS[layout](snapshot)


def _load_tokenizer(folder: Path) -> None:
    """tokenizer.json loads with ``tokenizers``, and every id it gives is in the model's vocabulary."""
    from tokenizers import Tokenizer

    config = json.loads((folder / "config.json").read_text())
    ids = Tokenizer.from_file(str(folder / "tokenizer.json")).encode("the cat sat on the mat").ids
    assert ids and max(ids) < config["vocab_size"]
    assert json.loads((folder / "tokenizer_config.json").read_text())["tokenizer_class"]


def _load_bert(folder: Path) -> None:
    _load_tokenizer(folder)
    config = json.loads((folder / "config.json").read_text())
    weights = load_file(str(folder / "model.safetensors"))
    assert weights["bert.embeddings.word_embeddings.weight"].shape == (config["vocab_size"], config["hidden_size"])
    assert weights["classifier.weight"].shape == (len(config["id2label"]), config["hidden_size"])


def _load_gpt2(folder: Path) -> None:
    _load_tokenizer(folder)
    config = json.loads((folder / "config.json").read_text())
    weights = load_file(str(folder / "model.safetensors"))
    assert weights["transformer.wte.weight"].shape == (config["vocab_size"], config["n_embd"])
    generation = json.loads((folder / "generation_config.json").read_text())
    assert generation["eos_token_id"] == config["eos_token_id"]
    assert "messages" in (folder / "chat_template.jinja").read_text()


def _load_vit(folder: Path) -> None:
    """Every shard the index maps a tensor to loads and holds it; the image processor fits the model."""
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    shards = {name: load_file(str(folder / name)) for name in set(index["weight_map"].values())}
    assert len(shards) == 3
    assert all(tensor in shards[shard] for tensor, shard in index["weight_map"].items())
    assert sum(t.nbytes for s in shards.values() for t in s.values()) == index["metadata"]["total_size"]
    config = json.loads((folder / "config.json").read_text())
    processor = json.loads((folder / "preprocessor_config.json").read_text())
    assert processor["size"] == {"height": config["image_size"], "width": config["image_size"]}


def _load_timm(folder: Path) -> None:
    """timm needs torch: the weights load with safetensors, and the head has config.json's classes and features."""
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"] == "test_vit" and config["model_args"]["embed_dim"] == config["num_features"]
    weights = load_file(str(folder / "model.safetensors"))
    assert weights["head.weight"].shape == (config["num_classes"], config["num_features"])


def _load_open_clip(folder: Path) -> None:
    """open_clip needs torch: the weights fit open_clip_config.json's text tower; its tokenizer loads and fits."""
    from tokenizers import Tokenizer

    text = json.loads((folder / "open_clip_config.json").read_text())["model_cfg"]["text_cfg"]
    weights = load_file(str(folder / "open_clip_model.safetensors"))
    assert weights["token_embedding.weight"].shape == (text["vocab_size"], text["width"])
    ids = Tokenizer.from_file(str(folder / "tokenizer.json")).encode("the cat sat on the mat").ids
    assert ids and max(ids) < text["vocab_size"]


def _load_remote_code(folder: Path) -> None:
    """The auto_map names modules that were released; the model's own code imports only released modules."""
    config = json.loads((folder / "config.json").read_text())
    for reference in config["auto_map"].values():
        assert (folder / f"{reference.rsplit('.', 1)[0]}.py").is_file()
    compile((folder / "modeling_tiny.py").read_text(), "modeling_tiny.py", "exec")
    assert load_file(str(folder / "model.safetensors"))["linear.weight"].shape == (config["width"], config["width"])


def _load_sentence_transformers(folder: Path) -> None:
    """modules.json names only released module folders; pooling matches the encoder; the tokenizer loads."""
    _load_tokenizer(folder)
    modules = json.loads((folder / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[1] for m in modules] == ["Transformer", "Pooling", "Normalize"]
    for module in modules[1:]:
        assert (folder / module["path"] / "config.json").is_file(), module
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    hidden = json.loads((folder / "config.json").read_text())["hidden_size"]
    assert (pooling["embedding_dimension"], pooling["pooling_mode"]) == (hidden, "mean")
    assert json.loads((folder / "sentence_bert_config.json").read_text())["transformer_task"] == "feature-extraction"
    assert json.loads((folder / "config_sentence_transformers.json").read_text())["similarity_fn_name"] == "cosine"
    assert load_file(str(folder / "model.safetensors"))["embeddings.word_embeddings.weight"].shape[1] == hidden


def _load_peft(folder: Path) -> None:
    """The adapter's weights hold LoRA matrices of the rank its config states, for each module it targets."""
    config = json.loads((folder / "adapter_config.json").read_text())
    weights = load_file(str(folder / "adapter_model.safetensors"))
    for target in config["target_modules"]:
        a = [v for k, v in weights.items() if f".{target}.lora_A" in k]
        assert a and all(m.shape[0] == config["r"] for m in a), target


def _load_diffusers(folder: Path) -> None:
    """model_index.json names only released components; the UNet's weights match its config."""
    index = json.loads((folder / "model_index.json").read_text())
    components = [k for k, v in index.items() if not k.startswith("_") and isinstance(v, list)]
    assert sorted(components) == ["scheduler", "unet"]
    assert json.loads((folder / "scheduler" / "scheduler_config.json").read_text())["_class_name"] == "DDPMScheduler"
    unet = json.loads((folder / "unet" / "config.json").read_text())
    weights = load_file(str(folder / "unet" / "diffusion_pytorch_model.safetensors"))
    assert weights["conv_in.weight"].shape == (unet["block_out_channels"][0], unet["in_channels"], 3, 3)


def _load_text_to_image(folder: Path) -> None:
    """Each component model_index.json names came back, the absent ones (null) did not; the
    tokenizer component loads with ``tokenizers`` and fits the text encoder, whose output fits the UNet."""
    from tokenizers import Tokenizer

    index = json.loads((folder / "model_index.json").read_text())
    named = {k for k, v in index.items() if not k.startswith("_") and isinstance(v, list)}
    present = {k for k in named if None not in index[k]}
    assert present == {"scheduler", "text_encoder", "tokenizer", "unet", "vae"}
    assert all((folder / k).is_dir() for k in present) and not any((folder / k).exists() for k in named - present)
    text = json.loads((folder / "text_encoder" / "config.json").read_text())
    ids = Tokenizer.from_file(str(folder / "tokenizer" / "tokenizer.json")).encode("a red cat").ids
    assert ids and max(ids) < text["vocab_size"]
    encoder = load_file(str(folder / "text_encoder" / "model.safetensors"))
    assert encoder["embeddings.token_embedding.weight"].shape == (text["vocab_size"], text["hidden_size"])
    unet = json.loads((folder / "unet" / "config.json").read_text())
    assert unet["cross_attention_dim"] == text["hidden_size"]
    vae = json.loads((folder / "vae" / "config.json").read_text())
    assert unet["in_channels"] == vae["latent_channels"]
    assert load_file(str(folder / "vae" / "diffusion_pytorch_model.safetensors"))


def _load_gguf(folder: Path) -> None:
    from gguf import GGUFReader

    reader = GGUFReader(folder / "tiny-f32.gguf")
    assert {t.name: tuple(int(n) for n in t.shape) for t in reader.tensors} == {
        "token_embd.weight": (16, 32),  # GGUF lists dimensions innermost first
        "output_norm.weight": (16,),
    }
    assert gguf_strings(folder / "tiny-f32.gguf")["general.license"] == "apache-2.0"


def _load_onnx(folder: Path) -> None:
    """onnx.load reads the weights from the released external-data file; the graph runs."""
    import onnx
    from onnx.reference import ReferenceEvaluator

    model = onnx.load(str(folder / "model.onnx"))
    onnx.checker.check_model(model)
    x = np.ones((1, 4), dtype=np.float32)
    (y,) = ReferenceEvaluator(model).run(None, {"x": x})
    weight, bias = (np.asarray(onnx.numpy_helper.to_array(t), dtype=np.float32) for t in model.graph.initializer)
    expected: np.ndarray[Any, np.dtype[np.float32]] = x @ weight + bias
    assert np.allclose(np.asarray(y, dtype=np.float32), expected, rtol=1e-6)


LOADERS = {
    "diffusers-ddpm": _load_diffusers,
    "diffusers-text-to-image": _load_text_to_image,
    "gguf-f32": _load_gguf,
    "onnx-external-data": _load_onnx,
    "peft-lora": _load_peft,
    "sentence-transformers": _load_sentence_transformers,
    "transformers-bert": _load_bert,
    "transformers-gpt2": _load_gpt2,
    "transformers-remote-code": _load_remote_code,
    "transformers-vit-sharded": _load_vit,
    "timm-vit": _load_timm,
    "open-clip": _load_open_clip,
}


@pytest.mark.slow
def test_files_left_out_are_listed_by_init_and_the_dry_run(tmp_path: Path, wheelhouse: Wheelhouse) -> None:
    root = _project(tmp_path / "project", "transformers-bert")
    (root / "model" / "training_args.json").write_text("{}\n")
    (root / "model" / "merges.txt").write_text("#version: 0.2\n")  # a tokenizer file: released, not listed
    init = run_cli("init", cwd=root, env=_offline(wheelhouse))
    assert init.returncode == 0, init.stdout + init.stderr
    assert "not released (not in include; add them if loading needs them): training_args.json" in init.stdout
    library = "library  transformers; the card gets library_name transformers, pipeline_tag text-classification"
    assert library + " unless it sets them" in init.stdout
    include = ["*.safetensors", "config.json", "merges.txt", "tokenizer.json", "tokenizer_config.json"]
    lines = "".join(f"    {json.dumps(name)},\n" for name in include)
    assert f"include = [\n{lines}]  # globs in dir" in (root / "release.toml").read_text()  # one a line, to review
    dry = run_cli("release", "--dry-run", "--json", cwd=root, env=_offline(wheelhouse))
    assert dry.returncode == 0, dry.stderr
    document = json.loads(dry.stdout)
    assert document["unreleased"] == ["training_args.json"]
    assert "merges.txt" in [f["path"] for f in document["plan"]["added"]]
    assert "not released: 1 file(s) of the model folder" in document["message"]
    text = run_cli("release", "--dry-run", cwd=root, env=_offline(wheelhouse))
    assert "\n  training_args.json\n" in text.stdout


def test_a_model_folder_at_the_project_root_lists_no_file_of_the_release_itself(tmp_path: Path) -> None:
    """A clone of a Hub repository is its own project: release.toml, the locks and outputs are not the model's."""
    shutil.copytree(FIXTURES / "transformers-gpt2", tmp_path / "clone")
    root = tmp_path / "clone"
    for name in ("release.toml", "requirements.in", "requirements.txt", "MODEL_CARD.md", "noxfile.py", ".gitignore"):
        (root / name).write_text("x\n")
    (root / "build").mkdir()
    (root / "build" / "README.md").write_text("x\n")
    (root / "eval.py").write_text("print('not the model')\n")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "eval.cpython-311.pyc").write_bytes(b"")
    own = [root / n for n in ("release.toml", "requirements.in", "requirements.txt", "MODEL_CARD.md", "noxfile.py")]
    include = ["*.safetensors", *read_layout(root).files]
    assert unreleased_files(root, include, ignore=[*own, root / "build"]) == ("eval.py",)
    (root / ".gitattributes").write_text("*.safetensors filter=lfs\n")
    (root / "templates").mkdir()
    (root / "templates" / "README.md.j2").write_text("x\n")
    scan = scan_project(root)
    model = choose_model(scan.weights)
    assert model is not None and model.dir == "."
    assert "chat_template.jinja" in model.include and "generation_config.json" in model.include
    assert model.unreleased == ("eval.py",)  # a second init does not list what the first one wrote


def test_a_component_holding_only_pickles_keeps_them_beside_safetensors_elsewhere(tmp_path: Path) -> None:
    """The safest format wins in each folder: a component saved only as a pickle is not dropped."""
    root = tmp_path / "pipe"
    shutil.copytree(FIXTURES / "diffusers-ddpm", root / "pipeline")
    index = json.loads((root / "pipeline" / "model_index.json").read_text())
    index["vae"] = ["diffusers", "AutoencoderKL"]
    (root / "pipeline" / "model_index.json").write_text(json.dumps(index))
    (root / "pipeline" / "vae").mkdir()
    (root / "pipeline" / "vae" / "config.json").write_text("{}")
    (root / "pipeline" / "vae" / "diffusion_pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")
    (root / "pipeline" / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")
    scan = scan_project(root)
    assert [f.dir for f in scan.weights] == ["pipeline"]  # one model: its components are not models of their own
    model = choose_model(scan.weights)
    assert model is not None
    assert model.include == (
        "unet/*.safetensors",
        "vae/*.bin",
        "model_index.json",
        "scheduler/scheduler_config.json",
        "unet/config.json",
        "vae/config.json",
    )
    assert "left out, as safer weights are released: unet/diffusion_pytorch_model.bin" in model.notes
    assert model.notes[0].startswith("pickles: the safety gate scans each one")


def test_layout_details_beyond_the_fixtures(tmp_path: Path) -> None:
    """What the saved fixtures do not show, in small folders written by hand as the libraries lay them out:
    a timm config alone, an open_clip license, a pipeline's null component, a custom module's imports."""
    timm = tmp_path / "timm"
    timm.mkdir()
    (timm / "config.json").write_text(json.dumps({"architecture": "resnet18", "num_classes": 3, "pretrained_cfg": {}}))
    layout = read_layout(timm)
    assert layout.libraries == ("timm",) and layout.files == ("config.json",)
    assert dict(layout.metadata) == {"library_name": "timm", "pipeline_tag": "image-classification"}

    clip = tmp_path / "clip"
    clip.mkdir()
    (clip / "open_clip_config.json").write_text("{}")
    (clip / "LICENSE").write_text("MIT\n")
    layout = read_layout(clip)
    assert layout.library == "open_clip" and layout.files == ("LICENSE", "open_clip_config.json")

    sd = tmp_path / "sd"
    for component in ("text_encoder", "tokenizer", "unet"):
        (sd / component).mkdir(parents=True)
    index: dict[str, Any] = {
        "_class_name": "StableDiffusionPipeline",
        "text_encoder": ["transformers", "CLIPTextModel"],
    }
    index |= {"tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"]}
    index |= {"safety_checker": [None, None]}
    (sd / "model_index.json").write_text(json.dumps(index))
    (sd / "tokenizer" / "vocab.json").write_text("{}")
    (sd / "tokenizer" / "merges.txt").write_text("")
    (sd / "text_encoder" / "config.json").write_text("{}")
    layout = read_layout(sd)
    assert layout.folders == ("text_encoder", "tokenizer", "unet")
    assert layout.metadata["pipeline_tag"] == "text-to-image"
    assert "tokenizer/merges.txt" in layout.files and "text_encoder/config.json" in layout.files

    st = tmp_path / "st"
    st.mkdir()
    modules = [{"idx": 0, "name": "0", "path": "", "type": "custom_st.Encoder"}]
    (st / "modules.json").write_text(json.dumps(modules))
    (st / "custom_st.py").write_text("from .helpers import mean\n")
    (st / "helpers.py").write_text("def mean(x): return x\n")
    (st / "unused.py").write_text("")
    layout = read_layout(st)
    assert layout.code == ("custom_st.py", "helpers.py")  # the module, and what it imports: not unused.py


def test_weights_in_a_plain_subfolder_are_another_model(tmp_path: Path) -> None:
    """Without a layout naming it, a folder of weights inside the model folder is not part of it."""
    root = tmp_path / "project"
    (root / "model" / "checkpoint-10").mkdir(parents=True)
    save_file({"w": np.zeros(2, np.float32)}, str(root / "model" / "model.safetensors"))
    save_file({"w": np.zeros(1, np.float32)}, str(root / "model" / "checkpoint-10" / "model.safetensors"))
    scan = scan_project(root)
    assert [(f.dir, [n for n, _, _ in f.files]) for f in scan.weights] == [
        ("model", ["model.safetensors"]),
        ("model/checkpoint-10", ["model.safetensors"]),
    ]
    model = choose_model(scan.weights)
    assert model is not None and model.unreleased == () and model.include == ("*.safetensors",)
    lone = choose_model([WeightsFolder(".", (("model.safetensors", "safetensors", 8),))])
    assert lone is not None and lone.include == ("*.safetensors",)


def test_onnx_and_gguf_headers_are_read_without_their_libraries(tmp_path: Path) -> None:
    onnx_dir = FIXTURES / "onnx-external-data"
    assert onnx_external_data(onnx_dir / "model.onnx") == ["model.onnx_data"]
    gguf = FIXTURES / "gguf-f32" / "tiny-f32.gguf"
    strings = gguf_strings(gguf)
    assert strings["general.base_model.0.repo_url"] == "https://huggingface.co/model-release-fixtures/tiny-bert"
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(gguf.read_bytes()[:80])
    assert "general.base_model.0.repo_url" not in gguf_strings(truncated)  # what parses, never an exception
    (tmp_path / "empty.onnx").write_bytes(b"")
    assert onnx_external_data(tmp_path / "empty.onnx") == []
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(onnx_dir / "model.onnx", outside / "model.onnx")  # its external data is not in the folder
    assert read_layout(outside).files == ()


def test_the_card_keeps_what_it_sets_and_gets_only_what_the_released_files_state() -> None:
    folder = FIXTURES / "transformers-remote-code"
    released = ["config.json", "configuration_tiny.py", "model.safetensors", "modeling_tiny.py"]
    own = CardMetadata({"library_name": "my-lib", "tags": ["tiny"]}, "card.yaml")
    filled = with_layout(own, folder, released)
    assert dict(filled.data) == {"library_name": "my-lib", "tags": ["tiny", "custom_code"]}
    assert filled.source == "card.yaml"
    assert dict(with_layout(CardMetadata({}, "x"), folder, ["model.safetensors"]).data) == {}  # no config released
    assert dict(with_layout(CardMetadata({"tags": "one"}, "x"), folder, released).data) == {
        "tags": "one",  # not a list: left for the schema check to name
        "library_name": "transformers",
    }
    assert with_layout(own, None, released) is own
    peft = with_layout(CardMetadata({"base_model": "org/other"}, "x"), FIXTURES / "peft-lora", ["adapter_config.json"])
    assert dict(peft.data) == {"base_model": "org/other", "library_name": "peft"}
