"""What a publish compares and sends: the target, the plan of a commit against a branch's tree, the
remote tree read back, and the upload of one staged file.

:mod:`release.publish` (one commit) and :mod:`release.publish_chunks` (chunked commits to a pull request)
both plan, upload and verify through these. :func:`plan_publish` and :func:`compare_tree` are pure: LFS
files compare by size and sha256, regular files by their git blob id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from release.checksum import ManifestEntry, git_blob_id, hash_file
from release.errors import PublishError
from release.signing import SignSpec
from release.stage import ReleaseManifest

if TYPE_CHECKING:
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.hf_api import RepoFile


#: Files the Hub manages itself; a release neither deletes nor verifies them.
HUB_MANAGED = frozenset({".gitattributes"})


@dataclass(frozen=True)
class PublishTarget:
    endpoint: str
    repo_id: str
    repo_type: Literal["model", "dataset"]
    token: str = field(repr=False)
    private: bool = False
    branch: str = "main"
    create_pr: bool = False  # commit to a pull request against ``branch``; tag only once it is merged
    sign: SignSpec | None = None  # [sign]: a signed release is signed again over its final bytes (notes included)
    max_commit_operations: int = 100  # [publish]: above this, commits in chunks to a pull request, then merges


@dataclass(frozen=True)
class PublishPlan:
    """What a commit will change on the target branch."""

    head: str | None  # the branch head seen when planning (the commit's parent)
    add: tuple[ManifestEntry, ...]  # new or changed files
    unchanged: tuple[ManifestEntry, ...]
    delete: tuple[str, ...]  # remote files that are not in the release
    changed: frozenset[str] = frozenset()  # the paths of ``add`` that the branch already holds, with other content
    delete_bytes: int = 0  # the size of the deleted files on the branch

    @property
    def upload_bytes(self) -> int:
        return sum(e.size for e in self.add)

    @property
    def unchanged_bytes(self) -> int:
        return sum(e.size for e in self.unchanged)

    def to_json(self) -> dict[str, Any]:
        """The plan for ``--json`` and for printing: sorted paths with their sizes, and byte totals."""
        return {
            "head": self.head,
            "added": [{"path": e.path, "size": e.size} for e in self.add if e.path not in self.changed],
            "changed": [{"path": e.path, "size": e.size} for e in self.add if e.path in self.changed],
            "deleted": list(self.delete),
            "unchanged": len(self.unchanged),
            "upload_bytes": self.upload_bytes,
            "unchanged_bytes": self.unchanged_bytes,
            "delete_bytes": self.delete_bytes,
        }


@dataclass(frozen=True)
class RemoteFile:
    path: str
    size: int
    sha256: str | None  # known for LFS files
    git_oid: str | None  # the git blob id


@dataclass(frozen=True)
class ReleaseToPublish:
    """The release as it will be published: its manifest now lists RELEASE_NOTES.md."""

    manifest: ReleaseManifest
    notes: str  # RELEASE_NOTES.md
    entries: Mapping[str, ManifestEntry]  # every file of the release, release-manifest.json included
    pending: Mapping[str, bytes]  # the notes and the manifest, until a commit (or the tag) holds them

    @property
    def tag(self) -> str:
        return self.manifest.tag


def local_blob_ids(
    entries: Mapping[str, ManifestEntry],
    remote: Mapping[str, RemoteFile],
    staged_dir: Path,
    pending: Mapping[str, bytes] | None = None,
) -> dict[str, str]:
    """Git blob ids of the staged files the branch holds as regular (non-LFS) files of the same size."""
    return {
        path: _blob_id(staged_dir, path, pending)
        for path, entry in entries.items()
        if (there := remote.get(path)) is not None and there.sha256 is None and there.size == entry.size
    }


def plan_publish(
    entries: Mapping[str, ManifestEntry],
    remote: Mapping[str, RemoteFile],
    head: str | None,
    blob_ids: Mapping[str, str] | None = None,
) -> PublishPlan:
    """Compare the release with the remote branch. Pure.

    LFS files compare by size and sha256; regular files (no sha256 on the Hub) by their git blob id,
    given in ``blob_ids`` for the staged files (a missing id counts as changed).
    """
    blob_ids = blob_ids or {}
    add: list[ManifestEntry] = []
    unchanged: list[ManifestEntry] = []
    changed: set[str] = set()
    for path, entry in sorted(entries.items()):
        there = remote.get(path)
        same = there is not None and there.size == entry.size
        if there is not None and same:
            same = there.sha256 == entry.sha256 if there.sha256 else blob_ids.get(path) == there.git_oid
        (unchanged if same else add).append(entry)
        if there is not None and not same:
            changed.add(path)
    delete = tuple(sorted(p for p in remote if p not in entries and p not in HUB_MANAGED))
    delete_bytes = sum(remote[p].size for p in delete)
    return PublishPlan(head, tuple(add), tuple(unchanged), delete, frozenset(changed), delete_bytes)


def compare_tree(
    entries: Mapping[str, ManifestEntry],
    remote: Mapping[str, RemoteFile],
    staged_dir: Path,
    pending: Mapping[str, bytes] | None = None,
) -> list[str]:
    """Every difference between the release and a remote tree (empty when they are identical).

    ``pending`` holds the content of release files not (yet) written into ``staged_dir`` (a dry run's notes).
    """
    problems = []
    for path, entry in sorted(entries.items()):
        there = remote.get(path)
        if there is None:
            problems.append(f"{path}: missing on the Hub")
        elif there.size != entry.size:
            problems.append(f"{path}: {there.size} bytes on the Hub, {entry.size} in the release")
        elif there.sha256 is not None and there.sha256 != entry.sha256:
            problems.append(f"{path}: sha256 {there.sha256} on the Hub, {entry.sha256} in the release")
        elif there.sha256 is None and there.git_oid != _blob_id(staged_dir, path, pending):
            problems.append(f"{path}: content on the Hub differs from the release (git blob id)")
    problems += [f"{p}: on the Hub but not in the release" for p in sorted(set(remote) - set(entries) - HUB_MANAGED)]
    return problems


def _blob_id(staged_dir: Path, path: str, pending: Mapping[str, bytes] | None) -> str:
    if pending and path in pending:
        return git_blob_id(pending[path])
    return git_blob_id((staged_dir / path).read_bytes())


def branch_head(api: HfApi, target: PublishTarget) -> str | None:
    from huggingface_hub.errors import RevisionNotFoundError

    try:
        return api.repo_info(target.repo_id, repo_type=target.repo_type, revision=target.branch).sha
    except RevisionNotFoundError:
        return None


def remote_tree(api: HfApi, target: PublishTarget, revision: str) -> dict[str, RemoteFile]:
    from huggingface_hub.hf_api import RepoFile

    tree: dict[str, RemoteFile] = {}
    for item in api.list_repo_tree(target.repo_id, repo_type=target.repo_type, revision=revision, recursive=True):
        if isinstance(item, RepoFile):
            tree[item.path] = _remote_file(item)
    return tree


def _remote_file(item: RepoFile) -> RemoteFile:
    sha256 = item.lfs.sha256 if item.lfs is not None else None
    return RemoteFile(item.path, item.size, sha256, item.blob_id)


#: Files this small may be committed as regular (non-LFS) files, whose bytes the server does not check
#: against our sha256: re-hash them before upload (cheap). Larger ones go through LFS, where the server
#: refuses a body whose sha256 differs from the one we announce.
_REHASH_BELOW = 10 * 1024 * 1024


def addition(staged_dir: Path, entry: ManifestEntry, pending: Mapping[str, bytes] | None = None) -> CommitOperationAdd:
    """An upload of one staged file that reuses the manifest's sha256: the client never hashes it again."""
    from huggingface_hub import CommitOperationAdd

    if pending and entry.path in pending:  # made in memory from the entry itself: nothing can have changed
        return CommitOperationAdd(path_in_repo=entry.path, path_or_fileobj=pending[entry.path])
    path = staged_dir / entry.path
    operation = CommitOperationAdd(path_in_repo=entry.path, path_or_fileobj=path)  # reads 512 bytes
    changed = operation.upload_info.size != entry.size
    if not changed and entry.size < _REHASH_BELOW:
        changed = hash_file(path)[1] != entry.sha256
    if changed:
        # Staged files are hard links: a source rewritten in place since staging changes them too.
        raise PublishError(
            f"{path} no longer matches the release manifest (it changed after staging); "
            "nothing was uploaded: run the release again"
        )
    operation.upload_info.sha256 = bytes.fromhex(entry.sha256)
    return operation
