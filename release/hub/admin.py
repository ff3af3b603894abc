"""Repository administration routes of the Hub emulator: settings, moves, gating and access requests.

``PUT /api/{type}/{id}/settings`` (``update_repo_settings``: visibility and gating), ``POST /api/repos/move``
(``move_repo``), and the access requests of a gated repo (``list_*_access_requests``,
``accept/reject/cancel_access_request``, ``grant_access``); docs/hub-api.md, Repository administration.
The app routes to the methods of :class:`RepoAdmin`; the gate the file downloads pass is
:func:`release.hub.calls.check_download`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Literal

from starlette.responses import JSONResponse, Response

from release.hub.calls import Call, HttpError, require_write, str_field, writable_repo
from release.hub.gating import (
    AccessRequest,
    AccessRequestError,
    AccessStatus,
    access_requests,
    access_status,
    grant_access,
    handle_request,
)
from release.hub.repo import URL_PREFIXES, GatedMode, Repo, RepoId, StorageError, utc_timestamp
from release.hub.storage import HubStorage

log = logging.getLogger(__name__)


class RepoAdmin:
    """The administration routes over one storage; ``users`` are the user names the emulator knows."""

    def __init__(self, storage: HubStorage, users: Iterable[str]) -> None:
        self._storage = storage
        self._users = {user.casefold(): user for user in users}

    def update_settings(self, repo_id: RepoId, call: Call) -> Response:
        """``private`` or ``visibility`` and ``gated``; any other setting is refused by name."""
        repo, _ = writable_repo(self._storage, call, repo_id)
        body = call.json_object()
        unknown = sorted(set(body) - {"private", "visibility", "gated"})
        if unknown:
            raise HttpError(
                400, f"Setting {unknown[0]!r} is not served by the Hub emulator: use 'private', 'visibility' or 'gated'"
            )
        private = _private_setting(body)
        gated = _gated_setting(body)
        updated = self._storage.update_repo_settings(repo.id, private=private, gated=gated)
        log.info("%s: settings private=%s gated=%s", updated.id, updated.private, updated.gated)
        return JSONResponse({"private": updated.private, "gated": updated.gated or False})

    def move_repo(self, call: Call) -> Response:
        body = call.json_object()
        kind = body.get("type", "model")
        if kind not in URL_PREFIXES:
            raise HttpError(400, f"Repo type {kind!r} is not served: the Hub emulator has model and dataset repos")
        source = _repo_id_field(kind, body, "fromRepo")
        target = _repo_id_field(kind, body, "toRepo")
        repo, _ = writable_repo(self._storage, call, source)
        require_write(call, target.namespace)
        moved = self._storage.move_repo(repo.id, target)
        log.info("moved %s repo %s to %s", kind, repo.id, moved.id)
        return JSONResponse({"url": call.repo_url(moved.id)})

    # -- access requests ---------------------------------------------------------------------------

    def list_access_requests(self, repo_id: RepoId, status: str, call: Call) -> Response:
        repo = self._gated_repo(call, repo_id)
        wanted = self._status(status)
        record = self._storage.read_record(repo.id, "access")
        return JSONResponse([_request_json(r) for r in access_requests(record) if r.status == wanted])

    def handle_access_request(self, repo_id: RepoId, call: Call) -> Response:
        repo = self._gated_repo(call, repo_id)
        body = call.json_object()
        user = _optional_str(body, "user")
        request_id = _optional_str(body, "requestId")
        if (user is None) == (request_id is None):
            raise HttpError(400, "Name exactly one of 'user' and 'requestId' in the request body")
        status = self._status(body.get("status"))
        reason = _optional_str(body, "rejectionReason")
        now = utc_timestamp()
        self._update_access(
            repo,
            lambda record: handle_request(
                record, user=user, request_id=request_id, status=status, rejection_reason=reason, now=now
            ),
        )
        log.info("%s: access request of %s is now %s", repo.id, user or request_id, status)
        return JSONResponse({})

    def grant_access(self, repo_id: RepoId, call: Call) -> Response:
        repo = self._gated_repo(call, repo_id)
        user = str_field(call.json_object(), "user")
        known = self._users.get(user.casefold())
        if known is None:
            raise HttpError(404, f"User {user} not found")
        now = utc_timestamp()
        self._update_access(repo, lambda record: grant_access(record, known, now))
        log.info("%s: access granted to %s", repo.id, known)
        return JSONResponse({})

    def _gated_repo(self, call: Call, repo_id: RepoId) -> Repo:
        """The repo, if the caller may administer it and it is gated (400 otherwise, as on the Hub)."""
        repo, _ = writable_repo(self._storage, call, repo_id)
        if repo.gated is None:
            raise HttpError(400, f"Repo {repo.id} is not gated: gate it first (update_repo_settings(gated=...))")
        return repo

    def _update_access(self, repo: Repo, change: Callable[[Any], Any]) -> None:
        try:
            self._storage.update_record(repo.id, "access", change)
        except AccessRequestError as exc:
            raise HttpError(exc.status, str(exc)) from exc

    @staticmethod
    def _status(text: object) -> AccessStatus:
        try:
            return access_status(text)
        except AccessRequestError as exc:
            raise HttpError(exc.status, str(exc)) from exc


def _request_json(request: AccessRequest) -> dict[str, Any]:
    """An access request as the Hub lists it (``email`` is shared only for requests users made themselves)."""
    user: dict[str, Any] = {"user": request.user, "fullname": request.user, "type": "user"}
    if not request.granted:
        user["email"] = None
    return {"requestId": request.id, "user": user, "status": request.status, "timestamp": request.timestamp}


def _private_setting(body: dict[str, Any]) -> bool | None:
    private, visibility = body.get("private"), body.get("visibility")
    if private is not None and not isinstance(private, bool):
        raise HttpError(400, f"Expected true or false in 'private', got {private!r}")
    if visibility is None:
        return bool(private) if private is not None else None
    if visibility not in ("public", "private"):
        raise HttpError(400, f"Unknown visibility {visibility!r}: use 'public' or 'private'")
    if private is not None and private != (visibility == "private"):
        raise HttpError(400, "'private' and 'visibility' disagree: send one of them")
    return bool(visibility == "private")


def _gated_setting(body: dict[str, Any]) -> GatedMode | Literal[False] | None:
    if "gated" not in body:
        return None
    gated = body["gated"]
    if gated is False or gated == "false":
        return False
    if gated in ("auto", "manual"):
        return "auto" if gated == "auto" else "manual"
    raise HttpError(400, f"Invalid gated setting {gated!r}: use 'auto', 'manual' or false")


def _optional_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise HttpError(400, f"Expected a string in '{name}', got {type(value).__name__}")
    return value


def _repo_id_field(kind: Literal["model", "dataset"], body: dict[str, Any], name: str) -> RepoId:
    text = str_field(body, name)
    namespace, slash, repo_name = text.partition("/")
    if not slash:
        raise HttpError(400, f"'{name}' must be a repo id 'namespace/name', got {text!r}")
    try:
        return RepoId(kind, namespace, repo_name)
    except StorageError as exc:
        raise HttpError(400, f"'{name}': {exc}") from exc
