"""environment.json and the environment.yml written for conda users, against real environments."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from wheelhouse import Wheelhouse

from release.config import GENERATED_MARKER, is_generated
from release.errors import LockError
from release.lock.envfile import locked_python, render_environment_yml, write_environment_yml
from release.lock.snapshot import compare_with_lock, marker_environment, probe_environment, write_snapshot
from release.process import run

LOCK = """# model-release: input requirements.in sha256={h}
# model-release: resolved with pip-tools for CPython 3.11 on linux x86_64
tinydep==1.1 \\
    --hash=sha256:{h}
tinypkg==1.0 \\
    --hash=sha256:{h}
""".format(h="0" * 64)


def test_drift_lists_different_and_missing_versions() -> None:
    drift = compare_with_lock({"TinyDep": "1.0", "other": "3"}, {"tinydep": "1.1", "tinypkg": "1.0"})
    assert drift.different == (("tinydep", "1.1", "1.0"),)
    assert drift.missing == ("tinypkg",)
    assert compare_with_lock({"tinydep": "1.1"}, {"tinydep": "1.1"}).clean


@pytest.mark.slow
def test_snapshot_of_a_real_venv_records_what_is_installed_and_the_drift(
    wheelhouse: Wheelhouse, tmp_path: Path
) -> None:
    venv = tmp_path / "train-env"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], what="make a venv")
    python = str(venv / "bin" / "python")
    run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-index", "--no-deps",
         str(wheelhouse.wheels["tinydep==1.0"]), str(wheelhouse.wheels["tinypkg==1.0"])],
        what="install the training environment",
    )  # fmt: skip
    lock = tmp_path / "requirements.txt"
    lock.write_text(LOCK)
    snapshot = write_snapshot(tmp_path / "environment.json", python, lock)
    document = json.loads((tmp_path / "environment.json").read_text())
    assert document["format"] == "model-release.environment/1"
    assert document["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert document["python"]["implementation"] == "CPython"
    assert {d["name"]: d["version"] for d in document["distributions"]} == {"tinydep": "1.0", "tinypkg": "1.0"}
    assert document["drift"] == {
        "lock": "requirements.txt",
        "different": [{"name": "tinydep", "locked": "1.1", "installed": "1.0"}],
        "missing": [],
    }
    assert document["torch"] is None
    assert snapshot.platform["machine"]
    assert str(tmp_path) not in (tmp_path / "environment.json").read_text()  # no paths recorded
    again = write_snapshot(tmp_path / "again.json", python, lock)
    assert again.to_json() == snapshot.to_json()


def test_lock_lines_for_another_platform_are_no_drift(tmp_path: Path) -> None:
    other = "win32" if sys.platform != "win32" else "linux"
    lock = tmp_path / "requirements.txt"
    lock.write_text(LOCK + f"otherpkg==2.0 ; sys_platform == '{other}' \\\n    --hash=sha256:{'0' * 64}\n")
    snapshot = write_snapshot(tmp_path / "environment.json", sys.executable, lock)
    assert snapshot.drift is not None and "otherpkg" not in snapshot.drift.missing
    assert marker_environment(sys.executable)["sys_platform"] == sys.platform


def test_a_missing_interpreter_is_named(tmp_path: Path) -> None:
    with pytest.raises(LockError, match=r"(?s)/no/such/python.*lock\.python"):
        probe_environment("/no/such/python")


def test_environment_yml_pins_the_locked_python_and_installs_the_hashed_lock(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text(LOCK)
    path = tmp_path / "environment.yml"
    assert write_environment_yml(path, "tiny", lock) == "3.11"
    assert is_generated(path)
    document = yaml.safe_load(path.read_text())
    assert document == {
        "name": "tiny",
        "channels": ["conda-forge"],
        "dependencies": ["python=3.11", "pip", {"pip": ["--require-hashes", "-r requirements.txt"]}],
    }
    assert path.read_text().startswith(GENERATED_MARKER)


def test_locked_python_reads_both_resolvers_headers() -> None:
    uv = (
        "# model-release: input r.in sha256="
        + "0" * 64
        + "\n# model-release: resolved with uv 0.13.9 --universal for Python >= 3.12 on every platform\n"
    )
    assert locked_python(uv) == "3.12"
    assert locked_python("numpy==1\n") == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert "python=3.10" in render_environment_yml("m", "3.10", "requirements.txt")
