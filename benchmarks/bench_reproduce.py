"""The environment step of ``reproduce`` against a bare uv install and a pip install of the same lock.

On the project's own ``requirements.txt`` (numpy and safetensors, every line hash-pinned), each run in
a fresh folder, with warm caches (one untimed run of each kind fills a cache made for this run), the
three kinds interleaved round by round:
  (a) model-release: the environment step of ``reproduce`` as it runs it, :func:`release.install.build_venv`
      with uv (``uv venv``, ``uv pip install --require-hashes --no-deps``, ``uv pip check``) and the
      listing of what the venv holds,
  (b) bare uv: ``uv venv`` then ``uv pip install --require-hashes -r requirements.txt``,
  (c) pip: ``python -m venv`` then ``pip install --require-hashes -r requirements.txt``.
It needs the package index (the first run downloads the wheels into the cache).

    python benchmarks/bench_reproduce.py [--rounds 5] [--pip-rounds 3]

Target (issue 16): (a) <= 1.5x (b), medians of the same run; (c)/(a) is reported. Exits 1 when the
target is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_hub import describe_machine

from release.install import LockInstall, build_venv, find_uv
from release.lock.snapshot import probe_environment

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.txt"
TARGET = 1.5


def model_release(uv: str, venv: Path) -> None:
    python = build_venv(LockInstall(sys.executable, LOCK, venv, "uv", uv, name="requirements.txt"))
    probe_environment(python)  # reproduce lists what the venv holds to compare it with the lock


def bare_uv(uv: str, venv: Path) -> None:
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    install = [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python")]
    subprocess.run([*install, "--require-hashes", "-r", str(LOCK)], check=True)


def pip(uv: str, venv: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*install, "--require-hashes", "-r", str(LOCK)], check=True)


def timed(step: Callable[[str, Path], None], uv: str, work: Path) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-venv-", dir=work) as folder:
        start = time.perf_counter()
        step(uv, Path(folder) / "venv")
        return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed runs of (a) and (b)")
    parser.add_argument("--pip-rounds", type=int, default=3, help="timed runs of (c), the slow one")
    args = parser.parse_args()
    uv = find_uv()
    if uv is None:
        print("bench_reproduce: uv is not on PATH (nox -s bench puts it there)")
        return 1
    steps = {"a": model_release, "b": bare_uv, "c": pip}
    samples: dict[str, list[float]] = {name: [] for name in steps}
    with tempfile.TemporaryDirectory(prefix="bench-reproduce-") as tmp:
        work = Path(tmp)  # caches and venvs on one file system: uv links from its cache
        os.environ["XDG_CACHE_HOME"] = str(work / "cache")  # pip's cache
        os.environ["UV_CACHE_DIR"] = str(work / "cache" / "uv")
        for step in steps.values():
            timed(step, uv, work)  # warm the caches
        for round_ in range(max(args.rounds, args.pip_rounds)):
            for name, step in steps.items():
                if round_ < (args.pip_rounds if name == "c" else args.rounds):
                    samples[name].append(timed(step, uv, work))
    a, b, c = (statistics.median(samples[name]) for name in steps)
    pins = sum(1 for line in LOCK.read_text().splitlines() if "==" in line and not line.startswith("#"))
    print(f"bench_reproduce, {datetime.now(UTC):%Y-%m-%d}, {describe_machine()}")
    print(f"  requirements.txt ({pins} pins), warm caches, medians of {args.rounds} runs ((c): {args.pip_rounds})")
    print(f"  (a) reproduce's environment step, uv:        {a:6.2f} s")
    print(f"  (b) bare uv venv + uv pip install:           {b:6.2f} s")
    print(f"  (c) python -m venv + pip install:            {c:6.2f} s")
    print(f"  (a)/(b) = {a / b:.2f}x (target <= {TARGET}x)   (c)/(a) = {c / a:.1f}x: pip against model-release")
    return 0 if a / b <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
