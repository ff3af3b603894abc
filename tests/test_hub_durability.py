"""The local Hub emulator keeps its data through restarts and through ``kill -9`` at any moment.

The kill tests run the real server command (``python -m release hub serve``) in a subprocess, kill it
with SIGKILL while the real client uploads or commits, check the store on disk while the server is
down, restart it on the same storage and port, and check again through the client. The on-disk checks
follow the layout documented in :mod:`release.hub.storage`.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from conftest import REPO_ROOT
from huggingface_hub import CommitInfo, CommitOperationAdd, CommitOperationDelete, HfApi, hf_hub_download

from release.hub import HubServer, Token

TOKEN = "hf_durability_alice"
ADMIN = "hf_durability_admin"
REPO = "alice/durable"
_CHUNK = 1024 * 1024

# --------------------------------------------------------------------------------------------------
# The store, read straight from disk


def check_store(root: Path) -> dict[str, dict[str, str]]:
    """Assert every ref of every repo names a complete commit whose files' objects are all stored intact.

    Returns the refs of each repo (``{"models/alice/x": {"refs/heads/main": sha}}``).
    """
    verified: dict[str, int] = {}  # object sha256 -> size, once hashed
    found: dict[str, dict[str, str]] = {}
    for repo_json in sorted((root / "repos").glob("*/*/*/repo.json")):
        repo_dir = repo_json.parent
        refs = json.loads((repo_dir / "refs.json").read_text())
        assert "refs/heads/main" in refs, repo_dir
        for ref, commit_id in refs.items():
            while commit_id is not None:
                commit = json.loads((repo_dir / "commits" / f"{commit_id}.json").read_text())
                assert commit["id"] == commit_id, f"{repo_dir}: {ref} -> {commit_id}"
                if "base" in commit:  # a delta on the tree of another commit, which must be complete too
                    assert (repo_dir / "commits" / f"{commit['base']}.json").is_file(), f"{repo_dir} {commit_id}"
                for path, entry in (commit["files"] if "files" in commit else commit["changed"]).items():
                    size = verified.get(entry["sha256"])
                    if size is None:
                        size = verified[entry["sha256"]] = hash_object(root, entry["sha256"])
                    assert size == entry["size"], f"{repo_dir} {commit_id} {path}: object of the wrong size"
                commit_id = commit["parent"]
        found[str(repo_dir.relative_to(root / "repos"))] = refs
    return found


def hash_object(root: Path, sha256: str) -> int:
    """Check the object's content hashes to its name; return its size."""
    digest, size = hashlib.sha256(), 0
    with (root / "objects" / sha256[:2] / sha256[2:]).open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    assert digest.hexdigest() == sha256, f"object {sha256} is corrupt"
    return size


def leftovers(root: Path) -> list[Path]:
    """Partial uploads and temporary files: none may survive a restart."""
    return sorted([*(root / "tmp").iterdir(), *root.rglob(".*.tmp")])


def main_head(root: Path, repo: str = REPO) -> str:
    refs = json.loads((root / "repos" / "models" / repo / "refs.json").read_text())
    return str(refs["refs/heads/main"])


def history(root: Path, commit_id: str | None, repo: str = REPO) -> list[str]:
    ids = []
    while commit_id is not None:
        ids.append(commit_id)
        commit_id = json.loads((root / "repos" / "models" / repo / "commits" / f"{commit_id}.json").read_text())[
            "parent"
        ]
    return ids


def object_count(root: Path) -> int:
    return sum(1 for _ in (root / "objects").glob("*/*"))


# --------------------------------------------------------------------------------------------------
# The server command in a subprocess


class ServeProcess:
    """``python -m release hub serve`` on one storage folder and one port: start, kill -9, start again."""

    def __init__(self, storage: Path, logs: Path) -> None:
        self.storage = storage
        self.logs = logs
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.starts = 0
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, *faults: str) -> None:
        """Start serving, with ``faults`` injected (see :mod:`release.hub.faults`) and the admin endpoint on."""
        assert self._process is None
        self.starts += 1
        log_path = self.logs / f"serve-{self.starts}.log"
        command = [sys.executable, "-m", "release", "hub", "serve", "--storage", str(self.storage)]
        command += ["--port", str(self.port), "--token", f"alice:{TOKEN}", "--admin-token", ADMIN]
        command += ["--max-commit-operations", "1000"]  # the 1000-file commit below, ten times the Hub's guidance
        command += [f"--fault={fault}" for fault in faults]
        with log_path.open("wb") as log_file:
            env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
            self._process = subprocess.Popen(command, stderr=log_file, env=env)
        deadline = time.monotonic() + 60
        while "Hub emulator serving" not in log_path.read_text():
            assert self._process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, f"the server did not start:\n{log_path.read_text()}"
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)
        self._process.wait(10)
        self._process = None

    def stop_the_process(self) -> None:
        """SIGSTOP: the server freezes wherever it is, its files as they are, until killed."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def held(self) -> int:
        """How many requests the injected faults hold now."""
        response = httpx2.get(f"{self.url}/admin/faults", headers={"Authorization": f"Bearer {ADMIN}"})
        response.raise_for_status()
        return sum(int(fault["held"]) for fault in response.json()["faults"])

    @property
    def running(self) -> bool:
        return self._process is not None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServeProcess]:
    """The server command, started, with the repo alice/durable created."""
    server = ServeProcess(tmp_path / "hub", tmp_path)
    server.start()
    try:
        HfApi(endpoint=server.url, token=TOKEN).create_repo(REPO)
        yield server
    finally:
        if server.running:
            server.kill()


def in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run ``call`` in a thread; its outcome (result or exception) lands in the returned list."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.001)


# --------------------------------------------------------------------------------------------------
# Tests


def test_every_call_sees_the_data_of_the_calls_before_it_across_restarts(tmp_path: Path) -> None:
    storage = tmp_path / "hub"
    weights, readme = os.urandom(50_000), b"---\nlicense: mit\n---\n# durable\n"
    steps: list[Callable[[HfApi], object]] = [
        lambda api: api.create_repo(REPO, private=True),
        lambda api: api.create_commit(
            REPO,
            [
                CommitOperationAdd(path_in_repo="w.safetensors", path_or_fileobj=weights),
                CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=readme),
            ],
            commit_message="weights",
        ),
        lambda api: api.create_tag(REPO, tag="v1"),
        lambda api: api.create_branch(REPO, branch="dev"),
        lambda api: api.delete_file("README.md", REPO, revision="dev", commit_message="no README"),
        lambda api: api.upload_file(path_or_fileobj=b"pr", path_in_repo="pr.txt", repo_id=REPO, create_pr=True),
        lambda api: api.upload_file(path_or_fileobj=b"pr2", path_in_repo="pr2.txt", repo_id=REPO, create_pr=True),
        lambda api: api.merge_pull_request(REPO, 2),
        lambda api: api.change_discussion_status(REPO, 1, "closed"),
        lambda api: api.create_discussion(REPO, title="Durable question", description="Kept?"),
        lambda api: api.comment_discussion(REPO, 3, "Yes"),
        lambda api: api.rename_discussion(REPO, 3, "Durable answer"),
        lambda api: api.super_squash_history(REPO, branch="refs/pr/1", commit_message="squashed"),
    ]
    for step in steps:
        with HubServer(storage, [Token("alice", TOKEN)]) as server:
            step(HfApi(endpoint=server.url, token=TOKEN))

    with HubServer(storage, [Token("alice", TOKEN)]) as server:
        api = HfApi(endpoint=server.url, token=TOKEN)
        refs = api.list_repo_refs(REPO, include_pull_requests=True)
        assert [b.name for b in refs.branches] == ["dev", "main"]
        assert [t.name for t in refs.tags] == ["v1"]
        assert [p.ref for p in refs.pull_requests or []] == ["refs/pr/1", "refs/pr/2"]
        assert [api.get_discussion_details(REPO, n).status for n in (1, 2)] == ["closed", "merged"]
        assert sorted(api.list_repo_files(REPO)) == [".gitattributes", "README.md", "pr2.txt", "w.safetensors"]
        assert sorted(api.list_repo_files(REPO, revision="dev")) == [".gitattributes", "w.safetensors"]
        assert "pr.txt" in api.list_repo_files(REPO, revision="refs/pr/1")
        assert [c.title for c in api.list_repo_commits(REPO, revision="dev")] == [
            "no README",
            "weights",
            "initial commit",
        ]
        path = hf_hub_download(REPO, "w.safetensors", revision="v1", endpoint=server.url, token=TOKEN)
        assert Path(path).read_bytes() == weights
        assert [d.num for d in api.get_repo_discussions(REPO)] == [3, 2, 1]
        question = api.get_discussion_details(REPO, 3)
        assert (question.title, [type(e).__name__ for e in question.events]) == (
            "Durable answer",
            ["DiscussionComment", "DiscussionComment", "DiscussionTitleChange"],
        )
        assert [c.title for c in api.list_repo_commits(REPO, revision="refs/pr/1")] == ["squashed"]
    on_disk = check_store(storage)["models/alice/durable"]
    assert on_disk["refs/tags/v1"] == history(storage, main_head(storage))[1]  # main moved on by the merge
    assert on_disk["refs/merged-pr/2"] == main_head(storage)  # the mark, in the same file as the branch
    assert leftovers(storage) == []


def test_kill_during_a_large_lfs_upload_then_the_clients_retry_completes_it(
    served: ServeProcess, tmp_path: Path
) -> None:
    served.kill()
    served.start(f"hold={20 * _CHUNK},count=1,route=PUT /api/lfs-upload/*")  # the upload stops at 20 MiB
    storage, head = served.storage, main_head(served.storage)
    big = tmp_path / "big.safetensors"
    with big.open("wb") as file:
        for _ in range(200):
            file.write(os.urandom(_CHUNK))
    size = big.stat().st_size
    api = HfApi(endpoint=served.url, token=TOKEN)
    thread, outcome = in_thread(
        lambda: api.upload_file(path_or_fileobj=big, path_in_repo="big.safetensors", repo_id=REPO)
    )

    def partial_upload_size() -> int:
        return max((path.stat().st_size for path in (storage / "tmp").iterdir()), default=0)

    wait_until(lambda: served.held() == 1, "20 MiB of the upload are at the server, and the rest held")
    served.kill()
    # Killed mid-stream: a partial file is all there is (less what was still in the server's write buffer).
    assert 19 * _CHUNK < partial_upload_size() <= 20 * _CHUNK < size
    assert main_head(storage) == head
    assert check_store(storage)

    served.start()  # same storage, same port: the client's retry of the PUT reaches the new process
    thread.join(60)
    (commit,) = outcome
    assert isinstance(commit, CommitInfo), commit
    assert main_head(storage) == commit.oid
    siblings = {s.rfilename: s for s in api.model_info(REPO, files_metadata=True).siblings or []}
    lfs = siblings["big.safetensors"].lfs
    assert lfs is not None and hash_object(storage, lfs.sha256) == size
    assert check_store(storage)
    assert leftovers(storage) == []


def test_kill_in_the_middle_of_a_commit_leaves_the_branch_at_its_last_complete_commit(served: ServeProcess) -> None:
    storage = served.storage
    api = HfApi(endpoint=served.url, token=TOKEN)
    api.upload_file(path_or_fileobj=b"first", path_in_repo="first.txt", repo_id=REPO)
    head, before = main_head(storage), object_count(storage)
    # A commit of 1000 new small files: the server stores 1000 objects before it writes the commit.
    operations = [
        CommitOperationAdd(path_in_repo=f"files/{n:04}.txt", path_or_fileobj=f"file {n} {os.urandom(8).hex()}".encode())
        for n in range(1000)
    ]
    thread, outcome = in_thread(lambda: api.create_commit(REPO, operations, commit_message="big"))
    # Freeze the server as soon as it stores objects: the state checked below cannot move on under us.
    # (The window is the whole object-writing phase of a 1000-file commit, each object fsynced.)
    wait_until(lambda: object_count(storage) > before, "the server stores the commit's objects")
    served.stop_the_process()
    stored = object_count(storage) - before
    assert 0 < stored < len(operations)  # stopped while the commit was being written
    served.kill()
    thread.join(60)
    assert not isinstance(outcome[0], CommitInfo)  # the commit call is not retried: the client sees the cut
    assert object_count(storage) - before == stored
    assert main_head(storage) == head
    assert len(list((storage / "repos/models/alice/durable/commits").iterdir())) == 2
    assert check_store(storage)

    served.start()
    assert leftovers(storage) == []
    assert api.repo_info(REPO).sha == head
    again = api.create_commit(REPO, operations, commit_message="big, again")  # objects already there are reused
    assert main_head(storage) == again.oid
    assert len(api.list_repo_files(REPO)) == 1002
    assert check_store(storage)
    assert leftovers(storage) == []


def test_kill_at_random_moments_of_a_stream_of_commits_loses_no_acknowledged_commit(served: ServeProcess) -> None:
    storage = served.storage
    api = HfApi(endpoint=served.url, token=TOKEN)
    chooser = random.Random(20261122)  # fixed: the same kill delays on every run (not the same moments)
    acknowledged: list[str] = []
    for round_number in range(5):
        stop = threading.Event()

        def commit_until_stopped(round_number: int = round_number, stop: threading.Event = stop) -> None:
            number = 0
            while not stop.is_set():
                number += 1
                operations: list[CommitOperationAdd | CommitOperationDelete] = [
                    CommitOperationAdd(path_in_repo=f"r{round_number}/{number}.txt", path_or_fileobj=os.urandom(64)),
                    CommitOperationAdd(path_in_repo=f"r{round_number}/{number}.bin", path_or_fileobj=os.urandom(4096)),
                ]
                if number > 1:
                    operations.append(CommitOperationDelete(path_in_repo=f"r{round_number}/{number - 1}.txt"))
                try:
                    acknowledged.append(api.create_commit(REPO, operations, commit_message=f"{number}").oid)
                except Exception:
                    continue  # cut by the kill; the next commit retries against the restarted server

        def a_commit_of_this_round_landed(at_start: int = len(acknowledged)) -> bool:
            return len(acknowledged) > at_start

        thread = threading.Thread(target=commit_until_stopped, daemon=True)
        thread.start()
        wait_until(a_commit_of_this_round_landed, "a commit of this round is acknowledged")
        time.sleep(chooser.uniform(0, 0.3))  # then the kill lands wherever the stream of commits is
        served.kill()
        known = list(acknowledged)
        head = main_head(storage)
        check_store(storage)
        assert set(known) <= set(history(storage, head)), "an acknowledged commit was lost"

        served.start()
        stop.set()
        thread.join(60)
        assert not thread.is_alive()

    assert len(acknowledged) >= 5
    assert api.repo_info(REPO).sha == main_head(storage)
    assert set(acknowledged) <= {c.commit_id for c in api.list_repo_commits(REPO)}
    check_store(storage)
    assert leftovers(storage) == []
