"""What a file of a release is, told from its first bytes rather than its name.

A pickle renamed ``weights``, ``model.pth.tar`` or ``x.pt.txt`` loads as well as ``model.pkl``
does, so the gate classifies files by content:

- a pickle of protocol 2 to 5 starts with the PROTO opcode: ``0x80`` and the protocol number;
- a pickle of protocol 0 or 1 has no header; one is recognised when the file starts with one of
  their opcodes and its first 64 KiB parse as pickle opcodes to STOP (or, in a longer file, to
  the end of those 64 KiB), every global it imports (GLOBAL, INST) named by identifiers. Text
  that happens to start with an opcode (``c``, ``I``, ``S``, ``(``...) fails that within a line
  or two. Not recognised: such a pickle cut short before its STOP (text would too often pass for
  one), although unpickling it runs the calls before the cut;
- a numpy ``.npy`` array starts with ``\\x93NUMPY`` (a pickle when its dtype holds objects);
- a zip (``PK\\x03\\x04``) is torch's format or numpy's ``.npz`` when it holds a ``*.pkl`` or
  ``*.npy`` member (in any folder), a Keras model when it holds ``config.json`` beside
  ``metadata.json`` at its top (or is named ``.keras``); its member list is read from the
  central directory;
- GGUF starts with ``GGUF``, HDF5 (Keras ``.h5``) with ``\\x89HDF\\r\\n\\x1a\\n``;
- a gzip, bz2, xz or zlib file (:mod:`release.formats.compressed`) is a pickle when what it
  decompresses to starts like one (pandas' ``x.pkl.gz``, joblib's ``compress=``).

Files with a pickle's name (:data:`release.checkpoint.PICKLE_SUFFIXES`) are pickles whatever
their content says, unless it says GGUF or HDF5. ONNX has no magic number and is
known by its ``.onnx`` name; a ``.gguf`` file without GGUF's magic is checked as GGUF (and
refused). Classifying costs one read of 8 bytes per file, and a parse of up to 64 KiB for files
that start with a protocol 0/1 opcode (much text does: it fails within a line or two) or are
compressed: 9 to 23 microseconds per small text file, against 170 or more for its secret scan.
"""

from __future__ import annotations

import io
import pickletools
import posixpath
from pathlib import Path
from typing import IO, Literal

from picklescan.relaxed_zipfile import RelaxedZipFile

from release.checkpoint import is_pickle
from release.formats.compressed import compression, open_decompressed

#: What the gate does with a file: scan it as pickles (raw, numpy, or zip members), check it as a
#: Keras zip, GGUF, HDF5 (a Keras .h5 model) or ONNX model, or treat it as anything else.
FileKind = Literal["pickle", "keras", "gguf", "hdf5", "onnx", "other"]

GGUF_MAGIC = b"GGUF"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"

_HEAD_BYTES = 8
# Every opcode protocols 0 and 1 have: a pickle may start with any of them ("N0" pushes and pops
# None before a payload), so the first byte only decides whether to try parsing.
_OLD_PICKLE_OPENERS = frozenset(ord(op.code) for op in pickletools.opcodes if op.proto <= 1)
_OLD_PICKLE_PROBE = 64 << 10
_PICKLE_MEMBERS = (".pkl", ".pickle", ".npy")

__all__ = [
    "GGUF_MAGIC",
    "HDF5_MAGIC",
    "NPY_MAGIC",
    "ZIP_MAGIC",
    "FileKind",
    "is_pickle_header",
    "sniff",
    "sniff_bytes",
]


def sniff(release_path: str, path: Path) -> FileKind:
    """The kind of the file at ``path`` (``release_path`` is its name in the release). Raises OSError."""
    with path.open("rb") as handle:
        head = handle.read(_HEAD_BYTES)
        if head.startswith(GGUF_MAGIC):
            return "gguf"
        if head.startswith(HDF5_MAGIC):
            return "hdf5"
        if head.startswith(ZIP_MAGIC):
            return _zip_kind(release_path, handle)
        if head.startswith(NPY_MAGIC) or is_pickle_header(head) or is_pickle(release_path):
            return "pickle"
        if head[:1] and head[0] in _OLD_PICKLE_OPENERS:
            handle.seek(0)
            if _is_old_pickle(handle.read(_OLD_PICKLE_PROBE)):
                return "pickle"
        if (compressed := compression(head)) is not None and _holds_pickle(path, compressed):
            return "pickle"
    suffix = posixpath.splitext(release_path)[1].lower()
    if suffix == ".gguf":
        return "gguf"  # without the magic: the GGUF check says so
    if suffix == ".onnx":
        return "onnx"
    return "other"


def sniff_bytes(release_path: str, data: bytes) -> FileKind | None:
    """:func:`sniff` for a file already read whole (``data``); None when only the file can tell (a zip, a
    compressed file), and :func:`sniff` must look."""
    head = data[:_HEAD_BYTES]
    if head.startswith(GGUF_MAGIC):
        return "gguf"
    if head.startswith(HDF5_MAGIC):
        return "hdf5"
    if head.startswith(ZIP_MAGIC) or compression(head) is not None:
        return None
    if head.startswith(NPY_MAGIC) or is_pickle_header(head) or is_pickle(release_path):
        return "pickle"
    if head[:1] and head[0] in _OLD_PICKLE_OPENERS and _is_old_pickle(data[:_OLD_PICKLE_PROBE]):
        return "pickle"
    suffix = posixpath.splitext(release_path)[1].lower()
    if suffix == ".gguf":
        return "gguf"
    if suffix == ".onnx":
        return "onnx"
    return "other"


def is_pickle_header(head: bytes) -> bool:
    """Whether ``head`` starts with a PROTO opcode of protocol 2 to 5 (every pickle.dumps of those writes one)."""
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def _zip_kind(release_path: str, handle: IO[bytes]) -> FileKind:
    named_keras = release_path.lower().endswith(".keras")
    if is_pickle(release_path):
        return "pickle"  # the pickle scan reads the zip, and blocks it if it cannot
    handle.seek(0)
    try:
        with RelaxedZipFile(handle, "r") as archive:
            names = archive.namelist()
    except Exception:  # not a zip a loader could open either (torch and Keras read the central directory)
        return "keras" if named_keras else "other"
    if any(name.lower().endswith(_PICKLE_MEMBERS) for name in names):
        return "pickle"
    top = {name for name in names if "/" not in name}
    if named_keras or {"config.json", "metadata.json"} <= top:
        return "keras"
    return "other"


def _holds_pickle(path: Path, compressed: str) -> bool:
    """Whether a compressed file decompresses to a pickle or a numpy array (its first 64 KiB tell).

    A stream cut short still counts by what it decompressed before the cut: unpickling runs what
    it reads as it reads it, so a truncated pickle can do harm before it fails.
    """
    probe = b""
    try:
        with open_decompressed(path, compressed) as stream:
            while len(probe) < _OLD_PICKLE_PROBE and (chunk := stream.read(4096)):
                probe += chunk
    except Exception:  # not what its first bytes said (text starting "x^", say), or damaged
        if not probe:
            return False
    return probe.startswith(NPY_MAGIC) or is_pickle_header(probe) or _is_old_pickle(probe)


def _is_old_pickle(probe: bytes) -> bool:
    if not probe or probe[0] not in _OLD_PICKLE_OPENERS:
        return False
    return _parses_as_pickle(probe, complete=len(probe) < _OLD_PICKLE_PROBE)


def _is_global(argument: str) -> bool:
    parts = argument.split(" ")
    return len(parts) == 2 and all(part and all(p.isidentifier() for p in part.split(".")) for part in parts)


def _parses_as_pickle(data: bytes, *, complete: bool) -> bool:
    """Whether ``data`` reads as pickle opcodes up to STOP (or, when it is only the file's start, to its end)."""
    stream = io.BytesIO(data)
    try:
        for opcode, argument, _ in pickletools.genops(stream):
            if opcode.name == "STOP":
                return True
            if opcode.name in ("GLOBAL", "INST") and not _is_global(str(argument)):
                return False  # "module name" of identifiers, or text that read as one ("line 2: ...")
    except Exception:  # any parse failure: not a pickle (or one cut off by our probe's end)
        return not complete and stream.tell() >= len(data)
    return False
