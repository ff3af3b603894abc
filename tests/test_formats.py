"""The gate's format checks on files the real libraries write: GGUF (gguf), ONNX (onnx), Keras (h5py).

Keras itself needs a backend (jax: ~500 MB) and is not installed for the tests: the Keras model
configurations in tests/fixtures/keras were written by real Keras 3.15.1 (make_configs.py there),
and the tests wrap them in a .keras zip and an .h5 file as Keras lays them out.
"""

from __future__ import annotations

import json
import struct
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import gguf
import h5py
import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper
from onnx.external_data_helper import set_external_data

from release.errors import Finding
from release.formats.gguf import GGML_TYPES, VALUE_TYPES, check_gguf
from release.formats.onnx import ExternalTensor, external_tensors
from release.formats.sniff import FileKind, sniff
from release.gate import GateConfig, run_gate


def where(findings: list[Finding]) -> list[tuple[str, str, str | None]]:
    return [(f.code, f.path, f.where) for f in findings]


# --- GGUF ----------------------------------------------------------------------------------------


def write_gguf(path: Path, *, alignment: int | None = None) -> Path:
    """A small llama-style GGUF file written by gguf's GGUFWriter: F32, F16 and Q8_0 tensors, a vocabulary."""
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny")
    writer.add_context_length(64)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(["<s>", "</s>", "hello", "world"])
    writer.add_token_scores([0.0, 0.0, -1.0, -2.0])
    if alignment is not None:
        writer.add_custom_alignment(alignment)
    writer.add_tensor("token_embd.weight", np.arange(32, dtype=np.float32).reshape(4, 8))
    writer.add_tensor("output_norm.weight", np.ones(8, dtype=np.float16))
    q8_0 = gguf.GGMLQuantizationType.Q8_0  # blocks of 32 values in 34 bytes
    weights = np.linspace(-1, 1, 64, dtype=np.float32).reshape(2, 32)
    writer.add_tensor("blk.0.attn_q.weight", gguf.quants.quantize(weights, q8_0), raw_dtype=q8_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_our_tables_agree_with_the_gguf_library() -> None:
    assert {k: (name, block, size) for k, (name, block, size) in GGML_TYPES.items()} == {
        int(t): (gguf.GGMLQuantizationType(t).name, *gguf.GGML_QUANT_SIZES[t]) for t in gguf.GGML_QUANT_SIZES
    }
    assert {k: name for k, (name, _) in VALUE_TYPES.items()} == {int(t): t.name for t in gguf.GGUFValueType}


@pytest.mark.parametrize("alignment", [None, 64])
def test_a_gguf_file_written_by_gguf_passes(tmp_path: Path, alignment: int | None) -> None:
    path = write_gguf(tmp_path / "tiny.Q8_0.gguf", alignment=alignment)
    assert check_gguf("tiny.Q8_0.gguf", path) == []
    assert run_gate([("tiny.Q8_0.gguf", path), ("model.bin", path)], GateConfig()) == []
    # and gguf's own reader agrees it is whole
    assert [t.name for t in gguf.GGUFReader(path).tensors][-1] == "blk.0.attn_q.weight"


def test_a_truncated_gguf_file_is_refused_naming_the_tensor(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "tiny.gguf")
    last = gguf.GGUFReader(path).tensors[-1]
    path.write_bytes(path.read_bytes()[: int(last.data_offset) + int(last.n_bytes) - 1])  # its last byte gone
    findings = run_gate([("tiny.gguf", path)], GateConfig())
    assert where(findings) == [("MR602 gguf-tensor", "tiny.gguf", "blk.0.attn_q.weight")]
    assert "truncated" in findings[0].message and "Q8_0 [32, 2]" in findings[0].message  # ggml order: ne[0] first


def test_a_gguf_file_cut_inside_its_header_is_refused(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "tiny.gguf")
    whole = path.read_bytes()
    path.write_bytes(whole[:200])
    findings = run_gate([("tiny.gguf", path)], GateConfig())
    assert [f.code for f in findings] == ["MR601 gguf-header"]
    assert "file ends at 200" in findings[0].message
    assert (findings[0].where or "").startswith(("metadata", "tensor"))


def header(
    *, version: int = 3, tensors: list[tuple[str, list[int], int, int]], kv: bytes = b"", kv_count: int = 0
) -> bytes:
    """A GGUF header built by hand, for what GGUFWriter never writes."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), kv_count) + kv
    for name, shape, ggml_type, offset in tensors:
        out += struct.pack("<Q", len(name)) + name.encode() + struct.pack("<I", len(shape))
        out += struct.pack(f"<{len(shape)}Q", *shape) + struct.pack("<IQ", ggml_type, offset)
    return out + b"\0" * (-len(out) % 32)


@pytest.mark.parametrize(
    ("content", "code", "place", "words"),
    [
        (b"GGML" + b"\0" * 60, "MR601 gguf-header", "magic", "magic"),
        (header(version=1, tensors=[]), "MR601 gguf-header", "version", "version 1"),
        (header(tensors=[("w", [8], 99, 0)]) + b"\0" * 32, "MR602 gguf-tensor", "w", "ggml type 99"),
        (header(tensors=[("w", [8], 0, 4)]) + b"\0" * 64, "MR602 gguf-tensor", "w", "alignment 32"),
        (header(tensors=[("w", [30], 2, 0)]) + b"\0" * 64, "MR602 gguf-tensor", "w", "block 32"),
        (header(tensors=[("w", [1, 1, 1, 1, 1], 0, 0)]) + b"\0" * 32, "MR601 gguf-header", "tensor 'w'", "at most 4"),
        (header(tensors=[("w", [2], 0, 0), ("w", [2], 0, 32)]) + b"\0" * 64, "MR602 gguf-tensor", "w", "twice"),
        (
            header(tensors=[], kv=struct.pack("<Q", 17) + b"general.alignment" + struct.pack("<II", 4, 48), kv_count=1),
            "MR601 gguf-header",
            "metadata 'general.alignment'",
            "power of two",
        ),
        (header(tensors=[], kv_count=10**12), "MR601 gguf-header", "counts", "more than the file can hold"),
    ],
)
def test_a_malformed_gguf_header_is_refused(tmp_path: Path, content: bytes, code: str, place: str, words: str) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(content)
    findings = run_gate([("model.gguf", path)], GateConfig())
    assert [(f.code, f.where) for f in findings] == [(code, place)]
    assert words in findings[0].message
    assert "GGUFWriter" in findings[0].fix


# --- ONNX ----------------------------------------------------------------------------------------


def onnx_model() -> onnx.ModelProto:
    """y = x + w, w a 1,000-float initializer, and a Constant node holding a 600-float tensor."""
    w = numpy_helper.from_array(np.arange(1000, dtype=np.float32), name="w")
    c = numpy_helper.from_array(np.ones(600, dtype=np.float32), name="c")
    nodes = [
        helper.make_node("Constant", [], ["c_out"], value=c),
        helper.make_node("Add", ["x", "w"], ["xw"]),
        helper.make_node("Add", ["xw", "c_out"], ["y"], name="add_c"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1000])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1000])],
        initializer=[w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.graph.node[0].attribute[0].t.name = "c"
    onnx.checker.check_model(model)
    return model


def save_external(folder: Path, location: str = "model.onnx.data") -> Path:
    """The model saved by onnx with its tensors in ``location`` beside it."""
    (folder / location).parent.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    onnx.save_model(
        onnx_model(), str(path), save_as_external_data=True, location=location, size_threshold=0, convert_attribute=True
    )
    return path


def test_an_onnx_model_with_its_external_data_passes_and_loads(tmp_path: Path) -> None:
    path = save_external(tmp_path / "onnx")
    embedded = tmp_path / "embedded.onnx"
    onnx.save_model(onnx_model(), str(embedded))
    files = [("onnx/model.onnx", path), ("onnx/model.onnx.data", path.parent / "model.onnx.data")]
    assert run_gate([*files, ("embedded.onnx", embedded)], GateConfig()) == []
    onnx.checker.check_model(str(path))  # what the gate passed, onnx loads
    assert {t.name for t in external_tensors_of(path)} == {"w", "c"}


def external_tensors_of(path: Path) -> list[ExternalTensor]:
    with path.open("rb") as handle:
        return external_tensors(handle, path.stat().st_size)


@pytest.mark.parametrize("location", ["../outside.bin", "/etc/hostname", "data/../../x.bin", "..\\x.bin", "C:/w.bin"])
def test_onnx_external_data_outside_the_release_tree_is_refused(tmp_path: Path, location: str) -> None:
    model = onnx_model()
    weights = model.graph.initializer[0]
    set_external_data(weights, location=location, offset=0, length=4000)
    weights.ClearField("raw_data")
    weights.data_location = onnx.TensorProto.EXTERNAL
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())  # written by hand: onnx.save_model would follow the location
    findings = run_gate([("export/model.onnx", path)], GateConfig())
    assert [(f.code, f.path, f.where) for f in findings] == [("MR702 onnx-external-path", "export/model.onnx", "w")]
    assert repr(location) in findings[0].message and "outside the release tree" in findings[0].message


def test_onnx_external_data_missing_from_the_release_is_refused(tmp_path: Path) -> None:
    path = save_external(tmp_path / "onnx", location="weights/model.data")
    findings = run_gate([("onnx/model.onnx", path)], GateConfig())
    assert where(findings) == [
        ("MR703 onnx-external-missing", "onnx/model.onnx", "c"),
        ("MR703 onnx-external-missing", "onnx/model.onnx", "w"),
    ]
    assert "(onnx/weights/model.data)" in findings[0].message


def test_onnx_external_data_cut_short_is_refused(tmp_path: Path) -> None:
    path = save_external(tmp_path / "onnx")
    data = path.parent / "model.onnx.data"
    data.write_bytes(data.read_bytes()[:4000])  # w's 4,000 bytes stay, c's 2,400 go
    findings = run_gate([("model.onnx", path), ("model.onnx.data", data)], GateConfig())
    assert where(findings) == [("MR704 onnx-external-range", "model.onnx", "c")]


def test_a_file_named_onnx_that_is_not_protobuf_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x0a\xff\xff\xff\x0f" + b"\0" * 10)  # a field claiming 4 GB in a 15-byte file
    assert [f.code for f in run_gate([("model.onnx", path)], GateConfig())] == ["MR701 onnx-model"]


# --- Keras ---------------------------------------------------------------------------------------

KERAS = Path(__file__).parent / "fixtures" / "keras"  # configurations real Keras 3.15.1 wrote (see make_configs.py)


def keras_zip(path: Path, model: str) -> Path:
    """A .keras file as Keras 3 lays it out: config.json, metadata.json, model.weights.h5."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", (KERAS / f"{model}.metadata.json").read_text())
        archive.writestr("config.json", (KERAS / f"{model}.config.json").read_text())
        weights = path.with_suffix(".weights.h5")
        with h5py.File(weights, "w") as handle:
            handle.create_group("layers").create_group("dense").create_group("vars").create_dataset(
                "0", data=np.zeros((3, 2), dtype=np.float32)
            )
        archive.write(weights, "model.weights.h5")
    return path


def keras_h5(path: Path, model: str) -> Path:
    """A legacy .h5 model file: the configuration in the root's attributes, weights in groups."""
    attributes = json.loads((KERAS / f"{model}.h5.json").read_text())
    with h5py.File(path, "w") as handle:
        for key, value in attributes.items():
            handle.attrs[key] = value
        handle.create_group("model_weights").create_dataset("kernel", data=np.zeros((3, 2), dtype=np.float32))
    return path


@pytest.mark.parametrize("save", [keras_zip, keras_h5])
def test_keras_lambda_layers_are_reported_as_code(tmp_path: Path, save: Callable[[Path, str], Path]) -> None:
    suffix = ".keras" if save is keras_zip else ".h5"
    flat, nested = save(tmp_path / f"flat{suffix}", "with_lambda"), save(tmp_path / f"nested{suffix}", "nested_lambda")
    findings = run_gate([(f"a/model{suffix}", flat), ("b/model", nested)], GateConfig())  # b: known by content
    assert [(f.code, f.severity, f.path, f.where) for f in findings] == [
        ("MR801 keras-lambda", "error", f"a/model{suffix}", "with_lambda/double"),
        ("MR801 keras-lambda", "error", "b/model", "nested/inner/shift"),
    ]
    assert "Lambda layer" in findings[0].message and "bytecode" in findings[0].message
    assert "register_keras_serializable" in findings[0].fix


def test_an_allowed_keras_lambda_is_a_warning_with_the_reason(tmp_path: Path) -> None:
    path = keras_zip(tmp_path / "model.keras", "with_lambda")
    findings = run_gate([("model.keras", path)], GateConfig(allow_pickles={"model.keras": "our own x2 layer"}))
    assert [(f.code, f.severity) for f in findings] == [("MR801 keras-lambda", "warning")]
    assert "our own x2 layer" in findings[0].message


def test_keras_models_without_lambdas_and_plain_hdf5_files_pass(tmp_path: Path) -> None:
    data = tmp_path / "data.h5"
    with h5py.File(data, "w") as handle:
        handle.create_dataset("x", data=np.arange(10))
    files = {
        "model.keras": keras_zip(tmp_path / "model.keras", "plain"),
        "model.h5": keras_h5(tmp_path / "model.h5", "plain"),
        "model.weights.h5": tmp_path / "model.weights.h5",  # written beside model.keras
        "data.h5": data,
    }
    assert run_gate(sorted(files.items()), GateConfig()) == []


def test_a_keras_zip_without_its_config_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", "{}")
    findings = run_gate([("model.keras", path)], GateConfig())
    assert [(f.code, f.message) for f in findings] == [("MR802 keras-config", "holds no config.json")]


def test_without_h5py_a_keras_h5_model_is_a_warning_and_hdf5_data_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = keras_h5(tmp_path / "model.h5", "with_lambda")
    data = tmp_path / "data.h5"
    with h5py.File(data, "w") as handle:
        handle.create_dataset("x", data=np.arange(10))
    monkeypatch.setitem(sys.modules, "h5py", None)  # as where h5py is not installed: `import h5py` fails
    findings = run_gate([("data.h5", data), ("model.h5", model)], GateConfig())
    assert [(f.code, f.severity, f.path) for f in findings] == [("MR803 keras-uninspected", "warning", "model.h5")]


# --- cost ----------------------------------------------------------------------------------------


def bytes_read() -> int:
    """Bytes this process has read through read() and its kin so far (Linux's /proc/self/io ``rchar``)."""
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return int(fields["rchar"])


def test_a_10gb_gguf_file_and_a_64mb_onnx_model_cost_their_headers(tmp_path: Path) -> None:
    elements = 10 * 10**9 // 4
    head = header(tensors=[("token_embd.weight", [elements], 0, 0)])
    big = tmp_path / "big.gguf"
    with big.open("wb") as handle:
        handle.write(head)
        handle.truncate(len(head) + elements * 4)  # sparse: 10 GB on paper
    model = onnx_model()
    model.graph.initializer[0].raw_data = b"\0" * (64 << 20)  # embedded weights, read by nobody
    embedded = tmp_path / "model.onnx"
    embedded.write_bytes(model.SerializeToString())
    del model
    before = bytes_read()
    assert run_gate([("big.gguf", big), ("model.onnx", embedded)], GateConfig(warn_size=20 * 10**9)) == []
    assert bytes_read() - before < 1 << 20


# --- what a file is ------------------------------------------------------------------------------


def test_files_are_classified_by_content_before_name(tmp_path: Path) -> None:
    gguf_file = write_gguf(tmp_path / "tiny.gguf")
    data_zip = tmp_path / "data.zip"
    with zipfile.ZipFile(data_zip, "w") as archive:
        archive.writestr("config.json", "{}")  # a config alone does not make a Keras model
    cases: dict[str, tuple[Path, FileKind]] = {
        "ggml-model-q8_0.bin": (gguf_file, "gguf"),  # GGUF under a pickle's name: checked as GGUF
        "model": (keras_zip(tmp_path / "model.keras", "plain"), "keras"),
        "weights.h5": (keras_h5(tmp_path / "model.h5", "plain"), "hdf5"),
        "data.zip": (data_zip, "other"),
        "model.onnx": (save_external(tmp_path / "onnx"), "onnx"),
        "README.md": (tmp_path / "model.weights.h5", "hdf5"),  # content wins over the name
    }
    assert {name: sniff(name, path) for name, (path, _) in cases.items()} == {
        name: kind for name, (_, kind) in cases.items()
    }
