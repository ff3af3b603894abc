"""The local Hub emulator, driven by the real huggingface_hub client (raw HTTP where the client hides it)."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit
from uuid import uuid4

import pytest
from conftest import REPO_ROOT, RunningHub
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationCopy,
    CommitOperationDelete,
    HfApi,
    RepoFile,
    RepoFolder,
    hf_hub_download,
    snapshot_download,
)
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from release.errors import HubServerError
from release.hub import DEV_TOKEN, HubServer, Token, parse_token_option
from release.hub.repo import MergeConflictError, TreeEntry, git_blob_oid, merge_trees

# --------------------------------------------------------------------------------------------------
# Helpers


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


def raw_request(method: str, url: str, body: bytes = b"", headers: Mapping[str, str] | None = None) -> RawResponse:
    """One HTTP request, sent exactly as given (no redirects, no retries, path not re-encoded)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, target, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        return RawResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def status_of(error: HfHubHTTPError) -> int:
    return error.response.status_code


def new_repo(api: HfApi, namespace: str = "alice", **kwargs: object) -> str:
    repo_id = f"{namespace}/r-{uuid4().hex[:10]}"
    api.create_repo(repo_id, **kwargs)  # type: ignore[arg-type]
    return repo_id


@pytest.fixture
def api(hub: RunningHub) -> HfApi:
    """A client with alice's write token."""
    return HfApi(token=hub.token)


@pytest.fixture
def repo(api: HfApi) -> str:
    """A fresh public model repo of alice's."""
    return new_repo(api)


# --------------------------------------------------------------------------------------------------
# Identity and access


def test_whoami_names_the_token_user_and_role(hub: RunningHub) -> None:
    assert HfApi().whoami(token=hub.token)["name"] == "alice"
    read = HfApi().whoami(token=hub.read_token)
    assert (read["name"], read["auth"]["accessToken"]["role"]) == ("alice", "read")


def test_whoami_rejects_unknown_and_dev_tokens_when_tokens_are_configured(hub: RunningHub) -> None:
    for token in ("hf_not_a_token", DEV_TOKEN):
        with pytest.raises(HfHubHTTPError) as caught:
            HfApi().whoami(token=token)
        assert status_of(caught.value) == 401
        assert str(caught.value).startswith("Invalid user token.")  # the client's own words for any 401
        assert caught.value.response.headers["x-error-message"] == "Invalid credentials in Authorization header"
        assert token not in str(caught.value)


def test_create_model_and_dataset_repos_public_and_private(hub: RunningHub, api: HfApi) -> None:
    for repo_type, prefix in (("model", ""), ("dataset", "datasets/")):
        for private in (False, True):
            repo_id = f"alice/{repo_type}-{private}-{uuid4().hex[:8]}"
            url = api.create_repo(repo_id, repo_type=repo_type, private=private)
            assert url == f"{hub.url}/{prefix}{repo_id}"
            info = api.repo_info(repo_id, repo_type=repo_type)
            assert (info.id, info.private) == (repo_id, private)
            assert api.list_repo_files(repo_id, repo_type=repo_type) == [".gitattributes"]
            with pytest.raises(HfHubHTTPError) as caught:
                api.create_repo(repo_id, repo_type=repo_type)
            assert status_of(caught.value) == 409
            assert api.create_repo(repo_id, repo_type=repo_type, exist_ok=True) == url


def test_create_repo_without_namespace_uses_the_token_user(hub: RunningHub, api: HfApi) -> None:
    name = f"bare-{uuid4().hex[:8]}"
    assert api.create_repo(name) == f"{hub.url}/alice/{name}"


def test_private_repo_is_invisible_to_other_users_and_anonymous(hub: RunningHub, api: HfApi) -> None:
    repo_id = new_repo(api, private=True)
    api.upload_file(path_or_fileobj=b"secret", path_in_repo="s.txt", repo_id=repo_id)
    for outsider in (HfApi(token=hub.other_token), HfApi()):
        with pytest.raises(RepositoryNotFoundError):
            outsider.repo_info(repo_id)
        assert not outsider.repo_exists(repo_id)
        with pytest.raises(RepositoryNotFoundError):
            outsider.list_repo_files(repo_id)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(repo_id, "s.txt", token=hub.other_token)
    assert HfApi(token=hub.read_token).repo_info(repo_id).private
    assert Path(hf_hub_download(repo_id, "s.txt", token=hub.read_token)).read_bytes() == b"secret"


def test_writes_need_a_write_token_for_the_namespace(hub: RunningHub, api: HfApi, repo: str) -> None:
    head = api.repo_info(repo).sha
    for token in (hub.other_token, hub.read_token):
        with pytest.raises(HfHubHTTPError) as caught:
            HfApi(token=token).upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo)
        assert status_of(caught.value) == 403
        with pytest.raises(HfHubHTTPError) as caught:
            HfApi(token=token).create_tag(repo, tag="v-denied")
        assert status_of(caught.value) == 403
    with pytest.raises(HfHubHTTPError) as caught:
        api.create_repo(f"bob/taken-{uuid4().hex[:8]}")
    assert status_of(caught.value) == 403
    assert api.repo_info(repo).sha == head
    assert api.list_repo_refs(repo).tags == []


# --------------------------------------------------------------------------------------------------
# Commits, uploads and downloads


def test_commit_of_regular_and_lfs_files_downloads_byte_for_byte(
    hub: RunningHub, api: HfApi, repo: str, tmp_path: Path
) -> None:
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(os.urandom(300_000))
    contents = {
        "config.json": b'{"hidden": 4}\n',
        "model.safetensors": weights.read_bytes(),
        "data/blob.dat": b"\x00binary\x01" * 100,
        "notes/dir with space/\u00e9#?.txt": b"odd name",
    }
    operations = [
        CommitOperationAdd(path_in_repo="model.safetensors", path_or_fileobj=weights),
        *(
            CommitOperationAdd(path_in_repo=p, path_or_fileobj=c)
            for p, c in contents.items()
            if p != "model.safetensors"
        ),
    ]
    info = api.create_commit(repo, operations, commit_message="Add weights", commit_description="first")
    assert info.commit_url == f"{hub.url}/{repo}/commit/{info.oid}"

    siblings = {s.rfilename: s for s in api.model_info(repo, files_metadata=True).siblings or []}
    assert siblings["config.json"].lfs is None
    for lfs_path in ("model.safetensors", "data/blob.dat"):
        lfs = siblings[lfs_path].lfs
        assert lfs is not None and lfs.sha256 == hashlib.sha256(contents[lfs_path]).hexdigest()
    for path, content in contents.items():
        assert Path(hf_hub_download(repo, path)).read_bytes() == content
    snapshot = Path(snapshot_download(repo))
    assert {p: (snapshot / p).read_bytes() for p in contents} == contents
    assert (snapshot / ".gitattributes").read_text().count("filter=lfs") > 10
    sha256 = hashlib.sha256(contents["model.safetensors"]).hexdigest()
    assert (hub.storage / "objects" / sha256[:2] / sha256[2:]).read_bytes() == contents["model.safetensors"]
    (commit, *_) = api.list_repo_commits(repo)
    assert (commit.commit_id, commit.title, commit.message, commit.authors) == (
        info.oid,
        "Add weights",
        "first",
        ["alice"],
    )


def test_recommitting_unchanged_files_makes_no_commit(api: HfApi, repo: str) -> None:
    operations = [
        CommitOperationAdd(path_in_repo="a.txt", path_or_fileobj=b"same"),
        CommitOperationAdd(path_in_repo="w.bin", path_or_fileobj=b"\x00" * 64),
    ]
    first = api.create_commit(repo, operations, commit_message="add")
    again = api.create_commit(
        repo,
        [CommitOperationAdd(path_in_repo=op.path_in_repo, path_or_fileobj=op.path_or_fileobj) for op in operations],
        commit_message="again",
    )
    assert again.oid == first.oid
    assert [c.title for c in api.list_repo_commits(repo)] == ["add", "initial commit"]


def test_lfs_upload_must_match_its_oid_and_signed_link(hub: RunningHub, repo: str) -> None:
    content = os.urandom(4096)
    oid = hashlib.sha256(content).hexdigest()
    batch_url = f"{hub.url}/{repo}.git/info/lfs/objects/batch"
    headers = {"Authorization": f"Bearer {hub.token}", "Content-Type": "application/vnd.git-lfs+json"}
    request = {"operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid, "size": len(content)}]}
    batch = raw_request("POST", batch_url, json.dumps(request).encode(), headers).json()
    assert isinstance(batch, dict)
    actions = batch["objects"][0]["actions"]
    upload_href, verify_href = actions["upload"]["href"], actions["verify"]["href"]

    wrong = raw_request("PUT", upload_href, os.urandom(len(content)))
    assert wrong.status == 400 and b"sha256" in wrong.body
    tampered = raw_request("PUT", upload_href.replace("signature=", "signature=0"), content)
    assert tampered.status == 403
    assert not (hub.storage / "objects" / oid[:2] / oid[2:]).exists()
    assert list((hub.storage / "tmp").iterdir()) == []
    verify_body = json.dumps({"oid": oid, "size": len(content)}).encode()
    assert raw_request("POST", verify_href, verify_body, headers).status == 404

    assert raw_request("PUT", upload_href, content).status == 200
    assert raw_request("POST", verify_href, verify_body, headers).status == 200
    again = raw_request("POST", batch_url, json.dumps(request).encode(), headers).json()
    assert again == {"transfer": "basic", "objects": [{"oid": oid, "size": 4096}], "hash_algo": "sha256"}


def test_preupload_decides_lfs_by_size_name_and_content(hub: RunningHub, api: HfApi, repo: str) -> None:
    api.upload_file(path_or_fileobj=b"v1", path_in_repo="kept.txt", repo_id=repo)
    sample = base64.b64encode(b"plain text").decode()
    files = [
        {"path": "kept.txt", "sample": sample, "size": 10},
        {"path": "big.txt", "sample": sample, "size": 10 * 1024 * 1024},
        {"path": "sub/w.pt", "sample": sample, "size": 10},
        {"path": "raw.dat", "sample": base64.b64encode(b"a\x00b").decode(), "size": 3},
    ]
    response = raw_request(
        "POST",
        f"{hub.url}/api/models/{repo}/preupload/main",
        json.dumps({"files": files}).encode(),
        {"Authorization": f"Bearer {hub.token}", "Content-Type": "application/json"},
    )
    answer = response.json()
    assert isinstance(answer, dict)
    modes = {f["path"]: (f["uploadMode"], f["shouldIgnore"], f.get("oid")) for f in answer["files"]}
    git_oid = hashlib.sha1(b"blob 2\0v1", usedforsecurity=False).hexdigest()
    assert modes == {
        "kept.txt": ("regular", False, git_oid),
        "big.txt": ("lfs", False, None),
        "sub/w.pt": ("lfs", False, None),
        "raw.dat": ("lfs", False, None),
    }


def test_stale_parent_commit_is_refused_with_412(api: HfApi, repo: str) -> None:
    base = api.repo_info(repo).sha
    assert base is not None

    def add() -> list[CommitOperationAdd]:
        return [CommitOperationAdd(path_in_repo="a.txt", path_or_fileobj=uuid4().bytes)]

    api.create_commit(repo, add(), commit_message="first", parent_commit=base[:7])
    with pytest.raises(HfHubHTTPError) as caught:
        api.create_commit(repo, add(), commit_message="stale", parent_commit=base)
    assert status_of(caught.value) == 412
    assert "The branch was updated since you opened this page. Please refresh and try again." in str(caught.value)


def test_concurrent_commits_on_one_parent_let_exactly_one_win(api: HfApi, repo: str) -> None:
    base = api.repo_info(repo).sha
    barrier = threading.Barrier(4)
    outcomes: list[int] = []

    def commit(number: int) -> None:
        operation = CommitOperationAdd(path_in_repo=f"f{number}.txt", path_or_fileobj=b"x")
        barrier.wait()
        try:
            api.create_commit(repo, [operation], commit_message=f"c{number}", parent_commit=base)
            outcomes.append(200)
        except HfHubHTTPError as exc:
            outcomes.append(status_of(exc))

    threads = [threading.Thread(target=commit, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [200, 412, 412, 412]
    assert len(api.list_repo_commits(repo)) == 2


def test_dataset_repo_round_trip(hub: RunningHub, api: HfApi, tmp_path: Path) -> None:
    repo_id = new_repo(api, repo_type="dataset", private=True)
    table, readme = os.urandom(2048), b"---\nlicense: cc-by-4.0\n---\n# Data\n"
    api.create_commit(
        repo_id,
        [
            CommitOperationAdd(path_in_repo="data/train.parquet", path_or_fileobj=table),
            CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=readme),
        ],
        commit_message="data",
        repo_type="dataset",
    )
    (parquet,) = api.get_paths_info(repo_id, ["data/train.parquet"], repo_type="dataset")
    assert isinstance(parquet, RepoFile) and parquet.lfs is not None
    snapshot = Path(snapshot_download(repo_id, repo_type="dataset", local_dir=tmp_path / "snap", token=hub.token))
    assert ((snapshot / "data/train.parquet").read_bytes(), (snapshot / "README.md").read_bytes()) == (
        table,
        readme,
    )
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(repo_id)


def test_copies_reuse_stored_content(api: HfApi, repo: str) -> None:
    weights = os.urandom(3000)
    api.create_commit(
        repo,
        [
            CommitOperationAdd(path_in_repo="w.safetensors", path_or_fileobj=weights),
            CommitOperationAdd(path_in_repo="a.txt", path_or_fileobj=b"text"),
        ],
        commit_message="add",
    )
    api.create_commit(  # an LFS copy is an lfsFile line without size; a regular copy is re-sent as a file
        repo,
        [
            CommitOperationCopy(src_path_in_repo="w.safetensors", path_in_repo="copy/w.safetensors"),
            CommitOperationCopy(src_path_in_repo="a.txt", path_in_repo="copy/a.txt"),
        ],
        commit_message="copy",
    )
    assert Path(hf_hub_download(repo, "copy/w.safetensors")).read_bytes() == weights
    assert Path(hf_hub_download(repo, "copy/a.txt")).read_bytes() == b"text"


def test_delete_file_and_folder(api: HfApi, repo: str) -> None:
    api.create_commit(
        repo,
        [
            CommitOperationAdd(path_in_repo=path, path_or_fileobj=b"x")
            for path in ("a.txt", "dir/b.txt", "dir/sub/c.bin", "dirty.txt")
        ],
        commit_message="add",
    )
    api.delete_file("a.txt", repo)
    api.create_commit(repo, [CommitOperationDelete(path_in_repo="dir/")], commit_message="rm dir")
    assert api.list_repo_files(repo) == [".gitattributes", "dirty.txt"]
    with pytest.raises(EntryNotFoundError, match="A file with this name doesn't exist"):
        api.delete_file("a.txt", repo)
    with pytest.raises(EntryNotFoundError):
        api.delete_folder("dir", repo)


def test_tree_listing_recursive_and_under_a_nested_path(api: HfApi, repo: str) -> None:
    payload = b"\x00" * 100
    api.create_commit(
        repo,
        [
            CommitOperationAdd(path_in_repo="a/b/c.txt", path_or_fileobj=b"c"),
            CommitOperationAdd(path_in_repo="a/b/d/e.bin", path_or_fileobj=payload),
            CommitOperationAdd(path_in_repo="a/top.txt", path_or_fileobj=b"t"),
        ],
        commit_message="tree",
    )
    root = {entry.path: type(entry) for entry in api.list_repo_tree(repo)}
    assert root == {".gitattributes": RepoFile, "a": RepoFolder}
    nested = {entry.path: entry for entry in api.list_repo_tree(repo, path_in_repo="a/b")}
    assert sorted(nested) == ["a/b/c.txt", "a/b/d"]
    assert isinstance(nested["a/b/d"], RepoFolder)
    everything = {entry.path: entry for entry in api.list_repo_tree(repo, path_in_repo="a", recursive=True)}
    assert sorted(everything) == ["a/b", "a/b/c.txt", "a/b/d", "a/b/d/e.bin", "a/top.txt"]
    lfs_file = everything["a/b/d/e.bin"]
    assert isinstance(lfs_file, RepoFile) and lfs_file.lfs is not None
    assert (lfs_file.size, lfs_file.lfs.sha256) == (100, hashlib.sha256(payload).hexdigest())
    with pytest.raises(EntryNotFoundError):
        list(api.list_repo_tree(repo, path_in_repo="a/missing"))
    infos = api.get_paths_info(repo, ["a/top.txt", "a/b", "nope"])
    assert [(type(i), i.path) for i in infos] == [(RepoFile, "a/top.txt"), (RepoFolder, "a/b")]


# --------------------------------------------------------------------------------------------------
# Revisions


def test_tags_and_branches(api: HfApi, repo: str) -> None:
    first = api.upload_file(path_or_fileobj=b"v1", path_in_repo="f.txt", repo_id=repo)
    api.create_tag(repo, tag="v1")
    with pytest.raises(HfHubHTTPError) as caught:
        api.create_tag(repo, tag="v1")
    assert status_of(caught.value) == 409
    api.create_tag(repo, tag="v1", exist_ok=True)
    api.create_tag(repo, tag="rel/2", revision=first.oid[:7])
    with pytest.raises(RevisionNotFoundError):
        api.create_tag(repo, tag="v9", revision="no-such-branch")
    api.upload_file(path_or_fileobj=b"v2", path_in_repo="f.txt", repo_id=repo)
    assert Path(hf_hub_download(repo, "f.txt", revision="v1")).read_bytes() == b"v1"
    assert Path(hf_hub_download(repo, "f.txt", revision="rel/2")).read_bytes() == b"v1"
    assert Path(hf_hub_download(repo, "f.txt", revision=first.oid[:8])).read_bytes() == b"v1"
    assert {(t.name, t.target_commit) for t in api.list_repo_refs(repo).tags} == {
        ("v1", first.oid),
        ("rel/2", first.oid),
    }
    api.delete_tag(repo, tag="rel/2")
    with pytest.raises(RevisionNotFoundError):
        api.delete_tag(repo, tag="rel/2")

    api.create_branch(repo, branch="feat/x", revision="v1")
    api.create_branch(repo, branch="feat/x", exist_ok=True)
    api.upload_file(path_or_fileobj=b"branch", path_in_repo="f.txt", repo_id=repo, revision="feat/x")
    assert Path(hf_hub_download(repo, "f.txt", revision="feat/x")).read_bytes() == b"branch"
    assert Path(hf_hub_download(repo, "f.txt")).read_bytes() == b"v2"
    assert sorted(b.name for b in api.list_repo_refs(repo).branches) == ["feat/x", "main"]
    api.delete_branch(repo, branch="feat/x")
    assert not api.revision_exists(repo, "feat/x")


def test_pull_request_commits_and_revisions(api: HfApi, repo: str) -> None:
    api.upload_file(path_or_fileobj=b"main", path_in_repo="f.txt", repo_id=repo)
    pr = api.create_commit(
        repo,
        [CommitOperationAdd(path_in_repo="g.txt", path_or_fileobj=b"proposal")],
        commit_message="proposal",
        create_pr=True,
    )
    assert (pr.pr_revision, pr.pr_num) == ("refs/pr/1", 1)
    assert Path(hf_hub_download(repo, "g.txt", revision="refs/pr/1")).read_bytes() == b"proposal"
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(repo, "g.txt")
    update = api.upload_file(path_or_fileobj=b"more", path_in_repo="h.txt", repo_id=repo, revision="refs/pr/1")
    refs = api.list_repo_refs(repo, include_pull_requests=True)
    assert [(p.ref, p.target_commit) for p in refs.pull_requests or []] == [("refs/pr/1", update.oid)]
    assert api.list_repo_files(repo, revision="refs/pr/1") == [".gitattributes", "f.txt", "g.txt", "h.txt"]
    assert api.list_repo_files(repo) == [".gitattributes", "f.txt"]


def test_pull_requests_are_merged_and_closed_with_write_access_only(hub: RunningHub, api: HfApi, repo: str) -> None:
    api.create_commit(repo, [CommitOperationAdd("g.txt", b"proposal")], commit_message="proposal", create_pr=True)
    for token in (hub.read_token, hub.other_token):
        other = HfApi(token=token)
        assert other.get_discussion_details(repo, 1).status == "open"  # a public repo: anyone may read it
        with pytest.raises(HfHubHTTPError) as caught:
            other.merge_pull_request(repo, 1)
        assert status_of(caught.value) == 403
        with pytest.raises(HfHubHTTPError) as caught:
            other.change_discussion_status(repo, 1, "closed")
        assert status_of(caught.value) == 403
    with pytest.raises(HfHubHTTPError) as caught:
        api.merge_pull_request(repo, 2)
    assert status_of(caught.value) == 404 and "Discussion #2 not found" in str(caught.value)
    private = new_repo(api, private=True)
    api.create_commit(private, [CommitOperationAdd("g.txt", b"secret")], commit_message="proposal", create_pr=True)
    with pytest.raises(RepositoryNotFoundError):
        HfApi(token=hub.other_token).get_discussion_details(private, 1)
    assert api.list_repo_files(repo) == [".gitattributes"]
    api.merge_pull_request(repo, 1)
    assert api.list_repo_files(repo) == [".gitattributes", "g.txt"]


def test_merge_trees_takes_each_sides_changes_and_names_every_conflict() -> None:
    def entry(path: str, content: bytes) -> TreeEntry:
        return TreeEntry(path, len(content), hashlib.sha256(content).hexdigest(), False, git_blob_oid(content))

    base = {p: entry(p, b"0") for p in ("same", "ours", "theirs", "both", "gone", "clash")}
    ours = base | {"ours": entry("ours", b"1"), "both": entry("both", b"1"), "new": entry("new", b"n")}
    theirs = base | {"theirs": entry("theirs", b"2"), "both": entry("both", b"1")}
    del ours["gone"]
    merged = merge_trees(base, ours, theirs)
    assert merged == ours | {"theirs": theirs["theirs"]}
    assert merge_trees(base, base, theirs) == theirs  # the branch has not moved: the pull request's tree
    with pytest.raises(MergeConflictError) as caught:
        merge_trees(base, ours | {"both": entry("both", b"x")}, theirs | {"gone": entry("gone", b"y")})
    assert caught.value.paths == ("both", "gone")
    with pytest.raises(MergeConflictError) as caught:  # a file on one side, a folder on the other
        merge_trees(base, base | {"dir": entry("dir", b"f")}, base | {"dir/file": entry("dir/file", b"f")})
    assert caught.value.paths == ("dir/file",)


def test_client_raises_not_found_errors_by_kind(api: HfApi, repo: str) -> None:
    api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("alice/does-not-exist", "x.txt")
    with pytest.raises(RepositoryNotFoundError):
        api.dataset_info(repo)  # a model repo is not a dataset repo
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(repo, "x.txt", revision="nope")
    with pytest.raises(RevisionNotFoundError):
        api.repo_info(repo, revision="abcdef0")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(repo, "missing.txt")
    assert api.file_exists(repo, "x.txt") and not api.file_exists(repo, "missing.txt")
    assert not api.repo_exists("alice/does-not-exist")


def test_resolve_answers_head_and_range_requests(hub: RunningHub, api: HfApi, repo: str) -> None:
    text, weights = bytes(range(32, 132)), os.urandom(5000)  # no NUL byte: stays a regular file
    commit = api.create_commit(
        repo,
        [
            CommitOperationAdd(path_in_repo="dir/t.txt", path_or_fileobj=text),
            CommitOperationAdd(path_in_repo="w.safetensors", path_or_fileobj=weights),
        ],
        commit_message="add",
    )
    url = f"{hub.url}/{repo}/resolve/{quote('refs/heads/main', safe='')}/dir/t.txt"
    head = raw_request("HEAD", url)
    git_oid = hashlib.sha1(b"blob 100\0" + text, usedforsecurity=False).hexdigest()
    assert (head.status, head.headers["content-length"], head.body) == (200, "100", b"")
    assert (head.headers["etag"], head.headers["x-repo-commit"]) == (f'"{git_oid}"', commit.oid)
    tail = raw_request("GET", url, headers={"Range": "bytes=90-"})
    assert (tail.status, tail.headers["content-range"], tail.body) == (206, "bytes 90-99/100", text[90:])
    middle = raw_request("GET", url, headers={"Range": "bytes=5-9"})
    assert (middle.status, middle.body) == (206, text[5:10])

    lfs_head = raw_request("HEAD", f"{hub.url}/{repo}/resolve/main/w.safetensors")
    sha256 = hashlib.sha256(weights).hexdigest()
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize 5000\n".encode()
    pointer_oid = hashlib.sha1(b"blob %d\0" % len(pointer) + pointer, usedforsecurity=False).hexdigest()
    assert (lfs_head.headers["x-linked-etag"], lfs_head.headers["etag"]) == (f'"{sha256}"', f'"{pointer_oid}"')
    assert (lfs_head.status, lfs_head.headers["x-linked-size"]) == (302, "5000")  # to the storage origin
    assert (lfs_head.headers["x-repo-commit"], lfs_head.headers["location"].split("?")[0]) == (
        commit.oid,
        f"{hub.storage_url}/lfs-storage/{sha256}",
    )
    assert not any(name.startswith("x-xet") or name == "link" for name in lfs_head.headers)
    stored = raw_request("GET", lfs_head.headers["location"], headers={"Range": "bytes=4990-"})
    assert (stored.status, stored.headers["content-range"], stored.body) == (206, "bytes 4990-4999/5000", weights[-10:])
    missing = raw_request("HEAD", f"{hub.url}/{repo}/resolve/main/nope.txt")
    assert (missing.status, missing.headers["x-error-code"]) == (404, "EntryNotFound")
    assert missing.headers["x-repo-commit"] == commit.oid


def test_unknown_routes_answer_a_fast_404(hub: RunningHub, repo: str) -> None:
    auth = {"Authorization": f"Bearer {hub.token}"}
    for method, path in (
        ("GET", f"/api/models/{repo}/xet-read-token/main"),
        ("POST", "/api/spaces/alice/x/commit/main"),
        ("GET", "/favicon.ico"),
    ):
        response = raw_request(method, hub.url + path, headers=auth)
        assert response.status == 404
        assert response.json() == {"error": response.headers["x-error-message"]}


def test_readme_front_matter_is_validated(api: HfApi, repo: str) -> None:
    api.upload_file(path_or_fileobj=b"---\nlicense: mit\n---\n# Card\n", path_in_repo="README.md", repo_id=repo)
    for bad in (b"---\nlicense: [mit\n---\n", b"---\n- a\n- b\n---\n"):
        with pytest.raises(ValueError, match=r"Invalid metadata in README\.md"):
            api.upload_file(path_or_fileobj=bad, path_in_repo="README.md", repo_id=repo)
    assert Path(hf_hub_download(repo, "README.md")).read_bytes().startswith(b"---\nlicense: mit")


@pytest.mark.parametrize(
    ("body", "status", "errors", "warnings"),
    [
        ({"content": "---\nlicense: asdf\n---\n"}, 400, ["license: "], []),
        ({"content": "---\nmodel-index: foo\n---\n", "repoType": "model"}, 400, ["model-index: must be a list"], []),
        ({"content": "---\nlicenses: [mit]\n---\n", "repoType": "dataset"}, 400, ["licenses: the key"], []),
        ({"content": "# no metadata\n"}, 200, [], ["empty or missing yaml metadata in repo card"]),
        ({"content": "---\n---\n# empty\n", "repoType": "dataset"}, 200, [], ["empty or missing yaml metadata"]),
        ({"content": "---\nlanguage: en-US\n---\n"}, 200, [], ["language: 'en-US' is a BCP-47 tag"]),
        ({"content": "---\nlicense: asdf\n---\n", "repoType": "space"}, 200, [], []),  # spaces: YAML only
        ({"content": "# no metadata\n", "repoType": "space"}, 200, [], ["empty or missing yaml metadata"]),
        ({"content": "---\nlicense: mit\n---\n", "repoType": 3}, 400, ["'repoType' must be a string"], []),
    ],
)
def test_validate_yaml_answers_errors_and_warnings_as_the_hub_does(
    hub: RunningHub, body: dict[str, object], status: int, errors: list[str], warnings: list[str]
) -> None:
    """400 with ``errors`` when the Hub would refuse the card, else 200 with ``warnings``; both lists of
    ``{"message"}``, each message starting with the field it is about."""
    answer = raw_request("POST", f"{hub.url}/api/validate-yaml", json.dumps(body).encode())
    assert answer.status == status
    document = answer.json()
    assert isinstance(document, dict) and set(document) == {"errors", "warnings"}
    got_errors = [e["message"] for e in document["errors"]]
    got_warnings = [w["message"] for w in document["warnings"]]
    assert len(got_errors) == len(errors) and all(m.startswith(e) for m, e in zip(got_errors, errors, strict=True))
    assert all(any(m.startswith(w) for m in got_warnings) for w in warnings)
    if not warnings:
        assert got_warnings == []


def test_delete_repo(api: HfApi, repo: str) -> None:
    api.delete_repo(repo)
    assert not api.repo_exists(repo)
    api.delete_repo(repo, missing_ok=True)
    with pytest.raises(RepositoryNotFoundError):
        api.delete_repo(repo)
    api.create_repo(repo)
    assert api.list_repo_files(repo) == [".gitattributes"]


# --------------------------------------------------------------------------------------------------
# The server itself


def test_storage_survives_a_restart(tmp_path: Path) -> None:
    storage = tmp_path / "hub"
    weights = os.urandom(20_000)
    with HubServer(storage, [Token("carol", "tok-carol")]) as first:
        api = HfApi(endpoint=first.url, token="tok-carol")
        repo_id = new_repo(api, "carol", private=True)
        commit = api.create_commit(
            repo_id,
            [
                CommitOperationAdd(path_in_repo="w.safetensors", path_or_fileobj=weights),
                CommitOperationAdd(path_in_repo="a.txt", path_or_fileobj=b"a"),
            ],
            commit_message="weights",
        )
        api.create_tag(repo_id, tag="v1")
        before = (api.list_repo_refs(repo_id), [c.commit_id for c in api.list_repo_commits(repo_id)])
    assert stat.S_IMODE((storage / "secret").stat().st_mode) == 0o600

    with HubServer(storage, [Token("carol", "tok-carol")]) as second:
        assert second.url != first.url
        api = HfApi(endpoint=second.url, token="tok-carol")
        assert api.repo_info(repo_id).sha == commit.oid
        assert (api.list_repo_refs(repo_id), [c.commit_id for c in api.list_repo_commits(repo_id)]) == before
        path = hf_hub_download(repo_id, "w.safetensors", revision="v1", endpoint=second.url, token="tok-carol")
        assert Path(path).read_bytes() == weights


def test_dev_token_is_accepted_when_no_tokens_are_given(tmp_path: Path) -> None:
    with HubServer(tmp_path / "hub") as server:
        api = HfApi(endpoint=server.url, token=DEV_TOKEN)
        assert api.whoami()["name"] == "dev"
        assert api.create_repo("anyone/x") == f"{server.url}/anyone/x"
        with pytest.raises(HfHubHTTPError):
            HfApi(endpoint=server.url, token="hf_other").whoami()


def test_server_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(HubServerError, match="same token value"):
        HubServer(tmp_path, [Token("a", "same"), Token("b", "same")])
    with pytest.raises(HubServerError, match="call start"):
        _ = HubServer(tmp_path).url
    (tmp_path / "stray.txt").write_text("not a hub")
    with pytest.raises(HubServerError, match="not empty"):
        HubServer(tmp_path).start()


def test_parse_token_option() -> None:
    assert parse_token_option("alice:hf_abc") == Token("alice", "hf_abc", "write")
    assert "hf_abc" not in repr(parse_token_option("alice:hf_abc"))
    for bad, shown in (("hf_secret_only", "no ':'"), ("al ice:hf_secret", "'al ice'"), ("alice:", "'alice'")):
        with pytest.raises(HubServerError, match=shown) as caught:
            parse_token_option(bad)
        assert "hf_secret" not in str(caught.value)


def test_serve_runs_in_the_foreground_and_announces_the_dev_token(tmp_path: Path) -> None:
    script = (
        "import logging, sys, pathlib\n"
        "logging.basicConfig(level=logging.INFO, format='%(message)s', stream=sys.stdout)\n"
        "from release.hub import serve\n"
        "serve('127.0.0.1', 0, pathlib.Path(sys.argv[1]), [])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "hub")], stdout=subprocess.PIPE, text=True, env=env
    ) as process:
        try:
            assert process.stdout is not None
            lines = [process.stdout.readline() for _ in range(3)]
            url = lines[0].split()[3]
            assert lines[0].startswith(f"Hub emulator serving {url} ")
            assert DEV_TOKEN in lines[1]
            assert HfApi(endpoint=url, token=DEV_TOKEN).whoami()["name"] == "dev"
        finally:
            process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
        assert process.stdout.read().splitlines()[-1] == f"Hub emulator on {url} stopped"
