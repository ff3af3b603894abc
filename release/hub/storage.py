"""Durable storage of the local Hub emulator: repos, refs, commits and one shared object store.

It keeps the values of :mod:`release.hub.repo` and raises its errors; nothing here knows about HTTP.
Layout under the storage root::

    format.json                 {"format": 1}
    secret                      HMAC key for signed LFS upload links (mode 0600)
    redirects.json              "{type}:{old id}" -> new id, for repos moved away from a name
    objects/ab/cdef...          every file content (regular and LFS alike), named by its sha256
    tmp/                        partial uploads, parts of multipart uploads (tmp/parts/, see parts.py),
                                repos being created or deleted; emptied on open
    repos/{models|datasets}/{namespace}/{name}/
        repo.json               type, namespace, name, private, gated, createdAt
        access.json             the access requests of a gated repo (records kept for release.hub.gating)
        refs.json               full ref name ("refs/heads/main", "refs/tags/v1", "refs/pr/1") -> commit id
        commits/{id}.json       one immutable file per commit, holding its full tree
        discussions/{n}.json    discussion or pull request n: title, author, status, events (release.hub.threads)
        lfs/ab/cdef...          empty markers: the LFS objects uploaded to this repo, which its commits may use

Every file is written to a temporary name, flushed and moved into place with ``os.replace``, and its
folder is flushed after the rename, so a crash never leaves a half-written object, commit or ref behind.
A commit stores its objects first, then its commit file, and moves its ref last: killed at any moment,
the store reopens with every ref at a complete commit. Temporary files a crash left behind (``tmp/``
and ``.*.tmp`` beside the JSON files) are deleted when the store is opened. Writes to one repo are
serialised by a per-repo lock; reads take no lock because they only ever see whole files.

Discussions and pull requests share one numbering; each keeps a record, which only changes under the
repo's lock, written whole like every other file (:mod:`release.hub.threads` says what it holds and
how it changes). A discussion exists once its record does; a pull request once its ref ``refs/pr/N``
does (its record is written first, so a crash in between leaves a record that is ignored). Merging
one is a commit like any other and just as durable: the new commit file first, then one rename of
``refs.json`` that both moves the target branch and adds the ref ``refs/merged-pr/N`` (naming that
commit), which is what marks the pull request merged, so the branch never moves without the mark or
the mark without it.
A super-squash writes one parentless commit holding the branch's tree, then moves the branch; the old
commits stay stored for the other refs and pull requests that reach them.

The object store is shared, but an LFS object belongs to a repo only once someone uploaded its bytes to
that repo (or its tree already holds it): knowing a sha256 from another, private repo is not enough to
commit a pointer to it, and the LFS batch answer for one repo never reveals what another repo stores.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Final, Literal, TypeVar

from release.atomic import write_atomic
from release.errors import HubServerError
from release.hub.commits import CommitStore, sync_dir
from release.hub.repo import (
    DEFAULT_BRANCH,
    GITATTRIBUTES,
    AddFile,
    AddLfsFile,
    AlreadyExistsError,
    Commit,
    CommitLimits,
    CommitRequest,
    CommitResult,
    ContentMismatchError,
    DeleteFile,
    DeleteFolder,
    DiscussionMissingError,
    EntryMissingError,
    GatedMode,
    InvalidInputError,
    LfsFile,
    MergeConflictError,
    ObjectMissingError,
    Operation,
    Refs,
    Repo,
    RepoId,
    RepoMissingError,
    RepoType,
    RevisionMissingError,
    StaleParentError,
    TreeEntry,
    TreeIndex,
    check_commit_limits,
    check_new_namespace,
    check_ref_name,
    check_repo_path,
    folder_oids,
    git_blob_oid,
    is_sha256,
    lfs_pointer,
    merge_trees,
    utc_timestamp,
)

STORAGE_FORMAT: Final = 1

_T = TypeVar("_T")

_SHA_PREFIX_RE: Final = re.compile(r"[0-9a-f]{5,40}")
_TYPE_DIRS: Final[Mapping[RepoType, str]] = {"model": "models", "dataset": "datasets"}


# --------------------------------------------------------------------------------------------------
# Comparing trees


class _PathVersions:
    """What a path holds in one commit, comparable across commits: a file's git oid or a folder's tree oid."""

    def __init__(self, commit: Commit) -> None:
        self._files = commit.files
        self._folders: dict[str, str] | None = None  # computed only when a folder is asked about

    def of(self, path: str) -> str | None:
        if path in self._files:
            return f"file {self._files[path].git_oid}"
        if self._folders is None:
            self._folders = folder_oids(self._files)
        return f"folder {self._folders[path]}" if path in self._folders else None


# --------------------------------------------------------------------------------------------------
# JSON files


def _write_json(path: Path, value: Any) -> None:
    write_atomic(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())
    sync_dir(path.parent)  # the rename itself survives a power cut, not only the process's death


def _read_json(path: Path) -> Any:
    return json.loads(path.read_bytes())


# --------------------------------------------------------------------------------------------------
# Object uploads


class ObjectUpload:
    """One object being streamed into ``tmp/`` while it is hashed; :meth:`finish` stores it if it matches.

    Use it as a context manager: leaving the block without a successful ``finish`` deletes the partial file.
    """

    def __init__(self, storage: HubStorage, sha256: str, size: int) -> None:
        self._storage = storage
        self.sha256 = sha256
        self.size = size
        fd, name = tempfile.mkstemp(dir=storage.root / "tmp", prefix="upload-")
        self._tmp_path = Path(name)
        self._file: BinaryIO = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self._received = 0

    def write(self, chunk: bytes) -> None:
        self._received += len(chunk)
        if self._received > self.size:
            raise ContentMismatchError(f"Upload of {self.sha256} is larger than the announced {self.size} bytes")
        self._hash.update(chunk)
        self._file.write(chunk)

    def finish(self) -> None:
        """Check size and sha256, then move the file into the object store (blocking: run it in a thread)."""
        if self._received != self.size:
            raise ContentMismatchError(
                f"Upload of {self.sha256} has {self._received} bytes, but {self.size} were announced"
            )
        if self._hash.hexdigest() != self.sha256:
            raise ContentMismatchError(
                f"Uploaded content has sha256 {self._hash.hexdigest()}, not the announced {self.sha256}"
            )
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._storage.adopt_object(self._tmp_path, self.sha256)

    def __enter__(self) -> ObjectUpload:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._file.close()
        self._tmp_path.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------------
# The store


class HubStorage:
    """Repos, refs, commits and objects under one directory. Open it with :meth:`open`."""

    def __init__(self, root: Path, secret: bytes, limits: CommitLimits | None = None) -> None:
        self.root = root
        self.secret = secret
        self.limits = limits or CommitLimits()
        self._commits = CommitStore()
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._redirects_lock = threading.Lock()

    @classmethod
    def open(cls, root: Path, limits: CommitLimits | None = None) -> HubStorage:
        """Create the layout if needed, drop leftovers of interrupted writes, and load the signing secret."""
        try:
            root.mkdir(parents=True, exist_ok=True)
            marker = root / "format.json"
            for stale in root.glob(".format.json.*.tmp"):  # a first start killed while writing the marker
                stale.unlink()
            if marker.exists():
                found = _read_json(marker).get("format")
                if found != STORAGE_FORMAT:
                    raise HubServerError(
                        f"{root} holds Hub storage format {found!r}; this emulator reads format "
                        f"{STORAGE_FORMAT}. Use another storage directory."
                    )
            elif any(root.iterdir()):
                raise HubServerError(f"{root} is not empty and holds no Hub storage; use an empty directory")
            else:
                _write_json(marker, {"format": STORAGE_FORMAT})
            shutil.rmtree(root / "tmp", ignore_errors=True)
            for sub in ("tmp", "objects", "repos"):
                (root / sub).mkdir(exist_ok=True)
            for stale in (root / "repos").rglob(".*.tmp"):  # write_atomic's temp files, left by a kill
                stale.unlink()
            return cls(root, _load_secret(root / "secret", root / "tmp"), limits)
        except (OSError, ValueError) as exc:
            raise HubServerError(f"Cannot use {root} as Hub storage: {exc}") from exc

    # -- objects -----------------------------------------------------------------------------------

    def object_path(self, sha256: str) -> Path:
        if not is_sha256(sha256):
            raise InvalidInputError(f"Invalid object id {sha256!r}: expected 64 lowercase hex digits")
        return self.root / "objects" / sha256[:2] / sha256[2:]

    def object_size(self, sha256: str) -> int | None:
        """The size of a stored object, or None if it is not stored."""
        try:
            return self.object_path(sha256).stat().st_size
        except FileNotFoundError:
            return None

    def begin_upload(self, sha256: str, size: int) -> ObjectUpload:
        self.object_path(sha256)  # validates the id
        return ObjectUpload(self, sha256, size)

    def adopt_object(self, tmp_path: Path, sha256: str) -> None:
        """Move a complete, verified file into the object store under its sha256."""
        target = self.object_path(sha256)
        if not target.parent.is_dir():
            target.parent.mkdir(exist_ok=True)
            sync_dir(target.parent.parent)
        tmp_path.replace(target)
        sync_dir(target.parent)  # the object's name is durable before any commit names it

    def link_object(self, repo_id: RepoId, sha256: str) -> None:
        """Record that ``sha256`` was uploaded to ``repo_id``, so that the repo's commits may use it."""
        self.object_path(sha256)  # validates the id
        marker = self._repo_dir(repo_id) / "lfs" / sha256[:2] / sha256[2:]
        with self._lock(repo_id):
            self.get_repo(repo_id)  # never leave a marker behind in a repo deleted meanwhile
            if not marker.exists():
                write_atomic(marker, b"")

    def linked_object_size(self, repo_id: RepoId, sha256: str) -> int | None:
        """The size of an object uploaded to ``repo_id``; None if it is not stored or not the repo's."""
        if not is_sha256(sha256) or not (self._repo_dir(repo_id) / "lfs" / sha256[:2] / sha256[2:]).exists():
            return None
        return self.object_size(sha256)

    def _store_bytes(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        if self.object_size(sha256) is None:
            with self.begin_upload(sha256, len(data)) as upload:
                upload.write(data)
                upload.finish()
        return sha256

    # -- repos -------------------------------------------------------------------------------------

    def create_repo(self, repo_id: RepoId, *, private: bool, author: str) -> Repo:
        """Create a repo whose ``main`` holds an initial commit with the Hub's default ``.gitattributes``."""
        check_new_namespace(repo_id.namespace)
        repo = Repo(repo_id, private, utc_timestamp())
        with self._lock(repo_id):
            final = self._repo_dir(repo_id)
            if final.exists():
                raise AlreadyExistsError(f"You already created this {repo_id.type} repo")
            staging = Path(tempfile.mkdtemp(dir=self.root / "tmp", prefix="new-repo-"))
            try:
                (staging / "commits").mkdir()
                _write_json(staging / "repo.json", _repo_to_json(repo))
                files = {".gitattributes": self._file_entry(".gitattributes", GITATTRIBUTES.encode())}
                initial = self._commits.write(staging, None, files, ("initial commit", "", author))
                _write_json(staging / "refs.json", {f"refs/heads/{DEFAULT_BRANCH}": initial.id})
                final.parent.mkdir(parents=True, exist_ok=True)
                staging.rename(final)
                sync_dir(final.parent)
                self._commits.forget(staging)  # cached under the staging folder's name, which is gone
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        return repo

    def delete_repo(self, repo_id: RepoId) -> None:
        with self._lock(repo_id):
            self.get_repo(repo_id)
            trash = Path(tempfile.mkdtemp(dir=self.root / "tmp", prefix="deleted-repo-"))
            directory = self._repo_dir(repo_id)  # the stored case, found before the folder goes
            directory.replace(trash / "repo")
            self._commits.forget(directory)
            shutil.rmtree(trash, ignore_errors=True)

    def get_repo(self, repo_id: RepoId) -> Repo:
        """The repo, under the id it was created or moved with (``repo_id`` may differ from it in case)."""
        directory = self._repo_dir(repo_id)
        try:
            data = _read_json(directory / "repo.json")
        except FileNotFoundError:
            raise RepoMissingError("Repository not found") from None
        stored = RepoId(repo_id.type, directory.parent.name, directory.name)
        return Repo(stored, data["private"], data["createdAt"], data.get("gated"))

    def update_repo_settings(
        self, repo_id: RepoId, *, private: bool | None = None, gated: GatedMode | Literal[False] | None = None
    ) -> Repo:
        """Change a repo's visibility and gating; None leaves a setting as it is, ``gated=False`` ungates."""
        with self._lock(repo_id):
            repo = self.get_repo(repo_id)
            if private is not None:
                repo = replace(repo, private=private)
            if gated is not None:
                repo = replace(repo, gated=gated or None)
            _write_json(self._repo_dir(repo_id) / "repo.json", _repo_to_json(repo))
        return repo

    def move_repo(self, source: RepoId, target: RepoId) -> Repo:
        """Rename a repo (within its type). The old name redirects to the new one until a repo takes it."""
        check_new_namespace(target.namespace)
        locks = {id(lock): lock for lock in (self._lock(source), self._lock(target))}  # one, for a change of case
        ordered = [locks[key] for key in sorted(locks)]  # always taken in the same order: no deadlock
        with contextlib.ExitStack() as held:
            for lock in [*ordered, self._redirects_lock]:
                held.enter_context(lock)
            repo = self.get_repo(source)
            final = self.root / "repos" / _TYPE_DIRS[target.type] / target.namespace / target.name
            same_repo = self._repo_dir(target) == self._repo_dir(source)  # a change of case only
            if (self._repo_dir(target) / "repo.json").exists() and not same_repo:
                raise AlreadyExistsError(f"A {target.type} repository called {target} already exists")
            moved = replace(repo, id=target)
            final.parent.mkdir(parents=True, exist_ok=True)
            self._commits.forget(self._repo_dir(source))
            self._repo_dir(source).rename(final)  # the move: the folder's names are the repo's id
            sync_dir(final.parent)
            _write_json(final / "repo.json", _repo_to_json(moved))
            if same_repo:
                return moved
            redirects = {
                old: str(target) if new.casefold() == str(repo.id).casefold() else new
                for old, new in self._read_redirects().items()
                if old.casefold() != _redirect_key(target).casefold()
            }
            redirects[_redirect_key(repo.id)] = str(target)
            _write_json(self.root / "redirects.json", redirects)
        return moved

    def redirect(self, repo_id: RepoId) -> RepoId | None:
        """Where a repo moved to, if ``repo_id`` names no repo but named one that was moved."""
        key = _redirect_key(repo_id).casefold()
        target = next((new for old, new in self._read_redirects().items() if old.casefold() == key), None)
        if target is None:
            return None
        namespace, _, name = target.partition("/")
        return RepoId(repo_id.type, namespace, name)

    def _read_redirects(self) -> dict[str, str]:
        try:
            redirects: dict[str, str] = _read_json(self.root / "redirects.json")
        except FileNotFoundError:
            return {}
        return redirects

    def read_record(self, repo_id: RepoId, name: Literal["access"]) -> Any:
        """A JSON record kept beside the repo (None when there is none yet)."""
        self.get_repo(repo_id)
        try:
            return _read_json(self._repo_dir(repo_id) / f"{name}.json")
        except FileNotFoundError:
            return None

    def update_record(self, repo_id: RepoId, name: Literal["access"], change: Callable[[Any], Any]) -> Any:
        """Replace a record with ``change(record)`` under the repo's lock; returns the new record."""
        with self._lock(repo_id):
            new = change(self.read_record(repo_id, name))
            _write_json(self._repo_dir(repo_id) / f"{name}.json", new)
        return new

    def list_repos(self) -> list[Repo]:
        """Every repo, models first, then datasets, each sorted by namespace and name."""
        repos = []
        for repo_type, type_dir in _TYPE_DIRS.items():
            files = (self.root / "repos" / type_dir).glob("*/*/repo.json")
            for namespace, name in sorted((file.parent.parent.name, file.parent.name) for file in files):
                with contextlib.suppress(RepoMissingError):  # deleted since the listing
                    repos.append(self.get_repo(RepoId(repo_type, namespace, name)))
        return repos

    # -- refs and commits --------------------------------------------------------------------------

    def read_refs(self, repo_id: RepoId) -> Refs:
        try:
            return Refs(_read_json(self._repo_dir(repo_id) / "refs.json"))
        except FileNotFoundError:
            raise RepoMissingError("Repository not found") from None

    def read_commit(self, repo_id: RepoId, commit_id: str) -> Commit:
        """The commit; its tree (``files``) is built when first used."""
        return self._commits.read(self._repo_dir(repo_id), commit_id)

    def tree_index(self, repo_id: RepoId, commit: Commit) -> TreeIndex:
        """The folders of ``commit``'s tree and what each holds (cached)."""
        return self._commits.index(self._repo_dir(repo_id), commit)

    def folder_oids(self, repo_id: RepoId, commit: Commit) -> Mapping[str, str]:
        """The git tree id of every folder of ``commit``'s tree, the root as "" (cached)."""
        return self._commits.folder_oids(self._repo_dir(repo_id), commit)

    def derived(self, repo_id: RepoId, key: tuple[Hashable, ...], compute: Callable[[], _T]) -> _T:
        """A value computed from one commit (its id in ``key``), such as a listing; cached, as commits never change."""
        return self._commits.derived((self._repo_dir(repo_id), *key), compute)

    def resolve(self, repo_id: RepoId, revision: str) -> Commit:
        """The commit a branch, tag, ``refs/pr/N``, full commit id or unique >=5-char prefix names."""
        refs = self.read_refs(repo_id)
        ref = refs.find(revision)
        commit_id = refs.targets[ref] if ref else self._find_commit_id(repo_id, revision)
        if commit_id is None:
            raise RevisionMissingError(f"Invalid rev id: {revision}")
        return self.read_commit(repo_id, commit_id)

    def history(self, repo_id: RepoId, commit: Commit) -> Iterator[Commit]:
        """``commit`` and its ancestors, newest first."""
        current: Commit | None = commit
        while current is not None:
            yield current
            current = self.read_commit(repo_id, current.parent) if current.parent else None

    def last_commits(self, repo_id: RepoId, head: Commit, paths: Sequence[str]) -> dict[str, Commit]:
        """For each file or folder path of ``head``, the newest commit in its history that changed it."""
        versions = _PathVersions(head)
        pending = {path: versions.of(path) for path in paths}
        found: dict[str, Commit] = {}
        newer = head
        for older in self.history(repo_id, head):
            if older is head:
                continue
            older_versions = _PathVersions(older)
            for path, version in list(pending.items()):
                if older_versions.of(path) != version:
                    found[path] = newer
                    del pending[path]
            if not pending:
                break
            newer = older
        return found | dict.fromkeys(pending, newer)  # unchanged since the first commit

    def commit(self, repo_id: RepoId, request: CommitRequest) -> CommitResult:
        """Apply the operations on top of the branch (or a new pull request) and advance that ref."""
        with self._lock(repo_id):
            refs = self.read_refs(repo_id)
            if request.create_pr and not (refs.find(request.revision) or "").startswith("refs/heads/"):
                raise RevisionMissingError(f"Invalid rev id: {request.revision} (open a pull request against a branch)")
            ref = self._commit_ref(repo_id, refs, request.revision)
            head = self.read_commit(repo_id, refs.targets[ref])
            if request.create_pr:
                target = ref.removeprefix("refs/heads/")
                base = self.resolve(repo_id, request.parent) if request.parent else head
                pull_request: int | None = self._next_discussion_number(repo_id, refs)
                ref = f"refs/pr/{pull_request}"
            else:
                base, pull_request = head, None
                if request.parent is not None and not _is_prefix_of(request.parent, head.id):
                    raise StaleParentError(
                        "The branch was updated since you opened this page. Please refresh and try again."
                    )
            check_commit_limits(self.limits, ref, len(request.operations), None, ())
            files, changed, deleted = self._apply(repo_id, base.files, request.operations)
            directory = self._repo_dir(repo_id)
            added = [path for path in changed if path not in base.files]
            index = self._commits.index(directory, base).changed(files, added, deleted)
            index.check_added(added)
            check_commit_limits(self.limits, ref, 0, index, added)
            header = (request.title, request.message, request.author)
            commit = self._commits.write(
                directory, base.id, files, header, base=base.id, changed=changed, deleted=deleted
            )
            self._commits.remember_index(directory, commit.id, index)
            if pull_request is not None:  # its record first: the ref written next is what makes it exist
                record = {
                    "number": pull_request,
                    "title": request.title,
                    "author": request.author,
                    "createdAt": commit.date,
                    "pullRequest": True,
                    "target": target,
                    "base": base.id,
                    "status": "open",
                    "events": [_comment_json(request.author, commit.date, request.message)],
                }
                self._write_discussion_record(repo_id, record)
            _write_json(directory / "refs.json", dict(refs.with_ref(ref, commit.id).targets))
        return CommitResult(commit, pull_request)

    def create_tag(self, repo_id: RepoId, tag: str, revision: str) -> None:
        self.resolve(repo_id, revision)  # as on the Hub: a missing revision is reported before a bad name
        name = f"refs/tags/{check_ref_name('tag', tag)}"
        with self._lock(repo_id):
            refs = self.read_refs(repo_id)
            if name in refs.targets:
                raise AlreadyExistsError(f"Tag {tag} already exists")
            target = self.resolve(repo_id, revision)
            _write_json(self._repo_dir(repo_id) / "refs.json", dict(refs.with_ref(name, target.id).targets))

    def delete_tag(self, repo_id: RepoId, tag: str) -> None:
        self._delete_ref(repo_id, f"refs/tags/{tag}", f"Tag {tag} not found")

    def create_branch(self, repo_id: RepoId, branch: str, starting_point: str | None) -> None:
        name = f"refs/heads/{check_ref_name('branch', branch)}"
        with self._lock(repo_id):
            refs = self.read_refs(repo_id)
            if name in refs.targets:
                raise AlreadyExistsError(f"Reference {name} already exists")
            target = self.resolve(repo_id, starting_point or DEFAULT_BRANCH)
            _write_json(self._repo_dir(repo_id) / "refs.json", dict(refs.with_ref(name, target.id).targets))

    def delete_branch(self, repo_id: RepoId, branch: str) -> None:
        if branch == DEFAULT_BRANCH:
            raise InvalidInputError(f"Cannot delete refs/heads/{DEFAULT_BRANCH}: it is the default branch")
        self._delete_ref(repo_id, f"refs/heads/{branch}", f"Invalid rev id: {branch} is not a branch")

    # -- LFS files ---------------------------------------------------------------------------------

    def lfs_files(self, repo_id: RepoId) -> list[LfsFile]:
        """Every LFS object the history of any ref uses, each once: found first on main, then other refs by name."""
        refs = self.read_refs(repo_id)
        order = sorted(refs.targets, key=lambda ref: (ref != f"refs/heads/{DEFAULT_BRANCH}", ref))
        found: dict[str, LfsFile] = {}
        for ref in order:
            if ref.startswith("refs/merged-pr/"):
                continue
            for commit in self.history(repo_id, self.read_commit(repo_id, refs.targets[ref])):  # newest first
                for entry in commit.files.values():
                    if entry.lfs and (entry.sha256 not in found or found[entry.sha256].ref == ref):
                        found[entry.sha256] = LfsFile(
                            entry.sha256, entry.size, entry.path, ref, commit.date, entry.git_oid
                        )
        return sorted(found.values(), key=lambda item: (item.ref, item.path))

    def purge_lfs_files(self, repo_id: RepoId, sha256s: Sequence[str]) -> None:
        """Delete LFS objects from a repo for good, rewriting the history of every ref without the files using them.

        Each commit holding one is written again without it (same title, author and date, a new id); the
        refs move to the rewritten commits in one rename, pull requests' base commits follow, and the old
        commits are deleted, with every commit no ref reaches that uses the files (a deleted branch's), so
        no revision reaches the files any more; a kept commit stored as a delta on a deleted one is stored
        again whole first. The bytes stay in the shared object
        store, where other repos may use them; this repo can no longer commit them without uploading them
        again. A crash midway leaves old commits behind that no ref names, never a ref without its commit.
        """
        doomed = set(sha256s)
        with self._lock(repo_id):
            refs = self.read_refs(repo_id)
            directory = self._repo_dir(repo_id)
            rewritten: dict[str, str] = {}
            targets = dict(refs.targets)
            for ref, head in refs.targets.items():
                chain = list(self.history(repo_id, self.read_commit(repo_id, head)))
                for commit in reversed(chain):  # oldest first, so that parents are rewritten before children
                    if commit.id in rewritten:
                        continue
                    parent = rewritten.get(commit.parent, commit.parent) if commit.parent else None
                    files = {p: e for p, e in commit.files.items() if not (e.lfs and e.sha256 in doomed)}
                    if parent == commit.parent and len(files) == len(commit.files):
                        rewritten[commit.id] = commit.id
                        continue
                    header = (commit.title, commit.message, commit.author)
                    new = self._commits.write(directory, parent, files, header, date=commit.date)
                    rewritten[commit.id] = new.id
                targets[ref] = rewritten[head]
            _write_json(directory / "refs.json", targets)
            replaced = {old: new for old, new in rewritten.items() if old != new}
            for record_path in sorted((directory / "discussions").glob("*.json")):  # pull requests' base commits
                record = _read_json(record_path)
                if record.get("base") in replaced:
                    _write_json(record_path, {**record, "base": replaced[record["base"]]})
            doomed_commits = set(replaced) | self._unreachable_with(repo_id, doomed, set(rewritten.values()))
            for commit_id in self._commits.ids(directory):  # what stays must not be built from what goes
                if commit_id not in doomed_commits and doomed_commits.intersection(
                    self._commits.bases(directory, commit_id)
                ):
                    self._commits.rewrite_as_snapshot(directory, commit_id)
            for old in doomed_commits:  # no revision may reach the deleted files any more
                (directory / "commits" / f"{old}.json").unlink(missing_ok=True)
            self._commits.forget(directory)
            for sha256 in doomed:
                if is_sha256(sha256):
                    (directory / "lfs" / sha256[:2] / sha256[2:]).unlink(missing_ok=True)

    def _unreachable_with(self, repo_id: RepoId, sha256s: set[str], reachable: set[str]) -> set[str]:
        """The stored commits outside ``reachable`` (no ref reaches them) whose trees use any of ``sha256s``."""
        directory = self._repo_dir(repo_id)
        return {
            commit_id
            for commit_id in self._commits.ids(directory)
            if commit_id not in reachable
            and any(e.lfs and e.sha256 in sha256s for e in self.read_commit(repo_id, commit_id).files.values())
        }

    # -- discussions and pull requests ------------------------------------------------------------

    def open_discussion(self, repo_id: RepoId, record: Mapping[str, Any]) -> int:
        """Store a new discussion's record (see :mod:`release.hub.threads`) under the next number; return it.

        A pull request starts empty at the head of its target branch, which becomes its base: its record
        is written first, then its ref ``refs/pr/N``, which is what makes it exist.
        """
        with self._lock(repo_id):
            refs = self.read_refs(repo_id)
            number = self._next_discussion_number(repo_id, refs)
            stored = {**record, "number": number}
            if not _is_pull_request(record):
                self._write_discussion_record(repo_id, stored)
                return number
            head = refs.targets.get(f"refs/heads/{record['target']}")
            if head is None:
                raise RevisionMissingError(f"Invalid rev id: {record['target']} (a pull request targets a branch)")
            self._write_discussion_record(repo_id, {**stored, "base": head})
            _write_json(self._repo_dir(repo_id) / "refs.json", dict(refs.with_ref(f"refs/pr/{number}", head).targets))
        return number

    def discussion_record(self, repo_id: RepoId, number: int) -> dict[str, Any]:
        """The record of discussion ``number``; a merged pull request's status reads ``merged``."""
        return self._discussion_record(repo_id, self.read_refs(repo_id), number)

    def discussion_records(self, repo_id: RepoId) -> list[dict[str, Any]]:
        """The records of every discussion of the repo, newest first."""
        refs = self.read_refs(repo_id)
        records = []
        for number in sorted(self._discussion_numbers(repo_id, refs), reverse=True):
            with contextlib.suppress(DiscussionMissingError):  # a record whose pull request never got its ref
                records.append(self._discussion_record(repo_id, refs, number))
        return records

    def read_discussion(self, repo_id: RepoId, number: int) -> tuple[dict[str, Any], list[Commit], Commit | None]:
        """A discussion's record and, for a pull request, its own commits (oldest first) and its merge commit."""
        refs = self.read_refs(repo_id)
        record = self._discussion_record(repo_id, refs, number)
        if not _is_pull_request(record):
            return record, [], None
        commits = []
        for commit in self.history(repo_id, self.read_commit(repo_id, refs.targets[f"refs/pr/{number}"])):
            if commit.id == record["base"]:
                break
            commits.append(commit)
        merge_commit = refs.targets.get(_merged_ref(number))
        return record, commits[::-1], self.read_commit(repo_id, merge_commit) if merge_commit else None

    def update_discussion(
        self, repo_id: RepoId, number: int, change: Callable[[dict[str, Any]], tuple[dict[str, Any], _T]]
    ) -> _T:
        """Replace a discussion's record by the one ``change(record)`` makes, under the repo's lock.

        ``change`` returns the new record and a result, which this returns; if it raises, nothing changes.
        """
        with self._lock(repo_id):
            record, result = change(self._discussion_record(repo_id, self.read_refs(repo_id), number))
            self._write_discussion_record(repo_id, record)
        return result

    def pull_request_conflicts(self, repo_id: RepoId, record: Mapping[str, Any]) -> tuple[str, ...]:
        """The paths that keep an open pull request from merging now (empty when it would merge)."""
        if record["status"] not in ("open", "draft"):
            return ()
        try:
            self._merged_files(repo_id, self.read_refs(repo_id), record)
        except MergeConflictError as exc:
            return exc.paths
        except RevisionMissingError:  # its target branch was deleted: nothing to conflict with
            return ()
        return ()

    def merge_pull_request(self, repo_id: RepoId, number: int, author: str, comment: str | None = None) -> Commit:
        """Merge an open pull request into its target branch as one new commit (a squash merge).

        The commit's parent is the branch head and its tree the three-way merge of the pull request's
        base, the branch and the pull request (:func:`merge_trees`): exactly the pull request's tree
        when the branch has not moved since it began. Conflicts raise :class:`MergeConflictError` and
        change nothing. A draft must be opened first. Returns the merge commit.
        """
        with self._lock(repo_id):
            refs = self.read_refs(repo_id)
            record = self._discussion_record(repo_id, refs, number)
            if not _is_pull_request(record):
                raise InvalidInputError(f"Discussion #{number} is not a pull request: there is nothing to merge")
            if record["status"] == "draft":
                raise InvalidInputError(f"Pull request #{number} is a draft: change its status to open first")
            if record["status"] != "open":
                raise InvalidInputError(f"Pull request #{number} is {record['status']}: only an open one can be merged")
            head, files = self._merged_files(repo_id, refs, record)
            directory = self._repo_dir(repo_id)
            changed = {path: entry for path, entry in files.items() if head.files.get(path) != entry}
            deleted = [path for path in head.files if path not in files]
            added = [path for path in changed if path not in head.files]
            index = self._commits.index(directory, head).changed(files, added, deleted)
            check_commit_limits(self.limits, f"refs/heads/{record['target']}", 0, index, added)
            if comment:  # before the merge, so that a crash in between never leaves a merge without it
                events = [*record["events"], _comment_json(author, utc_timestamp(), comment)]
                self._write_discussion_record(repo_id, {**record, "events": events})
            title = f"{record['title']} (#{number})"
            description = next((e["text"] for e in record["events"] if e["kind"] == "comment"), "")
            commit = self._commits.write(
                directory, head.id, files, (title, description, author), base=head.id, changed=changed, deleted=deleted
            )
            self._commits.remember_index(directory, commit.id, index)
            merged = refs.with_ref(f"refs/heads/{record['target']}", commit.id).with_ref(_merged_ref(number), commit.id)
            _write_json(directory / "refs.json", dict(merged.targets))  # the branch and the mark, in one rename
        return commit

    def super_squash(self, repo_id: RepoId, revision: str, title: str, author: str) -> Commit:
        """Replace the history of a branch (or ``refs/pr/N``) by one commit with the same tree, and no parent.

        The old commits stay stored (other refs and pull requests may still reach them); only the ref moves.
        """
        with self._lock(repo_id):
            refs = self.read_refs(repo_id)
            ref = refs.find(revision)
            if ref is None:
                self.resolve(repo_id, revision)  # raises RevisionMissingError when it names nothing at all
            if ref is None or not ref.startswith(("refs/heads/", "refs/pr/")):
                raise InvalidInputError(f"Cannot squash '{revision}': squash a branch or refs/pr/N, not a tag")
            head = self.read_commit(repo_id, refs.targets[ref])
            directory = self._repo_dir(repo_id)
            commit = self._commits.write(directory, None, head.files, (title, "", author))
            _write_json(directory / "refs.json", dict(refs.with_ref(ref, commit.id).targets))
        return commit

    def _discussion_numbers(self, repo_id: RepoId, refs: Refs) -> set[int]:
        records = (self._repo_dir(repo_id) / "discussions").glob("*.json")
        stored = {int(path.stem) for path in records if path.stem.isascii() and path.stem.isdigit()}
        return stored | {int(number) for number, _ in refs.named("refs/pr/")}

    def _next_discussion_number(self, repo_id: RepoId, refs: Refs) -> int:
        return 1 + max(self._discussion_numbers(repo_id, refs), default=0)

    def _discussion_record(self, repo_id: RepoId, refs: Refs, number: int) -> dict[str, Any]:
        """The stored record of a discussion (a pull request's only once its ref exists); one made up for
        pull requests older than records."""
        head = refs.targets.get(f"refs/pr/{number}")
        try:
            record: dict[str, Any] = _read_json(self._repo_dir(repo_id) / "discussions" / f"{number}.json")
        except FileNotFoundError:
            if head is None:
                raise DiscussionMissingError(f"Discussion #{number} not found in {repo_id}") from None
            record = self._legacy_pull_request_record(repo_id, refs, number, head)
        if _is_pull_request(record) and head is None:
            raise DiscussionMissingError(f"Discussion #{number} not found in {repo_id}")
        if _merged_ref(number) in refs.targets:
            record["status"] = "merged"
        return record

    def _legacy_pull_request_record(self, repo_id: RepoId, refs: Refs, number: int, head: str) -> dict[str, Any]:
        """The record of a pull request opened before pull requests had records: it targets main and began
        where it left main's history."""
        main = refs.targets.get(f"refs/heads/{DEFAULT_BRANCH}")
        on_main = {c.id for c in self.history(repo_id, self.read_commit(repo_id, main))} if main else set()
        own = [c for c in self.history(repo_id, self.read_commit(repo_id, head)) if c.id not in on_main]
        first = own[-1] if own else self.read_commit(repo_id, head)
        return {
            "number": number,
            "title": first.title,
            "author": first.author,
            "createdAt": first.date,
            "pullRequest": True,
            "target": DEFAULT_BRANCH,
            "base": first.parent if own else head,
            "status": "open",
            "events": [
                {"id": first.id[16:], "kind": "comment", "author": first.author, "date": first.date, "text": ""}
            ],
        }

    def _write_discussion_record(self, repo_id: RepoId, record: Mapping[str, Any]) -> None:
        folder = self._repo_dir(repo_id) / "discussions"
        if not folder.is_dir():
            folder.mkdir(exist_ok=True)
            sync_dir(folder.parent)
        _write_json(folder / f"{record['number']}.json", record)

    def _merged_files(
        self, repo_id: RepoId, refs: Refs, record: Mapping[str, Any]
    ) -> tuple[Commit, dict[str, TreeEntry]]:
        """The head of the pull request's target branch, and the tree merging the pull request into it gives."""
        number, target = record["number"], record["target"]
        head_id = refs.targets.get(f"refs/heads/{target}")
        if head_id is None:
            raise RevisionMissingError(f"Invalid rev id: {target} (pull request #{number} targets it)")
        head = self.read_commit(repo_id, head_id)
        base = self.read_commit(repo_id, record["base"]).files if record["base"] else {}
        theirs = self.read_commit(repo_id, refs.targets[f"refs/pr/{number}"]).files
        return head, merge_trees(base, head.files, theirs)

    # -- internals ---------------------------------------------------------------------------------

    def _lock(self, repo_id: RepoId) -> threading.Lock:
        """The lock of a repo; ids that differ only in case name the same repo, so they share one."""
        with self._locks_guard:
            return self._locks.setdefault(f"{repo_id.type}:{repo_id}".casefold(), threading.Lock())

    def _repo_dir(self, repo_id: RepoId) -> Path:
        """The repo's folder. Repo ids are case-insensitive, as on the Hub: when no folder has exactly this
        name, the one whose namespace and name differ only in case is used (if there is one)."""
        type_dir = self.root / "repos" / _TYPE_DIRS[repo_id.type]
        exact = type_dir / repo_id.namespace / repo_id.name
        if exact.is_dir():
            return exact
        for namespace in _folded_children(type_dir, repo_id.namespace):
            for name in _folded_children(namespace, repo_id.name):
                return name
        return exact

    def _find_commit_id(self, repo_id: RepoId, revision: str) -> str | None:
        if not _SHA_PREFIX_RE.fullmatch(revision):
            return None
        matches = list((self._repo_dir(repo_id) / "commits").glob(f"{revision}*.json"))
        return matches[0].stem if len(matches) == 1 else None

    def _commit_ref(self, repo_id: RepoId, refs: Refs, revision: str) -> str:
        """The full name of the ref a commit to ``revision`` advances (a branch or a pull request)."""
        ref = refs.find(revision)
        if ref is None:
            self.resolve(repo_id, revision)  # raises RevisionMissingError when it names nothing at all
        if ref is None or not ref.startswith(("refs/heads/", "refs/pr/")):
            raise InvalidInputError(f"Cannot commit to '{revision}': commit to a branch or to refs/pr/N")
        return ref

    def _delete_ref(self, repo_id: RepoId, name: str, missing: str) -> None:
        with self._lock(repo_id):
            refs = self.read_refs(repo_id)
            if name not in refs.targets:
                raise RevisionMissingError(missing)
            _write_json(self._repo_dir(repo_id) / "refs.json", dict(refs.without_ref(name).targets))

    def _file_entry(self, path: str, content: bytes) -> TreeEntry:
        return TreeEntry(path, len(content), self._store_bytes(content), False, git_blob_oid(content))

    def _lfs_entry(
        self, repo_id: RepoId, base: Mapping[str, TreeEntry], path: str, sha256: str, size: int | None
    ) -> TreeEntry:
        stored = self.linked_object_size(repo_id, sha256)
        if stored is None and any(entry.lfs and entry.sha256 == sha256 for entry in base.values()):
            stored = self.object_size(sha256)  # a copy of a file the tree already holds
        if stored is None:
            raise ObjectMissingError(f"LFS object {sha256} for '{path}' was not uploaded; upload it first")
        if size is not None and size != stored:
            raise InvalidInputError(f"LFS file '{path}' announces {size} bytes, but object {sha256} has {stored}")
        return TreeEntry(path, stored, sha256, True, git_blob_oid(lfs_pointer(sha256, stored)))

    def _apply(
        self, repo_id: RepoId, files: Mapping[str, TreeEntry], operations: Sequence[Operation]
    ) -> tuple[dict[str, TreeEntry], dict[str, TreeEntry], list[str]]:
        """The tree after ``operations``, sorted by path; the entries it adds or changes; the paths it removes."""
        result = dict(files)
        touched: set[str] = set()
        for operation in operations:
            path = check_repo_path(operation.path.strip("/") if isinstance(operation, DeleteFolder) else operation.path)
            match operation:
                case AddFile(content=content):
                    result[path] = self._file_entry(path, content)
                case AddLfsFile(sha256=sha256, size=size):
                    result[path] = self._lfs_entry(repo_id, files, path, sha256, size)
                case DeleteFile() if path in result:
                    del result[path]
                case DeleteFile() | DeleteFolder():  # as on the Hub, a folder's path needs no trailing "/"
                    inside = [p for p in result if p.startswith(f"{path}/")]
                    if not inside:
                        what = "file" if isinstance(operation, DeleteFile) else "folder"
                        raise EntryMissingError(f"Cannot delete '{path}': A {what} with this name doesn't exist")
                    for p in inside:
                        del result[p]
                    touched.update(inside)
            touched.add(path)
        changed = {p: result[p] for p in sorted(touched) if p in result and files.get(p) != result[p]}
        deleted = sorted(p for p in touched if p in files and p not in result)
        return dict(sorted(result.items())), changed, deleted


def _folded_children(folder: Path, name: str) -> list[Path]:
    """The subfolders of ``folder`` named ``name`` up to case."""
    try:
        return sorted(child for child in folder.iterdir() if child.name.casefold() == name.casefold())
    except FileNotFoundError:
        return []


def _merged_ref(number: int) -> str:
    """The ref that marks pull request ``number`` merged, naming the commit that merged it."""
    return f"refs/merged-pr/{number}"


def _is_pull_request(record: Mapping[str, Any]) -> bool:
    return bool(record.get("pullRequest", True))  # records older than discussions were all pull requests


def _comment_json(author: str, date: str, text: str) -> dict[str, Any]:
    """A new comment as a discussion record stores it (see :mod:`release.hub.threads`)."""
    return {"id": secrets.token_hex(12), "kind": "comment", "author": author, "date": date, "text": text}


def _redirect_key(repo_id: RepoId) -> str:
    return f"{repo_id.type}:{repo_id}"


def _is_prefix_of(prefix: str, commit_id: str) -> bool:
    prefix = prefix.lower()
    if not _SHA_PREFIX_RE.fullmatch(prefix):
        raise InvalidInputError(f"Invalid parentCommit {prefix!r}: expected 5 to 40 hex digits")
    return commit_id.startswith(prefix)


def _repo_to_json(repo: Repo) -> dict[str, Any]:
    return {
        "type": repo.id.type,
        "namespace": repo.id.namespace,
        "name": repo.id.name,
        "private": repo.private,
        "gated": repo.gated,
        "createdAt": repo.created_at,
    }


def _load_secret(path: Path, tmp_dir: Path) -> bytes:
    """Read the signing secret, creating it (mode 0600, never group- or world-readable) on first use.

    It is written in ``tmp_dir`` and then linked into place, so a crash never leaves a truncated secret.
    """
    if not path.exists():
        fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="secret-")  # mode 0600
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_hex(32) + "\n")
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(name, path)
            sync_dir(path.parent)
        os.unlink(name)
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise HubServerError(f"The signing secret in {path} is truncated; delete the file to make a new one")
    return secret.encode()
