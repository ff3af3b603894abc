"""ONNX models whose tensors keep their data in other files: those files must be in the release.

A tensor saved with ``save_as_external_data`` has ``data_location = EXTERNAL`` and
``external_data`` entries (``location``, ``offset``, ``length``): its bytes live in the file
``location``, relative to the model's folder. A location that is absolute or climbs out with
``..`` makes a loader read whatever that path holds on the user's machine (onnx's own checker
refuses them); a location missing from the release makes the model unloadable.

The model is read as protobuf wire format, following only the messages that can hold tensors
(graph initializers and sparse initializers, node attributes, subgraphs, training graphs,
functions); every other field, ``raw_data`` included, is skipped with a seek, so a model with
gigabytes of embedded weights costs its structure, not its size. The ``onnx`` package would
parse the whole file into memory (and weighs some 30 MB with protobuf); this reader is the part
of it the gate needs. Field numbers are those of ``onnx.proto`` (onnx 1.23).
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from release.checkpoint import unreadable
from release.errors import Finding

# message -> {field number: message it holds}, for the fields that lead to tensors
_MODEL, _GRAPH, _NODE, _ATTRIBUTE, _TRAINING, _FUNCTION, _SPARSE, _TENSOR = range(8)
_SCHEMA: Mapping[int, Mapping[int, int]] = {
    _MODEL: {7: _GRAPH, 20: _TRAINING, 25: _FUNCTION},  # graph, training_info, functions
    _GRAPH: {1: _NODE, 5: _TENSOR, 15: _SPARSE},  # node, initializer, sparse_initializer
    _NODE: {5: _ATTRIBUTE},  # attribute
    _ATTRIBUTE: {5: _TENSOR, 6: _GRAPH, 10: _TENSOR, 11: _GRAPH, 22: _SPARSE, 23: _SPARSE},  # t, g, tensors, ...
    _TRAINING: {1: _GRAPH, 2: _GRAPH},  # initialization, algorithm
    _FUNCTION: {7: _NODE},  # node
    _SPARSE: {1: _TENSOR, 2: _TENSOR},  # values, indices
}
_TENSOR_NAME, _EXTERNAL_DATA, _DATA_LOCATION, _EXTERNAL = 8, 13, 14, 1
_MAX_DEPTH = 100  # protobuf's own default recursion limit

_FIX = (
    "Save the model with onnx.save_model(model, path, save_as_external_data=True, location=NAME) so that "
    "the data file NAME sits beside the .onnx file, and release that file with it."
)

__all__ = ["ExternalTensor", "check_onnx", "external_tensors"]


@dataclass(frozen=True)
class ExternalTensor:
    """A tensor whose data is in another file, as its model names it."""

    name: str
    location: str | None
    offset: int | None
    length: int | None


class _Malformed(Exception):
    """The file is not protobuf an ONNX loader could read."""


def check_onnx(release_path: str, path: Path, release: Mapping[str, Path]) -> list[Finding]:
    """Findings for an ONNX model: external data outside the release tree, missing, or too short.

    ``release`` maps every release path to its file, to find the data files the model names.
    """
    try:
        with path.open("rb", buffering=1 << 16) as handle:
            tensors = external_tensors(handle, os.fstat(handle.fileno()).st_size)
    except OSError as exc:
        return [unreadable(release_path, exc)]
    except _Malformed as exc:
        message = f"is not an ONNX model onnx could load: {exc}"
        fix = "Re-export the model (torch.onnx.export, or onnx.save_model) and check it with onnx.checker."
        return [Finding("MR701 onnx-model", "error", release_path, None, message, fix)]
    findings = []
    for tensor in tensors:
        problem = _check_location(release_path, tensor, release)
        if problem is not None:
            code, message = problem
            findings.append(Finding(code, "error", release_path, tensor.name, message, _FIX))
    return findings


def _check_location(release_path: str, tensor: ExternalTensor, release: Mapping[str, Path]) -> tuple[str, str] | None:
    location = tensor.location
    if not location:
        return "MR702 onnx-external-path", "keeps its data externally but names no location"
    parts = re.split(r"[/\\]", location)
    if location.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", location) or ".." in parts or "\0" in location:
        return "MR702 onnx-external-path", f"reads its data from {location!r}, outside the release tree"
    target = posixpath.normpath(posixpath.join(posixpath.dirname(release_path), location.replace("\\", "/")))
    if target not in release:
        return (
            "MR703 onnx-external-missing",
            f"reads its data from {location!r} ({target}), which is not in the release",
        )
    try:
        size = release[target].stat().st_size
    except OSError:
        return None  # the data file's own MR001 finding says it
    offset = tensor.offset or 0
    end = offset + tensor.length if tensor.length is not None else offset
    if end > size:
        message = f"reads bytes {offset:,} to {end:,} of {location!r}, which has {size:,} (truncated?)"
        return "MR704 onnx-external-range", message
    return None


def external_tensors(handle: IO[bytes], size: int) -> list[ExternalTensor]:
    """Every tensor of the model in ``handle`` whose data is external. Raises ``_Malformed``."""
    found: list[ExternalTensor] = []
    _walk(_Wire(handle), size, _MODEL, found, 0)
    return found


class _Wire:
    """Protobuf wire format from a file: varints, and seeks past what is not needed."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle

    def tell(self) -> int:
        return self.handle.tell()

    def varint(self) -> int:
        value = shift = 0
        while True:
            byte = self.handle.read(1)
            if not byte:
                raise _Malformed(f"a number is cut off at byte {self.tell():,}")
            value |= (byte[0] & 0x7F) << shift
            if byte[0] < 0x80:
                return value
            shift += 7
            if shift > 63:
                raise _Malformed(f"a number at byte {self.tell():,} is longer than 10 bytes")

    def bytes(self, count: int) -> bytes:
        data = self.handle.read(count)
        if len(data) != count:
            raise _Malformed(f"a field is cut off at byte {self.tell():,}")
        return data

    def skip(self, count: int, end: int) -> None:
        if self.tell() + count > end:
            raise _Malformed(f"a field at byte {self.tell():,} runs past the end of its message")
        self.handle.seek(count, os.SEEK_CUR)


def _walk(wire: _Wire, end: int, message: int, found: list[ExternalTensor], depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise _Malformed(f"messages are nested more than {_MAX_DEPTH} deep")
    fields = _SCHEMA[message]
    while wire.tell() < end:
        number, length, _ = _field(wire, end)
        if length is None:
            continue
        child = fields.get(number)
        if child is None:
            wire.skip(length, end)
        elif child == _TENSOR:
            tensor = _tensor(wire, wire.tell() + length)
            if tensor is not None:
                found.append(tensor)
        else:
            _walk(wire, wire.tell() + length, child, found, depth + 1)
    if wire.tell() != end:
        raise _Malformed(f"a message ends at byte {wire.tell():,}, past its length")


def _field(wire: _Wire, end: int) -> tuple[int, int | None, int]:
    """Read a field's tag: (its number, its length if length-delimited, its value if a varint).

    Fixed-width values are skipped (their value is 0 here)."""
    tag = wire.varint()
    number, wire_type = tag >> 3, tag & 7
    if wire_type == 0:
        return number, None, wire.varint()
    if wire_type in (1, 5):
        wire.skip(8 if wire_type == 1 else 4, end)
        return number, None, 0
    if wire_type == 2:
        return number, wire.varint(), 0
    raise _Malformed(f"field {number} at byte {wire.tell():,} has wire type {wire_type}, which ONNX never writes")


def _tensor(wire: _Wire, end: int) -> ExternalTensor | None:
    name, external, location_kind = "", {}, 0
    while wire.tell() < end:
        number, length, value = _field(wire, end)
        if length is None:
            if number == _DATA_LOCATION:
                location_kind = value
        elif number == _TENSOR_NAME:
            name = wire.bytes(length).decode("utf-8", "replace")
        elif number == _EXTERNAL_DATA:
            key, text = _entry(wire, wire.tell() + length)
            external[key] = text
        else:
            wire.skip(length, end)
    if not external and location_kind != _EXTERNAL:
        return None
    location = external.get("location")
    return ExternalTensor(name or "(unnamed)", location, _int(external, "offset"), _int(external, "length"))


def _entry(wire: _Wire, end: int) -> tuple[str, str]:
    key = value = ""
    while wire.tell() < end:
        number, length, _ = _field(wire, end)
        if length is None:
            continue
        text = wire.bytes(length).decode("utf-8", "replace")
        if number == 1:
            key = text
        elif number == 2:
            value = text
    return key, value


def _int(entries: Mapping[str, str], key: str) -> int | None:
    value = entries.get(key)
    return int(value) if value is not None and value.isdigit() else None
