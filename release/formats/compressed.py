"""Files compressed as a whole (gzip, bz2, xz/lzma, zlib), read through their decompression.

``pandas.to_pickle("x.pkl.gz")`` and ``joblib.dump(..., compress=3)`` write pickles this way, and
``pandas.read_pickle`` and ``joblib.load`` decompress them before unpickling: the gate looks at
the pickle inside. Each format is known by its magic bytes; joblib's zlib files are a bare zlib
stream (``0x78`` and a header checksum). lz4 is not in the standard library and is not read.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from pathlib import Path
from typing import IO, Any, cast

__all__ = ["compression", "open_decompressed"]

_CHUNK = 1 << 16


def compression(head: bytes) -> str | None:
    """The compression a file starting with ``head`` (at least 6 bytes) uses, or None."""
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh") and head[3:4] in b"123456789":
        return "bz2"
    if head.startswith((b"\xfd7zXZ\x00", b"\x5d\x00\x00")):
        return "xz"
    if len(head) >= 2 and head[0] == 0x78 and (head[0] << 8 | head[1]) % 31 == 0:
        return "zlib"
    return None


def open_decompressed(path: Path, kind: str) -> IO[bytes]:
    """A readable (and, slowly, seekable) stream of the decompressed content."""
    stream: io.BufferedIOBase
    if kind == "gzip":
        stream = gzip.open(path, "rb")  # noqa: SIM115 (the caller closes it)
    elif kind == "bz2":
        stream = bz2.open(path, "rb")  # noqa: SIM115
    elif kind == "xz":
        stream = lzma.open(path, "rb")  # noqa: SIM115
    else:
        stream = io.BufferedReader(_ZlibReader(path.open("rb")))
    return cast(IO[bytes], stream)


class _ZlibReader(io.RawIOBase):
    """A bare zlib stream, decompressed as it is read; seeking forward reads on, backward restarts."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._restart()

    def _restart(self) -> None:
        self._raw.seek(0)
        self._inflate = zlib.decompressobj()
        self._pending = b""
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def readinto(self, buffer: Any) -> int:
        while not self._pending and not self._inflate.eof:
            data = self._inflate.unconsumed_tail or self._raw.read(_CHUNK)
            if not data:
                break
            self._pending = self._inflate.decompress(data, _CHUNK)
        view = memoryview(buffer).cast("B")
        count = min(len(view), len(self._pending))
        view[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        self._position += count
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._position
        elif whence == io.SEEK_END:
            while self.read(_CHUNK):
                pass
            offset += self._position
        if offset < self._position:
            self._restart()
        while self._position < offset and self.read(min(_CHUNK, offset - self._position)):
            pass
        return self._position

    def close(self) -> None:
        self._raw.close()
        super().close()
