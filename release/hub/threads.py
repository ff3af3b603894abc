"""Discussion threads of the Hub emulator: the record each discussion or pull request keeps, and how it changes.

A repo's discussions and pull requests share one numbering. Each has a JSON record, which
:class:`release.hub.storage.HubStorage` keeps (``discussions/{n}.json``) and changes only under the
repo's lock (:meth:`~release.hub.storage.HubStorage.update_discussion`). The functions here are pure
but for the ids and dates of new events: they take a record and return a new one, or raise a
:class:`StorageError`. The record::

    {"number": n, "title": ..., "author": user, "createdAt": date,
     "pullRequest": true or false,          # absent: true (every record was a pull request's once)
     "status": "open", "closed" or "draft", # "merged" is the ref refs/merged-pr/N, kept by the storage
     "target": branch, "base": commit id,   # pull requests only
     "events": [{"id", "kind", "author", "date", "text", ...}, ...]}

A stored event is a comment (``text``: its current text; ``versions``: the earlier ones, oldest first;
``editedAt``/``editedBy``: the current version's date and author; ``hidden``), a change of status
(``text``: the new status) or of title (``text``: the new title, ``from``: the old one). The commits
of a pull request are not stored here: they are its ref's history, which
:func:`discussion_from_record` weaves in by date, with the merge once there is one.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from release.hub.repo import Commit, DiscussionMissingError, InvalidInputError, utc_timestamp

EventKind = Literal["comment", "commit", "status-change", "title-change"]
DiscussionStatus = Literal["open", "closed", "merged", "draft"]
#: The shortest and longest title the Hub takes, after stripping (huggingface_hub's create_discussion docs).
TITLE_MIN_CHARS: Final = 3
TITLE_MAX_CHARS: Final = 200


@dataclass(frozen=True)
class CommentVersion:
    """One version of a comment's text: who wrote it, and when."""

    text: str
    date: str
    author: str


@dataclass(frozen=True)
class DiscussionEvent:
    """One entry of a discussion's timeline."""

    id: str  # lowercase hex
    kind: EventKind
    author: str
    date: str  # "YYYY-MM-DDTHH:MM:SS.mmmZ"
    text: str  # the comment's current text, the commit's title, the new status or the new title
    oid: str | None = None  # commit: its id
    old_title: str | None = None  # title-change: the title before
    versions: tuple[CommentVersion, ...] = ()  # comment: every version, oldest first (the current one last)
    hidden: bool = False  # comment: hidden, its text erased

    @property
    def edited(self) -> bool:
        return len(self.versions) > 1


@dataclass(frozen=True)
class Discussion:
    """Discussion or pull request ``number``, as its record and (for a pull request) its ref's history make it."""

    number: int
    title: str
    author: str
    created_at: str
    is_pull_request: bool
    status: DiscussionStatus
    events: tuple[DiscussionEvent, ...]  # oldest first
    target: str | None = None  # pull request: the branch it merges into
    merge_commit: str | None = None  # pull request: the commit that merged it

    @property
    def description(self) -> str:
        """The text of the opening comment ("" when there is none)."""
        return next((event.text for event in self.events if event.kind == "comment"), "")


# --------------------------------------------------------------------------------------------------
# Making records and events


def check_title(title: str) -> str:
    """The title stripped; InvalidInputError unless it has 3 to 200 characters."""
    stripped = title.strip()
    if not TITLE_MIN_CHARS <= len(stripped) <= TITLE_MAX_CHARS:
        raise InvalidInputError(
            f"Invalid title {title!r}: a title has {TITLE_MIN_CHARS} to {TITLE_MAX_CHARS} characters "
            "(leading and trailing spaces are not counted)"
        )
    return stripped


def new_record(title: str, author: str, description: str, *, pull_request: bool, target: str | None) -> dict[str, Any]:
    """A new discussion's record, opened by a comment holding ``description``; the storage adds its number
    (and, for a pull request, its base). A pull request opened this way, with no commit yet, is a draft."""
    date = utc_timestamp()
    record: dict[str, Any] = {
        "title": check_title(title),
        "author": author,
        "createdAt": date,
        "pullRequest": pull_request,
        "status": "draft" if pull_request else "open",
        "events": [event_to_json(new_event("comment", author, description, date))],
    }
    if pull_request:
        record["target"] = target
    return record


def new_event(
    kind: Literal["comment", "status-change"], author: str, text: str, date: str | None = None
) -> DiscussionEvent:
    """A new comment or change of status, with a fresh id."""
    date = date or utc_timestamp()
    versions = (CommentVersion(text, date, author),) if kind == "comment" else ()
    return DiscussionEvent(secrets.token_hex(12), kind, author, date, text, versions=versions)


def event_to_json(event: DiscussionEvent) -> dict[str, Any]:
    """A stored event (commits are never stored: they are the pull request's history)."""
    data: dict[str, Any] = {
        "id": event.id,
        "kind": event.kind,
        "author": event.author,
        "date": event.date,
        "text": event.text,
    }
    if event.kind == "comment" and event.edited:
        current = event.versions[-1]
        earlier = [{"text": v.text, "date": v.date, "author": v.author} for v in event.versions[:-1]]
        data |= {"versions": earlier, "editedAt": current.date, "editedBy": current.author}
    if event.hidden:
        data["hidden"] = True
    if event.old_title is not None:
        data["from"] = event.old_title
    return data


def event_from_json(data: Mapping[str, Any]) -> DiscussionEvent:
    versions: tuple[CommentVersion, ...] = ()
    if data["kind"] == "comment":
        earlier = tuple(CommentVersion(v["text"], v["date"], v["author"]) for v in data.get("versions", []))
        current = CommentVersion(data["text"], data.get("editedAt", data["date"]), data.get("editedBy", data["author"]))
        versions = (*earlier, current)
    return DiscussionEvent(
        id=data["id"],
        kind=data["kind"],
        author=data["author"],
        date=data["date"],
        text=data["text"],
        old_title=data.get("from"),
        versions=versions,
        hidden=bool(data.get("hidden", False)),
    )


def is_pull_request(record: Mapping[str, Any]) -> bool:
    return bool(record.get("pullRequest", True))


# --------------------------------------------------------------------------------------------------
# Reading


def discussion_from_record(
    record: Mapping[str, Any], commits: Sequence[Commit], merge_commit: Commit | None
) -> Discussion:
    """The discussion a record describes; a pull request's ``commits`` (oldest first) and the commit that
    merged it join its timeline, which is sorted by date (events of the same date keep their order)."""
    stored = [event_from_json(item) for item in record["events"]]
    pushed = [DiscussionEvent(c.id[:24], "commit", c.author, c.date, c.title, oid=c.id) for c in commits]
    merged = [merged_event(merge_commit)] if merge_commit is not None else []
    pull_request = is_pull_request(record)
    return Discussion(
        number=record["number"],
        title=record["title"],
        author=record["author"],
        created_at=record["createdAt"],
        is_pull_request=pull_request,
        status="merged" if merge_commit is not None else record["status"],
        events=tuple(sorted([*stored, *pushed, *merged], key=lambda event: event.date)),
        target=record.get("target") if pull_request else None,
        merge_commit=merge_commit.id if merge_commit is not None else None,
    )


def merged_event(commit: Commit) -> DiscussionEvent:
    """The change of status to "merged" that the merge commit of a pull request stands for."""
    return DiscussionEvent(commit.id[:24], "status-change", commit.author, commit.date, "merged")


def find_comment(record: Mapping[str, Any], comment_id: str) -> DiscussionEvent:
    """The comment ``comment_id`` (case-insensitive) of the record; DiscussionMissingError when it has none."""
    for item in record["events"]:
        if item["kind"] == "comment" and item["id"] == comment_id.lower():
            return event_from_json(item)
    raise DiscussionMissingError(f"Comment {comment_id} not found in discussion #{record['number']}")


# --------------------------------------------------------------------------------------------------
# Changing


def with_event(record: Mapping[str, Any], event: DiscussionEvent) -> dict[str, Any]:
    """The record with ``event`` appended to its timeline."""
    return {**record, "events": [*record["events"], event_to_json(event)]}


def with_status(
    record: Mapping[str, Any], status: Literal["open", "closed"], author: str, comment: str | None
) -> tuple[dict[str, Any], DiscussionEvent]:
    """The record after ``author`` closed or reopened it (an optional comment first), and the change's event.

    A merged pull request keeps its status (InvalidInputError). Reopening a draft pull request opens it.
    """
    if record["status"] == "merged":
        raise InvalidInputError(f"Pull request #{record['number']} is merged: it can no longer be closed or reopened")
    date = utc_timestamp()
    changed = dict(record)
    if comment:
        changed = with_event(changed, new_event("comment", author, comment, date))
    event = new_event("status-change", author, status, date)
    return {**with_event(changed, event), "status": status}, event


def with_title(record: Mapping[str, Any], title: str, author: str) -> tuple[dict[str, Any], DiscussionEvent]:
    """The record renamed by ``author``, and the title-change event."""
    new_title = check_title(title)
    event = DiscussionEvent(
        secrets.token_hex(12), "title-change", author, utc_timestamp(), new_title, old_title=record["title"]
    )
    return {**with_event(record, event), "title": new_title}, event


def with_comment_edited(
    record: Mapping[str, Any], comment_id: str, text: str, author: str
) -> tuple[dict[str, Any], DiscussionEvent]:
    """The record with comment ``comment_id`` holding ``text`` as its new version, and the comment."""
    comment = find_comment(record, comment_id)
    if comment.hidden:
        raise InvalidInputError(f"Comment {comment.id} is hidden: it can no longer be edited")
    edited = DiscussionEvent(
        comment.id,
        "comment",
        comment.author,
        comment.date,
        text,
        versions=(*comment.versions, CommentVersion(text, utc_timestamp(), author)),
    )
    return _with_comment(record, edited), edited


def with_comment_hidden(record: Mapping[str, Any], comment_id: str) -> tuple[dict[str, Any], DiscussionEvent]:
    """The record with comment ``comment_id`` hidden for good: every version of its text is erased."""
    comment = find_comment(record, comment_id)
    if comment.hidden:
        return dict(record), comment
    hidden = DiscussionEvent(
        comment.id,
        "comment",
        comment.author,
        comment.date,
        "",
        versions=(CommentVersion("", comment.date, comment.author),),
        hidden=True,
    )
    return _with_comment(record, hidden), hidden


def _with_comment(record: Mapping[str, Any], comment: DiscussionEvent) -> dict[str, Any]:
    events = [event_to_json(comment) if item["id"] == comment.id else item for item in record["events"]]
    return {**record, "events": events}


# --------------------------------------------------------------------------------------------------
# Listing


def matches(record: Mapping[str, Any], *, author: str | None, kind: str, status: str) -> bool:
    """Whether a record passes the listing's filters: ``kind`` is ``all``, ``discussion`` or
    ``pull_request``; ``status`` is ``all``, ``open`` (drafts included) or ``closed`` (merged included)."""
    if author is not None and record["author"] != author:
        return False
    if kind != "all" and (kind == "pull_request") != is_pull_request(record):
        return False
    wanted = {"all": None, "open": ("open", "draft"), "closed": ("closed", "merged")}[status]
    return wanted is None or record["status"] in wanted
