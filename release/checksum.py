"""SHA-256 manifests of datasets and weights: fast to build, verifiable with ``sha256sum -c``.

Files are read with one page-aligned buffer per worker thread, allocated once and reused
(``mmap.mmap(-1, n)``), and hashed in parallel across files (hashlib releases the GIL on large
updates). The alignment matters: glibc places the data of a large ``bytearray`` 16 bytes past a
page boundary, and on the 2-vCPU machines we measured, ``readinto`` from the page cache into such a
buffer ran about five times slower in the kernel, taking one large file from ~1.3 GB/s to under
1 GB/s. A fresh mapping per file was slower than reusing one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import mmap
import os
import queue
import re
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from release.errors import ChecksumError, FileNameError

log = logging.getLogger(__name__)

MANIFEST_FORMAT = "model-release.manifest/1"
_BUFFER_SIZE = 1 << 20
_PIPELINE_MIN = 16 << 20  # below this a reader thread costs more than it saves
_PIPELINE_BUFFERS = 4
_SMALL_FILE = 64 << 10  # read whole in one call; larger files stream through the worker's buffer
_BATCH_FILES = 256  # files per task given to a worker thread
_BAD_PATH = re.compile(r"^/|(?:^|/)\.{0,2}(?:/|$)")  # absolute, or an empty, "." or ".." component

ProgressCallback = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    path: str  # POSIX, relative to the manifest's root, NFC-normalised
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """The SHA-256 of every file under one root, sorted by path (immutable; paths checked when built)."""

    entries: tuple[ManifestEntry, ...]
    name: str | None = None

    def __post_init__(self) -> None:
        entries = tuple(self.entries)
        paths = [e.path for e in entries]
        if paths != sorted(paths):
            entries = tuple(sorted(entries, key=lambda e: e.path))
        for path in paths:
            check_relative_path(path)
        object.__setattr__(self, "entries", entries)

    @property
    def total_size(self) -> int:
        return sum(e.size for e in self.entries)

    @cached_property
    def by_path(self) -> dict[str, ManifestEntry]:
        return {e.path: e for e in self.entries}

    def to_json(self) -> str:
        document = {
            "format": MANIFEST_FORMAT,
            "name": self.name,
            "file_count": len(self.entries),
            "total_size": self.total_size,
        }
        return dumps_with_files(document, self.entries)

    def to_sha256sum(self) -> str:
        """GNU coreutils format: ``sha256sum -c`` verifies it from the manifest's root."""
        return "".join(_sha256sum_line(e) for e in self.entries)

    @classmethod
    def from_json(cls, text: str, source: str) -> Manifest:
        try:
            document: Any = json.loads(text)
            if document.get("format") != MANIFEST_FORMAT:
                raise ChecksumError(f"{source}: not a model-release manifest (format {document.get('format')!r})")
            entries = tuple(ManifestEntry(f["path"], int(f["size"]), f["sha256"]) for f in document["files"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ChecksumError(f"{source}: malformed manifest ({exc})") from exc
        return cls(entries, document.get("name"))

    @classmethod
    def from_sha256sum(cls, text: str, source: str) -> Manifest:
        """Read a file made by ``sha256sum`` (text, ``*`` binary or ``--tag`` lines).

        Lines end at LF only (and a CR before it, as Windows writes them): any other character
        ``str.splitlines`` would split at (VT, FF, FS, U+2028 ...) may be part of a file name. Such
        files carry no sizes; entries get size -1, which :func:`verify_manifest` ignores.
        """
        entries = []
        for number, line in enumerate(text.split("\n"), start=1):
            line = line.removesuffix("\r")
            if not line.strip() or line.startswith("#"):
                continue
            parsed = _parse_sha256sum_line(line)
            if parsed is None:
                raise ChecksumError(f"{source}:{number}: not a sha256sum line: {line[:80]!r}")
            digest, path = parsed
            entries.append(ManifestEntry(_normalise(path), -1, digest.lower()))
        return cls(tuple(entries))

    @classmethod
    def read(cls, path: Path) -> Manifest:
        try:
            text = path.read_bytes().decode("utf-8")  # bytes: text mode would turn a CR in a name into LF
        except OSError as exc:
            raise ChecksumError(f"cannot read manifest {path}: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise ChecksumError(
                f"{path}: the manifest is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})"
            ) from None
        if text.lstrip().startswith("{"):
            return cls.from_json(text, str(path))
        return cls.from_sha256sum(text, str(path))


def dumps_with_files(document: dict[str, Any], entries: Sequence[ManifestEntry]) -> str:
    """``document`` plus ``"files": [{path, sha256, size}...]`` as ``json.dumps(indent=2, sort_keys=True,
    ensure_ascii=False)`` writes it, byte for byte, without its pure-Python indenting encoder.

    That encoder took about 15 µs a file: most of the time of a checksum of many small files.
    """
    if not entries:
        return json.dumps({**document, "files": []}, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    marker = "\0files\0"  # a JSON string no document value can hold: replaced by the entries
    head = json.dumps({**document, "files": marker}, indent=2, sort_keys=True, ensure_ascii=False)
    quote = json.encoder.encode_basestring  # what ensure_ascii=False uses for a str
    files = ",\n".join(
        f'    {{\n      "path": {quote(e.path)},\n      "sha256": {quote(e.sha256)},\n      "size": {e.size}\n    }}'
        for e in entries
    )
    return head.replace(json.dumps(marker), "[\n" + files + "\n  ]", 1) + "\n"


@dataclass(frozen=True)
class VerifyReport:
    """What differs between a manifest and the files on disk."""

    checked: int
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    modified: tuple[tuple[str, str, str], ...] = ()  # (path, expected, actual)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.modified)


def check_relative_path(path: str) -> None:
    """Refuse absolute paths and paths that climb out of their root."""
    if _BAD_PATH.search(path) is not None:
        raise ChecksumError(f"path {path!r} is not a plain relative path inside its root")


def check_text_names(paths: Iterable[str]) -> None:
    """Raise :class:`FileNameError` naming the first path whose bytes on disk are not UTF-8 text.

    On Linux such a name reaches Python with surrogate escapes (byte 0xff as U+DCFF): it cannot be
    written to a manifest, a cache or a terminal, and no Hub takes it.
    """
    for path in paths:
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:
            shown = os.fsencode(path).decode("utf-8", "backslashreplace")
            raise FileNameError(
                f"{shown}: the file name is not UTF-8 text, so it cannot go into a manifest: "
                "rename the file (e.g. with convmv) or move it out of the folder"
            ) from None


def collect_files(
    root: Path, include: Sequence[str] = ("**/*",), exclude: Sequence[str] = ()
) -> list[tuple[str, Path]]:
    """The files under ``root`` matching ``include`` and not ``exclude``, as sorted (relative path, path).

    Patterns are globs on POSIX paths relative to the root: ``*`` stays within a folder, ``**``
    crosses folders (``*.json`` is top level only, ``**/*.json`` anywhere). Symlinks that lead
    outside the root are refused; symlinked folders are not followed. Walks with ``os.scandir``
    and plain strings: one ``getdents`` per folder and no ``stat`` per file (they come later, once).
    """
    return [(relative, Path(path)) for relative, path in _walk(root, include, exclude)]


def _walk(root: Path, include: Sequence[str] = ("**/*",), exclude: Sequence[str] = ()) -> list[tuple[str, str]]:
    """:func:`collect_files` with plain string paths: a ``Path`` per file costs more than its ``stat``."""
    if not root.is_dir():
        raise ChecksumError(f"{root} is not a folder (or does not exist)")
    includes = [_glob_regex(p) for p in include]
    excludes = [_glob_regex(p) for p in exclude]
    everything = list(include) == ["**/*"] and not exclude
    found: list[tuple[str, str]] = []
    pending = [(os.path.abspath(root), "")]  # absolute and normal: the cache's keys as they are
    while pending:
        folder, prefix = pending.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                # scandir names are single components, never "", "." or "..": the relative path is
                # plain by construction (Manifest checks it again, for manifests read from files).
                relative = prefix + entry.name
                if entry.is_dir(follow_symlinks=False):
                    pending.append((entry.path, relative + "/"))
                    continue
                link = entry.is_symlink()
                if link and os.path.isdir(entry.path):
                    raise ChecksumError(f"{entry.path} is a symlinked folder: not followed; copy it or list its files")
                relative = _normalise(relative)
                if not everything and (
                    not any(r.fullmatch(relative) for r in includes) or any(r.fullmatch(relative) for r in excludes)
                ):
                    continue
                if link:
                    _check_symlink(Path(entry.path), root)
                found.append((relative, entry.path))
    found.sort()
    return found


def _check_symlink(path: Path, root: Path) -> None:
    target = path.resolve()
    if not target.is_relative_to(root.resolve()):
        raise ChecksumError(f"{path} is a symlink to {target}, outside {root}: refusing to follow it")
    if not target.is_file():
        raise ChecksumError(f"{path} is a symlink to {target}, which is not a file")


class HashCache:
    """sha256 of files keyed by (device, inode, size, mtime_ns, ctime_ns), kept in an SQLite file.

    A re-run over unchanged files costs one ``stat`` each. Any change a writer can make moves one of
    the keys: a touch or a same-size rewrite moves mtime (and ctime, which ``utime`` cannot set
    back), a rename moves ctime, a replacement is a new inode. Files modified in the last
    :attr:`RACY_SECONDS` are hashed but not remembered: a write in the same clock tick as our
    ``stat`` could otherwise go unseen. Verification never uses the cache.

    The store is indexed by path: a run reads the rows of the files it asks about
    (:meth:`preload`), never the whole cache, so its cost does not grow with everything ever
    checksummed; concurrent runs each add their rows in one transaction (SQLite's locking), and
    rows not written for :attr:`KEEP_DAYS` are pruned when a run saves. Nothing is created until
    :meth:`save` writes: a dry run leaves no file. An unreadable or foreign file counts as empty.
    """

    RACY_SECONDS = 2.0
    KEEP_DAYS = 180
    _SCHEMA = (
        "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, dev INTEGER, ino INTEGER, size INTEGER,"
        " mtime_ns INTEGER, ctime_ns INTEGER, sha256 TEXT, written INTEGER) WITHOUT ROWID"
    )

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._rows: dict[str, list[Any]] = {}  # path -> [dev, ino, size, mtime_ns, ctime_ns, sha256]
        self._asked: set[str] = set()  # paths whose row (or its absence) was read from the file
        self._added: dict[str, list[Any]] = {}

    @classmethod
    def load(cls, path: Path) -> HashCache:
        """The cache stored at ``path`` (read lazily, row by row as paths are asked about)."""
        return cls(path)

    def preload(self, paths: Iterable[str | Path]) -> None:
        """Read the rows of ``paths`` in one query (a temporary table joined with the store)."""
        keys = [_key(p) for p in paths]
        wanted = [(k,) for k in keys if k not in self._asked]
        self._asked.update(keys)
        if not wanted:
            return
        with self._reading() as db:
            if db is None:
                return
            db.execute("CREATE TEMP TABLE asked (path TEXT PRIMARY KEY) WITHOUT ROWID")
            db.executemany("INSERT OR IGNORE INTO asked VALUES (?)", wanted)
            query = "SELECT f.path, dev, ino, size, mtime_ns, ctime_ns, sha256 FROM files f JOIN asked USING (path)"
            for path, *row in db.execute(query):
                self._rows[path] = row

    @property
    def loaded(self) -> int:
        """How many rows this run holds in memory: those of the files it asked about, never the whole store."""
        return len(self._rows)

    def get(self, path: str | Path, stat: os.stat_result) -> str | None:
        key = _key(path)
        if key not in self._asked:
            self.preload([key])
        entry = self._rows.get(key)
        return entry[5] if entry is not None and entry[:5] == _stat_key(stat) else None

    def put(self, path: str | Path, stat: os.stat_result, sha256: str, *, now_ns: int | None = None) -> None:
        """Remember a digest. ``now_ns``: when ``stat`` was taken or earlier (default: now); a file
        modified within :attr:`RACY_SECONDS` of it is not remembered."""
        if (now_ns or time.time_ns()) - stat.st_mtime_ns < self.RACY_SECONDS * 1e9:
            return
        key = _key(path)
        self._rows[key] = self._added[key] = [*_stat_key(stat), sha256]
        self._asked.add(key)

    def after_link(self, paths: Iterable[Path]) -> None:
        """Keep entries valid across our own hard links (staging), which move a file's ctime.

        Only an entry whose device, inode, size and mtime still match is refreshed: the ctime change
        is then the link we just made.
        """
        keys = [_key(p) for p in paths]
        self.preload(keys)
        for key in keys:
            entry = self._rows.get(key)
            if entry is None:
                continue
            try:
                stat = os.stat(key)
            except OSError:
                continue
            current = _stat_key(stat)
            if entry[:4] == current[:4] and entry[4] != current[4]:
                self._rows[key] = self._added[key] = [*current, entry[5]]

    def save(self) -> None:
        """Write the rows added since the last save in one transaction, and prune the stale ones."""
        if self.path is None or not self._added:
            return
        now = int(time.time())
        rows = [(key, *row, now) for key, row in self._added.items()]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with contextlib.closing(sqlite3.connect(self.path, timeout=60)) as db, db:
                db.execute(self._SCHEMA)
                db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
                db.execute("DELETE FROM files WHERE written < ?", (now - self.KEEP_DAYS * 86400,))
        except sqlite3.DatabaseError as exc:  # not a database (a damaged file): start it again
            log.warning("the digest cache %s is unreadable (%s): starting a new one", self.path, exc)
            self.path.unlink(missing_ok=True)
            with contextlib.closing(sqlite3.connect(self.path, timeout=60)) as db, db:
                db.execute(self._SCHEMA)
                db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        self._added.clear()

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection | None]:
        """A read-only connection to the store, or None when there is none (or it is unreadable)."""
        if self.path is None or not self.path.is_file():
            yield None
            return
        try:
            db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=60)
        except sqlite3.Error:
            yield None
            return
        try:
            with contextlib.closing(db):
                yield db
        except sqlite3.DatabaseError as exc:
            log.debug("the digest cache %s cannot be read (%s): it counts as empty", self.path, exc)


def _key(path: str | Path) -> str:
    return path if isinstance(path, str) and path.startswith("/") else os.path.abspath(path)


def _stat_key(stat: os.stat_result) -> list[int]:
    return [stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]


def hash_files(
    paths: Sequence[str | Path],
    *,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    cache: HashCache | None = None,
) -> list[tuple[int, str]]:
    """(size, sha256) of each file, in the order given, hashed in parallel across files.

    With a ``cache``, files whose stat keys are unchanged are not read at all.
    """
    results: list[tuple[int, str] | None] = [None] * len(paths)
    todo: list[tuple[int, str | Path, os.stat_result | None]] = []
    started = time.time_ns()  # before any stat: what the cache's racy check compares mtimes with
    if cache is not None:
        cache.preload(paths)
    for index, path in enumerate(paths):
        stat = _stat(path) if cache is not None else None
        known = cache.get(path, stat) if cache is not None and stat is not None else None
        if known is not None and stat is not None:
            results[index] = (stat.st_size, known)
            if progress is not None:
                progress(stat.st_size)
        else:
            todo.append((index, path, stat))
    if not todo:  # everything was cached: a re-run's usual case, which must cost only the stats
        return [r for r in results if r is not None]
    cores = workers or os.cpu_count() or 1
    # Fewer files than cores (one big checkpoint): give each file a reader thread of its own, so
    # reading into one buffer overlaps hashing another instead of leaving a core idle.
    pipelined = 1 <= len(todo) < cores
    workers = max(1, min(cores, len(todo) or 1))
    local = threading.local()

    def task(batch: Sequence[tuple[int, str | Path, os.stat_result | None]]) -> list[tuple[int, str]]:
        buffer = getattr(local, "buffer", None)
        if buffer is None:
            buffer = local.buffer = mmap.mmap(-1, _BUFFER_SIZE)
        hashed = []
        for _, path, before in batch:
            if pipelined and (before.st_size if before is not None else _stat(path).st_size) >= _PIPELINE_MIN:
                size, digest = _hash_pipelined(path, progress)
                if before is not None and _stat_key(_stat(path)) != _stat_key(before):
                    raise ChecksumError(f"{path} changed while it was being hashed: run again once it is written")
            else:
                size, digest = _hash_one(path, buffer, progress, before)
            hashed.append((size, digest))
        return hashed

    # Many files go to the workers in batches, not one future each: a future costs about as much as
    # hashing a small file, and a batch keeps every worker busy without that per-file toll.
    size = max(1, min(_BATCH_FILES, len(todo) // (workers * 8)))
    batches = [todo[start : start + size] for start in range(0, len(todo), size)]
    if workers == 1:
        hashed = [digest for batch in batches for digest in task(batch)]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sha256") as pool:
            hashed = [digest for digests in pool.map(task, batches) for digest in digests]
    for (index, path, stat), result in zip(todo, hashed, strict=True):
        results[index] = result
        if cache is not None and stat is not None:
            cache.put(path, stat, result[1], now_ns=started)
    return [r for r in results if r is not None]


def _stat(path: str | Path) -> os.stat_result:
    try:
        return os.stat(path)
    except OSError as exc:
        raise ChecksumError(f"cannot read {path}: {exc.strerror}") from exc


def git_blob_id(data: bytes) -> str:
    """The git blob id of ``data`` (sha1 of ``blob <size>\\0`` + data): what the Hub lists for a regular file."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def hash_file(path: Path) -> tuple[int, str]:
    """(size, sha256) of one file."""
    with mmap.mmap(-1, _BUFFER_SIZE) as buffer:
        return _hash_one(path, buffer, None)


def build_manifest(
    root: Path,
    include: Sequence[str] = ("**/*",),
    exclude: Sequence[str] = (),
    *,
    name: str | None = None,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    cache: HashCache | None = None,
) -> Manifest:
    """Hash every selected file under ``root`` into a :class:`Manifest`."""
    files = _walk(root, include, exclude)
    digests = hash_files([p for _, p in files], workers=workers, progress=progress, cache=cache)
    entries = tuple(ManifestEntry(rel, size, digest) for (rel, _), (size, digest) in zip(files, digests, strict=True))
    return Manifest(entries, name)


def manifest_of_paths(
    paths: Iterable[Path],
    base: Path,
    *,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    cache: HashCache | None = None,
) -> Manifest:
    """A manifest of files and folders named on the command line, with paths relative to ``base``."""
    files: list[tuple[str, str | Path]] = []
    for given in paths:
        absolute = given if given.is_absolute() else base / given
        if absolute.is_dir():
            prefix = _relative_to(base, absolute)  # resolved once per folder, not per file
            prefix = "" if prefix == "." else prefix + "/"
            files += [(prefix + relative, path) for relative, path in _walk(absolute)]
        elif absolute.is_file():
            files.append((_relative_to(base, absolute), absolute))
        else:
            raise ChecksumError(f"{given}: no such file or folder")
    unique = sorted(dict(files).items())
    check_text_names(relative for relative, _ in unique)
    digests = hash_files([p for _, p in unique], workers=workers, progress=progress, cache=cache)
    return Manifest(tuple(ManifestEntry(rel, s, d) for (rel, _), (s, d) in zip(unique, digests, strict=True)))


def verify_manifest(
    manifest: Manifest,
    root: Path,
    *,
    check_extra: bool = True,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
) -> VerifyReport:
    """Re-read every byte under ``root`` and compare with ``manifest``. Never trusts a cache."""
    present = {rel: path for rel, path in _walk(root)} if root.is_dir() else {}
    check_text_names(present)
    missing = tuple(e.path for e in manifest.entries if e.path not in present)
    extra = tuple(sorted(set(present) - set(manifest.by_path))) if check_extra else ()
    to_check = [e for e in manifest.entries if e.path in present]
    digests = hash_files([present[e.path] for e in to_check], workers=workers, progress=progress)
    modified = tuple(
        (e.path, e.sha256, digest)
        for e, (size, digest) in zip(to_check, digests, strict=True)
        if digest != e.sha256 or (e.size >= 0 and size != e.size)
    )
    return VerifyReport(checked=len(to_check), missing=missing, extra=extra, modified=modified)


def _hash_one(
    path: str | Path, buffer: mmap.mmap, progress: ProgressCallback | None, before: os.stat_result | None = None
) -> tuple[int, str]:
    """One file: a small one in a single read (most of a dataset's files), a larger one through ``buffer``.

    With ``before`` (the stat the cache will key the digest by), the open file must still have it
    once read: a file replaced or written meanwhile is an error, never a wrong cache entry.
    """
    try:
        with open(path, "rb", buffering=0) as handle:
            head = handle.read(_SMALL_FILE)
            digest = hashlib.sha256(head)
            size = len(head)
            if progress is not None and size:
                progress(size)
            if size == _SMALL_FILE:
                size += _hash_rest(handle, buffer, digest, progress)
            if before is not None and _stat_key(os.fstat(handle.fileno())) != _stat_key(before):
                raise ChecksumError(f"{path} changed while it was being hashed: run again once it is written")
    except OSError as exc:
        raise ChecksumError(f"cannot read {path}: {exc.strerror}") from exc
    return size, digest.hexdigest()


def _hash_rest(handle: Any, buffer: mmap.mmap, digest: Any, progress: ProgressCallback | None) -> int:
    view = memoryview(buffer)
    size = 0
    try:
        while count := handle.readinto(view):
            digest.update(view[:count])
            size += count
            if progress is not None:
                progress(count)
    finally:
        view.release()
    return size


def _hash_pipelined(path: str | Path, progress: ProgressCallback | None) -> tuple[int, str]:
    """Hash one file with a reader thread filling page-aligned buffers while this thread hashes.

    Both ``readinto`` and ``update`` release the GIL, so on two cores the copy from the page cache
    overlaps the hashing: ~1.55 GB/s here against ~1.36 GB/s for read-then-hash in one thread.
    """
    buffers = [mmap.mmap(-1, _BUFFER_SIZE) for _ in range(_PIPELINE_BUFFERS)]
    views = [memoryview(b) for b in buffers]
    free: queue.SimpleQueue[int] = queue.SimpleQueue()
    full: queue.SimpleQueue[tuple[int, int] | BaseException] = queue.SimpleQueue()
    for index in range(len(buffers)):
        free.put(index)
    stop = threading.Event()

    def read() -> None:
        try:
            with open(path, "rb", buffering=0) as handle:
                while not stop.is_set():
                    index = free.get()
                    count = handle.readinto(views[index]) or 0
                    full.put((index, count))
                    if not count:
                        return
        except BaseException as exc:  # handed to the hashing thread, which raises it
            full.put(exc)

    reader = threading.Thread(target=read, name=f"read {os.path.basename(path)}", daemon=True)
    reader.start()
    digest = hashlib.sha256()
    size = 0
    try:
        while True:
            item = full.get()
            if isinstance(item, BaseException):
                raise ChecksumError(f"cannot read {path}: {getattr(item, 'strerror', None) or item}") from item
            index, count = item
            if not count:
                break
            digest.update(views[index][:count])
            size += count
            if progress is not None:
                progress(count)
            free.put(index)
    finally:
        stop.set()
        free.put(0)  # wake the reader if it waits for a buffer
        reader.join()
        for view, buffer in zip(views, buffers, strict=True):
            view.release()
            buffer.close()
    return size, digest.hexdigest()


def _glob_regex(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            parts.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            parts.append(".*")
            i += 2
        elif pattern[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            parts.append("[^/]")
            i += 1
        else:
            parts.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(parts))


def _normalise(path: str) -> str:
    return path if path.isascii() else unicodedata.normalize("NFC", path)


def _relative_to(base: Path, path: Path) -> str:
    try:
        relative = path.resolve().relative_to(base.resolve())
    except ValueError as exc:
        raise ChecksumError(
            f"{path} is outside {base}: manifests hold paths relative to the current folder; "
            "run the command from a folder that contains it"
        ) from exc
    return _normalise(relative.as_posix())


def _sha256sum_line(entry: ManifestEntry) -> str:
    if "\\" in entry.path or "\n" in entry.path or "\r" in entry.path:
        escaped = entry.path.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
        return f"\\{entry.sha256}  {escaped}\n"
    return f"{entry.sha256}  {entry.path}\n"


_LINE = re.compile(r"^(\\?)([0-9a-fA-F]{64}) [ *](.+)$")
_TAG_LINE = re.compile(r"^(\\?)SHA256 \((.+)\) = ([0-9a-fA-F]{64})$")


def _parse_sha256sum_line(line: str) -> tuple[str, str] | None:
    if match := _LINE.match(line):
        escaped, digest, path = match.groups()
    elif match := _TAG_LINE.match(line):
        escaped, path, digest = match.groups()
    else:
        return None
    if escaped:
        path = re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r", "\\": "\\"}.get(m.group(1), m.group(1)), path)
    return digest, path
