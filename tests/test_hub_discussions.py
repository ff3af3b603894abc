"""Discussions, pull requests and super-squash on the Hub emulator, driven by the real huggingface_hub client.

docs/hub-api.md, Discussions and pull requests, and where each row is proven (test_hub_fidelity.py proves
rows 20-22 with merges and conflicts):

30 GET  discussions ............... test_discussions_and_pull_requests_share_numbers_and_filters,
                                    test_listing_pages_follow_count_and_start
31 POST discussions ............... test_discussions_and_pull_requests_share_numbers_and_filters,
                                    test_refused_input_changes_nothing
32 POST discussions/{n}/comment ... test_the_timeline_holds_every_kind_of_event, test_who_may_take_part
33 POST .../comment/{id}/edit ..... test_the_timeline_holds_every_kind_of_event, test_who_may_take_part
34 POST .../comment/{id}/hide ..... test_the_timeline_holds_every_kind_of_event, test_who_may_take_part
35 POST discussions/{n}/title ..... test_the_timeline_holds_every_kind_of_event, test_who_may_take_part
36 POST super-squash/{rev} ........ test_super_squash_keeps_the_tree_in_one_commit
20 GET  discussions/{n}?diff=1 .... test_a_draft_pull_request_is_opened_then_merged_with_its_diff
Proposals on another user's public repo (preupload, LFS batch and verify, commit): test_anyone_may_propose_changes
Durability: test_discussions_survive_a_restart, test_a_store_from_before_records_and_a_crash_leftover_are_read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from uuid import uuid4

import pytest
from conftest import RunningHub
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download
from huggingface_hub.community import DiscussionComment, DiscussionCommit, DiscussionStatusChange, DiscussionTitleChange
from huggingface_hub.errors import (
    BadRequestError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from test_hub import raw_request

from release.hub import HubServer, PageSizes, Token


def status_of(error: HfHubHTTPError) -> int:
    return error.response.status_code


@pytest.fixture
def api(hub: RunningHub) -> HfApi:
    """alice's client: she owns the repos."""
    return HfApi(token=hub.token)


@pytest.fixture
def bob(hub: RunningHub) -> HfApi:
    """bob's client: a write token, but not for alice's namespace."""
    return HfApi(token=hub.other_token)


@pytest.fixture
def repo(api: HfApi) -> str:
    repo_id = f"alice/d-{uuid4().hex[:10]}"
    api.create_repo(repo_id)
    return repo_id


def numbers(discussions: object) -> list[int]:
    return [d.num for d in discussions]  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------------
# Opening and listing


def test_discussions_and_pull_requests_share_numbers_and_filters(api: HfApi, bob: HfApi, repo: str) -> None:
    main = api.repo_info(repo).sha
    question = api.create_discussion(repo, title="  A question  ", description="Why?")
    draft = api.create_pull_request(repo, title="Empty proposal")
    pushed = api.create_commit(repo, [CommitOperationAdd("a.txt", b"a")], commit_message="Add a", create_pr=True)
    theirs = bob.create_discussion(repo, title="From bob")

    assert (question.num, draft.num, pushed.pr_num, theirs.num) == (1, 2, 3, 4)
    assert (question.title, question.is_pull_request, question.status, question.author) == (
        "A question",
        False,
        "open",
        "alice",
    )
    assert (draft.is_pull_request, draft.status, draft.target_branch, draft.git_reference) == (
        True,
        "draft",
        "refs/heads/main",
        "refs/pr/2",
    )
    assert draft.url == f"{api.endpoint}/{repo}/discussions/2"
    assert api.repo_info(repo, revision="refs/pr/2").sha == main  # an empty pull request starts at main's head
    refs = api.list_repo_refs(repo, include_pull_requests=True)
    assert [p.ref for p in refs.pull_requests or []] == ["refs/pr/2", "refs/pr/3"]

    assert numbers(api.get_repo_discussions(repo)) == [4, 3, 2, 1]  # newest first
    assert numbers(api.get_repo_discussions(repo, discussion_type="pull_request")) == [3, 2]
    assert numbers(api.get_repo_discussions(repo, discussion_type="discussion")) == [4, 1]
    assert numbers(api.get_repo_discussions(repo, author="bob")) == [4]
    assert numbers(api.get_repo_discussions(repo, author="nobody")) == []
    api.change_discussion_status(repo, 1, "closed")
    assert numbers(api.get_repo_discussions(repo, discussion_status="open")) == [4, 3, 2]  # drafts are open
    assert numbers(api.get_repo_discussions(repo, discussion_status="closed")) == [1]
    assert numbers(HfApi().get_repo_discussions(repo, discussion_status="all")) == [4, 3, 2, 1]  # anonymous reads

    dataset = f"alice/ds-{uuid4().hex[:8]}"
    api.create_repo(dataset, repo_type="dataset")
    opened = api.create_discussion(dataset, title="On data", repo_type="dataset")
    assert (opened.num, opened.repo_type, opened.url) == (
        1,
        "dataset",
        f"{api.endpoint}/datasets/{dataset}/discussions/1",
    )


def test_listing_pages_follow_count_and_start(tmp_path: Path) -> None:
    with HubServer(tmp_path / "hub", [Token("carol", "tok-carol")], page_sizes=PageSizes(discussions=2)) as server:
        api = HfApi(endpoint=server.url, token="tok-carol")
        repo_id = "carol/paged"
        api.create_repo(repo_id)
        for number in range(5):
            api.create_discussion(repo_id, title=f"Topic {number}")
        assert numbers(api.get_repo_discussions(repo_id)) == [5, 4, 3, 2, 1]  # three pages
        page = raw_request("GET", f"{server.url}/api/models/{repo_id}/discussions?p=2").json()
        assert isinstance(page, dict) and (page["count"], page["start"], len(page["discussions"])) == (5, 4, 1)


# --------------------------------------------------------------------------------------------------
# Timelines


def test_the_timeline_holds_every_kind_of_event(api: HfApi, bob: HfApi, repo: str) -> None:
    opened = api.create_discussion(repo, title="Old title", description="First words")
    (opening,) = opened.events
    assert isinstance(opening, DiscussionComment) and (opening.content, opening.edited) == ("First words", False)

    reply = bob.comment_discussion(repo, 1, "**bold** <script>")
    assert (reply.author, reply.content) == ("bob", "**bold** <script>")
    assert reply.rendered == "<p><strong>bold</strong> &lt;script&gt;</p>\n"  # Markdown, and no raw HTML
    edited = api.edit_discussion_comment(repo, 1, opening.id.upper(), "Second words")  # ids are case-insensitive
    renamed = api.rename_discussion(repo, 1, "New title")
    closed = api.change_discussion_status(repo, 1, "closed", comment="Done")
    with pytest.warns(UserWarning, match="irreversible"):
        hidden = api.hide_discussion_comment(repo, 1, reply.id)  # the owner hides bob's comment

    details = api.get_discussion_details(repo, 1)
    kinds = [type(event).__name__ for event in details.events]
    assert kinds == ["DiscussionComment"] * 2 + ["DiscussionTitleChange", "DiscussionComment", "DiscussionStatusChange"]
    first, second, title, done, status = details.events
    assert first == edited and first.id == opening.id
    assert isinstance(first, DiscussionComment) and (first.content, first.edited, first.number_of_edits) == (
        "Second words",
        True,
        2,
    )
    assert [version["raw"] for version in first.edit_history] == ["Second words", "First words"]
    assert second == hidden and isinstance(second, DiscussionComment)
    assert (second.hidden, second.content) == (True, "")  # its text is gone for good
    assert isinstance(title, DiscussionTitleChange) and (title.old_title, title.new_title) == ("Old title", "New title")
    assert title == renamed
    assert isinstance(done, DiscussionComment) and done.content == "Done"
    assert isinstance(status, DiscussionStatusChange) and status == closed and status.new_status == "closed"
    assert (details.title, details.status) == ("New title", "closed")
    assert api.get_discussion_details(repo, 1) == details  # reading changes nothing

    with pytest.raises(BadRequestError, match="hidden"):
        bob.edit_discussion_comment(repo, 1, reply.id, "again")
    assert api.change_discussion_status(repo, 1, "open").new_status == "open"


def test_a_draft_pull_request_is_opened_then_merged_with_its_diff(api: HfApi, repo: str) -> None:
    api.upload_file(path_or_fileobj=b"one\ntwo\n", path_in_repo="notes.txt", repo_id=repo)
    draft = api.create_pull_request(repo, title="Improve notes", description="See the diff")
    assert draft.diff == ""  # nothing pushed yet
    first = api.create_commit(
        repo,
        [CommitOperationAdd("notes.txt", b"one\n2\n"), CommitOperationAdd("w.bin", os.urandom(100))],
        commit_message="Edit notes",
        revision="refs/pr/1",
    )
    details = api.get_discussion_details(repo, 1)
    assert [type(event).__name__ for event in details.events] == ["DiscussionComment", "DiscussionCommit"]
    commit = details.events[1]
    assert isinstance(commit, DiscussionCommit) and (commit.oid, commit.summary) == (first.oid, "Edit notes")
    assert details.diff is not None
    assert "diff --git a/notes.txt b/notes.txt\n" in details.diff and "-two\n+2\n" in details.diff
    assert "Binary files /dev/null and b/w.bin differ" in details.diff

    with pytest.raises(BadRequestError, match="is a draft"):
        api.merge_pull_request(repo, 1)
    assert api.list_repo_files(repo) == [".gitattributes", "notes.txt"]
    api.change_discussion_status(repo, 1, "open")
    api.merge_pull_request(repo, 1)
    merged = api.get_discussion_details(repo, 1)
    assert (merged.status, merged.merge_commit_oid) == ("merged", api.repo_info(repo).sha)
    assert api.list_repo_commits(repo)[0].title == "Improve notes (#1)"
    assert Path(hf_hub_download(repo, "notes.txt")).read_bytes() == b"one\n2\n"


# --------------------------------------------------------------------------------------------------
# Access


def test_who_may_take_part(hub: RunningHub, api: HfApi, bob: HfApi, repo: str) -> None:
    mine = api.create_discussion(repo, title="alice asks")
    theirs = bob.create_discussion(repo, title="bob asks", description="bob's words")
    bob.rename_discussion(repo, theirs.num, "bob asks again")  # the author may rename and close his own
    bob.change_discussion_status(repo, theirs.num, "closed")
    api.change_discussion_status(repo, theirs.num, "open")  # and so may the namespace's writers

    def refused(status: int, call: object) -> None:
        with pytest.raises(HfHubHTTPError) as caught:
            call()  # type: ignore[operator]
        assert status_of(caught.value) == status

    bob_words = theirs.events[0].id
    refused(403, lambda: bob.rename_discussion(repo, mine.num, "taken over"))
    refused(403, lambda: bob.change_discussion_status(repo, mine.num, "closed"))
    refused(403, lambda: api.edit_discussion_comment(repo, theirs.num, bob_words, "put words in his mouth"))
    with pytest.warns(UserWarning, match="irreversible"):
        refused(403, lambda: bob.hide_discussion_comment(repo, mine.num, mine.events[0].id))
    refused(403, lambda: bob.merge_pull_request(repo, mine.num))
    refused(403, lambda: HfApi(token=hub.read_token).comment_discussion(repo, mine.num, "read only"))
    refused(401, lambda: HfApi().comment_discussion(repo, mine.num, "anonymous"))
    refused(403, lambda: bob.super_squash_history(repo))
    refused(404, lambda: api.comment_discussion(repo, 99, "nowhere"))
    refused(404, lambda: api.edit_discussion_comment(repo, mine.num, "0" * 24, "no such comment"))

    private = f"alice/p-{uuid4().hex[:8]}"
    api.create_repo(private, private=True)
    api.create_discussion(private, title="Internal")
    with pytest.raises(RepositoryNotFoundError):
        list(bob.get_repo_discussions(private))
    with pytest.raises(RepositoryNotFoundError):
        bob.create_discussion(private, title="Let me in")
    details = api.get_discussion_details(repo, mine.num)
    assert (details.title, details.status, len(details.events)) == ("alice asks", "open", 1)


def test_anyone_may_propose_changes_to_a_public_repo(api: HfApi, bob: HfApi, repo: str) -> None:
    weights = os.urandom(2000)
    proposal = bob.create_commit(
        repo,
        [CommitOperationAdd("notes.txt", b"from bob"), CommitOperationAdd("w.safetensors", weights)],
        commit_message="bob proposes",
        create_pr=True,
    )
    assert proposal.pr_num == 1
    bob.upload_file(path_or_fileobj=b"more", path_in_repo="more.txt", repo_id=repo, revision="refs/pr/1")
    assert api.list_repo_files(repo, revision="refs/pr/1") == [
        ".gitattributes",
        "more.txt",
        "notes.txt",
        "w.safetensors",
    ]
    assert api.get_discussion_details(repo, 1).author == "bob"

    api.create_commit(repo, [CommitOperationAdd("x.txt", b"x")], commit_message="alice's own", create_pr=True)
    for revision in ("main", "refs/pr/2"):  # not the branch, nor someone else's pull request
        with pytest.raises(HfHubHTTPError) as caught:
            bob.upload_file(path_or_fileobj=b"sneaky", path_in_repo="s.txt", repo_id=repo, revision=revision)
        assert status_of(caught.value) == 403
    with pytest.raises(HfHubHTTPError) as caught:
        bob.merge_pull_request(repo, 1)
    assert status_of(caught.value) == 403
    bob.change_discussion_status(repo, 1, "closed")  # closed: bob may no longer push to it
    with pytest.raises(HfHubHTTPError) as caught:
        bob.upload_file(path_or_fileobj=b"late", path_in_repo="late.txt", repo_id=repo, revision="refs/pr/1")
    assert status_of(caught.value) == 403

    api.change_discussion_status(repo, 1, "open")
    api.merge_pull_request(repo, 1)
    assert api.list_repo_files(repo) == [".gitattributes", "more.txt", "notes.txt", "w.safetensors"]
    assert Path(hf_hub_download(repo, "w.safetensors")).read_bytes() == weights


# --------------------------------------------------------------------------------------------------
# Super-squash


def test_super_squash_keeps_the_tree_in_one_commit(api: HfApi, repo: str) -> None:
    for content in (b"1", b"2", b"3"):
        api.upload_file(path_or_fileobj=content, path_in_repo="f.txt", repo_id=repo)
    api.create_branch(repo, branch="dev")
    api.create_tag(repo, tag="v1")
    before = api.list_repo_tree(repo, recursive=True)
    api.super_squash_history(repo)

    commits = api.list_repo_commits(repo)
    assert [(c.title, c.authors) for c in commits] == [("Super-squash branch 'main' using huggingface_hub", ["alice"])]
    assert list(api.list_repo_tree(repo, recursive=True)) == list(before)
    assert len(api.list_repo_commits(repo, revision="dev")) == 4  # the other refs keep their history
    assert len(api.list_repo_commits(repo, revision="v1")) == 4

    api.create_pull_request(repo, title="Squash me")
    api.upload_file(path_or_fileobj=b"a", path_in_repo="a.txt", repo_id=repo, revision="refs/pr/1")
    api.upload_file(path_or_fileobj=b"b", path_in_repo="b.txt", repo_id=repo, revision="refs/pr/1")
    api.super_squash_history(repo, branch="refs/pr/1", commit_message="One step")
    assert [c.title for c in api.list_repo_commits(repo, revision="refs/pr/1")] == ["One step"]
    assert api.list_repo_files(repo, revision="refs/pr/1") == [".gitattributes", "a.txt", "b.txt", "f.txt"]

    with pytest.raises(BadRequestError, match="squash a branch or refs/pr/N"):
        api.super_squash_history(repo, branch="v1")
    with pytest.raises(RevisionNotFoundError):
        api.super_squash_history(repo, branch="no-such-branch")
    assert len(api.list_repo_commits(repo, revision="v1")) == 4


# --------------------------------------------------------------------------------------------------
# Bad input and durability


def test_refused_input_changes_nothing(hub: RunningHub, api: HfApi, repo: str) -> None:
    api.create_discussion(repo, title="Kept")
    with pytest.raises(BadRequestError, match="3 to 200 characters"):
        api.create_discussion(repo, title="  x ")
    with pytest.raises(BadRequestError, match="3 to 200 characters"):
        api.rename_discussion(repo, 1, "y" * 201)
    with pytest.raises(BadRequestError, match="'comment' is empty"):
        api.comment_discussion(repo, 1, "   ")
    headers = {"Authorization": f"Bearer {hub.token}", "Content-Type": "application/json"}
    base = f"{hub.url}/api/models/{repo}/discussions"
    for body in (b'{"title": "Fine", "pullRequest": "yes"}', b'{"title": 42}', b"[1]"):
        answer = raw_request("POST", base, body, headers)
        assert answer.status == 400, body
    for query in ("type=issue", "status=merged", "p=-1"):
        answer = raw_request("GET", f"{base}?{query}")
        assert answer.status == 400 and query.split("=")[0] in json.dumps(answer.json()), query
    assert raw_request("GET", f"{base}/0").status == 400
    assert numbers(api.get_repo_discussions(repo)) == [1]
    details = api.get_discussion_details(repo, 1)
    assert (details.title, len(details.events)) == ("Kept", 1)


def test_discussions_survive_a_restart(tmp_path: Path) -> None:
    storage = tmp_path / "hub"
    with HubServer(storage, [Token("carol", "tok-carol")]) as first:
        api = HfApi(endpoint=first.url, token="tok-carol")
        api.create_repo("carol/kept")
        api.create_discussion("carol/kept", title="Remember me", description="please")
        api.comment_discussion("carol/kept", 1, "still here")
        api.rename_discussion("carol/kept", 1, "Remembered")
        api.create_commit("carol/kept", [CommitOperationAdd("a.txt", b"a")], commit_message="PR", create_pr=True)
        before = [api.get_discussion_details("carol/kept", n) for n in (1, 2)]
    with HubServer(storage, [Token("carol", "tok-carol")]) as second:
        api = HfApi(endpoint=second.url, token="tok-carol")
        after = [api.get_discussion_details("carol/kept", n) for n in (1, 2)]
        assert [(d.title, d.events, d.status) for d in after] == [(d.title, d.events, d.status) for d in before]
        assert api.create_discussion("carol/kept", title="Next").num == 3


def test_a_store_from_before_records_and_a_crash_leftover_are_read(tmp_path: Path) -> None:
    """A pull request whose record is missing (opened before records existed) is still served; a record
    whose pull request never got its ref (a crash between the two writes) is ignored, its number skipped."""
    storage = tmp_path / "hub"
    with HubServer(storage, [Token("carol", "tok-carol")]) as first:
        api = HfApi(endpoint=first.url, token="tok-carol")
        api.create_repo("carol/old")
        api.create_commit("carol/old", [CommitOperationAdd("a.txt", b"a")], commit_message="Old PR", create_pr=True)
    records = storage / "repos" / "models" / "carol" / "old" / "discussions"
    (records / "1.json").unlink()
    leftover = {"number": 2, "title": "Half made", "author": "carol", "createdAt": "2026-01-01T00:00:00.000Z"}
    leftover |= {"pullRequest": True, "target": "main", "base": None, "status": "draft", "events": []}
    (records / "2.json").write_text(json.dumps(leftover))
    with HubServer(storage, [Token("carol", "tok-carol")]) as second:
        api = HfApi(endpoint=second.url, token="tok-carol")
        assert numbers(api.get_repo_discussions("carol/old")) == [1]
        old = api.get_discussion_details("carol/old", 1)
        assert (old.title, old.status, old.author, [type(e).__name__ for e in old.events]) == (
            "Old PR",
            "open",
            "carol",
            ["DiscussionComment", "DiscussionCommit"],
        )
        api.comment_discussion("carol/old", 1, "Now with a record")
        assert len(api.get_discussion_details("carol/old", 1).events) == 3
        with pytest.raises(HfHubHTTPError) as caught:
            api.get_discussion_details("carol/old", 2)
        assert status_of(caught.value) == 404
        assert api.create_discussion("carol/old", title="After the crash").num == 3
