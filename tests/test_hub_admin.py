"""Repository administration and listings on the Hub emulator, driven by the real huggingface_hub client.

docs/hub-api.md, Repository administration (rows 50-54) and Listings (rows 60-63): settings (visibility
and gating), gated downloads and access requests, moves and the old name's redirect, the access check,
LFS file listings and their permanent deletion, repo listings, and users with full names and orgs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from conftest import RunningHub
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from test_hub import new_repo, raw_request, status_of

from release.hub import HubServer, Org, PageSizes, Token

ALICE_TOKEN = "hf_admin_alice"
BOB_TOKEN = "hf_admin_bob"
CAROL_TOKEN = "hf_admin_carol"


@pytest.fixture(scope="module")
def admin_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An emulator whose users have full names and orgs; repo listings page every 2 repos."""
    lab = Org("lab", fullname="The Lab")
    vault = Org("vault", fullname="Vault Inc", private_by_default=True)
    tokens = [
        Token("alice", ALICE_TOKEN, fullname="Alice Liddell", orgs=(lab, vault)),
        Token("bob", BOB_TOKEN),
        Token("carol", CAROL_TOKEN),
    ]
    sizes = PageSizes(repos=2)
    with HubServer(tmp_path_factory.mktemp("admin-hub"), tokens, page_sizes=sizes) as server:
        yield server.url


@pytest.fixture
def alice(admin_hub: str) -> HfApi:
    return HfApi(endpoint=admin_hub, token=ALICE_TOKEN)


@pytest.fixture
def bob(admin_hub: str) -> HfApi:
    return HfApi(endpoint=admin_hub, token=BOB_TOKEN)


def _download(api: HfApi, repo_id: str, filename: str, cache: Path, token: str | bool | None) -> bytes:
    path = hf_hub_download(repo_id, filename, endpoint=api.endpoint, token=token, cache_dir=cache)
    return Path(path).read_bytes()


# --------------------------------------------------------------------------------------------------
# Settings, gating and access requests (rows 50-53)


def test_settings_change_visibility_and_gating(alice: HfApi, bob: HfApi) -> None:
    repo = new_repo(alice)
    alice.update_repo_settings(repo, private=True, gated="manual")
    info = alice.model_info(repo)
    assert (info.private, info.gated) == (True, "manual")
    assert not bob.repo_exists(repo)  # private: hidden from others
    alice.update_repo_settings(repo, visibility="public")
    alice.update_repo_settings(repo, gated=False)
    info = bob.model_info(repo)
    assert (info.private, info.gated) == (False, False)

    dataset = new_repo(alice, repo_type="dataset")
    alice.update_repo_settings(dataset, repo_type="dataset", gated="auto", private=True)
    dataset_info = alice.dataset_info(dataset)
    assert (dataset_info.private, dataset_info.gated) == (True, "auto")

    with pytest.raises(HfHubHTTPError) as caught:
        bob.update_repo_settings(repo, private=True)  # not bob's repo
    assert status_of(caught.value) == 403


def test_settings_refuse_what_they_do_not_serve(admin_hub: str, alice: HfApi) -> None:
    repo = new_repo(alice)
    headers = {"Authorization": f"Bearer {ALICE_TOKEN}", "Content-Type": "application/json"}
    url = f"{admin_hub}/api/models/{repo}/settings"
    for body, named in [
        ({"discussionsDisabled": True}, "'discussionsDisabled'"),
        ({"gated": "always"}, "'always'"),
        ({"visibility": "protected"}, "'protected'"),
        ({"private": True, "visibility": "public"}, "disagree"),
    ]:
        answer = raw_request("PUT", url, json.dumps(body).encode(), headers)
        assert answer.status == 400, body
        assert named in answer.json()["error"]  # type: ignore[index]
    assert alice.model_info(repo).private is False  # nothing changed


def test_gated_files_need_an_accepted_request(alice: HfApi, bob: HfApi, tmp_path: Path) -> None:
    repo = new_repo(alice)
    alice.upload_file(path_or_fileobj=b"weights", path_in_repo="model.bin", repo_id=repo)
    alice.update_repo_settings(repo, gated="auto")

    with pytest.raises(GatedRepoError, match="is restricted and you are not in the authorized list") as caught:
        _download(bob, repo, "model.bin", tmp_path / "bob", BOB_TOKEN)
    assert status_of(caught.value) == 403
    with pytest.raises(GatedRepoError) as caught:
        _download(bob, repo, "model.bin", tmp_path / "anonymous", False)
    assert status_of(caught.value) == 401
    with pytest.raises(GatedRepoError):
        bob.auth_check(repo)
    assert bob.model_info(repo).gated == "auto"  # the repo itself stays visible, as on the Hub
    assert _download(alice, repo, "model.bin", tmp_path / "alice", ALICE_TOKEN) == b"weights"

    alice.grant_access(repo, "bob")
    bob.auth_check(repo)
    assert _download(bob, repo, "model.bin", tmp_path / "bob", BOB_TOKEN) == b"weights"

    alice.reject_access_request(repo, "bob", rejection_reason="not now")
    with pytest.raises(GatedRepoError):
        _download(bob, repo, "model.bin", tmp_path / "bob-again", BOB_TOKEN)


def test_access_requests_move_between_lists(alice: HfApi, bob: HfApi) -> None:
    repo = new_repo(alice)
    with pytest.raises(HfHubHTTPError, match="is not gated") as caught:
        alice.grant_access(repo, "bob")
    assert status_of(caught.value) == 400
    alice.update_repo_settings(repo, gated="manual")
    assert list(alice.list_accepted_access_requests(repo)) == []

    alice.grant_access(repo, "bob")
    [accepted] = alice.list_accepted_access_requests(repo)
    assert (accepted.username, accepted.status, accepted.email) == ("bob", "accepted", None)
    with pytest.raises(HfHubHTTPError) as caught:
        alice.grant_access(repo, "bob")  # already has access
    assert status_of(caught.value) == 400
    with pytest.raises(HfHubHTTPError) as caught:
        alice.accept_access_request(repo, "bob")  # already accepted
    assert status_of(caught.value) == 404

    alice.cancel_access_request(repo, "bob")
    assert [r.username for r in alice.list_pending_access_requests(repo)] == ["bob"]
    assert list(alice.list_accepted_access_requests(repo)) == []
    alice.reject_access_request(repo, "bob", rejection_reason="reason")
    [rejected] = alice.list_rejected_access_requests(repo)
    assert list(alice.list_pending_access_requests(repo)) == []
    alice.accept_access_request(repo, request_id=rejected.request_id)
    assert [r.username for r in alice.list_accepted_access_requests(repo)] == ["bob"]

    with pytest.raises(HfHubHTTPError) as caught:
        alice.grant_access(repo, "nobody")
    assert status_of(caught.value) == 404
    with pytest.raises(HfHubHTTPError) as caught:
        alice.accept_access_request(repo, "carol")  # carol never asked
    assert status_of(caught.value) == 404
    with pytest.raises(HfHubHTTPError) as caught:
        list(bob.list_accepted_access_requests(repo))  # only the repo's writers see the lists
    assert status_of(caught.value) == 403


# --------------------------------------------------------------------------------------------------
# Moves (row 54) and the access check (row 63)


def test_move_repo_and_follow_the_old_name(alice: HfApi, tmp_path: Path) -> None:
    old = new_repo(alice, private=True)
    alice.upload_file(path_or_fileobj=b"content", path_in_repo="file.txt", repo_id=old)
    new = f"{old}-moved"
    alice.move_repo(old, new)
    assert alice.model_info(new).id == new
    # The old name answers 307 to the new one for reads; the client follows it.
    assert alice.model_info(old).id == new
    assert _download(alice, old, "file.txt", tmp_path, ALICE_TOKEN) == b"content"

    taken = new_repo(alice)
    with pytest.raises(HfHubHTTPError, match=r"A model repository called .* already exists") as caught:
        alice.move_repo(new, taken)
    assert status_of(caught.value) == 409
    with pytest.raises(HfHubHTTPError) as caught:
        alice.move_repo(new, f"bob/{uuid4().hex[:8]}")  # alice may not write to bob's namespace
    assert status_of(caught.value) == 403

    alice.move_repo(new, old)  # back: the old name is a repo again, the other name now redirects
    assert alice.model_info(old).id == old
    assert alice.model_info(new).id == old
    shouting = old.replace("/r-", "/R-")
    alice.move_repo(old, shouting)  # a change of case only: the same repo, renamed
    assert alice.model_info(old).id == shouting
    assert alice.model_info(new).id == shouting  # the redirect follows the repo's renames
    alice.create_repo(new)  # a repo created at a redirected name wins over the redirect
    assert alice.model_info(new).id == new
    assert alice.list_repo_files(new) == [".gitattributes"]


def test_auth_check(alice: HfApi, bob: HfApi) -> None:
    repo = new_repo(alice, repo_type="dataset")
    alice.auth_check(repo, repo_type="dataset")
    bob.auth_check(repo, repo_type="dataset")  # public: bob may read
    with pytest.raises(HfHubHTTPError) as caught:
        bob.auth_check(repo, repo_type="dataset", write=True)
    assert status_of(caught.value) == 403
    alice.auth_check(repo, repo_type="dataset", write=True)
    with pytest.raises(RepositoryNotFoundError):
        alice.auth_check(f"alice/missing-{uuid4().hex[:8]}")


# --------------------------------------------------------------------------------------------------
# LFS files (rows 61, 62)


def test_list_and_permanently_delete_lfs_files(alice: HfApi, bob: HfApi) -> None:
    repo = new_repo(alice)
    added = [
        alice.upload_file(path_or_fileobj=content, path_in_repo=name, repo_id=repo).oid
        for name, content in [("a.bin", b"A"), ("b.bin", b"B"), ("notes.txt", b"text")]
    ]
    alice.create_branch(repo, branch="dev")
    alice.upload_file(path_or_fileobj=b"D", path_in_repo="dev.bin", repo_id=repo, revision="dev")
    commits_before = len(alice.list_repo_commits(repo))

    files = list(alice.list_lfs_files(repo))
    assert sorted((f.filename, f.ref) for f in files) == [
        ("a.bin", "refs/heads/main"),
        ("b.bin", "refs/heads/main"),
        ("dev.bin", "refs/heads/dev"),
    ]
    assert all(f.size == 1 and len(f.file_oid) == 64 for f in files)
    with pytest.raises(HfHubHTTPError) as caught:
        list(bob.list_lfs_files(repo))
    assert status_of(caught.value) == 403

    alice.permanently_delete_lfs_files(repo, [f for f in files if f.ref == "refs/heads/main"])
    assert [f.filename for f in alice.list_lfs_files(repo)] == ["dev.bin"]
    assert alice.list_repo_files(repo) == [".gitattributes", "notes.txt"]
    assert set(alice.list_repo_files(repo, revision="dev")) == {".gitattributes", "notes.txt", "dev.bin"}
    assert len(alice.list_repo_commits(repo)) == commits_before  # rewritten, not shortened
    with pytest.raises(EntryNotFoundError):
        alice.hf_hub_download(repo, "a.bin")
    with pytest.raises(RevisionNotFoundError):  # the old commits are gone: no revision reaches the files
        alice.hf_hub_download(repo, "a.bin", revision=added[0])


# --------------------------------------------------------------------------------------------------
# Repo listings (row 60)


def test_list_models_filters_sorts_and_pages(alice: HfApi, bob: HfApi) -> None:
    tag = uuid4().hex[:8]
    public = [f"alice/{tag}-{n}" for n in range(3)]
    for repo_id in public:
        alice.create_repo(repo_id)
    private = f"alice/{tag}-private"
    alice.create_repo(private, private=True)
    alice.create_repo(f"alice/{tag}-data", repo_type="dataset")

    mine = [m.id for m in alice.list_models(search=tag, author="alice")]  # pages of 2, followed by the client
    assert mine == sorted([*public, private])
    assert [m.id for m in bob.list_models(search=tag)] == public  # private repos are listed for their owners only
    assert [m.id for m in HfApi(endpoint=alice.endpoint, token=False).list_models(search=tag)] == public
    newest_first = [m.id for m in alice.list_models(search=tag, sort="created_at", limit=2)]
    assert newest_first == [private, public[2]]
    assert [d.id for d in alice.list_datasets(search=tag)] == [f"alice/{tag}-data"]
    assert list(alice.list_models(search=tag, author="bob")) == []
    model = next(iter(alice.list_models(search=f"{tag}-private")))
    assert (model.private, model.gated, model.created_at is not None) == (True, False, True)


def test_list_models_refuses_filters_it_does_not_serve(admin_hub: str) -> None:
    answer = raw_request("GET", f"{admin_hub}/api/models?pipeline_tag=text-generation")
    assert answer.status == 400
    assert "'pipeline_tag'" in answer.json()["error"]  # type: ignore[index]


# --------------------------------------------------------------------------------------------------
# Users and orgs (row 1)


def test_whoami_has_full_name_and_orgs(alice: HfApi, bob: HfApi) -> None:
    me = alice.whoami()
    assert (me["name"], me["fullname"]) == ("alice", "Alice Liddell")
    assert [(org["name"], org["fullname"]) for org in me["orgs"]] == [("lab", "The Lab"), ("vault", "Vault Inc")]
    assert (bob.whoami()["fullname"], bob.whoami()["orgs"]) == ("bob", [])


def test_org_members_write_and_private_by_default(alice: HfApi, bob: HfApi) -> None:
    lab_repo = new_repo(alice, namespace="lab")
    assert alice.model_info(lab_repo).private is False
    vault_repo = new_repo(alice, namespace="vault")
    assert alice.model_info(vault_repo).private is True  # the org makes repos private unless told otherwise
    assert alice.model_info(new_repo(alice, namespace="vault", private=False)).private is False
    assert not bob.repo_exists(vault_repo)
    with pytest.raises(HfHubHTTPError) as caught:
        new_repo(bob, namespace="lab")
    assert status_of(caught.value) == 403
    alice.create_commit(lab_repo, [CommitOperationAdd("x.txt", b"x")], commit_message="org write")


def test_the_session_hub_has_no_orgs(hub: RunningHub) -> None:
    me = HfApi(token=hub.token).whoami()
    assert (me["fullname"], me["orgs"]) == ("alice", [])
