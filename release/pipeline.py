"""The stages in order, for one configuration: lock, checksum -> card -> stage, and the staged trees publish reads.

Planning and writing are apart. :func:`plan_release` only reads: it returns every manifest, card and
staged tree as a :class:`StagedRelease` value. :func:`apply_build` is the one place the checksum and
card stages write under the project (manifests, hash cache, README.md, ``.eval_results/``), and
:func:`stage_release` applies a plan (:func:`apply_release`): into ``stage_dir``, or for a dry run into a
throwaway folder, leaving the project as it was. Nothing here prints or reads the token from the environment.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from release.atomic import write_atomic
from release.card_stage import Card, build_card, build_dataset_card
from release.checksum import Manifest
from release.checksum_stage import RENAME_FIX, Checksums, Progress, compute_checksums
from release.config import Config, DatasetConfig, DatasetRepoConfig
from release.errors import Finding, StaleLockError, UsageError
from release.gate import GateConfig, check_gate, format_finding, run_gate
from release.layout import DATASET_DATA_DIR, dataset_staged_dir, shipped_locks, staged_dir
from release.lock.envfile import write_environment_yml
from release.lock.pip import PipIndex, check_requirements_lock, lock_requirements
from release.lock.snapshot import write_snapshot
from release.process import ProcessError, run
from release.repo_paths import check_repo_paths
from release.signing import SIGNATURE_PATH
from release.stage import (
    DatasetInput,
    DatasetRepoRef,
    LinkMode,
    ReleaseManifest,
    SignatureRef,
    SourceInfo,
    StagePlan,
    apply_stages,
    plan_stage,
    read_release_manifest,
)
from release.verify import check_outputs

if TYPE_CHECKING:
    from release.lock.conda import CondaLockOptions

log = logging.getLogger(__name__)


# --- the lock stage -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockOutcome:
    """What the lock stage wrote; each part is None when that lock is not configured."""

    written: tuple[str, ...]
    pins: int | None = None  # requirements.txt
    input_sha256: str | None = None
    resolver: str | None = None
    conda_platforms: tuple[str, ...] | None = None  # conda-lock.yml
    conda_packages: dict[str, int] | None = None
    environment_python: str | None = None  # the environment.yml written for conda users
    drift_different: tuple[tuple[str, str, str], ...] | None = None  # environment.json vs the lock
    drift_missing: tuple[str, ...] = ()


def lock_environments(config: Config, *, python: str) -> LockOutcome:
    """The lock stage: pip lock, conda lock (or an environment.yml for conda users), snapshot."""
    lock = config.lock
    written: list[str] = []
    outcome = LockOutcome(())
    if lock.requirements_in.exists() or not lock.environment_yml:
        index = PipIndex(lock.index_url, lock.extra_index_urls, lock.find_links, lock.no_index)
        result = lock_requirements(lock.requirements_in, lock.requirements_txt, index, lock.resolver)
        written.append(str(result.path))
        outcome = replace(outcome, pins=result.pins, input_sha256=result.input_sha256, resolver=lock.resolver)
    if lock.environment_yml is not None:
        from release.lock.conda import lock_conda  # conda-lock and rattler: ~1.8 s, only for conda projects

        assert lock.conda_lock is not None
        conda = lock_conda(lock.environment_yml, lock.conda_lock, conda_options(config))
        written += [str(conda.path), *(str(p) for p in conda.explicit)]
        outcome = replace(outcome, conda_platforms=conda.platforms, conda_packages=dict(conda.packages))
    elif lock.generated_environment_yml is not None and lock.requirements_txt.is_file():
        python_pin = write_environment_yml(lock.generated_environment_yml, config.repo_name, lock.requirements_txt)
        written.append(str(lock.generated_environment_yml))
        outcome = replace(outcome, environment_python=python_pin)
    if lock.snapshot is not None:
        snapshot = write_snapshot(lock.snapshot, python, lock.requirements_txt)
        written.append(str(lock.snapshot))
        outcome = replace(outcome, drift_different=snapshot.drift.different, drift_missing=snapshot.drift.missing)
    return replace(outcome, written=tuple(written))


def conda_options(config: Config) -> CondaLockOptions:
    from release.lock.conda import CondaLockOptions  # conda-lock and rattler: ~1.8 s, only for conda projects

    lock = config.lock
    return CondaLockOptions(
        platforms=lock.platforms,
        virtual_packages=lock.virtual_packages,
        channel_alias=lock.channel_alias,
        pypi_mapping=lock.pypi_mapping,
        explicit_files=lock.explicit_files,
    )


def check_locks(config: Config) -> list[Path]:
    """A release ships the committed locks: stop, naming every stale file, when one no longer matches its input.

    Returns the locks that were checked. Reads files only: no network.
    """
    lock = config.lock
    checked: list[Path] = []
    stale: list[str] = []
    if lock.requirements_in.exists() or lock.requirements_txt.exists():
        try:
            check_requirements_lock(lock.requirements_in, lock.requirements_txt)
            checked.append(lock.requirements_txt)
        except StaleLockError as exc:
            stale.append(str(exc))
    if lock.environment_yml is not None:
        from release.lock.conda import check_conda_lock  # conda-lock and rattler: ~1.8 s, only for conda projects

        assert lock.conda_lock is not None
        try:
            check_conda_lock(lock.environment_yml, lock.conda_lock, conda_options(config))
            checked.append(lock.conda_lock)
        except StaleLockError as exc:
            stale.append(str(exc))
    if stale:
        raise StaleLockError("\n".join(stale))
    return checked


# --- checksum -> card -> stage --------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetRelease:
    """A dataset published as a dataset repository of its own: its configuration, tree and card."""

    dataset: DatasetConfig
    repo: DatasetRepoConfig  # dataset.publish
    plan: StagePlan
    card: Card


@dataclass(frozen=True)
class StagedRelease:
    """The plan of one release: its manifests, the model's card, and every tree it publishes (the datasets'
    repositories first, in config order, then the model's)."""

    checksums: Checksums
    plan: StagePlan
    card: Card
    datasets: tuple[DatasetRelease, ...] = ()
    gate_warnings: tuple[str, ...] = ()  # the safety gate's warnings over the built trees, once staged

    @property
    def plans(self) -> tuple[StagePlan, ...]:
        return (*(d.plan for d in self.datasets), self.plan)

    @property
    def warnings(self) -> tuple[str, ...]:
        """The cards' warnings (each dataset's, then the model's), then the safety gate's, tree by tree."""
        return (*(w for d in self.datasets for w in d.card.warnings), *self.card.warnings, *self.gate_warnings)


def plan_release(config: Config, progress: Progress | None = None) -> StagedRelease:
    """checksum -> cards -> the plan of every tree: each published dataset's, then the model's. Writes nothing.

    Every card is validated before anything is staged.
    """
    checksums = compute_checksums(config, progress)  # refuses a file name the Hub would refuse
    source = source_info(config.root)
    datasets = tuple(  # their cards are checked before the model's
        plan_dataset_release(config, index, manifest, source)
        for index, (dataset, manifest) in enumerate(zip(config.datasets, checksums.datasets, strict=True))
        if dataset.publish is not None
    )
    card = build_card(config, checksums)
    return StagedRelease(checksums, plan_release_tree(config, checksums, card, source), card, datasets)


def apply_build(checksums: Checksums, card: Card | None = None) -> tuple[Path, ...]:
    """Write what the checksum and card stages planned; returns the files written, the manifests first.

    The hash cache, the manifests under ``build_dir/checksums``, then the card and its ``.eval_results/``
    files; ``.eval_results/*.yaml`` files no longer rendered are removed (with ``card.eval_results_dir``).
    """
    checksums.cache.save()
    files = checksums.outputs()
    if card is not None:
        files.update(card.outputs())
    for path, text in files.items():
        write_atomic(path, text)
    for stale in card.stale_files() if card is not None else []:
        stale.unlink()  # a benchmark no longer in the results: .eval_results/ is ours to keep exact
    return tuple(files)


def stage_release(config: Config, progress: Progress | None = None, *, scratch: Path | None = None) -> StagedRelease:
    """checksum -> card -> stage: the exact release trees under ``stage_dir``, each checked by the safety gate.

    Every tree passes the gate before any is moved into place. With ``scratch`` (a dry run) nothing
    under the project changes: the plan is not applied to it, the trees are built under ``scratch``,
    their files symbolic links to the sources (nothing is copied).
    """
    return apply_release(config, plan_release(config, progress), scratch=scratch)


def apply_release(config: Config, staged: StagedRelease, *, scratch: Path | None = None) -> StagedRelease:
    """Apply a plan of :func:`plan_release`: what :func:`stage_release` does once the plan is made."""
    link: LinkMode = "hard"
    if scratch is None:
        apply_build(staged.checksums, staged.card)
    else:
        staged = _moved_to(staged, config.stage_dir, scratch)
        link = "symbolic"
    gate_warnings: list[str] = []

    def inspect(plan: StagePlan, built: Path) -> None:
        gate_warnings.extend(_gate_and_sign(config, plan, built, sign=scratch is None))

    apply_stages(staged.plans, inspect=inspect, link=link)
    staged = replace(staged, gate_warnings=tuple(gate_warnings))
    if scratch is None:
        cache = staged.checksums.cache
        cache.after_link(f.origin for plan in staged.plans for f in plan.files if isinstance(f.origin, Path))
        cache.save()
    for plan in staged.plans:
        log.info("staged %d files (%d bytes) in %s", len(plan.files), sum(f.size for f in plan.files), plan.dest)
    return staged


def plan_dataset_release(config: Config, index: int, manifest: Manifest, source: SourceInfo) -> DatasetRelease:
    """The tree of a dataset's own repository: its card, its data under data/, its manifests, release-manifest.json.

    A dataset with its own version records no source commit: releases of the model made from
    other commits then find it already released, as long as its data and card are unchanged.
    """
    dataset = config.datasets[index]
    repo = dataset.publish
    assert repo is not None
    card = build_dataset_card(config, index, manifest)
    plan = plan_stage(
        dest=dataset_staged_dir(config, dataset),
        repo_id=repo.repo_id,
        repo_type="dataset",
        version=repo.version,
        card=card.text,
        model=None,
        datasets=[DatasetInput(manifest, dataset.dir, True, path=DATASET_DATA_DIR)],
        locks={},
        source=SourceInfo() if repo.own_version else source,
    )
    return DatasetRelease(dataset, repo, plan, card)


def plan_release_tree(config: Config, checksums: Checksums, card: Card, source: SourceInfo) -> StagePlan:
    datasets = [
        DatasetInput(
            manifest,
            dataset.dir,
            dataset.include_data,
            repo=DatasetRepoRef(dataset.publish.repo_id, dataset.publish.tag) if dataset.publish else None,
        )
        for manifest, dataset in zip(checksums.datasets, config.datasets, strict=True)
    ]
    spec = card.verify
    plan = plan_stage(
        dest=staged_dir(config),
        repo_id=config.repo_id,
        repo_type=config.repo_type,
        version=config.version,
        card=card.text,
        model=(checksums.model, config.model.dir) if checksums.model and config.model else None,
        datasets=datasets,
        locks=shipped_locks(config),
        source=source,
        extra=dict(card.eval_results),  # the .eval_results/ files rendered with the card
        verify=spec,
        signature=SignatureRef(SIGNATURE_PATH, config.sign.method) if config.sign is not None else None,
    )
    if spec is not None:
        check_outputs(spec, [f.path for f in plan.files], str(config.path))
    return plan


def _gate_and_sign(config: Config, plan: StagePlan, built: Path, *, sign: bool) -> list[str]:
    """The safety gate over a built tree; then, for a signed release ([sign]), its signature over every file.

    Returns the gate's warnings, each naming the repository. A dry run (``sign`` false: its tree is
    symbolic links) signs nothing: Sigstore would ask for an identity.
    """
    findings = run_safety_gate(config, [(f.path, built / f.path) for f in plan.files])
    if sign and config.sign is not None and plan.manifest.signature is not None:
        from release.signing import sign_tree

        sign_tree(built, config.sign)
    return [f"{plan.manifest.repo_id}: {format_finding(f)}" for f in findings if f.severity == "warning"]


def _moved_to(staged: StagedRelease, stage_dir: Path, scratch: Path) -> StagedRelease:
    def moved(plan: StagePlan) -> StagePlan:
        return replace(plan, dest=scratch / plan.dest.relative_to(stage_dir))

    datasets = tuple(replace(d, plan=moved(d.plan)) for d in staged.datasets)
    return replace(staged, plan=moved(staged.plan), datasets=datasets)


def run_safety_gate(config: Config | None, files: list[tuple[str, Path]]) -> list[Finding]:
    """The safety gate over release files: warnings are logged, errors raise UnsafeArtifactError."""
    findings = run_gate(files, gate_config(config))
    for finding in findings:
        if finding.severity == "warning":
            log.warning("%s", format_finding(finding))
    check_gate(findings)
    return findings


def gate_config(config: Config | None) -> GateConfig:
    if config is None:
        return GateConfig()
    gate = config.gate
    return GateConfig(
        allow_pickles=dict(gate.allow_pickles),
        warn_size=gate.warn_size,
        max_file_size=gate.max_file_size,
        secret_exclude=gate.secret_exclude,
    )


def source_info(root: Path) -> SourceInfo:
    """The git commit of the project, and whether the work tree has uncommitted changes."""
    try:
        commit = run(["git", "rev-parse", "HEAD"], cwd=root, what="read the git commit").stdout.strip()
        # --no-optional-locks: only read, never refresh the index (a dry run changes nothing).
        status = ["git", "--no-optional-locks", "status", "--porcelain"]
        dirty = bool(run(status, cwd=root, what="read the git commit").stdout.strip())
    except ProcessError:
        log.info("%s is not a git checkout: the release records no source commit", root)
        return SourceInfo()
    return SourceInfo(commit, dirty)


# --- the staged trees, for publish ----------------------------------------------------------------


@dataclass(frozen=True)
class StagedTree:
    """One staged tree ready to publish, and the repository it goes to."""

    directory: Path
    manifest: ReleaseManifest
    repo_id: str
    repo_type: Literal["model", "dataset"]
    private: bool


def staged_trees(config: Config, staged: StagedRelease) -> tuple[tuple[StagedTree, ...], StagedTree]:
    """The trees a release just staged: each dataset's, then the model's."""
    datasets = tuple(
        StagedTree(d.plan.dest, d.plan.manifest, d.repo.repo_id, "dataset", d.repo.private) for d in staged.datasets
    )
    model = StagedTree(staged.plan.dest, staged.plan.manifest, config.repo_id, config.repo_type, config.private)
    return datasets, model


def read_staged(config: Config) -> tuple[tuple[StagedTree, ...], StagedTree]:
    """The trees an earlier ``stage`` left under ``stage_dir``: each published dataset's, then the model's.

    Each must hold the repository and version the configuration names now.
    """
    model = _read_tree(staged_dir(config), config.repo_id, config.repo_type, config.version, config.private)
    datasets = tuple(
        _read_tree(dataset_staged_dir(config, d), d.publish.repo_id, "dataset", d.publish.version, d.publish.private)
        for d in config.datasets
        if d.publish is not None
    )
    return datasets, model


def _read_tree(
    directory: Path, repo_id: str, repo_type: Literal["model", "dataset"], version: str, private: bool
) -> StagedTree:
    manifest = read_release_manifest(directory)
    check_repo_paths(((f.path, f"file staged in {directory}") for f in manifest.files), RENAME_FIX)
    if manifest.version != version or manifest.repo_id != repo_id:
        raise UsageError(
            f"{directory} holds {manifest.repo_id} {manifest.version}, not {repo_id} {version}: "
            "run the stage step again"
        )
    return StagedTree(directory, manifest, repo_id, repo_type, private)


@contextmanager
def local_hub(config: Config, *, read_only: bool = False) -> Iterator[tuple[str, str]]:
    """The embedded Hub for ``endpoint = "local"``: (URL, a token valid for this run only).

    The token writes the namespaces of the release's repositories. ``read_only`` (a dry run):
    when the project has no ``.hub`` yet, an empty throwaway one serves instead of creating it.
    """
    from release.hub.server import HubServer, Token  # the emulator: only for endpoint = "local"

    storage = config.root / ".hub"
    token = secrets.token_urlsafe(24)
    namespace = config.repo_id.split("/", 1)[0]
    others = {d.publish.repo_id.split("/", 1)[0] for d in config.datasets if d.publish} - {namespace}
    tokens = [Token(user=namespace, value=token, role="write", any_namespace=bool(others))]
    with ExitStack() as stack:
        if read_only and not storage.exists():
            storage = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="model-release-hub-"))) / "hub"
        server = stack.enter_context(HubServer(storage, tokens))
        yield server.url, token
