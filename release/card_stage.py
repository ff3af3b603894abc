"""The card stage of a configured release: every card validated, then rendered, as :class:`Card` values.

The functions here read the configuration, the checksum stage's manifests and the lock files, and
return what would be written; :func:`release.pipeline.apply_build` writes the model's card (and its
``.eval_results/`` files) to ``card.output``, and the stage puts each card into its staged tree.
Validating and rendering one card is :mod:`release.card`'s work.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from release.card import (
    DATASET_TEMPLATE_NAME,
    EVAL_RESULTS_DIR,
    CardMetadata,
    EvalResultsFile,
    card_body,
    eval_results_files,
    load_eval_results,
    load_metadata,
    render_card,
    validate_metadata,
    with_datasets,
    with_eval_results,
    with_published_datasets,
)
from release.checksum import Manifest, hash_file
from release.checksum_stage import Checksums
from release.config import Config, DatasetRepoConfig
from release.errors import CardError
from release.layout import DATASET_DATA_DIR, dataset_staged_dir, shipped_locks
from release.libraries import read_layout, with_layout
from release.lock.pip import parse_lock_header, read_pins
from release.process import format_command
from release.redaction import public_url
from release.stage import CARD_PATH
from release.verify import VerifySpec, declare


@dataclass(frozen=True)
class Card:
    """A rendered card: README.md's text, and the ``.eval_results/`` files rendered beside it."""

    text: str
    metadata: CardMetadata
    warnings: tuple[str, ...]
    path: Path  # where the rendered card is written (card.output, default build_dir/README.md)
    eval_results: tuple[tuple[str, str], ...] = ()  # (".eval_results/<id>.yaml", YAML), with card.eval_results_dir
    owns_eval_results: bool = False  # card.eval_results_dir: .eval_results/ beside the card is ours to keep exact
    verify: VerifySpec | None = None  # [verify], with the values this card publishes: the release manifest records it

    def outputs(self) -> dict[Path, str]:
        """Every file ``card`` writes: README.md, and the .eval_results/ files beside it."""
        files = {self.path: self.text}
        files.update({self.path.parent / name: text for name, text in self.eval_results})
        return files

    @property
    def eval_results_dir(self) -> Path:
        return self.path.parent / EVAL_RESULTS_DIR

    def stale_files(self) -> list[Path]:
        """The ``.eval_results/`` files on disk that are no longer rendered (never someone else's files)."""
        if not self.owns_eval_results or not self.eval_results_dir.is_dir():
            return []
        outputs = self.outputs()
        return [path for path in sorted(self.eval_results_dir.glob("*.yaml")) if path not in outputs]


def plan_cards(config: Config, checksums: Checksums) -> Card:
    """The ``card`` stage: every card validated and rendered; the model's is returned.

    The cards of datasets published as repositories of their own are validated too (they are staged
    later); their warnings come first in the returned card's.
    """
    dataset_warnings = [
        warning
        for index, (dataset, manifest) in enumerate(zip(config.datasets, checksums.datasets, strict=True))
        if dataset.publish is not None
        for warning in build_dataset_card(config, index, manifest).warnings
    ]
    card = build_card(config, checksums)
    return replace(card, warnings=(*dataset_warnings, *card.warnings))


def build_card(config: Config, checksums: Checksums) -> Card:
    """Validate the card metadata, then render README.md (and .eval_results/) for ``card.output``."""
    path = config.card.output or config.build_dir / "README.md"
    if config.card.metadata_file is not None and config.card.metadata_file.resolve() == path.resolve():
        raise CardError(
            f"card.metadata and card.output in {config.path} are the same file, {path}: the card would adopt its own "
            "rendering and add the release's sections again each time; keep the card you wrote as card.metadata "
            'and render to another file (for example output = "MODEL_CARD.md")'
        )
    metadata = load_metadata(config.card.metadata, config.card.metadata_file, config.path.name)
    results_file = _eval_results(config)
    results = results_file.model_index_results() if results_file else []
    if config.repo_type == "model":
        metadata = with_eval_results(metadata, results, config.repo_name)
        metadata = with_datasets(metadata, [d.publish.repo_id for d in config.datasets if d.publish])
        metadata = with_layout(metadata, config.model.dir if config.model else None, _released(checksums))
    warnings = validate_metadata(metadata, config.repo_type)
    extra = eval_results_files(results_file) if results_file and config.card.eval_results_dir else {}
    digests = {m.name or "": _manifest_digest(m) for m in checksums.datasets}
    verify = None
    if config.verify is not None:
        verify = declare(config.verify, metadata.data.get("model-index") or [], str(config.path))
    context = card_context(config, metadata, checksums, digests, results, sorted(extra), verify)
    text = render_card(metadata.data, context, config.card.template)
    return Card(text, metadata, warnings, path, tuple(sorted(extra.items())), config.card.eval_results_dir, verify)


def _verify_context(spec: VerifySpec | None) -> dict[str, Any] | None:
    """What the card says of ``[verify]``: the command, each published metric and its tolerance."""
    if spec is None:
        return None
    return {
        "command": format_command(spec.command),
        "results": spec.results,
        "metrics": [{"name": m.name, "published": m.published, "tolerance": m.tolerance} for m in spec.metrics],
        "train": None
        if spec.train is None
        else {"command": format_command(spec.train.command), "outputs": list(spec.train.outputs)},
    }


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
        "body": card_body(metadata),
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


def card_context(
    config: Config,
    metadata: CardMetadata,
    checksums: Checksums,
    manifest_digests: dict[str, str],
    results: list[dict[str, Any]],
    eval_results_paths: list[str] | None = None,
    verify: VerifySpec | None = None,
) -> dict[str, Any]:
    """The variables the card template sees. Everything comes from files: no clock, no host."""
    lock = config.lock
    requirements, resolved_for = _read_pins(lock.requirements_txt)
    locks = [
        {"path": name, "size": size, "sha256": digest}
        for name, path in sorted(shipped_locks(config).items())
        for size, digest in [hash_file(path)]
    ]
    environment_yml = next(
        (p.name for p in (lock.environment_yml, lock.generated_environment_yml) if p and p.is_file()), None
    )
    return {
        "repo_id": config.repo_id,
        "repo_name": config.repo_name,
        "repo_type": config.repo_type,
        "version": config.version,
        "tag": config.tag,
        "metadata": dict(metadata.data),
        "body": card_body(metadata),
        "content": dict(config.card.content or {}),
        "model_files": [
            {"path": e.path, "size": e.size, "sha256": e.sha256}
            for e in (checksums.model.entries if checksums.model else ())
        ],
        "load_code": list(read_layout(config.model.dir, frozenset(_released(checksums))).code) if config.model else [],
        "datasets": _datasets_context(config, checksums, manifest_digests),
        "dataset_repos": [
            {
                "name": d.name,
                "repo_id": d.publish.repo_id,
                "version": d.publish.version,
                "tag": d.publish.tag,
                "url": dataset_repo_url(config, d.publish),
            }
            for d in config.datasets
            if d.publish is not None
        ],
        "eval_results": results,
        "eval_results_files": list(eval_results_paths or []),
        "verify": _verify_context(verify),
        "lock_files": locks,
        "environment": {
            "lock_file": lock.requirements_txt.name,
            "has_pip_lock": lock.requirements_txt.is_file(),
            "requirements": requirements,
            "resolved_for": resolved_for,
            "conda_lock": lock.conda_lock.name if lock.conda_lock and lock.conda_lock.is_file() else None,
            "environment_yml": environment_yml,
            **_snapshot_summary(lock.snapshot),
        },
    }


def _datasets_context(config: Config, checksums: Checksums, manifest_digests: dict[str, str]) -> list[dict[str, Any]]:
    return [
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


def dataset_repo_url(config: Config, repo: DatasetRepoConfig) -> str:
    """The page of a published dataset at its tag, on the release's Hub.

    The embedded Hub (``endpoint = "local"``) runs on a new port each time: its links are
    root-relative, so the card renders the same bytes every run. An endpoint's user-info (a password)
    is never written into the card.
    """
    base = "" if config.is_local_endpoint else public_url(config.endpoint)
    return f"{base}/datasets/{repo.repo_id}/tree/{repo.tag}"


def _eval_results(config: Config) -> EvalResultsFile | None:
    """The validated results file; results on a dataset this release publishes name its repository and tag."""
    if not config.card.eval_results:
        return None
    results_file = load_eval_results(config.card.eval_results)
    published = {d.name: (d.publish.repo_id, d.publish.tag) for d in config.datasets if d.publish}
    return replace(results_file, results=tuple(with_published_datasets(results_file.results, published)))


def _snapshot_summary(snapshot: Path | None) -> dict[str, Any]:
    """Python and platform of the training environment, from environment.json (when shipped)."""
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


def _released(checksums: Checksums) -> list[str]:
    return [e.path for e in checksums.model.entries] if checksums.model else []


def _manifest_digest(manifest: Manifest) -> str:
    return hashlib.sha256(manifest.to_json().encode("utf-8")).hexdigest()


def _read_pins(lock: Path) -> tuple[list[tuple[str, str]], str | None]:
    if not lock.is_file():
        return [], None
    try:
        text = lock.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CardError(f"cannot read the lock {lock} for the card: {exc}; run `model-release lock` again") from None
    header = parse_lock_header(text)
    return sorted(read_pins(text).items()), (f"with {header.resolved_with}" if header else None)
