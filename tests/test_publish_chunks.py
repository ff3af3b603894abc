"""Releases larger than one commit may be: chunked commits to a pull request, verified, merged into main at once.

Every test runs the real ``huggingface_hub`` client against an emulator of its own that refuses commits
of more than :data:`LIMIT` operations (as the Hub's guidance asks, scaled down), so a chunk that broke
the limit would fail the release; faults come from the emulator's middleware.
"""

from __future__ import annotations

import itertools
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from huggingface_hub import CommitOperationAdd, HfApi, RepoFile, snapshot_download

from release.checksum import build_manifest
from release.errors import PublishError
from release.hub import CommitLimits
from release.hub.server import HubServer, Token
from release.publish import preview_publish, publish_release
from release.publish_chunks import chunks, marker, needs_chunks, pull_request_state, read_marker
from release.publish_plan import PublishTarget
from release.stage import SourceInfo, StagePlan, apply_stages, plan_stage
from release.workflow.outcomes import Repo, WouldPublish

TOKEN = "hf_chunks_alice_write"
ADMIN = "hf_chunks_admin"
LIMIT = 4  # operations per commit, at the emulator and in the release's settings: a 1-file release fits in one
PR_COMMIT_ROUTE = "POST /api/models/*/commit/refs%2Fpr%2F1"


class Hub:
    def __init__(self, url: str) -> None:
        self.url = url
        self.api = HfApi(endpoint=url, token=TOKEN)

    def add_fault(self, spec: str) -> None:
        httpx2.post(f"{self.url}/admin/faults", json=[spec], headers=_admin()).raise_for_status()

    def clear_faults(self) -> None:
        httpx2.delete(f"{self.url}/admin/faults", headers=_admin()).raise_for_status()

    def _faults(self) -> list[dict[str, Any]]:
        response = httpx2.get(f"{self.url}/admin/faults", headers=_admin())
        response.raise_for_status()
        return list(response.json()["faults"])

    def wait_until_held(self) -> None:
        """Until a rule holds a request at the server (polled; the deadline only turns a hang into a failure)."""
        deadline = time.monotonic() + 60
        while not any(int(f["held"]) for f in self._faults()):
            assert time.monotonic() < deadline, "no request was held"
            time.sleep(0.02)

    def release_held(self) -> None:
        ids = [int(f["id"]) for f in self._faults()]
        httpx2.post(f"{self.url}/admin/faults/release", json=ids, headers=_admin()).raise_for_status()

    def target(self, repo: str, *, max_operations: int = LIMIT, create_pr: bool = False) -> PublishTarget:
        return PublishTarget(self.url, repo, "model", TOKEN, create_pr=create_pr, max_commit_operations=max_operations)


def _admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    limits = CommitLimits(max_operations=LIMIT)
    with HubServer(tmp_path / "hub", [Token("alice", TOKEN, "write")], admin_token=ADMIN, limits=limits) as server:
        yield Hub(server.url)


def _stage(root: Path, name: str, version: str, files: dict[str, bytes], repo: str) -> StagePlan:
    model = root / f"src-{name}"
    for path, data in files.items():
        (model / path).parent.mkdir(parents=True, exist_ok=True)
        (model / path).write_bytes(data)
    plan = plan_stage(
        dest=root / "dist" / name,
        repo_id=repo,
        repo_type="model",
        version=version,
        card="---\nlicense: mit\n---\n# card\n",
        model=(build_manifest(model), model),
        datasets=[],
        locks={},
        source=SourceInfo("a" * 40, False),
    )
    apply_stages([plan])
    return plan


def _files(count: int, seed: str) -> dict[str, bytes]:
    """Small text files in two folders, and two LFS files."""
    files = {f"data/{n // 6}/{n:03}.txt": f"{seed} {n}\n".encode() for n in range(count)}
    files |= {f"w{n}.safetensors": os.urandom(3000) for n in range(2)}
    return files


def _adds(*paths: str) -> list[CommitOperationAdd]:
    return [CommitOperationAdd(path_in_repo=p, path_or_fileobj=f"{p}\n".encode()) for p in paths]


def _staged(plan: StagePlan) -> dict[str, bytes]:
    return {p.relative_to(plan.dest).as_posix(): p.read_bytes() for p in plan.dest.rglob("*") if p.is_file()}


def _at(hub: Hub, repo: str, revision: str, cache: Path) -> dict[str, bytes]:
    folder = Path(snapshot_download(repo, revision=revision, token=TOKEN, cache_dir=cache, endpoint=hub.url))
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.name != ".gitattributes"
    }


def _tree(hub: Hub, repo: str, revision: str) -> dict[str, str | None]:
    items = hub.api.list_repo_tree(repo, revision=revision, recursive=True)
    return {i.path: i.blob_id for i in items if isinstance(i, RepoFile)}


def _changes(hub: Hub, repo: str, commits: list[str]) -> list[set[str]]:
    """The paths each commit of ``commits`` (oldest first, with its parent before it) added, changed or deleted."""
    trees = [_tree(hub, repo, commit) for commit in commits]
    return [
        {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
        for before, after in itertools.pairwise(trees)
    ]


def _main_commits(hub: Hub, repo: str) -> list[str]:
    return [c.commit_id for c in hub.api.list_repo_commits(repo)]


def test_a_release_over_the_limit_is_committed_in_chunks_to_a_pull_request_and_merged_into_main_at_once(
    hub: Hub, tmp_path: Path
) -> None:
    repo = "alice/big"
    first = _stage(tmp_path, "one", "1.0", {"w.safetensors": os.urandom(2000)}, repo)
    released = publish_release(first.dest, first.manifest, hub.target(repo))  # 4 files: one commit, no chunks
    assert hub.api.list_repo_refs(repo, include_pull_requests=True).pull_requests == []  # one plain commit
    second = _stage(tmp_path, "two", "2.0", _files(14, "two"), repo)
    before = _main_commits(hub, repo)
    preview = preview_publish(second.dest, second.manifest, hub.target(repo))
    assert preview.plan is not None and preview.chunk_size == LIMIT  # the dry run says how it would commit
    would = WouldPublish(Repo(repo, "model", "2.0", "v2.0", hub.url, None), True, preview.plan, "", LIMIT)
    assert f"  commit in {would.commits} commits of at most {LIMIT} operations to a pull request" in would.message
    assert would.to_json()["commits"] == would.commits > 1

    result = publish_release(second.dest, second.manifest, hub.target(repo))

    after = _main_commits(hub, repo)
    assert after[1:] == before and after[0] == result.commit  # main moved by exactly one commit: the merge
    details = hub.api.get_discussion_details(repo, 1)
    assert details.status == "merged" and details.merge_commit_oid == result.commit
    assert read_marker(details.events[0].content) == ("v2.0", released.commit)  # type: ignore[attr-defined]
    state = pull_request_state(hub.target(repo), 1)  # the same, read without the diff
    assert (state.status, state.merge_commit, state.description) == ("merged", result.commit, details.events[0].content)  # type: ignore[attr-defined]
    pull = [c.commit_id for c in hub.api.list_repo_commits(repo, revision="refs/pr/1")]
    own = list(reversed(pull[: pull.index(released.commit) + 1]))  # the release's base, then the PR's commits
    changes = _changes(hub, repo, own)
    old, new = _staged(first), _staged(second)
    expected = len({p for p in old.keys() | new.keys() if old.get(p) != new.get(p)})  # each change, once
    assert len(own) - 1 == -(-expected // LIMIT)  # the fewest chunks of at most LIMIT operations
    assert all(len(c) <= LIMIT for c in changes) and sum(map(len, changes)) == expected
    assert [t.name for t in hub.api.list_repo_refs(repo).tags] == ["v1.0", "v2.0"]
    assert _at(hub, repo, "v2.0", tmp_path / "c") == _staged(second)
    notes = (second.dest / "RELEASE_NOTES.md").read_text()
    assert notes.startswith("# Release v2.0\n\nChanges since v1.0.\n")  # one version, against the previous one


def test_an_interrupted_chunked_release_resumes_from_its_pull_request(hub: Hub, tmp_path: Path) -> None:
    repo = "alice/resumed"
    first = _stage(tmp_path, "one", "1.0", {"w.safetensors": os.urandom(2000)}, repo)
    released = publish_release(first.dest, first.manifest, hub.target(repo))
    second = _stage(tmp_path, "two", "2.0", _files(14, "two"), repo)
    hub.add_fault(f"drop=0,count=1,route={PR_COMMIT_ROUTE}")  # the second chunk's commit is cut: never stored

    with pytest.raises(PublishError, match="cannot reach the Hub"):
        publish_release(second.dest, second.manifest, hub.target(repo))
    assert hub.api.repo_info(repo).sha == released.commit  # main untouched
    held = _tree(hub, repo, "refs/pr/1")
    assert 0 < len(set(held) - set(_tree(hub, repo, released.commit))) <= LIMIT  # only the first chunk landed

    result = publish_release(second.dest, second.manifest, hub.target(repo))

    refs = hub.api.list_repo_refs(repo, include_pull_requests=True)
    assert [p.ref for p in refs.pull_requests or []] == ["refs/pr/1"]  # no second pull request
    assert hub.api.get_discussion_details(repo, 1).merge_commit_oid == result.commit
    pull = [c.commit_id for c in hub.api.list_repo_commits(repo, revision="refs/pr/1")]
    changes = _changes(hub, repo, list(reversed(pull[: pull.index(released.commit) + 1])))
    assert all(len(c) <= LIMIT for c in changes)
    assert sum(map(len, changes)) == len(set().union(*changes))  # no file was committed twice
    assert _at(hub, repo, "v2.0", tmp_path / "c") == _staged(second)


def test_a_draft_pull_request_of_the_release_is_resumed_and_opened_before_the_merge(hub: Hub, tmp_path: Path) -> None:
    repo = "alice/drafted"
    first = _stage(tmp_path, "one", "1.0", {"w.safetensors": os.urandom(2000)}, repo)
    released = publish_release(first.dest, first.manifest, hub.target(repo))
    second = _stage(tmp_path, "two", "2.0", _files(14, "two"), repo)
    description = f"an earlier run\n\n{marker('v2.0', released.commit)}"
    draft = hub.api.create_pull_request(repo, "Release v2.0", description=description)  # as the Hub may open it
    assert draft.status == "draft"

    result = publish_release(second.dest, second.manifest, hub.target(repo))

    refs = hub.api.list_repo_refs(repo, include_pull_requests=True)
    assert [p.ref for p in refs.pull_requests or []] == [f"refs/pr/{draft.num}"]  # that one, no other
    details = hub.api.get_discussion_details(repo, draft.num)
    assert details.status == "merged" and details.merge_commit_oid == result.commit
    assert _at(hub, repo, "v2.0", tmp_path / "c") == _staged(second)


def test_a_file_that_becomes_a_folder_and_a_folder_that_becomes_a_file_go_through_chunks(
    hub: Hub, tmp_path: Path
) -> None:
    repo = "alice/reshaped"
    first_files = {"weights": b"one file\n"} | {f"shards/{n}": b"%d\n" % n for n in range(6)}
    first = _stage(tmp_path, "one", "1.0", first_files, repo)
    publish_release(first.dest, first.manifest, hub.target(repo))
    second_files = {f"weights/part{n}.txt": b"p%d\n" % n for n in range(8)} | {"shards": b"one file now\n"}
    second = _stage(tmp_path, "two", "2.0", second_files, repo)

    publish_release(second.dest, second.manifest, hub.target(repo))  # deletions go first: no chunk holds both

    assert _at(hub, repo, "v2.0", tmp_path / "c") == _staged(second)


def test_a_resumed_release_sends_a_file_the_pull_request_holds_differently(hub: Hub, tmp_path: Path) -> None:
    repo = "alice/reverted"
    first = _stage(tmp_path, "one", "1.0", {"0.txt": b"original\n"}, repo)
    publish_release(first.dest, first.manifest, hub.target(repo))
    files = {"0.txt": b"edited\n"} | {f"data/{n}.txt": b"d%d\n" % n for n in range(10)}
    second = _stage(tmp_path, "two", "2.0", files, repo)
    hub.add_fault(f"drop=0,count=1,route={PR_COMMIT_ROUTE}")  # cut after the first chunk, which holds 0.txt
    with pytest.raises(PublishError):
        publish_release(second.dest, second.manifest, hub.target(repo))
    assert _tree(hub, repo, "refs/pr/1")["0.txt"] != _tree(hub, repo, "main")["0.txt"]  # the edit is in the PR
    shutil.rmtree(tmp_path / "src-two")
    shutil.rmtree(second.dest)
    second = _stage(tmp_path, "two", "2.0", files | {"0.txt": b"original\n"}, repo)  # the edit is undone

    publish_release(second.dest, second.manifest, hub.target(repo))  # 0.txt as main has it, yet sent to the PR

    assert _at(hub, repo, "v2.0", tmp_path / "c") == _staged(second)


def test_a_pull_request_that_changes_after_it_was_verified_is_not_merged(hub: Hub, tmp_path: Path) -> None:
    repo = "alice/tampered"
    first = _stage(tmp_path, "one", "1.0", {"w.safetensors": os.urandom(2000)}, repo)
    released = publish_release(first.dest, first.manifest, hub.target(repo))
    second = _stage(tmp_path, "two", "2.0", _files(14, "two"), repo)
    hub.add_fault("hold,count=1,route=GET /api/models/*/discussions/*")  # the state read just before the merge
    outcome: list[BaseException | None] = []

    def publish() -> None:
        try:
            publish_release(second.dest, second.manifest, hub.target(repo))
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=publish)
    thread.start()
    hub.wait_until_held()  # verified, not merged: now someone pushes to the pull request
    sneaked = CommitOperationAdd(path_in_repo="sneaked.txt", path_or_fileobj=b"not part of the release\n")
    hub.api.create_commit(repo, [sneaked], commit_message="meanwhile", revision="refs/pr/1")
    hub.release_held()
    thread.join(60)

    [error] = outcome
    assert isinstance(error, PublishError) and "changed after it was verified" in str(error)
    assert "v2.0 was NOT merged or tagged" in str(error)
    assert hub.api.repo_info(repo).sha == released.commit  # main untouched
    assert [t.name for t in hub.api.list_repo_refs(repo).tags] == ["v1.0"]


def test_a_marked_pull_request_into_another_branch_is_not_taken_for_the_release(hub: Hub, tmp_path: Path) -> None:
    repo = "alice/branches"
    first = _stage(tmp_path, "one", "1.0", {"w.safetensors": os.urandom(2000)}, repo)
    released = publish_release(first.dest, first.manifest, hub.target(repo))
    hub.api.create_branch(repo, branch="dev")
    description = f"elsewhere\n\n{marker('v2.0', released.commit)}"
    other = hub.api.create_commit(
        repo,
        _adds("x.txt"),
        commit_message="Release v2.0",
        commit_description=description,
        revision="dev",
        create_pr=True,
    )
    second = _stage(tmp_path, "two", "2.0", _files(14, "two"), repo)

    publish_release(second.dest, second.manifest, hub.target(repo))

    assert hub.api.get_discussion_details(repo, int(str(other.pr_num))).status == "open"  # left alone
    assert _at(hub, repo, "v2.0", tmp_path / "c") == _staged(second)


def test_a_main_that_moved_under_an_open_chunked_release_is_refused(hub: Hub, tmp_path: Path) -> None:
    repo = "alice/moved"
    first = _stage(tmp_path, "one", "1.0", {"w.safetensors": os.urandom(2000)}, repo)
    publish_release(first.dest, first.manifest, hub.target(repo))
    second = _stage(tmp_path, "two", "2.0", _files(14, "two"), repo)
    hub.add_fault(f"drop=0,count=1,route={PR_COMMIT_ROUTE}")
    with pytest.raises(PublishError):
        publish_release(second.dest, second.manifest, hub.target(repo))
    intruder = hub.api.upload_file(path_or_fileobj=b"meanwhile\n", path_in_repo="other.txt", repo_id=repo)
    moved = hub.api.repo_info(repo).sha

    with pytest.raises(PublishError) as refused:
        publish_release(second.dest, second.manifest, hub.target(repo))

    message = str(refused.value)
    assert "moved since pull request #1 began" in message and "Close pull request #1" in message
    assert "v2.0 was NOT merged or tagged" in message
    assert hub.api.repo_info(repo).sha == moved == intruder.oid  # main keeps the intruder's commit
    assert hub.api.get_discussion_details(repo, 1).status == "open"
    assert [t.name for t in hub.api.list_repo_refs(repo).tags] == ["v1.0"]
    assert not (second.dest / "RELEASE_NOTES.md").exists()  # nothing half-written into the staged tree


def test_create_pr_leaves_the_verified_chunked_release_open_for_review(hub: Hub, tmp_path: Path) -> None:
    repo = "alice/reviewed"
    first = _stage(tmp_path, "one", "1.0", {"w.safetensors": os.urandom(2000)}, repo)
    released = publish_release(first.dest, first.manifest, hub.target(repo))
    second = _stage(tmp_path, "two", "2.0", _files(8, "two"), repo)

    proposed = publish_release(second.dest, second.manifest, hub.target(repo, create_pr=True))

    assert proposed.pr_url is not None and proposed.pr_url.endswith("/discussions/1")
    assert hub.api.repo_info(repo).sha == released.commit
    assert _at(hub, repo, "refs/pr/1", tmp_path / "pr") == _staged(second)
    hub.api.merge_pull_request(repo, 1)
    tagged = publish_release(second.dest, second.manifest, hub.target(repo, create_pr=True))
    assert tagged.commit == hub.api.get_discussion_details(repo, 1).merge_commit_oid
    assert [t.name for t in hub.api.list_repo_refs(repo).tags] == ["v1.0", "v2.0"]


def test_chunk_planning_is_pure() -> None:
    assert [list(c) for c in chunks(list("abcdefg"), 3)] == [["a", "b", "c"], ["d", "e", "f"], ["g"]]
    assert read_marker(f"notes\n\n{marker('v1.2', 'f' * 40)}\n") == ("v1.2", "f" * 40)
    assert read_marker("no marker here") is None
    from release.publish_plan import plan_publish

    plan = plan_publish({}, {}, None)
    assert not needs_chunks(plan, 1)
