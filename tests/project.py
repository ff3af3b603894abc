"""The example project and the command line, as the tests use them.

- :func:`copy_example` copies the bundled example (``release.toml``, the locks, ``example/``) into a
  folder and trains its weights there (they are generated, never committed);
- :func:`run_cli` runs ``python -m release ARGS`` in a folder, as a user would, and returns the
  finished process (never raises on a non-zero exit: tests assert on it).

Import this module as ``project`` (``tests/`` has no ``__init__.py``; pytest puts ``tests/`` on ``sys.path``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def copy_example(dest: Path) -> Path:
    """A copy of the bundled example project in ``dest`` (created), with its weights trained."""
    dest.mkdir()
    for name in ("release.toml", "requirements.in", "requirements.txt"):
        shutil.copy2(REPO_ROOT / name, dest / name)
    shutil.copytree(
        REPO_ROOT / "example",
        dest / "example",
        ignore=shutil.ignore_patterns("*.safetensors", "model.safetensors.index.json", "__pycache__"),
    )
    subprocess.run([sys.executable, "example/model/train.py"], cwd=dest, check=True, capture_output=True)
    return dest


def run_cli(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m release ARGS`` in ``cwd``, with ``env`` added to this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "release", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )
