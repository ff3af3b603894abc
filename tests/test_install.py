"""Building a venv from a hash-pinned lock with uv and with pip, and finding the recorded Python with uv.

Real programs only: uv (from PATH, as ``nox -s tests`` has it), pip, real venvs and the tests' tiny
wheelhouse with ``--no-index --find-links``: nothing reaches the network.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from wheelhouse import Wheelhouse

from release.errors import ProcessError, ReproduceError
from release.install import (
    Installer,
    LockInstall,
    build_venv,
    choose_installer,
    find_python,
    find_uv,
    recorded_interpreter,
)

INSTALLERS: tuple[Installer, ...] = ("uv", "pip")
_LIST = "import json, importlib.metadata as m; print(json.dumps({d.name: d.version for d in m.distributions()}))"


def _uv() -> str:
    uv = find_uv()
    assert uv is not None, "uv must be on PATH for these tests (nox -s tests puts it there)"
    return uv


def _lock(folder: Path, wheelhouse: Wheelhouse, tinydep_hash: str | None = None) -> Path:
    """tinypkg 1.0 and tinydep 1.1, each pinned with the sha256 of its wheel (or ``tinydep_hash``)."""
    lock = folder / "requirements.txt"
    lock.write_text(
        f"tinypkg==1.0 \\\n    --hash=sha256:{wheelhouse.sha256('tinypkg==1.0')}\n"
        f"tinydep==1.1 \\\n    --hash=sha256:{tinydep_hash or wheelhouse.sha256('tinydep==1.1')}\n",
        encoding="utf-8",
    )
    return lock


def _plan(tmp_path: Path, wheelhouse: Wheelhouse, installer: Installer, lock: Path) -> LockInstall:
    return LockInstall(
        python=sys.executable,
        lock=lock,
        venv=tmp_path / "venv",
        installer=installer,
        uv=find_uv(),
        index_args=("--no-index", "--find-links", str(wheelhouse.directory)),
        name="requirements.txt of the test",
    )


def _distributions(python: str) -> dict[str, str]:
    listed = subprocess.run([python, "-c", _LIST], capture_output=True, text=True, check=True)
    return {name.lower(): version for name, version in json.loads(listed.stdout).items()}


@pytest.mark.parametrize("installer", INSTALLERS)
def test_each_installer_builds_exactly_the_lock(tmp_path: Path, wheelhouse: Wheelhouse, installer: Installer) -> None:
    _uv()
    python = build_venv(_plan(tmp_path, wheelhouse, installer, _lock(tmp_path, wheelhouse)))
    assert python == str(tmp_path / "venv" / "bin" / "python")
    installed = _distributions(python)
    assert {installed["tinypkg"], installed["tinydep"]} == {"1.0", "1.1"}
    seed = {"pip", "setuptools", "wheel"} & set(installed)
    if installer == "uv":
        assert seed == set() and set(installed) == {"tinypkg", "tinydep"}  # uv venv seeds nothing
    else:
        assert "pip" in seed  # python -m venv seeds pip


@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_tampered_hash_is_refused_by_each_installer(
    tmp_path: Path, wheelhouse: Wheelhouse, installer: Installer
) -> None:
    _uv()
    lock = _lock(tmp_path, wheelhouse, tinydep_hash="0" * 64)
    with pytest.raises(ProcessError, match=r"(?is)install requirements\.txt of the test.*hash") as info:
        build_venv(_plan(tmp_path, wheelhouse, installer, lock))
    message = str(info.value)
    assert "tinydep" in message and "0" * 64 in message and wheelhouse.sha256("tinydep==1.1") in message
    if (tmp_path / "venv").exists():  # the venv was made, the lock not installed into it
        assert "tinydep" not in _distributions(str(tmp_path / "venv" / "bin" / "python"))


def test_an_unpinned_line_is_refused_by_uv_as_by_pip(tmp_path: Path, wheelhouse: Wheelhouse) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text("tinypkg==1.0\n", encoding="utf-8")  # no --hash: --require-hashes refuses it
    for installer in INSTALLERS:
        plan = _plan(tmp_path / installer, wheelhouse, installer, lock)
        with pytest.raises(ProcessError, match=r"(?is)tinypkg.*hash|hash.*tinypkg"):
            build_venv(plan)


@pytest.mark.parametrize("installer", INSTALLERS)
def test_the_index_options_reach_each_installer(tmp_path: Path, wheelhouse: Wheelhouse, installer: Installer) -> None:
    """--no-index without --find-links: nowhere to get tinypkg from, so both refuse (and never reach an index)."""
    _uv()
    plan = _plan(tmp_path, wheelhouse, installer, _lock(tmp_path, wheelhouse))
    offline_only = LockInstall(plan.python, plan.lock, plan.venv, installer, plan.uv, ("--no-index",), plan.name)
    with pytest.raises(ProcessError, match=r"(?is)install requirements\.txt of the test.*tinypkg"):
        build_venv(offline_only)


def test_auto_picks_uv_when_found_and_pip_otherwise() -> None:
    assert choose_installer("auto", "/usr/bin/uv") == "uv"
    assert choose_installer("auto", None) == "pip"
    assert choose_installer("pip", "/usr/bin/uv") == "pip"
    assert choose_installer("uv", "/usr/bin/uv") == "uv"


def test_asking_for_uv_without_it_says_how_to_get_it_or_use_pip() -> None:
    with pytest.raises(ReproduceError, match=r"--installer uv: uv is not on PATH: install it .*--installer pip"):
        choose_installer("uv", None)


def test_uv_python_find_finds_the_running_version() -> None:
    version = ".".join(platform.python_version_tuple()[:2])
    found = find_python(version, _uv())
    assert found is not None and Path(found).is_file()
    check = "import platform; print('.'.join(platform.python_version_tuple()[:2]))"
    asked = subprocess.run([found, "-c", check], capture_output=True, text=True, check=True)
    assert asked.stdout.strip() == version
    assert recorded_interpreter(version, _uv()) == found  # there already: nothing is installed


def test_a_python_uv_cannot_get_names_the_version_and_both_ways_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_OFFLINE", "1")  # uv 0.13 honours it for `uv python install`: no download is tried
    assert find_python("3.99", _uv()) is None
    with pytest.raises(ReproduceError) as info:
        recorded_interpreter("3.99", _uv())
    message = str(info.value)
    assert message.startswith("Python 3.99 is not on this machine and `uv python install 3.99` could not get it")
    assert "Run `uv python install 3.99` where the network is reachable" in message
    assert "--python PATH naming a Python 3.99 interpreter" in message


def test_installer_uv_without_uv_is_refused_before_the_hub_is_asked(tmp_path: Path) -> None:
    from release.reproduce import ReproduceOptions, ReproduceTarget, reproduce_release

    empty = tmp_path / "bin"
    empty.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", str(empty))
        # An endpoint nothing listens on: the error must come before any request is made.
        with pytest.raises(ReproduceError, match="--installer uv: uv is not on PATH"):
            reproduce_release(
                ReproduceTarget("http://127.0.0.1:9", "alice/none"),
                ReproduceOptions(dest=tmp_path / "env", installer="uv"),
            )
    assert not (tmp_path / "env").exists()
