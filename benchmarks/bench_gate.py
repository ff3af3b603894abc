"""The safety gate's secret scan: MB/s on generated text, with and without its literal prefilter.

Each trigger regex of the scan (detect-secrets' and ours) has strings one of which every match holds
(``release.gate._required_literals``); a chunk holding none of them skips that regex. Measured here on
a CSV of numbers (what datasets shipped with ``include_data`` look like) and on prose (this README
repeated, full of "token", "key" and URLs), against the same scanner with the prefilter switched off,
in one process, best of 3.

    python benchmarks/bench_gate.py [--mib 32]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from release.gate import _Detector, _SecretScanner


def make_csv(path: Path, size: int) -> None:
    rng = random.Random(5)
    with path.open("w") as handle:
        handle.write("id,sepal_length,sepal_width,petal_length,petal_width,species,note\n")
        row = 0
        while handle.tell() < size:
            values = ",".join(f"{rng.random():.4f}" for _ in range(4))
            handle.write(f"{row},{values},setosa,plain text note {row}\n")
            row += 1


def make_prose(path: Path, size: int) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    path.write_text(readme * (size // len(readme) + 1))


def without_prefilter(scanner: _SecretScanner) -> _SecretScanner:
    detectors = []
    for detector in scanner.detectors:
        plain = replace(detector)
        object.__setattr__(plain, "literals", tuple(None for _ in detector.triggers))
        detectors.append(plain)
    return _SecretScanner(tuple(detectors))


def rate(scanner: _SecretScanner, path: Path) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        scanner.scan_file(path.name, path)
        best = min(best, time.perf_counter() - start)
    return path.stat().st_size / best / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=32)
    args = parser.parse_args()
    scanner = _SecretScanner.create()
    plain = without_prefilter(scanner)
    assert all(isinstance(d, _Detector) for d in plain.detectors)
    with tempfile.TemporaryDirectory(prefix="bench-gate-") as tmp:
        files = {"CSV of numbers": Path(tmp) / "data.csv", "prose (README.md)": Path(tmp) / "notes.md"}
        make_csv(files["CSV of numbers"], args.mib << 20)
        make_prose(files["prose (README.md)"], args.mib << 20)
        print(f"secret scan of {args.mib} MiB of text, best of 3")
        for name, path in files.items():
            fast, slow = rate(scanner, path), rate(plain, path)
            print(f"  {name:<20} {fast:6.1f} MB/s with the prefilter, {slow:6.1f} MB/s without: {fast / slow:4.2f}x")


if __name__ == "__main__":
    main()
