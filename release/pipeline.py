"""The stages in order, for one configuration: what ``stage`` and ``release`` run.

Each function here takes the :class:`~release.config.Config` and the results of the stages before
it, and returns a frozen value; the CLI prints them. Nothing here prints or reads the token from the
environment.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from release.atomic import write_atomic
from release.card import (
    DATASET_TEMPLATE_NAME,
    EVAL_RESULTS_DIR,
    CardMetadata,
    EvalResultsFile,
    eval_results_files,
    load_eval_results,
    load_metadata,
    render_card,
    validate_metadata,
    with_datasets,
    with_eval_results,
    with_published_datasets,
)
from release.checksum import HashCache, Manifest, ProgressCallback, build_manifest, collect_files, hash_file
from release.config import Config, DatasetConfig, DatasetRepoConfig
from release.errors import ChecksumError
from release.stage import (
    CARD_PATH,
    DatasetInput,
    DatasetRepoRef,
    LinkMode,
    SourceInfo,
    StagePlan,
    apply_stages,
    plan_stage,
)

log = logging.getLogger(__name__)


class Progress(Protocol):
    """Where long work reports bytes done (the CLI shows a bar; tests pass nothing)."""

    def task(self, description: str, total: int) -> AbstractContextManager[ProgressCallback]: ...


@dataclass(frozen=True)
class Checksums:
    model: Manifest | None
    datasets: tuple[Manifest, ...]
    written: tuple[Path, ...]  # the manifest files under build_dir/checksums

    @property
    def total_size(self) -> int:
        return (self.model.total_size if self.model else 0) + sum(d.total_size for d in self.datasets)


@dataclass(frozen=True)
class Card:
    text: str
    metadata: CardMetadata
    warnings: tuple[str, ...]
    path: Path  # where the rendered card is written (card.output, default build_dir/README.md)
    eval_results: tuple[tuple[str, str], ...] = ()  # (".eval_results/<id>.yaml", YAML), with card.eval_results_dir

    def outputs(self) -> dict[Path, str]:
        """Every file ``card`` writes: README.md, and the .eval_results/ files beside it."""
        files = {self.path: self.text}
        files.update({self.path.parent / name: text for name, text in self.eval_results})
        return files

    @property
    def eval_results_dir(self) -> Path:
        return self.path.parent / EVAL_RESULTS_DIR


#: Where a published dataset's files go in its own repository; its manifests are data.json and data.sha256.
DATASET_DATA_DIR = "data"


@dataclass(frozen=True)
class DatasetRelease:
    """A dataset published as a dataset repository of its own: its configuration, tree and card."""

    dataset: DatasetConfig
    repo: DatasetRepoConfig  # dataset.publish
    plan: StagePlan
    card: Card


@dataclass(frozen=True)
class StagedRelease:
    """Every tree one release publishes: the datasets' repositories (first, in config order), then the model's."""

    plan: StagePlan
    card: Card
    datasets: tuple[DatasetRelease, ...] = ()

    @property
    def plans(self) -> tuple[StagePlan, ...]:
        return (*(d.plan for d in self.datasets), self.plan)


def lock_environments(config: Config, *, python: str) -> dict[str, Any]:
    """The lock stage: pip lock, conda lock (or an environment.yml for conda users), snapshot."""
    from release.lock.envfile import write_environment_yml
    from release.lock.pip import PipIndex, lock_requirements
    from release.lock.snapshot import write_snapshot

    lock = config.lock
    written: list[str] = []
    outcome: dict[str, Any] = {}
    if lock.requirements_in.exists() or not lock.environment_yml:
        index = PipIndex(lock.index_url, lock.extra_index_urls, lock.find_links, lock.no_index)
        result = lock_requirements(lock.requirements_in, lock.requirements_txt, index, lock.resolver)
        written.append(str(result.path))
        outcome.update(pins=result.pins, input_sha256=result.input_sha256, resolver=lock.resolver)
    if lock.environment_yml is not None:
        from release.lock.conda import lock_conda

        assert lock.conda_lock is not None
        conda = lock_conda(lock.environment_yml, lock.conda_lock, conda_options(config))
        written += [str(conda.path), *(str(p) for p in conda.explicit)]
        outcome.update(conda_platforms=list(conda.platforms), conda_packages=dict(conda.packages))
    elif lock.generated_environment_yml is not None and lock.requirements_txt.is_file():
        name = config.repo_name
        outcome["environment_python"] = write_environment_yml(
            lock.generated_environment_yml, name, lock.requirements_txt
        )
        written.append(str(lock.generated_environment_yml))
    if lock.snapshot is not None:
        snapshot = write_snapshot(lock.snapshot, python, lock.requirements_txt)
        written.append(str(lock.snapshot))
        outcome["drift"] = {
            "different": [list(d) for d in snapshot.drift.different],
            "missing": list(snapshot.drift.missing),
        }
    outcome["written"] = written
    return outcome


def conda_options(config: Config) -> Any:
    from release.lock.conda import CondaLockOptions

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
    from release.errors import StaleLockError
    from release.lock.pip import check_requirements_lock

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
        from release.lock.conda import check_conda_lock

        assert lock.conda_lock is not None
        try:
            check_conda_lock(lock.environment_yml, lock.conda_lock, conda_options(config))
            checked.append(lock.conda_lock)
        except StaleLockError as exc:
            stale.append(str(exc))
    if stale:
        raise StaleLockError("\n".join(stale))
    return checked


def compute_checksums(config: Config, progress: Progress | None = None, *, write: bool = True) -> Checksums:
    """SHA-256 manifests of the model files and every dataset, written under ``build_dir/checksums``.

    With ``write=False`` (a dry run) nothing is written: neither the manifests nor the hash cache.
    """
    model_files = _model_files(config)
    roots: list[tuple[str, Path, tuple[str, ...], tuple[str, ...]]] = []
    if config.model is not None:
        roots.append(("model", config.model.dir, config.model.include, config.model.exclude))
    for dataset in config.datasets:
        if not dataset.dir.is_dir():
            raise ChecksumError(
                f"dataset {dataset.name!r}: folder {dataset.dir} does not exist (datasets in {config.path})"
            )
        roots.append((dataset.name, dataset.dir, ("**/*",), ()))
    total = 0
    if progress is not None:  # a bar needs a total: one more walk and stat, only when someone watches
        total = sum(p.stat().st_size for _, p in model_files) + sum(
            p.stat().st_size for d in config.datasets for _, p in collect_files(d.dir)
        )
    manifests: list[Manifest] = []
    cache = HashCache.load(config.build_dir / "sha256-cache.json")
    with _task(progress, "sha256", total) as advance:
        for name, root, include, exclude in roots:
            manifests.append(build_manifest(root, include, exclude, name=name, progress=advance, cache=cache))
    if write:
        cache.save()
    model = manifests.pop(0) if config.model is not None else None
    out = config.build_dir / "checksums"
    written = []
    for manifest in (([model] if model else []) + manifests) if write else []:
        assert manifest.name is not None
        for suffix, text in ((".json", manifest.to_json()), (".sha256", manifest.to_sha256sum())):
            path = out / f"{manifest.name}{suffix}"
            write_atomic(path, text)
            written.append(path)
    return Checksums(model, tuple(manifests), tuple(written))


def build_card(config: Config, checksums: Checksums, *, write: bool = True) -> Card:
    """Validate the card metadata, then render README.md (and .eval_results/) to ``card.output``.

    With ``write=False`` nothing is written: ``card --check`` compares the result with the disk.
    """
    metadata = load_metadata(config.card.metadata, config.card.metadata_file, config.path.name)
    results_file = _eval_results(config)
    results = results_file.model_index_results() if results_file else []
    if config.repo_type == "model":
        metadata = with_eval_results(metadata, results, config.repo_name)
        metadata = with_datasets(metadata, [d.publish.repo_id for d in config.datasets if d.publish])
    warnings = validate_metadata(metadata, config.repo_type)
    extra = eval_results_files(results_file) if results_file and config.card.eval_results_dir else {}
    digests = {m.name or "": _manifest_digest(m) for m in checksums.datasets}
    context = card_context(config, metadata, checksums, digests, results, sorted(extra))
    text = render_card(metadata.data, context, config.card.template)
    card = Card(
        text, metadata, warnings, config.card.output or config.build_dir / "README.md", tuple(sorted(extra.items()))
    )
    if write:
        for path, content in card.outputs().items():
            write_atomic(path, content)
        owned = config.card.eval_results_dir and card.eval_results_dir.is_dir()  # never someone else's files
        for stale in sorted(card.eval_results_dir.glob("*.yaml")) if owned else []:
            if stale not in card.outputs():
                stale.unlink()  # a benchmark no longer in the results: .eval_results/ is ours to keep exact
    return card


def render_cards(config: Config, *, write: bool = True) -> Card:
    """The ``card`` stage: checksums, then every card, the model's rendered to ``card.output``.

    The cards of datasets published as repositories of their own are validated too (they are staged
    later); their warnings come first in the returned card's. With ``write=False`` (``card --check``)
    no card and no checksum manifest is written.
    """
    checksums = compute_checksums(config, write=write)
    dataset_warnings = [
        warning
        for index, (dataset, manifest) in enumerate(zip(config.datasets, checksums.datasets, strict=True))
        if dataset.publish is not None
        for warning in build_dataset_card(config, index, manifest).warnings
    ]
    card = build_card(config, checksums, write=write)
    return replace(card, warnings=(*dataset_warnings, *card.warnings))


def _eval_results(config: Config) -> EvalResultsFile | None:
    """The validated results file; results on a dataset this release publishes name its repository and tag."""
    if not config.card.eval_results:
        return None
    results_file = load_eval_results(config.card.eval_results)
    published = {d.name: (d.publish.repo_id, d.publish.tag) for d in config.datasets if d.publish}
    return replace(results_file, results=tuple(with_published_datasets(results_file.results, published)))


def card_context(
    config: Config,
    metadata: CardMetadata,
    checksums: Checksums,
    manifest_digests: dict[str, str],
    results: list[dict[str, Any]],
    eval_results_paths: list[str] | None = None,
) -> dict[str, Any]:
    """The variables the card template sees. Everything comes from files: no clock, no host."""
    requirements, resolved_for = _read_pins(config.lock.requirements_txt)
    locks = [
        {"path": name, "size": size, "sha256": digest}
        for name, path in sorted(_shipped_locks(config).items())
        for size, digest in [hash_file(path)]
    ]
    datasets = [
        {
            "name": m.name,
            "file_count": len(m.entries),
            "total_size": m.total_size,
            "manifest": f"datasets/{m.name}.json",
            "manifest_sha256": manifest_digests.get(m.name or "", ""),
            "included": next(d.include_data for d in config.datasets if d.name == m.name),
        }
        for m in checksums.datasets
    ]
    model_files = (
        [{"path": e.path, "size": e.size, "sha256": e.sha256} for e in checksums.model.entries]
        if checksums.model
        else []
    )
    dataset_repos = [
        {
            "name": d.name,
            "repo_id": d.publish.repo_id,
            "version": d.publish.version,
            "tag": d.publish.tag,
            "url": dataset_repo_url(config, d.publish),
        }
        for d in config.datasets
        if d.publish is not None
    ]
    return {
        "repo_id": config.repo_id,
        "repo_name": config.repo_name,
        "repo_type": config.repo_type,
        "version": config.version,
        "tag": config.tag,
        "metadata": dict(metadata.data),
        "content": dict(config.card.content or {}),
        "model_files": model_files,
        "datasets": datasets,
        "dataset_repos": dataset_repos,
        "eval_results": results,
        "eval_results_files": list(eval_results_paths or []),
        "lock_files": locks,
        "environment": {
            "lock_file": config.lock.requirements_txt.name,
            "has_pip_lock": config.lock.requirements_txt.is_file(),
            "requirements": requirements,
            "resolved_for": resolved_for,
            "conda_lock": config.lock.conda_lock.name
            if config.lock.conda_lock and config.lock.conda_lock.is_file()
            else None,
            "environment_yml": next(
                (
                    p.name
                    for p in (config.lock.environment_yml, config.lock.generated_environment_yml)
                    if p and p.is_file()
                ),
                None,
            ),
            **_snapshot_summary(config.lock.snapshot),
        },
    }


def dataset_repo_url(config: Config, repo: DatasetRepoConfig) -> str:
    """The page of a published dataset at its tag, on the release's Hub.

    The embedded Hub (``endpoint = "local"``) runs on a new port each time: its links are
    root-relative, so the card renders the same bytes every run.
    """
    base = "" if config.is_local_endpoint else config.endpoint
    return f"{base}/datasets/{repo.repo_id}/tree/{repo.tag}"


def build_dataset_card(config: Config, index: int, manifest: Manifest) -> Card:
    """Validate a published dataset's card metadata (the dataset-card schema), then render its README.md.

    Nothing here depends on the model: a dataset with its own version renders the same card for
    every release of the model that uses it.
    """
    dataset = config.datasets[index]
    repo = dataset.publish
    assert repo is not None
    table = f"datasets[{index}].publish.metadata"
    metadata = load_metadata(repo.metadata, repo.metadata_file, config.path.name, table)
    warnings = validate_metadata(metadata, "dataset")
    context = {
        "repo_id": repo.repo_id,
        "repo_name": repo.repo_name,
        "repo_type": "dataset",
        "version": repo.version,
        "tag": repo.tag,
        "metadata": dict(metadata.data),
        "content": dict(repo.content or {}),
        "dataset": {
            "name": dataset.name,
            "file_count": len(manifest.entries),
            "total_size": manifest.total_size,
            "data_dir": DATASET_DATA_DIR,
            "manifest": f"{DATASET_DATA_DIR}.json",
            "checksums": f"{DATASET_DATA_DIR}.sha256",
            "files": [{"path": e.path, "size": e.size, "sha256": e.sha256} for e in manifest.entries],
        },
    }
    text = render_card(metadata.data, context, repo.template, DATASET_TEMPLATE_NAME)
    return Card(text, metadata, warnings, dataset_staged_dir(config, dataset) / CARD_PATH)


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


def dataset_staged_dir(config: Config, dataset: DatasetConfig) -> Path:
    """Where a published dataset's tree is staged: ``stage_dir/datasets/<name>-<version>``."""
    assert dataset.publish is not None
    return config.stage_dir / "datasets" / f"{dataset.publish.repo_name}-{dataset.publish.version}"


def plan_release_tree(config: Config, checksums: Checksums, card: Card, source: SourceInfo) -> StagePlan:
    locks = _shipped_locks(config)
    datasets = [
        DatasetInput(
            manifest,
            dataset.dir,
            dataset.include_data,
            repo=DatasetRepoRef(dataset.publish.repo_id, dataset.publish.tag) if dataset.publish else None,
        )
        for manifest, dataset in zip(checksums.datasets, config.datasets, strict=True)
    ]
    return plan_stage(
        dest=config.stage_dir / f"{config.repo_name}-{config.version}",
        repo_id=config.repo_id,
        repo_type=config.repo_type,
        version=config.version,
        card=card.text,
        model=(checksums.model, config.model.dir) if checksums.model and config.model else None,
        datasets=datasets,
        locks=locks,
        source=source,
        extra=dict(card.eval_results),  # the .eval_results/ files rendered with the card
    )


def _shipped_locks(config: Config) -> dict[str, Path]:
    """The environment files a release ships, by their name in the release."""
    lock = config.lock
    shipped = [lock.requirements_txt, lock.environment_yml, lock.conda_lock, lock.snapshot]
    if lock.environment_yml is None:
        shipped.append(lock.generated_environment_yml)
    return {path.name: path for path in shipped if path is not None and path.is_file()}


def _snapshot_summary(snapshot: Path | None) -> dict[str, Any]:
    """Python and platform of the training environment, from environment.json (when shipped)."""
    import json

    summary: dict[str, Any] = {"snapshot": None, "python": None, "platform": None}
    if snapshot is None or not snapshot.is_file():
        return summary
    try:
        document = json.loads(snapshot.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return summary
    python = document.get("python") or {}
    platform = document.get("platform") or {}
    summary["snapshot"] = snapshot.name
    if python.get("version"):
        summary["python"] = f"{python.get('implementation', 'Python')} {python['version']}"
    if platform.get("system"):
        libc = f", {platform['libc']}" if platform.get("libc") else ""
        summary["platform"] = f"{platform['system']} {platform.get('machine', '')}".strip() + libc
    return summary


def plan_release(config: Config, progress: Progress | None = None, *, write: bool = True) -> StagedRelease:
    """checksum -> cards -> the plan of every tree: each published dataset's, then the model's.

    Every card is validated before anything is staged. With ``write=False`` nothing is written
    (no manifests, hash cache or rendered card under ``build_dir``).
    """
    checksums = compute_checksums(config, progress, write=write)
    source = source_info(config.root)
    datasets = tuple(  # their cards are checked before the model's is written
        plan_dataset_release(config, index, manifest, source)
        for index, (dataset, manifest) in enumerate(zip(config.datasets, checksums.datasets, strict=True))
        if dataset.publish is not None
    )
    card = build_card(config, checksums, write=write)
    return StagedRelease(plan_release_tree(config, checksums, card, source), card, datasets)


def stage_release(config: Config, progress: Progress | None = None, *, scratch: Path | None = None) -> StagedRelease:
    """checksum -> card -> stage: the exact release trees under ``stage_dir``, each checked by the safety gate.

    Every tree passes the gate before any is moved into place. With ``scratch`` (a dry run) nothing
    under the project changes: the trees are built under ``scratch``, their files symbolic links to
    the sources (nothing is copied), and the checksum and card stages write nothing.
    """
    staged = plan_release(config, progress, write=scratch is None)
    link: LinkMode = "hard"
    if scratch is not None:
        staged = _moved_to(staged, config.stage_dir, scratch)
        link = "symbolic"
    apply_stages(
        staged.plans,
        inspect=lambda plan, built: run_safety_gate(config, [(f.path, built / f.path) for f in plan.files]),
        link=link,
    )
    if scratch is None:
        cache = HashCache.load(config.build_dir / "sha256-cache.json")
        cache.after_link(f.origin for plan in staged.plans for f in plan.files if isinstance(f.origin, Path))
        cache.save()
    for plan in staged.plans:
        log.info("staged %d files (%d bytes) in %s", len(plan.files), sum(f.size for f in plan.files), plan.dest)
    return staged


def _moved_to(staged: StagedRelease, stage_dir: Path, scratch: Path) -> StagedRelease:
    def moved(plan: StagePlan) -> StagePlan:
        return replace(plan, dest=scratch / plan.dest.relative_to(stage_dir))

    datasets = tuple(replace(d, plan=moved(d.plan)) for d in staged.datasets)
    return replace(staged, plan=moved(staged.plan), datasets=datasets)


def run_safety_gate(config: Config | None, files: list[tuple[str, Path]]) -> list[Any]:
    """The safety gate over release files: warnings are logged, errors raise UnsafeArtifactError."""
    from release.gate import check_gate, run_gate

    findings = run_gate(files, gate_config(config))
    for finding in findings:
        if finding.severity == "warning":
            where = f" ({finding.where})" if finding.where else ""
            log.warning("%s %s%s: %s %s", finding.code, finding.path, where, finding.message, finding.fix)
    check_gate(findings)
    return findings


def gate_config(config: Config | None) -> Any:
    from release.gate import GateConfig

    if config is None:
        return GateConfig()
    gate = config.gate
    return GateConfig(
        allow_pickles=dict(gate.allow_pickles),
        warn_size=gate.warn_size,
        max_file_size=gate.max_file_size,
        secret_exclude=gate.secret_exclude,
    )


def staged_dir(config: Config) -> Path:
    return config.stage_dir / f"{config.repo_name}-{config.version}"


def source_info(root: Path) -> SourceInfo:
    """The git commit of the project, and whether the work tree has uncommitted changes."""
    from release.process import ProcessError, run

    try:
        commit = run(["git", "rev-parse", "HEAD"], cwd=root, what="read the git commit").stdout.strip()
        # --no-optional-locks: only read, never refresh the index (a dry run changes nothing).
        status = ["git", "--no-optional-locks", "status", "--porcelain"]
        dirty = bool(run(status, cwd=root, what="read the git commit").stdout.strip())
    except ProcessError:
        log.info("%s is not a git checkout: the release records no source commit", root)
        return SourceInfo()
    return SourceInfo(commit, dirty)


@contextmanager
def local_hub(config: Config, *, read_only: bool = False) -> Iterator[tuple[str, str]]:
    """The embedded Hub for ``endpoint = "local"``: (URL, a token valid for this run only).

    The token writes the namespaces of the release's repositories. ``read_only`` (a dry run):
    when the project has no ``.hub`` yet, an empty throwaway one serves instead of creating it.
    """
    from release.hub.server import HubServer, Token

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


def _model_files(config: Config) -> list[tuple[str, Path]]:
    if config.model is None:
        return []
    if not config.model.dir.is_dir():
        raise ChecksumError(f"model folder {config.model.dir} does not exist (model.dir in {config.path})")
    files = collect_files(config.model.dir, config.model.include, config.model.exclude)
    if not files:
        raise ChecksumError(
            f"no model files in {config.model.dir} match {list(config.model.include)} (model.include in {config.path})"
        )
    for pattern in config.model.include:
        if "*" not in pattern and "?" not in pattern and not (config.model.dir / pattern).is_file():
            raise ChecksumError(
                f"model file {config.model.dir / pattern} does not exist (model.include in {config.path})"
            )
    return files


def _manifest_digest(manifest: Manifest) -> str:
    import hashlib

    return hashlib.sha256(manifest.to_json().encode("utf-8")).hexdigest()


def _read_pins(lock: Path) -> tuple[list[tuple[str, str]], str | None]:
    from release.lock.pip import parse_lock_header, read_pins

    if not lock.is_file():
        return [], None
    text = lock.read_text(encoding="utf-8")
    header = parse_lock_header(text)
    return sorted(read_pins(text).items()), (f"with {header.resolved_with}" if header else None)


def _task(progress: Progress | None, description: str, total: int) -> AbstractContextManager[Callable[[int], None]]:
    if progress is None:
        return nullcontext(lambda _n: None)
    return progress.task(description, total)
