"""How many times an end-to-end ``release`` reads the weights, counted by the kernel.

A project with one generated weights file is released to a Hub emulator running in another process,
so the release process's ``rchar`` (/proc/self/io: bytes it read) counts only its own reads:
hashing (once, if hash-once works), the upload (once), and small files. A second release of a new
version with the same weights should read almost nothing: the hash cache answers, and the server
already holds the object.

    python benchmarks/bench_release_reads.py [--mib 512]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUN = """
import sys
from release.cli import main
code = main(sys.argv[1:])
rchar = next(int(line.split()[1]) for line in open("/proc/self/io") if line.startswith("rchar:"))
print(rchar, file=sys.stderr)
sys.exit(code)
"""


def release(project: Path, endpoint: str, version: str) -> int:
    config = project / "release.toml"
    config.write_text(
        f'repo_id = "bench/reads"\nversion = "{version}"\nendpoint = "{endpoint}"\n'
        '[model]\ndir = "model"\n[card.metadata]\nlicense = "mit"\n'
    )
    done = subprocess.run(
        [sys.executable, "-c", RUN, "-q", "release"],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_TOKEN": "hf_bench_token"},
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return int(done.stderr.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=512)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-reads-") as tmp:
        root = Path(tmp)
        os.environ["XDG_CACHE_HOME"] = str(root / "cache")
        project = root / "project"
        (project / "model").mkdir(parents=True)
        weights = project / "model" / "model.safetensors"
        header = b'{"w":{"dtype":"U8","shape":[%d],"data_offsets":[0,%d]}}' % (args.mib << 20, args.mib << 20)
        header += b" " * (-len(header) % 8)
        with weights.open("wb") as handle:
            handle.write(len(header).to_bytes(8, "little") + header)
            for _ in range(args.mib):
                handle.write(os.urandom(1 << 20))
        old = time.time() - 60  # not "just written": the hash cache may remember it
        os.utime(weights, (old, old))
        size = weights.stat().st_size
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = subprocess.Popen(
            [sys.executable, "-m", "release", "-q", "hub", "serve", "--port", str(port),
             "--storage", str(root / "hub"), "--token", "bench:hf_bench_token"],
        )  # fmt: skip
        try:
            for _ in range(100):
                with socket.socket() as client:
                    if client.connect_ex(("127.0.0.1", port)) == 0:
                        break
                time.sleep(0.1)
            endpoint = f"http://127.0.0.1:{port}"
            first = release(project, endpoint, "1.0")
            second = release(project, endpoint, "1.1")
        finally:
            server.terminate()
            server.wait()
    print(f"weights: {size / 2**20:.0f} MiB; bytes the release process read, per byte of weights:")
    print(f"  first release   {first / size:.2f}x  (hash once + upload once = 2x; a second hash would make it 3x)")
    print(f"  next version, same weights   {second / size:.3f}x  (cached digests, object already on the server)")


if __name__ == "__main__":
    main()
