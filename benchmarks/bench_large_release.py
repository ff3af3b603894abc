"""A dataset of many small files released end to end, against ``upload_folder`` of the same tree.

Generates ``--files`` text files of about 500 bytes in folders of 1,000 (the Hub's advice: under
10,000 entries a folder), then times each stage of a release as model-release runs it, in this process:
  - checksum: the manifest of the data (``build_manifest``: batched hashing, no cache);
  - gate: the safety gate over every file (``run_gate``; every file is text, so every file is secret-scanned);
  - stage: the staged tree (``plan_stage`` + ``apply_stages``: hard links, the card, the release manifest);
  - publish: ``publish_release`` to a ``hub serve`` subprocess with the Hub's limits (100 operations a commit,
    10,000 entries a folder): chunked commits of 100 to a pull request, the pull request's tree verified,
    merged into main at once, main verified, tagged;
  - verify: ``publish_release`` again, which reads the tag's tree back and finds it identical ("already released").
The baseline is ``HfApi.upload_folder`` of the same staged tree to a fresh ``hub serve`` subprocess (the
client hashes every file, then one commit; that server's commit limit is raised so it accepts the one
commit, as the Hub does when the upload does not time out). Each stage is reported as a ratio of the
baseline; so is the whole release. Peak resident memory (VmHWM): this process's during each stage (reset
before it), and each server's.

    python benchmarks/bench_large_release.py [--files 10000]      # nox -s bench runs the default
    python benchmarks/bench_large_release.py --files 100000        # the issue's scale: 20+ minutes
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_hub import TOKEN, describe_machine, free_port

if TYPE_CHECKING:
    from huggingface_hub import HfApi


def make_dataset(root: Path, count: int) -> Path:
    """``count`` text files of about 500 bytes in folders of 1,000."""
    data = root / "dataset"
    block = os.urandom(1 << 15).hex()
    for index in range(count):
        folder = data / "data" / f"{index // 1000:04d}"
        if index % 1000 == 0:
            folder.mkdir(parents=True)
        start = (index * 7) % (len(block) - 480)
        (folder / f"{index:06d}.txt").write_text(f"row {index}: {block[start : start + 480]}\n")
    return data


@contextlib.contextmanager
def hub_serve(storage: Path, port: int, extra: Sequence[str] = ()) -> Iterator[dict[str, int]]:
    """A ``hub serve`` subprocess; the dict gets the server's peak RSS (MB) once it has stopped."""
    command = [sys.executable, "-m", "release", "hub", "serve", "--port", str(port), "--storage", str(storage)]
    process = subprocess.Popen([*command, "--token", f"bench:{TOKEN}", "--quiet", *extra], stdout=subprocess.DEVNULL)
    peak: dict[str, int] = {}
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
        yield peak
    finally:
        peak["rss_mb"] = peak_mb(process.pid)  # VmHWM: wait4's ru_maxrss would count this process's, from fork
        process.terminate()
        process.wait(timeout=60)


def time_reads(api: HfApi, endpoint: str) -> dict[str, float]:
    """Seconds for what readers of the released repository ask the server: listings and the web view."""
    reads: dict[str, float] = {}
    start = time.perf_counter()
    listed = sum(1 for _ in api.list_repo_tree("bench/dataset", repo_type="dataset", recursive=True))
    reads[f"list_repo_tree, recursive ({listed:,} entries, pages of 1,000)"] = time.perf_counter() - start
    start = time.perf_counter()
    api.list_repo_tree("bench/dataset", path_in_repo="data/0000", repo_type="dataset")
    reads["list_repo_tree of one folder (1,000 files)"] = time.perf_counter() - start
    for page in ("1", "50"):
        start = time.perf_counter()
        with urllib.request.urlopen(f"{endpoint}/datasets/bench/dataset?files={page}", timeout=300) as answer:
            answer.read()
        reads[f"web view, page {page} of the file list"] = time.perf_counter() - start
    return reads


def upload_folder(storage: Path, folder: Path, files: int) -> tuple[float, int]:
    """Seconds for ``upload_folder`` of ``folder`` in one commit to a fresh server, and the server's peak RSS (MB).

    That server's commit limit is raised to the number of files, so it accepts the one commit.
    """
    from huggingface_hub import HfApi

    port = free_port()
    with hub_serve(storage, port, ["--max-commit-operations", str(files + 10)]) as server:
        api = HfApi(endpoint=f"http://127.0.0.1:{port}", token=TOKEN)
        api.create_repo("bench/plain", repo_type="dataset")
        start = time.perf_counter()
        api.upload_folder(repo_id="bench/plain", repo_type="dataset", folder_path=folder)
        seconds = time.perf_counter() - start
    return seconds, server["rss_mb"]


def peak_mb(pid: int | str = "self") -> int:
    """The peak resident memory (VmHWM) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return 0


def reset_peak() -> None:
    """Start this process's VmHWM again from its current size (Linux: ``clear_refs`` 5), so each stage has its own."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000, help="how many files (default 10,000)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-large-release-") as tmp:
        root = Path(tmp)
        os.environ |= {
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_HOME": str(root / "hf-home"),
        }
        os.environ.pop("HF_TOKEN", None)
        from huggingface_hub import HfApi

        from release.checksum import build_manifest
        from release.gate import GateConfig, check_gate, run_gate
        from release.publish import publish_release
        from release.publish_plan import PublishTarget
        from release.stage import SourceInfo, apply_stages, plan_stage

        data = make_dataset(root, args.files)
        times: dict[str, float] = {}
        peaks: dict[str, int] = {}

        reset_peak()
        start = time.perf_counter()
        manifest = build_manifest(data)
        times["checksum"], peaks["checksum"] = time.perf_counter() - start, peak_mb()

        reset_peak()
        start = time.perf_counter()
        check_gate(run_gate([(e.path, data / e.path) for e in manifest.entries], GateConfig()))
        times["gate"], peaks["gate"] = time.perf_counter() - start, peak_mb()

        reset_peak()
        start = time.perf_counter()
        plan = plan_stage(
            dest=root / "dist" / "bench-1.0",
            repo_id="bench/dataset",
            repo_type="dataset",
            version="1.0",
            card="---\nlicense: mit\n---\n# bench\n",
            model=(manifest, data),
            datasets=[],
            locks={},
            source=SourceInfo(None, None),
        )
        apply_stages([plan])
        times["stage"], peaks["stage"] = time.perf_counter() - start, peak_mb()
        # The baseline runs before and after the release: on a shared machine the disk's fsync latency,
        # which dominates both, drifts; the ratios are against the mean of the two.
        staged_files = sum(1 for p in plan.dest.rglob("*") if p.is_file())
        baseline_before, base_rss = upload_folder(root / "hub-baseline-before", plan.dest, staged_files)

        port = free_port()
        with hub_serve(root / "hub-release", port) as release_server:
            target = PublishTarget(f"http://127.0.0.1:{port}", "bench/dataset", "dataset", TOKEN)
            reset_peak()
            start = time.perf_counter()
            published = publish_release(plan.dest, plan.manifest, target)
            times["publish"], peaks["publish"] = time.perf_counter() - start, peak_mb()
            reset_peak()
            start = time.perf_counter()
            again = publish_release(plan.dest, plan.manifest, target)
            times["verify"], peaks["verify"] = time.perf_counter() - start, peak_mb()
            api = HfApi(endpoint=target.endpoint, token=TOKEN)
            repo: dict[str, str] = {"repo_id": "bench/dataset", "repo_type": "dataset"}
            pulls = api.list_repo_refs(**repo, include_pull_requests=True).pull_requests
            pull = [c.commit_id for c in api.list_repo_commits(**repo, revision="refs/pr/1")]
            main_commits = len(api.list_repo_commits(**repo))
            reads = time_reads(api, target.endpoint)
        assert again.already_released and published.tag == "v1.0"

        staged_files = sum(1 for p in plan.dest.rglob("*") if p.is_file())
        baseline_after, base_rss_after = upload_folder(root / "hub-baseline-after", plan.dest, staged_files)

    baseline = (baseline_before + baseline_after) / 2
    total = sum(times.values())
    print(f"bench_large_release, {datetime.now(UTC):%Y-%m-%d}, {describe_machine()}")
    refs = ", ".join(p.ref for p in pulls or [])
    print(f"  {args.files:,} data files ({staged_files:,} staged); publish: {len(pull) - 1} commits to {refs},")
    print(f"    merged into main at once (main: {main_commits} commits, the repository's first and the merge), tagged")
    print(
        f"  upload_folder (baseline, one commit): {baseline_before:.2f} s before the release, {baseline_after:.2f} s"
        f" after: mean {baseline:.2f} s; server peak RSS {max(base_rss, base_rss_after)} MB"
    )
    for name, seconds in times.items():
        per_file = seconds / args.files * 1e6
        print(
            f"  {name:<8} {seconds:8.2f} s  {seconds / baseline:5.2f}x the baseline  {per_file:7.1f} us/file"
            f"  peak RSS {peaks[name]} MB"
        )
    print(f"  release, all stages: {total:8.2f} s  {total / baseline:.2f}x the baseline")
    print(f"  release server peak RSS {release_server['rss_mb']} MB")
    print("  reads of the released repository (the emulator):")
    for name, seconds in reads.items():
        print(f"    {name}: {seconds:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
