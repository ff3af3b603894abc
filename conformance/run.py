"""Run huggingface_hub's own tests against the Hub emulator: ``python -m conformance.run [--ci] [PYTEST ARGS]``.

What ``nox -s conformance`` runs. It reads the huggingface_hub version pinned in uv.lock, downloads that
version's sdist from the URL uv.lock records, refuses it unless its SHA-256 is the one uv.lock records,
extracts it to a temporary folder and runs its ``tests/`` with pytest and our plugin
(:mod:`conformance.plugin`). With no pytest arguments the whole suite runs and ``conformance/results.md``
is rewritten; ``--workers N`` sets pytest-xdist's workers (each with its own emulator); ``--ci`` runs
:data:`CI_FILES`, the subset that fits CI's time budget. Any other arguments go to pytest (paths are the
suite's, e.g. ``tests/test_hf_api.py -k Branch``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from conformance.sdist import ConformanceError, download, extract, locked_sdist

ROOT: Final = Path(__file__).resolve().parent.parent
HERE: Final = Path(__file__).resolve().parent
SKIPS: Final = HERE / "skips.toml"
RESULTS: Final = HERE / "results.md"

#: The suite's files run by ``--ci``: they pass against the emulator (repos, commits, LFS, downloads,
#: gated and moved repos, snapshots, HfFileSystem, the hub mixin, login, request ids) and take about
#: 60 s together on two workers.
CI_FILES: Final[tuple[str, ...]] = (
    "tests/test_auth.py",
    "tests/test_cache_layout.py",
    "tests/test_cli.py",
    "tests/test_cli_discussions.py",
    "tests/test_commit_api.py",
    "tests/test_file_download.py",
    "tests/test_hf_api.py",
    "tests/test_hf_file_system.py",
    "tests/test_hub_mixin.py",
    "tests/test_lfs.py",
    "tests/test_snapshot_download.py",
    "tests/test_tree_cache.py",
    "tests/test_utils_http.py",
)


#: Each worker runs its own emulator; the suite mostly waits on HTTP, so two fit on a small machine.
DEFAULT_WORKERS: Final = 2


def pytest_command(
    suite: Path, pytest_args: Sequence[str], *, results: Path | None, failures: Path | None
) -> list[str]:
    """The pytest command line that runs the suite at ``suite`` with our plugin and skip list."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        f"--rootdir={suite}",
        "--override-ini=addopts=--strict-markers",  # not the suite's -sv, --durations=0, live logs
        "--override-ini=asyncio_default_fixture_loop_scope=function",  # pytest-asyncio warns when unset
        "-p",
        "conformance.plugin",
        "-p",
        "no:cacheprovider",
        f"--conformance-skips={SKIPS}",
        "-q",
        "-rfE",
        "--continue-on-collection-errors",  # an in-scope file that cannot import is reported, the rest runs
    ]
    if results is not None:
        command.append(f"--conformance-results={results}")
    if failures is not None:
        command.append(f"--conformance-failures={failures}")
    selects = any(arg.startswith("tests") for arg in pytest_args)  # names files or tests of its own
    return [*command, *pytest_args, *([] if selects else ["tests"])]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nox -s conformance --", description=__doc__.splitlines()[0])
    parser.add_argument("--ci", action="store_true", help="run only the CI subset (conformance.run.CI_FILES)")
    parser.add_argument("--failures", type=Path, help="also write the failing node ids and their last line here")
    parser.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help=f"pytest-xdist workers (default {DEFAULT_WORKERS}; 0: serial)",
    )
    options, pytest_args = parser.parse_known_args(argv)
    full_run = not pytest_args and not options.ci
    if options.ci:
        pytest_args = [*CI_FILES, *pytest_args]
    try:
        sdist = locked_sdist((ROOT / "uv.lock").read_text(encoding="utf-8"))
    except OSError as exc:
        print(f"ERROR cannot read uv.lock: {exc}", file=sys.stderr)
        return 2
    except ConformanceError as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="hf-conformance-") as scratch:
        try:
            suite = extract(download(sdist, Path(scratch)), Path(scratch) / "suite")
        except ConformanceError as exc:
            print(f"ERROR {exc}", file=sys.stderr)
            return 2
        print(f"huggingface_hub {sdist.version}: sdist {sdist.filename} matches uv.lock's sha256; suite in {suite}")
        command = pytest_command(
            suite,
            [f"--numprocesses={options.workers}", *pytest_args],
            results=RESULTS if full_run else None,
            failures=options.failures,
        )
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(suite), str(ROOT)])}
        return subprocess.run(command, cwd=suite, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
