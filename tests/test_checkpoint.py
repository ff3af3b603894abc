"""Weights safety: safetensors headers, shard indexes and pickles, on files built by each test."""

from __future__ import annotations

import collections
import importlib
import json
import os
import pickle
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

from release.checkpoint import (
    SafetensorsHeader,
    check_pickle,
    check_safetensors,
    check_shard_index,
    scan_pickle_imports,
)
from release.errors import Finding

SYSTEM = f"{os.system.__module__}.system"  # how a pickle names os.system: posix.system on Linux


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


# --- safetensors -------------------------------------------------------------------------------


def saved(path: Path) -> Path:
    save_file(
        {
            "embed.weight": np.arange(12, dtype=np.float32).reshape(3, 4),
            "head.bias": np.ones(5, dtype=np.int64),
            "mask": np.zeros((2, 2), dtype=np.bool_),
        },
        str(path),
        metadata={"format": "np"},
    )
    return path


def split(path: Path) -> tuple[dict[str, Any], bytes]:
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header: dict[str, Any] = json.loads(raw[8 : 8 + length])
    return header, raw[8 + length :]


def rewrite(path: Path, change: Callable[[dict[str, Any]], None], data: bytes | None = None) -> None:
    """Re-save with a changed header (padded to 8 bytes as safetensors does) and the same data."""
    header, old_data = split(path)
    change(header)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + (old_data if data is None else data))


def test_a_file_saved_by_safetensors_passes_and_its_header_is_returned(tmp_path: Path) -> None:
    header, findings = check_safetensors("model.safetensors", saved(tmp_path / "m.safetensors"))
    assert findings == []
    assert header is not None
    assert header.metadata == {"format": "np"}
    assert {t.name: (t.dtype, t.shape, t.nbytes) for t in header.tensors} == {
        "embed.weight": ("F32", (3, 4), 48),
        "head.bias": ("I64", (5,), 40),
        "mask": ("BOOL", (2, 2), 4),
    }
    assert header.data_size == 92


@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [
        (lambda raw: raw[:8] + b"X" + raw[9:], "the header is not JSON"),  # '{' overwritten
        (lambda raw: struct.pack("<Q", len(raw)) + raw[8:], "the header claims"),  # length past the end
        (lambda raw: struct.pack("<Q", 2**40) + raw[8:], "safetensors refuses more than"),
        (lambda raw: raw[:5], "fewer than the 8 of a header"),
        (lambda raw: raw[:8] + b"\xff" + raw[9:], "not UTF-8"),
    ],
    ids=["json", "length-past-end", "length-huge", "short", "utf8"],
)
def test_a_corrupted_header_is_refused_with_mr101(
    tmp_path: Path, corrupt: Callable[[bytes], bytes], expected: str
) -> None:
    path = saved(tmp_path / "m.safetensors")
    path.write_bytes(corrupt(path.read_bytes()))
    header, findings = check_safetensors("weights/model.safetensors", path)
    assert header is None
    assert codes(findings) == ["MR101 safetensors-header"]
    assert expected in findings[0].message
    assert findings[0].path == "weights/model.safetensors"
    assert findings[0].where == "header"
    assert "safetensors" in findings[0].fix


def test_a_gap_between_tensors_is_refused_with_mr105(tmp_path: Path) -> None:
    path = saved(tmp_path / "m.safetensors")
    header, data = split(path)
    last = max((name for name in header if name != "__metadata__"), key=lambda n: header[n]["data_offsets"][0])

    def shift(header: dict[str, Any]) -> None:  # the last tensor moves 4 bytes later; the file grows by 4
        header[last]["data_offsets"] = [o + 4 for o in header[last]["data_offsets"]]

    rewrite(path, shift, data=data + b"\0" * 4)
    _, findings = check_safetensors("m.safetensors", path)
    assert codes(findings) == ["MR105 safetensors-offsets"]
    assert findings[0].where == last
    assert "4 byte(s) before it" in findings[0].message


def test_overlapping_tensors_are_refused_with_mr105(tmp_path: Path) -> None:
    path = saved(tmp_path / "m.safetensors")

    def overlap(header: dict[str, Any]) -> None:
        # mask (4 bytes) moves onto the first bytes of another tensor; 4 bytes at the end go unused
        begin = header["embed.weight"]["data_offsets"][0]
        header["mask"]["data_offsets"] = [begin, begin + 4]

    rewrite(path, overlap)
    _, findings = check_safetensors("m.safetensors", path)
    assert set(codes(findings)) == {"MR105 safetensors-offsets"}
    assert any("inside" in f.message for f in findings)


def test_offsets_past_the_end_of_the_file_are_refused(tmp_path: Path) -> None:
    path = saved(tmp_path / "m.safetensors")
    path.write_bytes(path.read_bytes()[:-10])  # truncated copy
    _, findings = check_safetensors("m.safetensors", path)
    assert codes(findings) == ["MR105 safetensors-offsets"]
    assert "truncated" in findings[0].message


def test_trailing_bytes_after_the_last_tensor_are_refused(tmp_path: Path) -> None:
    path = saved(tmp_path / "m.safetensors")
    path.write_bytes(path.read_bytes() + b"junk")
    _, findings = check_safetensors("m.safetensors", path)
    assert codes(findings) == ["MR105 safetensors-offsets"]
    assert "4 byte(s) after the last tensor" in findings[0].message


def test_a_shape_that_disagrees_with_the_byte_length_is_refused_with_mr104(tmp_path: Path) -> None:
    path = saved(tmp_path / "m.safetensors")

    def reshape(header: dict[str, Any]) -> None:
        header["embed.weight"]["shape"] = [4, 4]

    rewrite(path, reshape)
    _, findings = check_safetensors("m.safetensors", path)
    assert codes(findings) == ["MR104 safetensors-shape"]
    assert findings[0].where == "embed.weight"
    assert "needs 64 bytes" in findings[0].message and "hold 48" in findings[0].message


def test_a_dtype_that_disagrees_with_the_byte_length_is_refused_with_mr104(tmp_path: Path) -> None:
    path = saved(tmp_path / "m.safetensors")

    def retype(header: dict[str, Any]) -> None:
        header["embed.weight"]["dtype"] = "F16"

    rewrite(path, retype)
    _, findings = check_safetensors("m.safetensors", path)
    assert codes(findings) == ["MR104 safetensors-shape"]


def test_sub_byte_dtypes_must_fill_whole_bytes(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    rewrite(
        saved(path),
        lambda h: h.update({"mask": {"dtype": "F4", "shape": [2, 4], "data_offsets": h["mask"]["data_offsets"]}}),
    )
    assert check_safetensors("m.safetensors", path)[1] == []  # 8 x 4 bits = 4 bytes: fine
    rewrite(path, lambda h: h["mask"].update(shape=[3, 3]))
    assert codes(check_safetensors("m.safetensors", path)[1]) == ["MR104 safetensors-shape"]


def test_an_unknown_dtype_is_refused_with_mr103(tmp_path: Path) -> None:
    path = saved(tmp_path / "m.safetensors")
    rewrite(path, lambda h: h["mask"].update(dtype="Q8"))
    _, findings = check_safetensors("m.safetensors", path)
    assert codes(findings) == ["MR103 safetensors-dtype"]
    assert "'Q8'" in findings[0].message


def test_malformed_entries_and_metadata_are_refused(tmp_path: Path) -> None:
    path = saved(tmp_path / "m.safetensors")

    def break_it(header: dict[str, Any]) -> None:
        header["mask"]["shape"] = [2, -2]
        header["head.bias"] = "not an object"
        header["__metadata__"] = {"format": 1}

    rewrite(path, break_it)
    _, findings = check_safetensors("m.safetensors", path)
    assert sorted((f.code, f.where) for f in findings if not f.code.startswith("MR105")) == [
        ("MR102 safetensors-entry", "head.bias"),
        ("MR102 safetensors-entry", "mask"),
        ("MR106 safetensors-metadata", "__metadata__"),
    ]


def test_a_tensor_named_twice_in_the_header_is_refused(tmp_path: Path) -> None:
    entry = '{"dtype":"U8","shape":[1],"data_offsets":[0,1]}'
    raw = f'{{"t":{entry},"t":{entry}}}'.encode()
    path = tmp_path / "m.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0")
    _, findings = check_safetensors("m.safetensors", path)
    assert codes(findings) == ["MR102 safetensors-entry"]
    assert "twice" in findings[0].message


@pytest.mark.parametrize(
    ("shape", "offsets", "data"),
    [
        ([10**30, 0], [0, 0], 0),  # a dimension beyond 64 bits, times 0
        ([0, 10**30], [0, 0], 0),
        ([2**63, 2, 0], [0, 0], 0),  # overflows on the way to 0
        ([2**61, 1], [0, 0], 0),  # the count fits, its bits do not
        ([2**64 - 1, 0], [0, 0], 0),  # the largest dimension, times 0: the library reads it
        ([0, 2**63, 4], [0, 0], 0),  # 0 first: no overflow on the way
        ([-1, 0], [0, 0], 0),
        ([1.5, 0], [0, 0], 0),
        ([True], [0, 4], 4),
        ([1], [0, 2**64], 4),  # an offset beyond 64 bits
        ([1], [0, 4], 3),  # data beyond the end of the file
        ([1], [0, 4], 4),  # a well-formed file
    ],
)
def test_the_gate_refuses_what_the_safetensors_library_refuses(
    tmp_path: Path, shape: list[Any], offsets: list[int], data: int
) -> None:
    raw = json.dumps({"t": {"dtype": "F32", "shape": shape, "data_offsets": offsets}}).encode()
    raw += b" " * (-len(raw) % 8)
    path = tmp_path / "m.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * data)
    try:
        with safe_open(str(path), framework="numpy"):
            library_reads_it = True
    except Exception:  # SafetensorError, whatever the library finds wrong
        library_reads_it = False
    _, findings = check_safetensors("m.safetensors", path)
    assert (findings == []) == library_reads_it, findings


def test_only_the_header_of_a_huge_file_is_read(tmp_path: Path) -> None:
    """A sparse 10 GB file: checking it must read its header and nothing else."""
    size = 10 * 10**9
    elements = size // 4
    raw = json.dumps({"w": {"dtype": "F32", "shape": [elements], "data_offsets": [0, elements * 4]}}).encode()
    raw += b" " * (-len(raw) % 8)
    path = tmp_path / "huge.safetensors"
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", len(raw)) + raw)
        handle.truncate(8 + len(raw) + elements * 4)
    before = _bytes_read()
    header, findings = check_safetensors("huge.safetensors", path)
    assert findings == []
    assert header is not None and header.data_size == size
    if before is not None:
        read = (_bytes_read() or 0) - before
        assert read < 1 << 20, f"read {read} bytes of a 10 GB file"


def _bytes_read() -> int | None:
    """Bytes this process has read through read(2) so far (Linux), or None."""
    try:
        text = Path("/proc/self/io").read_text()
    except OSError:
        return None
    return next(int(line.split()[1]) for line in text.splitlines() if line.startswith("rchar:"))


# --- shard indexes -----------------------------------------------------------------------------


def shard(folder: Path, name: str, tensors: dict[str, Any]) -> tuple[str, SafetensorsHeader | None]:
    save_file(tensors, str(folder / name))
    header, findings = check_safetensors(f"weights/{name}", folder / name)
    assert findings == []
    return f"weights/{name}", header


def sharded(tmp_path: Path) -> tuple[dict[str, SafetensorsHeader | None], dict[str, Any]]:
    """Two shards and the index save_pretrained would write for them."""
    a = np.zeros((2, 3), dtype=np.float32)
    b = np.zeros(4, dtype=np.float16)
    shards = dict(
        [
            shard(tmp_path, "model-00001-of-00002.safetensors", {"layer.0.weight": a, "layer.0.bias": b}),
            shard(tmp_path, "model-00002-of-00002.safetensors", {"layer.1.weight": a}),
        ]
    )
    index = {
        "metadata": {"total_size": 24 + 8 + 24},
        "weight_map": {
            "layer.0.bias": "model-00001-of-00002.safetensors",
            "layer.0.weight": "model-00001-of-00002.safetensors",
            "layer.1.weight": "model-00002-of-00002.safetensors",
        },
    }
    return shards, index


INDEX = "weights/model.safetensors.index.json"


def check_index(index: dict[str, Any], shards: dict[str, SafetensorsHeader | None]) -> list[Finding]:
    return check_shard_index(INDEX, json.dumps(index).encode(), shards)


def test_a_consistent_shard_index_passes(tmp_path: Path) -> None:
    shards, index = sharded(tmp_path)
    assert check_index(index, shards) == []


def test_an_index_naming_a_missing_shard_is_refused_with_mr202(tmp_path: Path) -> None:
    shards, index = sharded(tmp_path)
    del shards["weights/model-00002-of-00002.safetensors"]
    findings = check_index(index, shards)
    assert codes(findings) == ["MR202 shard-missing"]
    assert findings[0].path == INDEX
    assert findings[0].where == "model-00002-of-00002.safetensors"
    assert "weights/model-00002-of-00002.safetensors" in findings[0].message


def test_a_tensor_in_two_shards_is_refused_with_mr205(tmp_path: Path) -> None:
    _, index = sharded(tmp_path)
    w = np.zeros((2, 3), dtype=np.float32)
    shards = dict(
        [
            shard(tmp_path, "model-00001-of-00002.safetensors", {"layer.0.weight": w, "layer.0.bias": w[0]}),
            shard(tmp_path, "model-00002-of-00002.safetensors", {"layer.1.weight": w, "layer.0.bias": w[1]}),
        ]
    )
    findings = check_index(index, shards)
    assert ("MR205 shard-tensor-duplicate", "layer.0.bias") in [(f.code, f.where) for f in findings]


def test_a_tensor_listed_twice_in_weight_map_is_refused(tmp_path: Path) -> None:
    shards, _ = sharded(tmp_path)
    raw = (
        b'{"metadata": {"total_size": 56}, "weight_map": {'
        b'"layer.0.bias": "model-00001-of-00002.safetensors", '
        b'"layer.0.weight": "model-00001-of-00002.safetensors", '
        b'"layer.1.weight": "model-00002-of-00002.safetensors", '
        b'"layer.1.weight": "model-00002-of-00002.safetensors"}}'
    )
    findings = check_shard_index(INDEX, raw, shards)
    assert [(f.code, f.where) for f in findings] == [("MR205 shard-tensor-duplicate", "layer.1.weight")]


def test_a_wrong_total_size_is_refused_with_mr207(tmp_path: Path) -> None:
    shards, index = sharded(tmp_path)
    index["metadata"]["total_size"] = 1000
    findings = check_index(index, shards)
    assert codes(findings) == ["MR207 shard-total-size"]
    assert findings[0].severity == "error"
    assert "says 1,000 bytes" in findings[0].message and "hold 56" in findings[0].message


def test_a_missing_total_size_is_a_warning(tmp_path: Path) -> None:
    shards, index = sharded(tmp_path)
    del index["metadata"]
    findings = check_index(index, shards)
    assert [(f.code, f.severity) for f in findings] == [("MR207 shard-total-size", "warning")]
    assert '"total_size": 56' in findings[0].fix


def test_a_tensor_missing_from_weight_map_is_refused_with_mr204(tmp_path: Path) -> None:
    shards, index = sharded(tmp_path)
    del index["weight_map"]["layer.0.bias"]
    findings = check_index(index, shards)
    assert [(f.code, f.where) for f in findings] == [("MR204 shard-tensor-unlisted", "layer.0.bias")]


def test_weight_map_pointing_at_the_wrong_shard_is_refused_with_mr206(tmp_path: Path) -> None:
    shards, index = sharded(tmp_path)
    index["weight_map"]["layer.1.weight"] = "model-00001-of-00002.safetensors"
    index["weight_map"]["ghost"] = "model-00002-of-00002.safetensors"
    findings = check_index(index, shards)
    by_where = {f.where: f for f in findings}
    assert by_where["layer.1.weight"].code == "MR206 shard-tensor-misplaced"
    assert "it is in model-00002-of-00002.safetensors" in by_where["layer.1.weight"].message
    assert by_where["ghost"].code == "MR206 shard-tensor-misplaced"
    assert "no shard holds it" in by_where["ghost"].message


@pytest.mark.parametrize("name", ["../outside.safetensors", "/abs/model.safetensors", "sub/../../x.safetensors"])
def test_shard_names_may_not_leave_the_index_folder(tmp_path: Path, name: str) -> None:
    shards, index = sharded(tmp_path)
    index["weight_map"]["layer.1.weight"] = name
    findings = check_index(index, shards)
    assert ("MR203 shard-path", name) in [(f.code, f.where) for f in findings]


def test_an_index_that_is_not_an_index_is_refused_with_mr201(tmp_path: Path) -> None:
    shards, _ = sharded(tmp_path)
    for raw in (b"{not json", b"[]", b'{"weight_map": {"a": 1}}', b'{"metadata": {}}'):
        findings = check_shard_index(INDEX, raw, shards)
        assert codes(findings) == ["MR201 shard-index"], raw


def test_a_shard_with_a_broken_header_is_not_checked_twice(tmp_path: Path) -> None:
    shards, index = sharded(tmp_path)
    shards["weights/model-00002-of-00002.safetensors"] = None  # has its own MR101 finding
    assert check_index(index, shards) == []


# --- pickles -----------------------------------------------------------------------------------


class Malicious:
    """Unpickling this runs a shell command (the test checks that it never runs)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"echo pwned > {self.marker}",))


class ImportsOs:
    def __reduce__(self) -> tuple[Any, ...]:
        return (importlib.import_module, ("os",))


def torch_style_zip(path: Path, data_pkl: bytes) -> Path:
    """The layout torch.save writes (without torch): a zip with archive/data.pkl and storages."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/data/0", np.arange(6, dtype=np.float32).tobytes())
        archive.writestr("archive/version", "3\n")
    return path


def state_dict() -> collections.OrderedDict[str, Any]:
    return collections.OrderedDict(weight=np.ones((3, 2), dtype=np.float32), bias=np.zeros(2, dtype=np.float64))


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_a_pickle_calling_os_system_is_blocked_and_never_runs(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(Malicious(marker), protocol=protocol))
    findings = check_pickle("weights/model.pkl", path)
    assert [(f.code, f.severity, f.where) for f in findings] == [("MR301 pickle-dangerous-global", "error", SYSTEM)]
    assert SYSTEM in findings[0].message
    assert "safetensors" in findings[0].fix
    assert not marker.exists()


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "model.pth", "last.ckpt"])
def test_a_malicious_pickle_inside_a_zip_based_torch_file_is_blocked(tmp_path: Path, name: str) -> None:
    marker = tmp_path / "pwned"
    path = torch_style_zip(tmp_path / name, pickle.dumps(Malicious(marker), protocol=2))
    findings = check_pickle(name, path)
    assert [(f.code, f.where) for f in findings] == [("MR301 pickle-dangerous-global", f"archive/data.pkl: {SYSTEM}")]
    assert not marker.exists()


def test_an_allowed_pickle_passes_with_a_warning_carrying_the_reason(tmp_path: Path) -> None:
    path = torch_style_zip(tmp_path / "model.pt", pickle.dumps(Malicious(tmp_path / "m"), protocol=2))
    findings = check_pickle("model.pt", path, allowed_reason="legacy loader test fixture")
    assert [(f.code, f.severity) for f in findings] == [("MR303 pickle-allowed", "warning")]
    assert "legacy loader test fixture" in findings[0].message


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_a_plain_tensor_pickle_passes(tmp_path: Path, protocol: int) -> None:
    path = tmp_path / "weights.pkl"
    path.write_bytes(pickle.dumps(state_dict(), protocol=protocol))
    assert check_pickle("weights.pkl", path) == []
    assert {f"{i.module}.{i.name}" for i in scan_pickle_imports("weights.pkl", path)} >= {"collections.OrderedDict"}


def test_a_plain_tensor_pickle_in_a_torch_style_zip_passes(tmp_path: Path) -> None:
    path = torch_style_zip(tmp_path / "pytorch_model.bin", pickle.dumps(state_dict(), protocol=2))
    assert check_pickle("pytorch_model.bin", path) == []


def test_a_numpy_object_array_holding_a_malicious_object_is_blocked(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "features.npy"
    np.save(path, np.array([Malicious(marker), 1], dtype=object), allow_pickle=True)
    findings = check_pickle("data/features.npy", path)
    assert [(f.code, f.where) for f in findings] == [("MR301 pickle-dangerous-global", SYSTEM)]
    assert not marker.exists()


def test_numeric_and_structured_numpy_arrays_pass(tmp_path: Path) -> None:
    plain = tmp_path / "plain.npy"
    np.save(plain, np.arange(12, dtype=np.float32).reshape(3, 4))
    structured = tmp_path / "structured.npy"
    np.save(structured, np.zeros(3, dtype=[("x", "<f8"), ("label", "<U8"), ("xy", "<i4", (2,))]))
    assert check_pickle("plain.npy", plain) == []
    assert check_pickle("structured.npy", structured) == []


def test_a_structured_numpy_array_with_an_object_field_is_scanned(tmp_path: Path) -> None:
    path = tmp_path / "records.npy"
    array = np.zeros(1, dtype=[("x", "<f8"), ("payload", "O")])
    array[0]["payload"] = Malicious(tmp_path / "pwned")
    np.save(path, array, allow_pickle=True)
    assert [f.code for f in check_pickle("records.npy", path)] == ["MR301 pickle-dangerous-global"]


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_npz_members_are_scanned_one_by_one(tmp_path: Path, save: Callable[..., None]) -> None:
    safe = tmp_path / "safe.npz"
    save(safe, weights=np.ones((2, 2)), bias=np.zeros(2))
    assert check_pickle("safe.npz", safe) == []
    unsafe = tmp_path / "unsafe.npz"
    save(unsafe, weights=np.ones(2), extra=np.array([Malicious(tmp_path / "pwned")], dtype=object))
    findings = check_pickle("unsafe.npz", unsafe)
    assert [(f.code, f.where) for f in findings] == [("MR301 pickle-dangerous-global", f"extra.npy: {SYSTEM}")]


def test_a_corrupt_npy_header_is_unscannable_and_blocks(tmp_path: Path) -> None:
    path = tmp_path / "broken.npy"
    path.write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': __import__")
    assert [f.code for f in check_pickle("broken.npy", path)] == ["MR304 pickle-unscannable"]


def test_an_unknown_global_is_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "counts.pickle"
    path.write_bytes(pickle.dumps(collections.Counter(a=1)))
    findings = check_pickle("counts.pickle", path)
    assert [(f.code, f.severity, f.where) for f in findings] == [
        ("MR302 pickle-unknown-global", "warning", "collections.Counter")
    ]


def test_module_resolvers_picklescan_only_suspects_are_blocked(tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    path.write_bytes(pickle.dumps(ImportsOs()))
    findings = check_pickle("model.joblib", path)
    assert [(f.code, f.where) for f in findings] == [("MR301 pickle-dangerous-global", "importlib.import_module")]


def test_a_zip_that_cannot_be_read_is_blocked(tmp_path: Path) -> None:
    path = torch_style_zip(tmp_path / "model.pt", pickle.dumps(state_dict(), protocol=2))
    path.write_bytes(path.read_bytes()[:60])  # local header intact, central directory gone
    findings = check_pickle("model.pt", path)
    assert [(f.code, f.severity) for f in findings] == [("MR304 pickle-unscannable", "error")]
