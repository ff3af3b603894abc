"""Commit files on disk, written at a cost that follows the commit's changes rather than the size of its tree.

A commit file (``commits/{id}.json``) holds the commit's header (parent, title, message, date, author)
and its tree in one of two forms:

- a **snapshot**: ``"files"``, every path of the tree with its entry;
- a **delta**: ``"base"`` (the commit whose tree it starts from), ``"depth"`` (how many deltas lead
  back to a snapshot), ``"changed"`` (the paths it adds or replaces, with their entries) and
  ``"deleted"`` (the paths it removes).

A commit is written as a delta on its parent's tree unless that chain is already :data:`MAX_DEPTH`
deltas long or the change is large next to the tree; then it is a snapshot. Files written before deltas
existed are snapshots, so every store reads the same way. Reading a commit reads only its header;
its tree is built (from the nearest snapshot or cached tree, then the deltas in order) the first
time someone looks at :attr:`Commit.files`. The last few trees, their folder indexes
(:class:`~release.hub.repo.TreeIndex`) and listings are kept in small caches: commits never change,
so a cached value is never stale. With the Hub's commits of 100 operations, a release of 100,000
files is 1,000 commits; with snapshots only, each would rewrite and re-read the whole tree.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar

from release.atomic import write_atomic
from release.hub.repo import Commit, RevisionMissingError, TreeEntry, TreeIndex, folder_oids, utc_timestamp

#: The most deltas between a commit and the snapshot its tree is built from.
MAX_DEPTH: Final = 64
#: How many built trees (and, separately, folder indexes and listings) the caches keep.
CACHED_TREES: Final = 6

_T = TypeVar("_T")


def sync_dir(path: Path) -> None:
    """Flush a folder's entries (new names, renames) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Lru:
    """A small thread-safe least-recently-used cache."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._guard = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self._guard:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def pop(self, key: Hashable) -> None:
        with self._guard:
            self._items.pop(key, None)

    def drop_if(self, doomed: Callable[[Hashable], bool]) -> None:
        """Forget every entry whose key ``doomed`` accepts."""
        with self._guard:
            for key in [key for key in self._items if doomed(key)]:
                del self._items[key]

    def put(self, key: Hashable, value: Any) -> None:
        with self._guard:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


class _LazyFiles(Mapping[str, TreeEntry]):
    """A commit's tree, built on first use."""

    def __init__(self, build: Callable[[], Mapping[str, TreeEntry]]) -> None:
        self._build: Callable[[], Mapping[str, TreeEntry]] | None = build
        self._files: Mapping[str, TreeEntry] | None = None

    def _tree(self) -> Mapping[str, TreeEntry]:
        if self._files is None:
            assert self._build is not None
            self._files, self._build = self._build(), None
        return self._files

    def __getitem__(self, path: str) -> TreeEntry:
        return self._tree()[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tree())

    def __len__(self) -> int:
        return len(self._tree())

    def __contains__(self, path: object) -> bool:
        return path in self._tree()


class CommitStore:
    """Reads and writes the commit files of every repo under one storage root, with the caches above."""

    def __init__(self) -> None:
        self._headers = _Lru(1024)  # (commits dir, id) -> a commit file without a snapshot's files (small)
        self._trees = _Lru(CACHED_TREES)  # (commits dir, id) -> its tree, sorted by path
        self._derived = _Lru(CACHED_TREES * 2)  # (kind, commits dir, id, ...) -> index, folder oids, listing

    def read(self, repo_dir: Path, commit_id: str) -> Commit:
        """The commit ``commit_id``; its tree is built when first used. RevisionMissingError if it does not exist."""
        record = self._record(repo_dir / "commits", commit_id)
        return _header(record, _LazyFiles(lambda: self.tree(repo_dir, commit_id)))

    def tree(self, repo_dir: Path, commit_id: str) -> Mapping[str, TreeEntry]:
        """The tree of ``commit_id``, from the nearest cached tree or snapshot and the deltas after it."""
        commits = repo_dir / "commits"
        deltas = []
        current = commit_id
        while True:
            start: Mapping[str, TreeEntry] | None = self._trees.get((commits, current))
            if start is not None:
                break
            record = self._record(commits, current)
            if "base" not in record:  # a snapshot: reading it again puts its tree in the cache
                self._headers.pop((commits, current))
                self._record(commits, current)
                start = self._trees.get((commits, current))
                if start is not None:
                    break
                continue  # evicted again meanwhile by another thread: read it once more
            deltas.append(record)
            current = record["base"]
        if not deltas:
            return start
        files: dict[str, TreeEntry] = dict(start)
        for record in reversed(deltas):
            files.update(_entries(record["changed"]))
            for path in record["deleted"]:
                files.pop(path, None)
        tree = dict(sorted(files.items()))
        self._trees.put((commits, commit_id), tree)
        return tree

    def write(
        self,
        repo_dir: Path,
        parent: str | None,
        files: Mapping[str, TreeEntry],
        header: tuple[str, str, str],
        *,
        date: str | None = None,
        base: str | None = None,
        changed: Mapping[str, TreeEntry] | None = None,
        deleted: Sequence[str] = (),
    ) -> Commit:
        """Write a new commit whose tree is ``files`` (sorted by path); ``header`` is (title, message, author).

        With ``base`` and ``changed``/``deleted`` (how ``files`` differs from the tree of ``base``) it is
        written as a delta when the chain allows; otherwise as a snapshot. ``date`` defaults to now.
        """
        title, message, author = header
        date = date or utc_timestamp()
        seed = json.dumps([parent, base, len(files), date, secrets.token_hex(16)])
        commit_id = hashlib.sha1(seed.encode(), usedforsecurity=False).hexdigest()
        record: dict[str, Any] = {
            "id": commit_id,
            "parent": parent,
            "title": title,
            "message": message,
            "date": date,
            "author": author,
        }
        commits = repo_dir / "commits"
        depth = self._depth(commits, base) + 1 if base is not None and changed is not None else None
        if depth is not None and depth <= MAX_DEPTH and len(changed or {}) + len(deleted) <= max(256, len(files) // 4):
            record |= {
                "base": base,
                "depth": depth,
                "changed": {path: _entry_json(entry) for path, entry in sorted((changed or {}).items())},
                "deleted": sorted(deleted),
            }
        else:
            record["files"] = {path: _entry_json(entry) for path, entry in files.items()}
        self._store(commits, record, files)
        return _header(record, files)

    def ids(self, repo_dir: Path) -> list[str]:
        """Every commit stored for the repo, reachable from a ref or not."""
        return sorted(path.stem for path in (repo_dir / "commits").glob("*.json"))

    def bases(self, repo_dir: Path, commit_id: str) -> list[str]:
        """The commits whose files the tree of ``commit_id`` is built from: its chain of deltas, nearest first
        (empty for a snapshot)."""
        commits = repo_dir / "commits"
        found: list[str] = []
        record = self._record(commits, commit_id)
        while "base" in record:
            found.append(record["base"])
            record = self._record(commits, record["base"])
        return found

    def rewrite_as_snapshot(self, repo_dir: Path, commit_id: str) -> None:
        """Store ``commit_id`` again as a snapshot, same id and header, so that it no longer needs its bases."""
        commits = repo_dir / "commits"
        files = self.tree(repo_dir, commit_id)
        delta = ("base", "depth", "changed", "deleted")
        record = {key: value for key, value in self._record(commits, commit_id).items() if key not in delta}
        record["files"] = {path: _entry_json(entry) for path, entry in files.items()}
        self._store(commits, record, files)

    def _store(self, commits: Path, record: dict[str, Any], files: Mapping[str, TreeEntry]) -> None:
        """Write a commit file (atomically, durably) and cache its header and tree."""
        data = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"  # the C encoder: no indent
        write_atomic(commits / f"{record['id']}.json", data.encode())
        sync_dir(commits)  # the rename itself survives a power cut, not only the process's death
        record.pop("files", None)
        self._headers.put((commits, record["id"]), record)
        self._trees.put((commits, record["id"]), files)

    def forget(self, repo_dir: Path) -> None:
        """Drop what the caches hold of ``repo_dir``: call it when its commits are deleted, or it moves away.

        A repository created again at the same place must not find the old one's commits here.
        """
        commits = repo_dir / "commits"
        for cache in (self._headers, self._trees, self._derived):
            cache.drop_if(lambda key: isinstance(key, tuple) and (repo_dir in key or commits in key))

    def index(self, repo_dir: Path, commit: Commit) -> TreeIndex:
        """The folder index of ``commit``'s tree (cached)."""
        return self.derived(("index", repo_dir, commit.id), lambda: TreeIndex.of(commit.files))

    def remember_index(self, repo_dir: Path, commit_id: str, index: TreeIndex) -> None:
        self._derived.put(("index", repo_dir, commit_id), index)

    def folder_oids(self, repo_dir: Path, commit: Commit) -> Mapping[str, str]:
        """The git tree id of every folder of ``commit``'s tree (cached)."""
        return self.derived(("oids", repo_dir, commit.id), lambda: folder_oids(commit.files))

    def derived(self, key: tuple[Hashable, ...], compute: Callable[[], _T]) -> _T:
        """A value computed from one commit (its id is in ``key``), cached: commits never change."""
        found = self._derived.get(key)
        if found is None:
            found = compute()
            self._derived.put(key, found)
        return found

    def _depth(self, commits: Path, commit_id: str) -> int:
        record = self._record(commits, commit_id)
        return int(record.get("depth", 0))

    def _record(self, commits: Path, commit_id: str) -> dict[str, Any]:
        """The commit file without its snapshot's files (those go to the tree cache), cached."""
        cached = self._headers.get((commits, commit_id))
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        try:
            record: dict[str, Any] = json.loads((commits / f"{commit_id}.json").read_bytes())
        except FileNotFoundError:
            raise RevisionMissingError(f"Invalid rev id: {commit_id}") from None
        if "files" in record:
            self._trees.put((commits, commit_id), dict(sorted(_entries(record.pop("files")).items())))
        self._headers.put((commits, commit_id), record)
        return record


def _header(record: Mapping[str, Any], files: Mapping[str, TreeEntry]) -> Commit:
    return Commit(
        record["id"], record["parent"], record["title"], record["message"], record["date"], record["author"], files
    )


def _entries(data: Mapping[str, Any]) -> dict[str, TreeEntry]:
    return {path: TreeEntry(path, v["size"], v["sha256"], v["lfs"], v["oid"]) for path, v in data.items()}


def _entry_json(entry: TreeEntry) -> dict[str, Any]:
    return {"size": entry.size, "sha256": entry.sha256, "lfs": entry.lfs, "oid": entry.git_oid}
