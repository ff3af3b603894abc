"""The lock stage through the real CLI: a conda project, and the environment.yml written for pip projects."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml
from conda_channel import CondaChannel
from project import run_cli
from wheelhouse import Wheelhouse

from release.process import run


def test_a_conda_project_gets_a_multi_platform_lock_that_stage_ships(
    conda_channel: CondaChannel, tmp_path: Path
) -> None:
    (tmp_path / "release.toml").write_text(
        'repo_id = "alice/conda-model"\nversion = "1.0"\n'
        f'[lock]\nplatforms = ["linux-64", "osx-arm64"]\nchannel_alias = "{conda_channel.alias}"\n'
    )
    env = tmp_path / "environment.yml"
    env.write_text("channels: [conda-forge]\ndependencies:\n  - python=3.11\n  - numpy\n")
    locked = run_cli("--json", "lock", cwd=tmp_path)
    assert locked.returncode == 0, locked.stderr
    summary = json.loads(locked.stdout)
    assert summary["conda_platforms"] == ["linux-64", "osx-arm64"]
    assert str(tmp_path / "conda-lock.yml") in summary["written"]
    assert str(tmp_path / "environment.json") in summary["written"]
    assert not (tmp_path / "requirements.txt").exists()  # a conda-only project: no pip lock
    lock = yaml.safe_load((tmp_path / "conda-lock.yml").read_text())
    assert lock["version"] == 1 and sorted(lock["metadata"]["platforms"]) == ["linux-64", "osx-arm64"]
    linux = {(p["name"], p["version"]) for p in lock["package"] if p["platform"] == "linux-64"}
    assert ("numpy", "1.26.4") in linux and ("python", "3.11.9") in linux

    assert run_cli("lock", "--check", cwd=tmp_path).returncode == 0
    env.write_text("channels: [conda-forge]\ndependencies:\n  - python=3.12\n  - numpy\n")
    stale = run_cli("lock", "--check", cwd=tmp_path)
    assert stale.returncode == 1
    assert "conda-lock.yml" in stale.stderr
    env.write_text("channels: [conda-forge]\ndependencies:\n  - python=3.11\n  - numpy\n")

    staged = run_cli("--json", "stage", cwd=tmp_path)
    assert staged.returncode == 0, staged.stderr
    shipped = sorted(p.name for p in Path(json.loads(staged.stdout)["staged_dir"]).iterdir())
    assert {"conda-lock.yml", "environment.yml", "environment.json"} <= set(shipped)


def test_the_generated_environment_yml_installs_the_lock_the_way_conda_runs_pip(
    wheelhouse: Wheelhouse, tmp_path: Path
) -> None:
    (tmp_path / "release.toml").write_text(
        'repo_id = "alice/pip-model"\nversion = "1.0"\n'
        f'[lock]\nno_index = true\nfind_links = ["{wheelhouse.directory}"]\n'
    )
    (tmp_path / "requirements.in").write_text("tinypkg\n")
    assert run_cli("lock", cwd=tmp_path).returncode == 0
    document = yaml.safe_load((tmp_path / "environment.yml").read_text())
    assert document["dependencies"][0] == f"python={sys.version_info.major}.{sys.version_info.minor}"
    # conda env create writes the pip: entries to a requirements file beside environment.yml and
    # runs `pip install -U -r` on it: do exactly that, in a fresh venv.
    pip_lines = document["dependencies"][-1]["pip"]
    (tmp_path / "condaenv.requirements.txt").write_text("\n".join(pip_lines) + "\n")
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], what="make a venv")
    run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-U", "--no-index", "--find-links",
         str(wheelhouse.directory), "-r", "condaenv.requirements.txt"],
        what="install like conda env create",
        cwd=tmp_path,
    )  # fmt: skip
    listed = run([str(venv / "bin" / "python"), "-m", "pip", "freeze"], what="list").stdout.split()
    assert sorted(listed) == ["tinydep==1.1", "tinypkg==1.0"]
