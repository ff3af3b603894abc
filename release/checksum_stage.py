"""The checksum stage of a configured release: the SHA-256 manifest of the model files and of each dataset.

:func:`compute_checksums` only reads: it returns the manifests, and the digests learned on the way in
the hash cache, as a :class:`Checksums` value. :func:`release.pipeline.apply_build` writes them.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from release.checksum import HashCache, Manifest, ProgressCallback, build_manifest, collect_files
from release.config import Config
from release.errors import ChecksumError
from release.layout import checksums_dir, hash_cache_path
from release.repo_paths import check_repo_paths


class Progress(Protocol):
    """Where long work reports bytes done (the CLI shows a bar; tests pass nothing)."""

    def task(self, description: str, total: int) -> AbstractContextManager[ProgressCallback]: ...


@dataclass(frozen=True)
class Checksums:
    """The manifests of one release: the model's (None without model files), then each dataset's, in config order."""

    model: Manifest | None
    datasets: tuple[Manifest, ...]
    directory: Path  # build_dir/checksums, where the manifests are written
    cache: HashCache = field(compare=False, repr=False)  # the digests learned while hashing, saved with them

    @property
    def total_size(self) -> int:
        return (self.model.total_size if self.model else 0) + sum(d.total_size for d in self.datasets)

    @property
    def files(self) -> int:
        return (len(self.model.entries) if self.model else 0) + sum(len(d.entries) for d in self.datasets)

    def outputs(self) -> dict[Path, str]:
        """The manifest files, ``<name>.json`` then ``<name>.sha256`` for the model, then for each dataset."""
        files: dict[Path, str] = {}
        for manifest in ([self.model] if self.model else []) + list(self.datasets):
            assert manifest.name is not None
            files[self.directory / f"{manifest.name}.json"] = manifest.to_json()
            files[self.directory / f"{manifest.name}.sha256"] = manifest.to_sha256sum()
        return files


def compute_checksums(config: Config, progress: Progress | None = None) -> Checksums:
    """SHA-256 manifests of the model files and every dataset; writes nothing."""
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
    cache = HashCache.load(hash_cache_path(config))
    with _task(progress, "sha256", total) as advance:
        for name, root, include, exclude in roots:
            manifests.append(build_manifest(root, include, exclude, name=name, progress=advance, cache=cache))
    model = manifests.pop(0) if config.model is not None else None
    _check_names(config, model, manifests)
    return Checksums(model, tuple(manifests), checksums_dir(config), cache)


#: How to fix a file name the Hub would refuse, in a configured release.
RENAME_FIX = (
    "Rename each file to a plain UTF-8 name without control characters, or leave it out "
    "(model.exclude, or move it out of the dataset's folder)."
)


def _check_names(config: Config, model: Manifest | None, datasets: list[Manifest]) -> None:
    """Every file of every repository of the release has a name the Hub takes (:mod:`release.repo_paths`).

    Checked on the files found, before any manifest, card or tree names them: a release whose model
    holds a file the Hub refuses never publishes its datasets either.
    """
    files = []
    if model is not None and config.model is not None:
        files += [(e.path, f"model file in {config.model.dir}") for e in model.entries]
    for dataset, manifest in zip(config.datasets, datasets, strict=True):
        files += [(e.path, f"file of dataset {dataset.name!r} in {dataset.dir}") for e in manifest.entries]
    check_repo_paths(files, RENAME_FIX)


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


def _task(progress: Progress | None, description: str, total: int) -> AbstractContextManager[Callable[[int], None]]:
    if progress is None:
        return nullcontext(lambda _n: None)
    return progress.task(description, total)
