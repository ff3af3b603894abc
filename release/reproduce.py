"""Rebuilding a published release's environment from its own locks, every downloaded byte verified.

``reproduce`` resolves a revision (a tag, a branch or a commit; by default the latest ``v*`` tag),
downloads only the release manifest, the locks, the environment snapshot and the card at that
commit, checks the manifest against the Hub's blob/LFS id and every other file against the manifest
(size and sha256), then builds a virtual environment with ``--require-hashes --no-deps`` and a
check (uv when it is on ``PATH``, else pip; see :mod:`release.install`), and reports how it differs
from the lock and from ``environment.json``. An interpreter of the recorded Python is found, or
installed, with uv when the one running is another.

Everything is built in a temporary folder beside the destination and renamed into place at the end:
a failed or interrupted run leaves nothing half-built. The Hub client comes from
:mod:`release.hub_client`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import re
import secrets
import shutil
import sys
import tempfile
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from packaging.version import InvalidVersion, Version

from release.checksum import ManifestEntry, git_blob_id, hash_file
from release.errors import LockError, ProcessError, ReproduceError, StageError
from release.hub_client import connect, hub_errors
from release.install import (
    Installer,
    InstallerChoice,
    LockInstall,
    build_venv,
    choose_installer,
    find_uv,
    recorded_interpreter,
)
from release.lock.pip import canonical_name, parse_lock_header, read_pins
from release.lock.snapshot import marker_environment, probe_environment
from release.machine import MachineDifferences, machine_differences, machine_of, probe_machine
from release.process import run
from release.signing import TrustPolicy, Verified, signature_error, verify_signed_digests
from release.stage import CARD_PATH, RELEASE_MANIFEST, ReleaseManifest
from release.verify import Proof, Runtime, VerifySpec, prove

if TYPE_CHECKING:
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoFile

log = logging.getLogger(__name__)

REQUIREMENTS = "requirements.txt"
CONDA_LOCK = "conda-lock.yml"
ENVIRONMENT_YML = "environment.yml"
SNAPSHOT = "environment.json"
#: The only files downloaded without --with-weights.
ENVIRONMENT_FILES = (REQUIREMENTS, CONDA_LOCK, ENVIRONMENT_YML, SNAPSHOT, CARD_PATH)
#: Distributions a fresh venv has without being asked for them: not "extra" unless the lock pins them.
_VENV_SEED = frozenset({"pip", "setuptools", "wheel"})
_HEX_COMMIT = re.compile(r"^[0-9a-f]{7,40}$")
_PYTHON_IN_HEADER = re.compile(r"\b(?:CPython|PyPy|Python)\s+(\d+\.\d+)")


@dataclass(frozen=True)
class ReproduceTarget:
    endpoint: str
    repo_id: str
    repo_type: Literal["model", "dataset"] = "model"
    revision: str | None = None  # None: the latest v* tag
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ReproduceOptions:
    dest: Path | None = None  # default: .reproduce/<repo>@<rev>
    python: str | None = None  # the interpreter to build the venv with (default: this one)
    with_weights: bool = False
    conda: bool = False
    unverified: bool = False  # a release without release-manifest.json: install its lock unverified
    run: bool = False  # run the release's [verify] command on its weights and compare the metrics
    retrain: bool = False  # run its training command and compare the weights it writes
    timeout: float | None = None  # seconds each declared command may run (--run, --retrain); None: no limit
    find_links: tuple[str, ...] = ()
    index_url: str | None = None
    no_index: bool = False
    installer: InstallerChoice = "auto"  # auto: uv when it is on PATH, else pip
    trust: TrustPolicy = field(default_factory=TrustPolicy)  # --trust-key ...: who must have signed it

    def pip_args(self) -> tuple[str, ...]:
        args: list[str] = ["--no-index"] if self.no_index else []
        if self.index_url is not None:
            args += ["--index-url", self.index_url]
        for link in self.find_links:
            args += ["--find-links", link]
        return tuple(args)


@dataclass(frozen=True)
class Revision:
    requested: str  # what was asked for, or the tag chosen
    commit: str


@dataclass(frozen=True)
class _Job:
    """One rebuild: what is reproduced, how, and where."""

    target: ReproduceTarget
    revision: Revision
    options: ReproduceOptions
    building: Path  # the folder being built, renamed to ``dest`` once complete
    dest: Path
    cache: Path  # downloads

    @property
    def name(self) -> str:
        return f"{self.target.repo_id}@{self.revision.requested}"


@dataclass(frozen=True)
class Differences:
    """How an installed set differs from a recorded one (the lock, or environment.json)."""

    missing: tuple[str, ...] = ()  # recorded, not installed
    extra: tuple[str, ...] = ()  # installed, not recorded
    different: tuple[tuple[str, str, str], ...] = ()  # (name, recorded, installed)
    python: tuple[str, str] | None = None  # (recorded, here) when they differ
    platform: tuple[str, str] | None = None  # (recorded, here) when they differ

    @property
    def clean(self) -> bool:
        return not (self.missing or self.extra or self.different or self.python or self.platform)

    def to_json(self) -> dict[str, Any]:
        return {
            "missing": list(self.missing),
            "extra": list(self.extra),
            "different": [{"name": n, "recorded": r, "installed": i} for n, r, i in self.different],
            "python": None if self.python is None else {"recorded": self.python[0], "here": self.python[1]},
            "platform": None if self.platform is None else {"recorded": self.platform[0], "here": self.platform[1]},
        }

    def lines(self, against: str, limit: int = 10) -> list[str]:
        """Readable lines, at most ``limit`` per kind (``--json`` has them all)."""

        def capped(kind: str, items: Sequence[str]) -> list[str]:
            shown = [f"{kind}: {item}" for item in items[:limit]]
            if len(items) > limit:
                shown.append(f"{kind}: ... and {len(items) - limit} more (--json lists them all)")
            return shown

        out = capped(f"missing (in {against}, not installed)", self.missing)
        out += capped(f"extra (installed, not in {against})", self.extra)
        out += capped("different", [f"{n} is {i} here, {r} in {against}" for n, r, i in self.different])
        if self.python:
            out.append(f"different Python: {self.python[1]} here, {self.python[0]} in {against}")
        if self.platform:
            out.append(f"different platform: {self.platform[1]} here, {self.platform[0]} in {against}")
        return out


@dataclass(frozen=True)
class ReproduceResult:
    repo_id: str
    revision: str
    commit: str
    dest: Path
    python: str  # "3.11.7"
    verified: tuple[str, ...]  # release paths checked against the manifest
    installed: Mapping[str, str]  # {canonical name: version} in the venv
    lock_differences: Differences
    snapshot_differences: Differences | None  # None: the release has no environment.json
    machine_differences: MachineDifferences | None = None  # None: no environment.json, or no venv to probe
    conda_prefix: Path | None = None
    conda_packages: tuple[str, ...] = ()
    weights: tuple[str, ...] = ()
    proof: Proof | None = None  # --run / --retrain
    verify: VerifySpec | None = None  # what the release declares, when --run or --retrain asked for it
    installer: Installer | None = None  # what built the venv; None when nothing was installed

    @property
    def activate(self) -> str | None:
        """The command that activates the rebuilt venv; None when nothing was installed (a dataset)."""
        return f"source {self.dest / 'venv' / 'bin' / 'activate'}" if self.installed else None

    def to_json(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "revision": self.revision,
            "commit": self.commit,
            "dest": str(self.dest),
            "python": self.python,
            "installer": self.installer,
            "verified": list(self.verified),
            "installed": dict(sorted(self.installed.items())),
            "lock_differences": self.lock_differences.to_json(),
            "snapshot_differences": None if self.snapshot_differences is None else self.snapshot_differences.to_json(),
            "machine_differences": None if self.machine_differences is None else self.machine_differences.to_json(),
            "conda_prefix": None if self.conda_prefix is None else str(self.conda_prefix),
            "conda_packages": list(self.conda_packages),
            "weights": list(self.weights),
            "activate": self.activate,
            **({} if self.proof is None else self.proof.to_json()),
        }


# --- pure parts ---------------------------------------------------------------------------------


def parse_target(text: str) -> tuple[str, str | None]:
    """``"ns/name@v1.0"`` -> ``("ns/name", "v1.0")``; no ``@``: no revision."""
    repo_id, at, revision = text.partition("@")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")) or (at and not revision):
        raise ReproduceError(
            f"{text!r} is not REPO[@REV]: expected namespace/name, optionally @tag, @branch or @commit"
        )
    return repo_id, revision or None


def latest_version_tag(tags: Sequence[str]) -> str | None:
    """The highest ``v<version>`` tag by version order (not by string order), or None."""
    versions: list[tuple[Version, str]] = []
    for tag in tags:
        if tag.startswith("v"):
            try:
                versions.append((Version(tag[1:]), tag))
            except InvalidVersion:
                continue
    return max(versions)[1] if versions else None


def recorded_python(snapshot: Mapping[str, Any] | None, lock_text: str | None) -> str | None:
    """The major.minor Python the release recorded: environment.json first, else the lock header."""
    if snapshot is not None:
        version = str((snapshot.get("python") or {}).get("version") or "")
        if version.count(".") >= 1:
            return ".".join(version.split(".")[:2])
    if lock_text is not None:
        header = parse_lock_header(lock_text)
        if header is not None and (match := _PYTHON_IN_HEADER.search(header.resolved_with)):
            return match.group(1)
    return None


def compare_installed(
    installed: Mapping[str, str],
    recorded: Mapping[str, str],
    *,
    ignore_extra: frozenset[str] = _VENV_SEED,
) -> Differences:
    """Missing, extra and different distributions between two ``{name: version}`` maps. Pure."""
    have = {canonical_name(n): v for n, v in installed.items()}
    want = {canonical_name(n): v for n, v in recorded.items()}
    return Differences(
        missing=tuple(sorted(n for n in want if n not in have)),
        extra=tuple(sorted(n for n in have if n not in want and n not in ignore_extra)),
        different=tuple((n, want[n], have[n]) for n in sorted(want) if n in have and have[n] != want[n]),
    )


def applicable_pins(lock_text: str, environment: Mapping[str, str]) -> dict[str, str]:
    """The lock's pins whose environment markers hold in ``environment`` (see :func:`marker_environment`).

    A line for another platform (``; sys_platform == 'win32'``) is neither missing nor installed: pip
    skips it, and so does the comparison. The lines left out are logged.
    """
    pins = read_pins(lock_text, environment)
    others = sorted(set(read_pins(lock_text)) - set(pins))
    if others:
        log.info("not for this interpreter (its environment markers do not hold): %s", ", ".join(others))
    return pins


def compare_with_snapshot(
    installed: Mapping[str, str],
    snapshot: Mapping[str, Any],
    python: str,
    platform: str,
    *,
    pinned: Collection[str] = (),
) -> Differences:
    """Differences from ``environment.json`` (distributions, Python version, system and machine). Pure.

    The venv seed (pip, setuptools, wheel) is left out on both sides unless the lock pins it
    (``pinned``: the lock's names): ``python -m venv`` installs it unasked, ``uv venv`` does not,
    so whether it is there says how the venv was made, not what the release needs.
    """
    seed = _VENV_SEED - {canonical_name(name) for name in pinned}
    recorded = {d["name"]: d["version"] for d in snapshot.get("distributions", [])}
    base = compare_installed(_without(installed, seed), _without(recorded, seed), ignore_extra=frozenset())
    recorded_python = str((snapshot.get("python") or {}).get("version") or "")
    info = snapshot.get("platform") or {}
    recorded_platform = f"{info.get('system')} {info.get('machine')}"
    return Differences(
        missing=base.missing,
        extra=base.extra,
        different=base.different,
        python=(recorded_python, python) if recorded_python and recorded_python != python else None,
        platform=(recorded_platform, platform) if info and recorded_platform != platform else None,
    )


def _without(versions: Mapping[str, str], names: frozenset[str]) -> dict[str, str]:
    return {name: version for name, version in versions.items() if canonical_name(name) not in names}


def verify_download(path: Path, entry: ManifestEntry) -> None:
    """Raise :class:`ReproduceError` naming ``entry.path`` unless ``path`` has its size and sha256."""
    size, digest = hash_file(path)
    if size != entry.size or digest != entry.sha256:
        raise ReproduceError(
            f"{entry.path} does not match {RELEASE_MANIFEST} (expected {entry.size} bytes, sha256 {entry.sha256}; "
            f"downloaded {size} bytes, sha256 {digest}): the file on the Hub was tampered with or the download "
            "was truncated; nothing was built"
        )


# --- the effectful run ----------------------------------------------------------------------------


def reproduce_release(target: ReproduceTarget, options: ReproduceOptions) -> ReproduceResult:
    """Resolve, download and verify, build the environment beside its destination, then rename it in."""
    with _reproduce_errors(target):
        choose_installer(options.installer, find_uv())  # --installer uv without uv: say so before any download
        api = connect(target.endpoint, target.token)
        revision = resolve_revision(api, target)
        dest = options.dest or Path(".reproduce") / f"{target.repo_id}@{revision.requested}"
        if dest.exists():
            raise ReproduceError(f"{dest} already exists: remove it, or choose another folder with --dest")
        created = [p for p in reversed(dest.parents) if not p.exists()]  # removed again on failure
        dest.parent.mkdir(parents=True, exist_ok=True)
        building = dest.parent / f".{dest.name}.building-{secrets.token_hex(4)}"
        building.mkdir()
        try:
            with tempfile.TemporaryDirectory(prefix="model-release-reproduce-") as cache:
                job = _Job(target, revision, options, building, dest, Path(cache))
                files, manifest = _download_environment(api, job)
                _check_signature(job.name, manifest, lambda name: _download(api, job, name), files, options.trust)
                spec = _declared_proof(job, manifest)
                result = _build(api, job, files, manifest)
                if spec is not None:
                    result = _prove(job, result, spec, manifest)
            _relocate_venv(building / "venv", building, dest)
            os.replace(building, dest)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            for folder in reversed(created):
                with contextlib.suppress(OSError):
                    folder.rmdir()
            raise
    return result


def resolve_revision(api: HfApi, target: ReproduceTarget) -> Revision:
    """The commit of a tag, branch or commit id; with no revision, of the latest ``v*`` tag."""
    refs = api.list_repo_refs(target.repo_id, repo_type=target.repo_type)
    tags = {t.name: t.target_commit for t in refs.tags}
    branches = {b.name: b.target_commit for b in refs.branches}
    requested = target.revision
    if requested is None:
        latest = latest_version_tag(sorted(tags))
        if latest is None:
            raise ReproduceError(
                f"{target.repo_id} has no version tag (v<version>) to reproduce: name a revision, e.g. "
                f"{target.repo_id}@main"
            )
        return Revision(latest, tags[latest])
    if requested in tags:
        return Revision(requested, tags[requested])
    if requested in branches:
        return Revision(requested, branches[requested])
    if _HEX_COMMIT.match(requested):
        from huggingface_hub.errors import RevisionNotFoundError

        try:
            info = api.repo_info(target.repo_id, revision=requested, repo_type=target.repo_type)
        except RevisionNotFoundError:
            pass
        else:
            if info.sha:
                return Revision(requested, info.sha)
    known = ", ".join(sorted(tags)) or "none"
    raise ReproduceError(
        f"{target.repo_id} has no revision {requested!r} (tags: {known}; branches: {', '.join(sorted(branches))})"
    )


def _download_environment(api: HfApi, job: _Job) -> tuple[dict[str, Path], ReleaseManifest | None]:
    """The release's environment files at the revision, each verified; and its manifest."""
    from huggingface_hub.hf_api import RepoFile

    target, revision = job.target, job.revision
    tree = {
        item.path: item
        for item in api.list_repo_tree(
            target.repo_id, revision=revision.commit, repo_type=target.repo_type, recursive=True
        )
        if isinstance(item, RepoFile)
    }
    wanted = [name for name in ENVIRONMENT_FILES if name in tree]
    if RELEASE_MANIFEST not in tree:
        _check_unverified(job, tree, wanted)
        return {name: _download(api, job, name) for name in wanted}, None
    manifest_path = _download(api, job, RELEASE_MANIFEST)
    _verify_against_tree(manifest_path, tree[RELEASE_MANIFEST])
    try:
        manifest = ReleaseManifest.from_json(manifest_path.read_text(encoding="utf-8"), RELEASE_MANIFEST)
    except StageError as exc:
        raise ReproduceError(str(exc)) from exc
    entries = {e.path: e for e in manifest.files}
    files: dict[str, Path] = {}
    for name in wanted:
        if name not in entries:
            raise ReproduceError(f"{name} is in the repo but not in {RELEASE_MANIFEST}: it cannot be verified")
        files[name] = _download(api, job, name)
        verify_download(files[name], entries[name])
        log.info("verified %s", name)
    return files, manifest


def _check_unverified(job: _Job, tree: Mapping[str, RepoFile], wanted: Sequence[str]) -> None:
    """A release without a manifest: its lock is installed only with --unverified, and only if it has one."""
    missing = f"{job.name} has no {RELEASE_MANIFEST} (it was not released with model-release)"
    if REQUIREMENTS not in tree:
        raise ReproduceError(
            f"{missing}, and no {REQUIREMENTS}: there is no lock to rebuild an environment from "
            f"(it holds: {', '.join(sorted(tree)) or 'nothing'})"
        )
    if not job.options.unverified:
        raise ReproduceError(
            f"{missing}: its files cannot be verified. Run again with --unverified to install its "
            f"{REQUIREMENTS} anyway (pip still checks the hashes the lock pins), or by hand: "
            f"`hf download {job.target.repo_id} {REQUIREMENTS} --revision {job.revision.commit}` then "
            f"`pip install --require-hashes --no-deps -r {REQUIREMENTS}`"
        )
    log.warning("%s: installing %s unverified", missing, ", ".join(wanted))


def _verify_against_tree(path: Path, remote: RepoFile) -> None:
    data = path.read_bytes()
    if remote.lfs is not None:
        ok = remote.lfs.sha256 == hashlib.sha256(data).hexdigest() and remote.lfs.size == len(data)
    else:
        ok = remote.blob_id == git_blob_id(data)
    if not ok:
        raise ReproduceError(
            f"{RELEASE_MANIFEST} does not match the id the Hub lists for it: the download was tampered with or "
            "truncated; nothing was built"
        )


def _build(api: HfApi, job: _Job, files: Mapping[str, Path], manifest: ReleaseManifest | None) -> ReproduceResult:
    """The environment of the downloaded, verified release: its venv (and conda prefix), compared with its records."""
    snapshot = _read_snapshot(files.get(SNAPSHOT))
    lock_text = files[REQUIREMENTS].read_text(encoding="utf-8") if REQUIREMENTS in files else None
    python, here = _check_python(job, job.options.python, recorded_python(snapshot, lock_text))
    release_dir = job.building / "release"
    release_dir.mkdir()
    for name, path in files.items():
        shutil.copyfile(path, release_dir / name)
    conda_prefix: Path | None = None
    conda_packages: tuple[str, ...] = ()
    if job.options.conda:
        conda_packages = _install_conda(files, job.building / "conda", job.cache / "pkgs")
        conda_prefix = job.dest / "conda"
    installer: Installer | None = None
    pins: dict[str, str] = {}
    if lock_text is not None:
        installer, installed = _install_lock(job, python, release_dir / REQUIREMENTS)
        pins = applicable_pins(lock_text, marker_environment(python))
        lock_diff = compare_installed(installed, pins)
    else:
        _check_without_lock(job, files, manifest)
        installed, lock_diff = {}, Differences()
    snapshot_diff = None
    if snapshot is not None and installed:
        here_platform = f"{platform.system()} {platform.machine()}"
        snapshot_diff = compare_with_snapshot(installed, snapshot, here, here_platform, pinned=pins)
    machine_diff = _compare_machine(job, snapshot, installed)
    weights: tuple[str, ...] = ()
    options = job.options
    if options.with_weights or options.run or options.retrain or (job.target.repo_type == "dataset" and not lock_text):
        if manifest is None:
            raise ReproduceError(f"--with-weights needs {RELEASE_MANIFEST} to verify the weights against")
        weights = _download_weights(api, job, manifest, job.building / "files")
    return ReproduceResult(
        repo_id=job.target.repo_id,
        revision=job.revision.requested,
        commit=job.revision.commit,
        dest=job.dest,
        python=here,
        verified=tuple(sorted(files)) + ((RELEASE_MANIFEST,) if manifest is not None else ()),
        installed=installed,
        lock_differences=lock_diff,
        snapshot_differences=snapshot_diff,
        machine_differences=machine_diff,
        conda_prefix=conda_prefix,
        conda_packages=conda_packages,
        weights=weights,
        installer=installer,
    )


def _declared_proof(job: _Job, manifest: ReleaseManifest | None) -> VerifySpec | None:
    """What --run / --retrain will check, refused before anything is built when the release declares nothing."""
    options = job.options
    if not (options.run or options.retrain):
        return None
    flag = "--run" if options.run else "--retrain"
    if manifest is None:
        raise ReproduceError(f"{flag} needs {RELEASE_MANIFEST}: {job.name} has none to read its [verify] from")
    if manifest.verify is None:
        raise ReproduceError(
            f"{job.name} declares no way to prove itself ({RELEASE_MANIFEST} has no verify section): its project "
            f"adds a [verify] table (command, results, metrics) to release.toml; nothing was built"
        )
    if options.retrain and manifest.verify.train is None:
        raise ReproduceError(
            f"{job.name} declares no training command (verify.train in its release.toml): it cannot be "
            "retrained; --run compares its published metrics instead; nothing was built"
        )
    return manifest.verify


def _prove(job: _Job, result: ReproduceResult, spec: VerifySpec, manifest: ReleaseManifest | None) -> ReproduceResult:
    """Run the declared command (and/or retrain) in the rebuilt environment, on working copies of the release."""
    assert manifest is not None
    located = {name: job.building / "release" / name for name in result.verified if name != RELEASE_MANIFEST}
    located.update({name: job.building / "files" / name for name in result.weights})
    release = [(located[e.path], e) for e in manifest.files if e.path in located]
    building = job.building.absolute()  # the commands run in another folder: PATH must not be relative
    timeout = job.options.timeout
    runtime = (
        Runtime(building / "conda", "conda", timeout)
        if job.options.conda
        else Runtime(building / "venv", timeout=timeout)
    )
    proof = prove(
        spec, release, job.building, runtime, run_published=job.options.run, retrain_weights=job.options.retrain
    )
    return replace(result, proof=proof, verify=spec)


def _compare_machine(
    job: _Job, snapshot: Mapping[str, Any] | None, installed: Mapping[str, str]
) -> MachineDifferences | None:
    """The machine as the rebuilt venv sees it against the one ``environment.json`` recorded: what can make
    results differ (CPU or GPU, CUDA, BLAS, platform, Python). None without a snapshot or a venv."""
    if snapshot is None or not installed:
        return None
    try:
        here = probe_machine(str(job.building / "venv" / "bin" / "python"))
    except LockError as exc:
        raise ReproduceError(str(exc)) from exc
    return machine_differences(machine_of(snapshot), here)


def _check_python(job: _Job, python: str | None, needed: str | None) -> tuple[str, str]:
    """The interpreter to build with and its full version (``3.11.7``), of the major.minor the release recorded.

    ``python`` is --python, else this interpreter. When that is another Python and --python was not
    given, uv (when it is on PATH) finds one of the recorded version, or installs it.
    """
    chosen = python or sys.executable
    here = _python_version(chosen)
    if needed is None or ".".join(here.split(".")[:2]) == needed:
        return chosen, here
    mismatch = f"{job.name} was recorded with Python {needed}, but {chosen} is Python {here}"
    uv = find_uv()
    if python is None and uv is not None:
        try:
            found = recorded_interpreter(needed, uv)
        except ReproduceError as exc:
            raise ReproduceError(f"{mismatch}; {exc}") from exc
        log.info("%s: building with %s, found by uv", mismatch, found)
        return found, _python_version(found)
    raise ReproduceError(
        f"{mismatch}: get Python {needed} (e.g. `uv python install {needed}` or `pyenv install {needed}`) and run "
        f"again with --python $(uv python find {needed})"
    )


def _install_lock(job: _Job, python: str, lock: Path) -> tuple[Installer, dict[str, str]]:
    """A venv with exactly the pinned, hash-checked distributions of ``lock`` (no dependency resolution), checked.

    Built by uv when it is on PATH (or asked for with --installer uv), else by pip.
    """
    uv = find_uv()
    installer = choose_installer(job.options.installer, uv)
    plan = LockInstall(
        python=python,
        lock=lock,
        venv=job.building / "venv",
        installer=installer,
        uv=uv,
        index_args=job.options.pip_args(),
        name=f"{REQUIREMENTS} of {job.name}",
    )
    log.info("installing %s with %s", plan.name, installer)
    return installer, _installed(build_venv(plan))


def _check_without_lock(job: _Job, files: Mapping[str, Path], manifest: ReleaseManifest | None) -> None:
    """A release without a pip lock: a dataset (its verified files are what is reproduced), or --conda."""
    if job.target.repo_type == "dataset" and manifest is not None:
        return
    if not job.options.conda:
        raise ReproduceError(
            f"{job.name} ships no {REQUIREMENTS}"
            + (f"; it has {CONDA_LOCK}: run again with --conda" if CONDA_LOCK in files else "")
        )


def _read_snapshot(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        document: Any = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ReproduceError(f"{SNAPSHOT} of the release is not JSON: {exc}") from exc
    return document if isinstance(document, dict) else None


def _python_version(python: str) -> str:
    completed = run(
        [python, "-c", "import platform; print(platform.python_version())"], what=f"ask {python} its version"
    )
    return completed.stdout.strip()


def _installed(venv_python: str) -> dict[str, str]:
    try:
        snapshot = probe_environment(venv_python)
    except LockError as exc:
        raise ReproduceError(str(exc)) from exc
    return {canonical_name(n): v for n, v in snapshot.distributions.items()}


def _install_conda(files: Mapping[str, Path], prefix: Path, cache: Path) -> tuple[str, ...]:
    import rattler

    from release.lock.conda import install_conda_lock

    if CONDA_LOCK not in files:
        raise ReproduceError(f"--conda: the release ships no {CONDA_LOCK}")
    subdir = str(rattler.Subdir.current())
    try:
        return tuple(install_conda_lock(files[CONDA_LOCK], prefix, subdir, cache_dir=cache))
    except LockError as exc:
        raise ReproduceError(f"--conda: {exc}") from exc


def _download_weights(api: HfApi, job: _Job, manifest: ReleaseManifest, into: Path) -> tuple[str, ...]:
    """Every file of the release that is not an environment file, each checked against the manifest."""
    names = []
    for entry in manifest.files:
        if entry.path in ENVIRONMENT_FILES:
            continue
        path = _download(api, job, entry.path, into)
        verify_download(path, entry)
        names.append(entry.path)
    shutil.rmtree(into / ".cache", ignore_errors=True)
    return tuple(names)


def _download(api: HfApi, job: _Job, name: str, into: Path | None = None) -> Path:
    """One file of the release at its commit: into the download cache, or placed under ``into``."""
    target = job.target
    return Path(
        api.hf_hub_download(
            target.repo_id,
            name,
            repo_type=target.repo_type,
            revision=job.revision.commit,
            cache_dir=job.cache,
            local_dir=into,
        )
    )


def _relocate_venv(venv: Path, building: Path, dest: Path) -> None:
    """Point the venv's scripts at where it will live: ``python -m venv`` writes absolute paths."""
    if not venv.is_dir():
        return
    old, new = str(building.resolve()).encode(), str(dest.resolve()).encode()
    for path in [*sorted((venv / "bin").iterdir()), venv / "pyvenv.cfg"]:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 1 << 20:
            continue
        data = path.read_bytes()
        if old in data:
            path.write_bytes(data.replace(old, new))


@contextmanager
def _reproduce_errors(target: ReproduceTarget) -> Iterator[None]:
    """Client, transport and build failures as :class:`ReproduceError` naming the repo and the endpoint."""
    try:
        with hub_errors(target.endpoint, target.repo_id, ReproduceError, "nothing was built"):
            from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

            try:
                yield
            except RepositoryNotFoundError as exc:
                hint = "" if target.token else " (if it is private, set HF_TOKEN or run `hf auth login`)"
                raise ReproduceError(
                    f"no {target.repo_type} repo {target.repo_id} at {target.endpoint}{hint}; nothing was built"
                ) from exc
            except RevisionNotFoundError as exc:
                raise ReproduceError(
                    f"{target.repo_id} has no revision {target.revision!r}; nothing was built"
                ) from exc
    except ProcessError as exc:
        raise ReproduceError(f"{exc}; nothing was built") from exc


def _check_signature(
    name: str,
    manifest: ReleaseManifest | None,
    download: Callable[[str], Path],
    files: Mapping[str, Path],
    trust: TrustPolicy,
) -> Verified | None:
    """``reproduce``'s check, before anything is installed or run: with a trust policy, the release must be signed
    by what it trusts, its ``release-manifest.json`` and the downloaded ``files`` as signed. None: nothing to check.

    ``download`` fetches one file of the release by path (the manifest again comes from the download cache).
    """
    if not trust.required:
        if manifest is not None and manifest.signature is not None:
            log.info(
                "%s is signed (%s): give --trust-key or --trust-identity to verify who signed it",
                name,
                manifest.signature.method,
            )
        return None
    if manifest is None or manifest.signature is None:
        what = "has no release-manifest.json" if manifest is None else "is not signed (its manifest names no signature)"
        raise signature_error("unsigned", f"{name} {what}, and a signature by {trust.describe()} is required")
    from huggingface_hub.errors import EntryNotFoundError  # reproduce has imported the client already

    try:
        signature = download(manifest.signature.path)
    except EntryNotFoundError as exc:
        message = f"{name} names its signature {manifest.signature.path}, but the repository has no such file"
        raise signature_error("unsigned", message) from exc
    verified = verify_signed_digests(signature, trust, {RELEASE_MANIFEST: download(RELEASE_MANIFEST), **files})
    log.info("%s is signed by %s", name, verified.signer)
    return verified
