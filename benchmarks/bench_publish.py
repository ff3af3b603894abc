"""Publishing a generated release to the local Hub emulator, against a plain ``upload_folder`` of it.

Generates a release of ``--mib`` MiB (four weight shards and a config), stages it, then against a
``python -m release hub serve`` subprocess with fresh storage each time:
  - baseline: ``HfApi.upload_folder`` of the staged folder (the client hashes every file, then uploads),
  - ``publish_release`` of the same staged folder (plan, upload with the manifest's digests, one commit,
    verify, tag),
  - ``publish_release`` again with nothing changed (already released: 0 bytes uploaded).
The staging's own hashing (``build_manifest``, done once by the checksum stage) is reported apart.

    python benchmarks/bench_publish.py [--mib 1024]

Targets (issue 7): publish <= 1.3x upload_folder; the re-run <= 10% of the first publish. Exits 1 when
one is missed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_hub import TOKEN, describe_machine, free_port, hub_server, make_file


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024, help="size of the release in MiB (default 1024)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
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
        from release.publish import publish_release
        from release.publish_plan import PublishTarget
        from release.stage import SourceInfo, apply_stages, plan_stage

        model = root / "model"
        model.mkdir()
        shards = 4
        for index in range(shards):
            make_file(model / f"model-{index + 1:05d}-of-{shards:05d}.safetensors", args.mib // shards)
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

        port = free_port()
        with hub_server(root / "hub-baseline", port):
            api = HfApi(endpoint=f"http://127.0.0.1:{port}", token=TOKEN)
            api.create_repo("bench/plain")
            start = time.perf_counter()
            api.upload_folder(repo_id="bench/plain", folder_path=plan.dest)
            baseline = time.perf_counter() - start

        port = free_port()
        with hub_server(root / "hub-publish", port):
            target = PublishTarget(f"http://127.0.0.1:{port}", "bench/model", "model", TOKEN)
            start = time.perf_counter()
            first = publish_release(plan.dest, plan.manifest, target)
            published = time.perf_counter() - start
            start = time.perf_counter()
            again = publish_release(plan.dest, plan.manifest, target)
            rerun = time.perf_counter() - start
        uploaded = first.plan.upload_bytes if first.plan else 0
        rerun_bytes = again.plan.upload_bytes if again.plan else 0

    ratio, rerun_share = published / baseline, rerun / published
    print(f"bench_publish, {datetime.now(UTC):%Y-%m-%d}, {describe_machine()}")
    print(f"  release of {args.mib} MiB ({shards} shards); build_manifest (checksum stage, once): {hashing:.2f} s")
    print(f"  upload_folder (baseline):       {baseline:7.2f} s")
    print(f"  publish_release:                {published:7.2f} s  {ratio:.2f}x the baseline (target <= 1.3x)")
    print(f"    uploaded {uploaded} bytes")
    print(
        f"  re-run, nothing changed:        {rerun:7.2f} s  {rerun_share:.1%} of the first publish (target <= 10%), "
        f"{rerun_bytes} bytes uploaded, already released: {again.already_released}"
    )
    return 0 if ratio <= 1.3 and rerun_share <= 0.10 and rerun_bytes == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
