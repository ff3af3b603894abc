"""The release configuration: ``release.toml`` or ``[tool.release]`` in ``pyproject.toml``.

Reading (:func:`read_config_file`) is separate from parsing (:func:`parse_config`), which is pure:
it validates the table against ``schemas/release-config.schema.json`` and builds the frozen
:class:`Config`, with every relative path resolved against the folder of the config file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from release.errors import ConfigError
from release.schema import check_document, load_schema

RepoType = Literal["model", "dataset"]
DEFAULT_ENDPOINT = "https://huggingface.co"
LOCAL_ENDPOINT = "local"


@dataclass(frozen=True)
class ModelFiles:
    dir: Path
    include: tuple[str, ...] = ("**/*",)
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatasetConfig:
    name: str
    dir: Path
    include_data: bool = False


@dataclass(frozen=True)
class LockConfig:
    requirements_in: Path
    requirements_txt: Path
    environment_yml: Path | None = None
    conda_lock: Path | None = None
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False


@dataclass(frozen=True)
class CardConfig:
    template: Path | None = None  # None: the bundled templates/README.md.j2
    metadata: Mapping[str, Any] | None = None  # inline metadata, or
    metadata_file: Path | None = None  # a YAML file holding it
    content: Mapping[str, str] | None = None
    eval_results: Path | None = None


@dataclass(frozen=True)
class Config:
    path: Path  # the file the configuration was read from
    root: Path  # its folder: relative paths resolve against it
    repo_id: str
    repo_type: RepoType
    version: str
    endpoint: str  # "local" or a URL without a trailing slash
    private: bool
    build_dir: Path
    stage_dir: Path
    model: ModelFiles | None
    datasets: tuple[DatasetConfig, ...]
    lock: LockConfig
    card: CardConfig

    @property
    def tag(self) -> str:
        return f"v{self.version}"

    @property
    def repo_name(self) -> str:
        return self.repo_id.split("/", 1)[1]

    @property
    def is_local_endpoint(self) -> bool:
        return self.endpoint == LOCAL_ENDPOINT


def load_config(explicit: Path | None = None, cwd: Path | None = None) -> Config:
    """Find, read and parse the configuration (``--config`` or the defaults in ``cwd``)."""
    path, table_path = locate_config(explicit, cwd or Path.cwd())
    data = read_config_file(path, table_path)
    return with_detected_locks(parse_config(data, path, table_path=table_path))


def with_detected_locks(config: Config) -> Config:
    """Use ``environment.yml`` and ``conda-lock.yml`` beside the config when it names none."""
    lock = config.lock
    environment_yml = lock.environment_yml or _existing(config.root / "environment.yml")
    conda_lock = lock.conda_lock or _existing(config.root / "conda-lock.yml")
    if (environment_yml, conda_lock) == (lock.environment_yml, lock.conda_lock):
        return config
    return replace(config, lock=replace(lock, environment_yml=environment_yml, conda_lock=conda_lock))


def _existing(path: Path) -> Path | None:
    return path if path.is_file() else None


def locate_config(explicit: Path | None, cwd: Path) -> tuple[Path, tuple[str, ...]]:
    """The config file and the table inside it that holds the configuration."""
    if explicit is not None:
        path = explicit if explicit.is_absolute() else cwd / explicit
        if not path.is_file():
            raise ConfigError(f"config file {explicit} does not exist (given with --config)")
        return path.resolve(), (("tool", "release") if path.name == "pyproject.toml" else ())
    release_toml = cwd / "release.toml"
    if release_toml.is_file():
        return release_toml.resolve(), ()
    pyproject = cwd / "pyproject.toml"
    if pyproject.is_file() and "release" in _read_toml(pyproject).get("tool", {}):
        return pyproject.resolve(), ("tool", "release")
    raise ConfigError(
        f"no configuration found in {cwd}: create release.toml (see README.md), add a [tool.release] "
        "table to pyproject.toml, or pass --config PATH"
    )


def read_config_file(path: Path, table_path: tuple[str, ...] = ()) -> dict[str, Any]:
    """The configuration table of a TOML file."""
    data: Any = _read_toml(path)
    for key in table_path:
        if not isinstance(data, dict) or key not in data:
            raise ConfigError(f"{path}: no [{'.'.join(table_path)}] table")
        data = data[key]
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: [{'.'.join(table_path)}] must be a table")
    return data


def parse_config(data: Mapping[str, Any], path: Path, *, table_path: tuple[str, ...] = ()) -> Config:
    """Validate the configuration table and build a :class:`Config`. Pure: touches no files."""
    prefix = ".".join(table_path)
    problems = check_document(dict(data), load_schema("release-config.schema.json"))
    if problems:
        lines = [f"  - {p.where(prefix)}: {p.message}" for p in problems]
        raise ConfigError(f"invalid configuration in {path}:\n" + "\n".join(lines))
    root = path.parent

    def resolve(value: str) -> Path:
        return (root / os.path.expanduser(value)).resolve()

    model_table = data.get("model")
    model = (
        ModelFiles(
            dir=resolve(model_table["dir"]),
            include=tuple(model_table.get("include", ("**/*",))),
            exclude=tuple(model_table.get("exclude", ())),
        )
        if model_table
        else None
    )
    datasets = tuple(
        DatasetConfig(name=d["name"], dir=resolve(d["dir"]), include_data=d.get("include_data", False))
        for d in data.get("datasets", [])
    )
    names = [d.name for d in datasets]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"invalid configuration in {path}: dataset name(s) used twice: {', '.join(duplicates)}")

    lock_table = data.get("lock", {})
    environment_yml = lock_table.get("environment_yml")
    conda_lock = lock_table.get("conda_lock")
    lock = LockConfig(
        requirements_in=resolve(lock_table.get("requirements_in", "requirements.in")),
        requirements_txt=resolve(lock_table.get("requirements_txt", "requirements.txt")),
        environment_yml=resolve(environment_yml) if environment_yml else None,
        conda_lock=resolve(conda_lock) if conda_lock else None,
        index_url=lock_table.get("index_url"),
        extra_index_urls=tuple(lock_table.get("extra_index_urls", ())),
        find_links=tuple(_resolve_link(link, root) for link in lock_table.get("find_links", ())),
        no_index=lock_table.get("no_index", False),
    )

    card_table = data.get("card", {})
    metadata = card_table.get("metadata")
    card = CardConfig(
        template=resolve(card_table["template"]) if "template" in card_table else None,
        metadata=metadata if isinstance(metadata, dict) else None,
        metadata_file=resolve(metadata) if isinstance(metadata, str) else None,
        content=card_table.get("content"),
        eval_results=resolve(card_table["eval_results"]) if "eval_results" in card_table else None,
    )

    return Config(
        path=path,
        root=root,
        repo_id=data["repo_id"],
        repo_type=data.get("repo_type", "model"),
        version=data["version"],
        endpoint=_endpoint(data.get("endpoint")),
        private=data.get("private", False),
        build_dir=resolve(data.get("build_dir", "build")),
        stage_dir=resolve(data.get("stage", {}).get("dir", "dist")),
        model=model,
        datasets=datasets,
        lock=lock,
        card=card,
    )


def _endpoint(configured: str | None) -> str:
    """The config's endpoint; when absent, HF_ENDPOINT; else the public Hub."""
    value = configured or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT
    return value.rstrip("/")


def _resolve_link(link: str, root: Path) -> str:
    """find-links may be URLs or folders; folders resolve against the config's folder."""
    if "://" in link:
        return link
    return str((root / os.path.expanduser(link)).resolve())


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
