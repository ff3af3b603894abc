"""What the local Hub emulator's repositories are made of: ids, trees, commits, refs and commit operations
as frozen values (discussions and pull requests are :mod:`release.hub.threads`); the pure functions over
them (git ids, upload modes, name checks, tree listings, three-way merges); and the errors the storage
raises.

Nothing here touches the disk or knows about HTTP: :mod:`release.hub.storage` keeps these values, and
the app answers each :class:`StorageError` subclass with its own status (docs/hub-api.md, Errors).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Final, Literal

RepoType = Literal["model", "dataset"]
UploadMode = Literal["regular", "lfs"]
#: How a gated repo approves access requests (the Hub's ``gated`` setting; not gated: None).
GatedMode = Literal["auto", "manual"]

DEFAULT_BRANCH: Final = "main"
#: Files at least this large go to LFS whatever their name (the Hub's threshold).
LFS_SIZE_THRESHOLD: Final = 10 * 1024 * 1024
#: The LFS patterns of the Hub's default ``.gitattributes``, matched against a file's base name.
LFS_PATTERNS: Final[tuple[str, ...]] = (
    "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gz", "*.h5", "*.joblib", "*.lfs.*",
    "*.mlmodel", "*.model", "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.ot", "*.parquet", "*.pb",
    "*.pickle", "*.pkl", "*.pt", "*.pth", "*.rar", "*.safetensors", "*.tar.*", "*.tar", "*.tflite",
    "*.tgz", "*.wasm", "*.xz", "*.zip", "*.zst", "*tfevents*",
)  # fmt: skip
GITATTRIBUTES: Final = "".join(f"{pattern} filter=lfs diff=lfs merge=lfs -text\n" for pattern in LFS_PATTERNS)

#: Where a repo lives under the Hub's address: models at the root, datasets under ``datasets/``.
URL_PREFIXES: Final[Mapping[RepoType, str]] = {"model": "", "dataset": "datasets/"}
#: The YAML front matter of a README.md (group 2), by the client's own pattern (huggingface_hub.repocard).
FRONT_MATTER: Final = re.compile(r"^(\s*---(?:\r\n|\r|\n))([\S\s]*?)((?:\r\n|\r|\n)---[ \t]*(\r\n|\n|$))")

#: A namespace or repo name: what the client's own check allows (``\\b[\\w\\-.]{1,96}\\b``, ASCII), so that the
#: Hub CI's user ``__DUMMY_HUB_USER__`` is served as it is.
_NAME_RE: Final = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?")
_SHA256_RE: Final = re.compile(r"[0-9a-f]{64}")
_BAD_REF_CHARS: Final = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
_RESERVED_NAMESPACES: Final = frozenset({"api", "datasets", "spaces", "kernels", "models", "docs"})


# --------------------------------------------------------------------------------------------------
# Errors


class StorageError(Exception):
    """A request the storage cannot satisfy. Internal: the app turns each subclass into an HTTP answer."""


class InvalidInputError(StorageError):
    """A name, path or operation is malformed, or not allowed where it was used."""


class InvalidPathError(InvalidInputError):
    """A path in a commit that the Hub refuses as unprocessable (422), such as ``..\\ddd``."""


class RepoMissingError(StorageError):
    """The repository does not exist."""


class RevisionMissingError(StorageError):
    """No branch, tag, pull request or commit matches the revision."""


class EntryMissingError(StorageError):
    """No file or folder at that path in the commit."""


class ObjectMissingError(StorageError):
    """A commit refers to an LFS object that was never uploaded."""


class AlreadyExistsError(StorageError):
    """The repository, tag or branch already exists."""


class StaleParentError(StorageError):
    """The commit's parent is no longer the head of its branch."""


class ContentMismatchError(StorageError):
    """Uploaded bytes do not match the announced sha256 or size."""


class DiscussionMissingError(StorageError):
    """No discussion or pull request has that number, or no comment of it that id."""


class CommitLimitError(StorageError):
    """A commit over the Hub's limits: too many operations, or too many entries in one folder."""


class MergeConflictError(StorageError):
    """A pull request cannot be merged: its branch changed the same paths since the pull request began."""

    def __init__(self, message: str, paths: Sequence[str]) -> None:
        super().__init__(message)
        self.paths = tuple(paths)


# --------------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True)
class RepoId:
    """A repository: its type and ``namespace/name``."""

    type: RepoType
    namespace: str
    name: str

    def __post_init__(self) -> None:
        for part in (self.namespace, self.name):
            if not _NAME_RE.fullmatch(part) or ".." in part or "--" in part or part.endswith(".git"):
                raise InvalidInputError(
                    f"Invalid repo id '{self.namespace}/{self.name}': namespace and name must be 1-96 "
                    "letters, digits, '.', '_' or '-', start and end with a letter, digit or '_', "
                    "and not contain '..' or '--'"
                )

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Repo:
    id: RepoId
    private: bool
    created_at: str  # "YYYY-MM-DDTHH:MM:SS.mmmZ"
    gated: GatedMode | None = None  # None: anyone who may read the repo may download its files


@dataclass(frozen=True)
class TreeEntry:
    """A file in a commit's tree. Its content is the object named ``sha256`` in the object store."""

    path: str
    size: int
    sha256: str
    lfs: bool
    git_oid: str  # git blob sha1 of the content, or of the LFS pointer for LFS files

    @property
    def content_id(self) -> str:
        """The id the client compares and caches by: the git blob sha1, or the sha256 for LFS files."""
        return self.sha256 if self.lfs else self.git_oid

    @property
    def pointer_size(self) -> int:
        return len(lfs_pointer(self.sha256, self.size))


@dataclass(frozen=True)
class Folder:
    """A folder in a commit's tree; ``oid`` is its git tree sha1."""

    path: str
    oid: str


@dataclass(frozen=True)
class Commit:
    id: str
    parent: str | None
    title: str
    message: str
    date: str  # "YYYY-MM-DDTHH:MM:SS.mmmZ"
    author: str
    files: Mapping[str, TreeEntry]


@dataclass(frozen=True)
class Refs:
    """Every ref of a repo, by full name: ``refs/heads/<branch>``, ``refs/tags/<tag>``, ``refs/pr/<n>``."""

    targets: Mapping[str, str]

    def find(self, revision: str) -> str | None:
        """The full name of the ref ``revision`` names (a branch first, then a tag), or None."""
        for name in (f"refs/heads/{revision}", f"refs/tags/{revision}", revision):
            if name.startswith("refs/") and name in self.targets:
                return name
        return None

    def named(self, prefix: Literal["refs/heads/", "refs/tags/", "refs/pr/"]) -> list[tuple[str, str]]:
        """``(short name, commit id)`` of the refs under ``prefix``, sorted by name."""
        found = [(name.removeprefix(prefix), sha) for name, sha in self.targets.items() if name.startswith(prefix)]
        return sorted(found, key=lambda item: int(item[0]) if prefix == "refs/pr/" else item[0])

    def with_ref(self, name: str, commit_id: str) -> Refs:
        return replace(self, targets={**self.targets, name: commit_id})

    def without_ref(self, name: str) -> Refs:
        return replace(self, targets={key: value for key, value in self.targets.items() if key != name})


@dataclass(frozen=True)
class AddFile:
    """Add or replace a regular (non-LFS) file with this content."""

    path: str
    content: bytes


@dataclass(frozen=True)
class AddLfsFile:
    """Add or replace an LFS file whose content is already in the object store; ``size`` may be unknown."""

    path: str
    sha256: str
    size: int | None


@dataclass(frozen=True)
class DeleteFile:
    path: str


@dataclass(frozen=True)
class DeleteFolder:
    path: str


Operation = AddFile | AddLfsFile | DeleteFile | DeleteFolder


@dataclass(frozen=True)
class CommitRequest:
    revision: str  # a branch or refs/pr/N; with create_pr, the branch the pull request starts from
    title: str
    message: str
    author: str
    operations: Sequence[Operation]
    parent: str | None = None  # full id or >=5-char prefix the branch head must match
    create_pr: bool = False


@dataclass(frozen=True)
class LfsFile:
    """An LFS object a repo's refs use: where it was first found (``ref``, ``path``) and when it was committed."""

    sha256: str
    size: int
    path: str
    ref: str  # a full ref name, "refs/heads/main" first
    pushed_at: str  # the date of the newest commit of that ref's history holding it, oldest such commit
    pointer_oid: str  # the git blob sha1 of its LFS pointer


@dataclass(frozen=True)
class CommitResult:
    commit: Commit
    pull_request: int | None  # the number of the pull request created, with create_pr


@dataclass(frozen=True)
class CommitLimits:
    """What one commit may do, as the Hub holds it (docs/hub-api.md, Limits): its defaults are the Hub's.

    The Hub recommends commits of at most 100 files through the HTTP API (larger ones risk timeouts) and
    refuses a push that leaves more than 10,000 entries in one folder.
    """

    max_operations: int = 100
    max_folder_entries: int = 10_000

    def __post_init__(self) -> None:
        if min(self.max_operations, self.max_folder_entries) < 1:
            raise ValueError(f"Commit limits must be at least 1: {self}")


class TreeIndex:
    """The folders of a tree and the names directly inside each (files and folders), for checks and listings.

    Built once per tree (:meth:`of`); a commit derives its tree's index from its parent's with
    :meth:`changed`, at a cost that grows with the paths it adds or removes, not with the tree.
    The sets inside are shared between indexes and never changed once built.
    """

    __slots__ = ("children", "files")

    def __init__(self, files: Mapping[str, TreeEntry], children: Mapping[str, frozenset[str] | set[str]]) -> None:
        self.files = files
        self.children = children

    @classmethod
    def of(cls, files: Mapping[str, TreeEntry]) -> TreeIndex:
        children: dict[str, set[str]] = {"": set()}
        for path in files:
            folder, _, name = path.rpartition("/")
            while True:
                known = folder in children
                children.setdefault(folder, set()).add(name)
                if known or not folder:
                    break
                folder, _, name = folder.rpartition("/")
        return cls(files, children)

    def changed(self, files: Mapping[str, TreeEntry], added: Sequence[str], removed: Sequence[str]) -> TreeIndex:
        """The index of ``files``: this index's tree without ``removed`` and with the new paths ``added``."""
        children = dict(self.children)
        own: dict[str, set[str]] = {}

        def names(folder: str) -> set[str]:
            if folder not in own:
                own[folder] = children[folder] = set(children.get(folder, ()))
            return own[folder]

        for path in removed:
            folder, _, name = path.rpartition("/")
            while True:
                inside = names(folder)
                inside.discard(name)
                if inside or not folder:
                    break
                del children[folder], own[folder]
                folder, _, name = folder.rpartition("/")
        for path in added:
            folder, _, name = path.rpartition("/")
            while True:
                inside = names(folder)
                known = name in inside
                inside.add(name)
                if known or not folder:
                    break
                folder, _, name = folder.rpartition("/")
        return TreeIndex(files, children)

    def check_added(self, added: Sequence[str]) -> None:
        """Raise InvalidInputError when an added file sits where the tree needs a folder, or under a file."""
        for path in added:
            for ancestor in _ancestors(path):
                if ancestor in self.files:
                    raise InvalidInputError(f"Cannot add '{path}': '{ancestor}' is a file, not a folder")
            if path in self.children:
                inner = path
                while inner not in self.files:
                    inner = f"{inner}/{min(self.children[inner])}"
                raise InvalidInputError(f"Cannot add '{inner}': '{path}' is a file, not a folder")

    def crowded(self, added: Sequence[str], limit: int) -> list[str]:
        """The folders holding ``added`` paths (or their new folders) with more than ``limit`` entries, sorted."""
        touched = {""}
        for path in added:
            touched.update(_ancestors(path))
        return sorted(f for f in touched if len(self.children.get(f, ())) > limit)


def check_commit_limits(
    limits: CommitLimits, ref: str, operations: int, index: TreeIndex | None, added: Sequence[str]
) -> None:
    """Raise :class:`CommitLimitError` when a commit to ``ref`` breaks ``limits``, in the Hub's words where known.

    ``index`` (None: only the operations are counted) is the tree the commit makes; ``added`` its new paths.
    """
    if operations > limits.max_operations:
        raise CommitLimitError(
            f"Your commit contains {operations} operations; this Hub accepts at most {limits.max_operations} "
            "operations per commit. Upload the files in several commits"
        )
    crowded = index.crowded(added, limits.max_folder_entries) if index is not None and added else []
    if crowded:
        listed = " ".join(f"/{folder}/" if folder else "/" for folder in crowded)
        raise CommitLimitError(
            "Your push was rejected because it contains too many files per directory. Each directory in your "
            f"git repo can only contain up to {limits.max_folder_entries} files. Offending reference: {ref} "
            f"Offending directories: {listed}"
        )


# --------------------------------------------------------------------------------------------------
# Pure helpers


def utc_timestamp(now: datetime | None = None) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ``: the only date format the client accepts."""
    now = now or datetime.now(UTC)
    return f"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond // 1000:03d}Z"


def git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def is_sha256(text: str) -> bool:
    return _SHA256_RE.fullmatch(text) is not None


def upload_mode(path: str, size: int, sample: bytes, gitattributes: str | None = GITATTRIBUTES) -> UploadMode:
    """Where the Hub would store a file: LFS for big files, binary samples and the paths the repo's own
    ``.gitattributes`` (its text; None when the repo has none) sends to LFS with ``filter=lfs``."""
    if size >= LFS_SIZE_THRESHOLD or b"\0" in sample:
        return "lfs"
    lfs = False
    for pattern, value in _attribute_rules(gitattributes or ""):
        if _path_matches(pattern, path, directory=False):
            lfs = value
    return "lfs" if lfs else "regular"


def _attribute_rules(gitattributes: str) -> list[tuple[str, bool]]:
    """``(pattern, LFS or not)`` for each line of a ``.gitattributes`` that sets or unsets ``filter``."""
    rules = []
    for line in gitattributes.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pattern, *attributes = line.split()
        for attribute in attributes:
            if attribute.startswith("filter="):
                rules.append((pattern, attribute == "filter=lfs"))
            elif attribute in ("-filter", "!filter"):
                rules.append((pattern, False))
    return rules


def is_ignored(path: str, gitignore: str) -> bool:
    """Whether a ``.gitignore`` (its text) ignores the file ``path``: the file or a folder above it matches.

    The common rules of git: ``#`` comments, ``!`` re-includes, a trailing ``/`` matches folders only, a
    pattern with a ``/`` is anchored at the root (others match at any depth), ``*``, ``?``, ``[...]`` and ``**``.
    """
    rules = []
    for line in gitignore.splitlines():
        text = line.rstrip()
        if not text or text.startswith("#"):
            continue
        negated = text.startswith("!")
        rules.append((text[1:] if negated else text, not negated))
    parts = path.split("/")
    for depth in range(1, len(parts) + 1):
        candidate, directory = "/".join(parts[:depth]), depth < len(parts)
        ignored = False
        for pattern, value in rules:
            if _path_matches(pattern, candidate, directory=directory):
                ignored = value
        if ignored:
            return True
    return False


def _path_matches(pattern: str, path: str, *, directory: bool) -> bool:
    """git's matching of one ``.gitignore``/``.gitattributes`` pattern against a path (a folder if ``directory``)."""
    if pattern.endswith("/"):
        if not directory:
            return False
        pattern = pattern.rstrip("/")
    anchored = "/" in pattern
    regex = _glob_regex(pattern.lstrip("/"))
    return re.fullmatch(regex if anchored else f"(?:.*/)?{regex}", path) is not None


def _glob_regex(pattern: str) -> str:
    out, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**/", index):
            out.append("(?:.*/)?")
            index += 3
            continue
        if pattern.startswith("**", index):
            out.append(".*")
            index += 2
            continue
        if char == "[" and "]" in pattern[index + 2 :]:
            end = pattern.index("]", index + 2)
            members = pattern[index + 1 : end].replace("\\", "\\\\")
            out.append("[" + ("^" + members[1:] if members.startswith("!") else members) + "]")
            index = end + 1
            continue
        out.append("[^/]*" if char == "*" else "[^/]" if char == "?" else re.escape(char))
        index += 1
    return "".join(out)


def check_repo_path(path: str) -> str:
    """Return ``path`` if it is a valid file path inside a repo, else raise InvalidPathError (the Hub's 422)."""
    parts = path.split("/")
    if not path or any(part in ("", ".", "..") for part in parts) or parts[0] == ".git":
        raise InvalidPathError(
            f"Invalid path in repo: {path!r} (use a relative POSIX path without empty, '.' or '..' parts)"
        )
    if path.startswith("..\\"):  # as the Hub: refused only at the start ("a/..\\..\\b" is a valid file name)
        raise InvalidPathError(f"Invalid path in repo: {path!r} starts with '..\\'")
    if any(ord(char) < 0x20 for char in path):
        raise InvalidPathError(f"Invalid path in repo: {path!r} contains a control character")
    return path


def check_ref_name(kind: Literal["branch", "tag"], name: str) -> str:
    """Return ``name`` if git would accept it as a branch or tag name, else raise InvalidInputError."""
    if (
        not name
        or len(name) > 200
        or _BAD_REF_CHARS.search(name)
        or ".." in name
        or "//" in name
        or "@{" in name
        or name.startswith(("/", "-", ".", "refs/"))
        or name.endswith(("/", ".", ".lock"))
    ):
        raise InvalidInputError(
            f"Invalid {kind} name {name!r}: use letters, digits and '.', '_', '-', '/' "
            "(no spaces, '..', '~^:?*[\\', and not starting with 'refs/')"
        )
    return name


def check_new_namespace(namespace: str) -> None:
    if namespace.lower() in _RESERVED_NAMESPACES:
        raise InvalidInputError(f"The namespace '{namespace}' is reserved by the Hub; choose another one")


def find_path(commit: Commit, path: str, oids: Mapping[str, str] | None = None) -> TreeEntry | Folder | None:
    """The file or folder at ``path`` in the commit, or None; ``oids``: the tree's :func:`folder_oids`, if known."""
    path = path.strip("/")
    if path in commit.files:
        return commit.files[path]
    oids = folder_oids(commit.files) if oids is None else oids
    return Folder(path, oids[path]) if path in oids else None


def list_folder(
    commit: Commit, path: str, *, recursive: bool, oids: Mapping[str, str] | None = None
) -> list[TreeEntry | Folder]:
    """The entries under folder ``path`` ("" for the root): its children, or everything below it.

    ``oids``: the tree's :func:`folder_oids`, when the caller has them already.
    """
    path = path.strip("/")
    oids = folder_oids(commit.files) if oids is None else oids
    if path not in oids:
        what = "is a file, not a folder" if path in commit.files else "does not exist"
        raise EntryMissingError(f"Entry not found: '{path}' {what} at revision {commit.id}")
    prefix = f"{path}/" if path else ""

    def wanted(entry_path: str) -> bool:
        return entry_path.startswith(prefix) and (recursive or "/" not in entry_path[len(prefix) :])

    folders: list[TreeEntry | Folder] = [Folder(p, oid) for p, oid in oids.items() if p and wanted(p)]
    files: list[TreeEntry | Folder] = [entry for p, entry in commit.files.items() if wanted(p)]
    return sorted(folders + files, key=lambda entry: entry.path)


def merge_trees(
    base: Mapping[str, TreeEntry], ours: Mapping[str, TreeEntry], theirs: Mapping[str, TreeEntry]
) -> dict[str, TreeEntry]:
    """A three-way merge, file by file: each path takes the side that changed it since ``base``.

    A path both sides changed, to different content, is a conflict, and so is a file where the other
    side needs a folder: :class:`MergeConflictError` names every such path. Pure.
    """
    merged: dict[str, TreeEntry] = {}
    conflicts: list[str] = []
    for path in sorted(base.keys() | ours.keys() | theirs.keys()):
        was, mine, their = base.get(path), ours.get(path), theirs.get(path)
        if mine == their or their == was:
            kept = mine
        elif mine == was:
            kept = their
        else:
            conflicts.append(path)
            continue
        if kept is not None:
            merged[path] = kept
    conflicts += [p for p in merged if any(a in merged for a in _ancestors(p))]
    if conflicts:
        listed = ", ".join(sorted(conflicts))
        message = f"Cannot merge: both sides changed {listed} since the pull request began"
        raise MergeConflictError(message, sorted(conflicts))
    return merged


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:depth]) for depth in range(1, len(parts))]


def folder_oids(files: Mapping[str, TreeEntry]) -> dict[str, str]:
    """The git tree sha1 of every folder of the tree, the root included (as "")."""
    children: dict[str, dict[str, tuple[bool, str]]] = {"": {}}  # folder -> name -> (is_folder, path)
    for path in files:
        parent = ""
        for part in path.split("/")[:-1]:
            folder = f"{parent}/{part}" if parent else part
            children.setdefault(folder, {})
            children[parent][part] = (True, folder)
            parent = folder
        children[parent][path.rsplit("/", 1)[-1]] = (False, path)
    oids: dict[str, str] = {}
    for folder in sorted(children, key=lambda name: name.count("/") + bool(name), reverse=True):
        parts = []
        for name, (is_folder, child) in sorted(children[folder].items(), key=lambda i: i[0] + "/" * i[1][0]):
            mode, oid = ("40000", oids[child]) if is_folder else ("100644", files[child].git_oid)
            parts.append(f"{mode} {name}".encode() + b"\0" + bytes.fromhex(oid))
        body = b"".join(parts)  # one join: adding to a bytes object copies it, quadratic in a big folder
        oids[folder] = hashlib.sha1(b"tree %d\0" % len(body) + body, usedforsecurity=False).hexdigest()
    return oids
