"""Weights safety: safetensors headers, shard indexes and pickles, checked without loading a tensor.

Each check is a function over one file that returns :class:`~release.errors.Finding` values; the
gate (:mod:`release.gate`) runs them over a planned release.

- A safetensors file costs one header read whatever its size: 8 bytes of little-endian length, then
  that many bytes of JSON. Tensor data is never read.
- A shard index (``*.safetensors.index.json``) is checked against the headers of its shards.
- A pickle is never unpickled: picklescan reads its opcodes and lists the globals it would import.
  picklescan is the scanner the Hub's own pickle check is built on; it grades each global as
  innocuous, suspicious (unknown) or dangerous. We add a few globals it knows neither way (see
  ``_EXTRA_DANGEROUS`` and ``_EXTRA_SAFE``).
"""

from __future__ import annotations

import ast
import json
import math
import os
import posixpath
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from picklescan.relaxed_zipfile import RelaxedZipFile
from picklescan.scanner import SafetyLevel, ScanResult, scan_bytes, scan_pickle_bytes

from release.errors import Finding, Severity
from release.formats.compressed import compression, open_decompressed

SAFETENSORS_SUFFIX = ".safetensors"
SHARD_INDEX_SUFFIX = ".safetensors.index.json"
PICKLE_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib", ".npy", ".npz"})

#: safetensors refuses headers above this size (``MAX_HEADER_SIZE`` in its Rust source).
MAX_HEADER_SIZE = 100_000_000

#: The largest dimension, offset or size safetensors reads: its Rust ``usize`` on 64-bit machines.
#: It multiplies a shape's dimensions left to right (and the count by the dtype's bits) with
#: checked arithmetic, and refuses the file when a step overflows, even if a later 0 would make it 0.
USIZE_MAX = 2**64 - 1

#: Bits per element of every dtype safetensors 0.8 reads (its ``Dtype`` enum).
DTYPE_BITS: Mapping[str, int] = {
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
}

# Globals picklescan 1.0.5 grades only "suspicious" although they resolve any module or attribute:
# published picklescan bypasses chain importlib.import_module and inspect.getattr_static to reach
# os.system. They block like picklescan's own dangerous globals. "*" means every name in the module.
_EXTRA_DANGEROUS: Mapping[str, frozenset[str]] = {
    "importlib": frozenset({"*"}),
    "inspect": frozenset({"*"}),
    "marshal": frozenset({"*"}),
    "builtins": frozenset({"__import__", "setattr", "delattr", "globals", "locals", "vars"}),
    "__builtin__": frozenset({"__import__", "setattr", "delattr", "globals", "locals", "vars"}),
    "types": frozenset({"FunctionType"}),
}
# Globals of ordinary tensor pickles that picklescan does not list as safe: numpy's protocol-5
# array constructor (builds an array from bytes; refuses object dtypes), torch's parameter wrapper,
# and _codecs.encode, which protocol-2 pickles (torch.save's) use to store bytes; torch's own
# weights_only loader accepts it too.
_EXTRA_SAFE = frozenset(
    {
        ("_codecs", "encode"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy.core.numeric", "_frombuffer"),
        ("torch._utils", "_rebuild_parameter"),
    }
)
_PICKLE_MEMBER_SUFFIXES = (".pkl", ".pickle")
_ZIP_MAGIC = b"PK\x03\x04"
_NPY_MAGIC = b"\x93NUMPY"
_NPY_MAX_HEADER = 1 << 20  # numpy itself refuses headers above 10 kB unless told otherwise

_SAFETENSORS_FIX = (
    "Re-save the weights with the safetensors library (safetensors.torch.save_file or "
    "save_pretrained(safe_serialization=True)) and check that the file was copied completely."
)
_INDEX_FIX = (
    "Regenerate the index together with its shards (save_pretrained or "
    "huggingface_hub.split_torch_state_dict_into_shards) and stage every shard it names."
)
_PICKLE_FIX = (
    "Convert the weights to safetensors, which cannot hold code (load the pickle only where it is "
    "trusted, then safetensors.torch.save_file(state_dict, ...)), and release that instead. If this "
    "exact file must ship as a pickle, allow it in the gate configuration with the reason."
)


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of a safetensors header; ``begin`` and ``end`` are offsets into the data part."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.begin


@dataclass(frozen=True)
class SafetensorsHeader:
    """The parsed header of a safetensors file (only its well-formed tensor entries)."""

    header_size: int  # the JSON's length in bytes (the file's first 8 bytes)
    data_size: int  # bytes after the header
    tensors: tuple[TensorEntry, ...]  # sorted by offset
    metadata: Mapping[str, str] | None


def is_safetensors(release_path: str) -> bool:
    return release_path.endswith(SAFETENSORS_SUFFIX)


def is_shard_index(release_path: str) -> bool:
    return release_path.endswith(SHARD_INDEX_SUFFIX)


def is_pickle(release_path: str) -> bool:
    return posixpath.splitext(release_path)[1].lower() in PICKLE_SUFFIXES


# --- safetensors -------------------------------------------------------------------------------


def check_safetensors(release_path: str, path: Path) -> tuple[SafetensorsHeader | None, list[Finding]]:
    """Check one safetensors file by its header alone: (the header if it parses, the findings).

    Reads 8 bytes and the JSON header, never tensor data, so a file of hundreds of GB costs the same
    as a small one.
    """
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            prefix = handle.read(8)
            if len(prefix) < 8:
                return None, [_header_error(release_path, f"the file has {size} byte(s), fewer than the 8 of a header")]
            (length,) = struct.unpack("<Q", prefix)
            if length > MAX_HEADER_SIZE:
                message = f"the header claims {length:,} bytes; safetensors refuses more than {MAX_HEADER_SIZE:,}"
                return None, [_header_error(release_path, message)]
            if 8 + length > size:
                message = f"the header claims {length:,} bytes but the file has only {size - 8:,} after its length"
                return None, [_header_error(release_path, message)]
            raw = handle.read(length)
    except OSError as exc:
        return None, [unreadable(release_path, exc)]
    return parse_safetensors_header(release_path, raw, data_size=size - 8 - length)


def parse_safetensors_header(
    release_path: str, raw: bytes, *, data_size: int
) -> tuple[SafetensorsHeader | None, list[Finding]]:
    """Check a header's JSON (``raw``) against the ``data_size`` bytes that follow it in the file."""
    try:
        document = json.loads(raw.decode("utf-8"), object_pairs_hook=_Pairs)
    except UnicodeDecodeError as exc:
        return None, [_header_error(release_path, f"the header is not UTF-8 (byte {exc.start})")]
    except ValueError as exc:
        return None, [_header_error(release_path, f"the header is not JSON: {_json_reason(exc)}")]
    except RecursionError:
        return None, [_header_error(release_path, "the header is JSON nested too deeply to be a header")]
    if not isinstance(document, _Pairs):
        return None, [_header_error(release_path, "the header is JSON but not an object")]

    findings: list[Finding] = []
    entries: list[TensorEntry] = []
    metadata: dict[str, str] | None = None
    seen: set[str] = set()
    for name, value in document:
        if name == "__metadata__":
            metadata = _check_metadata(release_path, value, findings)
            continue
        if name in seen:
            findings.append(
                _entry_error(release_path, name, "appears twice in the header; readers disagree on which wins")
            )
            continue
        seen.add(name)
        entry = _parse_entry(release_path, name, value, findings)
        if entry is not None:
            entries.append(entry)
    entries.sort(key=lambda e: (e.begin, e.end, e.name))
    findings += _check_offsets(release_path, entries, data_size)
    header = SafetensorsHeader(len(raw), data_size, tuple(entries), metadata)
    return header, findings


def _parse_entry(release_path: str, name: str, value: Any, findings: list[Finding]) -> TensorEntry | None:
    if not isinstance(value, _Pairs):
        findings.append(_entry_error(release_path, name, "is not an object with dtype, shape and data_offsets"))
        return None
    fields = dict(value)
    dtype, shape, offsets = fields.get("dtype"), fields.get("shape"), fields.get("data_offsets")
    problems = []
    if not isinstance(dtype, str):
        problems.append("dtype is missing or not a string")
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        problems.append("shape is missing or not a list of non-negative integers")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(o) for o in offsets):
        problems.append("data_offsets is missing or not two non-negative integers")
    if problems:
        findings.append(_entry_error(release_path, name, "; ".join(problems)))
        return None
    assert isinstance(dtype, str) and isinstance(shape, list) and isinstance(offsets, list)
    overflow = _overflow(shape, offsets, DTYPE_BITS.get(dtype, 8))
    if overflow:
        findings.append(_finding("MR104 safetensors-shape", release_path, name, overflow, _SAFETENSORS_FIX))
        return None
    begin, end = offsets
    if end < begin:
        findings.append(
            _finding(
                "MR105 safetensors-offsets",
                release_path,
                name,
                f"data_offsets [{begin}, {end}] end before they begin",
                _SAFETENSORS_FIX,
            )
        )
        return None
    entry = TensorEntry(name, dtype, tuple(shape), begin, end)
    bits = DTYPE_BITS.get(dtype)
    if bits is None:
        known = ", ".join(DTYPE_BITS)
        message = f"dtype {dtype!r} is not one safetensors knows ({known})"
        findings.append(_finding("MR103 safetensors-dtype", release_path, name, message, _SAFETENSORS_FIX))
        return entry
    total_bits = math.prod(shape) * bits
    if total_bits % 8:
        message = f"shape {list(shape)} of {dtype} is {total_bits} bits, not a whole number of bytes"
        findings.append(_finding("MR104 safetensors-shape", release_path, name, message, _SAFETENSORS_FIX))
    elif total_bits // 8 != entry.nbytes:
        message = (
            f"shape {list(shape)} of {dtype} needs {total_bits // 8:,} bytes but data_offsets "
            f"[{begin}, {end}] hold {entry.nbytes:,}"
        )
        findings.append(_finding("MR104 safetensors-shape", release_path, name, message, _SAFETENSORS_FIX))
    return entry


def _overflow(shape: list[int], offsets: list[int], bits: int) -> str:
    """Why safetensors would refuse these numbers as too large for its ``usize`` ("" when it would not)."""
    for value in (*shape, *offsets):
        if value > USIZE_MAX:
            return f"{value:,} is larger than safetensors reads (at most 2**64 - 1): it refuses the file"
    count = 1
    for dimension in shape:
        count *= dimension
        if count > USIZE_MAX:
            return (
                f"shape {shape}: the product of its dimensions overflows 2**64 - 1 on the way "
                "(safetensors multiplies them in order and refuses the file)"
            )
    if count * bits > USIZE_MAX:
        return f"shape {shape}: its size in bits overflows 2**64 - 1 (safetensors refuses the file)"
    return ""


def _check_offsets(release_path: str, entries: list[TensorEntry], data_size: int) -> list[Finding]:
    """Tensors must tile the data part exactly: contiguous from 0, no overlap, ending at the file's end."""
    findings = []
    reached = 0
    last: TensorEntry | None = None
    for entry in entries:
        if entry.begin > reached:
            message = f"{entry.begin - reached:,} byte(s) before it (from {reached:,}) belong to no tensor"
            findings.append(_offsets_error(release_path, entry.name, message))
        elif entry.begin < reached and last is not None:
            message = f"starts at byte {entry.begin:,}, inside {last.name!r}, which ends at {reached:,}"
            findings.append(_offsets_error(release_path, entry.name, message))
        if last is None or entry.end >= reached:
            last = entry
        reached = max(reached, entry.end)
    if reached > data_size:
        where = last.name if last is not None else None
        message = f"tensor data runs to byte {reached:,} but the file holds {data_size:,} after the header (truncated?)"
        findings.append(_offsets_error(release_path, where, message))
    elif reached < data_size:
        where = last.name if last is not None else "end of file"
        message = f"{data_size - reached:,} byte(s) after the last tensor belong to no tensor"
        findings.append(_offsets_error(release_path, where, message))
    return findings


def _check_metadata(release_path: str, value: Any, findings: list[Finding]) -> dict[str, str] | None:
    if isinstance(value, _Pairs) and all(isinstance(v, str) for _, v in value):
        return dict(value)
    message = "__metadata__ must map strings to strings"
    findings.append(_finding("MR106 safetensors-metadata", release_path, "__metadata__", message, _SAFETENSORS_FIX))
    return None


# --- shard indexes -----------------------------------------------------------------------------


def check_shard_index(release_path: str, raw: bytes, shards: Mapping[str, SafetensorsHeader | None]) -> list[Finding]:
    """Check a ``*.safetensors.index.json`` against the safetensors files of the release.

    ``shards`` maps the release path of every safetensors file in the release to its header (None
    when the header itself is broken: that file has its own findings, and its tensors are not
    checked here). Shard names resolve against the index's folder and may not leave it.
    """
    document = _parse_index(release_path, raw)
    if isinstance(document, Finding):
        return [document]
    weight_map, total_size, findings = document

    folder = posixpath.dirname(release_path)
    resolved: dict[str, str] = {}  # shard name -> release path, for shards present in the release
    for shard in sorted({s for _, s in weight_map}):
        full = _resolve_shard(folder, shard)
        if full is None:
            message = f"names shard {shard!r}, which is not a plain path inside the index's folder"
            findings.append(_finding("MR203 shard-path", release_path, shard, message, _INDEX_FIX))
        elif full not in shards:
            message = f"names shard {shard!r} ({full}), which is not a safetensors file in this release"
            findings.append(_finding("MR202 shard-missing", release_path, shard, message, _INDEX_FIX))
        else:
            resolved[shard] = full

    holders: dict[str, list[str]] = {}
    sizes: dict[str, int] = {}
    readable = {shard: header for shard, full in resolved.items() if (header := shards[full]) is not None}
    for shard, header in sorted(readable.items()):
        for tensor in header.tensors:
            holders.setdefault(tensor.name, []).append(shard)
            sizes[f"{shard}\0{tensor.name}"] = tensor.nbytes

    listed: dict[str, str] = {}
    for name, shard in weight_map:
        if name in listed:
            message = "is listed twice in weight_map"
            findings.append(_finding("MR205 shard-tensor-duplicate", release_path, name, message, _INDEX_FIX))
        listed[name] = shard
    for name, held_by in sorted(holders.items()):
        if len(held_by) > 1:
            message = f"is held by {len(held_by)} shards: {', '.join(held_by)}"
            findings.append(_finding("MR205 shard-tensor-duplicate", release_path, name, message, _INDEX_FIX))
        if name not in listed:
            message = f"is in shard {held_by[0]!r} but not in weight_map: loaders will never read it"
            findings.append(_finding("MR204 shard-tensor-unlisted", release_path, name, message, _INDEX_FIX))
    for name, shard in sorted(listed.items()):
        if shard not in readable or shard in holders.get(name, ()):
            continue
        elsewhere = holders.get(name)
        detail = f"it is in {', '.join(elsewhere)}" if elsewhere else "no shard holds it"
        message = f"weight_map points at {shard!r}, which has no such tensor: {detail}"
        findings.append(_finding("MR206 shard-tensor-misplaced", release_path, name, message, _INDEX_FIX))

    if len(readable) == len({s for _, s in weight_map}):  # every shard present and readable
        findings += _check_total_size(release_path, total_size, sum(sizes.values()))
    return findings


def _parse_index(release_path: str, raw: bytes) -> tuple[list[tuple[str, str]], Any, list[Finding]] | Finding:
    def broken(message: str) -> Finding:
        return _finding("MR201 shard-index", release_path, None, message, _INDEX_FIX)

    try:
        document = json.loads(raw.decode("utf-8"), object_pairs_hook=_Pairs)
    except UnicodeDecodeError as exc:
        return broken(f"the index is not UTF-8 (byte {exc.start})")
    except ValueError as exc:
        return broken(f"the index is not JSON: {_json_reason(exc)}")
    except RecursionError:
        return broken("the index is JSON nested too deeply to be an index")
    if not isinstance(document, _Pairs):
        return broken("the index is JSON but not an object")
    fields = dict(document)
    weight_map = fields.get("weight_map")
    if not isinstance(weight_map, _Pairs) or not all(isinstance(s, str) for _, s in weight_map):
        return broken('"weight_map" is missing or does not map tensor names to shard file names')
    metadata = fields.get("metadata")
    total_size: Any = _MISSING
    if isinstance(metadata, _Pairs):
        total_size = dict(metadata).get("total_size", _MISSING)
    elif metadata is not None:
        return broken('"metadata" is not an object')
    return list(weight_map), total_size, []


def _check_total_size(release_path: str, declared: Any, actual: int) -> list[Finding]:
    code = "MR207 shard-total-size"
    if declared is _MISSING:
        message = f"has no metadata.total_size (the tensors hold {actual:,} bytes)"
        fix = f'Add "metadata": {{"total_size": {actual}}} to the index, or regenerate it with its shards.'
        return [_finding(code, release_path, "metadata.total_size", message, fix, severity="warning")]
    if not _is_count(declared):
        message = f"metadata.total_size is {declared!r}, not a byte count"
        return [_finding(code, release_path, "metadata.total_size", message, _INDEX_FIX)]
    if declared != actual:
        message = f"metadata.total_size says {declared:,} bytes but the shards' tensors hold {actual:,}"
        return [_finding(code, release_path, "metadata.total_size", message, _INDEX_FIX)]
    return []


def _resolve_shard(folder: str, shard: str) -> str | None:
    if not shard or shard.startswith("/") or "\\" in shard or "\0" in shard:
        return None
    full = posixpath.normpath(posixpath.join(folder, shard))
    if folder:
        return full if full.startswith(folder + "/") else None
    return None if full == ".." or full.startswith("../") else full


# --- pickles -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PickleImport:
    """A global a pickle imports when it is loaded, with picklescan's grade (and ours)."""

    member: str | None  # the pickle's name inside a zip-based (torch) file, else None
    module: str
    name: str
    safety: SafetyLevel

    @property
    def where(self) -> str:
        return f"{self.member}: {self.module}.{self.name}" if self.member else f"{self.module}.{self.name}"


def scan_pickle_imports(release_path: str, path: Path) -> list[PickleImport]:
    """The globals every pickle in the file imports (also pickles inside a zip-based torch file, and
    the pickle inside a gzip, bz2, xz or zlib file, as pandas and joblib write them).

    Opcodes are read with picklescan; nothing is unpickled. Raises OSError, ``zipfile.BadZipFile``
    or whatever picklescan raises on input it cannot read.
    """
    found: set[PickleImport] = set()
    with path.open("rb") as raw:
        compressed = compression(raw.read(8))
    with open_decompressed(path, compressed) if compressed else path.open("rb") as handle:
        magic = handle.read(len(_NPY_MAGIC))
        handle.seek(0)
        if magic.startswith(_ZIP_MAGIC):
            for member, result in _scan_zip(release_path, handle):
                found.update(_imports(member, result))
        elif magic == _NPY_MAGIC:
            found.update(_imports(None, _scan_npy(handle, release_path)))
        else:
            suffix = posixpath.splitext(release_path)[1].lower()
            found.update(_imports(None, scan_bytes(handle, release_path, suffix)))
    return sorted(found, key=lambda i: (i.member or "", i.module, i.name))


def check_pickle(release_path: str, path: Path, allowed_reason: str | None = None) -> list[Finding]:
    """Findings for a pickle: dangerous globals block it unless ``allowed_reason`` is given."""
    try:
        imports = scan_pickle_imports(release_path, path)
    except OSError as exc:
        return [unreadable(release_path, exc)]
    except Exception as exc:  # picklescan on hostile input: any failure must block, not crash
        message = f"picklescan could not read it ({type(exc).__name__}: {exc}), so it cannot be shown safe"
        return [_finding("MR304 pickle-unscannable", release_path, None, message, _PICKLE_FIX)]
    findings = []
    for item in imports:
        target = f"{item.module}.{item.name}"
        if item.safety is SafetyLevel.Dangerous and allowed_reason is None:
            message = f"loading it calls {target}, which can run any code on the machine that loads it"
            findings.append(_finding("MR301 pickle-dangerous-global", release_path, item.where, message, _PICKLE_FIX))
        elif item.safety is SafetyLevel.Dangerous:
            message = (
                f"loading it calls {target}, which can run any code; allowed by the configuration: {allowed_reason}"
            )
            fix = "Convert it to safetensors and remove the allowance once nothing loads the pickle."
            findings.append(
                _finding("MR303 pickle-allowed", release_path, item.where, message, fix, severity="warning")
            )
        elif item.safety is SafetyLevel.Suspicious:
            message = f"loading it imports {target}, which picklescan does not know to be safe, and runs it"
            fix = (
                f"Check that {item.module} is code every user has and trusts. Better: convert the "
                "weights to safetensors, which cannot hold code."
            )
            findings.append(
                _finding("MR302 pickle-unknown-global", release_path, item.where, message, fix, severity="warning")
            )
    return findings


def _scan_zip(release_path: str, handle: IO[bytes]) -> list[tuple[str, ScanResult]]:
    """Scan each pickle inside a zip (``archive/data.pkl`` of torch.save), as picklescan picks them."""
    results = []
    with RelaxedZipFile(handle, "r") as archive:
        for name in sorted(archive.namelist()):
            with archive.open(name, "r") as member:
                magic = member.read(len(_NPY_MAGIC))
            if magic == _NPY_MAGIC:  # an array of numpy.savez: a pickle only if its dtype holds objects
                with archive.open(name, "r") as member:
                    results.append((name, _scan_npy(member, f"{release_path}:{name}")))
                continue
            if not (name.endswith(_PICKLE_MEMBER_SUFFIXES) or _is_pickle_magic(magic[:2])):
                continue
            with archive.open(name, "r") as member:
                results.append((name, scan_pickle_bytes(member, f"{release_path}:{name}")))
    return results


def _scan_npy(handle: IO[bytes], file_id: str) -> ScanResult:
    """Scan a numpy ``.npy`` stream without numpy: its data is a pickle exactly when its dtype holds objects.

    The format (numpy's ``format.py``): magic, version, header length (2 bytes in 1.0, 4 after), then
    a Python dict literal with ``descr``. The literal is parsed with ``ast.literal_eval``, which
    evaluates nothing. An unreadable header raises ``ValueError`` (the file is then unscannable).
    """
    handle.read(len(_NPY_MAGIC))
    version = handle.read(2)
    if len(version) != 2 or version[0] not in (1, 2, 3):
        raise ValueError(f"not a numpy .npy file (format version {tuple(version)})")
    width = 2 if version[0] == 1 else 4
    length_bytes = handle.read(width)
    if len(length_bytes) != width:
        raise ValueError("truncated .npy header")
    length = int.from_bytes(length_bytes, "little")
    if length > _NPY_MAX_HEADER:
        raise ValueError(f".npy header of {length:,} bytes: too large to be a real one")
    header = handle.read(length)
    if len(header) != length:
        raise ValueError("truncated .npy header")
    fields = ast.literal_eval(header.decode("utf-8" if version[0] == 3 else "latin-1"))
    if not isinstance(fields, dict) or "descr" not in fields:
        raise ValueError(".npy header has no descr")
    if _npy_holds_objects(fields["descr"]):
        return scan_pickle_bytes(handle, file_id)
    return ScanResult([], 1)


def _npy_holds_objects(descr: Any) -> bool:
    """Whether a ``.npy`` descr (a type string, or a list of fields) has an object (``O``) type anywhere."""
    if isinstance(descr, str):
        return descr.lstrip("<>|=")[:1] == "O"
    if isinstance(descr, list):  # structured: [(name, descr) or (name, descr, shape), ...]
        return any(isinstance(item, tuple) and len(item) >= 2 and _npy_holds_objects(item[1]) for item in descr)
    raise ValueError(f"unexpected .npy descr {descr!r}")


def _imports(member: str | None, result: ScanResult) -> list[PickleImport]:
    imports = []
    for item in result.globals:
        module, name = str(item.module), str(item.name)
        safety = item.safety
        extra = _EXTRA_DANGEROUS.get(module, frozenset())
        if "*" in extra or name in extra:
            safety = SafetyLevel.Dangerous
        elif (module, name) in _EXTRA_SAFE and safety is not SafetyLevel.Dangerous:
            safety = SafetyLevel.Innocuous
        imports.append(PickleImport(member, module, name, safety))
    return imports


def _is_pickle_magic(magic: bytes) -> bool:
    return len(magic) == 2 and magic[0] == 0x80 and 2 <= magic[1] <= 5


# --- shared ------------------------------------------------------------------------------------


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its (key, value) pairs in order, duplicate keys kept."""


_MISSING: Any = object()


def unreadable(release_path: str, exc: OSError) -> Finding:
    """The finding for a file that cannot be read at all."""
    reason = exc.strerror or type(exc).__name__
    return _finding(
        "MR001 unreadable-file",
        release_path,
        None,
        f"cannot be read: {reason}",
        "Fix the file's permissions or remove it from the release.",
    )


def _finding(
    code: str, path: str, where: str | None, message: str, fix: str, *, severity: Severity = "error"
) -> Finding:
    return Finding(code=code, severity=severity, path=path, where=where, message=message, fix=fix)


def _header_error(release_path: str, message: str) -> Finding:
    return _finding("MR101 safetensors-header", release_path, "header", message, _SAFETENSORS_FIX)


def _entry_error(release_path: str, name: str, message: str) -> Finding:
    return _finding("MR102 safetensors-entry", release_path, name, message, _SAFETENSORS_FIX)


def _offsets_error(release_path: str, where: str | None, message: str) -> Finding:
    return _finding("MR105 safetensors-offsets", release_path, where, message, _SAFETENSORS_FIX)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _json_reason(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at byte {exc.pos}"
    return str(exc)


__all__ = [
    "DTYPE_BITS",
    "MAX_HEADER_SIZE",
    "PICKLE_SUFFIXES",
    "PickleImport",
    "SafetensorsHeader",
    "TensorEntry",
    "check_pickle",
    "check_safetensors",
    "check_shard_index",
    "is_pickle",
    "is_safetensors",
    "is_shard_index",
    "parse_safetensors_header",
    "scan_pickle_imports",
    "unreadable",
]
