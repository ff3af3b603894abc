"""The project's own environments are locked: uv.lock matches pyproject.toml, .ci/tools.txt matches uv.lock,
and a lock that falls behind its input is caught (as `nox -s lint` and every `uv sync --locked` catch it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from uv import find_uv_bin

REPO_ROOT = Path(__file__).resolve().parent.parent
# What the noxfile's lint session runs to export .ci/tools.txt (kept in step with noxfile._EXPORT_TOOLS).
EXPORT_TOOLS = ["export", "--quiet", "--locked", "--only-group=tools", "--no-emit-project", "--no-header"]


def _uv(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([find_uv_bin(), *args, "--offline"], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of what the locks are made from: pyproject.toml, uv.lock, and the package's name on disk."""
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    (tmp_path / "release").mkdir()
    (tmp_path / "release" / "__init__.py").touch()
    return tmp_path


def test_the_committed_locks_are_current() -> None:
    checked = _uv("lock", "--check", cwd=REPO_ROOT)
    assert checked.returncode == 0, checked.stderr
    exported = _uv(*EXPORT_TOOLS, cwd=REPO_ROOT)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == (REPO_ROOT / ".ci" / "tools.txt").read_text()
    assert '"nox==2026.10.20", "uv==0.13.9"' in (REPO_ROOT / "pyproject.toml").read_text()
    assert "--hash=sha256:" in exported.stdout  # pip installs them with --require-hashes


def test_a_pin_moved_in_pyproject_without_its_lock_is_caught(project: Path) -> None:
    pyproject = project / "pyproject.toml"
    assert _uv("lock", "--check", cwd=project).returncode == 0  # the copy, as committed, passes
    text = pyproject.read_text()
    pyproject.write_text(text.replace('"pytest-xdist==3.8.0"', '"pytest-xdist==3.7.0"'))
    assert pyproject.read_text() != text
    # Offline (tests reach no index), uv cannot re-resolve, so the stale lock fails at resolving; online
    # it says "The lockfile at `uv.lock` needs to be updated". Either way: a non-zero exit.
    checked = _uv("lock", "--check", cwd=project)
    assert checked.returncode != 0
    assert "needs to be updated" in checked.stderr or "No solution found when resolving" in checked.stderr
    synced = _uv("sync", "--locked", "--dry-run", cwd=project)
    assert synced.returncode != 0  # and so does every nox session, which installs with `uv sync --locked`
