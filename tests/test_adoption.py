"""Adopting model-release in a project: the pre-commit hooks it offers (.pre-commit-hooks.yaml), how the
scaffold says to get nox, and the placeholder repository id of `init` refused for any Hub but the local one."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from project import REPO_ROOT, copy_example, run_cli

HOOKS = REPO_ROOT / ".pre-commit-hooks.yaml"


def _hooks() -> list[dict[str, Any]]:
    hooks: Any = yaml.safe_load(HOOKS.read_text(encoding="utf-8"))
    assert isinstance(hooks, list)
    return hooks


def test_the_hooks_are_the_documented_three() -> None:
    hooks = {hook["id"]: hook for hook in _hooks()}
    assert {id_: hook["entry"] for id_, hook in hooks.items()} == {
        "model-release-lock-check": "model-release lock --check",
        "model-release-card-check": "model-release card --check",
        "model-release-check": "model-release check",
    }
    for hook in hooks.values():
        assert hook["language"] == "python" and hook["name"] and hook["description"]
        re.compile(hook.get("files", ""))  # pre-commit matches it as a Python regular expression
    # The lock and the card are of the whole project: the files committed are not their arguments.
    assert hooks["model-release-lock-check"]["pass_filenames"] is False
    assert hooks["model-release-card-check"]["pass_filenames"] is False
    assert hooks["model-release-check"]["pass_filenames"] is True


@pytest.mark.slow
@pytest.mark.parametrize("hook", _hooks(), ids=lambda hook: str(hook["id"]))
def test_each_hook_runs_and_passes_on_the_example(hook: dict[str, Any], tmp_path: Path) -> None:
    project = copy_example(tmp_path / "project")
    for name in ("environment.json", "environment.yml"):  # the committed card shows them
        shutil.copy2(REPO_ROOT / name, project / name)
    program, *args = shlex.split(hook["entry"])
    assert program == "model-release"  # the console script of [project.scripts]
    if hook["pass_filenames"]:
        args += ["example/model/predict.py", "example/model/config.json", "example/data/train.csv"]
    result = run_cli(*args, cwd=project)  # python -m release: the same entry point as model-release
    assert result.returncode == 0, result.stderr


PLACEHOLDER = 'repo_id = "your-username/flower-net"\nversion = "0.1.0"\n'
# Any Hub but the embedded one: a closed port on loopback, so that a regression cannot reach a real Hub.


@pytest.mark.parametrize(
    ("toml", "args"),
    [
        ('endpoint = "http://127.0.0.1:9"\n', ("release",)),
        ('endpoint = "http://127.0.0.1:9"\n', ("publish",)),
        ('endpoint = "http://127.0.0.1:9"\n', ("release", "--dry-run")),
        ('endpoint = "local"\n', ("release", "--endpoint", "http://127.0.0.1:9")),
    ],
)
def test_the_placeholder_repo_id_is_refused_for_a_hub_on_the_network(
    tmp_path: Path, toml: str, args: tuple[str, ...]
) -> None:
    (tmp_path / "release.toml").write_text(PLACEHOLDER + toml, encoding="utf-8")
    result = run_cli(*args, cwd=tmp_path, env={"HF_TOKEN": "hf_not_used_at_all"})
    assert result.returncode == 2, result.stderr
    assert "ConfigError" in result.stderr
    assert f"{tmp_path / 'release.toml'}: repo_id = 'your-username/flower-net' is the placeholder" in result.stderr
    assert 'set repo_id to your Hub user or organisation (e.g. repo_id = "my-org/flower-net")' in result.stderr
    assert "hf_not_used_at_all" not in result.stderr + result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["release.toml"]  # nothing staged, no .hub


def test_a_placeholder_dataset_repo_id_is_refused_too(tmp_path: Path) -> None:
    dataset = '[[datasets]]\nname = "d"\ndir = "d"\n[datasets.publish]\nrepo_id = "your-username/d"\n'
    toml = 'repo_id = "alice/m"\nversion = "0.1.0"\nendpoint = "http://127.0.0.1:9"\n' + dataset
    (tmp_path / "release.toml").write_text(toml, encoding="utf-8")
    result = run_cli("release", cwd=tmp_path, env={"HF_TOKEN": "hf_not_used_at_all"})
    assert result.returncode == 2, result.stderr
    assert "datasets[0].publish.repo_id = 'your-username/d' is the placeholder" in result.stderr


@pytest.mark.slow
def test_the_local_hub_keeps_accepting_the_placeholder(tmp_path: Path) -> None:
    project = copy_example(tmp_path / "project")
    config = project / "release.toml"
    config.write_text(config.read_text().replace("examples/tiny-flowers", "your-username/tiny-flowers"))
    result = run_cli("release", "--dry-run", "--json", cwd=project)
    assert result.returncode == 0, result.stderr


def test_init_says_how_to_get_nox(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("", encoding="utf-8")  # locked already: init resolves nothing
    result = run_cli("init", "--json", cwd=tmp_path)
    steps = json.loads(result.stdout)["next_steps"]
    [get_nox] = [step for step in steps if step.startswith("Get nox")]
    assert "pipx install nox" in get_nox and "pip install --user nox" in get_nox and "uv is optional" in get_nox
    noxfile = (tmp_path / "noxfile.py").read_text(encoding="utf-8")
    assert "Get nox with `pipx install nox`" in noxfile and "uv is optional" in noxfile
