"""``model-release init``: adopting model-release in a model project, through the real CLI.

Projects are made in temporary folders with real safetensors weights and data files; their declared
dependencies come from the tests' wheelhouse, so locking runs the real resolver offline.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from huggingface_hub import hf_hub_download
from project import run_cli
from real_cards import GGUF_CARD, SENTENCE_TRANSFORMERS_CARD, paragraphs
from safetensors.numpy import save_file
from wheelhouse import Wheelhouse

from release.config import load_config
from release.hub.server import HubServer, Token
from release.scaffold import (
    CARD_OUTPUT,
    WeightsFolder,
    choose_model,
    describe_findings,
    install_spec,
    plan_scaffold,
    scan_project,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
SCAFFOLD = [
    "release.toml",
    "requirements.in",
    "noxfile.py",
    "templates/README.md.j2",
    ".github/workflows/release.yml",
    ".github/workflows/release-checks.yml",
    ".github/release-tools.txt",
    ".gitignore",
]


def _offline(wheelhouse: Wheelhouse) -> dict[str, str]:
    """pip's variables, which the lock honours: resolve from the wheelhouse alone."""
    return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheelhouse.directory)}


def _make_project(root: Path, *, dependencies: tuple[str, ...] = ("tinypkg>=1.0",)) -> Path:
    """A small training project: safetensors weights with their config, a data folder, a pyproject."""
    (root / "model").mkdir(parents=True)
    weights = {"dense.weight": np.arange(12, dtype=np.float32).reshape(3, 4), "dense.bias": np.ones(3, np.float32)}
    save_file(weights, str(root / "model" / "model.safetensors"))
    (root / "model" / "config.json").write_text('{"hidden_size": 4}\n')
    (root / "data").mkdir()
    (root / "data" / "train.csv").write_text("x,y\n1,0\n2,1\n")
    (root / "data" / "test.csv").write_text("x,y\n3,1\n")
    (root / "train.py").write_text("print('training')\n")
    deps = ", ".join(json.dumps(d) for d in dependencies)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "flower-net"\nversion = "0.3.0"\ndescription = "Tells flowers apart."\n'
        f'license = "MIT"\ndependencies = [{deps}]\n'
    )
    return root


def _tree(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root`` with its bytes and modification time."""
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def adopted(tmp_path: Path, wheelhouse: Wheelhouse) -> tuple[Path, dict[str, Any]]:
    root = _make_project(tmp_path / "flower-net")
    result = run_cli("init", "--json", cwd=root, env=_offline(wheelhouse))
    assert result.returncode == 0, result.stderr
    return root, json.loads(result.stdout)


def test_init_adopts_a_project_and_its_dry_run_passes(
    adopted: tuple[Path, dict[str, Any]], wheelhouse: Wheelhouse
) -> None:
    root, document = adopted
    assert document["ok"] is True and document["command"] == "init"
    assert document["created"] == SCAFFOLD and document["kept"] == []
    assert document["locked"] == ["requirements.txt"] and document["rendered"] == [CARD_OUTPUT]
    assert document["install_spec"] == str(REPO_ROOT)
    detected = document["detected"]
    assert detected["model"]["dir"] == "model" and detected["model"]["include"] == ["*.safetensors", "config.json"]
    assert detected["datasets"] == [{"name": "data", "dir": "data", "files": 2, "bytes": 20}]
    assert detected["requirements_from"] == "pyproject.toml [project].dependencies"
    dry_run = document["dry_run"]
    assert dry_run["outcome"] == "publish"
    added = sorted(f["path"] for f in dry_run["plan"]["added"])
    assert {"model.safetensors", "config.json", "datasets/data.sha256", "README.md", "requirements.txt"} <= set(added)
    assert any("nox -s release" in step for step in document["next_steps"])

    config = load_config(root / "release.toml")
    assert config.repo_id == "your-username/flower-net" and config.version == "0.3.0"
    assert config.endpoint == "local" and config.lock.resolver == "uv"
    assert config.model is not None and config.model.dir == root / "model"
    assert [(d.name, d.dir, d.include_data) for d in config.datasets] == [("data", root / "data", False)]
    assert config.card.metadata == {"license": "mit"} and config.card.output == root / CARD_OUTPUT
    assert config.card.template == root / "templates" / "README.md.j2"
    assert (root / "templates" / "README.md.j2").read_text() == (REPO_ROOT / "templates" / "README.md.j2").read_text()
    assert (root / "requirements.in").read_text().splitlines()[-1] == "tinypkg>=1.0"
    lock = (root / "requirements.txt").read_text()
    assert "tinypkg==1.0" in lock and "tinydep==1.1" in lock and "--hash=sha256:" in lock
    noxfile = (root / "noxfile.py").read_text()
    assert f'MODEL_RELEASE = os.environ.get("MODEL_RELEASE_SPEC") or {json.dumps(str(REPO_ROOT))}' in noxfile
    compile(noxfile, "noxfile.py", "exec")
    assert 'python-version: "3.11"' in (root / ".github/workflows/release.yml").read_text()

    # What the scaffolded workflows run: the release's dry run, the lock and card checks.
    dry = run_cli("release", "--dry-run", "--json", cwd=root, env=_offline(wheelhouse))
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["plan"] == dry_run["plan"]
    assert run_cli("lock", "--check", cwd=root).returncode == 0
    card = run_cli("card", "--check", cwd=root)
    assert card.returncode == 0, card.stdout + card.stderr


def test_a_second_init_changes_nothing(adopted: tuple[Path, dict[str, Any]], wheelhouse: Wheelhouse) -> None:
    root, _first = adopted
    for path in root.rglob("*"):  # back-date every file: a rewrite, even of the same bytes, shows in the mtimes
        if path.is_file():
            os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    before = _tree(root)
    again = run_cli("init", "--json", cwd=root, env=_offline(wheelhouse))
    assert again.returncode == 0, again.stderr
    document = json.loads(again.stdout)
    assert document["created"] == [] and document["kept"] == SCAFFOLD
    assert document["locked"] == [] and "rendered" not in document
    assert _tree(root) == before
    text = run_cli("init", cwd=root, env=_offline(wheelhouse))
    assert "  kept     release.toml (it exists: left as it was)" in text.stdout
    assert _tree(root) == before


def test_init_never_overwrites_and_names_what_it_kept(tmp_path: Path) -> None:
    root = tmp_path / "legacy"
    (root / "checkpoints").mkdir(parents=True)
    (root / "checkpoints" / "model.pt").write_bytes(pickle.dumps({"weight": [1.0, 2.0]}))
    mine = {"noxfile.py": "# my own sessions\n", ".gitignore": "*.log\n", "requirements.txt": "tinypkg==1.0\n"}
    for name, text in mine.items():
        (root / name).write_text(text)
    before = {name: (root / name).stat().st_mtime_ns for name in mine}
    result = run_cli("init", "--json", str(root), cwd=tmp_path)
    assert result.returncode == 1  # the dry run cannot pass: requirements.txt is not a lock
    document = json.loads(result.stdout)
    assert document["kept"] == ["noxfile.py", ".gitignore"]
    assert "release.toml" in document["created"] and "requirements.in" in document["created"]
    for name, text in mine.items():
        assert (root / name).read_text() == text and (root / name).stat().st_mtime_ns == before[name]
    assert document["locked"] == []  # requirements.txt exists: it is not replaced by a lock
    assert document["error"]["step"] == "dry run" and document["error"]["type"] == "StaleLockError"
    assert (root / "requirements.in").read_text().splitlines()[-1] == "tinypkg==1.0"
    assert document["detected"]["model"]["include"] == ["*.pt"]
    assert document["detected"]["requirements_from"] == "requirements.txt"
    steps = "\n".join(document["next_steps"])
    assert ".gitignore" in steps and "noxfile.py was kept" in steps
    human = run_cli("init", str(root), cwd=tmp_path)
    assert "requirements.txt is not a model-release lock and was kept" in human.stdout
    assert "The dry run failed: StaleLockError" in human.stdout


def test_init_needs_an_existing_folder(tmp_path: Path) -> None:
    result = run_cli("init", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert result.returncode == 2
    assert "UsageError" in result.stderr and "is not a folder" in result.stderr
    assert not (tmp_path / "nowhere").exists()


def test_the_scan_prefers_safetensors_and_skips_what_is_not_the_project(tmp_path: Path) -> None:
    root = tmp_path / "project"
    for folder in ("checkpoints", "exported/model", ".venv/lib", "venv", "wandb/run-1", "example/data"):
        (root / folder).mkdir(parents=True)
    (root / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    for folder in ("checkpoints", ".venv/lib", "venv", "wandb/run-1"):
        (root / folder / "big.safetensors").write_bytes(b"x" * 5000)  # ignored, or less safe
    (root / "checkpoints" / "big.safetensors").unlink()
    (root / "checkpoints" / "epoch-9.ckpt").write_bytes(b"x" * 9000)
    for shard in ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"):
        (root / "exported" / "model" / shard).write_bytes(b"x" * 100)
    (root / "exported" / "model" / "model.safetensors.index.json").write_text("{}")
    (root / "exported" / "model" / "tokenizer.json").write_text("{}")
    (root / "example" / "data" / "rows.csv").write_text("a\n")
    scan = scan_project(root)
    assert [f.dir for f in scan.weights] == ["exported/model", "checkpoints"]
    model = choose_model(scan.weights)
    assert model is not None and model.dir == "exported/model"
    assert model.include == ("*.safetensors", "*.safetensors.index.json", "tokenizer.json")
    assert model.notes == ("weights also in: checkpoints/ (change dir to release another)",)
    assert [(d.dir, d.name, d.files) for d in scan.datasets] == [("example/data", "example-data", 1)]
    assert scan.name == "project" and scan.version == "0.1.0" and scan.requirements_source is None


def test_pickles_beside_safetensors_are_left_out() -> None:
    folder = WeightsFolder(
        ".",
        (("model.safetensors", "safetensors", 10), ("pytorch_model.bin", "pickle", 10)),
        ("config.json",),
    )
    model = choose_model([folder])
    assert model is not None and model.include == ("*.safetensors", "config.json")
    assert model.notes == ("left out, as safer weights are released: pytorch_model.bin",)
    assert choose_model([]) is None


def test_the_plan_fills_a_given_repo_id_and_leaves_model_commented_without_weights(tmp_path: Path) -> None:
    scan = scan_project(tmp_path)
    plan = plan_scaffold(scan, spec="model-release==0.1.0", python="3.12", repo_id="flower-lab/net")
    files = {f.path: f.text for f in plan.files}
    assert list(files) == SCAFFOLD
    config = files["release.toml"]
    assert 'repo_id = "flower-lab/net"\n' in config and "# [model]\n" in config and "[[datasets]]" not in config
    assert '"model-release==0.1.0"' in files["noxfile.py"] and 'PYTHON = "3.12"' in files["noxfile.py"]
    assert 'python-version: "3.12"' in files[".github/workflows/release-checks.yml"]


def test_the_install_spec_is_this_checkout_unless_the_environment_names_one() -> None:
    assert install_spec({}) == str(REPO_ROOT)
    spec = "model-release @ git+https://example.org/model-release@v0.1.0"
    assert install_spec({"MODEL_RELEASE_SPEC": spec}) == spec


@pytest.mark.slow
def test_a_project_made_by_init_releases_with_nox(adopted: tuple[Path, dict[str, Any]], wheelhouse: Wheelhouse) -> None:
    """`nox -s release` of the scaffolded noxfile, in this environment (--no-venv): the session's steps
    run as written; only the install of model-release, which would need the package index, is skipped."""
    root, _document = adopted
    bin_dir = str(Path(sys.executable).parent)
    env = {**_offline(wheelhouse), "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    nox = [sys.executable, "-m", "nox", "--no-venv", "--no-install", "--non-interactive"]
    result = subprocess.run(
        [*nox, "-s", "release", "--", "--json"],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()  # nox passes the log (stderr) on to stdout too: the JSON is last
    document = json.loads("\n".join(lines[lines.index("{") :]))
    assert document["tag"] == "v0.3.0" and document["repo_id"] == "your-username/flower-net"
    with HubServer(root / ".hub", [Token("reader", "hf_reader_token")]) as hub:
        from huggingface_hub import HfApi

        refs = HfApi(endpoint=hub.url, token="hf_reader_token").list_repo_refs("your-username/flower-net")
    assert [(t.name, t.target_commit) for t in refs.tags] == [("v0.3.0", document["commit"])]
    check = subprocess.run(
        [*nox, "-s", "check"], cwd=root, capture_output=True, text=True, env={**os.environ, **env}, timeout=300
    )
    assert check.returncode == 0, check.stderr


# --- a model folder as it is on the Hub, with its card ---------------------------------------------


def _sentence_transformers_folder(root: Path) -> Path:
    """A sentence-transformers model folder as downloaded from the Hub: weights, module files, its card."""
    (root / "1_Pooling").mkdir(parents=True)
    save_file({"embeddings.weight": np.ones((4, 8), np.float32)}, str(root / "model.safetensors"))
    (root / "config.json").write_text('{"hidden_size": 8, "model_type": "bert"}\n')
    (root / "modules.json").write_text(
        '[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},\n'
        ' {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]\n'
    )
    pooling = '{"word_embedding_dimension": 8, "pooling_mode_mean_tokens": true}\n'
    (root / "1_Pooling" / "config.json").write_text(pooling)
    (root / "sentence_bert_config.json").write_text('{"max_seq_length": 256, "do_lower_case": false}\n')
    (root / "README.md").write_text(SENTENCE_TRANSFORMERS_CARD)
    return root


def _gguf_file(path: Path) -> None:
    """A small, well-formed GGUF v3 file: one metadata entry and one 4-element F32 tensor, 32-byte aligned."""

    def string(text: str) -> bytes:
        return struct.pack("<Q", len(text)) + text.encode()

    header = b"GGUF" + struct.pack("<IQQ", 3, 1, 1)
    header += string("general.architecture") + struct.pack("<I", 8) + string("llama")
    header += string("token_embd.weight") + struct.pack("<IQIQ", 1, 4, 0, 0)
    header += b"\0" * (-len(header) % 32)
    path.write_bytes(header + np.arange(4, dtype="<f4").tobytes())


def _adopt_and_release(root: Path, wheelhouse: Wheelhouse, cache: Path) -> tuple[dict[str, Any], str]:
    """``init``, then ``release`` to the embedded local Hub; the init report and the card downloaded at the tag."""
    env = _offline(wheelhouse)
    init = run_cli("init", "--json", cwd=root, env=env)
    assert init.returncode == 0, init.stdout + init.stderr
    released = run_cli("release", "--json", cwd=root, env=env)
    assert released.returncode == 0, released.stdout + released.stderr
    summary = json.loads(released.stdout)
    with HubServer(root / ".hub", [Token("reader", "hf_reader_token")]) as hub:
        card = hf_hub_download(
            summary["repo_id"],
            "README.md",
            revision=summary["tag"],
            endpoint=hub.url,
            token="hf_reader_token",
            cache_dir=cache,
        )
    return json.loads(init.stdout), Path(card).read_text(encoding="utf-8")


def _front_matter(card: str) -> dict[str, Any]:
    front = yaml.safe_load(card.split("---\n")[1])
    assert isinstance(front, dict)
    return front


@pytest.mark.slow
def test_a_sentence_transformers_card_is_adopted_and_comes_back_whole_from_the_hub(
    tmp_path: Path, wheelhouse: Wheelhouse
) -> None:
    root = _sentence_transformers_folder(tmp_path / "tiny-sentence-encoder")
    document, released = _adopt_and_release(root, wheelhouse, tmp_path / "cache")
    assert (root / "README.md").read_text() == SENTENCE_TRANSFORMERS_CARD  # the source card is left as it was
    config = load_config(root / "release.toml")
    assert config.card.metadata_file == root / "README.md" and config.card.metadata is None
    assert document["detected"]["license"] == "apache-2.0"
    assert "card     adopted README.md (card.metadata): its front matter (language, license, " in document["message"]

    original = _front_matter(SENTENCE_TRANSFORMERS_CARD)
    assert _front_matter(released) == original  # every field, every one of the 21 datasets, in the author's order
    assert list(_front_matter(released)) == list(original)
    body = released.split("\n---\n", 1)[1]
    for paragraph in paragraphs(SENTENCE_TRANSFORMERS_CARD):
        assert paragraph in body
    assert [line for line in body.splitlines() if line.startswith("# ")] == ["# tiny-sentence-encoder"]
    assert "No license given" not in body and "| License | apache-2.0 |" in body
    assert "\n## Release\n" in body and "`model.safetensors` |" in body
    assert (root / CARD_OUTPUT).read_text() == released  # the committed card is the released one


@pytest.mark.slow
def test_a_gguf_card_is_adopted_with_its_license_and_base_model(tmp_path: Path, wheelhouse: Wheelhouse) -> None:
    root = tmp_path / "tiny-gguf"
    root.mkdir()
    _gguf_file(root / "tiny-Q8_0.gguf")
    (root / "README.md").write_text(GGUF_CARD)
    document, released = _adopt_and_release(root, wheelhouse, tmp_path / "cache")
    assert document["detected"]["license"] == "llama3.2"
    front = _front_matter(released)
    assert front == _front_matter(GGUF_CARD) and list(front) == list(_front_matter(GGUF_CARD))
    assert front["base_model"] == "meta-llama/Llama-3.2-1B-Instruct" and front["quantized_by"] == "bartowski"
    body = released.split("\n---\n", 1)[1]
    assert all(paragraph in body for paragraph in paragraphs(GGUF_CARD))
    assert "| Base model | meta-llama/Llama-3.2-1B-Instruct |" in body


def test_the_card_in_the_model_folder_is_adopted_with_every_invalid_field_named(tmp_path: Path) -> None:
    root = _make_project(tmp_path / "flower-net")
    (root / "model" / "README.md").write_text("---\nlicense: apache2\nmodel-index: foo\ntags: [flowers]\n---\n# F\n")
    (root / "README.md").write_text("# flower-net\n\nThe project's own README: no front matter, not a card.\n")
    scan = scan_project(root)
    assert scan.card is not None and scan.card.path == "model/README.md"
    assert scan.card.fields == ("license", "model-index", "tags") and scan.card.license is None
    assert sorted(problem.split(": ")[:2] for problem in scan.card.problems) == [
        ["model/README.md:2", "license"],
        ["model/README.md:3", "model-index"],
    ]
    assert scan.license == "mit"  # the card's license is invalid: the project's declared one stays
    plan = plan_scaffold(scan, spec="model-release", python="3.11")
    toml = next(f.text for f in plan.files if f.path == "release.toml")
    assert 'metadata = "model/README.md"' in toml and "[card.metadata]" not in toml
    lines = "\n".join(describe_findings(scan, plan))
    assert "adopted model/README.md" in lines
    assert "2 invalid field(s), kept as written: fix them in model/README.md" in lines
    assert "did you mean 'apache-2.0'?" in lines


def test_a_readme_without_front_matter_is_not_adopted(tmp_path: Path) -> None:
    root = _make_project(tmp_path / "flower-net")
    (root / "README.md").write_text("# flower-net\n\nTells flowers apart.\n")
    scan = scan_project(root)
    assert scan.card is None
    toml = next(f.text for f in plan_scaffold(scan, spec="x", python="3.11").files if f.path == "release.toml")
    assert "[card.metadata]" in toml and 'license = "mit"' in toml and 'title = "flower-net"' in toml
