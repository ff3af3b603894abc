"""Publishing a staged release to the Hub as one commit, verified, then tagged ``v<version>``.

A release larger than ``max_commit_operations`` goes through chunked commits to a pull request merged at
once (:mod:`release.publish_chunks`); everything else here applies to it alike.

The client, its error mapping and the protocol (LFS, never Xet: every file is sent with a sha256 the
server checks) come from :mod:`release.hub_client`. The steps of :func:`publish_release`: read the
previous release to write the notes, plan the commit against the branch head, commit (planning
once more if another commit lands first), verify the commit's tree, then tag it.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from release.atomic import write_atomic
from release.checksum import ManifestEntry, hash_file
from release.errors import PublishError, StageError
from release.hub_client import connect, http_status, hub_errors, whoami
from release.notes import (
    NOTES_PATH,
    ReleaseSnapshot,
    diff_releases,
    parse_metrics,
    parse_pins,
    previous_version,
    render_notes,
)
from release.publish_chunks import commit_in_chunks, needs_chunks
from release.publish_plan import (
    PublishPlan,
    PublishTarget,
    ReleaseToPublish,
    RemoteFile,
    addition,
    branch_head,
    compare_tree,
    local_blob_ids,
    plan_publish,
    remote_tree,
)
from release.repo_paths import check_repo_paths
from release.signing import SIGNATURE_PATH
from release.stage import CARD_PATH, RELEASE_MANIFEST, ReleaseManifest
from release.upload_checks import check_token_writes, is_remote_hub, validate_card_online

if TYPE_CHECKING:
    from huggingface_hub import CommitOperationAdd, HfApi

log = logging.getLogger(__name__)

#: How to go on when a staged file has a name the Hub refuses.
_RENAME_FIX = "Rename or leave out these files, stage the release again, then publish."


@dataclass(frozen=True)
class PublishPreview:
    """What ``publish --dry-run`` found, having changed nothing on the Hub."""

    repo_id: str
    endpoint: str
    tag: str
    repo_exists: bool
    tag_commit: str | None  # where the release's tag already points, if it exists
    tag_differences: tuple[str, ...]  # how that tagged tree differs from the release (empty: identical)
    plan: PublishPlan | None  # None when the tag already exists: nothing would be committed
    notes: str = ""  # RELEASE_NOTES.md as it would be published
    repo_type: Literal["model", "dataset"] = "model"
    chunk_size: int | None = None  # the plan goes in chunked commits of this many operations; None: one commit

    @property
    def outcome(self) -> Literal["publish", "already released", "refuse"]:
        if self.tag_commit is None:
            return "publish"
        return "refuse" if self.tag_differences else "already released"


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
    manifest: ReleaseManifest | None = None  # the release as published (with RELEASE_NOTES.md)
    notes: str = ""
    pr_url: str | None = None  # with create_pr: the pull request holding the verified release (not tagged)


@dataclass(frozen=True)
class StagedRepo:
    """One staged tree of a release, and the repository it goes to."""

    staged_dir: Path
    manifest: ReleaseManifest
    target: PublishTarget


@dataclass(frozen=True)
class _Committed:
    plan: PublishPlan
    commit: str  # the commit holding the release (the branch head itself when nothing changed)
    pr_url: str | None  # with create_pr: the pull request holding it


def publish_release(staged_dir: Path, manifest: ReleaseManifest, target: PublishTarget) -> PublishResult:
    """Upload ``staged_dir`` as one commit on ``target.branch``, verify it, then tag it.

    :func:`check_before_upload` runs first. The commit's parent is the head seen when planning. When
    another commit lands in between (HTTP 412) the tag is checked again and the release planned once
    more against the new head; the blobs already sent are not sent again. A second 412 stops with :class:`PublishError`.
    """
    check_before_upload([StagedRepo(staged_dir, manifest, target)])
    return _publish_checked(staged_dir, manifest, target)


def _publish_checked(staged_dir: Path, manifest: ReleaseManifest, target: PublishTarget) -> PublishResult:
    """:func:`publish_release` once :func:`check_before_upload` has passed."""
    with hub_errors(target.endpoint, target.repo_id):
        api = connect(target.endpoint, target.token, uploads=True)
        log.info("publishing %s as %s to %s", target.repo_id, whoami(api, target.endpoint), target.endpoint)
        api.create_repo(target.repo_id, repo_type=target.repo_type, private=target.private, exist_ok=True)
        # The notes join the release before anything is compared or sent. They are written into the
        # staged tree only once a commit (or the tag) holds them: a refused or failed publish leaves
        # the staged tree as stage made it.
        release = _signed(target, staged_dir, _with_release_notes(api, target, staged_dir, manifest))
        committed = _commit_release(api, target, staged_dir, release)
        if isinstance(committed, PublishResult):
            return committed
        _write_pending(staged_dir, release.pending)  # the commit holds the notes: the staged tree is the release
        _verify_commit(api, target, staged_dir, release, committed.commit)
        if committed.pr_url is not None:
            # Reviewed releases: the tag waits for the merge; publishing again then tags the merged head.
            log.info(
                "opened %s with the verified release; merge it, then publish again to tag %s",
                committed.pr_url,
                release.tag,
            )
            return _result(target, release, committed.commit, plan=committed.plan, pr_url=committed.pr_url)
        return _tag(api, target, staged_dir, release, committed)


def check_before_upload(repos: Sequence[StagedRepo], *, writing: bool = True) -> None:
    """Every check the Hub would make on the release, over all of ``repos``, before any is created or changed.

    For each repository: its staged tree is complete (:func:`_release_entries`), every file has a name
    the Hub takes (:mod:`release.repo_paths`), and a Hub on another machine accepts its card's
    metadata (``/api/validate-yaml``). Then, when ``writing`` (not for ``--dry-run``, which a read
    token may run), the Hub is asked once per token whether the token may write. The first failure
    raises; nothing has been uploaded then.
    """
    for repo in repos:
        entries = _release_entries(repo.staged_dir, repo.manifest)
        where = f"the {repo.target.repo_type} repository {repo.target.repo_id}"
        check_repo_paths(((path, f"file of {where}") for path in entries), _RENAME_FIX)
    for repo in repos:
        card = repo.staged_dir / CARD_PATH
        if is_remote_hub(repo.target.endpoint) and card.is_file():  # its warnings are logged
            validate_card_online(repo.target, card.read_text(encoding="utf-8"), repo.target.repo_type)
    if writing:
        check_token_writes([repo.target for repo in repos])


def _commit_release(
    api: HfApi, target: PublishTarget, staged_dir: Path, release: ReleaseToPublish
) -> _Committed | PublishResult:
    """The commit holding the release; or, when the tag already holds it, the release as already released.

    When another commit lands between planning and committing (HTTP 412), plans once more.
    """
    from huggingface_hub.errors import HfHubHTTPError

    for attempt in (1, 2):
        existing = _tag_commit(api, target, release.tag)
        if existing is not None:
            released = _already_released(api, target, staged_dir, release, existing)
            _write_pending(staged_dir, release.pending)  # identical to the tagged release
            return released
        plan = _plan(api, target, release.entries, staged_dir, release.pending)
        log.info(
            "plan: %d file(s) to upload (%d bytes), %d unchanged, %d to delete",
            len(plan.add),
            plan.upload_bytes,
            len(plan.unchanged),
            len(plan.delete),
        )
        if needs_chunks(plan, target.max_commit_operations):
            description = _commit_description(plan, release)
            return _Committed(plan, *commit_in_chunks(api, target, staged_dir, plan, release, description))
        try:
            return _Committed(plan, *_commit(api, target, staged_dir, plan, release))
        except HfHubHTTPError as exc:
            if http_status(exc) != 412:
                raise
            if attempt == 1:
                log.warning("another commit landed on %s while publishing: planning again", target.branch)
    raise PublishError(
        f"the branch {target.branch} of {target.repo_id} moved twice while publishing {release.tag} "
        "(other commits keep landing): nothing was committed or tagged; the branch holds what "
        "the other publisher committed. Run the release again when no one else is publishing"
    )


def _verify_commit(api: HfApi, target: PublishTarget, staged_dir: Path, release: ReleaseToPublish, commit: str) -> None:
    problems = compare_tree(release.entries, remote_tree(api, target, commit), staged_dir)
    if problems:
        raise PublishError(
            f"commit {commit} on {target.repo_id} does not match the release; it was NOT tagged:\n  - "
            + "\n  - ".join(problems)
        )


def _tag(
    api: HfApi, target: PublishTarget, staged_dir: Path, release: ReleaseToPublish, committed: _Committed
) -> PublishResult:
    """Tag the verified commit. When another publisher tagged the version meanwhile (HTTP 409), the
    release counts as already released if that tag holds the same tree; else this run's commit is
    undone where it can be, and the release is refused."""
    from huggingface_hub.errors import HfHubHTTPError

    tag, commit = release.tag, committed.commit
    try:
        api.create_tag(
            target.repo_id, tag=tag, revision=commit, repo_type=target.repo_type, tag_message=f"Release {tag}"
        )
    except HfHubHTTPError as exc:
        existing = _tag_commit(api, target, tag) if http_status(exc) == 409 else None
        if existing is None:
            raise
        try:
            return _already_released(api, target, staged_dir, release, existing)
        except PublishError as refusal:
            if commit == committed.plan.head:  # we committed nothing: the branch already held this tree
                raise
            undo = _restore_tagged_tree(api, target, commit, existing, tag)
            raise PublishError(f"{refusal}\n{undo}") from refusal
    log.info("tagged %s at %s", tag, commit)
    return _result(target, release, commit, plan=committed.plan)


def _result(
    target: PublishTarget,
    release: ReleaseToPublish,
    commit: str,
    *,
    plan: PublishPlan | None = None,
    already_released: bool = False,
    pr_url: str | None = None,
) -> PublishResult:
    return PublishResult(
        target.repo_id,
        target.repo_type,
        target.endpoint,
        release.tag,
        commit,
        _repo_url(target),
        already_released,
        plan,
        release.manifest,
        "" if already_released else release.notes,  # an already released version publishes no new notes
        pr_url,
    )


def preview_publish(staged_dir: Path, manifest: ReleaseManifest, target: PublishTarget) -> PublishPreview:
    """What :func:`publish_release` would do, for ``--dry-run``: only reads; creates, uploads and tags nothing."""
    tag = manifest.tag
    _release_entries(staged_dir, manifest)
    with hub_errors(target.endpoint, target.repo_id):
        api = connect(target.endpoint, target.token, uploads=True)
        whoami(api, target.endpoint)
        exists = api.repo_exists(target.repo_id, repo_type=target.repo_type)
        # The release as publishing would make it, without writing the notes into the staged tree.
        release = _with_release_notes(api, target, staged_dir, manifest, exists=exists)
        kind, notes = target.repo_type, release.notes
        if not exists:
            plan = plan_publish(release.entries, {}, None)
            chunk_size = _chunk_size(plan, target)
            return PublishPreview(target.repo_id, target.endpoint, tag, False, None, (), plan, notes, kind, chunk_size)
        existing = _tag_commit(api, target, tag)
        if existing is not None:
            entries, remote = _unsigned(release, remote_tree(api, target, existing))
            found = compare_tree(entries, remote, staged_dir, release.pending)
            differences = _provenance_only(api, target, existing, release.manifest, found)
            return PublishPreview(target.repo_id, target.endpoint, tag, True, existing, differences, None, notes, kind)
        plan = _plan(api, target, release.entries, staged_dir, release.pending)
        chunk_size = _chunk_size(plan, target)
        return PublishPreview(target.repo_id, target.endpoint, tag, True, None, (), plan, notes, kind, chunk_size)


def preview_with_datasets(
    datasets: Sequence[StagedRepo], model: StagedRepo
) -> tuple[tuple[PublishPreview, ...], PublishPreview]:
    """What :func:`publish_with_datasets` would do: each dataset's preview, then the model's. Only reads.

    The model is previewed with the commits of the datasets already released; a dataset still to be
    published has no commit yet, so the model's ``release-manifest.json`` is a few bytes short in the plan.
    """
    previews = tuple(preview_publish(d.staged_dir, d.manifest, d.target) for d in datasets)
    commits = {p.repo_id: p.tag_commit for p in previews if p.outcome == "already released" and p.tag_commit}
    manifest = model.manifest.with_dataset_commits(commits)
    return previews, preview_publish(model.staged_dir, manifest, model.target)


def publish_with_datasets(
    datasets: Sequence[StagedRepo], model: StagedRepo
) -> tuple[tuple[PublishResult, ...], PublishResult | None]:
    """Each dataset's repository, then the model's: each one verified commit, tagged ``v<version>``.

    :func:`check_before_upload` runs over every repository first. Nothing is published unless every
    tag is absent or identical to its release: with datasets, every repository is previewed first
    and one refusal stops the run before any upload. A dataset refused
    later (another publisher tagged it meanwhile) raises before the model is touched. The model's
    ``release-manifest.json`` records the tagged commit of each dataset. With ``create_pr`` the
    datasets go to pull requests and the model waits (None): merge them, then publish again.
    """
    check_before_upload([*datasets, model])
    if datasets:
        previews, model_preview = preview_with_datasets(datasets, model)
        refused = [p for p in (*previews, model_preview) if p.outcome == "refuse"]
        if refused:
            raise PublishError(
                "\n".join(already_released_message(p.tag, p.repo_id, p.repo_type, p.tag_differences) for p in refused)
                + "\nNothing was published: every repository is checked before the first upload."
            )
    results: list[PublishResult] = []
    for dataset in datasets:
        results.append(_publish_checked(dataset.staged_dir, dataset.manifest, dataset.target))
    if any(r.pr_url is not None for r in results):
        log.info("the datasets are in pull requests: merge them, then publish again to tag them and publish the model")
        return tuple(results), None
    manifest = model.manifest.with_dataset_commits({r.repo_id: r.commit for r in results})
    return tuple(results), _publish_checked(model.staged_dir, manifest, model.target)


def released_tag(target: PublishTarget, tag: str) -> bool:
    """Whether ``tag`` exists in ``target``'s repository (False when the repository does not). Only reads."""
    with hub_errors(target.endpoint, target.repo_id):
        api = connect(target.endpoint, target.token)
        return api.repo_exists(target.repo_id, repo_type=target.repo_type) and _tag_commit(api, target, tag) is not None


#: How a difference starts when the release differs from the tagged one only in its provenance.
PROVENANCE_ONLY = "the content is identical; only the provenance differs: "


def provenance_changes(tagged: ReleaseManifest, ours: ReleaseManifest) -> tuple[str, ...] | None:
    """How the source of ``ours`` differs from the tagged release's, when nothing else differs (else None). Pure.

    A dataset commit ``ours`` does not know yet (a preview, before the datasets are published) is taken as the
    tagged one.
    """
    unknown = {d.repo.repo_id for d in ours.datasets if d.repo is not None and d.repo.commit is None}
    tagged_commits = {d.repo.repo_id: d.repo.commit for d in tagged.datasets if d.repo is not None and d.repo.commit}
    ours = ours.with_dataset_commits({r: c for r, c in tagged_commits.items() if r in unknown})
    if replace(tagged, source=ours.source) != ours:
        return None
    before, after = tagged.source, ours.source
    changes = [
        f"{name} {_json_value(old)} -> {_json_value(new)}"
        for name, old, new in (
            ("git_dirty", before.git_dirty, after.git_dirty),
            ("git_commit", before.git_commit, after.git_commit),
        )
        if old != new
    ]
    return tuple(changes) or None


def _json_value(value: object) -> str:
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _provenance_only(
    api: HfApi, target: PublishTarget, commit: str, manifest: ReleaseManifest, differences: Sequence[str]
) -> tuple[str, ...]:
    """The differences; or, when only ``release-manifest.json`` differs and only in its source, one line saying so."""
    if not differences or any(not d.startswith(f"{RELEASE_MANIFEST}:") for d in differences):
        return tuple(differences)
    from huggingface_hub.errors import EntryNotFoundError

    with tempfile.TemporaryDirectory(prefix="model-release-tagged-") as cache:
        try:
            path = api.hf_hub_download(
                target.repo_id, RELEASE_MANIFEST, repo_type=target.repo_type, revision=commit, cache_dir=cache
            )
        except EntryNotFoundError:
            return tuple(differences)
        text = Path(path).read_text(encoding="utf-8")
    try:
        tagged = ReleaseManifest.from_json(text, f"{target.repo_id}@{commit}/{RELEASE_MANIFEST}")
    except StageError:
        return tuple(differences)
    changes = provenance_changes(tagged, manifest)
    if changes is None:
        return tuple(differences)
    fix = f"release from a clean checkout of commit {tagged.source.git_commit}, which finds it already released"
    if tagged.source.git_commit is None:
        fix = "release from a clean checkout of the source it was released from, which finds it already released"
    return (f"{PROVENANCE_ONLY}{', '.join(changes)} (to publish nothing new: {fix})",)


def already_released_message(
    tag: str, repo_id: str, repo_type: str, differences: Sequence[str], *, dry_run: bool = False
) -> str:
    """Why a version released with other content is refused, what to bump, and the first 20 differences.

    The one wording of this refusal, for a model or a dataset repository, published or (``dry_run``) previewed.
    When only the provenance differs (the source commit, the dirty flag), it says so.
    """
    where = f"the dataset repository {repo_id}" if repo_type == "dataset" else repo_id
    refused = "publishing would be refused; " if dry_run else ""
    if len(differences) == 1 and differences[0].startswith(PROVENANCE_ONLY):
        return (
            f"{'dry run: ' if dry_run else ''}{tag} is already released on {where} from another source: "
            f"{differences[0]}. Versions are immutable and record their source: {refused}"
            f"to release this source, {bump_hint(repo_type)}"
        )
    return (
        f"{'dry run: ' if dry_run else ''}{tag} is already released on {where} with different content, and "
        f"versions are immutable: {refused}{bump_hint(repo_type)}. Differences:"
        + "".join(f"\n  - {difference}" for difference in differences[:20])
    )


def bump_hint(repo_type: str) -> str:
    """What to do about a version released with other content: bump it (the dataset's own, or the release's)."""
    if repo_type == "dataset":
        return "bump the dataset's publish.version in the config, or the release's version if it sets none"
    return "bump the version in the config"


def _write_pending(staged_dir: Path, pending: Mapping[str, bytes]) -> None:
    for path, data in sorted(pending.items()):
        if (staged_dir / path).is_file() and (staged_dir / path).read_bytes() == data:
            continue
        write_atomic(staged_dir / path, data.decode("utf-8"))


def _entry_of(path: str, text: str) -> ManifestEntry:
    data = text.encode("utf-8")
    return ManifestEntry(path, len(data), hashlib.sha256(data).hexdigest())


def _with_release_notes(
    api: HfApi, target: PublishTarget, staged_dir: Path, manifest: ReleaseManifest, *, exists: bool = True
) -> ReleaseToPublish:
    """The release with its notes against the previous version tag, and the manifest that lists them.

    Deterministic: the previous version is the highest tag below this one, not the latest one, so
    publishing a version again makes the same notes and finds it "already released".
    """
    files = {e.path: e for e in manifest.files if e.path != NOTES_PATH}
    current = ReleaseSnapshot(manifest.version, files, *_pins_and_metrics(lambda p: _read_staged(staged_dir, p)))
    previous = None
    if exists:
        tags = [t.name for t in api.list_repo_refs(target.repo_id, repo_type=target.repo_type).tags]
        version = previous_version(manifest.version, tags)
        if version is not None:
            previous = _snapshot_at(api, target, version)
    notes = render_notes(diff_releases(previous, current))
    files[NOTES_PATH] = _entry_of(NOTES_PATH, notes)
    updated = replace(manifest, files=tuple(files[p] for p in sorted(files)))
    manifest_json = updated.to_json()
    entries = {e.path: e for e in updated.files}
    entries[RELEASE_MANIFEST] = _entry_of(RELEASE_MANIFEST, manifest_json)
    signature = None if manifest.signature is None else staged_dir / manifest.signature.path
    if signature is not None and signature.is_file():  # stands in until the release is signed again (_signed)
        size, digest = hash_file(signature)
        entries[SIGNATURE_PATH] = ManifestEntry(SIGNATURE_PATH, size, digest)
    pending = {NOTES_PATH: notes.encode("utf-8"), RELEASE_MANIFEST: manifest_json.encode("utf-8")}
    return ReleaseToPublish(updated, notes, entries, pending)


def _signed(target: PublishTarget, staged_dir: Path, release: ReleaseToPublish) -> ReleaseToPublish:
    """A signed release, signed again over the bytes it is published with: the notes and the manifest listing
    them join it at publish, so the staged signature no longer covers them. Unsigned releases as they are."""
    ref = release.manifest.signature
    if ref is None:
        return release
    if target.sign is None:
        raise PublishError(
            f"{staged_dir} is a signed release ({ref.path}, method {ref.method}), but no [sign] table says how to "
            "sign it with its release notes: add the [sign] table it was staged with, or stage again without it"
        )
    from release.signing import sign_files  # model-signing: only for a signed release

    files = {
        p: release.pending[p] if p in release.pending else staged_dir / p for p in release.entries if p != ref.path
    }
    data = sign_files(files, target.sign)
    entry = ManifestEntry(ref.path, len(data), hashlib.sha256(data).hexdigest())
    return replace(release, entries={**release.entries, ref.path: entry}, pending={**release.pending, ref.path: data})


def _unsigned(
    release: ReleaseToPublish, remote: Mapping[str, RemoteFile]
) -> tuple[Mapping[str, ManifestEntry], Mapping[str, RemoteFile]]:
    """The release and a tagged tree, to compare, without the signature: every signing makes other bytes
    (ECDSA, Sigstore), so a signed release is the tagged one when everything it signs is identical."""
    ref = release.manifest.signature
    if ref is None:
        return release.entries, remote
    return (
        {p: e for p, e in release.entries.items() if p != ref.path},
        {p: f for p, f in remote.items() if p != ref.path},
    )


def _pins_and_metrics(read: Callable[[str], str | None]) -> tuple[dict[str, str], dict[str, Any]]:
    lock, card = read("requirements.txt"), read(CARD_PATH)
    return (parse_pins(lock) if lock else {}), (parse_metrics(card) if card else {})


def _read_staged(staged_dir: Path, path: str) -> str | None:
    file = staged_dir / path
    return file.read_text(encoding="utf-8") if file.is_file() else None


def _snapshot_at(api: HfApi, target: PublishTarget, version: str) -> ReleaseSnapshot | None:
    """The previous release, read from its tag on the Hub (None when it has no release manifest)."""
    from huggingface_hub.errors import EntryNotFoundError

    revision = f"v{version}"
    with tempfile.TemporaryDirectory(prefix="model-release-notes-") as cache:

        def read(path: str) -> str | None:
            try:
                local = api.hf_hub_download(
                    target.repo_id, path, repo_type=target.repo_type, revision=revision, cache_dir=cache
                )
            except EntryNotFoundError:
                return None
            return Path(local).read_text(encoding="utf-8")

        text = read(RELEASE_MANIFEST)
        if text is None:
            return None
        previous = ReleaseManifest.from_json(text, f"{target.repo_id}@{revision}/{RELEASE_MANIFEST}")
        files = {e.path: e for e in previous.files}
        return ReleaseSnapshot(version, files, *_pins_and_metrics(read))


def _plan(
    api: HfApi,
    target: PublishTarget,
    entries: Mapping[str, ManifestEntry],
    staged_dir: Path,
    pending: Mapping[str, bytes] | None = None,
) -> PublishPlan:
    head = branch_head(api, target)
    remote = remote_tree(api, target, head) if head else {}
    return plan_publish(entries, remote, head, local_blob_ids(entries, remote, staged_dir, pending))


def check_access(target: PublishTarget) -> str:
    """Before any work: the Hub answers and accepts the token. Returns the token's user name."""
    with hub_errors(target.endpoint, target.repo_id):
        return whoami(connect(target.endpoint, target.token, uploads=True), target.endpoint)


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


def _tag_commit(api: HfApi, target: PublishTarget, tag: str) -> str | None:
    refs = api.list_repo_refs(target.repo_id, repo_type=target.repo_type)
    return next((t.target_commit for t in refs.tags if t.name == tag), None)


def _commit(
    api: HfApi, target: PublishTarget, staged_dir: Path, plan: PublishPlan, release: ReleaseToPublish
) -> tuple[str, str | None]:
    """The commit holding the plan (the head itself when there is nothing to change), and its pull request.

    The files not written into ``staged_dir`` yet (the notes, the manifest) are sent from memory.
    """
    from huggingface_hub import CommitOperationDelete

    additions = [addition(staged_dir, entry, release.pending) for entry in plan.add]
    operations: list[CommitOperationAdd | CommitOperationDelete] = list(additions)
    operations += [CommitOperationDelete(path_in_repo=p) for p in plan.delete]
    if not operations:
        assert plan.head is not None
        log.info("the branch already holds exactly this release")
        return plan.head, None
    info = api.create_commit(
        target.repo_id,
        operations,
        commit_message=f"Release {release.tag}",
        commit_description=_commit_description(plan, release),
        repo_type=target.repo_type,
        revision=target.branch,
        parent_commit=plan.head,
        create_pr=target.create_pr,
    )
    return str(info.oid), (str(info.pr_url) if target.create_pr and info.pr_url else None)


def _chunk_size(plan: PublishPlan, target: PublishTarget) -> int | None:
    """How many operations each commit of ``plan`` holds when it goes in chunks; None when it is one commit."""
    return target.max_commit_operations if needs_chunks(plan, target.max_commit_operations) else None


def _commit_description(plan: PublishPlan, release: ReleaseToPublish) -> str:
    """The notes, what the commit changes, and where the release came from (source and dataset commits)."""
    manifest = release.manifest
    description = f"{release.notes}\n{len(plan.add)} file(s) added or changed, {len(plan.delete)} deleted."
    source = manifest.source.git_commit
    if source:
        description += f"\nSource commit: {source}" + (
            " (with uncommitted changes)" if manifest.source.git_dirty else ""
        )
    for dataset in manifest.datasets:
        if dataset.repo is not None and dataset.repo.commit:
            description += f"\nDataset {dataset.repo.repo_id} {dataset.repo.tag}: commit {dataset.repo.commit}"
    return description


def _already_released(
    api: HfApi, target: PublishTarget, staged_dir: Path, release: ReleaseToPublish, commit: str
) -> PublishResult:
    """The release, already released at ``commit`` (where its tag points); refused when that tree differs."""
    entries, remote = _unsigned(release, remote_tree(api, target, commit))
    found = compare_tree(entries, remote, staged_dir, release.pending)
    problems = _provenance_only(api, target, commit, release.manifest, found)
    if problems:
        raise PublishError(already_released_message(release.tag, target.repo_id, target.repo_type, problems))
    log.info("%s is already released with identical content", release.tag)
    return _result(target, release, commit, already_released=True)


def _restore_tagged_tree(api: HfApi, target: PublishTarget, ours: str, tagged: str, tag: str) -> str:
    """After losing a tag race: put the branch back on the tag's tree, if it still holds our commit ``ours``.

    One more commit whose parent is ``ours`` (so it lands only if nothing else did) and whose tree is
    the tag's: LFS files copied by reference, regular files from the tagged revision, our extra files
    deleted; then the branch's tree is compared with the tag's. Returns what happened, for the error.
    """
    from huggingface_hub import CommitOperationCopy, CommitOperationDelete
    from huggingface_hub.errors import HfHubHTTPError

    branch = target.branch
    head = branch_head(api, target)
    if head != ours:
        return f"The branch {branch} moved on after this run's commit {ours} (it is at {head}): it was left as it is."
    theirs, mine = remote_tree(api, target, tagged), remote_tree(api, target, ours)
    operations: list[CommitOperationCopy | CommitOperationDelete] = [
        CommitOperationCopy(src_path_in_repo=path, path_in_repo=path, src_revision=tagged)
        for path, file in sorted(theirs.items())
        if mine.get(path) != file
    ]
    operations += [CommitOperationDelete(path_in_repo=path) for path in sorted(set(mine) - set(theirs))]
    try:
        info = api.create_commit(
            target.repo_id,
            operations,
            commit_message=f"Restore {tag} after a publishing race",
            commit_description=f"{tag} was tagged at {tagged} by another publisher; this undoes commit {ours}.",
            repo_type=target.repo_type,
            revision=branch,
            parent_commit=ours,
        )
    except HfHubHTTPError as exc:
        status = http_status(exc)
        if status == 412:
            return (
                f"This run's commit {ours} is still in the history of {branch}, but another commit landed on it "
                f"before it could be restored to the tree of {tag}: the branch was left as it is."
            )
        if status is None:
            raise
        return (
            f"Restoring {branch} to the tree of {tag} failed (HTTP {status}): the branch still holds this run's "
            f"commit {ours}, a complete tree that is not {tag}; restore it, or publish a new version"
        )
    if remote_tree(api, target, str(info.oid)) != theirs:
        return f"Restoring {branch} to the tree of {tag} (commit {info.oid}) did not give the tagged tree: check it."
    return f"This run's commit {ours} was undone: {branch} holds the tree of {tag} again (commit {info.oid})."


def _repo_url(target: PublishTarget) -> str:
    prefix = "datasets/" if target.repo_type == "dataset" else ""
    return f"{target.endpoint}/{prefix}{target.repo_id}"
