"""The parts of multipart LFS uploads, kept on disk until their upload is completed or abandoned.

Each upload (one LFS batch answer for one object) has its own folder, named by the random upload id
its signed links carry, under the storage's ``tmp/parts/``; that folder is emptied when the store is
opened, like every other temporary file. A part is streamed to a temporary name and renamed into
place once its size is right, so a part is either absent or whole: sending a part again (a retry, a
resumed upload) replaces it. Its ETag is the sha256 of its bytes. Nothing here knows about HTTP.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from release.hub.repo import ContentMismatchError, InvalidInputError

#: How much of a part or an assembled object is held in memory at once while it is copied.
COPY_BUFFER_BYTES: Final = 1024 * 1024

_UPLOAD_ID_RE: Final = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class StoredPart:
    """A part as received: its number, size and ETag (the sha256 of its bytes)."""

    number: int
    size: int
    etag: str


class PartWriter:
    """One part being streamed to a temporary file; :meth:`finish` puts it in place if its size is right.

    Use it as a context manager: leaving the block without a successful ``finish`` deletes the partial file.
    """

    def __init__(self, folder: Path, number: int, size: int) -> None:
        self._folder = folder
        self.number = number
        self.size = size
        fd, name = tempfile.mkstemp(dir=folder, prefix=f".{number:05d}-", suffix=".tmp")
        self._tmp_path = Path(name)
        self._file: BinaryIO = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self._received = 0

    def write(self, chunk: bytes) -> None:
        self._received += len(chunk)
        if self._received > self.size:
            raise ContentMismatchError(f"Part {self.number} is larger than the {self.size} bytes its link is for")
        self._hash.update(chunk)
        self._file.write(chunk)

    def finish(self) -> StoredPart:
        """Check the size and move the part into place (blocking: run it in a thread)."""
        if self._received != self.size:
            raise ContentMismatchError(
                f"Part {self.number} has {self._received} bytes, but its link is for {self.size}"
            )
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        etag = self._hash.hexdigest()
        for older in self._folder.glob(f"{self.number:05d}.*"):  # an earlier copy of this part
            older.unlink(missing_ok=True)
        self._tmp_path.replace(self._folder / f"{self.number:05d}.{etag}")
        return StoredPart(self.number, self.size, etag)

    def __enter__(self) -> PartWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._file.close()
        self._tmp_path.unlink(missing_ok=True)


class PartStore:
    """The folders of the multipart uploads in progress, under ``root`` (the storage's ``tmp/parts``)."""

    def __init__(self, root: Path) -> None:
        self._root = root

    @staticmethod
    def new_upload_id() -> str:
        return os.urandom(16).hex()

    def begin_part(self, upload_id: str, number: int, size: int) -> PartWriter:
        folder = self._folder(upload_id)
        folder.mkdir(parents=True, exist_ok=True)
        return PartWriter(folder, number, size)

    def parts(self, upload_id: str) -> dict[int, StoredPart]:
        """The parts of an upload received in full so far, by number."""
        found: dict[int, StoredPart] = {}
        folder = self._folder(upload_id)
        if not folder.is_dir():
            return found
        for path in folder.iterdir():
            number, dot, etag = path.name.partition(".")
            if dot and number.isdigit() and not path.name.startswith("."):
                found[int(number)] = StoredPart(int(number), path.stat().st_size, etag)
        return found

    def read_parts(self, upload_id: str, numbers: range) -> Iterator[bytes]:
        """The bytes of parts ``numbers``, in order, a buffer at a time; ContentMismatchError if one is missing."""
        stored = {part.number: part for part in self.parts(upload_id).values()}
        for number in numbers:
            part = stored.get(number)
            if part is None:
                raise ContentMismatchError(f"Part {number} was not uploaded; upload every part before completing")
            with (self._folder(upload_id) / f"{number:05d}.{part.etag}").open("rb") as file:
                while chunk := file.read(COPY_BUFFER_BYTES):
                    yield chunk

    def discard(self, upload_id: str) -> None:
        shutil.rmtree(self._folder(upload_id), ignore_errors=True)

    def discard_older_than(self, seconds: float) -> None:
        """Delete the uploads untouched for ``seconds``: their links have expired, so nobody can finish them."""
        if not self._root.is_dir():
            return
        cutoff = time.time() - seconds
        for folder in self._root.iterdir():
            try:
                if folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
            except FileNotFoundError:
                continue

    def _folder(self, upload_id: str) -> Path:
        if not _UPLOAD_ID_RE.fullmatch(upload_id):
            raise InvalidInputError(f"Invalid upload id {upload_id!r}: ask the LFS batch endpoint for new links")
        return self._root / upload_id
