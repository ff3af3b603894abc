"""Access requests to a gated repo: the records the storage keeps beside it, and how they change.

A gated repo (``Repo.gated``, set by ``PUT .../settings``) lets its namespace's writers and the users
whose request is *accepted* download its files; everyone who may read the repo still sees its info and
tree. A request is ``pending``, ``accepted`` or ``rejected``; the owner moves it between the three
(``POST .../user-access-request/handle``) or grants access outright (``.../grant``), as huggingface_hub's
``accept_access_request``, ``reject_access_request``, ``cancel_access_request`` and ``grant_access`` do.

The record is plain JSON (``{"requests": [...]}``) that :meth:`release.hub.storage.HubStorage.update_record`
stores under the repo's lock; the functions here are pure: they take a record and return a new one, or
raise :class:`AccessRequestError` with the status the Hub answers (docs/hub-api.md, Repository administration).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from release.hub.repo import StorageError

AccessStatus = Literal["pending", "accepted", "rejected"]
ACCESS_STATUSES: Final[tuple[AccessStatus, ...]] = ("pending", "accepted", "rejected")
#: The longest rejection reason the Hub takes.
REJECTION_REASON_MAX_CHARS: Final = 200


class AccessRequestError(StorageError):
    """An access request change the Hub refuses; ``status`` is its HTTP status (400 or 404)."""

    def __init__(self, message: str, status: Literal[400, 404]) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class AccessRequest:
    """One user's request for access to a gated repo."""

    id: str  # 24 hex digits, like the Hub's request ids
    user: str
    status: AccessStatus
    timestamp: str  # when it last changed, "YYYY-MM-DDTHH:MM:SS.mmmZ"
    granted: bool = False  # accepted by the owner's grant, not asked for by the user
    rejection_reason: str | None = None


def access_requests(record: Mapping[str, Any] | None) -> list[AccessRequest]:
    """The requests of a stored record (None: no record yet), oldest first."""
    items = (record or {}).get("requests", [])
    return [
        AccessRequest(
            item["id"], item["user"], item["status"], item["timestamp"], item["granted"], item.get("rejectionReason")
        )
        for item in items
    ]


def has_access(record: Mapping[str, Any] | None, user: str) -> bool:
    """Whether ``user`` holds an accepted request (user names are case-insensitive)."""
    return any(r.user.casefold() == user.casefold() and r.status == "accepted" for r in access_requests(record))


def grant_access(record: Mapping[str, Any] | None, user: str, now: str) -> dict[str, Any]:
    """Accept ``user`` without a request of theirs; 400 if they already have access."""
    requests = access_requests(record)
    existing = _find(requests, user, None)
    if existing is not None and existing.status == "accepted":
        raise AccessRequestError(f"User {user} already has access to this repo", 400)
    granted = AccessRequest(existing.id if existing else secrets.token_hex(12), user, "accepted", now, granted=True)
    return _record([r for r in requests if r is not existing] + [granted])


def handle_request(
    record: Mapping[str, Any] | None,
    *,
    user: str | None,
    request_id: str | None,
    status: AccessStatus,
    rejection_reason: str | None,
    now: str,
) -> dict[str, Any]:
    """Move the request of ``user`` (or the one with ``request_id``) to ``status``.

    404 when there is no such request or it already has that status; 400 for a rejection reason on
    anything but a rejection, or one longer than the Hub takes.
    """
    if rejection_reason is not None and (status != "rejected" or len(rejection_reason) > REJECTION_REASON_MAX_CHARS):
        raise AccessRequestError(
            f"A rejection reason goes with status 'rejected' only, in at most {REJECTION_REASON_MAX_CHARS} characters",
            400,
        )
    requests = access_requests(record)
    found = _find(requests, user, request_id)
    who = f"user {user}" if user is not None else f"request {request_id}"
    if found is None:
        raise AccessRequestError(f"No access request of {who} for this repo", 404)
    if found.status == status:
        raise AccessRequestError(f"The access request of {who} is already {status}", 404)
    changed = AccessRequest(found.id, found.user, status, now, found.granted, rejection_reason)
    return _record([changed if r is found else r for r in requests])


def _find(requests: list[AccessRequest], user: str | None, request_id: str | None) -> AccessRequest | None:
    for request in requests:
        if (user is not None and request.user.casefold() == user.casefold()) or request.id == request_id:
            return request
    return None


def _record(requests: list[AccessRequest]) -> dict[str, Any]:
    items = []
    for request in requests:
        item: dict[str, Any] = {
            "id": request.id,
            "user": request.user,
            "status": request.status,
            "timestamp": request.timestamp,
            "granted": request.granted,
        }
        if request.rejection_reason is not None:
            item["rejectionReason"] = request.rejection_reason
        items.append(item)
    return {"requests": items}


def access_status(text: object) -> AccessStatus:
    """A status of a handle request; AccessRequestError (400) for anything else."""
    if text not in ACCESS_STATUSES:
        raise AccessRequestError(f"Invalid status {text!r}: use 'pending', 'accepted' or 'rejected'", 400)
    return text
