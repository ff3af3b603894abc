"""The machine a model runs on (CPU, accelerator, GPUs, CUDA, BLAS), and what differs between two of them.

:func:`probe_machine` asks an interpreter, in a subprocess, to describe the machine as that
environment sees it: the CPU model, the accelerator torch uses (``"cpu"``, ``"cuda"``, ``"mps"``),
the GPUs and the CUDA version (from torch when it is installed, else from ``nvidia-smi``), the
BLAS and LAPACK numpy was built with, and threadpoolctl's view of the BLAS loaded at run time
when it is installed. The probe is stdlib only; any part that fails is recorded as ``None``, and
it records no path, time or host name, so the same machine and environment give the same bytes.

:mod:`release.lock.snapshot` stores the description as the ``machine`` section of
``environment.json``; :func:`machine_differences` compares the recorded machine with the one a
release is reproduced on (pure), which ``reproduce`` reports beside its other differences.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

from release.errors import LockError, ProcessError
from release.process import run

Accelerator = Literal["cpu", "cuda", "mps"]
What = Literal["Python", "platform", "CPU", "accelerator", "GPU", "CUDA", "BLAS"]

#: Runs in the interpreter described: stdlib only; torch, numpy and threadpoolctl only when installed.
#: Anything they print goes to stderr, so that stdout holds the JSON document alone.
_PROBE = r"""
import importlib.util, json, platform, shutil, subprocess, sys
out, sys.stdout = sys.stdout, sys.stderr

def attempt(part, *args):
    try:
        return part(*args)
    except Exception:
        return None

def command(*argv):
    return subprocess.run(argv, capture_output=True, text=True, timeout=10, check=True,
                          stdin=subprocess.DEVNULL).stdout

def installed(name):
    return attempt(importlib.util.find_spec, name) is not None

def cpu():
    system = platform.system()
    if system == "Linux":
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    elif system == "Darwin":
        return command("sysctl", "-n", "machdep.cpu.brand_string").strip() or None
    processor = platform.processor()
    return processor if processor not in ("", "unknown") else None

def torch_devices():
    import torch
    if torch.cuda.is_available():
        gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        return {"accelerator": "cuda", "gpus": gpus, "cuda": torch.version.cuda}
    mps = getattr(torch.backends, "mps", None)
    accelerator = "mps" if mps is not None and mps.is_available() else "cpu"
    return {"accelerator": accelerator, "gpus": [], "cuda": None}

def nvidia_smi():
    if shutil.which("nvidia-smi") is None:
        return {"gpus": [], "gpu_driver": None}
    rows = [line.rsplit(",", 1) for line in
            command("nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader").splitlines()
            if line.strip()]
    return {"gpus": [row[0].strip() for row in rows],
            "gpu_driver": rows[0][1].strip() if rows and len(rows[0]) == 2 else None}

def numpy_build():
    import numpy
    found = numpy.show_config(mode="dicts")["Build Dependencies"]
    def library(kind):
        info = found.get(kind) or {}
        if not info.get("name"):
            return None
        return {"name": str(info["name"]), "version": str(info.get("version") or "") or None}
    return {"blas": library("blas"), "lapack": library("lapack")}

def blas_runtime():
    import threadpoolctl
    keep = ("user_api", "internal_api", "version", "threading_layer", "architecture", "num_threads")
    pools = [{key: pool.get(key) for key in keep} for pool in threadpoolctl.threadpool_info()]
    return sorted(pools, key=lambda pool: json.dumps(pool, sort_keys=True))

machine = {"cpu": attempt(cpu), "accelerator": "cpu", "gpus": None, "cuda": None, "gpu_driver": None,
           "blas": None, "lapack": None, "blas_runtime": None}
if installed("torch"):
    machine.update(attempt(torch_devices) or {"accelerator": None})
else:
    machine.update(attempt(nvidia_smi) or {})
if installed("numpy"):
    machine.update(attempt(numpy_build) or {})
if installed("threadpoolctl"):
    machine["blas_runtime"] = attempt(blas_runtime)
libc = attempt(platform.libc_ver) or ("", "")
json.dump({
    "python": platform.python_version(),
    "platform": {"system": platform.system(), "machine": platform.machine(),
                 "libc": " ".join(part for part in libc if part) or None},
    "machine": machine,
}, out)
"""


@dataclass(frozen=True)
class Platform:
    system: str
    machine: str
    libc: str | None = None  # "glibc 2.36"; None: none or unknown

    def text(self, with_libc: bool) -> str:
        return " ".join(part for part in (self.system, self.machine, self.libc if with_libc else None) if part)


@dataclass(frozen=True)
class Library:
    """A BLAS or LAPACK numpy was built with."""

    name: str  # "scipy-openblas", "accelerate", "mkl"...
    version: str | None = None

    def text(self) -> str:
        return f"{self.name} {self.version}" if self.version else self.name


@dataclass(frozen=True)
class ThreadPool:
    """One native thread pool threadpoolctl sees at run time (a BLAS or an OpenMP runtime)."""

    user_api: str | None  # "blas", "openmp"
    internal_api: str | None  # "openblas", "mkl", "blis"...
    version: str | None
    threading_layer: str | None
    architecture: str | None  # the kernel the BLAS picked for this CPU, e.g. "Haswell"
    num_threads: int | None

    def text(self) -> str:
        parts = [self.internal_api or self.user_api, self.version, self.architecture, self.threading_layer]
        threads = f", {self.num_threads} threads" if self.num_threads is not None else ""
        return " ".join(p for p in parts if p) + threads


@dataclass(frozen=True)
class Machine:
    """A machine as one environment sees it. ``None``: unknown (not recorded, or the probe of it failed)."""

    python: str | None = None  # the full version, "3.11.7"
    platform: Platform | None = None
    cpu: str | None = None  # "AMD EPYC 7763 64-Core Processor", "Apple M2"
    accelerator: Accelerator | None = None  # what torch uses; "cpu" without torch
    gpus: tuple[str, ...] | None = None  # () when there are none
    cuda: str | None = None  # the CUDA version torch runs with, when the accelerator is "cuda"
    gpu_driver: str | None = None  # from nvidia-smi, when torch is not installed
    blas: Library | None = None  # what numpy was built with; None without numpy
    lapack: Library | None = None
    blas_runtime: tuple[ThreadPool, ...] | None = None  # threadpoolctl's view; None without it

    def section(self) -> dict[str, Any]:
        """The ``machine`` section of ``environment.json`` (Python and platform have sections of their own)."""
        return {
            "cpu": self.cpu,
            "accelerator": self.accelerator,
            "gpus": None if self.gpus is None else list(self.gpus),
            "cuda": self.cuda,
            "gpu_driver": self.gpu_driver,
            "blas": None if self.blas is None else {"name": self.blas.name, "version": self.blas.version},
            "lapack": None if self.lapack is None else {"name": self.lapack.name, "version": self.lapack.version},
            "blas_runtime": None if self.blas_runtime is None else [asdict(p) for p in self.blas_runtime],
        }


def probe_machine(python: str) -> Machine:
    """The machine as ``python`` sees it (its version and platform included), asked of it in a subprocess."""
    try:
        completed = run([python, "-c", _PROBE], what=f"ask {python} about the machine (CPU, GPUs, BLAS)")
        document: Any = json.loads(completed.stdout)
    except ProcessError as exc:
        raise LockError(str(exc)) from exc
    except ValueError as exc:
        raise LockError(f"the machine probe of {python} printed something unexpected: {exc}") from exc
    if not isinstance(document, dict):
        raise LockError(f"the machine probe of {python} printed {type(document).__name__}, not a JSON object")
    return machine_of(document)


def machine_of(document: Mapping[str, Any]) -> Machine:
    """The machine an ``environment.json`` document (or a probe's output) describes; tolerant of older files.

    A file written before the ``machine`` section existed gives its Python and platform, the rest unknown;
    a value of the wrong type is unknown too.
    """
    python = document.get("python")
    version = python.get("version") if isinstance(python, Mapping) else python
    section = document.get("machine")
    section = section if isinstance(section, Mapping) else {}
    accelerator = section.get("accelerator")
    gpus = section.get("gpus")
    return Machine(
        python=_text(version),
        platform=_platform(document.get("platform")),
        cpu=_text(section.get("cpu")),
        accelerator=accelerator if accelerator in get_args(Accelerator) else None,
        gpus=tuple(str(g) for g in gpus) if isinstance(gpus, list) else None,
        cuda=_text(section.get("cuda")),
        gpu_driver=_text(section.get("gpu_driver")),
        blas=_library(section.get("blas")),
        lapack=_library(section.get("lapack")),
        blas_runtime=_thread_pools(section.get("blas_runtime")),
    )


# --- the comparison (pure) -------------------------------------------------------------------------


@dataclass(frozen=True)
class MachineDifference:
    """One way the machine here differs from the recorded one, each side as readable text."""

    what: What
    recorded: str
    here: str

    def line(self, against: str = "environment.json") -> str:
        return f"{self.what}: {self.here} here, {self.recorded} in {against}"

    def to_json(self) -> dict[str, str]:
        return {"what": self.what, "recorded": self.recorded, "here": self.here}


@dataclass(frozen=True)
class MachineDifferences:
    """What can make results differ between the recorded machine and this one, in the order of :data:`What`."""

    differences: tuple[MachineDifference, ...] = ()

    def __iter__(self) -> Iterator[MachineDifference]:
        return iter(self.differences)

    def __len__(self) -> int:
        return len(self.differences)

    def lines(self, against: str = "environment.json") -> list[str]:
        """Readable lines, one per difference; none when the machines match in everything both know."""
        return [d.line(against) for d in self.differences]

    def to_json(self) -> list[dict[str, str]]:
        return [d.to_json() for d in self.differences]


def machine_differences(recorded: Machine, here: Machine) -> MachineDifferences:
    """Each of Python, platform, CPU, accelerator, GPU, CUDA and BLAS that differs. Pure.

    Only what both sides know is compared: an ``environment.json`` written before the machine was
    recorded, or a part the probe could not read, is not a difference. Python is compared by its
    full version; the platform by system and machine, and by libc when both record one; BLAS by
    the library numpy was built with, and by threadpoolctl's runtime view when both have it.
    """
    pairs: list[tuple[What, str | None, str | None]] = [
        ("Python", recorded.python, here.python),
        ("platform", *_platforms(recorded.platform, here.platform)),
        ("CPU", recorded.cpu, here.cpu),
        ("accelerator", recorded.accelerator, here.accelerator),
        ("GPU", _gpus(recorded.gpus), _gpus(here.gpus)),
        ("CUDA", recorded.cuda, here.cuda),
        ("BLAS", *_blas(recorded, here)),
    ]
    return MachineDifferences(
        tuple(
            MachineDifference(what, old, new)
            for what, old, new in pairs
            if old is not None and new is not None and old != new
        )
    )


def _platforms(recorded: Platform | None, here: Platform | None) -> tuple[str | None, str | None]:
    if recorded is None or here is None:
        return None, None
    with_libc = recorded.libc is not None and here.libc is not None
    return recorded.text(with_libc), here.text(with_libc)


def _gpus(gpus: tuple[str, ...] | None) -> str | None:
    if gpus is None:
        return None
    return ", ".join(gpus) if gpus else "none"


def _blas(recorded: Machine, here: Machine) -> tuple[str | None, str | None]:
    with_runtime = recorded.blas_runtime is not None and here.blas_runtime is not None

    def text(machine: Machine) -> str | None:
        if machine.blas is None:
            return None
        built = machine.blas.text()
        if machine.lapack is not None and machine.lapack != machine.blas:
            built += f", LAPACK {machine.lapack.text()}"
        if with_runtime and machine.blas_runtime:
            built += f" (at run time: {'; '.join(p.text() for p in machine.blas_runtime)})"
        return built

    return text(recorded), text(here)


# --- reading a document ---------------------------------------------------------------------------


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _platform(value: object) -> Platform | None:
    if not isinstance(value, Mapping):
        return None
    system, machine = _text(value.get("system")), _text(value.get("machine"))
    if system is None or machine is None:
        return None
    return Platform(system, machine, _text(value.get("libc")))


def _library(value: object) -> Library | None:
    if not isinstance(value, Mapping) or _text(value.get("name")) is None:
        return None
    return Library(value["name"], _text(value.get("version")))


def _thread_pools(value: object) -> tuple[ThreadPool, ...] | None:
    if not isinstance(value, list):
        return None
    pools = []
    for item in value:
        if isinstance(item, Mapping):
            threads = item.get("num_threads")
            pools.append(
                ThreadPool(
                    user_api=_text(item.get("user_api")),
                    internal_api=_text(item.get("internal_api")),
                    version=_text(item.get("version")),
                    threading_layer=_text(item.get("threading_layer")),
                    architecture=_text(item.get("architecture")),
                    num_threads=threads if isinstance(threads, int) and not isinstance(threads, bool) else None,
                )
            )
    return tuple(pools)
