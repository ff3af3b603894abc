"""A refused release (its tag holds other content) changes nothing under the project, and says when only
the provenance differs. Real git, the real CLI, the embedded Hub of a copy of the bundled example."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from project import REPO_ROOT, copy_example, run_cli

from release.checksum import ManifestEntry
from release.publish import provenance_changes
from release.stage import ReleaseManifest, SourceInfo

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Tester",
    "GIT_AUTHOR_EMAIL": "tester@example.com",
    "GIT_COMMITTER_NAME": "Tester",
    "GIT_COMMITTER_EMAIL": "tester@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}
IGNORED = (
    "/build/\n/dist/\n/.hub/\n__pycache__/\n/example/model/*.safetensors\n/example/model/model.safetensors.index.json\n"
)


def _git(project: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=project, env={**os.environ, **GIT_ENV}, capture_output=True, text=True, check=True
    )
    return done.stdout


def _commit(project: Path, message: str) -> str:
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", message)
    return _git(project, "rev-parse", "HEAD").strip()


def _tree(project: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under the project but git's and the Hub's storage: its bytes and its mtime."""
    return {
        p.relative_to(project).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(project.rglob("*"))
        if p.is_file() and not p.is_symlink() and p.relative_to(project).parts[0] not in (".git", ".hub")
    }


@pytest.fixture
def released(tmp_path: Path) -> tuple[Path, str]:
    """The example as a git project, released from a clean tree; the commit it was released from."""
    project = copy_example(tmp_path / "project")
    for name in ("environment.json", "environment.yml"):  # the committed card shows them
        shutil.copy2(REPO_ROOT / name, project / name)
    (project / ".gitignore").write_text(IGNORED, encoding="utf-8")
    _git(project, "init", "-q", "-b", "main")
    commit = _commit(project, "the example")
    result = run_cli("release", "--json", cwd=project, env=GIT_ENV)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["commit"]
    assert _git(project, "status", "--porcelain") == ""  # the release wrote nothing git tracks
    return project, commit


@pytest.mark.slow
def test_a_refused_release_changes_nothing_under_the_project(released: tuple[Path, str]) -> None:
    project, _ = released
    predict = project / "example" / "model" / "predict.py"
    predict.write_text(predict.read_text(encoding="utf-8") + "# changed under a released version\n", encoding="utf-8")
    _commit(project, "change predict.py")
    before = _tree(project)
    refused = run_cli("release", cwd=project, env=GIT_ENV)
    assert refused.returncode == 1, refused.stderr
    assert "v0.1.0 is already released on examples/tiny-flowers with different content" in refused.stderr
    assert "predict.py" in refused.stderr and "nothing under the project was written" in refused.stderr
    assert _git(project, "status", "--porcelain") == ""  # the committed card was not rendered again
    assert _tree(project) == before  # bytes and mtimes: the card, build/ and dist/ as they were


@pytest.mark.slow
def test_a_release_differing_only_in_provenance_says_so(released: tuple[Path, str]) -> None:
    project, first = released
    (project / "CHANGES.txt").write_text("a commit that changes nothing released\n", encoding="utf-8")
    head = _commit(project, "not part of the release")
    (project / "NOTES.txt").write_text("not part of the release\n", encoding="utf-8")  # the tree is dirty
    before = _tree(project)
    try:
        refused = run_cli("release", cwd=project, env=GIT_ENV)
        after = _tree(project)
        dry = run_cli("release", "--dry-run", "--json", cwd=project, env=GIT_ENV)
    finally:
        (project / "NOTES.txt").unlink()
    assert refused.returncode == 1, refused.stderr
    expected = (
        "v0.1.0 is already released on examples/tiny-flowers from another source: the content is identical; "
        f"only the provenance differs: git_dirty false -> true, git_commit {first} -> {head} "
        f"(to publish nothing new: release from a clean checkout of commit {first}, which finds it already released)"
    )
    assert expected in refused.stderr and "bump the version in the config" in refused.stderr
    assert after == before
    document = json.loads(dry.stdout)
    assert document["outcome"] == "refuse"
    assert document["differences"] == [expected.split("from another source: ")[1]]
    _git(project, "checkout", "-q", first)  # the source it was released from: already released
    again = run_cli("release", "--json", cwd=project, env=GIT_ENV)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["already_released"] is True


def test_provenance_changes_name_what_differs_when_nothing_else_does() -> None:
    files = (ManifestEntry("model.safetensors", 3, "a" * 64),)
    tagged = ReleaseManifest("alice/m", "model", "1.0", files, source=SourceInfo("1" * 40, False))
    dirty = replace(tagged, source=SourceInfo("1" * 40, True))
    assert provenance_changes(tagged, dirty) == ("git_dirty false -> true",)
    moved = replace(tagged, source=SourceInfo("2" * 40, None))
    assert provenance_changes(tagged, moved) == ("git_dirty false -> null", f"git_commit {'1' * 40} -> {'2' * 40}")
    assert provenance_changes(tagged, tagged) is None  # identical: nothing to say
    changed = replace(dirty, files=(ManifestEntry("model.safetensors", 3, "b" * 64),))
    assert provenance_changes(tagged, changed) is None  # the content differs too
