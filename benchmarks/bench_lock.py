"""Lock times, as ratios measured in the same run: pip-tools against uv, cold and warm cache, and
conda-lock.yml for three platforms against a local test channel.

The pip part locks the example's requirements.in against the real package index (it needs the
network), each run in a fresh folder so no previous lock is reused; "cold" starts from empty caches,
"warm" reuses the caches of the cold run.

    python benchmarks/bench_lock.py [--skip-pip] [--skip-conda] [--rounds 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from release.lock.pip import PipIndex, lock_requirements

ROOT = Path(__file__).resolve().parent.parent


def lock_once(resolver: str, cache: Path) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-lock-") as tmp:
        work = Path(tmp)
        shutil.copy2(ROOT / "requirements.in", work / "requirements.in")
        os.environ["XDG_CACHE_HOME"] = str(cache)  # pip, pip-tools and uv all keep their caches there
        start = time.perf_counter()
        lock_requirements(work / "requirements.in", work / "requirements.txt", PipIndex(), resolver)  # type: ignore[arg-type]
        return time.perf_counter() - start


def bench_pip(rounds: int) -> None:
    results: dict[str, dict[str, list[float]]] = {}
    for resolver in ("pip-tools", "uv"):
        results[resolver] = {"cold": [], "warm": []}
        for _ in range(rounds):
            with tempfile.TemporaryDirectory(prefix="bench-cache-") as cache:
                results[resolver]["cold"].append(lock_once(resolver, Path(cache)))
                results[resolver]["warm"].append(lock_once(resolver, Path(cache)))
    base = statistics.median(results["uv"]["warm"])
    requirements = (ROOT / "requirements.in").read_text().count(">=")
    print(f"pip lock of requirements.in ({requirements} requirements), {rounds} round(s):")
    for resolver, cases in results.items():
        for case, samples in cases.items():
            median = statistics.median(samples)
            print(f"  {resolver:<9} {case}: {median:7.2f} s   {median / base:6.1f}x uv warm")


def bench_conda(rounds: int) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        import conda_channel  # the channel the tests build, served on loopback
    except ImportError:
        print("conda: skipped (tests/conda_channel.py not available)")
        return
    from release.lock.conda import CondaLockOptions, lock_conda

    with tempfile.TemporaryDirectory(prefix="bench-conda-") as tmp:
        served = Path(tmp) / "served"
        conda_channel.build_channel(served / conda_channel.CHANNEL_NAME)
        with conda_channel.serve_directory(served) as base:
            env = Path(tmp) / "environment.yml"
            env.write_text("channels: [conda-forge]\ndependencies: [python=3.11, numpy, pip, tzdata]\n")
            options = CondaLockOptions(channel_alias=f"{base}/")
            samples = []
            for _ in range(max(rounds, 5)):
                start = time.perf_counter()
                lock_conda(env, Path(tmp) / "conda-lock.yml", options)
                samples.append(time.perf_counter() - start)
    median_ms = statistics.median(samples) * 1000
    print(f"conda lock, 3 platforms, local channel: median {median_ms:.0f} ms over {len(samples)} runs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-pip", action="store_true")
    parser.add_argument("--skip-conda", action="store_true")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    if not args.skip_pip:
        bench_pip(args.rounds)
    if not args.skip_conda:
        bench_conda(args.rounds)


if __name__ == "__main__":
    main()
