"""``environment.json``: what the model was actually trained with, on what machine, and where it drifts from the lock.

The snapshot is taken by running small probes in the training interpreter (``lock.python``,
default: the one running model-release), so it describes that environment, not ours: its
distributions here, and the machine (CPU, accelerator, GPUs, CUDA, BLAS) with
:func:`release.machine.probe_machine`. It records no paths and no time: the same environment on
the same machine gives the same bytes.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from release.atomic import write_atomic
from release.errors import LockError, ProcessError
from release.lock.pip import canonical_name, read_pins, read_text_input
from release.machine import Machine, probe_machine
from release.process import run

log = logging.getLogger(__name__)

SNAPSHOT_FORMAT = "model-release.environment/1"
_HINT = "set lock.python to the training environment's interpreter"

#: Runs in the training interpreter: stdlib only, and torch only when it is installed.
_PROBE = r"""
import importlib.metadata as metadata, importlib.util, json, platform, sys
distributions = {}
for dist in metadata.distributions():
    name = dist.metadata["Name"]
    if name:
        distributions.setdefault(name, dist.version)
libc = platform.libc_ver()
info = {
    "python": {"implementation": platform.python_implementation(), "version": platform.python_version()},
    "platform": {"system": platform.system(), "release": platform.release(), "machine": platform.machine(),
                 "libc": " ".join(part for part in libc if part) or None},
    "distributions": distributions,
    "torch": None,
}
if importlib.util.find_spec("torch") is not None:
    import torch
    cuda = torch.cuda.is_available()
    cudnn = torch.backends.cudnn.version() if cuda else None
    info["torch"] = {"version": torch.__version__, "cuda": torch.version.cuda, "cudnn": cudnn,
                     "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else []}
json.dump(info, sys.stdout)
"""


#: Prints the PEP 508 marker variables of the interpreter it runs in, as packaging.markers computes them.
_MARKER_PROBE = r"""
import json, os, platform, sys
def version(info):
    text = "{0.major}.{0.minor}.{0.micro}".format(info)
    return text if info.releaselevel == "final" else text + info.releaselevel[0] + str(info.serial)
json.dump({
    "implementation_name": sys.implementation.name,
    "implementation_version": version(sys.implementation.version),
    "os_name": os.name,
    "platform_machine": platform.machine(),
    "platform_release": platform.release(),
    "platform_system": platform.system(),
    "platform_version": platform.version(),
    "python_full_version": platform.python_version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_version": ".".join(platform.python_version_tuple()[:2]),
    "sys_platform": sys.platform,
}, sys.stdout)
"""


def marker_environment(python: str) -> dict[str, str]:
    """The PEP 508 environment markers of ``python`` (``sys_platform``, ``python_version``...), asked of it."""
    completed = run([python, "-c", _MARKER_PROBE], what=f"ask {python} its environment markers")
    try:
        document: Any = json.loads(completed.stdout)
    except ValueError as exc:
        raise LockError(f"{python} printed something unexpected for its environment markers: {exc}") from exc
    return {str(k): str(v) for k, v in document.items()}


@dataclass(frozen=True)
class Drift:
    """Installed versions that differ from the lock."""

    different: tuple[tuple[str, str, str], ...] = ()  # (name, locked, installed)
    missing: tuple[str, ...] = ()  # locked but not installed

    @property
    def clean(self) -> bool:
        return not (self.different or self.missing)


@dataclass(frozen=True)
class EnvironmentSnapshot:
    python: Mapping[str, str]
    platform: Mapping[str, str | None]
    distributions: Mapping[str, str]  # {name as installed: version}
    torch: Mapping[str, Any] | None = None
    drift: Drift = field(default_factory=Drift)
    lock: str | None = None  # the lock compared against, relative to the snapshot
    machine: Machine | None = None  # probed by write_snapshot; None: not probed (written as null)

    def to_json(self) -> str:
        document = {
            "format": SNAPSHOT_FORMAT,
            "python": dict(self.python),
            "platform": dict(self.platform),
            "torch": dict(self.torch) if self.torch is not None else None,
            "machine": self.machine.section() if self.machine is not None else None,
            "distributions": [{"name": n, "version": v} for n, v in sorted(self.distributions.items(), key=_key)],
            "drift": {
                "lock": self.lock,
                "different": [{"name": n, "locked": lk, "installed": i} for n, lk, i in self.drift.different],
                "missing": list(self.drift.missing),
            },
        }
        return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def probe_environment(python: str) -> EnvironmentSnapshot:
    """What ``python`` has installed, its version, its platform, and torch/CUDA when present (not the machine)."""
    try:
        completed = run([python, "-c", _PROBE], what=f"take a snapshot of the environment of {python}")
        info = json.loads(completed.stdout)
    except ProcessError as exc:
        raise LockError(f"{exc} ({_HINT})") from exc
    except json.JSONDecodeError as exc:
        raise LockError(f"the environment probe of {python} printed something unexpected: {exc}") from exc
    return EnvironmentSnapshot(info["python"], info["platform"], info["distributions"], info["torch"])


def compare_with_lock(installed: Mapping[str, str], locked: Mapping[str, str]) -> Drift:
    """Drift between installed ``{name: version}`` and locked ``{canonical name: version}``. Pure."""
    by_name = {canonical_name(name): version for name, version in installed.items()}
    different = tuple(
        (name, version, by_name[name])
        for name, version in sorted(locked.items())
        if name in by_name and by_name[name] != version
    )
    missing = tuple(sorted(name for name in locked if name not in by_name))
    return Drift(different, missing)


def write_snapshot(path: Path, python: str, requirements_txt: Path | None) -> EnvironmentSnapshot:
    """Probe ``python`` and its machine, compare it with ``requirements_txt`` (when it exists), write ``path``."""
    snapshot = probe_environment(python)
    try:
        snapshot = replace(snapshot, machine=probe_machine(python))
    except LockError as exc:
        raise LockError(f"{exc} ({_HINT})") from exc
    if requirements_txt is not None and requirements_txt.is_file():
        # A lock line for another platform (``; sys_platform == 'win32'``) is not missing here.
        lock_text = read_text_input(requirements_txt, "The lock", "run `model-release lock` again.")
        pins = read_pins(lock_text, marker_environment(python))
        drift = compare_with_lock(snapshot.distributions, pins)
        lock_name = Path(_relative(requirements_txt, path.parent)).as_posix()
        snapshot = replace(snapshot, drift=drift, lock=lock_name)
        for name, locked, installed in drift.different:
            log.warning("drift: %s is %s here, %s in %s", name, installed, locked, requirements_txt.name)
        for name in drift.missing:
            log.warning("drift: %s is locked in %s but not installed here", name, requirements_txt.name)
    write_atomic(path, snapshot.to_json())
    return snapshot


def _relative(path: Path, start: Path) -> str:
    return os.path.relpath(path, start)


def _key(item: tuple[str, str]) -> str:
    return canonical_name(item[0])
