"""The emulator at the Hub's scale: commit limits answered as the Hub answers, commits stored as deltas, pages.

The real ``huggingface_hub`` client against emulators of their own, with limits set per test.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, RepoFile
from huggingface_hub.errors import HfHubHTTPError

from release.hub import CommitLimits, HubServer, Token
from release.hub.commits import MAX_DEPTH
from release.hub.repo import (
    AddFile,
    Commit,
    CommitLimitError,
    CommitRequest,
    InvalidInputError,
    RepoId,
    RevisionMissingError,
    TreeEntry,
    TreeIndex,
    check_commit_limits,
)
from release.hub.storage import HubStorage
from release.hub.web import FILES_PER_PAGE

TOKEN = "hf_commits_alice_write"
REPO = "alice/scale"


def _hub(storage: Path, limits: CommitLimits) -> HubServer:
    return HubServer(storage, [Token("alice", TOKEN, "write")], limits=limits)


@pytest.fixture
def small_limits(tmp_path: Path) -> Iterator[HfApi]:
    with _hub(tmp_path / "hub", CommitLimits(max_operations=3, max_folder_entries=4)) as server:
        api = HfApi(endpoint=server.url, token=TOKEN)
        api.create_repo(REPO)
        yield api


def _adds(*paths: str) -> list[CommitOperationAdd]:
    return [CommitOperationAdd(path_in_repo=p, path_or_fileobj=f"{p}\n".encode()) for p in paths]


def _refused(error: pytest.ExceptionInfo[HfHubHTTPError]) -> str:
    assert error.value.response is not None and error.value.response.status_code == 400
    return str(error.value.server_message)


def test_a_commit_of_more_operations_than_the_limit_is_refused_and_changes_nothing(small_limits: HfApi) -> None:
    api = small_limits
    head = api.repo_info(REPO).sha
    with pytest.raises(HfHubHTTPError) as error:
        api.create_commit(REPO, _adds("a.txt", "b.txt", "c.txt", "d.txt"), commit_message="four")
    message = _refused(error)
    assert "4 operations" in message and "at most 3 operations per commit" in message
    assert api.repo_info(REPO).sha == head
    api.create_commit(REPO, _adds("a.txt", "b.txt", "c.txt"), commit_message="three")  # at the limit: accepted
    assert sorted(api.list_repo_files(REPO)) == [".gitattributes", "a.txt", "b.txt", "c.txt"]


def test_a_folder_over_the_entry_limit_is_refused_in_the_hubs_words(small_limits: HfApi) -> None:
    api = small_limits
    api.create_commit(REPO, _adds("data/1.txt", "data/2.txt", "data/sub/3.txt"), commit_message="three entries")
    api.create_commit(REPO, _adds("data/4.txt"), commit_message="four entries")
    head = api.repo_info(REPO).sha
    with pytest.raises(HfHubHTTPError) as error:  # a fifth entry: files and subfolders count alike
        api.create_commit(REPO, _adds("data/other/5.txt"), commit_message="a fifth")
    assert _refused(error) == (
        "Your push was rejected because it contains too many files per directory. Each directory in your git "
        "repo can only contain up to 4 files. Offending reference: refs/heads/main Offending directories: /data/"
    )
    assert api.repo_info(REPO).sha == head
    replaced: list[CommitOperationAdd | CommitOperationDelete] = [
        CommitOperationDelete(path_in_repo="data/1.txt"),
        *_adds("data/5.txt"),
    ]
    api.create_commit(REPO, replaced, commit_message="one out, one in")  # still four entries: accepted
    listed = [i.path for i in api.list_repo_tree(REPO, "data")]
    assert listed == ["data/2.txt", "data/4.txt", "data/5.txt", "data/sub"]


def test_a_merge_that_would_crowd_a_folder_is_refused(small_limits: HfApi) -> None:
    api = small_limits
    api.create_commit(REPO, _adds("data/1.txt"), commit_message="one")
    api.create_commit(REPO, _adds("data/2.txt", "data/3.txt"), commit_message="proposed", create_pr=True)
    api.create_commit(REPO, _adds("data/4.txt", "data/5.txt"), commit_message="meanwhile on main")
    head = api.repo_info(REPO).sha
    with pytest.raises(HfHubHTTPError) as error:
        api.merge_pull_request(REPO, 1)
    assert "Offending directories: /data/" in _refused(error)
    assert api.repo_info(REPO).sha == head and api.get_discussion_details(REPO, 1).status == "open"


def test_commits_are_stored_as_deltas_and_read_back_after_a_restart(tmp_path: Path) -> None:
    storage = tmp_path / "hub"
    expected: dict[str, str] = {}
    commits: list[tuple[str, dict[str, str]]] = []
    with _hub(storage, CommitLimits()) as server:
        api = HfApi(endpoint=server.url, token=TOKEN)
        api.create_repo(REPO)
        for number in range(MAX_DEPTH + 6):  # past one chain of deltas: a snapshot starts the next
            operations: list[CommitOperationAdd | CommitOperationDelete] = [
                CommitOperationAdd(path_in_repo=f"d/{number}.txt", path_or_fileobj=f"{number}\n".encode())
            ]
            if number % 3 == 2:
                operations.append(CommitOperationDelete(path_in_repo=f"d/{number - 1}.txt"))
                expected.pop(f"d/{number - 1}.txt")
            commit = api.create_commit(REPO, operations, commit_message=f"{number}")
            expected[f"d/{number}.txt"] = f"{number}\n"
            commits.append((commit.oid, dict(expected)))
    files = [json.loads(p.read_text()) for p in (storage / "repos/models/alice/scale/commits").glob("*.json")]
    snapshots = [f for f in files if "files" in f]
    assert len(snapshots) == 2 and all(len(f.get("changed", {})) <= 1 for f in files)  # the first, then one more
    with _hub(storage, CommitLimits()) as server:  # a new process's view: nothing cached
        api = HfApi(endpoint=server.url, token=TOKEN)
        for oid, tree in commits[::7] + commits[-1:]:
            listed = {i.path for i in api.list_repo_tree(REPO, revision=oid, recursive=True) if isinstance(i, RepoFile)}
            assert listed == {".gitattributes", *tree}, oid


def test_a_repo_deleted_or_moved_leaves_nothing_of_its_commits_in_the_caches(tmp_path: Path) -> None:
    storage = HubStorage.open(tmp_path / "hub")
    repo_id, moved_id = RepoId("model", "alice", "scale"), RepoId("model", "alice", "moved")

    def commit(content: bytes) -> Commit:
        request = CommitRequest("main", "add", "", "alice", [AddFile("secret.txt", content)])
        return storage.commit(repo_id, request).commit

    other_case = RepoId("model", "Alice", "SCALE")  # the same repo: ids ignore case
    leaving = (
        lambda: storage.delete_repo(repo_id),
        lambda: storage.delete_repo(other_case),
        lambda: storage.move_repo(repo_id, moved_id),
    )
    for leave in leaving:
        storage.create_repo(repo_id, private=False, author="alice")
        old = commit(b"old\n")
        assert "secret.txt" in storage.read_commit(repo_id, old.id).files  # read, so its tree is cached
        leave()
        storage.create_repo(repo_id, private=False, author="alice")  # the same folder, a new history
        with pytest.raises(RevisionMissingError):
            storage.read_commit(repo_id, old.id)
        storage.delete_repo(repo_id)


def test_purging_an_lfs_file_reaches_the_commits_no_ref_names(tmp_path: Path) -> None:
    with _hub(tmp_path / "hub", CommitLimits()) as server:
        api = HfApi(endpoint=server.url, token=TOKEN)
        api.create_repo(REPO)
        big = CommitOperationAdd(path_in_repo="big.bin", path_or_fileobj=b"\0" * 11_000_000)  # LFS by size
        api.create_commit(REPO, [big], commit_message="weights")
        for branch in ("kept", "dropped"):
            api.create_branch(REPO, branch=branch)
        with_file = api.create_commit(REPO, _adds("a.txt"), commit_message="on dropped", revision="dropped").oid
        without = api.create_commit(
            REPO, [CommitOperationDelete(path_in_repo="big.bin")], commit_message="no weights", revision="kept"
        ).oid  # stored as a delta on a commit that holds big.bin
        api.delete_branch(REPO, branch="dropped")
        api.delete_branch(REPO, branch="kept")

        api.permanently_delete_lfs_files(REPO, list(api.list_lfs_files(REPO)))

        with pytest.raises(HfHubHTTPError) as gone:  # it held the purged file: deleted with the rewritten ones
            api.list_repo_files(REPO, revision=with_file)
        assert gone.value.response is not None and gone.value.response.status_code == 404
        assert str(gone.value.server_message) == f"Invalid rev id: {with_file}"  # itself, not a base it lost
        assert sorted(api.list_repo_files(REPO, revision=without)) == [".gitattributes"]  # stored whole now


def test_the_folder_index_follows_additions_and_removals() -> None:
    def entry(path: str) -> TreeEntry:
        return TreeEntry(path, 1, "0" * 64, False, "0" * 40)

    before = {p: entry(p) for p in ("a/b/c.txt", "a/d.txt", "e.txt")}
    after = {p: entry(p) for p in ("a/d.txt", "e.txt", "f/g/h.txt")}
    index = TreeIndex.of(before).changed(after, ["f/g/h.txt"], ["a/b/c.txt"])
    assert {k: sorted(v) for k, v in index.children.items()} == {
        k: sorted(v) for k, v in TreeIndex.of(after).children.items()
    }
    assert index.crowded(["f/g/h.txt"], 1) == [""]  # the root holds a, e.txt and f
    with pytest.raises(CommitLimitError):
        check_commit_limits(CommitLimits(max_folder_entries=2), "refs/heads/main", 1, index, ["f/g/h.txt"])
    with pytest.raises(InvalidInputError, match=r"'e\.txt' is a file, not a folder"):
        TreeIndex.of(after).check_added(["e.txt/x"])


def test_the_web_view_pages_through_a_large_file_list(tmp_path: Path) -> None:
    count = FILES_PER_PAGE * 2 + 5
    with _hub(tmp_path / "hub", CommitLimits(max_operations=count + 1)) as server:
        api = HfApi(endpoint=server.url, token=TOKEN)
        api.create_repo(REPO)
        paths = [f"data/{n // 1000}/{n:05}.txt" for n in range(count)]
        api.create_commit(REPO, _adds(*paths), commit_message="many")
        first, last = _page(server.url, f"/{REPO}"), _page(server.url, f"/{REPO}?files=3")
        beyond = _page(server.url, f"/{REPO}?files=99")
        nonsense = [_page(server.url, f"/{REPO}?files={text}") for text in ("9" * 5000, "-1", "%D9%A3", "x")]
    assert first.count("download>") == FILES_PER_PAGE and "Page 1 of 3" in first and "files=2#files" in first
    assert "(2,006)" in first  # every file counted, .gitattributes included
    assert last.count("download>") == count + 1 - 2 * FILES_PER_PAGE and "files=2#files" in last
    assert "Page 3 of 3" in beyond  # past the end: the last page
    assert all("Page 1 of 3" in page for page in nonsense)  # anything but a page number: the first page


def _page(url: str, path: str) -> str:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        assert response.status == 200
        return response.read().decode()
    finally:
        connection.close()


def test_hub_serve_takes_the_limits_and_refuses_nonsense() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "release", "hub", "serve", "--max-commit-operations", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "--max-commit-operations: must be at least 1, got 0" in result.stderr
