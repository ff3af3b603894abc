"""A 6 GiB release published in parts through the local Hub emulator, against ``upload_folder`` of it in one PUT.

Generates one weight file of ``--gib`` GiB (at run time; never committed), stages a release of it,
then against a ``python -m release hub serve`` subprocess with fresh storage each time:
  - baseline: ``HfApi.upload_folder`` of the staged folder to an emulator that never asks for parts
    (``--multipart-threshold`` above the file's size): the client hashes the file, then sends it in
    one ``PUT``;
  - ``publish_release`` of the same staged folder to an emulator with the Hub's multipart settings
    (objects over 5 GiB go in parts of 5 GiB; ``--chunk-mib`` to change the part size): the batch
    answer asks for parts, the client sends each part, the emulator joins and checks them at the
    completion call, then the commit, verify and tag.
Each client runs in a process of its own, so that its peak resident memory (``ru_maxrss``) is its
alone; the server's is sampled from /proc (VmRSS every 20 ms, and VmHWM). Reports the times, their
ratio, and the peak memory of both sides. The staging's own hashing (the checksum stage) is reported apart.

    python benchmarks/bench_multipart.py [--gib 6] [--chunk-mib N]

Needs about three times the file's size of free disk (the file, the baseline's store, and the parts
plus the joined object at the completion); with less it uses a smaller file that fits and says so.
Exits 1 when the publish did not go in parts, or when the server's memory grew by more than ``--limit-mb``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_hub import TOKEN, MemorySampler, describe_machine, free_port, hub_server, make_file, memory_kb

_GiB = 1024**3
_HF_ENV = {"HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}


def client(mode: str, endpoint: str, folder: Path) -> None:
    """One upload, in this process: ``upload-folder`` (the baseline) or ``publish`` (model-release)."""
    from huggingface_hub import HfApi

    from release.publish import publish_release
    from release.publish_plan import PublishTarget
    from release.stage import read_release_manifest

    if mode == "upload-folder":
        api = HfApi(endpoint=endpoint, token=TOKEN)
        api.create_repo("bench/plain")
        api.upload_folder(repo_id="bench/plain", folder_path=folder)
    else:
        target = PublishTarget(endpoint, "bench/model", "model", TOKEN)
        publish_release(folder, read_release_manifest(folder), target)


def run_client(mode: str, endpoint: str, folder: Path) -> tuple[float, int]:
    """Seconds and peak resident memory (kB) of one client process."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, __file__, "--client", mode, endpoint, str(folder)])
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"The {mode} client failed with exit code {process.returncode}")
    return elapsed, usage.ru_maxrss


def asks_for_parts(endpoint: str, folder: Path, name: str) -> int:
    """How many parts the emulator's batch answer asks for, for the release's weight file (0: one PUT)."""
    from huggingface_hub import HfApi
    from huggingface_hub.lfs import UploadInfo, post_lfs_batch_info

    from release.stage import read_release_manifest

    entry = next(e for e in read_release_manifest(folder).files if e.path == name)
    HfApi(endpoint=endpoint, token=TOKEN).create_repo("bench/model", exist_ok=True)
    info = UploadInfo(size=entry.size, sample=b"", sha256=bytes.fromhex(entry.sha256))
    actions, errors, _ = post_lfs_batch_info([info], TOKEN, "model", "bench/model", endpoint=endpoint)
    if errors:
        raise SystemExit(f"The batch answer has errors: {errors}")
    header = actions[0].get("actions", {}).get("upload", {}).get("header") or {}
    return sum(1 for key in header if key.isdigit())


def served(storage: Path, port: int, mode: str, folder: Path, *options: str) -> dict[str, float]:
    """Run one client against a fresh ``hub serve``; its time and both sides' peak memory."""
    endpoint = f"http://127.0.0.1:{port}"
    with hub_server(storage, port, *options) as server:
        parts = asks_for_parts(endpoint, folder, "model.safetensors") if mode == "publish" else 0
        before = memory_kb(server.pid)
        sampler = MemorySampler(server.pid)
        with sampler.sampling():
            seconds, client_kb = run_client(mode, endpoint, folder)
        after = memory_kb(server.pid)
    server_kb = max(sampler.peak_kb, after["VmHWM"] if after["VmHWM"] > before["VmHWM"] else 0)
    return {
        "seconds": seconds,
        "client_mb": client_kb / 1024,
        "server_mb": server_kb / 1024,
        "server_before_mb": before["VmRSS"] / 1024,
        "parts": parts,
    }


def fitting_size(root: Path, wanted_gib: float) -> tuple[int, str]:
    """The file size in bytes: ``wanted_gib``, or less when the disk cannot hold three copies and a margin."""
    free = shutil.disk_usage(root).free
    wanted = int(wanted_gib * _GiB)
    if free >= 3 * wanted + _GiB:
        return wanted, ""
    size = max((free - _GiB) // 3 // (16 << 20) * (16 << 20), 16 << 20)
    note = f" (asked for {wanted_gib:g} GiB, but only {free / _GiB:.1f} GiB of disk is free)"
    return size, note


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=6, help="size of the weight file in GiB (default 6)")
    parser.add_argument("--chunk-mib", type=int, help="part size in MiB (default: the Hub's, 5 GiB)")
    parser.add_argument("--limit-mb", type=float, default=200, help="allowed growth of each side's memory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-multipart-") as tmp:
        root = Path(tmp)
        os.environ |= _HF_ENV | {"HF_HOME": str(root / "hf-home")}
        os.environ.pop("HF_TOKEN", None)
        from release.checksum import build_manifest
        from release.stage import SourceInfo, apply_stages, plan_stage

        size, note = fitting_size(root, args.gib)
        model = root / "model"
        model.mkdir()
        make_file(model / "model.safetensors", size >> 20)
        (model / "config.json").write_text('{"hidden_size": 16}\n')
        start = time.perf_counter()
        manifest = build_manifest(model)
        hashing = time.perf_counter() - start
        plan = plan_stage(
            dest=root / "dist" / "bench-1.0",
            repo_id="bench/model",
            repo_type="model",
            version="1.0",
            card="---\nlicense: mit\n---\n# bench\n",
            model=(manifest, model),
            datasets=[],
            locks={},
            source=SourceInfo(None, None),
        )
        apply_stages([plan])

        never = ("--multipart-threshold", str(1024 * 1024 * _GiB))  # 1 PiB: always one PUT
        baseline = served(root / "hub-baseline", free_port(), "upload-folder", plan.dest, *never)
        shutil.rmtree(root / "hub-baseline")  # room for the parts and the joined object
        chunk = ("--multipart-chunk-size", f"{args.chunk_mib}MiB") if args.chunk_mib else ()
        if args.chunk_mib:
            chunk += ("--multipart-threshold", f"{args.chunk_mib}MiB")
        publish = served(root / "hub-publish", free_port(), "publish", plan.dest, *chunk)

    ratio = publish["seconds"] / baseline["seconds"]
    print(f"bench_multipart, {datetime.now(UTC):%Y-%m-%d}, {describe_machine()}")
    print(f"  one weight file of {size / _GiB:.2f} GiB{note}; build_manifest (checksum stage, once): {hashing:.2f} s")
    for label, result in (("upload_folder, one PUT (baseline)", baseline), ("publish_release, in parts", publish)):
        print(
            f"  {label:<34} {result['seconds']:7.2f} s  {size / result['seconds'] / 1e6:5.0f} MB/s  "
            f"client peak RSS {result['client_mb']:5.0f} MB  server peak RSS {result['server_mb']:5.0f} MB "
            f"(from {result['server_before_mb']:.0f} MB)"
        )
    print(f"  parts asked for: {publish['parts']:.0f}; publish / baseline: {ratio:.2f}x")
    print(json.dumps({"size": size, "ratio": round(ratio, 3), "baseline": baseline, "publish": publish}))
    grew = max(r["server_mb"] - r["server_before_mb"] for r in (baseline, publish))
    return 0 if publish["parts"] >= 2 and grew <= args.limit_mb else 1


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--client":
        os.environ |= _HF_ENV
        client(sys.argv[2], sys.argv[3], Path(sys.argv[4]))
    else:
        raise SystemExit(main())
