"""Checksum throughput against baselines measured in the same run (report ratios, not bare times).

Generates a dataset mix in a temp folder (many 1 MiB files plus a few large ones), then times,
alternating rounds to spread the machine's noise:
  - model-release's ``build_manifest`` (parallel, page-aligned reused buffers),
  - a serial ``hashlib.file_digest`` loop (the obvious Python baseline),
  - coreutils ``sha256sum`` over the same files (the shell baseline).

    python benchmarks/bench_checksum.py [--small 400] [--large 4] [--large-mib 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from release.checksum import build_manifest


def make_data(root: Path, small: int, large: int, large_mib: int) -> int:
    block = os.urandom(1 << 20)
    total = 0
    for index in range(small):
        (root / f"small-{index:05d}.bin").write_bytes(block[index % 97 :] + block[: index % 97])
        total += 1 << 20
    for index in range(large):
        with (root / f"large-{index}.bin").open("wb") as handle:
            for _ in range(large_mib):
                handle.write(block)
        total += large_mib << 20
    return total


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=400)
    parser.add_argument("--large", type=int, default=4)
    parser.add_argument("--large-mib", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-checksum-") as tmp:
        root = Path(tmp)
        total = make_data(root, args.small, args.large, args.large_mib)
        files = sorted(root.iterdir())

        def serial() -> None:
            for path in files:
                with path.open("rb") as handle:
                    hashlib.file_digest(handle, "sha256")

        def coreutils() -> None:
            subprocess.run(["sha256sum", *map(str, files)], check=True, stdout=subprocess.DEVNULL)

        candidates: dict[str, Callable[[], object]] = {
            "model-release build_manifest": lambda: build_manifest(root),
            "serial hashlib.file_digest": serial,
            "coreutils sha256sum": coreutils,
        }
        for action in candidates.values():  # warm the page cache and the code paths
            action()
        times: dict[str, list[float]] = {name: [] for name in candidates}
        for _ in range(args.rounds):
            for name, action in candidates.items():
                times[name].append(timed(action))
    base = statistics.median(times["model-release build_manifest"])
    print(f"{len(files)} files, {total / 1e9:.2f} GB, warm page cache, {os.cpu_count()} CPUs, {args.rounds} rounds")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"  {name:<32} {total / median / 1e9:6.2f} GB/s   {median / base:5.2f}x the time of model-release")


if __name__ == "__main__":
    main()
