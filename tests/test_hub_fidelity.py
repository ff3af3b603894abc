"""Fidelity: every client call of docs/hub-api.md (Client calls), made by the real huggingface_hub 2.4.0.

The ``wire`` fixture records every response the client receives (through ``set_client_factory``, the
client's public hook for configuring its HTTP session) and, after each test, checks the invariants the
client silently depends on (docs/hub-api.md, What the client relies on): no Xet header, link or field
anywhere (6), every date ends in ``Z`` (5), and every not-found answer of a repo route carries
``X-Error-Code`` (4).

Checklist: each numbered row of docs/hub-api.md (Endpoints) and where it is proven (test_hub.py covers
some rows too):

 1 GET  /api/whoami-v2 ............ test_whoami_without_a_token; test_hub: test_whoami_*
 2 GET  /api/agent-harnesses ...... test_agent_harnesses_answers_without_auth
 3 POST /api/repos/create ......... test_repo_exists_for_missing_foreign_and_deleted_repos,
                                    test_create_repo_exist_ok_without_write_access; test_hub: test_create_*
 4 DEL  /api/repos/delete ......... test_repo_exists_for_missing_foreign_and_deleted_repos; test_hub: test_delete_repo
 5 GET  repo info [/revision/{r}] . test_repo_info_at_revisions_with_blobs_and_card_data,
                                    test_revision_and_file_exists, test_noop_commit_answers_from_the_revision
 6 GET  tree ...................... test_tree_pages_follow_link_headers, test_tree_expand_reports_last_commits,
                                    test_upload_folder_with_delete_patterns_then_delete_files
 7 POST paths-info (form) ......... test_tree_expand_reports_last_commits, test_copy_from_another_revision
 8 GET  refs ...................... test_pull_request_from_a_parent_commit, test_branch_and_tag_rules
 9 GET  commits ................... test_commit_pages_are_newest_first_with_unique_ids
10 POST/DEL tag ................... test_branch_and_tag_rules, test_slash_revisions_work_on_every_endpoint
11 POST/DEL branch ................ test_branch_and_tag_rules, test_slash_revisions_work_on_every_endpoint
12 POST /api/validate-yaml ........ test_model_card_validate_and_push_to_hub,
                                    test_upload_folder_with_delete_patterns_then_delete_files
13 POST preupload ................. test_preupload_lfs_files_then_commit, test_noop_commit_answers_from_the_revision
14 POST LFS batch ................. test_preupload_lfs_files_then_commit, test_lfs_objects_belong_to_their_repo
15 PUT  LFS upload href ........... test_upload_link_is_bound_to_repo_oid_size_and_expiry
16 POST LFS verify href ........... test_upload_link_is_bound_to_repo_oid_size_and_expiry,
                                    test_lfs_objects_belong_to_their_repo
17 multipart ...................... not offered: test_preupload_lfs_files_then_commit asserts no ``chunk_size``
18 POST commit (NDJSON) ........... test_pull_request_from_a_parent_commit, test_commit_errors_map_to_exceptions,
                                    test_copy_from_another_revision, test_upload_folder_with_delete_patterns_*
19 HEAD/GET resolve ............... test_download_metadata_and_cache, test_revision_and_file_exists,
                                    test_slash_revisions_work_on_every_endpoint

The pull request routes (docs/hub-api.md, Discussions and pull requests; test_hub_discussions.py proves the others):
20 GET  discussions/{n} ........... test_merge_pull_request_squashes_it_onto_its_branch,
                                    test_conflicting_and_closed_pull_requests_are_not_merged
21 POST discussions/{n}/status .... test_conflicting_and_closed_pull_requests_are_not_merged
22 POST discussions/{n}/merge ..... test_merge_pull_request_squashes_it_onto_its_branch,
                                    test_conflicting_and_closed_pull_requests_are_not_merged

What the client relies on: 1 HEAD sizes: test_download_metadata_and_cache; 4 X-Error-Code, 5 dates, 6 Xet: every
test (the ``wire`` fixture); 7 the 409 ``url``: test_create_repo_exist_ok_without_write_access; 8 ``%2F``:
test_slash_revisions_work_on_every_endpoint; 9 ``deletedFolder`` with ``/``: test_upload_folder_*; 10 ``converts``:
test_pull_request_from_a_parent_commit; 12 no-op commits: test_noop_commit_answers_from_the_revision; 13 request
ids: test_every_answer_carries_a_request_id. The rows of Repository administration and Listings are proven in
test_hub_admin.py.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from uuid import uuid4

import httpx2
import pytest
from conftest import WRITE_TOKEN, RunningHub
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationCopy,
    CommitOperationDelete,
    DiscussionComment,
    DiscussionCommit,
    HfApi,
    ModelCard,
    RepoFile,
    RepoFolder,
    get_hf_file_metadata,
    hf_hub_download,
    hf_hub_url,
    set_client_factory,
)
from huggingface_hub.errors import (
    BadRequestError,
    EntryNotFoundError,
    HfHubHTTPError,
    LocalTokenNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils._http import default_client_factory  # what set_client_factory starts with
from test_hub import new_repo, raw_request, status_of

from release.hub import HubServer, PageSizes, Token
from release.hub.repo import is_ignored, upload_mode

# --------------------------------------------------------------------------------------------------
# What the client saw on the wire

_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
_DATE_KEYS = frozenset({"date", "lastModified", "createdAt"})
_HEX40 = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class Exchange:
    """One response the client received."""

    method: str
    path: str  # as sent: still percent-encoded
    query: Mapping[str, list[str]]
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: Any  # the parsed JSON of non-download answers; None otherwise


class Wire:
    """Every response huggingface_hub receives, in order (its hook runs in the client's threads too)."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()

    def record(self, response: httpx2.Response) -> None:
        path, _, query = response.request.url.raw_path.decode("ascii").partition("?")
        body = None
        if "json" in response.headers.get("content-type", "") and "/resolve/" not in path:
            response.read()  # small API answers only: downloads keep streaming
            body = json.loads(response.content) if response.content else None
        exchange = Exchange(
            response.request.method,
            path,
            parse_qs(query),
            response.status_code,
            {name.lower(): value for name, value in response.headers.items()},
            body,
        )
        with self._lock:
            self.exchanges.append(exchange)

    def mark(self) -> int:
        return len(self.exchanges)

    def since(self, mark: int, method: str | None = None, contains: str = "") -> list[Exchange]:
        return [e for e in self.exchanges[mark:] if (method is None or e.method == method) and contains in e.path]


@pytest.fixture(scope="module")
def _recording() -> Iterator[Wire]:
    wire = Wire()

    def factory() -> httpx2.Client:
        client = default_client_factory()
        client.event_hooks["response"].append(wire.record)
        return client

    set_client_factory(factory)
    yield wire
    set_client_factory(default_client_factory)


@pytest.fixture(autouse=True)
def wire(_recording: Wire) -> Iterator[Wire]:
    """The recorded responses; after the test, the wire-level invariants hold for each one it caused."""
    mark = _recording.mark()
    yield _recording
    for exchange in _recording.exchanges[mark:]:
        where = f"{exchange.method} {exchange.path}"
        assert not [name for name in exchange.headers if name.startswith("x-xet")], where
        assert "xet-auth" not in exchange.headers.get("link", ""), where
        _check_json(exchange.body, where)
        repo_route = exchange.path.startswith(("/api/models/", "/api/datasets/")) or "/resolve/" in exchange.path
        if exchange.status == 404 and repo_route:
            assert exchange.headers.get("x-error-code"), where


def _check_json(value: Any, where: str) -> None:
    if isinstance(value, dict):
        assert "xetHash" not in value, where
        for key, item in value.items():
            if key in _DATE_KEYS:
                assert isinstance(item, str) and _DATE.fullmatch(item), f"{where}: {key}={item!r}"
            if key != "cardData":  # the user's own metadata may hold anything
                _check_json(item, where)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, where)


# --------------------------------------------------------------------------------------------------
# Fixtures and helpers


@pytest.fixture
def api(hub: RunningHub) -> HfApi:
    return HfApi(token=hub.token)


@pytest.fixture
def repo(api: HfApi) -> str:
    return new_repo(api)


@pytest.fixture(scope="module")
def paged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HfApi]:
    """A client of a second emulator whose listings page every 3 items (2 with expand, 2 commits)."""
    sizes = PageSizes(tree=3, tree_expanded=2, commits=2)
    with HubServer(tmp_path_factory.mktemp("paged-hub"), [Token("alice", WRITE_TOKEN)], page_sizes=sizes) as server:
        yield HfApi(endpoint=server.url, token=WRITE_TOKEN)


def add(path: str, content: bytes) -> CommitOperationAdd:
    return CommitOperationAdd(path_in_repo=path, path_or_fileobj=content)


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def lfs_pointer(data: bytes) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256(data)}\nsize {len(data)}\n".encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def auth(token: str, content_type: str = "application/json") -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": content_type}


def lfs_batch(hub: RunningHub, repo_id: str, token: str, content: bytes) -> dict[str, Any]:
    """The LFS batch answer for one object (raw: the client never shows it)."""
    request = {
        "operation": "upload",
        "transfers": ["basic"],
        "objects": [{"oid": sha256(content), "size": len(content)}],
    }
    response = raw_request(
        "POST",
        f"{hub.url}/{repo_id}.git/info/lfs/objects/batch",
        json.dumps(request).encode(),
        auth(token, "application/vnd.git-lfs+json"),
    )
    assert response.status == 200
    answer = response.json()
    assert isinstance(answer, dict)
    return answer


# --------------------------------------------------------------------------------------------------
# Identity (rows 1, 2)


def test_whoami_without_a_token(hub: RunningHub, wire: Wire) -> None:
    mark = wire.mark()
    with pytest.raises(LocalTokenNotFoundError):
        HfApi().whoami()
    with pytest.raises(ValueError, match="token"):
        HfApi().whoami(token=False)
    assert wire.since(mark) == []  # the client refuses before sending anything
    anonymous = raw_request("GET", f"{hub.url}/api/whoami-v2")
    assert anonymous.status == 401


def test_agent_harnesses_answers_without_auth(hub: RunningHub) -> None:
    response = raw_request("GET", f"{hub.url}/api/agent-harnesses")
    assert (response.status, response.json()) == (200, {"standardEnvVars": [], "harnesses": {}})


# --------------------------------------------------------------------------------------------------
# Repos (rows 3, 4, 5)


def test_repo_exists_for_missing_foreign_and_deleted_repos(hub: RunningHub, api: HfApi) -> None:
    dataset = new_repo(api, repo_type="dataset", private=True)
    assert api.repo_exists(dataset, repo_type="dataset")
    assert not api.repo_exists(dataset)  # a model repo of that name does not exist
    assert not HfApi(token=hub.other_token).repo_exists(dataset, repo_type="dataset")  # foreign and private
    assert not api.repo_exists(f"alice/missing-{uuid4().hex[:8]}")
    api.delete_repo(dataset, repo_type="dataset")
    assert not api.repo_exists(dataset, repo_type="dataset")
    api.delete_repo(dataset, repo_type="dataset", missing_ok=True)
    with pytest.raises(RepositoryNotFoundError):
        api.dataset_info(dataset)


def test_create_repo_exist_ok_without_write_access(hub: RunningHub, api: HfApi) -> None:
    public, private = new_repo(api), new_repo(api, private=True)
    bob = HfApi(token=hub.other_token)
    # 403 (bob may not write to alice's namespace): the client then asks repo_info and builds the URL itself
    assert bob.create_repo(public, exist_ok=True) == f"{hub.url}/{public}"
    with pytest.raises(HfHubHTTPError) as caught:
        bob.create_repo(private, exist_ok=True)  # repo_info fails too: the client re-raises
    assert status_of(caught.value) in (403, 404)
    with pytest.raises(HfHubHTTPError) as caught:
        api.create_repo(public)
    assert status_of(caught.value) == 409
    assert caught.value.response.json()["url"] == f"{hub.url}/{public}"


def test_repo_info_at_revisions_with_blobs_and_card_data(api: HfApi, repo: str) -> None:
    readme = b"---\nlicense: mit\nlibrary_name: transformers\ntags:\n- demo\n- tiny\ndate: 2024-01-02\n---\n# Card\n"
    weights, config = os.urandom(3000), b'{"layers": 2}\n'
    first = api.create_commit(
        repo,
        [add("README.md", readme), add("w.safetensors", weights), add("config.json", config)],
        commit_message="v1",
    )
    api.create_tag(repo, tag="v1")
    with pytest.warns(UserWarning, match="empty or missing yaml metadata in repo card"):  # as the Hub warns
        api.upload_file(path_or_fileobj=b"# No metadata\n", path_in_repo="README.md", repo_id=repo)

    info = api.model_info(repo, revision="v1", files_metadata=True)
    assert info.sha == first.oid
    assert info.card_data is not None and info.card_data.license == "mit"
    assert info.card_data.get("date") == "2024-01-02"  # YAML dates become JSON strings
    assert (info.library_name, info.tags) == ("transformers", ["demo", "tiny"])
    assert info.last_modified is not None and info.last_modified.tzinfo == UTC
    assert info.created_at is not None and info.created_at <= info.last_modified
    siblings = {s.rfilename: s for s in info.siblings or []}
    assert sorted(siblings) == [".gitattributes", "README.md", "config.json", "w.safetensors"]
    assert (siblings["config.json"].size, siblings["config.json"].blob_id) == (len(config), git_oid(config))
    assert siblings["config.json"].lfs is None
    lfs = siblings["w.safetensors"].lfs
    assert lfs is not None
    assert (lfs.sha256, lfs.size, lfs.pointer_size) == (sha256(weights), 3000, len(lfs_pointer(weights)))
    assert siblings["w.safetensors"].blob_id == git_oid(lfs_pointer(weights))

    head = api.model_info(repo)
    assert (head.card_data, head.tags) == (None, [])
    assert [s.size for s in head.siblings or []] == [None] * 4  # sizes only with files_metadata
    assert api.model_info(repo, revision=first.oid[:6]).sha == first.oid
    only = api.model_info(repo, expand=["sha", "cardData"])
    assert (only.sha, only.card_data, only.siblings, only.private) == (head.sha, None, None, None)


def test_revision_and_file_exists(hub: RunningHub, api: HfApi) -> None:
    private = new_repo(api, private=True)
    commit = api.upload_file(path_or_fileobj=b"x", path_in_repo="dir/x.txt", repo_id=private)
    api.create_tag(private, tag="v1")
    for revision in ("main", "v1", commit.oid, commit.oid[:5]):
        assert api.revision_exists(private, revision)
    assert not api.revision_exists(private, "nope")
    assert not api.revision_exists(f"alice/missing-{uuid4().hex[:8]}", "main")
    assert not HfApi(token=hub.other_token).revision_exists(private, "main")

    assert api.file_exists(private, "dir/x.txt", revision="v1")
    assert not api.file_exists(private, "dir/y.txt")
    assert not api.file_exists(private, "dir/x.txt", revision="nope")
    assert not api.file_exists(f"alice/missing-{uuid4().hex[:8]}", "x.txt")
    assert not HfApi(token=hub.other_token).file_exists(private, "dir/x.txt")
    assert HfApi(token=hub.read_token).file_exists(private, "dir/x.txt")


# --------------------------------------------------------------------------------------------------
# Listings (rows 6, 7, 9)


def test_tree_pages_follow_link_headers(paged: HfApi, wire: Wire, tmp_path: Path) -> None:
    repo_id = new_repo(paged)
    files = {f"d{d}/f{f}.txt": f"{d}{f}".encode() for d in range(3) for f in range(3)}
    paged.create_commit(repo_id, [add(p, c) for p, c in files.items()], commit_message="nine files")

    mark = wire.mark()
    assert paged.list_repo_files(repo_id) == [".gitattributes", *sorted(files)]
    pages = wire.since(mark, "GET", "/tree/")
    assert len(pages) == 5  # 13 entries (9 files, 3 folders, .gitattributes), 3 per page
    for page in pages[:-1]:
        assert re.fullmatch(rf'<{re.escape(paged.endpoint)}/api/models/{repo_id}/tree/main\?.*>; rel="next"',
                            page.headers["link"])  # fmt: skip
    assert "link" not in pages[-1].headers

    root = paged.list_repo_tree(repo_id)
    assert [(type(e), e.path) for e in root] == [(RepoFile, ".gitattributes")] + [
        (RepoFolder, f"d{d}") for d in range(3)
    ]
    under = [e.path for e in paged.list_repo_tree(repo_id, path_in_repo="d1", recursive=True)]
    assert under == ["d1/f0.txt", "d1/f1.txt", "d1/f2.txt"]

    tagged = paged.create_commit(repo_id, [CommitOperationDelete("d2/")], commit_message="rm d2").oid
    paged.create_tag(repo_id, tag="v1")
    paged.upload_file(path_or_fileobj=b"later", path_in_repo="later.txt", repo_id=repo_id)
    mark = wire.mark()
    snapshot = Path(paged.snapshot_download(repo_id, revision="v1", cache_dir=tmp_path / "cache"))
    assert snapshot.name == tagged
    kept = {p: c for p, c in files.items() if not p.startswith("d2/")}
    assert {p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file()} == {
        ".gitattributes",
        *kept,
    }
    assert {p: (snapshot / p).read_bytes() for p in kept} == kept
    listing = [e.path for e in wire.since(mark, "GET") if "/resolve/" not in e.path]
    assert listing[0] == f"/api/models/{repo_id}/revision/v1"  # then the tree of the sha it names, in pages
    assert set(listing[1:]) == {f"/api/models/{repo_id}/tree/{tagged}"} and len(listing) == 4


def test_tree_expand_reports_last_commits(paged: HfApi, wire: Wire) -> None:
    repo_id = new_repo(paged)
    c1 = paged.create_commit(repo_id, [add("a.txt", b"a"), add("dir/b.txt", b"b1")], commit_message="one")
    c2 = paged.create_commit(repo_id, [add("dir/b.txt", b"b2")], commit_message="two <b>")
    c3 = paged.create_commit(repo_id, [add("c.txt", b"c"), add("dir/b.txt", b"b2")], commit_message="three")
    initial = paged.list_repo_commits(repo_id)[-1]

    mark = wire.mark()
    root = {entry.path: entry for entry in paged.list_repo_tree(repo_id, expand=True)}
    assert len(wire.since(mark, "GET", "/tree/")) == 2  # 4 entries, 2 per page with expand
    last = {path: entry.last_commit for path, entry in root.items()}
    assert {path: commit.oid for path, commit in last.items() if commit} == {
        ".gitattributes": initial.commit_id,
        "a.txt": c1.oid,
        "c.txt": c3.oid,
        "dir": c2.oid,  # c3 re-added dir/b.txt unchanged: the folder did not change
    }
    dir_commit = last["dir"]
    assert dir_commit is not None and dir_commit.title == "two <b>" and dir_commit.date.tzinfo == UTC

    (nested,) = paged.list_repo_tree(repo_id, path_in_repo="dir", expand=True)
    assert nested.path == "dir/b.txt" and nested.last_commit is not None and nested.last_commit.oid == c2.oid
    infos = paged.get_paths_info(repo_id, ["a.txt", "dir", "missing"], expand=True)
    assert [(i.path, i.last_commit.oid if i.last_commit else None) for i in infos] == [
        ("a.txt", c1.oid),
        ("dir", c2.oid),
    ]
    assert all(i.last_commit is None for i in paged.get_paths_info(repo_id, ["a.txt", "dir"]))


def test_commit_pages_are_newest_first_with_unique_ids(paged: HfApi, wire: Wire) -> None:
    repo_id = new_repo(paged)
    titles = [f"commit {n} <&>" for n in range(1, 6)]
    for n, title in enumerate(titles):
        paged.upload_file(path_or_fileobj=str(n).encode(), path_in_repo="n.txt", repo_id=repo_id, commit_message=title)

    mark = wire.mark()
    commits = paged.list_repo_commits(repo_id)
    assert len(wire.since(mark, "GET", "/commits/")) == 3  # 6 commits, 2 per page
    assert [c.title for c in commits] == [*reversed(titles), "initial commit"]
    assert all(_HEX40.fullmatch(c.commit_id) for c in commits)
    assert len({c.commit_id for c in commits}) == 6
    assert [c.created_at for c in commits] == sorted((c.created_at for c in commits), reverse=True)
    assert commits[0].formatted_title is None

    formatted = paged.list_repo_commits(repo_id, formatted=True)
    assert formatted[0].formatted_title == html.escape(titles[-1])
    assert [c.commit_id for c in formatted] == [c.commit_id for c in commits]
    with pytest.raises(RevisionNotFoundError):
        paged.list_repo_commits(repo_id, revision="nope")


# --------------------------------------------------------------------------------------------------
# Refs (rows 8, 10, 11)


def test_branch_and_tag_rules(hub: RunningHub, api: HfApi, repo: str) -> None:
    first = api.upload_file(path_or_fileobj=b"1", path_in_repo="f.txt", repo_id=repo)
    api.create_branch(repo, branch="dev", revision=first.oid)
    with pytest.raises(HfHubHTTPError) as caught:
        api.create_branch(repo, branch="dev")
    assert status_of(caught.value) == 409
    reader = HfApi(token=hub.read_token)
    reader.create_branch(repo, branch="dev", exist_ok=True)  # 403, then found among the refs: no error
    with pytest.raises(HfHubHTTPError) as caught:
        reader.create_branch(repo, branch="other", exist_ok=True)
    assert status_of(caught.value) == 403
    with pytest.raises(BadRequestError):
        api.create_branch(repo, branch="bad..name")
    with pytest.raises(RevisionNotFoundError):
        api.create_branch(repo, branch="from-nothing", revision="nope")
    with pytest.raises(RevisionNotFoundError):
        api.delete_branch(repo, branch="nope")
    with pytest.raises(BadRequestError):
        api.delete_branch(repo, branch="main")

    api.create_tag(repo, tag="v1", tag_message="first release", revision="dev")
    with pytest.raises(BadRequestError):
        api.create_tag(repo, tag="bad tag")
    with pytest.raises(RevisionNotFoundError):
        api.create_tag(repo, tag="v2", revision="0" * 40)
    refs = api.list_repo_refs(repo)
    assert [(b.name, b.ref, b.target_commit) for b in refs.branches if b.name == "dev"] == [
        ("dev", "refs/heads/dev", first.oid)
    ]
    assert [(t.name, t.ref, t.target_commit) for t in refs.tags] == [("v1", "refs/tags/v1", first.oid)]
    assert (refs.converts, refs.pull_requests) == ([], None)
    api.delete_branch(repo, branch="dev")
    assert Path(hf_hub_download(repo, "f.txt", revision="v1")).read_bytes() == b"1"  # the tag outlives it


def test_slash_revisions_work_on_every_endpoint(api: HfApi, repo: str, wire: Wire) -> None:
    mark = wire.mark()
    api.create_branch(repo, branch="feat/x")
    nested = "dir with space/sub/\u00e9#1.txt"
    commit = api.upload_file(path_or_fileobj=b"on feat/x", path_in_repo=nested, repo_id=repo, revision="feat/x")
    api.create_tag(repo, tag="rel/2", revision="feat/x")
    assert api.model_info(repo, revision="rel/2").sha == commit.oid
    assert api.list_repo_commits(repo, revision="feat/x")[0].commit_id == commit.oid
    tree = api.list_repo_tree(repo, path_in_repo="dir with space/sub", revision="rel/2")
    assert [e.path for e in tree] == [nested]
    (info,) = api.get_paths_info(repo, [nested], revision="feat/x")
    assert isinstance(info, RepoFile) and info.size == 9
    assert Path(hf_hub_download(repo, nested, revision="rel/2")).read_bytes() == b"on feat/x"
    api.delete_tag(repo, tag="rel/2")
    api.delete_branch(repo, branch="feat/x")

    paths = [e.path for e in wire.since(mark)]
    for route in ("branch", "preupload", "commit", "tag", "revision", "commits", "tree", "paths-info"):
        assert any(f"/{route}/feat%2Fx" in p or f"/{route}/rel%2F2" in p for p in paths), route
    assert any("/tree/rel%2F2/dir%20with%20space%2Fsub" in p for p in paths)  # path_in_repo: one segment
    assert any("/resolve/rel%2F2/dir%20with%20space/sub/%C3%A9%231.txt" in p for p in paths)
    assert api.list_repo_refs(repo).tags == []


# --------------------------------------------------------------------------------------------------
# Uploads and commits (rows 12-18)


def test_preupload_lfs_files_then_commit(hub: RunningHub, api: HfApi, repo: str, wire: Wire) -> None:
    contents = {"w1.safetensors": os.urandom(4000), "w2.bin": os.urandom(5000)}
    additions = [add(path, content) for path, content in contents.items()]
    mark = wire.mark()
    api.preupload_lfs_files(repo, additions)
    assert len(wire.since(mark, "PUT", "/api/lfs-upload/")) == 2
    (batch,) = wire.since(mark, "POST", "/info/lfs/objects/batch")
    for item in batch.body["objects"]:
        assert "chunk_size" not in item["actions"]["upload"].get("header", {})  # basic transfer, no multipart
    assert all(op.path_or_fileobj == b"" for op in additions)  # the client freed the bytes (free_memory)

    mark = wire.mark()
    commit = api.create_commit(repo, additions, commit_message="preuploaded")
    assert wire.since(mark, "PUT") == []  # nothing sent twice: the commit names the objects (lfsFile)
    assert [e.method for e in wire.since(mark, contains="/commit/")] == ["POST"]
    for path, content in contents.items():
        assert Path(hf_hub_download(repo, path, revision=commit.oid)).read_bytes() == content
    # stored in this repo now: the batch answers without actions
    assert "actions" not in lfs_batch(hub, repo, hub.token, contents["w2.bin"])["objects"][0]


def test_noop_commit_answers_from_the_revision(hub: RunningHub, api: HfApi, repo: str, wire: Wire) -> None:
    api.create_branch(repo, branch="dev")
    operations = [add("a.txt", b"same"), add("w.safetensors", b"\x00" * 100)]
    first = api.create_commit(repo, operations, commit_message="add", revision="dev")
    mark = wire.mark()
    again = api.create_commit(
        repo, [add("a.txt", b"same"), add("w.safetensors", b"\x00" * 100)], commit_message="again", revision="dev"
    )
    assert (again.oid, again.commit_url) == (first.oid, f"{hub.url}/{repo}/commit/{first.oid}")
    assert [e.path for e in wire.since(mark, "GET")] == [f"/api/models/{repo}/revision/dev"]
    assert wire.since(mark, "POST", "/commit/") == []
    assert [c.title for c in api.list_repo_commits(repo, revision="dev")] == ["add", "initial commit"]


def test_pull_request_from_a_parent_commit(hub: RunningHub, api: HfApi, repo: str) -> None:
    v1 = api.upload_file(path_or_fileobj=b"v1", path_in_repo="a.txt", repo_id=repo)
    v2 = api.upload_file(path_or_fileobj=b"v2", path_in_repo="a.txt", repo_id=repo)
    pr = api.create_commit(
        repo, [add("b.txt", b"b")], commit_message="on v1", create_pr=True, parent_commit=v1.oid[:7]
    )  # with create_pr, the parent is the pull request's base
    assert (pr.pr_num, pr.pr_revision, pr.pr_url) == (1, "refs/pr/1", f"{hub.url}/{repo}/discussions/1")
    assert Path(hf_hub_download(repo, "a.txt", revision="refs/pr/1")).read_bytes() == b"v1"
    assert api.list_repo_files(repo, revision=pr.pr_revision) == [".gitattributes", "a.txt", "b.txt"]
    second = api.create_commit(repo, [CommitOperationDelete("a.txt")], commit_message="rm", create_pr=True)
    assert second.pr_revision == "refs/pr/2"
    assert api.repo_info(repo).sha == v2.oid  # main untouched
    refs = api.list_repo_refs(repo, include_pull_requests=True)
    assert [(p.name, p.ref, p.target_commit) for p in refs.pull_requests or []] == [
        ("refs/pr/1", "refs/pr/1", pr.oid),
        ("refs/pr/2", "refs/pr/2", second.oid),
    ]
    assert refs.converts == []
    api.create_tag(repo, tag="pr-one", revision="refs/pr/1")
    assert api.repo_info(repo, revision="pr-one").sha == pr.oid


def test_commit_errors_map_to_exceptions(api: HfApi, repo: str) -> None:
    api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo)
    api.create_tag(repo, tag="v1")
    head = api.repo_info(repo).sha
    with pytest.raises(BadRequestError, match="commit to a branch"):
        api.upload_file(path_or_fileobj=b"y", path_in_repo="y.txt", repo_id=repo, revision="v1")
    with pytest.raises(RevisionNotFoundError):
        api.upload_file(path_or_fileobj=b"y", path_in_repo="y.txt", repo_id=repo, revision="nope")
    with pytest.raises(RevisionNotFoundError):
        api.delete_file("x.txt", repo, revision="nope")
    with pytest.raises(EntryNotFoundError):
        api.delete_folder("no-such-dir", repo)
    with pytest.raises(RepositoryNotFoundError):
        api.upload_file(path_or_fileobj=b"y", path_in_repo="y.txt", repo_id=f"alice/missing-{uuid4().hex[:8]}")
    with pytest.raises(HfHubHTTPError) as caught:
        api.upload_file(path_or_fileobj=b"y", path_in_repo="y.txt", repo_id=repo, parent_commit="0" * 40)
    assert status_of(caught.value) == 412
    assert api.repo_info(repo).sha == head


def test_copy_from_another_revision(api: HfApi, repo: str) -> None:
    weights_v1, weights_v2 = os.urandom(2000), os.urandom(2000)
    api.create_commit(repo, [add("w.safetensors", weights_v1), add("a.txt", b"a1")], commit_message="v1")
    api.create_tag(repo, tag="v1")
    api.create_commit(repo, [add("w.safetensors", weights_v2), add("a.txt", b"a2")], commit_message="v2")
    api.create_commit(
        repo,
        [
            CommitOperationCopy(src_path_in_repo="w.safetensors", path_in_repo="old/w.safetensors", src_revision="v1"),
            CommitOperationCopy(src_path_in_repo="a.txt", path_in_repo="old/a.txt", src_revision="v1"),
        ],
        commit_message="keep v1",
    )
    assert Path(hf_hub_download(repo, "old/w.safetensors")).read_bytes() == weights_v1
    assert Path(hf_hub_download(repo, "old/a.txt")).read_bytes() == b"a1"
    assert Path(hf_hub_download(repo, "w.safetensors")).read_bytes() == weights_v2


def test_upload_folder_with_delete_patterns_then_delete_files(paged: HfApi, wire: Wire, tmp_path: Path) -> None:
    assert not hasattr(HfApi, "upload_large_folder")  # gone in 2.4.0 (docs/hub-api.md, Client calls)
    repo_id = new_repo(paged)
    folder = tmp_path / "folder"
    layout = {
        "README.md": b"---\nlicense: apache-2.0\n---\n# Model\n",
        "a.txt": b"a",
        "logs/1.log": b"1",
        "logs/2.log": b"2",
        "sub/c.bin": b"\x00c",
        "sub/deep/d.txt": b"d",
    }
    for path, content in layout.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(content)
    mark = wire.mark()
    paged.upload_folder(repo_id=repo_id, folder_path=folder)
    assert len(wire.since(mark, "POST", "/api/validate-yaml")) == 2  # the folder's README, then the commit's
    assert len(wire.since(mark, "POST", "/commit/")) == 1
    assert paged.model_info(repo_id).card_data is not None

    (folder / "a.txt").write_bytes(b"a2")
    for log in ("logs/1.log", "logs/2.log"):
        (folder / log).unlink()
    paged.upload_folder(repo_id=repo_id, folder_path=folder, delete_patterns=["*.log"])
    assert paged.list_repo_files(repo_id) == [".gitattributes", "README.md", "a.txt", "sub/c.bin", "sub/deep/d.txt"]

    paged.delete_files(repo_id, delete_patterns=["*.bin"])
    paged.create_commit(repo_id, [CommitOperationDelete("sub/")], commit_message="rm sub")  # trailing slash
    assert paged.list_repo_files(repo_id) == [".gitattributes", "README.md", "a.txt"]
    assert [c.title for c in paged.list_repo_commits(repo_id)][:3] == [
        "rm sub",
        "Delete files *.bin with huggingface_hub",
        "Upload folder using huggingface_hub",
    ]


def test_model_card_validate_and_push_to_hub(hub: RunningHub, api: HfApi, repo: str, wire: Wire) -> None:
    card = ModelCard("---\nlicense: mit\nlanguage: en\n---\n# Tiny model\n")
    mark = wire.mark()
    card.validate()
    (validation,) = wire.since(mark)
    assert (validation.path, validation.status) == ("/api/validate-yaml", 200)
    card.push_to_hub(repo, token=hub.token)
    assert len(wire.since(mark, "POST", "/api/validate-yaml")) == 3  # validate, push's check, the commit's
    loaded = ModelCard.load(repo, token=hub.token).data
    assert (loaded.license, loaded.language) == ("mit", "en")
    info = api.model_info(repo)
    assert info.card_data is not None and (info.card_data.license, info.card_data.get("language")) == ("mit", "en")


# --------------------------------------------------------------------------------------------------
# Pull requests: details, status and merge (rows 20, 21, 22)


def test_merge_pull_request_squashes_it_onto_its_branch(hub: RunningHub, api: HfApi, repo: str, wire: Wire) -> None:
    weights = os.urandom(3000)
    api.create_commit(repo, [add("a.txt", b"a"), add("gone.txt", b"g")], commit_message="start")
    pr = api.create_commit(
        repo,
        [add("w.safetensors", weights), add("b.txt", b"b"), CommitOperationDelete("gone.txt")],
        commit_message="Propose weights",
        commit_description="Please review",
        create_pr=True,
    )
    assert pr.pr_num == 1
    update = api.upload_file(path_or_fileobj=b"b2", path_in_repo="b.txt", repo_id=repo, revision="refs/pr/1")
    moved = api.upload_file(path_or_fileobj=b"c", path_in_repo="c.txt", repo_id=repo)  # main moves: no conflict

    opened = api.get_discussion_details(repo, 1)
    assert (opened.status, opened.is_pull_request, opened.author) == ("open", True, "alice")
    assert opened.title == "Propose weights"
    assert (opened.target_branch, opened.merge_commit_oid, opened.conflicting_files) == ("refs/heads/main", None, [])
    assert [type(e).__name__ for e in opened.events] == ["DiscussionComment", "DiscussionCommit", "DiscussionCommit"]
    comment, first, second = opened.events
    assert isinstance(comment, DiscussionComment) and comment.content == "Please review"
    assert isinstance(first, DiscussionCommit) and (first.oid, first.summary) == (pr.oid, "Propose weights")
    assert isinstance(second, DiscussionCommit) and second.oid == update.oid

    mark = wire.mark()
    api.merge_pull_request(repo, 1, comment="Thanks!")
    (merge,) = wire.since(mark, "POST", "/discussions/1/merge")
    assert merge.status == 200 and merge.body["newStatus"]["data"] == {"status": "merged"}

    merged = api.get_discussion_details(repo, 1)
    head = api.repo_info(repo).sha
    assert (merged.status, merged.merge_commit_oid, merged.conflicting_files) == ("merged", head, [])
    assert [(type(e).__name__, getattr(e, "new_status", None)) for e in merged.events][-2:] == [
        ("DiscussionComment", None),
        ("DiscussionStatusChange", "merged"),
    ]
    commits = api.list_repo_commits(repo)
    assert [c.commit_id for c in commits[:2]] == [head, moved.oid]  # one commit, on top of the moved branch
    assert (commits[0].title, commits[0].message) == ("Propose weights (#1)", "Please review")
    assert api.list_repo_files(repo) == [".gitattributes", "a.txt", "b.txt", "c.txt", "w.safetensors"]
    assert Path(hf_hub_download(repo, "b.txt")).read_bytes() == b"b2"
    assert Path(hf_hub_download(repo, "w.safetensors")).read_bytes() == weights
    with pytest.raises(BadRequestError, match="is merged"):
        api.merge_pull_request(repo, 1)
    with pytest.raises(BadRequestError, match="is merged"):
        api.change_discussion_status(repo, 1, "closed")
    assert api.repo_info(repo).sha == head


def test_conflicting_and_closed_pull_requests_are_not_merged(hub: RunningHub, api: HfApi, repo: str) -> None:
    api.upload_file(path_or_fileobj=b"v1", path_in_repo="a.txt", repo_id=repo)
    proposal = [add("a.txt", b"proposed"), add("x/y.txt", b"y")]
    api.create_commit(repo, proposal, commit_message="change a", create_pr=True)
    main = api.upload_file(path_or_fileobj=b"v2", path_in_repo="a.txt", repo_id=repo)  # the same file, differently
    assert api.get_discussion_details(repo, 1).conflicting_files == ["a.txt"]
    with pytest.raises(HfHubHTTPError, match=r"both sides changed a\.txt") as caught:
        api.merge_pull_request(repo, 1)
    assert status_of(caught.value) == 409
    assert api.repo_info(repo).sha == main.oid and api.get_discussion_details(repo, 1).status == "open"

    closing = api.change_discussion_status(repo, 1, "closed", comment="Superseded")
    assert (closing.new_status, closing.author) == ("closed", "alice")
    closed = api.get_discussion_details(repo, 1)
    assert closed.status == "closed" and closing.id in [e.id for e in closed.events]
    assert closed.conflicting_files == []
    with pytest.raises(BadRequestError, match="is closed"):
        api.merge_pull_request(repo, 1)
    assert api.change_discussion_status(repo, 1, "open").new_status == "open"
    api.upload_file(path_or_fileobj=b"v2", path_in_repo="a.txt", repo_id=repo, revision="refs/pr/1")  # resolved
    assert api.get_discussion_details(repo, 1).conflicting_files == []
    api.merge_pull_request(repo, 1)
    assert api.list_repo_files(repo) == [".gitattributes", "a.txt", "x/y.txt"]
    assert Path(hf_hub_download(repo, "a.txt")).read_bytes() == b"v2"


# --------------------------------------------------------------------------------------------------
# LFS objects and upload links (rows 14, 15, 16)


def test_lfs_objects_belong_to_their_repo(hub: RunningHub, api: HfApi) -> None:
    """Knowing the sha256 of a private file gives another user neither its content nor a hint it exists."""
    secret = os.urandom(6000)
    private = new_repo(api, private=True)
    api.upload_file(path_or_fileobj=secret, path_in_repo="secret.safetensors", repo_id=private)
    bob = HfApi(token=hub.other_token)
    theirs = new_repo(bob, "bob")

    (item,) = lfs_batch(hub, theirs, hub.other_token, secret)["objects"]
    assert set(item["actions"]) == {"upload", "verify"}  # not "already stored": bob must send the bytes
    verify = raw_request(
        "POST",
        item["actions"]["verify"]["href"],
        json.dumps({"oid": sha256(secret), "size": len(secret)}).encode(),
        auth(hub.other_token),
    )
    assert verify.status == 404
    pointer = json.dumps({"key": "lfsFile", "value": {"path": "stolen.bin", "algo": "sha256", "oid": sha256(secret)}})
    header = json.dumps({"key": "header", "value": {"summary": "steal", "description": ""}})
    steal = raw_request(
        "POST",
        f"{hub.url}/api/models/{theirs}/commit/main",
        f"{header}\n{pointer}\n".encode(),
        auth(hub.other_token, "application/x-ndjson"),
    )
    assert steal.status == 400 and "upload it first" in steal.json()["error"]  # type: ignore[index]
    assert bob.list_repo_files(theirs) == [".gitattributes"]

    # Whoever has the bytes may upload them, and then has the file.
    bob.upload_file(path_or_fileobj=secret, path_in_repo="mine.safetensors", repo_id=theirs)
    assert Path(hf_hub_download(theirs, "mine.safetensors", token=hub.other_token)).read_bytes() == secret


def test_upload_link_is_bound_to_repo_oid_size_and_expiry(hub: RunningHub, api: HfApi, repo: str) -> None:
    content, other = os.urandom(3000), os.urandom(3000)
    (item,) = lfs_batch(hub, repo, hub.token, content)["objects"]
    href = item["actions"]["upload"]["href"]
    parts = urlsplit(href)
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    assert set(query) == {"repo", "size", "expires", "signature"}
    assert "authorization" not in {name.lower() for name in item["actions"]["upload"].get("header", {})}

    def put(oid: str, body: bytes, **changes: str) -> int:
        url = f"{parts.scheme}://{parts.netloc}/api/lfs-upload/{oid}?{urlencode(query | changes)}"
        return raw_request("PUT", url, body).status

    bob_repo = new_repo(HfApi(token=hub.other_token), "bob")
    assert put(sha256(other), other) == 403  # replayed for another object of the same size
    assert put(sha256(content), content, repo=f"model:{bob_repo}") == 403  # for another repo
    assert put(sha256(content), content, size="3001") == 403
    assert put(sha256(content), content, expires=str(int(query["expires"]) + 60)) == 403
    assert put(sha256(content), content, signature="0" * 64) == 403
    assert put(sha256(content), content[:-1]) == 400  # Content-Length differs from the signed size
    for oid in (sha256(content), sha256(other)):
        assert not (hub.storage / "objects" / oid[:2] / oid[2:]).exists()
    assert list((hub.storage / "tmp").iterdir()) == []

    assert put(sha256(content), content) == 200
    verify = json.dumps({"oid": sha256(content), "size": len(content)}).encode()
    assert raw_request("POST", item["actions"]["verify"]["href"], verify, auth(hub.token)).status == 200


# --------------------------------------------------------------------------------------------------
# Downloads (row 19)


def test_download_metadata_and_cache(hub: RunningHub, api: HfApi, repo: str, wire: Wire, tmp_path: Path) -> None:
    text, weights = b"t" * 100, os.urandom(5000)
    commit = api.create_commit(repo, [add("t.txt", text), add("w.safetensors", weights)], commit_message="add")

    regular = get_hf_file_metadata(hf_hub_url(repo, "t.txt"), token=hub.token)
    assert (regular.size, regular.etag, regular.commit_hash) == (100, git_oid(text), commit.oid)  # HEAD sizes: not 0
    lfs = get_hf_file_metadata(hf_hub_url(repo, "w.safetensors", revision="refs/heads/main"))  # quoted: %2F
    assert (lfs.size, lfs.etag, lfs.commit_hash) == (5000, sha256(weights), commit.oid)

    cache = tmp_path / "cache"
    for path, content in (("t.txt", text), ("w.safetensors", weights)):
        downloaded = Path(hf_hub_download(repo, path, revision=commit.oid, cache_dir=cache))
        assert downloaded.read_bytes() == content
        mark = wire.mark()
        assert Path(hf_hub_download(repo, path, revision=commit.oid, cache_dir=cache)) == downloaded
        assert wire.since(mark) == []  # a 40-hex revision whose file is cached: no request at all
    blobs = sorted(p.name for p in (cache / f"models--{repo.replace('/', '--')}" / "blobs").iterdir())
    assert blobs == sorted([git_oid(text), sha256(weights)])  # cached by X-Linked-Etag, else ETag


# --------------------------------------------------------------------------------------------------
# Where the emulator once differed from the Hub (issue 18): ids, upload rules, statuses, request ids


def test_repo_ids_without_a_namespace_are_missing_repos(api: HfApi, wire: Wire) -> None:
    assert not api.repo_exists("gpt2")
    assert not api.repo_exists("gpt2", repo_type="dataset")
    assert not api.file_exists("gpt2", "config.json")
    assert not api.revision_exists("gpt2", "main")
    with pytest.raises(RepositoryNotFoundError):
        api.list_repo_commits("gpt2")
    with pytest.raises(RepositoryNotFoundError, match=r"\(Request ID: .+\)"):
        api.delete_repo("repo-that-does-not-exist")


def test_repo_ids_are_case_insensitive(api: HfApi) -> None:
    repo = f"alice/CaSe-{uuid4().hex[:8]}"
    api.create_repo(repo)
    api.create_commit(repo.lower(), [add("file.txt", b"c"), add("lfs.bin", b"L")], commit_message="lower")
    assert set(api.list_repo_files(repo)) == {".gitattributes", "file.txt", "lfs.bin"}
    assert api.model_info(repo.upper()).id == repo  # the name it was created with
    with pytest.raises(HfHubHTTPError) as caught:
        api.create_repo(repo.lower())
    assert status_of(caught.value) == 409


def test_preupload_follows_the_repos_gitattributes_and_gitignore(api: HfApi, repo: str, tmp_path: Path) -> None:
    api.upload_file(
        path_or_fileobj=b"*.png filter=lfs diff=lfs merge=lfs -text\n", path_in_repo=".gitattributes", repo_id=repo
    )
    api.upload_file(path_or_fileobj=b"image", path_in_repo="image.png", repo_id=repo)
    api.upload_file(path_or_fileobj=b"binary-named", path_in_repo="model.bin", repo_id=repo)  # no longer an LFS name
    entries = {e.path: e for e in api.get_paths_info(repo, ["image.png", "model.bin"])}
    assert isinstance(entries["image.png"], RepoFile) and entries["image.png"].lfs is not None
    assert isinstance(entries["model.bin"], RepoFile) and entries["model.bin"].lfs is None

    folder = tmp_path / "upload"
    (folder / "nested").mkdir(parents=True)
    (folder / "nested" / "file.bin").write_bytes(b"ignored")
    (folder / "kept.txt").write_bytes(b"kept")
    (folder / "debug.log").write_bytes(b"log")
    api.upload_file(path_or_fileobj=b"nested/*\n", path_in_repo=".gitignore", repo_id=repo)  # already in the repo
    api.upload_folder(folder_path=folder, repo_id=repo)
    assert not api.file_exists(repo, "nested/file.bin")
    assert api.file_exists(repo, "kept.txt") and api.file_exists(repo, "debug.log")
    (folder / ".gitignore").write_text("*.log\n")  # a .gitignore in the same commit wins
    (folder / "new.log").write_bytes(b"new log")
    api.upload_folder(folder_path=folder, repo_id=repo)
    assert not api.file_exists(repo, "new.log")


def test_paths_and_folders_as_the_hub_takes_them(api: HfApi, repo: str) -> None:
    api.create_commit(repo, [add("1/a.txt", b"a"), add("1/2/b.txt", b"b")], commit_message="folders")
    api.create_commit(repo, [CommitOperationDelete(path_in_repo="1")], commit_message="no trailing slash")
    assert api.list_repo_files(repo) == [".gitattributes"]
    with pytest.raises(HfHubHTTPError) as caught:
        api.upload_file(path_or_fileobj=b"x", path_in_repo="..\\ddd", repo_id=repo)
    assert status_of(caught.value) == 422
    commit = api.upload_file(path_or_fileobj=b"x", path_in_repo="folder/..\\..\\file", repo_id=repo)
    assert commit.oid  # a backslash later in the name is a file name like any other, as on the Hub


def test_statuses_and_texts_the_client_matches(api: HfApi, repo: str) -> None:
    head = api.list_repo_refs(repo).branches[0].target_commit
    with pytest.raises(RevisionNotFoundError):
        api.create_commit(repo, [add("f.txt", b"x")], commit_message="PR on a commit", revision=head, create_pr=True)
    with pytest.raises(RevisionNotFoundError):
        api.create_tag(repo, tag="invalid tag", revision="foobar")  # the missing revision first
    with pytest.raises(HfHubHTTPError, match="Invalid rev id"):
        api.delete_branch(repo, branch="cool-branch")
    with pytest.raises(HfHubHTTPError, match="Cannot delete refs/heads/main"):
        api.delete_branch(repo, branch="main")


def test_a_pull_request_on_a_public_repo_of_another_user(hub: RunningHub, api: HfApi, repo: str) -> None:
    bob = HfApi(token=hub.other_token)
    operations = [add("regular.txt", b"from bob"), add("lfs.pkl", b"pickled by bob")]
    commit = bob.create_commit(repo, operations, commit_message="bob's PR", create_pr=True)
    assert commit.pr_num == 1
    assert api.list_repo_files(repo) == [".gitattributes"]  # main is untouched
    assert set(api.list_repo_files(repo, revision="refs/pr/1")) == {".gitattributes", "regular.txt", "lfs.pkl"}
    with pytest.raises(HfHubHTTPError) as caught:
        bob.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo)  # straight to main: no
    assert status_of(caught.value) == 403


def test_every_answer_carries_a_request_id(hub: RunningHub, repo: str) -> None:
    mine = raw_request("GET", f"{hub.url}/api/models/{repo}", headers={"X-Request-Id": "custom-id"})
    assert mine.headers["x-request-id"] == "custom-id"
    traced = raw_request("GET", f"{hub.url}/api/whoami-v2", headers={"X-Amzn-Trace-Id": "trace-1"})
    assert (traced.status, traced.headers["x-request-id"]) == (401, "trace-1")
    fresh = [raw_request("GET", f"{hub.url}/{path}").headers["x-request-id"] for path in ("", "api/nothing")]
    assert all(len(value) == 36 for value in fresh) and fresh[0] != fresh[1]  # UUIDs, also on pages and 404s
    odd = raw_request("GET", f"{hub.url}/api/models/{repo}", headers={"X-Request-Id": "a b\tc"})
    assert len(odd.headers["x-request-id"]) == 36  # not echoed: only plain tokens are
    rebound = raw_request("GET", f"{hub.url}/api/whoami-v2", headers={"Host": "evil.example", "X-Request-Id": "r-1"})
    assert (rebound.status, rebound.headers["x-request-id"]) == (421, "r-1")  # refusals in front of the API too


def test_the_hub_ci_user_namespace_is_served(tmp_path: Path) -> None:
    token = Token("__DUMMY_HUB_USER__", "hf_ci_token")
    with HubServer(tmp_path / "hub", [token]) as server:
        ci = HfApi(endpoint=server.url, token="hf_ci_token")
        url = ci.create_repo("repo-ci")
        assert url.repo_id == "__DUMMY_HUB_USER__/repo-ci"
        ci.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=url.repo_id)
        assert ci.list_repo_files(url.repo_id) == [".gitattributes", "x.txt"]


@pytest.mark.parametrize(
    ("path", "gitignore", "ignored"),
    [
        ("nested/file.bin", "nested/*\n", True),
        ("a/nested/file.bin", "nested/*\n", False),  # a pattern with a "/" is anchored at the root
        ("a/b/debug.log", "*.log\n", True),  # one without matches at any depth
        ("a/b.log", "*.log\n!b.log\n", False),  # "!" re-includes
        ("build/x/y.o", "build/\n", True),  # a folder pattern ignores everything below it
        ("build", "build/\n", False),  # ... but not a file of that name
        ("logs/2024/a.log", "logs/**/*.log\n", True),
        ("a.txt", "# comment\n\n[!b].txt\n", True),
        ("b.txt", "[!b].txt\n", False),
        ("src/main.py", "/main.py\n", False),
    ],
)
def test_gitignore_rules(path: str, gitignore: str, ignored: bool) -> None:
    assert is_ignored(path, gitignore) is ignored


@pytest.mark.parametrize(
    ("path", "sample", "mode"),
    [
        ("img/a.png", b"text", "lfs"),  # filter=lfs on *.png
        ("a.bin", b"text", "regular"),  # no longer in this repo's .gitattributes
        ("docs/big.md", b"text", "regular"),
        ("docs/raw.md", b"\0binary", "lfs"),  # a binary sample goes to LFS whatever the attributes
        ("data/x.csv", b"text", "lfs"),  # a path pattern
        ("data/keep.csv", b"text", "regular"),  # a later line unsets it
    ],
)
def test_upload_modes_follow_gitattributes(path: str, sample: bytes, mode: str) -> None:
    attributes = "*.png filter=lfs diff=lfs merge=lfs -text\ndata/*.csv filter=lfs\ndata/keep.csv -filter\n"
    assert upload_mode(path, 10, sample, attributes) == mode
