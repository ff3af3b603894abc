"""Checksum throughput, re-run cost and memory, as ratios to baselines timed in the same run.

Data generated here (page cache warm): the dataset mix of issue 5 (2,000 files of 1 MiB plus 20 of
50 MiB) and one 2 GiB file. Each candidate runs as a whole process, rounds alternating:
  - ``model-release checksum DIR --manifest OUT --no-cache`` (parallel, page-aligned reused buffers;
    the installed script, else ``python -m release``),
  - ``openssl dgst -sha256`` as 2 parallel processes over the same files (``xargs -P2``), and one
    ``openssl dgst -sha256`` on the big file,
  - coreutils ``sha256sum`` (which has no SHA-NI here) for scale.
Then a re-run with nothing changed (the stat cache), and each process's peak resident memory
(``wait4``'s ru_maxrss).

Two in-process ceilings explain the ratios: the same bytes hashed by 2 hashlib threads from memory
(no file I/O: the CPU's limit), and ``release.checksum.hash_files`` over the mix inside this process
(no interpreter start-up). The re-run is broken down into a bare interpreter, importing the CLI, and
the in-process re-check.

    python benchmarks/bench_checksum.py [--small 2000] [--medium 20] [--big-mib 2048] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

# The installed command, as users run it (``python -m release`` runs the same code after ~5 ms of runpy).
_SCRIPT = Path(sys.executable).with_name("model-release")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "release"]

TARGETS = {
    "mix vs 2x openssl": 1.2,
    "big file vs openssl": 1.1,
}


def make_data(root: Path, small: int, medium: int, big_mib: int) -> tuple[Path, Path]:
    block = os.urandom(1 << 20)
    mix = root / "mix"
    mix.mkdir()
    for index in range(small):
        (mix / f"small-{index:05d}.bin").write_bytes(block[index % 4093 :] + block[: index % 4093])
    for index in range(medium):
        with (mix / f"medium-{index:02d}.bin").open("wb") as handle:
            for chunk in range(50):
                handle.write(block[chunk:] + block[:chunk])
    big = root / "big.bin"
    with big.open("wb") as handle:
        for chunk in range(big_mib):
            handle.write(block[chunk % 4093 :] + block[: chunk % 4093])
    return mix, big


def hash_from_memory(total: int, threads: int = 2) -> float:
    """Seconds for ``threads`` hashlib threads to hash ``total`` bytes already in memory (1 MiB updates)."""
    import hashlib
    import threading

    block = os.urandom(1 << 20)
    per_thread = total // threads // len(block)

    def work() -> None:
        digest = hashlib.sha256()
        for _ in range(per_thread):
            digest.update(block)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return (time.perf_counter() - start) * total / (per_thread * threads * len(block))


def hash_in_process(paths: list[Path]) -> float:
    """Seconds for model-release's hashing engine over ``paths``, in this process (no start-up, no cache)."""
    from release.checksum import hash_files

    start = time.perf_counter()
    hash_files(paths)
    return time.perf_counter() - start


def run(argv: Sequence[str], cwd: Path, stdin: bytes | None = None) -> tuple[float, int]:
    """Wall time and peak RSS (MB) of one whole process."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    if stdin is not None:
        assert process.stdin is not None
        process.stdin.write(stdin)
        process.stdin.close()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[0]} failed")
    return elapsed, usage.ru_maxrss // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--medium", type=int, default=20)
    parser.add_argument("--big-mib", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ours = [*COMMAND, "-q", "checksum", "--no-cache"]
    with tempfile.TemporaryDirectory(prefix="bench-checksum-") as tmp:
        root = Path(tmp)
        os.environ["XDG_CACHE_HOME"] = str(root / "cache")  # the stat cache of this run only
        mix, big = make_data(root, args.small, args.medium, args.big_mib)
        names = "\n".join(sorted(p.name for p in mix.iterdir())).encode() + b"\n"
        per_process = str(max(1, (args.small + args.medium) // 16))
        mix_bytes = sum(p.stat().st_size for p in mix.iterdir())
        candidates = {
            "mix: model-release": (lambda: run([*ours, ".", "--manifest", str(root / "m.sha256")], mix), mix_bytes),
            "mix: 2x openssl": (
                lambda: run(["xargs", "-P2", "-n", per_process, "openssl", "dgst", "-sha256"], mix, names),
                mix_bytes,
            ),
            "mix: sha256sum": (lambda: run(["xargs", "-n", per_process, "sha256sum"], mix, names), mix_bytes),
            "big: model-release": (
                lambda: run([*ours, big.name, "--manifest", str(root / "b.sha256")], root),
                big.stat().st_size,
            ),
            "big: openssl": (lambda: run(["openssl", "dgst", "-sha256", big.name], root), big.stat().st_size),
        }
        for action, _ in candidates.values():  # warm the page cache
            action()
        times: dict[str, list[float]] = {name: [] for name in candidates}
        memory: dict[str, int] = {}
        for _ in range(args.rounds):
            for name, (action, _) in candidates.items():
                elapsed, rss = action()
                times[name].append(elapsed)
                memory[name] = max(memory.get(name, 0), rss)
        cached = [*COMMAND, "-q", "checksum", ".", "--manifest", str(root / "c.sha256")]
        old = time.time() - 60  # files written just now are never cached (racy timestamps)
        for path in mix.iterdir():
            os.utime(path, (old, old))
        first, _ = run(cached, mix)
        samples = max(9, args.rounds)  # ~0.1 s each: more samples, a steadier median on a noisy machine
        reruns = [run(cached, mix)[0] for _ in range(samples)]
        bare = statistics.median(run([sys.executable, "-c", "pass"], mix)[0] for _ in range(samples))
        importing = statistics.median(run([sys.executable, "-c", "import release.cli"], mix)[0] for _ in range(samples))
        module = statistics.median(
            run([sys.executable, "-m", "release", *cached[len(COMMAND) :]], mix)[0] for _ in range(samples)
        )
        mix_paths = sorted(mix.iterdir())
        engine = statistics.median(hash_in_process(mix_paths) for _ in range(args.rounds))
        memory_ceiling = statistics.median(hash_from_memory(mix_bytes) for _ in range(args.rounds))

    median = {name: statistics.median(samples) for name, samples in times.items()}
    rate = {name: candidates[name][1] / median[name] / 1e9 for name in candidates}
    print(
        f"{args.small} x 1 MiB + {args.medium} x 50 MiB ({mix_bytes / 1e9:.2f} GB) and one {args.big_mib} MiB "
        f"file; warm page cache; {os.cpu_count()} CPUs; median of {args.rounds} rounds"
    )
    for name in candidates:
        print(f"  {name:<20} {rate[name]:6.2f} GB/s   peak RSS {memory[name]:5d} MB")
    ratios = {
        "mix vs 2x openssl": median["mix: 2x openssl"] / median["mix: model-release"],
        "big file vs openssl": median["big: openssl"] / median["big: model-release"],
    }
    for name, value in ratios.items():
        verdict = "meets" if value >= TARGETS[name] else "MISSES"
        print(f"  throughput {name:<22} {value:5.2f}x   ({verdict} the >= {TARGETS[name]}x target)")
    print(f"  mix vs sha256sum               {median['mix: sha256sum'] / median['mix: model-release']:5.2f}x")
    openssl_mix = median["mix: 2x openssl"]
    print(
        f"  ceilings vs 2x openssl: hashing engine in-process {openssl_mix / engine:5.2f}x "
        f"({mix_bytes / engine / 1e9:.2f} GB/s); 2 hashlib threads from memory {openssl_mix / memory_ceiling:5.2f}x "
        f"({mix_bytes / memory_ceiling / 1e9:.2f} GB/s)"
    )
    rerun = statistics.median(reruns) / first
    verdict = "meets" if rerun <= 0.10 else "MISSES"
    print(f"  re-run, nothing changed: {rerun * 100:.1f}% of the first run ({verdict} <= 10%)")
    print(
        f"    of its {statistics.median(reruns) * 1000:.0f} ms: bare interpreter {bare * 1000:.0f} ms, "
        f"importing the CLI {(importing - bare) * 1000:.0f} ms, the rest (parse, walk, stat, cache, write) "
        f"{(statistics.median(reruns) - importing) * 1000:.0f} ms; first run {first * 1000:.0f} ms"
    )
    print(f"    the same re-run as python -m release: {module * 1000:.0f} ms ({module / first * 100:.1f}%)")
    peak = max(memory["mix: model-release"], memory["big: model-release"])
    print(f"  model-release peak RSS: {peak} MB ({'meets' if peak < 150 else 'MISSES'} < 150 MB)")


if __name__ == "__main__":
    main()
