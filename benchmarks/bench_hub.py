"""Upload and download of one big file through the local Hub emulator, against sha256sum in the same run.

Starts ``python -m release hub serve`` as a subprocess on a free loopback port with fresh storage,
writes a file of ``--mib`` MiB, then with the real huggingface_hub client (Xet off, a fresh cache):
  - uploads it as an LFS file with ``create_commit`` (the client hashes it, then PUTs it),
  - downloads it with ``hf_hub_download``,
and reports the median times as ratios to coreutils ``sha256sum`` of the same file (warm page cache), plus
the server's resident memory (VmRSS sampled from /proc every 20 ms, and VmHWM) before and during.

    python benchmarks/bench_hub.py [--mib 1024] [--rounds 3] [--limit-mb 100]

Exits 1 when the server's resident memory grew by more than ``--limit-mb`` (the emulator's promise:
uploads and downloads stream, so memory stays flat whatever the file size).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

TOKEN = "hf_bench_write"  # a throwaway token for a throwaway server
_BLOCK = 16 << 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_file(path: Path, mib: int) -> None:
    """``mib`` MiB that no two blocks share (so nothing along the way can shortcut repeated content)."""
    seed = os.urandom(_BLOCK)
    with path.open("wb") as handle:
        for index in range(0, mib << 20, _BLOCK):
            block = hashlib.sha256(index.to_bytes(8, "little")).digest() + seed[32:]
            handle.write(block[: min(_BLOCK, (mib << 20) - index)])


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in kB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


class MemorySampler:
    """The highest VmRSS of a process while a block runs, sampled in a thread."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid, self.interval = pid, interval
        self.peak_kb = 0

    @contextmanager
    def sampling(self) -> Iterator[None]:
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                self.peak_kb = max(self.peak_kb, memory_kb(self.pid)["VmRSS"])
                stop.wait(self.interval)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


@contextmanager
def hub_server(storage: Path, port: int, *options: str) -> Iterator[subprocess.Popen[bytes]]:
    """``hub serve`` on ``port`` with ``options`` (e.g. ``--multipart-threshold 8MiB``), until the block ends."""
    command = [sys.executable, "-m", "release", "hub", "serve", "--port", str(port), "--storage", str(storage)]
    command += options
    process = subprocess.Popen([*command, "--token", f"bench:{TOKEN}", "--quiet"], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"The Hub emulator did not start on port {port}") from None
                time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def describe_machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor() or "unknown CPU",
    )
    total_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line
    )
    return f"{cpu}, {os.cpu_count()} CPUs, {total_kb / 1024**2:.0f} GiB RAM, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024, help="size of the file in MiB (default 1024)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; medians are reported (default 3)")
    parser.add_argument("--limit-mb", type=float, default=100, help="allowed growth of the server's memory")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-hub-") as tmp:
        root = Path(tmp)
        port = free_port()
        # huggingface_hub reads these once, at its first import: set them before it.
        os.environ |= {
            "HF_ENDPOINT": f"http://127.0.0.1:{port}",
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_HOME": str(root / "hf-home"),
        }
        os.environ.pop("HF_TOKEN", None)
        from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download

        source = root / "model.safetensors"
        make_file(source, args.mib)
        size = source.stat().st_size

        def sha256sum() -> None:
            subprocess.run(["sha256sum", str(source)], check=True, stdout=subprocess.DEVNULL)

        def upload(repo_id: str) -> None:  # the client hashes the file, then preupload, batch, PUT, commit
            operation = CommitOperationAdd(path_in_repo=source.name, path_or_fileobj=source)
            api.create_commit(repo_id, [operation], commit_message="big file")

        def download(repo_id: str, cache: Path) -> None:
            downloaded = Path(hf_hub_download(repo_id, source.name, cache_dir=cache))
            if downloaded.stat().st_size != size:
                raise SystemExit(f"Downloaded {downloaded.stat().st_size} bytes, expected {size}")

        sha256sum()  # warm the page cache
        times: dict[str, list[float]] = {"sha256sum": [], "upload": [], "download": []}
        with hub_server(root / "storage", port) as server:
            api = HfApi(token=TOKEN)
            before = memory_kb(server.pid)
            sampler = MemorySampler(server.pid)
            with sampler.sampling():
                for number in range(args.rounds):  # a new repo each round: its upload is a real one
                    repo_id = api.create_repo(f"bench/big-{number}").repo_id
                    cache = root / f"cache-{number}"
                    times["sha256sum"].append(timed(sha256sum))
                    times["upload"].append(timed(partial(upload, repo_id)))
                    times["download"].append(timed(partial(download, repo_id, cache)))
                    shutil.rmtree(cache)
            after = memory_kb(server.pid)

    # A VmHWM that rose during the run is a peak of the run (sampling could miss a short one).
    peak_kb = max(sampler.peak_kb, after["VmHWM"] if after["VmHWM"] > before["VmHWM"] else 0)
    growth_mb = (peak_kb - before["VmRSS"]) / 1024
    baseline = statistics.median(times["sha256sum"])
    print(f"{datetime.now(UTC):%Y-%m-%d}: {describe_machine()}")
    print(f"{size / 2**30:.2f} GiB file, Xet off, loopback, warm page cache, median of {args.rounds} rounds")
    labels = {
        "sha256sum": "sha256sum",
        "upload": "upload (create_commit)",
        "download": "download (hf_hub_download)",
    }
    for key, label in labels.items():
        seconds = statistics.median(times[key])
        print(f"  {label:<26} {seconds:7.2f} s  {size / seconds / 1e6:5.0f} MB/s  {seconds / baseline:5.2f}x sha256sum")
    print(
        f"  server memory: VmRSS {before['VmRSS'] / 1024:.0f} MB before, peak {peak_kb / 1024:.0f} MB during "
        f"(VmHWM {before['VmHWM'] / 1024:.0f} MB before, {after['VmHWM'] / 1024:.0f} MB after): "
        f"grew {growth_mb:.0f} MB (limit {args.limit_mb:.0f} MB)"
    )
    if growth_mb > args.limit_mb:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
