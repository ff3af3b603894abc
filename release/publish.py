"""Publishing a staged release to the Hub as one commit, verified, then tagged ``v<version>``.

This module and :mod:`release.reproduce` are the only importers of ``huggingface_hub``. Uploads
always use the LFS protocol (Xet off): every file is sent with a sha256 the server checks, files the
server already holds are skipped, and the same code path works against the Hub, a mirror, and the
local emulator.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from release.checksum import ManifestEntry, hash_file
from release.errors import AuthError, CardProblem, CardValidationError, PublishError
from release.stage import CARD_PATH, RELEASE_MANIFEST, ReleaseManifest

if TYPE_CHECKING:
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.hf_api import RepoFile

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class PublishPlan:
    """What a commit will change on the target branch."""

    head: str | None  # the branch head seen when planning (the commit's parent)
    add: tuple[ManifestEntry, ...]  # new or changed files
    unchanged: tuple[ManifestEntry, ...]
    delete: tuple[str, ...]  # remote files that are not in the release

    @property
    def upload_bytes(self) -> int:
        return sum(e.size for e in self.add)


@dataclass(frozen=True)
class PublishResult:
    repo_id: str
    repo_type: str
    endpoint: str
    tag: str
    commit: str
    url: str
    already_released: bool
    plan: PublishPlan | None = None


@dataclass(frozen=True)
class RemoteFile:
    path: str
    size: int
    sha256: str | None  # known for LFS files
    git_oid: str | None  # the git blob id


def publish_release(staged_dir: Path, manifest: ReleaseManifest, target: PublishTarget) -> PublishResult:
    """Upload ``staged_dir`` as one commit on ``target.branch``, verify it, then tag it."""
    tag = manifest.tag
    entries = _release_entries(staged_dir, manifest)
    with _hub_errors(target):
        api = _client(target)
        user = _whoami(api, target)
        log.info("publishing %s as %s to %s", target.repo_id, user, target.endpoint)
        card = staged_dir / CARD_PATH
        if is_remote_hub(target.endpoint) and card.is_file():
            for warning in validate_card_online(target, card.read_text(encoding="utf-8"), target.repo_type):
                log.warning("the Hub says about the card: %s", warning)
        api.create_repo(target.repo_id, repo_type=target.repo_type, private=target.private, exist_ok=True)

        existing = _tag_commit(api, target, tag)
        if existing is not None:
            return _already_released(api, target, tag, existing, entries, staged_dir)

        head = _branch_head(api, target)
        remote = _remote_tree(api, target, head) if head else {}
        plan = plan_publish(entries, remote, head)
        log.info(
            "plan: %d file(s) to upload (%d bytes), %d unchanged, %d to delete",
            len(plan.add),
            plan.upload_bytes,
            len(plan.unchanged),
            len(plan.delete),
        )
        commit = _commit(api, target, staged_dir, plan, tag, manifest)
        problems = compare_tree(entries, _remote_tree(api, target, commit), staged_dir)
        if problems:
            raise PublishError(
                f"commit {commit} on {target.repo_id} does not match the release; it was NOT tagged:\n  - "
                + "\n  - ".join(problems)
            )
        api.create_tag(
            target.repo_id, tag=tag, revision=commit, repo_type=target.repo_type, tag_message=f"Release {tag}"
        )
        log.info("tagged %s at %s", tag, commit)
        return PublishResult(
            target.repo_id, target.repo_type, target.endpoint, tag, commit, _repo_url(target), False, plan
        )


def is_remote_hub(endpoint: str) -> bool:
    """Whether ``endpoint`` is a Hub on another machine: not ``local``, not loopback (127.0.0.0/8, ::1, localhost).

    The online card check runs only against such a Hub: the local emulator checks only that the
    metadata is YAML, which the offline schema check already covers.
    """
    if endpoint == "local":
        return False
    host = urlsplit(endpoint).hostname
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name
        return True


def validate_card_online(target: PublishTarget, card_text: str, repo_type: str | None = None) -> tuple[str, ...]:
    """Ask the Hub's ``POST /api/validate-yaml`` whether it accepts the card's metadata; before any upload.

    The same check ``huggingface_hub`` makes when a commit adds a README.md, made up front so a
    card the Hub would refuse stops the release before anything is hashed or sent. Raises
    :class:`CardValidationError` with the Hub's messages when it refuses the card; returns its
    warnings otherwise. Transport and HTTP failures become :class:`PublishError`.
    """
    from huggingface_hub import get_session, hf_raise_for_status
    from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]  # public, lazily exported

    from release import __version__

    kind = repo_type or target.repo_type
    url = f"{target.endpoint}/api/validate-yaml"
    headers = build_hf_headers(token=target.token, library_name="model-release", library_version=__version__)
    with _hub_errors(target):
        response = get_session().post(url, json={"content": card_text, "repoType": kind}, headers=headers)
        body = _json_object(response)
        if response.status_code == 400:
            messages = [str(e.get("message", e)) for e in body.get("errors", []) if isinstance(e, dict)]
            problems = [CardProblem("README.md", m, url) for m in messages or [response.text.strip() or "refused"]]
            raise CardValidationError(
                problems,
                hint=f"The Hub at {target.endpoint} refused the card's metadata; nothing was uploaded.",
                what=f"the {kind} card, as the Hub sees it",
            )
        hf_raise_for_status(response)
    warnings = tuple(str(w.get("message", w)) for w in body.get("warnings", []) if isinstance(w, dict))
    for warning in warnings:
        log.warning("the Hub at %s about the card: %s", target.endpoint, warning)
    return warnings


def _json_object(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def check_access(target: PublishTarget) -> str:
    """Before any work: the Hub answers and accepts the token. Returns the token's user name."""
    with _hub_errors(target):
        return _whoami(_client(target), target)


def plan_publish(
    entries: Mapping[str, ManifestEntry], remote: Mapping[str, RemoteFile], head: str | None
) -> PublishPlan:
    """Compare the release with the remote branch. Pure."""
    add: list[ManifestEntry] = []
    unchanged: list[ManifestEntry] = []
    for path, entry in sorted(entries.items()):
        there = remote.get(path)
        same = there is not None and there.size == entry.size and there.sha256 == entry.sha256
        (unchanged if same else add).append(entry)
    delete = tuple(sorted(p for p in remote if p not in entries and p not in HUB_MANAGED))
    return PublishPlan(head, tuple(add), tuple(unchanged), delete)


def compare_tree(entries: Mapping[str, ManifestEntry], remote: Mapping[str, RemoteFile], staged_dir: Path) -> list[str]:
    """Every difference between the release and a remote tree (empty when they are identical)."""
    problems = []
    for path, entry in sorted(entries.items()):
        there = remote.get(path)
        if there is None:
            problems.append(f"{path}: missing on the Hub")
        elif there.size != entry.size:
            problems.append(f"{path}: {there.size} bytes on the Hub, {entry.size} in the release")
        elif there.sha256 is not None and there.sha256 != entry.sha256:
            problems.append(f"{path}: sha256 {there.sha256} on the Hub, {entry.sha256} in the release")
        elif there.sha256 is None and there.git_oid != git_blob_id(staged_dir / path):
            problems.append(f"{path}: content on the Hub differs from the release (git blob id)")
    problems += [f"{p}: on the Hub but not in the release" for p in sorted(set(remote) - set(entries) - HUB_MANAGED)]
    return problems


def git_blob_id(path: Path) -> str:
    """The git blob sha1 of a (small, regular) file, as the Hub reports it."""
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _release_entries(staged_dir: Path, manifest: ReleaseManifest) -> dict[str, ManifestEntry]:
    """The manifest's files plus release-manifest.json itself, checked against the staged tree."""
    entries = {e.path: e for e in manifest.files}
    size, digest = hash_file(staged_dir / RELEASE_MANIFEST)
    entries[RELEASE_MANIFEST] = ManifestEntry(RELEASE_MANIFEST, size, digest)
    for entry in entries.values():
        path = staged_dir / entry.path
        if not path.is_file():
            raise PublishError(f"{path} is missing from the staged release: run the stage step again")
        if path.stat().st_size != entry.size:
            raise PublishError(f"{path} changed after staging (size differs): run the stage step again")
    return entries


def _client(target: PublishTarget) -> HfApi:
    from huggingface_hub import HfApi, constants

    # Always the LFS protocol: the emulator speaks only LFS, and it lets the server check every
    # file's sha256. huggingface_hub reads this constant at call time.
    constants.HF_HUB_DISABLE_XET = True
    from release import __version__

    return HfApi(
        endpoint=target.endpoint,
        token=target.token,
        library_name="model-release",
        library_version=__version__,
    )


def _whoami(api: HfApi, target: PublishTarget) -> str:
    from huggingface_hub.errors import HfHubHTTPError

    try:
        info = api.whoami()
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status in (401, 403):
            raise AuthError(
                f"the Hub at {target.endpoint} rejected the token (HTTP {status}): create a token with write "
                f"access at {target.endpoint}/settings/tokens and set HF_TOKEN"
            ) from None
        raise
    return str(info.get("name", "?"))


def _tag_commit(api: HfApi, target: PublishTarget, tag: str) -> str | None:
    refs = api.list_repo_refs(target.repo_id, repo_type=target.repo_type)
    return next((t.target_commit for t in refs.tags if t.name == tag), None)


def _branch_head(api: HfApi, target: PublishTarget) -> str | None:
    from huggingface_hub.errors import RevisionNotFoundError

    try:
        return api.repo_info(target.repo_id, repo_type=target.repo_type, revision=target.branch).sha
    except RevisionNotFoundError:
        return None


def _remote_tree(api: HfApi, target: PublishTarget, revision: str) -> dict[str, RemoteFile]:
    from huggingface_hub.hf_api import RepoFile

    tree: dict[str, RemoteFile] = {}
    for item in api.list_repo_tree(target.repo_id, repo_type=target.repo_type, revision=revision, recursive=True):
        if isinstance(item, RepoFile):
            tree[item.path] = _remote_file(item)
    return tree


def _remote_file(item: RepoFile) -> RemoteFile:
    sha256 = item.lfs.sha256 if item.lfs is not None else None
    return RemoteFile(item.path, item.size, sha256, item.blob_id)


def _commit(
    api: HfApi,
    target: PublishTarget,
    staged_dir: Path,
    plan: PublishPlan,
    tag: str,
    manifest: ReleaseManifest,
) -> str:
    from huggingface_hub import CommitOperationDelete

    additions = [_addition(staged_dir, entry) for entry in plan.add]
    operations: list[CommitOperationAdd | CommitOperationDelete] = list(additions)
    operations += [CommitOperationDelete(path_in_repo=p) for p in plan.delete]
    if not operations:
        assert plan.head is not None
        log.info("the branch already holds exactly this release")
        return plan.head
    source = manifest.source.git_commit
    description = f"{len(plan.add)} file(s) added or changed, {len(plan.delete)} deleted."
    if source:
        description += f"\nSource commit: {source}" + (
            " (with uncommitted changes)" if manifest.source.git_dirty else ""
        )
    info = api.create_commit(
        target.repo_id,
        operations,
        commit_message=f"Release {tag}",
        commit_description=description,
        repo_type=target.repo_type,
        revision=target.branch,
        parent_commit=plan.head,
    )
    return str(info.oid)


#: Files this small may be committed as regular (non-LFS) files, whose bytes the server does not check
#: against our sha256: re-hash them before upload (cheap). Larger ones go through LFS, where the server
#: refuses a body whose sha256 differs from the one we announce.
_REHASH_BELOW = 10 * 1024 * 1024


def _addition(staged_dir: Path, entry: ManifestEntry) -> CommitOperationAdd:
    """An upload of one staged file that reuses the manifest's sha256: the client never hashes it again."""
    from huggingface_hub import CommitOperationAdd

    path = staged_dir / entry.path
    addition = CommitOperationAdd(path_in_repo=entry.path, path_or_fileobj=path)  # reads 512 bytes
    changed = addition.upload_info.size != entry.size
    if not changed and entry.size < _REHASH_BELOW:
        changed = hash_file(path)[1] != entry.sha256
    if changed:
        # Staged files are hard links: a source rewritten in place since staging changes them too.
        raise PublishError(
            f"{path} no longer matches the release manifest (it changed after staging); "
            "nothing was uploaded: run the release again"
        )
    addition.upload_info.sha256 = bytes.fromhex(entry.sha256)
    return addition


def _already_released(
    api: HfApi,
    target: PublishTarget,
    tag: str,
    commit: str,
    entries: Mapping[str, ManifestEntry],
    staged_dir: Path,
) -> PublishResult:
    problems = compare_tree(entries, _remote_tree(api, target, commit), staged_dir)
    if problems:
        raise PublishError(
            f"{tag} is already released on {target.repo_id} with different content, and versions are immutable: "
            f"bump the version in the config. Differences:\n  - " + "\n  - ".join(problems[:20])
        )
    log.info("%s is already released with identical content", tag)
    return PublishResult(target.repo_id, target.repo_type, target.endpoint, tag, commit, _repo_url(target), True)


def _repo_url(target: PublishTarget) -> str:
    prefix = "datasets/" if target.repo_type == "dataset" else ""
    return f"{target.endpoint}/{prefix}{target.repo_id}"


@contextmanager
def _hub_errors(target: PublishTarget) -> Iterator[None]:
    """Turn client and transport failures into :class:`PublishError` naming the repo and endpoint."""
    from httpx2 import TransportError
    from huggingface_hub.errors import HfHubHTTPError

    try:
        yield
    except RuntimeError as exc:
        cause = exc.__cause__
        if not isinstance(cause, HfHubHTTPError | TransportError):
            raise
        detail = getattr(cause, "server_message", None) or str(cause).splitlines()[0]
        raise PublishError(
            f"{exc} ({detail}); nothing was committed to {target.repo_id}. If the file changed after staging, "
            "run the release again"
        ) from exc
    except TransportError as exc:
        raise PublishError(f"cannot reach the Hub at {target.endpoint}: {exc}") from exc
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        detail = exc.server_message or str(exc).splitlines()[0]
        if status == 412:
            detail = "the branch moved while publishing (another commit landed); run the release again"
        raise PublishError(
            f"the Hub at {target.endpoint} refused the request for {target.repo_id} (HTTP {status}): {detail}"
        ) from exc
