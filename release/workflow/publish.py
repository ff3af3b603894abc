"""``publish`` (the trees ``stage`` left) and ``release`` (lock check, checksum, card, stage, then publish).

Each dataset published as a repository of its own goes first, then the model. With ``dry_run`` each
repository is previewed instead: the Hub is only read, and ``release`` stages into a throwaway folder.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from release.checksum_stage import Progress
from release.config import Config, RepoType
from release.errors import PublishError
from release.libraries import unreleased_model_files
from release.pipeline import (
    StagedRelease,
    StagedTree,
    apply_release,
    check_locks,
    plan_release,
    read_staged,
    staged_trees,
)
from release.publish import (
    PublishPreview,
    PublishResult,
    StagedRepo,
    already_released_message,
    check_access,
    check_before_upload,
    preview_with_datasets,
    publish_with_datasets,
    released_tag,
)
from release.publish_plan import PublishTarget
from release.stage import RELEASE_MANIFEST
from release.workflow.hub import check_repo_ids, connect, hub_token
from release.workflow.outcomes import (
    AlreadyReleased,
    Changes,
    DryRunReport,
    InPullRequest,
    Planned,
    Published,
    PublishReport,
    Refused,
    Repo,
    RepoOutcome,
    WaitingForDatasets,
    WouldBeAlreadyReleased,
    WouldPublish,
)

Command = Literal["publish", "release"]


@dataclass(frozen=True)
class PublishOptions:
    dry_run: bool = False  # preview: read the Hub, change nothing
    create_pr: bool = False  # open pull requests instead of committing to the branch (or [publish] create_pr)


def publish(config: Config, options: PublishOptions) -> PublishReport | DryRunReport:
    """Publish the trees an earlier ``stage`` left (they must be of the configured repository and version)."""
    check_repo_ids(config)
    token = hub_token(config)
    datasets, model = read_staged(config)
    return _publish_trees(config, options, datasets, model, token, command="publish")


def release(config: Config, options: PublishOptions, progress: Progress | None = None) -> PublishReport | DryRunReport:
    """Check the token and the locks, stage every tree, then publish them (or preview, with ``dry_run``).

    A release the Hub would refuse (a tag holding other content) is refused before anything is written:
    the project, its build outputs and its staged trees stay as they were.
    """
    check_repo_ids(config)
    token = hub_token(config)
    if token is not None:
        check_access(PublishTarget(config.endpoint, config.repo_id, config.repo_type, token))
    check_locks(config)
    # The throwaway folder of a dry run's trees, or of the trees previewed before a release is applied.
    with tempfile.TemporaryDirectory(prefix="model-release-scratch-") as scratch:
        planned = plan_release(config, progress)
        if options.dry_run:  # a dry run changes nothing under the project: the trees are staged in scratch
            staged = apply_release(config, planned, scratch=Path(scratch))
        else:
            _refuse_before_writing(config, planned, token, Path(scratch))
            staged = apply_release(config, planned)
        datasets, model = staged_trees(config, staged)
        report = _publish_trees(config, options, datasets, model, token, command="release", warnings=staged.warnings)
    if isinstance(report, DryRunReport) and config.model is not None:
        return replace(report, unreleased=unreleased_model_files(config))
    return report


def _refuse_before_writing(config: Config, planned: StagedRelease, token: str | None, scratch: Path) -> None:
    """Raise the refusal publishing would end with, before anything is written under the project.

    Only when one of the release's tags already exists: its trees are then staged in ``scratch`` and
    previewed against the Hub, and a tag holding other content stops the release here.
    """
    if config.is_local_endpoint and not (config.root / ".hub").exists():
        return  # the embedded Hub has no storage yet: no tag exists
    with connect(config, token, read_only=True) as (url, run_token):
        tags: list[tuple[str, RepoType, str]] = [
            (d.repo.repo_id, "dataset", d.plan.manifest.tag) for d in planned.datasets
        ]
        tags.append((config.repo_id, config.repo_type, planned.plan.manifest.tag))
        if not any(released_tag(PublishTarget(url, repo_id, kind, run_token), tag) for repo_id, kind, tag in tags):
            return
        datasets, model = staged_trees(config, apply_release(config, planned, scratch=scratch))

        def staged(tree: StagedTree) -> StagedRepo:
            return StagedRepo(
                tree.directory, tree.manifest, PublishTarget(url, tree.repo_id, tree.repo_type, run_token)
            )

        previews, preview = preview_with_datasets([staged(d) for d in datasets], staged(model))
    refused = [p for p in (*previews, preview) if p.outcome == "refuse"]
    if refused:
        raise PublishError(
            "\n".join(already_released_message(p.tag, p.repo_id, p.repo_type, p.tag_differences) for p in refused)
            + "\nNothing was published, and nothing under the project was written (the card, build/ and the "
            "staged trees are as they were)."
        )


def _publish_trees(
    config: Config,
    options: PublishOptions,
    datasets: Sequence[StagedTree],
    model: StagedTree,
    token: str | None,
    *,
    command: Command,
    warnings: tuple[str, ...] | None = None,
) -> PublishReport | DryRunReport:
    create_pr = options.create_pr or config.create_pr
    with connect(config, token, read_only=options.dry_run) as (url, run_token):

        def staged(tree: StagedTree) -> StagedRepo:
            sign = config.sign if tree.repo_id == config.repo_id else None  # [sign] signs the model's release
            target = PublishTarget(
                url,
                tree.repo_id,
                tree.repo_type,
                run_token,
                private=tree.private,
                create_pr=create_pr,
                sign=sign,
                max_commit_operations=config.max_commit_operations,
            )
            return StagedRepo(tree.directory, tree.manifest, target)

        if options.dry_run:
            check_before_upload([staged(d) for d in (*datasets, model)], writing=False)
            previews, preview = preview_with_datasets([staged(d) for d in datasets], staged(model))
            # release --dry-run staged into a throwaway folder: it names no staged tree
            shown = command == "publish"
            planned = tuple(_planned(p, d, config.endpoint, shown) for p, d in zip(previews, datasets, strict=True))
            return DryRunReport(command, _planned(preview, model, config.endpoint, shown), planned, warnings)
        results, result = publish_with_datasets([staged(d) for d in datasets], staged(model))
    sent = tuple(_sent(r, d, config.endpoint) for r, d in zip(results, datasets, strict=True))
    if result is None:  # the datasets wait in pull requests; the model is published once they are tagged
        repo = Repo(
            config.repo_id, config.repo_type, model.manifest.version, config.tag, config.endpoint, model.directory
        )
        return PublishReport(command, WaitingForDatasets(repo), sent, warnings=warnings)
    storage = config.root / ".hub" if config.is_local_endpoint else None
    return PublishReport(command, _sent(result, model, config.endpoint), sent, storage, warnings)


def _sent(result: PublishResult, tree: StagedTree, endpoint: str) -> RepoOutcome:
    """What publishing one repository did."""
    repo = Repo(result.repo_id, result.repo_type, tree.manifest.version, result.tag, endpoint, tree.directory)
    published = result.manifest or tree.manifest
    files = len(published.files) + 1  # release-manifest.json, with the dataset commits of this run
    size = published.total_size + (tree.directory / RELEASE_MANIFEST).stat().st_size
    if published.signature is not None:  # a signed release ships its signature too, which the manifest names
        files += 1
        size += (tree.directory / published.signature.path).stat().st_size
    changes = None if result.plan is None else Changes(tuple(e.path for e in result.plan.add), result.plan.delete)
    url = result.url if endpoint != "local" else None
    if result.already_released:
        return AlreadyReleased(repo, result.commit, url, files, size, changes, result.notes)
    if result.pr_url is not None:
        return InPullRequest(repo, result.commit, url, files, size, changes, result.notes, result.pr_url)
    return Published(repo, result.commit, url, files, size, changes, result.notes)


def _planned(preview: PublishPreview, tree: StagedTree, endpoint: str, shown: bool) -> Planned:
    """What publishing one repository would do."""
    directory = tree.directory if shown else None
    repo = Repo(preview.repo_id, preview.repo_type, tree.manifest.version, preview.tag, endpoint, directory)
    size = tree.manifest.total_size
    if preview.outcome == "publish":
        assert preview.plan is not None, "a preview plans a commit unless the tag exists"
        return WouldPublish(repo, preview.repo_exists, preview.plan, preview.notes, preview.chunk_size)
    assert preview.tag_commit is not None, "a preview finds the tag's commit when the tag exists"
    if preview.outcome == "already released":
        return WouldBeAlreadyReleased(repo, preview.repo_exists, preview.tag_commit, size)
    refusal = already_released_message(repo.tag, repo.repo_id, repo.repo_type, preview.tag_differences, dry_run=True)
    return Refused(repo, preview.repo_exists, preview.tag_commit, preview.tag_differences, size, refusal)
