"""Where a release's files are, all derived from the configuration: nothing here reads or writes.

- ``build_dir/checksums/<name>.json|.sha256``: the checksum stage's manifests, and
  ``build_dir/sha256-cache.sqlite`` the digests it remembers;
- ``stage_dir/<repo_name>-<version>``: the staged tree of the release's repository, and
  ``stage_dir/datasets/<repo_name>-<version>`` that of each dataset published as a repository of its own,
  whose files go under :data:`DATASET_DATA_DIR`;
- the lock files a release ships (:func:`shipped_locks`).
"""

from __future__ import annotations

from pathlib import Path

from release.config import Config, DatasetConfig

#: Where a published dataset's files go in its own repository; its manifests are data.json and data.sha256.
DATASET_DATA_DIR = "data"


def checksums_dir(config: Config) -> Path:
    return config.build_dir / "checksums"


def hash_cache_path(config: Config) -> Path:
    return config.build_dir / "sha256-cache.sqlite"


def staged_dir(config: Config) -> Path:
    """Where the release's own tree is staged: ``stage_dir/<repo_name>-<version>``."""
    return config.stage_dir / f"{config.repo_name}-{config.version}"


def dataset_staged_dir(config: Config, dataset: DatasetConfig) -> Path:
    """Where a published dataset's tree is staged: ``stage_dir/datasets/<name>-<version>``."""
    assert dataset.publish is not None
    return config.stage_dir / "datasets" / f"{dataset.publish.repo_name}-{dataset.publish.version}"


def shipped_locks(config: Config) -> dict[str, Path]:
    """The environment files a release ships, by their name in the release (only those that exist)."""
    lock = config.lock
    shipped = [lock.requirements_txt, lock.environment_yml, lock.conda_lock, lock.snapshot]
    if lock.environment_yml is None:
        shipped.append(lock.generated_environment_yml)
    return {path.name: path for path in shipped if path is not None and path.is_file()}
