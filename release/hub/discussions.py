"""The Hub emulator's discussions and pull requests, and super-squash: the routes of docs/hub-api.md,
Discussions and pull requests (rows 20-22 and 30-36).

Each handler takes the storage, what the path names and the :class:`Call`, and answers JSON as the Hub
does, in the shapes huggingface_hub 2.4.0 reads (``HfApi.get_repo_discussions``,
``get_discussion_details`` and ``huggingface_hub.community.deserialize_event``). The records and how
they change are :mod:`release.hub.threads`; the storage keeps them durable and changes them under the
repo's lock.

Who may do what (docs/hub-api.md, Access): anyone who may read the repo reads its discussions; any user
with a write token may open a discussion or a pull request on a repo they may read, and comment; the
author of a discussion, or a writer of the repo's namespace, renames, closes and reopens it; a comment's
author edits it, and hides it with the namespace's writers; only the namespace's writers merge and
super-squash.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

from markdown_it import MarkdownIt
from starlette.responses import JSONResponse, Response

from release.hub.auth import Token, may_write
from release.hub.calls import (
    Call,
    HttpError,
    PageSizes,
    require_write_role,
    str_field,
    visible_repo,
    writable_repo,
)
from release.hub.repo import DEFAULT_BRANCH, RepoId, StorageError, TreeEntry
from release.hub.storage import HubStorage
from release.hub.threads import (
    CommentVersion,
    Discussion,
    DiscussionEvent,
    discussion_from_record,
    find_comment,
    is_pull_request,
    matches,
    merged_event,
    new_event,
    new_record,
    with_comment_edited,
    with_comment_hidden,
    with_event,
    with_status,
    with_title,
)

log = logging.getLogger(__name__)

#: Text files larger than this are shown as binary in a pull request's diff.
DIFF_MAX_FILE_BYTES: Final = 1024 * 1024
_KINDS: Final = ("all", "discussion", "pull_request")
_STATUSES: Final = ("all", "open", "closed")


# --------------------------------------------------------------------------------------------------
# Reading


def list_discussions(storage: HubStorage, page_sizes: PageSizes, repo_id: RepoId, call: Call) -> Response:
    """One page (``p``) of the repo's discussions, newest first, filtered by ``author``, ``type`` and ``status``."""
    visible_repo(storage, call, repo_id)
    author = call.query.get("author", [None])[-1] or None
    kind = _choice(call, "type", _KINDS)
    status = _choice(call, "status", _STATUSES)
    page_text = call.query.get("p", ["0"])[-1]
    if not page_text.isascii() or not page_text.isdigit():
        raise HttpError(400, f"Invalid page number p={page_text!r}: expected a non-negative integer")
    found = [r for r in storage.discussion_records(repo_id) if matches(r, author=author, kind=kind, status=status)]
    start = int(page_text) * page_sizes.discussions
    page = found[start : start + page_sizes.discussions]
    items = [_summary_json(repo_id, record) for record in page]
    return JSONResponse({"discussions": items, "count": len(found), "start": start})


def discussion_details(storage: HubStorage, repo_id: RepoId, number: str, call: Call) -> Response:
    """A discussion with its whole timeline; a pull request also with its target, conflicts and (``diff=1``) diff."""
    visible_repo(storage, call, repo_id)
    record, commits, merge_commit = storage.read_discussion(repo_id, discussion_number(number))
    discussion = discussion_from_record(record, commits, merge_commit)
    body = _discussion_json(repo_id, discussion)
    if discussion.is_pull_request:
        changes = {"base": f"refs/heads/{discussion.target}"}
        if discussion.merge_commit is not None:
            changes["mergeCommitId"] = discussion.merge_commit
        body["changes"] = changes
        body["filesWithConflicts"] = list(storage.pull_request_conflicts(repo_id, record))
        if call.flag("diff"):
            body["diff"] = _pull_request_diff(storage, repo_id, record)
    return JSONResponse(body)


# --------------------------------------------------------------------------------------------------
# Opening and taking part


def create_discussion(storage: HubStorage, repo_id: RepoId, call: Call) -> Response:
    """Open a discussion, or (``pullRequest: true``) an empty draft pull request at ``refs/pr/N`` on main."""
    repo = visible_repo(storage, call, repo_id)
    token = require_write_role(call)
    body = call.json_object()
    pull_request = body.get("pullRequest", False)
    if not isinstance(pull_request, bool):
        raise HttpError(400, f"Expected true or false in 'pullRequest', got {pull_request!r}")
    description = body.get("description") or ""
    if not isinstance(description, str):
        raise HttpError(400, f"Expected a string in 'description', got {type(description).__name__}")
    target = DEFAULT_BRANCH if pull_request else None
    record = new_record(str_field(body, "title"), token.user, description, pull_request=pull_request, target=target)
    number = storage.open_discussion(repo.id, record)
    log.info("%s: %s opened %s #%d", repo.id, token.user, "pull request" if pull_request else "discussion", number)
    return JSONResponse({"num": number, "url": f"{call.repo_url(repo.id)}/discussions/{number}"})


def comment_discussion(storage: HubStorage, repo_id: RepoId, number: str, call: Call) -> Response:
    repo = visible_repo(storage, call, repo_id)
    token = require_write_role(call)
    event = new_event("comment", token.user, _text_field(call.json_object(), "comment"))
    storage.update_discussion(repo.id, discussion_number(number), lambda record: (with_event(record, event), None))
    return JSONResponse({"newMessage": _event_json(event)})


def edit_discussion_comment(storage: HubStorage, repo_id: RepoId, number: str, comment_id: str, call: Call) -> Response:
    """A new version of a comment, by its author."""
    repo = visible_repo(storage, call, repo_id)
    token = require_write_role(call)
    content = _text_field(call.json_object(), "content")
    num = discussion_number(number)
    if find_comment(storage.discussion_record(repo.id, num), comment_id).author != token.user:
        raise HttpError(403, f"Only the author of comment {comment_id} may edit it")
    edited = storage.update_discussion(repo.id, num, lambda r: with_comment_edited(r, comment_id, content, token.user))
    return JSONResponse({"updatedComment": _event_json(edited)})


def hide_discussion_comment(storage: HubStorage, repo_id: RepoId, number: str, comment_id: str, call: Call) -> Response:
    """Hide a comment for good (its text is erased), by its author or a writer of the namespace."""
    repo = visible_repo(storage, call, repo_id)
    token = require_write_role(call)
    num = discussion_number(number)
    author = find_comment(storage.discussion_record(repo.id, num), comment_id).author
    if author != token.user and not may_write(token, repo.id.namespace):
        namespace = repo.id.namespace
        raise HttpError(403, f"Only the author of comment {comment_id} or a writer of '{namespace}' may hide it")
    hidden = storage.update_discussion(repo.id, num, lambda record: with_comment_hidden(record, comment_id))
    return JSONResponse({"updatedComment": _event_json(hidden)})


def rename_discussion(storage: HubStorage, repo_id: RepoId, number: str, call: Call) -> Response:
    repo = visible_repo(storage, call, repo_id)
    num = discussion_number(number)
    token = _moderator(storage, call, repo.id, num)
    title = str_field(call.json_object(), "title")
    event = storage.update_discussion(repo.id, num, lambda record: with_title(record, title, token.user))
    return JSONResponse({"newTitle": _event_json(event)})


def change_discussion_status(storage: HubStorage, repo_id: RepoId, number: str, call: Call) -> Response:
    """Close or reopen a discussion or pull request (a draft becomes open); a merged one keeps its status."""
    repo = visible_repo(storage, call, repo_id)
    num = discussion_number(number)
    token = _moderator(storage, call, repo.id, num)
    body = call.json_object()
    status = body.get("status")
    if status not in ("open", "closed"):
        raise HttpError(400, f"Invalid status {status!r}: use 'open' or 'closed' (merge with /merge)")
    comment = _comment(body)
    new_status: Literal["open", "closed"] = "open" if status == "open" else "closed"
    event = storage.update_discussion(repo.id, num, lambda record: with_status(record, new_status, token.user, comment))
    log.info("%s: discussion #%d is %s", repo.id, num, status)
    return JSONResponse({"newStatus": _event_json(event)})


def merge_pull_request(storage: HubStorage, repo_id: RepoId, number: str, call: Call) -> Response:
    repo, token = writable_repo(storage, call, repo_id)
    comment = _comment(call.json_object())
    commit = storage.merge_pull_request(repo.id, discussion_number(number), token.user, comment)
    log.info("%s: merged pull request #%s as %s", repo.id, number, commit.id[:7])
    return JSONResponse({"newStatus": _event_json(merged_event(commit))})


def super_squash(storage: HubStorage, repo_id: RepoId, revision: str, call: Call) -> Response:
    """Squash a branch's (or ``refs/pr/N``'s) history into one commit with its tree; the title is ``message``."""
    repo, token = writable_repo(storage, call, repo_id)
    message = call.json_object().get("message") or f"Super-squash branch '{revision}'"
    if not isinstance(message, str):
        raise HttpError(400, f"Expected a string in 'message', got {type(message).__name__}")
    commit = storage.super_squash(repo.id, revision, message, token.user)
    log.info("%s: squashed %s into %s", repo.id, revision, commit.id[:7])
    return JSONResponse({"commitOid": commit.id})


# --------------------------------------------------------------------------------------------------
# Access


def pull_request_author(storage: HubStorage, repo_id: RepoId, revision: str) -> str | None:
    """The author of the open (or draft) pull request ``revision`` names as ``refs/pr/N``; None otherwise."""
    number = revision.removeprefix("refs/pr/")
    if number == revision or not number.isascii() or not number.isdigit() or int(number) < 1:
        return None
    try:
        record = storage.discussion_record(repo_id, int(number))
    except StorageError:  # no such repo or pull request
        return None
    return record["author"] if is_pull_request(record) and record["status"] in ("open", "draft") else None


def _moderator(storage: HubStorage, call: Call, repo_id: RepoId, number: int) -> Token:
    """The caller's token if it may rename, close or reopen discussion ``number``: its author's or a writer's."""
    token = require_write_role(call)
    if not may_write(token, repo_id.namespace) and storage.discussion_record(repo_id, number)["author"] != token.user:
        raise HttpError(
            403, f"Only the author of discussion #{number} or a writer of '{repo_id.namespace}' may change it"
        )
    return token


# --------------------------------------------------------------------------------------------------
# JSON


def discussion_number(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise HttpError(400, f"Invalid discussion number {text!r}: expected a positive integer")
    return int(text)


def _choice(call: Call, name: str, allowed: Sequence[str]) -> str:
    value = call.query.get(name, ["all"])[-1] or "all"
    if value not in allowed:
        raise HttpError(400, f"Invalid {name} {value!r}: use one of {', '.join(allowed)}")
    return value


def _text_field(body: Mapping[str, Any], name: str) -> str:
    text = str_field(body, name)
    if not text.strip():
        raise HttpError(400, f"'{name}' is empty: write some text")
    return text


def _comment(body: Mapping[str, Any]) -> str | None:
    comment = body.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise HttpError(400, f"Expected a string in 'comment', got {type(comment).__name__}")
    return (comment or "").strip() or None


def _author_json(user: str) -> dict[str, Any]:
    return {"name": user, "type": "user", "isOwner": False}


def _summary_json(repo_id: RepoId, record: Mapping[str, Any]) -> dict[str, Any]:
    """A discussion as the listing shows it."""
    return {
        "num": record["number"],
        "title": record["title"],
        "status": record["status"],
        "isPullRequest": is_pull_request(record),
        "createdAt": record["createdAt"],
        "author": _author_json(record["author"]),
        "repo": {"name": str(repo_id), "type": repo_id.type},
        "pinned": False,
        "numComments": sum(1 for event in record["events"] if event["kind"] == "comment"),
    }


def _discussion_json(repo_id: RepoId, discussion: Discussion) -> dict[str, Any]:
    return {
        "num": discussion.number,
        "title": discussion.title,
        "status": discussion.status,
        "isPullRequest": discussion.is_pull_request,
        "createdAt": discussion.created_at,
        "author": _author_json(discussion.author),
        "repo": {"name": str(repo_id), "type": repo_id.type},
        "pinned": False,
        "locked": False,
        "events": [_event_json(event) for event in discussion.events],
    }


def _version_json(version: CommentVersion) -> dict[str, Any]:
    return {
        "raw": version.text,
        "html": _render_markdown(version.text),
        "updatedAt": version.date,
        "author": _author_json(version.author),
    }


def _render_markdown(text: str) -> str:
    """A comment's HTML, as the Hub renders it from Markdown; raw HTML in the text stays escaped text."""
    rendered: str = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"]).render(text)
    return rendered


def _event_json(event: DiscussionEvent) -> dict[str, Any]:
    """An event as the Hub lists it (huggingface_hub.community.deserialize_event reads it)."""
    data: dict[str, Any]
    match event.kind:
        case "comment":
            history = [_version_json(version) for version in reversed(event.versions)]  # newest first
            data = {
                "edited": event.edited,
                "hidden": event.hidden,
                "numEdits": len(event.versions) - 1,
                "latest": history[0],
                "history": history,
                "editors": sorted({version.author for version in event.versions}),
                "reactions": [],
            }
        case "commit":
            data = {"subject": event.text, "oid": event.oid}
        case "status-change":
            data = {"status": event.text}
        case "title-change":
            data = {"from": event.old_title, "to": event.text}
    author = _author_json(event.author)
    return {"id": event.id, "type": event.kind, "createdAt": event.date, "author": author, "data": data}


# --------------------------------------------------------------------------------------------------
# Diffs


def _pull_request_diff(storage: HubStorage, repo_id: RepoId, record: Mapping[str, Any]) -> str:
    """A git-style unified diff from the pull request's base to its head, text files line by line."""
    head = storage.resolve(repo_id, f"refs/pr/{record['number']}")
    before = storage.read_commit(repo_id, record["base"]).files if record.get("base") else {}
    parts = []
    for path in sorted(before.keys() | head.files.keys()):
        old, new = before.get(path), head.files.get(path)
        if old == new:
            continue
        parts.append(_file_diff(storage, path, old, new))
    return "".join(parts)


def _file_diff(storage: HubStorage, path: str, old: TreeEntry | None, new: TreeEntry | None) -> str:
    header = f"diff --git a/{path} b/{path}\n"
    if old is None:
        header += "new file mode 100644\n"
    elif new is None:
        header += "deleted file mode 100644\n"
    old_name, new_name = f"a/{path}" if old else "/dev/null", f"b/{path}" if new else "/dev/null"
    old_lines, new_lines = _text_lines(storage, old), _text_lines(storage, new)
    if old_lines is None or new_lines is None:
        return header + f"Binary files {old_name} and {new_name} differ\n"
    lines = difflib.unified_diff(old_lines, new_lines, old_name, new_name)
    no_newline = "\n\\ No newline at end of file\n"
    return header + "".join(line if line.endswith("\n") else line + no_newline for line in lines)


def _text_lines(storage: HubStorage, entry: TreeEntry | None) -> list[str] | None:
    """A file's lines, [] for no file; None for an LFS, large or non-UTF-8 file."""
    if entry is None:
        return []
    if entry.lfs or entry.size > DIFF_MAX_FILE_BYTES:
        return None
    try:
        return storage.object_path(entry.sha256).read_text(encoding="utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        return None
