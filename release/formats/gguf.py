"""GGUF files checked by their header and tensor table, without reading tensor data.

The layout (ggml's ``docs/gguf.md``; versions 2 and 3, little- or big-endian): ``GGUF``, a uint32
version, uint64 tensor and metadata counts, the metadata (key: a string, a uint32 value type, the
value; strings are a uint64 length and UTF-8 bytes, arrays a uint32 element type, a uint64 count
and the elements), then one entry per tensor (name, uint32 dimension count, uint64 dimensions,
uint32 ggml type, uint64 offset into the data section). The data section starts at the next
multiple of ``general.alignment`` (uint32, a power of two, 32 when absent), and every tensor's
offset is a multiple of it.

A tensor's size follows from its type and shape: ``ne[0] / block_size * type_size * ne[1] * ...``
with ggml's block sizes (:data:`GGML_TYPES`). The check reads the header and the table (metadata
arrays of numbers are skipped, not read) and reports the first thing that does not hold, or each
tensor whose data does not fit in the file, as llama.cpp's loader would refuse them.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from release.checkpoint import unreadable
from release.errors import Finding

#: ggml's tensor types: id -> (name, elements per block, bytes per block) (ggml.h, ggml.c's type traits).
GGML_TYPES: Mapping[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
    40: ("NVFP4", 64, 36),
    41: ("Q1_0", 128, 18),
}

#: Metadata value types: id -> (name, struct format of one value, or None for strings and arrays).
VALUE_TYPES: Mapping[int, tuple[str, str | None]] = {
    0: ("UINT8", "B"),
    1: ("INT8", "b"),
    2: ("UINT16", "H"),
    3: ("INT16", "h"),
    4: ("UINT32", "I"),
    5: ("INT32", "i"),
    6: ("FLOAT32", "f"),
    7: ("BOOL", "?"),
    8: ("STRING", None),
    9: ("ARRAY", None),
    10: ("UINT64", "Q"),
    11: ("INT64", "q"),
    12: ("FLOAT64", "d"),
}

SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4  # GGML_MAX_DIMS
_STRING, _ARRAY = 8, 9

_HEADER = "MR601 gguf-header"
_TENSOR = "MR602 gguf-tensor"
_FIX = (
    "Re-export the file with llama.cpp's convert_hf_to_gguf.py or gguf's GGUFWriter, then check that "
    "it was copied completely (compare its size and SHA-256 with the original)."
)

__all__ = ["DEFAULT_ALIGNMENT", "GGML_TYPES", "SUPPORTED_VERSIONS", "VALUE_TYPES", "check_gguf", "read_strings"]


class _Broken(Exception):
    """The header cannot be read on: ``where`` and ``message`` say why."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where = where
        self.message = message


class _Reader:
    """Reads a GGUF header field by field, knowing the file's size and byte order."""

    def __init__(self, handle: IO[bytes], size: int) -> None:
        self.handle = handle
        self.size = size
        self.order = "<"
        self.place = "header"  # what is being read, for the message when it runs out

    @property
    def offset(self) -> int:
        return self.handle.tell()

    def read(self, count: int) -> bytes:
        if count > self.size - self.offset:
            raise _Broken(
                self.place,
                f"needs {count:,} byte(s) at offset {self.offset:,} but the file ends at {self.size:,} (truncated?)",
            )
        return self.handle.read(count)

    def skip(self, count: int) -> None:
        if count > self.size - self.offset:
            self.read(count)  # raises with the message
        self.handle.seek(count, os.SEEK_CUR)

    def unpack(self, fmt: str) -> int | float | bool:
        value: int | float | bool = struct.unpack(self.order + fmt, self.read(struct.calcsize(fmt)))[0]
        return value

    def uint(self, fmt: str) -> int:
        return int(self.unpack(fmt))

    def string(self) -> str:
        length = self.uint("Q")
        raw = self.read(length)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _Broken(self.place, f"a string at offset {self.offset - length:,} is not UTF-8") from exc


def check_gguf(release_path: str, path: Path) -> list[Finding]:
    """Findings for a GGUF file: a broken header or tensor table, or tensors whose data is not all there."""
    try:
        with path.open("rb") as handle:
            reader = _Reader(handle, os.fstat(handle.fileno()).st_size)
            return _check(release_path, reader)
    except OSError as exc:
        return [unreadable(release_path, exc)]
    except _Broken as broken:
        return [Finding(_HEADER, "error", release_path, broken.where, broken.message, _FIX)]


def read_strings(path: Path) -> dict[str, str]:
    """The string values of a GGUF file's metadata (``general.name``, ``general.license``, ...).

    Those read before anything that does not parse; empty for a file that is not GGUF. Never raises
    for a broken file: :func:`check_gguf` is what reports one.
    """
    strings: dict[str, str] = {}
    try:
        with path.open("rb") as handle:
            reader = _Reader(handle, os.fstat(handle.fileno()).st_size)
            _, kv_count = _read_counts(reader)
            _read_metadata(reader, kv_count, strings)
    except (OSError, _Broken):
        pass
    return strings


def _check(release_path: str, reader: _Reader) -> list[Finding]:
    tensor_count, kv_count = _read_counts(reader)
    alignment = _read_metadata(reader, kv_count)
    tensors = [_read_tensor_info(reader, index) for index in range(tensor_count)]
    data_start = -(-reader.offset // alignment) * alignment
    return _check_tensors(release_path, tensors, alignment, data_start, reader.size)


def _read_counts(reader: _Reader) -> tuple[int, int]:
    """Read the magic and version (setting the byte order); return the tensor and metadata counts."""
    if reader.read(4) != b"GGUF":
        raise _Broken("magic", "does not start with the GGUF magic bytes")
    raw_version = reader.read(4)
    version = int.from_bytes(raw_version, "little")
    if version & 0xFFFF == 0:  # written on a big-endian machine
        reader.order, version = ">", int.from_bytes(raw_version, "big")
    if version not in SUPPORTED_VERSIONS:
        supported = " and ".join(map(str, SUPPORTED_VERSIONS))
        raise _Broken("version", f"is GGUF version {version}; llama.cpp reads versions {supported}")
    reader.place = "counts"
    tensor_count, kv_count = reader.uint("Q"), reader.uint("Q")
    # each metadata pair takes at least 13 bytes (key length, type, one byte), each tensor entry 28
    if kv_count * 13 > reader.size or tensor_count * 28 > reader.size:
        message = f"claims {tensor_count:,} tensors and {kv_count:,} metadata pairs, more than the file can hold"
        raise _Broken("counts", message)
    return tensor_count, kv_count


def _read_metadata(reader: _Reader, count: int, strings: dict[str, str] | None = None) -> int:
    """Read every metadata pair (its string values into ``strings``); return ``general.alignment``
    (checked) or the default."""
    alignment = DEFAULT_ALIGNMENT
    for index in range(count):
        reader.place = f"metadata pair {index}"
        key = reader.string()
        reader.place = f"metadata {key!r}"
        value_type = reader.uint("I")
        value = _read_value(reader, value_type)
        if strings is not None and isinstance(value, str):
            strings[key] = value
        if key == "general.alignment":
            if value_type != 4 or not isinstance(value, int) or value <= 0 or value & (value - 1):
                raise _Broken(reader.place, f"is {value!r} ({_type_name(value_type)}), not a uint32 power of two")
            alignment = value
    return alignment


def _read_value(reader: _Reader, value_type: int) -> object:
    if value_type == _STRING:
        return reader.string()
    if value_type == _ARRAY:
        element_type, count = reader.uint("I"), reader.uint("Q")
        if element_type not in VALUE_TYPES:
            raise _Broken(reader.place, f"is an array of unknown value type {element_type}")
        fmt = VALUE_TYPES[element_type][1]
        if fmt is not None:  # numbers: skipped without reading them
            reader.skip(count * struct.calcsize(fmt))
        else:
            for _ in range(count):
                _read_value(reader, element_type)
        return None
    if value_type not in VALUE_TYPES:
        raise _Broken(reader.place, f"has unknown value type {value_type}")
    fmt = VALUE_TYPES[value_type][1]
    assert fmt is not None
    return reader.unpack(fmt)


def _read_tensor_info(reader: _Reader, index: int) -> tuple[str, tuple[int, ...], int, int]:
    reader.place = f"tensor entry {index}"
    name = reader.string()
    reader.place = f"tensor {name!r}"
    n_dims = reader.uint("I")
    if n_dims > MAX_DIMS:
        raise _Broken(reader.place, f"has {n_dims} dimensions; ggml allows at most {MAX_DIMS}")
    shape = tuple(reader.uint("Q") for _ in range(n_dims))
    ggml_type, offset = reader.uint("I"), reader.uint("Q")
    return name, shape, ggml_type, offset


def _check_tensors(
    release_path: str, tensors: list[tuple[str, tuple[int, ...], int, int]], alignment: int, start: int, size: int
) -> list[Finding]:
    findings: list[Finding] = []

    def problem(name: str, message: str) -> None:
        findings.append(Finding(_TENSOR, "error", release_path, name, message, _FIX))

    seen: set[str] = set()
    for name, shape, ggml_type, offset in tensors:
        if name in seen:
            problem(name, "appears twice in the tensor table")
        seen.add(name)
        if ggml_type not in GGML_TYPES:
            problem(name, f"has ggml type {ggml_type}, which is not one ggml knows ({len(GGML_TYPES)} types)")
            continue
        type_name, block, type_size = GGML_TYPES[ggml_type]
        elements = math.prod(shape)
        if shape and shape[0] % block:
            problem(name, f"shape {list(shape)}: its first dimension is not a multiple of {type_name}'s block {block}")
            continue
        nbytes = elements // block * type_size
        if offset % alignment:
            problem(name, f"data offset {offset:,} is not a multiple of the alignment {alignment}")
        end = start + offset + nbytes
        if end > size:
            message = (
                f"{type_name} {list(shape)} needs bytes {start + offset:,} to {end:,} but the file ends at "
                f"{size:,} (truncated?)"
            )
            problem(name, message)
    return findings


def _type_name(value_type: int) -> str:
    return VALUE_TYPES[value_type][0] if value_type in VALUE_TYPES else f"type {value_type}"
