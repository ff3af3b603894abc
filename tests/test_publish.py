"""publish_release with the real huggingface_hub client against the session's local Hub."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import RunningHub
from huggingface_hub import HfApi, snapshot_download
from huggingface_hub.errors import RepositoryNotFoundError

from release.checksum import ManifestEntry, build_manifest
from release.errors import CardValidationError, PublishError
from release.publish import check_access, publish_release
from release.publish_plan import PublishTarget, RemoteFile, plan_publish
from release.stage import SourceInfo, StagePlan, apply_stages, plan_stage
from release.upload_checks import is_remote_hub, validate_card_online


def _stage(root: Path, version: str, files: dict[str, bytes], repo_id: str, repo_type: str = "model") -> StagePlan:
    model = root / f"src-{version}"
    for name, data in files.items():
        (model / name).parent.mkdir(parents=True, exist_ok=True)
        (model / name).write_bytes(data)
    plan = plan_stage(
        dest=root / "dist" / f"m-{version}",
        repo_id=repo_id,
        repo_type=repo_type,
        version=version,
        card="---\nlicense: mit\n---\n# card\n",
        model=(build_manifest(model), model),
        datasets=[],
        locks={},
        source=SourceInfo("b" * 40, True),
    )
    apply_stages([plan])
    return plan


def _target(hub: RunningHub, repo_id: str, token: str | None = None, **kw: object) -> PublishTarget:
    return PublishTarget(hub.url, repo_id, token=token or hub.token, **kw)  # type: ignore[arg-type]


def _downloaded(
    repo_id: str, revision: str, hub: RunningHub, cache: Path, repo_type: str = "model"
) -> dict[str, bytes]:
    folder = Path(
        snapshot_download(
            repo_id, revision=revision, repo_type=repo_type, token=hub.token, cache_dir=cache, endpoint=hub.url
        )
    )
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.name != ".gitattributes"
    }


def _staged(plan: StagePlan) -> dict[str, bytes]:
    return {p.relative_to(plan.dest).as_posix(): p.read_bytes() for p in plan.dest.rglob("*") if p.is_file()}


def test_publish_then_the_next_version_deletes_what_left_the_release(hub: RunningHub, tmp_path: Path) -> None:
    repo = "alice/pub-versions"
    first = _stage(tmp_path, "1.0", {"model.safetensors": os.urandom(4096), "old.txt": b"old"}, repo)
    one = publish_release(first.dest, first.manifest, _target(hub, repo, repo_type="model"))
    assert not one.already_released and one.tag == "v1.0"
    second = _stage(tmp_path, "2.0", {"model.safetensors": os.urandom(4096), "new.txt": b"new"}, repo)
    two = publish_release(second.dest, second.manifest, _target(hub, repo, repo_type="model"))
    assert two.plan is not None and two.plan.delete == ("old.txt",)
    assert _downloaded(repo, "v2.0", hub, tmp_path / "c2") == _staged(second)
    assert _downloaded(repo, "v1.0", hub, tmp_path / "c1") == _staged(first)
    commits = HfApi(endpoint=hub.url, token=hub.token).list_repo_commits(repo)
    assert [c.commit_id for c in commits[:2]] == [two.commit, one.commit]
    assert "Source commit: " + "b" * 40 + " (with uncommitted changes)" in commits[0].message


def test_republishing_a_released_version_changes_nothing(hub: RunningHub, tmp_path: Path) -> None:
    repo = "alice/pub-again"
    plan = _stage(tmp_path, "1.0", {"w.bin": os.urandom(100)}, repo)
    first = publish_release(plan.dest, plan.manifest, _target(hub, repo, repo_type="model"))
    again = publish_release(plan.dest, plan.manifest, _target(hub, repo, repo_type="model"))
    assert again.already_released and again.commit == first.commit


def test_dataset_repo_and_private_repo(hub: RunningHub, tmp_path: Path) -> None:
    repo = "alice/pub-private-data"
    plan = _stage(tmp_path, "0.1", {"train.csv": b"a,b\n1,2\n"}, repo, repo_type="dataset")
    publish_release(plan.dest, plan.manifest, _target(hub, repo, repo_type="dataset", private=True))
    assert _downloaded(repo, "v0.1", hub, tmp_path / "c", repo_type="dataset") == _staged(plan)
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=hub.url, token=hub.other_token).dataset_info(repo)


def test_writing_into_another_namespace_is_refused_and_creates_nothing(hub: RunningHub, tmp_path: Path) -> None:
    repo = "bob/not-alices"
    plan = _stage(tmp_path, "1.0", {"w.bin": b"x"}, repo)
    with pytest.raises(PublishError, match=r"HTTP 403") as info:
        publish_release(plan.dest, plan.manifest, _target(hub, repo, repo_type="model"))
    assert hub.token not in str(info.value)
    assert not HfApi(endpoint=hub.url, token=hub.other_token).repo_exists(repo)


def test_a_read_only_token_cannot_publish(hub: RunningHub, tmp_path: Path) -> None:
    repo = "alice/pub-readonly"
    plan = _stage(tmp_path, "1.0", {"w.bin": b"x"}, repo)
    with pytest.raises(PublishError, match=r"may only read .* its role is 'read'.*nothing was uploaded"):
        publish_release(plan.dest, plan.manifest, _target(hub, repo, token=hub.read_token, repo_type="model"))
    assert not HfApi(endpoint=hub.url, token=hub.token).repo_exists(repo)


def test_a_staged_file_rewritten_in_place_is_caught_before_upload(hub: RunningHub, tmp_path: Path) -> None:
    repo = "alice/pub-changed"
    plan = _stage(tmp_path, "1.0", {"w.bin": b"12345678"}, repo)
    (plan.dest / "w.bin").write_bytes(b"87654321")  # same size: only the hash can tell
    with pytest.raises(PublishError, match="changed after staging"):
        publish_release(plan.dest, plan.manifest, _target(hub, repo, repo_type="model"))
    refs = HfApi(endpoint=hub.url, token=hub.token).list_repo_refs(repo)
    assert refs.tags == []


def test_check_access_names_a_bad_token_and_an_unreachable_hub(hub: RunningHub) -> None:
    assert check_access(_target(hub, "alice/x", repo_type="model")) == "alice"
    with pytest.raises(PublishError, match="rejected the token"):
        check_access(_target(hub, "alice/x", token="hf_nope", repo_type="model"))
    with pytest.raises(PublishError, match=r"cannot reach the Hub at http://127\.0\.0\.1:9"):
        check_access(PublishTarget("http://127.0.0.1:9", "alice/x", "model", token="t"))


def test_plan_compares_size_and_sha256_and_never_deletes_gitattributes() -> None:
    same = ManifestEntry("a.bin", 3, "1" * 64)
    changed = ManifestEntry("b.bin", 3, "2" * 64)
    remote = {
        "a.bin": RemoteFile("a.bin", 3, "1" * 64, "x"),
        "b.bin": RemoteFile("b.bin", 3, "3" * 64, "y"),
        "gone.txt": RemoteFile("gone.txt", 1, None, "z"),
        ".gitattributes": RemoteFile(".gitattributes", 10, None, "w"),
    }
    plan = plan_publish({"a.bin": same, "b.bin": changed}, remote, "c" * 40)
    assert plan.unchanged == (same,) and plan.add == (changed,) and plan.delete == ("gone.txt",)


def test_a_large_staged_file_rewritten_in_place_is_refused_by_the_server(hub: RunningHub, tmp_path: Path) -> None:
    repo = "alice/pub-changed-large"
    plan = _stage(tmp_path, "1.0", {"w.bin": os.urandom(11 * 1024 * 1024)}, repo)
    with (plan.dest / "w.bin").open("r+b") as handle:  # same size, one byte flipped: only sha256 can tell
        handle.seek(5)
        handle.write(b"\x00" if handle.read(1) != b"\x00" else b"\x01")
    with pytest.raises(PublishError, match="nothing was committed"):
        publish_release(plan.dest, plan.manifest, _target(hub, repo, repo_type="model"))
    api = HfApi(endpoint=hub.url, token=hub.token)
    assert api.list_repo_refs(repo).tags == []
    assert api.list_repo_files(repo) == [".gitattributes"]


# --- the Hub's validate-yaml check of the card, before any upload -----------------------------------


@pytest.mark.parametrize(
    ("endpoint", "remote"),
    [
        ("local", False),
        ("http://127.0.0.1:8000", False),
        ("http://127.3.4.5", False),
        ("http://[::1]:8000", False),
        ("http://localhost:8000", False),
        ("https://huggingface.co", True),
        ("https://hub.example.org/mirror", True),
        ("http://10.0.0.5:8080", True),
    ],
)
def test_online_card_check_runs_only_against_a_hub_on_another_machine(endpoint: str, remote: bool) -> None:
    assert is_remote_hub(endpoint) is remote


def test_validate_card_online_against_the_emulator(hub: RunningHub) -> None:
    target = _target(hub, "alice/card-online", repo_type="model")
    assert validate_card_online(target, "---\nlicense: mit\n---\n# A card\n") == ()
    assert validate_card_online(target, "---\nsize_categories: [n<1K]\n---\n", repo_type="dataset") == ()
    with pytest.raises(CardValidationError) as info:
        validate_card_online(target, "---\nlicense: [mit\n---\n# A card\n")
    [problem] = info.value.problems
    assert problem.path == "README.md" and problem.source == f"{hub.url}/api/validate-yaml"
    assert "Invalid YAML" in problem.message
    assert "refused the card's metadata; nothing was uploaded" in str(info.value)
    assert not HfApi(endpoint=hub.url, token=hub.token).repo_exists("alice/card-online")


def test_validate_card_online_names_an_unreachable_hub(hub: RunningHub) -> None:
    target = PublishTarget("http://127.0.0.1:9", "alice/x", "model", token=hub.token)
    with pytest.raises(PublishError, match=r"cannot reach the Hub at http://127\.0\.0\.1:9"):
        validate_card_online(target, "---\nlicense: mit\n---\n")


def test_a_refused_publish_leaves_the_staged_tree_as_stage_made_it(hub: RunningHub, tmp_path: Path) -> None:
    repo = "alice/pub-refused-untouched"
    first = _stage(tmp_path / "one", "1.0", {"w.bin": os.urandom(64)}, repo)
    publish_release(first.dest, first.manifest, _target(hub, repo, repo_type="model"))
    other = _stage(tmp_path / "two", "1.0", {"w.bin": os.urandom(64)}, repo)
    before = _staged(other)
    with pytest.raises(PublishError, match=r"v1\.0 is already released on alice/pub-refused-untouched with different"):
        publish_release(other.dest, other.manifest, _target(hub, repo, repo_type="model"))
    assert _staged(other) == before and "RELEASE_NOTES.md" not in before  # no notes, the manifest as staged
    again = publish_release(first.dest, first.manifest, _target(hub, repo, repo_type="model"))
    assert again.already_released and "RELEASE_NOTES.md" in _staged(first)
