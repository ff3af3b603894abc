"""Many small files: checksum against parallel openssl, the digest cache with a large foreign store, the gate.

Data generated here (page cache warm): N files of 512 bytes in folders of 1,000 (the Hub's advice
is under 10,000 entries a folder), for N in 10,000 and 100,000. Each candidate runs as a whole
process, rounds alternating, the median kept:
  - ``model-release checksum DIR --manifest OUT --no-cache``;
  - the baseline: ``find DIR -type f | xargs -P2 -n 500 openssl dgst -sha256`` (two processes, as
    model-release uses the two cores), output discarded;
then the cached re-run (nothing changed) with an empty store and with a store already holding
500,000 rows of other files (the cost must follow the files asked about), each process's peak
resident memory (``wait4``'s ru_maxrss), and the safety gate (``model-release check DIR``) per file
over text files, which it scans for secrets.

    python benchmarks/bench_many_files.py [--counts 10000 100000] [--rounds 3] [--foreign 500000]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

_SCRIPT = Path(sys.executable).with_name("model-release")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "release"]
TARGET = 1.5  # checksum of many small files: within 1.5x of the parallel openssl baseline


def make_files(root: Path, count: int, suffix: str = ".bin", *, age: float = 0.0) -> Path:
    """``count`` files of 512 bytes under ``root``; ``age``: their mtime that many seconds back (the
    cache never keeps files written in its last seconds: racy timestamps)."""
    folder = root / f"{count}{suffix.replace('.', '-')}"
    past = time.time() - age
    block = os.urandom(1 << 16)
    for index in range(count):
        sub = folder / f"{index // 1000:04d}"
        if index % 1000 == 0:
            sub.mkdir(parents=True)
        if suffix == ".txt":
            data = (f"line {index}: " + block[index % 1000 : index % 1000 + 240].hex()).encode()[:512]
        else:
            data = block[index % 60000 : index % 60000 + 512]
        path = sub / f"{index:06d}{suffix}"
        path.write_bytes(data)
        if age:
            os.utime(path, (past, past))
    return folder


def run(argv: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (MB) of one process."""
    start = time.perf_counter()
    process = subprocess.Popen(
        argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **(env or {})}
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    stderr = process.stderr.read().decode() if process.stderr else ""
    process.stderr.close() if process.stderr else None
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):  # check exits 1 when it finds something: that is a result, not a crash
        raise SystemExit(f"{' '.join(argv)} exited {code}: {stderr[-2000:]}")
    return elapsed, usage.ru_maxrss // 1024


def foreign_store(path: Path, rows: int) -> None:
    """A digest cache already holding ``rows`` rows of other files (what years of use leave)."""
    now = int(time.time())
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, dev INTEGER, ino INTEGER, size INTEGER,"
            " mtime_ns INTEGER, ctime_ns INTEGER, sha256 TEXT, written INTEGER) WITHOUT ROWID"
        )
        db.executemany(
            "INSERT INTO files VALUES (?, 1, ?, 512, 0, 0, ?, ?)",
            ((f"/elsewhere/{i:08d}.bin", i, "0" * 64, now) for i in range(rows)),
        )


def bench_count(work: Path, count: int, rounds: int, foreign: int) -> dict[str, float]:
    data = make_files(work, count, age=60)
    out = work / "manifest.json"
    checksum = [*COMMAND, "checksum", str(data), "--manifest", str(out), "--no-cache"]
    openssl = ["sh", "-c", f"find {data} -type f | xargs -P2 -n 500 openssl dgst -sha256 > /dev/null"]
    times: dict[str, list[float]] = {"model-release": [], "openssl": []}
    peak = 0
    run(checksum, work)  # warm the page cache and the interpreter's files
    for _ in range(rounds):
        elapsed, rss = run(checksum, work)
        times["model-release"].append(elapsed)
        peak = max(peak, rss)
        times["openssl"].append(run(openssl, work)[0])
    result = {name: statistics.median(values) for name, values in times.items()}
    result["peak_rss_mb"] = peak
    for label, rows in (("re-run, empty store", 0), (f"re-run, {foreign:,} foreign rows", foreign)):
        cache_home = Path(tempfile.mkdtemp(dir=work))
        if rows:
            (cache_home / "model-release").mkdir()
            foreign_store(cache_home / "model-release" / "sha256-cache.sqlite", rows)
        cached = [*COMMAND, "checksum", str(data), "--manifest", str(out)]
        run(cached, work, {"XDG_CACHE_HOME": str(cache_home)})  # the first run fills the store
        result[label] = statistics.median(
            run(cached, work, {"XDG_CACHE_HOME": str(cache_home)})[0] for _ in range(rounds)
        )
    return result


def bench_gate(work: Path, count: int) -> tuple[float, float]:
    """The gate over ``count`` text files: (seconds, microseconds per file)."""
    data = make_files(work, count, ".txt")
    elapsed, _ = run([*COMMAND, "check", str(data)], work)
    return elapsed, elapsed / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--foreign", type=int, default=500_000)
    args = parser.parse_args()
    print(f"bench_many_files: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, files of 512 bytes")
    missed = False
    with tempfile.TemporaryDirectory(prefix="bench-many-") as tmp:
        for count in args.counts:
            work = Path(tmp) / str(count)
            work.mkdir()
            result = bench_count(work, count, args.rounds, args.foreign)
            ratio = result["model-release"] / result["openssl"]
            missed |= ratio > TARGET
            print(
                f"  {count:>7,} files: checksum {result['model-release']:.2f} s, openssl x2 {result['openssl']:.2f} s"
            )
            print(f"      ratio {ratio:.2f}x ({'meets' if ratio <= TARGET else 'MISSES'} the <= {TARGET}x target)")
            print(f"      peak RSS {result['peak_rss_mb']:.0f} MB")
            for label, value in result.items():
                if label.startswith("re-run"):
                    print(f"      {label}: {value:.2f} s ({value / result['model-release'] * 100:.0f}% of a first run)")
            seconds, per_file = bench_gate(work, count)
            print(f"      gate over {count:,} text files: {seconds:.2f} s, {per_file:.0f} µs per file")
    if missed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
