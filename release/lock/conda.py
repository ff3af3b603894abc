"""The ``lock`` stage for conda: freeze environment.yml into a multi-platform conda-lock.yml.

No conda, mamba or micromamba is needed. conda-lock's own library code reads environment.yml
(``# [linux]`` selectors, ``pip:`` section, ``pip-repositories:``), computes the content hash and
writes the lock file; py-rattler solves. The result is the file ``conda-lock lock`` writes, so
``conda-lock install``, ``micromamba create -f conda-lock.yml`` and ``conda-lock render`` accept it.

How it solves, and how that differs from conda:

- Each platform is solved by ``rattler.solve`` (the resolvo solver, not libmamba) over the
  platform's subdir and ``noarch``, with **strict channel priority**: a package found in an earlier
  channel is never taken from a later one (conda's default is flexible priority). CEP-42
  ``channel_relations`` are not followed: the solve sees exactly the channels listed.
- Every lock uses a new ``rattler.Gateway`` (a reused one keeps repodata in memory and would not see
  a channel that changed); rattler's on-disk repodata cache is revalidated over HTTP.
- Virtual packages are conda-lock's defaults (``default-virtual-packages.yaml``: ``__glibc 2.28``,
  ``__cuda 11.4`` on linux-64 and win-64, ``__osx 11.0``, ...), overridden per platform by
  :attr:`CondaLockOptions.virtual_packages`. They enter the content hash exactly as in conda-lock.
- rattler has no ``defaults`` multichannel: an environment.yml listing ``defaults`` (or
  ``pkgs/main``, ``pkgs/r``, ``pkgs/msys2``) is rejected with the URLs to write instead.
- ``pip:`` requirements are locked by conda-lock's pip solver (vendored Poetry) against the
  ``pip-repositories:`` of environment.yml (plus PyPI unless ``allow-pypi-requests: false``), per
  platform, with each wheel's URL and sha256. The solver needs conda-lock's pip<->conda name
  mapping: :attr:`CondaLockOptions.pypi_mapping` must point at a local copy (nothing is downloaded).

Which platforms: :attr:`CondaLockOptions.platforms` when it differs from :data:`DEFAULT_PLATFORMS`;
when it is left at the default, a ``platforms:`` list in environment.yml wins (as with
``conda-lock lock`` without ``-p``). A configuration that asks for exactly the default list is
therefore indistinguishable from one that asks for nothing.

Every output is computed in memory first and then written with :func:`release.atomic.write_atomic`:
when anything fails (bad input, unsolvable spec, unreachable channel), the previous lock is left
byte for byte as it was and no temporary file remains. :func:`check_conda_lock` tells, without the
network, whether a lock still matches its environment.yml (conda-lock's per-platform content hash).
"""

from __future__ import annotations

import asyncio
import json
import logging
import posixpath
import tempfile
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rattler
import yaml
from packaging.requirements import InvalidRequirement, Requirement
from rattler.exceptions import (
    FetchRepoDataError,
    GatewayError,
    InstallerError,
    InvalidChannelError,
    InvalidMatchSpecError,
    SolverError,
)

with warnings.catch_warnings():
    # Importing conda-lock 4.0.3 warns: importlib.resources.path() is deprecated, and its vendored
    # conda wants the optional `frozendict` package. Import-time notices of a pinned dependency say
    # nothing a user of model-release can act on.
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", PendingDeprecationWarning)
    from conda_lock.common import relative_path
    from conda_lock.conda_lock import render_lockfile_for_platform
    from conda_lock.conda_solver import _to_match_spec
    from conda_lock.content_hash import backwards_compatible_content_hashes, compute_content_hashes
    from conda_lock.interfaces.vendored_conda import MatchSpec as CondaMatchSpec
    from conda_lock.lockfile import apply_categories, parse_conda_lock_file, write_conda_lock_file
    from conda_lock.lockfile.v2prelim.models import HashModel, LockedDependency, Lockfile, LockMeta
    from conda_lock.lookup import DEFAULT_MAPPING_URL
    from conda_lock.models.channel import normalize_url_with_placeholders
    from conda_lock.models.lock_spec import Dependency, LockSpecification, VersionedDependency
    from conda_lock.pypi_solver import solve_pypi
    from conda_lock.src_parser import make_lock_spec
    from conda_lock.src_parser.conda_common import conda_spec_to_versioned_dep
    from conda_lock.src_parser.selectors import filter_platform_selectors
    from conda_lock.virtual_package import (
        DEFAULT_VIRTUAL_PACKAGES_YAML_PATH,
        FakeRepoData,
        virtual_package_repo_from_specification,
    )

from release.atomic import write_atomic
from release.errors import LockError, StaleLockError
from release.lock.pip import LOCK_COMMAND, read_text_input
from release.process import quote_output
from release.redaction import redact

__all__ = [
    "DEFAULT_PLATFORMS",
    "VALID_PLATFORMS",
    "CondaLockOptions",
    "CondaLockResult",
    "check_conda_lock",
    "explicit_path",
    "install_conda_lock",
    "lock_conda",
]

logger = logging.getLogger(__name__)

_FIX = f"Run `{LOCK_COMMAND}` (or `nox -s lock`) and commit the new lock file."

#: The platforms locked when neither the options nor environment.yml say otherwise.
DEFAULT_PLATFORMS: tuple[str, ...] = ("linux-64", "osx-arm64", "win-64")


def _valid_platforms() -> frozenset[str]:
    """Platforms both conda-lock and rattler know: conda-lock has default virtual packages, ``# [..]``
    selectors and pip tags for exactly these, and rattler can solve for them."""
    with DEFAULT_VIRTUAL_PACKAGES_YAML_PATH.open(encoding="utf-8") as handle:
        conda_lock_subdirs = set(yaml.safe_load(handle)["subdirs"])
    return frozenset(conda_lock_subdirs & {str(subdir) for subdir in rattler.Subdir.all()})


#: Every platform a lock can be made for: ``linux-64``, ``linux-aarch64``, ``linux-ppc64le``,
#: ``osx-64``, ``osx-arm64``, ``win-64``.
VALID_PLATFORMS: frozenset[str] = _valid_platforms()

#: Channel names conda expands through its ``default_channels`` setting, which rattler lacks.
_DEFAULTS_CHANNELS = frozenset({"defaults", "pkgs/main", "pkgs/r", "pkgs/msys2"})
_ANACONDA_URLS = "https://repo.anaconda.com/pkgs/main (and https://repo.anaconda.com/pkgs/r)"

_PIP_SUPPORTED = ("linux-", "osx-", "win-64")  # what conda-lock's pip solver can target


@dataclass(frozen=True)
class CondaLockOptions:
    """How :func:`lock_conda` locks an environment.yml.

    ``virtual_packages`` maps a platform to the virtual packages to change from conda-lock's
    defaults: ``{"linux-64": {"__cuda": "12.4", "__glibc": "2.31"}}``. A value is a version, or a
    version and a build string (``"1 x86_64"``); ``""`` removes the package (``{"__cuda": ""}``:
    no CUDA). ``channel_alias`` is what channel names resolve against (default
    ``https://conda.anaconda.org/``). ``pypi_mapping`` is a local copy of conda-lock's pip<->conda
    name mapping, required when environment.yml has a ``pip:`` section.
    """

    platforms: tuple[str, ...] = DEFAULT_PLATFORMS
    virtual_packages: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    channel_alias: str | None = None
    pypi_mapping: Path | None = None
    explicit_files: bool = False


@dataclass(frozen=True)
class CondaLockResult:
    """What :func:`lock_conda` wrote."""

    path: Path  # conda-lock.yml
    platforms: tuple[str, ...]  # the platforms locked, in the lock's order
    packages: Mapping[str, int]  # platform -> how many packages (conda and pip) it locks
    explicit: tuple[Path, ...] = ()  # the conda-<platform>.lock files, when asked for


# --- reading environment.yml ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Environment:
    """What model-release reads from environment.yml itself (conda-lock parses the rest)."""

    path: Path
    text: str
    platforms: tuple[str, ...]  # the file's ``platforms:`` list, () when it has none
    has_pip: bool
    lines: Mapping[str, int]  # conda package name -> the line that requests it


def _yaml_problem(path: Path, exc: yaml.YAMLError) -> LockError:
    mark = getattr(exc, "problem_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    problem = getattr(exc, "problem", None) or str(exc)
    return LockError(f"{where}: not valid YAML: {problem}. Fix the line named above and lock again.")


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _mapping_items(node: yaml.MappingNode) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    return {str(key.value): (key, value) for key, value in node.value if isinstance(key, yaml.ScalarNode)}


def _string_list(path: Path, key: str, node: yaml.Node) -> list[tuple[str, int]]:
    """The strings of a ``key: [..]`` sequence with their lines (a null value is an empty list)."""
    if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise LockError(f"{path}:{_line(node)}: `{key}:` must be a list of strings.")
    items: list[tuple[str, int]] = []
    for item in node.value:
        if not isinstance(item, yaml.ScalarNode) or item.tag.endswith(":null"):
            raise LockError(f"{path}:{_line(item)}: each entry of `{key}:` must be a string.")
        items.append((str(item.value), _line(item)))
    return items


def _check_conda_spec(path: Path, spec: str, line: int) -> str:
    """The package name of a conda spec, or a LockError at its line."""
    try:
        return str(conda_spec_to_versioned_dep(spec, "main").name)
    except Exception as exc:  # conda's MatchSpec parser raises anything from ValueError to KeyError
        raise LockError(
            f"{path}:{line}: `{spec}` is not a conda package spec ({exc.__cause__ or exc}). "
            "Write it as `name`, `name=1.2`, `name >=1.2,<2` or `channel::name`."
        ) from exc


def _check_pip_requirement(path: Path, requirement: str, line: int) -> None:
    text = requirement.strip()
    if text.startswith("-e ") or text.startswith("--editable"):
        raise LockError(
            f"{path}:{line}: `{text}`: editable installs cannot be locked. Install the project "
            "separately (e.g. `pip install -e .` after creating the environment) and remove this line."
        )
    if text.startswith("-"):
        raise LockError(
            f"{path}:{line}: `{text}`: pip options are not accepted in the `pip:` section of a locked "
            "environment (conda-lock reads requirements only). List requirements one per line; for an "
            "index, use the top-level `pip-repositories: [https://.../simple]` key."
        )
    if "--hash" in text:
        raise LockError(
            f"{path}:{line}: `{text}`: remove the --hash option. conda-lock would copy it into the lock "
            "unverified and use it for every platform; the pip solver records each wheel's sha256 itself."
        )
    try:
        Requirement(text)
    except InvalidRequirement as exc:
        raise LockError(f"{path}:{line}: `{text}` is not a pip requirement: {exc}.") from exc


def _read_environment(path: Path) -> _Environment:
    text = read_text_input(path, "The conda environment file", "create it with `channels:` and `dependencies:` lists.")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        yaml.safe_load(text)  # constructing the values also refuses tags like !!python/object
    except yaml.YAMLError as exc:
        raise _yaml_problem(path, exc) from exc
    if not isinstance(root, yaml.MappingNode):
        where = f"{path}:{_line(root)}" if root is not None else str(path)
        raise LockError(f"{where}: expected a mapping with `channels:` and `dependencies:` lists.")
    items = _mapping_items(root)

    if "dependencies" not in items:
        raise LockError(f"{path}: has no `dependencies:` list; add one (e.g. `dependencies: [python=3.11]`).")
    dependencies = items["dependencies"][1]
    if not isinstance(dependencies, yaml.SequenceNode):
        raise LockError(f"{path}:{_line(dependencies)}: `dependencies:` must be a list.")
    lines: dict[str, int] = {}
    has_pip = False
    for entry in dependencies.value:
        if isinstance(entry, yaml.ScalarNode) and not entry.tag.endswith(":null"):
            lines.setdefault(_check_conda_spec(path, str(entry.value), _line(entry)), _line(entry))
        elif isinstance(entry, yaml.MappingNode) and set(_mapping_items(entry)) == {"pip"}:
            has_pip = True
            for requirement, line in _string_list(path, "pip", _mapping_items(entry)["pip"][1]):
                _check_pip_requirement(path, requirement, line)
        else:
            raise LockError(
                f"{path}:{_line(entry)}: each entry of `dependencies:` must be a conda spec "
                "(`numpy >=1.26`) or a `pip:` list."
            )

    if "channels" not in items:
        raise LockError(f"{path}: has no `channels:` list; add one (e.g. `channels: [conda-forge]`).")
    channels = _string_list(path, "channels", items["channels"][1])
    for channel, line in channels:
        if channel.rstrip("/") in _DEFAULTS_CHANNELS:
            raise LockError(
                f"{path}:{line}: the channel `{channel}` cannot be locked without conda: rattler has no "
                f"`defaults` multichannel (it would look for a channel named `{channel}` on "
                f"conda.anaconda.org). List `conda-forge` instead, or Anaconda's channels by URL: "
                f"{_ANACONDA_URLS}. Channels are searched with strict priority, in the order listed."
            )
    if not [channel for channel, _ in channels if channel != "nodefaults"]:
        raise LockError(f"{path}: `channels:` lists no channel; add one (e.g. `channels: [conda-forge]`).")

    platforms = _string_list(path, "platforms", items["platforms"][1]) if "platforms" in items else []
    if "pip-repositories" in items:
        _string_list(path, "pip-repositories", items["pip-repositories"][1])
    return _Environment(
        path=path,
        text=text,
        platforms=tuple(platform for platform, _ in platforms),
        has_pip=has_pip,
        lines=lines,
    )


# --- planning: platforms, virtual packages, conda-lock's lock specification ----------------------


@dataclass(frozen=True)
class _Plan:
    environment: _Environment
    platforms: tuple[str, ...]
    spec: LockSpecification
    virtual_packages: FakeRepoData
    mapping_url: str


def _choose_platforms(environment: _Environment, options: CondaLockOptions) -> tuple[str, ...]:
    if options.platforms != DEFAULT_PLATFORMS or not environment.platforms:
        chosen, source = options.platforms, "the lock options"
        if environment.platforms and tuple(environment.platforms) != tuple(options.platforms):
            logger.warning(
                "%s lists platforms %s; locking %s as configured instead",
                environment.path,
                ", ".join(environment.platforms),
                ", ".join(options.platforms),
            )
    else:
        chosen, source = environment.platforms, f"`platforms:` in {environment.path}"
    platforms = tuple(dict.fromkeys(chosen))
    if not platforms:
        raise LockError(f"No platform to lock {environment.path} for: {source} is empty.")
    unknown = [platform for platform in platforms if platform not in VALID_PLATFORMS]
    if unknown:
        raise LockError(
            f"Unknown platform{'s' if len(unknown) > 1 else ''} {', '.join(repr(p) for p in unknown)} "
            f"(from {source}): a conda lock can be made for {', '.join(sorted(VALID_PLATFORMS))}."
        )
    return platforms


def _virtual_package_spec(options: CondaLockOptions) -> dict[str, Any] | None:
    """conda-lock's virtual-packages.yaml content with the options applied; None when unchanged."""
    if not options.virtual_packages:
        return None
    with DEFAULT_VIRTUAL_PACKAGES_YAML_PATH.open(encoding="utf-8") as handle:
        spec: dict[str, Any] = yaml.safe_load(handle)
    for platform, overrides in sorted(options.virtual_packages.items()):
        if platform not in VALID_PLATFORMS:
            raise LockError(
                f"Virtual packages are given for the unknown platform {platform!r}: use one of "
                f"{', '.join(sorted(VALID_PLATFORMS))}."
            )
        packages = spec["subdirs"].setdefault(platform, {"packages": {}})["packages"]
        for name, value in overrides.items():
            if not name.startswith("__"):
                raise LockError(
                    f"{name!r} (virtual packages for {platform}) is not a virtual package: their names "
                    "start with two underscores (`__cuda`, `__glibc`, `__osx`)."
                )
            if value.strip():
                packages[name] = value.strip()
            else:
                packages.pop(name, None)
    return spec


def _virtual_packages(options: CondaLockOptions) -> FakeRepoData:
    """conda-lock's virtual package repository (it enters the content hash), options applied.

    Built exactly as ``conda-lock lock`` builds its default (with the duplicate ``__osx 10.15`` on
    osx-64 it keeps for stable hashes), from a spec file when options change it.
    """
    spec = _virtual_package_spec(options)
    with tempfile.TemporaryDirectory(prefix="model-release-virtual-packages-") as tmp:
        spec_path = Path(tmp) / "virtual-packages.yaml"
        if spec is None:
            spec_path = DEFAULT_VIRTUAL_PACKAGES_YAML_PATH
        else:
            spec_path.write_text(yaml.safe_dump(spec, sort_keys=True), encoding="utf-8")
        try:
            return virtual_package_repo_from_specification(spec_path, add_duplicate_osx_package=True)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise LockError(f"Invalid virtual packages {dict(options.virtual_packages)!r}: {exc}") from exc


def _mapping_url(environment: _Environment, options: CondaLockOptions) -> str:
    if options.pypi_mapping is None:
        if environment.has_pip:
            raise LockError(
                f"{environment.path} has a `pip:` section, and conda-lock's pip solver needs its "
                "pip<->conda name mapping, which model-release never downloads: pass a local copy as "
                "CondaLockOptions.pypi_mapping (JSON like "
                '{"numpy": {"conda_name": "numpy", "conda_forge": "numpy", "pypi_name": "numpy"}}; '
                f"the full one is {DEFAULT_MAPPING_URL})."
            )
        return str(DEFAULT_MAPPING_URL)  # never read: conda-lock needs it for pip requirements only
    mapping = Path(options.pypi_mapping)
    try:
        loaded = json.loads(read_text_input(mapping, "The pip<->conda name mapping", "download it or write one."))
    except json.JSONDecodeError as exc:
        raise LockError(
            f"{mapping}:{exc.lineno}:{exc.colno}: the pip<->conda name mapping is not JSON: {exc.msg}."
        ) from exc
    if not isinstance(loaded, dict) or not all(isinstance(entry, dict) for entry in loaded.values()):
        raise LockError(
            f"{mapping}: the pip<->conda name mapping must be a JSON object of "
            '{"<pip name>": {"conda_name": ..., "pypi_name": ...}} entries.'
        )
    return str(mapping.resolve())


def _selector_context(environment: _Environment, platform: str, exc: yaml.YAMLError) -> LockError:
    """A YAML error in the selector-filtered text of ``platform``, with the line of the original file."""
    kept = [
        number
        for number, line in enumerate(environment.text.splitlines(), start=1)
        if list(filter_platform_selectors(line, platform=platform))
    ]
    mark = getattr(exc, "problem_mark", None)
    where = str(environment.path)
    if mark is not None and mark.line < len(kept):
        where = f"{environment.path}:{kept[mark.line]}"
    problem = getattr(exc, "problem", None) or str(exc)
    return LockError(
        f"{where}: not valid YAML once the `# [...]` selectors are applied for {platform}: {problem}. "
        "A selector removes its whole line; keep the lines that remain a valid list."
    )


def _plan(environment_yml: Path, options: CondaLockOptions) -> _Plan:
    environment = _read_environment(Path(environment_yml))
    platforms = _choose_platforms(environment, options)
    mapping_url = _mapping_url(environment, options)
    virtual_packages = _virtual_packages(options)
    try:
        spec = make_lock_spec(src_files=[environment.path], platform_overrides=platforms, mapping_url=mapping_url)
    except yaml.YAMLError as exc:
        raise _first_selector_problem(environment, platforms, exc) from exc
    except (ValueError, RuntimeError, KeyError, TypeError) as exc:
        raise LockError(f"{environment.path}: conda-lock cannot read it: {exc}") from exc
    return _Plan(environment, platforms, spec, virtual_packages, mapping_url)


def _first_selector_problem(environment: _Environment, platforms: Sequence[str], exc: yaml.YAMLError) -> LockError:
    for platform in platforms:
        filtered = "\n".join(filter_platform_selectors(environment.text, platform=platform))
        try:
            yaml.safe_load(filtered)
        except yaml.YAMLError as problem:
            return _selector_context(environment, platform, problem)
    return _yaml_problem(environment.path, exc)


# --- solving -------------------------------------------------------------------------------------


def _rattler_virtual_packages(repo: FakeRepoData, platform: str) -> list[rattler.GenericVirtualPackage]:
    """The platform's virtual packages from conda-lock's repository (highest version of a name)."""
    best: dict[str, tuple[rattler.Version, str]] = {}
    subdir = repo.all_repodata.get(platform, {})
    for record in subdir.get("packages", {}).values():
        version = rattler.Version(str(record["version"]))
        if record["name"] not in best or best[record["name"]][0] < version:
            best[record["name"]] = (version, str(record.get("build_string") or "0"))
    return [
        rattler.GenericVirtualPackage(rattler.PackageName(name), version, rattler.BuildString(build))
        for name, (version, build) in sorted(best.items())
    ]


def _merge_depends(depends: Iterable[str]) -> dict[str, str]:
    """``{name: version spec}`` of a record's depends, merged per name as conda-lock does."""
    by_name: dict[str, list[Any]] = {}
    for dependency in depends:
        spec = CondaMatchSpec(dependency)
        by_name.setdefault(spec.name, []).append(spec)
    merged: dict[str, str] = {}
    for name, specs in by_name.items():
        spec = specs[0] if len(specs) == 1 else CondaMatchSpec.merge(specs)[0]
        merged[name] = spec.version.spec_str if spec.version is not None else ""
    return merged


def _channel_alias(options: CondaLockOptions) -> str:
    alias = options.channel_alias or "https://conda.anaconda.org/"
    return alias if alias.endswith("/") else f"{alias}/"


def _rattler_channels(plan: _Plan, options: CondaLockOptions) -> list[rattler.Channel]:
    config = rattler.ChannelConfig(channel_alias=_channel_alias(options), root_dir=str(plan.environment.path.parent))
    channels = []
    for channel in plan.spec.channels:
        try:
            channels.append(rattler.Channel(channel.env_replaced_url(), config))
        except InvalidChannelError as exc:
            raise LockError(f"{plan.environment.path}: invalid channel `{channel.url}`: {exc}") from exc
    return channels


def _conda_specs(plan: _Plan, platform: str) -> tuple[dict[str, Dependency], list[str]]:
    requested = {dep.name: dep for dep in plan.spec.dependencies[platform] if dep.manager == "conda"}
    specs = []
    for dep in requested.values():
        if not isinstance(dep, VersionedDependency):
            raise LockError(f"{plan.environment.path}: the conda dependency {dep.name!r} must be a name and version.")
        spec = _to_match_spec(dep.name, dep.version, dep.build, dep.conda_channel)
        try:
            rattler.MatchSpec(spec)
        except InvalidMatchSpecError as exc:
            line = plan.environment.lines.get(dep.name)
            where = f"{plan.environment.path}:{line}" if line else str(plan.environment.path)
            raise LockError(
                f"{where}: rattler cannot read the spec `{spec}` (as read for {platform}, once the "
                f"`# [...]` selectors are applied): {exc}"
            ) from exc
        specs.append(spec)
    return requested, specs


async def _solve_platforms(
    plan: _Plan, channels: list[rattler.Channel], specs: Mapping[str, list[str]]
) -> list[list[rattler.RepoDataRecord] | BaseException]:
    gateway = rattler.Gateway()  # a new one per lock: a reused gateway keeps stale repodata in memory
    solves = [
        rattler.solve(
            sources=channels,
            specs=specs[platform],
            gateway=gateway,
            platforms=[rattler.Subdir(platform), rattler.Subdir("noarch")],
            virtual_packages=_rattler_virtual_packages(plan.virtual_packages, platform),
            channel_priority=rattler.ChannelPriority.Strict,
            channel_relations="disabled",
        )
        for platform in plan.platforms
    ]
    return await asyncio.gather(*solves, return_exceptions=True)


def _kept_message(conda_lock: Path) -> str:
    if conda_lock.exists():
        return f"Nothing was written: {conda_lock} was left as it was."
    return f"Nothing was written: {conda_lock} does not exist yet."


def _channel_list(plan: _Plan, channels: Sequence[rattler.Channel]) -> str:
    return ", ".join(
        f"{spec.url} ({channel.base_url})" for spec, channel in zip(plan.spec.channels, channels, strict=True)
    )


def _solve_conda(plan: _Plan, options: CondaLockOptions, conda_lock: Path) -> dict[str, dict[str, LockedDependency]]:
    channels = _rattler_channels(plan, options)
    requested: dict[str, dict[str, Dependency]] = {}
    specs: dict[str, list[str]] = {}
    for platform in plan.platforms:
        requested[platform], specs[platform] = _conda_specs(plan, platform)
    results = asyncio.run(_solve_platforms(plan, channels, specs))

    unreachable = [result for result in results if isinstance(result, GatewayError | FetchRepoDataError)]
    if unreachable:
        # The platforms share one gateway: when a fetch fails, the solves waiting on the same
        # request only say "a coalesced request failed". Quote the error that says what failed.
        said = [str(error) for error in unreachable if "coalesced request" not in str(error)] or [str(unreachable[0])]
        raise LockError(
            f"Could not read the package index of the channels of {plan.environment.path} "
            f"({_channel_list(plan, channels)}):{quote_output(said[0])}\n"
            f"Check the channel URL and the network (or channel_alias). {_kept_message(conda_lock)}"
        ) from unreachable[0]
    unsolvable: list[str] = []
    for platform, result in zip(plan.platforms, results, strict=True):
        if isinstance(result, SolverError):
            unsolvable.append(f"{platform}: {redact(str(result).strip())}")
        elif isinstance(result, BaseException) and not isinstance(result, Exception):
            raise result  # cancelled or interrupted: not a lock failure
        elif isinstance(result, BaseException):
            raise LockError(
                f"Could not lock {plan.environment.path} for {platform}: {type(result).__name__}: {result}. "
                f"{_kept_message(conda_lock)}"
            ) from result
    if unsolvable:
        explanation = "\n".join(f"  {line}" for text in unsolvable for line in text.splitlines())
        raise LockError(
            f"Could not lock {plan.environment.path}: the conda specs cannot be satisfied.\n"
            f"The solver (rattler) said:\n{explanation}\n"
            f"Relax or fix the spec named above in {plan.environment.path.name} (channels are searched with "
            f"strict priority: {', '.join(c.url for c in plan.spec.channels)}). {_kept_message(conda_lock)}"
        )

    locked: dict[str, dict[str, LockedDependency]] = {}
    for platform, records in zip(plan.platforms, results, strict=True):
        assert not isinstance(records, BaseException)
        planned = {
            record.name.normalized: LockedDependency(
                name=record.name.normalized,
                version=str(record.version),
                manager="conda",
                platform=platform,
                dependencies=_merge_depends(record.depends),
                url=normalize_url_with_placeholders(str(record.url), channels=plan.spec.channels),
                hash=HashModel(
                    md5=record.md5.hex() if record.md5 is not None else "",
                    sha256=record.sha256.hex() if record.sha256 is not None else None,
                ),
            )
            for record in records
        }
        apply_categories(requested=requested[platform], planned=planned, mapping_url=plan.mapping_url)
        locked[platform] = planned
    return locked


def _solve_pip(
    plan: _Plan, platform: str, conda: dict[str, LockedDependency], conda_lock: Path
) -> list[LockedDependency]:
    requested = {dep.name: dep for dep in plan.spec.dependencies[platform] if dep.manager == "pip"}
    if not requested:
        return []
    where = plan.environment.path
    if "python" not in conda:
        raise LockError(f"{where}: the `pip:` section needs python among the conda dependencies ({platform}).")
    if not platform.startswith(_PIP_SUPPORTED):
        raise LockError(
            f"{where}: conda-lock's pip solver cannot lock a `pip:` section for {platform} "
            "(it knows linux-*, osx-* and win-64); remove that platform or the pip section."
        )
    try:
        solved = solve_pypi(
            pip_specs=requested,
            use_latest=[],
            pip_locked={},
            conda_locked=dict(conda),
            python_version=conda["python"].version,
            platform=platform,
            platform_virtual_packages=plan.virtual_packages.all_repodata.get(platform, {}).get("packages"),
            pip_repositories=plan.spec.pip_repositories,
            allow_pypi_requests=plan.spec.allow_pypi_requests,
            strip_auth=True,  # credentials of a pip repository never go into the lock
            mapping_url=plan.mapping_url,
        )
    except Exception as exc:  # vendored Poetry raises its own solver, repository and requests errors
        indexes = [repo.stripped_url for repo in plan.spec.pip_repositories]
        if plan.spec.allow_pypi_requests:
            indexes.append("https://pypi.org (allow-pypi-requests)")
        said = quote_output(str(exc))
        raise LockError(
            f"Could not lock the `pip:` section of {where} for {platform}: conda-lock's pip solver failed "
            f"with {type(exc).__name__}:{said}\n"
            f"Indexes searched: {', '.join(indexes) or 'none'}. Fix the requirement named above, or the "
            f"`pip-repositories:` of {where.name}. {_kept_message(conda_lock)}"
        ) from exc
    return list(solved.values())


# --- writing -------------------------------------------------------------------------------------


def _render_lock(lockfile: Lockfile, conda_lock: Path) -> bytes:
    """conda-lock.yml as conda-lock writes it (its help text names the file, hence the real name)."""
    with tempfile.TemporaryDirectory(prefix="model-release-conda-lock-") as tmp:
        staged = Path(tmp) / conda_lock.name
        write_conda_lock_file(lockfile, staged, metadata_choices=set())
        return staged.read_bytes()


def _render_explicit(lockfile: Lockfile, platform: str) -> str:
    lines = render_lockfile_for_platform(
        lockfile=lockfile.model_copy(deep=True),  # rendering sorts the packages in place
        include_dev_dependencies=True,
        extras=None,
        kind="explicit",
        platform=platform,
        suppress_warning_for_pip_and_explicit=True,
    )
    return "\n".join(lines) + "\n"


def explicit_path(conda_lock: Path, platform: str) -> Path:
    """Where the ``@EXPLICIT`` file of ``platform`` goes: ``conda-<platform>.lock`` beside the lock."""
    return Path(conda_lock).parent / f"conda-{platform}.lock"


def lock_conda(environment_yml: Path, conda_lock: Path, options: CondaLockOptions) -> CondaLockResult:
    """Solve ``environment_yml`` for each platform and write ``conda_lock`` in conda-lock's format.

    Raises :class:`LockError` naming the file (and line, where there is one) for a malformed
    environment.yml, an unknown platform, a ``defaults`` channel, an unsatisfiable spec (quoting
    the solver), an unreachable channel or pip index; nothing is written then.
    """
    environment_yml = Path(environment_yml)
    conda_lock = Path(conda_lock)
    if not conda_lock.parent.is_dir():
        raise LockError(f"Cannot write {conda_lock}: the folder {conda_lock.parent} does not exist.")
    if conda_lock.resolve() == environment_yml.resolve():
        raise LockError(f"The lock file {conda_lock} is the input itself: lock into conda-lock.yml.")
    started = time.perf_counter()
    plan = _plan(environment_yml, options)
    conda = _solve_conda(plan, options, conda_lock)
    packages: list[LockedDependency] = []
    counts: dict[str, int] = {}
    for platform in plan.platforms:
        pip = _solve_pip(plan, platform, conda[platform], conda_lock)
        real = [dep for dep in conda[platform].values() if not dep.name.startswith("__")]
        packages += real + pip
        counts[platform] = len(real) + len(pip)
    lockfile = Lockfile(
        package=packages,
        metadata=LockMeta(
            content_hash=compute_content_hashes(plan.spec, plan.virtual_packages),
            channels=list(plan.spec.channels),
            platforms=list(plan.platforms),
            sources=[relative_path(conda_lock.parent, plan.environment.path)],
        ),
    )
    outputs: dict[Path, str | bytes] = {conda_lock: _render_lock(lockfile, conda_lock)}
    if options.explicit_files:
        for platform in plan.platforms:
            outputs[explicit_path(conda_lock, platform)] = _render_explicit(lockfile, platform)
    try:
        for path, data in outputs.items():
            write_atomic(path, data)
    except OSError as exc:
        raise LockError(
            f"Cannot write {exc.filename or conda_lock}: {exc.strerror or exc}. Fix the folder's permissions "
            f"or space and run `{LOCK_COMMAND}` again."
        ) from exc
    logger.info(
        "Locked %s into %s for %s (%s) in %.2f s",
        environment_yml,
        conda_lock,
        ", ".join(plan.platforms),
        ", ".join(f"{platform}: {count} packages" for platform, count in counts.items()),
        time.perf_counter() - started,
    )
    return CondaLockResult(
        path=conda_lock,
        platforms=plan.platforms,
        packages=counts,
        explicit=tuple(path for path in outputs if path != conda_lock),
    )


# --- checking ------------------------------------------------------------------------------------


def _parse_lock(conda_lock: Path, error: type[LockError]) -> Lockfile:
    try:
        return parse_conda_lock_file(conda_lock)
    except FileNotFoundError as exc:
        raise error(f"The conda lock {conda_lock} is missing. {_FIX}") from exc
    except (yaml.YAMLError, ValueError, TypeError, AttributeError) as exc:  # pydantic errors are ValueErrors
        raise error(
            f"{conda_lock} is not a conda-lock file conda-lock can read ({type(exc).__name__}). {_FIX}"
        ) from exc


def check_conda_lock(environment_yml: Path, conda_lock: Path, options: CondaLockOptions) -> None:
    """Raise :class:`StaleLockError` unless ``conda_lock`` was locked from ``environment_yml`` as it is
    now, for the platforms and virtual packages of ``options``: conda-lock's per-platform content
    hash (it covers channels, specs, pip repositories and virtual packages) must match. With
    ``options.explicit_files`` the ``conda-<platform>.lock`` files must carry the same hash.
    Reads files only: no network, no solver. Raises :class:`LockError` when environment.yml is
    malformed (it cannot be checked then)."""
    environment_yml = Path(environment_yml)
    conda_lock = Path(conda_lock)
    plan = _plan(environment_yml, options)
    lockfile = _parse_lock(conda_lock, StaleLockError)
    locked_platforms = set(lockfile.metadata.platforms)
    wanted = set(plan.platforms)
    if locked_platforms != wanted:
        missing, extra = sorted(wanted - locked_platforms), sorted(locked_platforms - wanted)
        raise StaleLockError(
            f"The lock {conda_lock} is stale: it is for {', '.join(sorted(locked_platforms)) or 'no platform'}, "
            f"but {', '.join(plan.platforms)} are wanted"
            + (f" (missing {', '.join(missing)})" if missing else "")
            + (f" (not wanted: {', '.join(extra)})" if extra else "")
            + f". {_FIX}"
        )
    stale = [
        platform
        for platform in plan.platforms
        if lockfile.metadata.content_hash.get(platform)
        not in backwards_compatible_content_hashes(plan.spec, plan.virtual_packages, platform)
    ]
    if stale:
        raise StaleLockError(
            f"The lock {conda_lock} is stale: {environment_yml} (its channels, specs or pip repositories) "
            f"or the virtual packages changed since it was locked (content hash differs for "
            f"{', '.join(stale)}). {_FIX}"
        )
    if options.explicit_files:
        for platform in plan.platforms:
            _check_explicit(explicit_path(conda_lock, platform), lockfile.metadata.content_hash[platform])


def _check_explicit(path: Path, content_hash: str) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise StaleLockError(f"The explicit lock {path} is missing. {_FIX}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise StaleLockError(f"The explicit lock {path} cannot be read ({exc}). {_FIX}") from exc
    if f"# input_hash: {content_hash}" not in text.splitlines():
        raise StaleLockError(f"The explicit lock {path} does not match conda-lock.yml (its input_hash differs). {_FIX}")


# --- installing ----------------------------------------------------------------------------------


def _channel_base(url: str) -> str:
    """``https://host/conda-forge`` of ``https://host/conda-forge/linux-64/name-1-h0.conda``."""
    return url.rsplit("/", 2)[0]


async def _query_and_install(
    wanted: Mapping[str, LockedDependency], prefix: Path, platform: str, cache_dir: Path | None
) -> list[rattler.RepoDataRecord]:
    gateway = rattler.Gateway()
    channels = [rattler.Channel(base) for base in dict.fromkeys(_channel_base(url) for url in wanted)]
    specs = sorted({f"{dep.name} =={dep.version}" for dep in wanted.values()})
    found = await gateway.query(
        channels,
        [rattler.Subdir(platform), rattler.Subdir("noarch")],
        specs,
        recursive=False,
        channel_relations="disabled",
    )
    records: dict[str, rattler.RepoDataRecord] = {}
    for record in (record for group in found for record in group):
        if str(record.url) in wanted:
            records[str(record.url)] = record
    missing = sorted(set(wanted) - set(records))
    if missing:
        raise LockError(
            f"The channels no longer serve {len(missing)} package(s) of the lock: "
            f"{redact(', '.join(missing[:5]))}" + (" ..." if len(missing) > 5 else "")
        )
    for url, record in records.items():
        locked = wanted[url].hash
        md5 = record.md5.hex() if record.md5 is not None else None
        sha256 = record.sha256.hex() if record.sha256 is not None else None
        if md5 != locked.md5 or (locked.sha256 and sha256 and sha256 != locked.sha256):
            raise LockError(
                f"{redact(url)}: the channel's md5/sha256 ({md5}, {sha256}) differ from the lock's "
                f"({locked.md5}, {locked.sha256}): the package changed since it was locked."
            )
    ordered = [records[url] for url in wanted]
    await rattler.install(
        ordered,
        target_prefix=prefix,
        cache_dir=cache_dir,
        platform=rattler.Subdir(platform),
        execute_link_scripts=False,
        show_progress=False,
    )
    return ordered


def install_conda_lock(conda_lock: Path, prefix: Path, platform: str, *, cache_dir: Path | None = None) -> list[str]:
    """Install the conda packages ``conda_lock`` locks for ``platform`` into ``prefix`` with rattler.

    The lock's packages are looked up in the channels their URLs point at (a new gateway, so the
    current index), each must still be served at its locked URL with the locked md5 (and sha256),
    and rattler checks each download's sha256. Packages' link scripts are not run (rattler's
    advice: they are arbitrary code), and ``pip`` packages of the lock are not installed.
    Returns the names installed, sorted. Raises :class:`LockError`.
    """
    conda_lock = Path(conda_lock)
    lockfile = _parse_lock(conda_lock, LockError)
    if platform not in lockfile.metadata.platforms:
        raise LockError(
            f"{conda_lock} has no packages for {platform}: it locks {', '.join(lockfile.metadata.platforms)}."
        )
    wanted: dict[str, LockedDependency] = {}
    pip = 0
    for dep in lockfile.package:
        if dep.platform != platform or dep.name.startswith("__"):
            continue
        if dep.manager == "pip":
            pip += 1
            continue
        wanted[posixpath.expandvars(dep.url)] = dep
    if pip:
        logger.info(
            "%s locks %d pip package(s) for %s; install_conda_lock leaves them to pip", conda_lock, pip, platform
        )
    started = time.perf_counter()
    try:
        records = asyncio.run(_query_and_install(wanted, Path(prefix), platform, cache_dir))
    except (GatewayError, FetchRepoDataError) as exc:
        raise LockError(f"Could not read the channels of {conda_lock}:{quote_output(str(exc))}") from exc
    except InstallerError as exc:
        raise LockError(f"Could not install {conda_lock} ({platform}) into {prefix}:{quote_output(str(exc))}") from exc
    except LockError as exc:
        raise LockError(f"Cannot install {conda_lock} ({platform}): {exc}") from exc
    logger.info(
        "Installed %d packages of %s (%s) into %s in %.2f s",
        len(records),
        conda_lock,
        platform,
        prefix,
        time.perf_counter() - started,
    )
    return sorted(record.name.normalized for record in records)
