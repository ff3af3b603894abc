"""What every route handler of the Hub emulator shares: the parsed request and the error answer.

A :class:`Call` is one request as a synchronous handler sees it (query, body, token, base URL); an
:class:`HttpError` is an error answer (docs/hub-api.md, Errors), made directly or from a storage error.
The field readers turn a malformed JSON body into a 400 that names the field; the access helpers
(:func:`visible_repo`, :func:`writable_repo`, :func:`require_write_role`, :func:`check_download`) apply
docs/hub-api.md's Access rules to a repo of the storage. The route modules (:mod:`release.hub.app` and
the route groups beside it) import this one; it imports none of them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

from starlette.responses import JSONResponse, Response

from release.hub.auth import Token, may_read, may_write
from release.hub.gating import has_access
from release.hub.limits import header_text, parse_json
from release.hub.repo import (
    URL_PREFIXES,
    AlreadyExistsError,
    CommitLimitError,
    ContentMismatchError,
    DiscussionMissingError,
    EntryMissingError,
    InvalidInputError,
    InvalidPathError,
    MergeConflictError,
    ObjectMissingError,
    Repo,
    RepoId,
    RepoMissingError,
    RevisionMissingError,
    StaleParentError,
    StorageError,
)
from release.hub.storage import HubStorage

#: How each storage error is answered: status and X-Error-Code (docs/hub-api.md, Storage errors).
_STORAGE_ERRORS: Final[Mapping[type[StorageError], tuple[int, str | None]]] = {
    StorageError: (400, None),  # fallback; the more specific entries below win
    InvalidInputError: (400, None),
    InvalidPathError: (422, None),
    ContentMismatchError: (400, None),
    CommitLimitError: (400, None),  # the Hub's status for a push with too many files in a folder
    ObjectMissingError: (400, None),
    RepoMissingError: (404, "RepoNotFound"),
    RevisionMissingError: (404, "RevisionNotFound"),
    EntryMissingError: (404, "EntryNotFound"),
    DiscussionMissingError: (404, None),
    AlreadyExistsError: (409, None),
    MergeConflictError: (409, None),
    StaleParentError: (412, None),
}


class HttpError(Exception):
    """An error answer: status, message, optional X-Error-Code, extra headers and extra body fields."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    @classmethod
    def from_storage(cls, exc: StorageError, *, extra: Mapping[str, Any] | None = None) -> HttpError:
        status, code = next(_STORAGE_ERRORS[kind] for kind in type(exc).__mro__ if kind in _STORAGE_ERRORS)
        return cls(status, str(exc), code=code, extra=extra)

    def to_response(self) -> Response:
        headers = {"X-Error-Message": header_text(self.message), **self.headers}
        if self.code:
            headers["X-Error-Code"] = self.code
        return JSONResponse({"error": self.message, **self.extra}, self.status, headers)


@dataclass(frozen=True)
class PageSizes:
    """How many items one page of a listing holds; the next page is announced by a ``Link`` header."""

    tree: int = 1000  # the Hub's page size for tree listings
    tree_expanded: int = 50  # ... and for tree listings with expand=true
    commits: int = 50
    discussions: int = 50  # the Hub's page of a repo's discussions
    repos: int = 1000  # the Hub's most repos in one page of /api/models and /api/datasets

    def __post_init__(self) -> None:
        if min(self.tree, self.tree_expanded, self.commits, self.discussions, self.repos) < 1:
            raise ValueError(f"Page sizes must be at least 1: {self}")


@dataclass(frozen=True)
class Call:
    """One parsed request, as the synchronous handlers see it."""

    query: Mapping[str, Sequence[str]]
    body: bytes
    token: Token | None  # None: anonymous
    base_url: str  # "http://127.0.0.1:PORT", as the client addressed us
    raw_path: str = ""  # the path as sent, still percent-encoded, without the query
    accept: str = ""  # the Accept header

    def flag(self, name: str) -> bool:
        return self.query.get(name, [""])[-1].lower() in ("1", "true")

    def next_link(self, name: str, value: str) -> dict[str, str]:
        """A ``Link`` header to this same URL with query parameter ``name`` set to ``value``."""
        query = {key: list(values) for key, values in self.query.items() if key != name} | {name: [value]}
        url = f"{self.base_url}{self.raw_path}?{urlencode(query, doseq=True)}"
        return {"Link": f'<{url}>; rel="next"'}

    def json_object(self) -> dict[str, Any]:
        """The JSON object body (an empty body counts as ``{}``); 400 otherwise."""
        if not self.body.strip():
            return {}
        try:
            value = parse_json(self.body, "The request body")
        except ValueError as exc:
            raise HttpError(400, f"The request body is not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise HttpError(400, "The request body must be a JSON object")
        return value

    def repo_url(self, repo_id: RepoId) -> str:
        return f"{self.base_url}/{URL_PREFIXES[repo_id.type]}{repo_id}"


Handler = Callable[[Call], Response]
#: A page of the web view: the caller's token (None: anonymous) and the query, to an answer.
PageHandler = Callable[[Token | None, Mapping[str, Sequence[str]]], Response]
#: The web view's router: a request's method and path segments to its page, or None if it is not one.
PageRouter = Callable[[str, Sequence[str]], PageHandler | None]


def require_write(call: Call, namespace: str) -> Token:
    token = call.token
    if token is None:
        raise HttpError(401, "Writing needs a write token in 'Authorization: Bearer <token>'")
    if not may_write(token, namespace):
        raise HttpError(
            403,
            f"You don't have the rights to write to namespace '{namespace}': the token of user "
            f"'{token.user}' is a {token.role} token for '{token.user}'",
        )
    return token


def str_field(item: Mapping[str, Any], name: str) -> str:
    value = item.get(name)
    if not isinstance(value, str):
        raise HttpError(400, f"Expected a string in '{name}', got {type(value).__name__}")
    return value


def int_field(item: Mapping[str, Any], name: str) -> int:
    value = item.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise HttpError(400, f"Expected a non-negative integer in '{name}', got {value!r}")
    return value


def list_field(item: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    value = item.get(name)
    if not isinstance(value, list) or not all(isinstance(element, dict) for element in value):
        raise HttpError(400, f"Expected a list of objects in '{name}'")
    return value


def base64_field(item: Mapping[str, Any], name: str) -> bytes:
    try:
        return base64.b64decode(str_field(item, name), validate=True)
    except binascii.Error as exc:
        raise HttpError(400, f"'{name}' is not valid base64: {exc}") from exc


def visible_repo(storage: HubStorage, call: Call, repo_id: RepoId, *, follow_moves: bool = False) -> Repo:
    """The repo if it exists and the caller may read it; 404 RepoNotFound otherwise.

    With ``follow_moves`` (the routes that only read), a name a repo was moved away from answers 307 to
    the same path under the repo's new name, as the Hub redirects renamed repos.
    """
    try:
        repo = storage.get_repo(repo_id)
    except RepoMissingError:
        moved = storage.redirect(repo_id) if follow_moves else None
        if moved is not None and may_read(call.token, storage.get_repo(moved)):
            location = _moved_path(call.raw_path, repo_id, moved)
            raise HttpError(307, f"The repo moved to {moved}", headers={"Location": location}) from None
        raise HttpError(404, "Repository not found", code="RepoNotFound") from None
    if not may_read(call.token, repo):
        raise HttpError(404, "Repository not found", code="RepoNotFound")
    return repo


def _moved_path(raw_path: str, old: RepoId, new: RepoId) -> str:
    """``raw_path`` with the segments ``old`` (its namespace and name) replaced by ``new``."""
    parts = raw_path.split("/")
    for index in range(len(parts) - 1):
        if parts[index].casefold() == old.namespace.casefold() and parts[index + 1].casefold() == old.name.casefold():
            parts[index : index + 2] = [new.namespace, new.name]
            break
    return "/".join(parts)


def writable_repo(storage: HubStorage, call: Call, repo_id: RepoId) -> tuple[Repo, Token]:
    """The repo and the caller's token when the caller may write to it (404, 401 or 403 otherwise)."""
    repo = visible_repo(storage, call, repo_id)
    return repo, require_write(call, repo.id.namespace)


def require_write_role(call: Call) -> Token:
    """The caller's token if it is a write token, of any namespace: what taking part in a public repo's
    discussions and pull requests needs (401 without a token, 403 with a read token)."""
    token = call.token
    if token is None:
        raise HttpError(401, "Writing needs a write token in 'Authorization: Bearer <token>'")
    if token.role != "write":
        raise HttpError(403, f"The token of user '{token.user}' is a read token: this needs a write token")
    return token


def check_download(storage: HubStorage, token: Token | None, repo: Repo, base_url: str) -> None:
    """Refuse a file of a gated repo to all but its namespace's members and users with an accepted request.

    Anonymous callers get 401, others 403, both with ``X-Error-Code: GatedRepo`` (the client's
    ``GatedRepoError``) and the Hub's text.
    """
    if repo.gated is None or (token is not None and token.acts_for(repo.id.namespace)):
        return
    if token is not None and has_access(storage.read_record(repo.id, "access"), token.user):
        return
    kind = repo.id.type
    if token is None:
        message = (
            f"Access to {kind} {repo.id} is restricted. You must have access to it and be authenticated to "
            "access it. Please log in."
        )
        raise HttpError(401, message, code="GatedRepo")
    url = f"{base_url}/{URL_PREFIXES[kind]}{repo.id}"
    message = (
        f"Access to {kind} {repo.id} is restricted and you are not in the authorized list. "
        f"Visit {url} to ask for access."
    )
    raise HttpError(403, message, code="GatedRepo")
