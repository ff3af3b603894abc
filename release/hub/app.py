"""The ASGI app of the local Hub emulator: the HTTP API that huggingface_hub 2.4.0 speaks.

``docs/hub-api.md`` describes every route (Endpoints), who may call it (Access) and how errors are
answered (Errors); this module is that API and nothing else. Paths the API does not claim go to the
``pages`` router it is given (the web view, :mod:`release.hub.web`, which the server plugs in).

Routing works on the raw path (``scope["raw_path"]``): it is split on ``/`` first and each segment is
percent-decoded afterwards, so ``refs%2Fpr%2F1`` or a ``path_in_repo`` of ``a%2Fb`` stays one segment.
Handlers are plain synchronous functions of a :class:`Call` and run in a worker thread, so storage I/O
never blocks the event loop; only the LFS upload streams its body on the loop, chunk by chunk.

Errors are ``{"error": message}`` with the same text in ``X-Error-Message`` and, for not-found errors,
an ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``) that the client needs to
raise the right exception. Unknown routes answer a fast 404: the client retries 5xx for about 23 s.

Pull requests opened by ``create_commit(create_pr=True)`` can also be read, closed, reopened and merged
(``get_discussion_details``, ``change_discussion_status``, ``merge_pull_request``; docs/hub-api.md, Pull
requests). A merge is a squash merge as atomic and durable as a commit (see :mod:`release.hub.storage`).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import hmac
import html
import itertools
import json
import logging
import mimetypes
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Final
from urllib.parse import parse_qs, unquote, urlencode

import yaml
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.types import Receive, Scope, Send

from release.hub.auth import Token, bearer_token, may_read, may_write
from release.hub.limits import (
    BODY_RULES,
    BODY_TIMEOUT_SECONDS,
    NO_BODY,
    USER_FILE_HEADERS,
    BodyRule,
    LimitError,
    body_chunks,
    header_text,
    load_metadata,
    parse_json,
    read_body,
)
from release.hub.repo import (
    FRONT_MATTER,
    URL_PREFIXES,
    AddFile,
    AddLfsFile,
    AlreadyExistsError,
    Commit,
    CommitLimitError,
    CommitRequest,
    ContentMismatchError,
    DeleteFile,
    DeleteFolder,
    DiscussionMissingError,
    EntryMissingError,
    Folder,
    InvalidInputError,
    MergeConflictError,
    ObjectMissingError,
    Operation,
    PullRequestEvent,
    RepoId,
    RepoMissingError,
    RepoType,
    RevisionMissingError,
    StaleParentError,
    StorageError,
    TreeEntry,
    find_path,
    is_sha256,
    list_folder,
    upload_mode,
)
from release.hub.storage import HubStorage

log = logging.getLogger(__name__)

API_TYPES: Final[Mapping[str, RepoType]] = {"models": "model", "datasets": "dataset"}
INVALID_CREDENTIALS: Final = "Invalid credentials in Authorization header"
UPLOAD_LINK_SECONDS: Final = 3600
LFS_CONTENT_TYPE: Final = "application/vnd.git-lfs+json"
#: The largest README.md whose front matter repo info parses into ``cardData``.
CARD_MAX_BYTES: Final = 1024 * 1024

#: How each storage error is answered: status and X-Error-Code (docs/hub-api.md, Storage errors).
_STORAGE_ERRORS: Final[Mapping[type[StorageError], tuple[int, str | None]]] = {
    StorageError: (400, None),  # fallback; the more specific entries below win
    InvalidInputError: (400, None),
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

    def __post_init__(self) -> None:
        if min(self.tree, self.tree_expanded, self.commits) < 1:
            raise ValueError(f"Page sizes must be at least 1: {self}")


@dataclass(frozen=True)
class Call:
    """One parsed request, as the synchronous handlers see it."""

    query: Mapping[str, Sequence[str]]
    body: bytes
    token: Token | None  # None: anonymous
    base_url: str  # "http://127.0.0.1:PORT", as the client addressed us
    raw_path: str = ""  # the path as sent, still percent-encoded, without the query

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


def create_app(
    storage: HubStorage,
    tokens: Sequence[Token],
    *,
    page_sizes: PageSizes | None = None,
    pages: PageRouter | None = None,
    body_timeout: float = BODY_TIMEOUT_SECONDS,
) -> HubApp:
    """The emulator's ASGI app over ``storage``, accepting exactly ``tokens``.

    ``pages`` serves the paths no API route claims (the server passes the web view's router); without
    it those paths answer 404. A request body that stalls for ``body_timeout`` seconds answers 408.
    """
    return HubApp(storage, tokens, page_sizes=page_sizes, pages=pages, body_timeout=body_timeout)


class HubApp:
    """ASGI entry point: parse the raw path, authenticate, dispatch, and turn errors into answers."""

    def __init__(
        self,
        storage: HubStorage,
        tokens: Sequence[Token],
        *,
        page_sizes: PageSizes | None = None,
        pages: PageRouter | None = None,
        body_timeout: float = BODY_TIMEOUT_SECONDS,
    ) -> None:
        self._storage = storage
        self._tokens = tuple(tokens)
        self._page_sizes = page_sizes or PageSizes()
        self._pages = pages
        self._body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        try:
            response = await self._respond(request)
        except ClientDisconnect:
            return
        except HttpError as exc:
            response = exc.to_response()
        except LimitError as exc:
            response = HttpError(exc.status, exc.message).to_response()
        except StorageError as exc:
            response = HttpError.from_storage(exc).to_response()
        except Exception:
            log.exception("Hub emulator failed on %s %s", request.method, request.url.path)
            response = HttpError(500, "Internal error in the Hub emulator; see its log").to_response()
        await response(scope, receive, send)

    async def _respond(self, request: Request) -> Response:
        raw_path: bytes = (request.scope.get("raw_path") or request.scope["path"].encode()).partition(b"?")[0]
        parts = _split_path(raw_path)
        if request.method == "PUT" and len(parts) == 3 and parts[:2] == ["api", "lfs-upload"]:
            return await self._receive_upload(request, parts[2])
        handler = self._route(request.method, parts) or self._page(request.method, parts)
        if handler is None:
            raise HttpError(404, f"The Hub emulator has no route for {request.method} /{'/'.join(parts)}")
        token = self._authenticate(request.headers)  # before the body: a bad token is refused unread
        rule = _body_rule(handler)
        if token is None and rule.needs_token:
            raise HttpError(401, "Writing needs a write token in 'Authorization: Bearer <token>'")
        call = Call(
            query=parse_qs(request.scope["query_string"].decode("latin-1"), keep_blank_values=True),
            body=await read_body(request.receive, request.headers, rule.max_bytes, self._body_timeout),
            token=token,
            base_url=str(request.base_url).rstrip("/"),
            raw_path=raw_path.decode("ascii"),
        )
        return await run_in_threadpool(handler, call)

    # -- routing -----------------------------------------------------------------------------------

    def _route(self, method: str, parts: list[str]) -> Handler | None:
        match method, parts:
            case "GET", ["api", "whoami-v2"]:
                return whoami
            case "GET", ["api", "agent-harnesses"]:
                return agent_harnesses
            case "POST", ["api", "validate-yaml"]:
                return validate_yaml
            case "POST", ["api", "repos", "create"]:
                return self.create_repo
            case "DELETE", ["api", "repos", "delete"]:
                return self.delete_repo
            case _, ["api", kind, namespace, name, *rest] if kind in API_TYPES:
                return self._route_repo_api(method, RepoId(API_TYPES[kind], namespace, name), rest)
            case "POST", ["datasets", namespace, git_name, "info", "lfs", "objects", action]:
                return self._route_lfs(RepoId("dataset", namespace, git_name.removesuffix(".git")), action)
            case "POST", [namespace, git_name, "info", "lfs", "objects", action] if git_name.endswith(".git"):
                return self._route_lfs(RepoId("model", namespace, git_name.removesuffix(".git")), action)
            case "GET" | "HEAD", ["datasets", namespace, name, "resolve", revision, *path] if path:
                return partial(self.resolve_file, RepoId("dataset", namespace, name), revision, "/".join(path))
            case "GET" | "HEAD", [namespace, name, "resolve", revision, *path] if path:
                return partial(self.resolve_file, RepoId("model", namespace, name), revision, "/".join(path))
        return None

    def _page(self, method: str, parts: list[str]) -> Handler | None:
        """A page of the web view, for a path no API route claims."""
        page = self._pages(method, parts) if self._pages is not None else None
        return partial(_serve_page, page) if page is not None else None

    def _route_repo_api(self, method: str, repo_id: RepoId, rest: list[str]) -> Handler | None:
        match method, rest:
            case "GET", []:
                return partial(self.repo_info, repo_id, None)
            case "GET", ["revision", revision]:
                return partial(self.repo_info, repo_id, revision)
            case "GET", ["tree", revision, *path]:
                return partial(self.list_tree, repo_id, revision, "/".join(path))
            case "POST", ["paths-info", revision]:
                return partial(self.paths_info, repo_id, revision)
            case "GET", ["refs"]:
                return partial(self.list_refs, repo_id)
            case "GET", ["commits", revision]:
                return partial(self.list_commits, repo_id, revision)
            case "POST", ["tag", revision]:
                return partial(self.create_tag, repo_id, revision)
            case "DELETE", ["tag", tag]:
                return partial(self.delete_tag, repo_id, tag)
            case "POST", ["branch", branch]:
                return partial(self.create_branch, repo_id, branch)
            case "DELETE", ["branch", branch]:
                return partial(self.delete_branch, repo_id, branch)
            case "POST", ["preupload", revision]:
                return partial(self.preupload, repo_id, revision)
            case "POST", ["commit", revision]:
                return partial(self.commit, repo_id, revision)
            case "GET", ["discussions", number]:
                return partial(self.discussion_details, repo_id, number)
            case "POST", ["discussions", number, "status"]:
                return partial(self.change_discussion_status, repo_id, number)
            case "POST", ["discussions", number, "merge"]:
                return partial(self.merge_pull_request, repo_id, number)
        return None

    def _route_lfs(self, repo_id: RepoId, action: str) -> Handler | None:
        match action:
            case "batch":
                return partial(self.lfs_batch, repo_id)
            case "verify":
                return partial(self.lfs_verify, repo_id)
        return None

    # -- access ------------------------------------------------------------------------------------

    def _authenticate(self, headers: Headers) -> Token | None:
        """The caller's token; None without an Authorization header; 401 for one that names no token."""
        value = headers.get("authorization")
        if value is None:
            return None
        token = bearer_token(value, self._tokens)
        if token is None:
            raise HttpError(401, INVALID_CREDENTIALS)
        return token

    def _visible_repo(self, call: Call, repo_id: RepoId) -> None:
        """404 RepoNotFound unless the repo exists and is public or in the caller's namespace."""
        if not may_read(call.token, self._storage.get_repo(repo_id)):
            raise HttpError(404, "Repository not found", code="RepoNotFound")

    def _writable_repo(self, call: Call, repo_id: RepoId) -> Token:
        self._visible_repo(call, repo_id)
        return _require_write(call, repo_id.namespace)

    # -- repos -------------------------------------------------------------------------------------

    def create_repo(self, call: Call) -> Response:
        body = call.json_object()
        repo_id = _repo_id_of_body(call, body)
        token = _require_write(call, repo_id.namespace)
        visibility = body.get("visibility", "private" if body.get("private") else "public")
        if visibility not in ("public", "private"):
            raise HttpError(400, f"Unknown visibility {visibility!r}: use 'public' or 'private'")
        url = call.repo_url(repo_id)
        try:
            self._storage.create_repo(repo_id, private=visibility == "private", author=token.user)
        except AlreadyExistsError as exc:
            raise HttpError.from_storage(exc, extra={"url": url}) from exc
        log.info("created %s repo %s (%s)", repo_id.type, repo_id, visibility)
        return JSONResponse({"url": url, "id": str(repo_id), "name": str(repo_id)})

    def delete_repo(self, call: Call) -> Response:
        repo_id = _repo_id_of_body(call, call.json_object())
        self._writable_repo(call, repo_id)
        self._storage.delete_repo(repo_id)
        log.info("deleted %s repo %s", repo_id.type, repo_id)
        return JSONResponse({})

    def repo_info(self, repo_id: RepoId, revision: str | None, call: Call) -> Response:
        self._visible_repo(call, repo_id)
        repo = self._storage.get_repo(repo_id)
        commit = self._storage.resolve(repo_id, revision or "main")
        with_blobs = call.flag("blobs")
        card = self._card_data(commit)
        info: dict[str, Any] = {
            "_id": hashlib.sha1(str(repo_id).encode(), usedforsecurity=False).hexdigest()[:24],
            "id": str(repo_id),
            "author": repo_id.namespace,
            "sha": commit.id,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": _card_tags(card),
            "createdAt": repo.created_at,
            "lastModified": commit.date,
            "siblings": [_sibling_json(entry, with_blobs) for entry in commit.files.values()],
        }
        if card is not None:
            info["cardData"] = card
            for key in ("library_name", "pipeline_tag"):
                if isinstance(card.get(key), str):
                    info[key] = card[key]
        expand = call.query.get("expand", [])
        if expand:  # like the Hub: only the properties asked for, plus the ids
            info = {key: value for key, value in info.items() if key in ("_id", "id", *expand)}
        return JSONResponse(info)

    def _card_data(self, commit: Commit) -> dict[str, Any] | None:
        """The YAML front matter of the commit's README.md as a mapping; None when absent or not a mapping."""
        entry = commit.files.get("README.md")
        if entry is None or entry.size > CARD_MAX_BYTES:
            return None
        text = self._storage.object_path(entry.sha256).read_bytes().decode("utf-8", errors="replace")
        match = FRONT_MATTER.search(text)
        if match is None:
            return None
        try:
            metadata = load_metadata(match.group(2))
            # as JSON: YAML dates become strings; keys JSON cannot hold make the card unreadable
            card = json.loads(json.dumps(metadata, default=str, allow_nan=False))
        except LimitError as exc:  # not expanded, not served: repo info answers without cardData
            log.warning("README.md of commit %s: %s", commit.id[:7], exc.message)
            return None
        except (yaml.YAMLError, TypeError, ValueError):
            return None
        return card if isinstance(card, dict) else None

    # -- reading trees and history -----------------------------------------------------------------

    def list_tree(self, repo_id: RepoId, revision: str, path: str, call: Call) -> Response:
        self._visible_repo(call, repo_id)
        commit = self._storage.resolve(repo_id, revision)
        recursive = call.flag("recursive")
        # Built once per commit, folder and depth, then paged through: commits never change.
        entries, paths = self._storage.derived(
            repo_id, ("listing", commit.id, path, recursive), lambda: self._listing(repo_id, commit, path, recursive)
        )
        expand = call.flag("expand")
        size = self._page_sizes.tree_expanded if expand else self._page_sizes.tree
        cursor = call.query.get("cursor", [""])[-1]
        start = bisect.bisect_right(paths, _decode_cursor(cursor)) if cursor else 0
        page = entries[start : start + size]
        headers = call.next_link("cursor", _encode_cursor(page[-1].path)) if start + size < len(entries) else {}
        return JSONResponse(self._entries_json(repo_id, commit, page, expand=expand), headers=headers)

    def _listing(
        self, repo_id: RepoId, commit: Commit, path: str, recursive: bool
    ) -> tuple[list[TreeEntry | Folder], list[str]]:
        oids = self._storage.folder_oids(repo_id, commit)
        entries = list_folder(commit, path, recursive=recursive, oids=oids)
        return entries, [entry.path for entry in entries]

    def paths_info(self, repo_id: RepoId, revision: str, call: Call) -> Response:
        self._visible_repo(call, repo_id)
        commit = self._storage.resolve(repo_id, revision)
        try:
            form = parse_qs(call.body.decode(), keep_blank_values=True)  # form-encoded, not JSON
        except UnicodeDecodeError as exc:
            raise HttpError(400, "The paths-info body is not UTF-8 form data (paths=...&paths=...)") from exc
        files = commit.files

        def entry_at(path: str) -> TreeEntry | Folder | None:  # a folder's tree id only when a folder is asked for
            return files.get(path.strip("/")) or find_path(commit, path, self._storage.folder_oids(repo_id, commit))

        found = [entry for path in form.get("paths", []) if (entry := entry_at(path)) is not None]
        expand = form.get("expand", [""])[-1].lower() in ("1", "true")
        return JSONResponse(self._entries_json(repo_id, commit, found, expand=expand))

    def _entries_json(
        self, repo_id: RepoId, commit: Commit, entries: Sequence[TreeEntry | Folder], *, expand: bool
    ) -> list[dict[str, Any]]:
        """Tree entries as the Hub lists them; ``expand`` adds each one's ``lastCommit``."""
        if not expand:
            return [_entry_json(entry) for entry in entries]
        last = self._storage.last_commits(repo_id, commit, [entry.path for entry in entries])
        return [_entry_json(entry) | {"lastCommit": _last_commit_json(last[entry.path])} for entry in entries]

    def list_refs(self, repo_id: RepoId, call: Call) -> Response:
        self._visible_repo(call, repo_id)
        refs = self._storage.read_refs(repo_id)
        body: dict[str, Any] = {
            "branches": [_ref_json(name, f"refs/heads/{name}", sha) for name, sha in refs.named("refs/heads/")],
            "converts": [],
            "tags": [_ref_json(name, f"refs/tags/{name}", sha) for name, sha in refs.named("refs/tags/")],
        }
        if call.flag("include_prs"):
            pulls = refs.named("refs/pr/")
            body["pullRequests"] = [_ref_json(f"refs/pr/{n}", f"refs/pr/{n}", sha) for n, sha in pulls]
        return JSONResponse(body)

    def list_commits(self, repo_id: RepoId, revision: str, call: Call) -> Response:
        self._visible_repo(call, repo_id)
        formatted = "formatted" in [*call.query.get("expand[]", []), *call.query.get("expand", [])]
        page_text = call.query.get("p", ["0"])[-1]
        if not page_text.isdigit():
            raise HttpError(400, f"Invalid page number p={page_text!r}: expected a non-negative integer")
        size, page = self._page_sizes.commits, int(page_text)
        history = self._storage.history(repo_id, self._storage.resolve(repo_id, revision))  # newest first
        window = list(itertools.islice(history, page * size, (page + 1) * size + 1))  # one more: is there a next?
        items = []
        for commit in window[:size]:
            item: dict[str, Any] = {
                "id": commit.id,
                "title": commit.title,
                "message": commit.message,
                "date": commit.date,
                "authors": [{"user": commit.author}],
            }
            if formatted:  # the Hub renders them as HTML; the emulator escapes the plain text
                item["formatted"] = {"title": html.escape(commit.title), "message": html.escape(commit.message)}
            items.append(item)
        headers = call.next_link("p", str(page + 1)) if len(window) > size else {}
        return JSONResponse(items, headers=headers)

    def resolve_file(self, repo_id: RepoId, revision: str, path: str, call: Call) -> Response:
        self._visible_repo(call, repo_id)
        commit = self._storage.resolve(repo_id, revision)
        entry = commit.files.get(path)
        if entry is None:
            raise HttpError(404, f"Entry not found: {path}", code="EntryNotFound", headers={"X-Repo-Commit": commit.id})
        # As on the Hub: ETag is the git oid (of the pointer, for LFS files); the client caches LFS blobs by
        # the sha256 in X-Linked-Etag, which it prefers. Each id names one content, so caches stay right.
        headers = {"X-Repo-Commit": commit.id, "ETag": f'"{entry.git_oid}"'}
        if entry.lfs:
            headers |= {"X-Linked-Etag": f'"{entry.sha256}"', "X-Linked-Size": str(entry.size)}
        object_path = self._storage.object_path(entry.sha256)
        media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        headers |= USER_FILE_HEADERS
        return FileResponse(object_path, headers=headers, media_type=media_type, stat_result=object_path.stat())

    # -- refs --------------------------------------------------------------------------------------

    def create_tag(self, repo_id: RepoId, revision: str, call: Call) -> Response:
        self._writable_repo(call, repo_id)
        tag = call.json_object().get("tag")
        if not isinstance(tag, str):
            raise HttpError(400, "Missing 'tag' in the request body")
        self._storage.create_tag(repo_id, tag, revision)
        return JSONResponse({})

    def delete_tag(self, repo_id: RepoId, tag: str, call: Call) -> Response:
        self._writable_repo(call, repo_id)
        self._storage.delete_tag(repo_id, tag)
        return JSONResponse({})

    def create_branch(self, repo_id: RepoId, branch: str, call: Call) -> Response:
        self._writable_repo(call, repo_id)
        starting_point = call.json_object().get("startingPoint")
        self._storage.create_branch(repo_id, branch, str(starting_point) if starting_point else None)
        return JSONResponse({})

    def delete_branch(self, repo_id: RepoId, branch: str, call: Call) -> Response:
        self._writable_repo(call, repo_id)
        self._storage.delete_branch(repo_id, branch)
        return JSONResponse({})

    # -- uploads and commits -----------------------------------------------------------------------

    def preupload(self, repo_id: RepoId, revision: str, call: Call) -> Response:
        self._writable_repo(call, repo_id)
        commit = self._storage.resolve(repo_id, revision)
        answers = []
        for item in _list_field(call.json_object(), "files"):
            path, size = _str_field(item, "path"), _int_field(item, "size")
            answer: dict[str, Any] = {
                "path": path,
                "uploadMode": upload_mode(path, size, _base64_field(item, "sample")),
                "shouldIgnore": False,
            }
            if path in commit.files:
                answer["oid"] = commit.files[path].content_id
            answers.append(answer)
        return JSONResponse({"files": answers, "commitOid": commit.id})

    def lfs_batch(self, repo_id: RepoId, call: Call) -> Response:
        self._writable_repo(call, repo_id)
        body = call.json_object()
        if body.get("operation") != "upload":
            raise HttpError(400, "The Hub emulator's LFS batch API only uploads; download files through /resolve")
        verify_href = f"{call.repo_url(repo_id)}.git/info/lfs/objects/verify"
        objects = [self._batch_object(repo_id, item, call, verify_href) for item in _list_field(body, "objects")]
        answer = {"transfer": "basic", "objects": objects, "hash_algo": "sha256"}
        return JSONResponse(answer, headers={"Content-Type": LFS_CONTENT_TYPE})

    def _batch_object(self, repo_id: RepoId, item: Mapping[str, Any], call: Call, verify_href: str) -> dict[str, Any]:
        """One object of a batch answer: no actions if this repo has it, else a signed upload link and a verify link.

        Objects other repos uploaded are not "already stored" here: the uploader must send the bytes once, so
        that knowing a sha256 never gives access to content (nor reveals that some repo holds it).
        """
        oid, size = item.get("oid"), item.get("size")
        if not isinstance(oid, str) or not is_sha256(oid) or not isinstance(size, int) or size < 0:
            message = "Each object needs a sha256 'oid' (64 lowercase hex digits) and a non-negative 'size'"
            return {
                "oid": str(oid),
                "size": size if isinstance(size, int) else 0,
                "error": _lfs_error(message),
            }
        stored = self._storage.linked_object_size(repo_id, oid)
        if stored == size:
            return {"oid": oid, "size": size}
        if stored is not None:
            return {
                "oid": oid,
                "size": size,
                "error": _lfs_error(f"Object {oid} is stored with size {stored}"),
            }
        expires = int(time.time()) + UPLOAD_LINK_SECONDS
        repo = _signed_repo_name(repo_id)
        signature = _upload_signature(self._storage.secret, repo, oid, size, expires)
        query = urlencode({"repo": repo, "size": size, "expires": expires, "signature": signature})
        upload_href = f"{call.base_url}/api/lfs-upload/{oid}?{query}"
        actions = {"upload": {"href": upload_href}, "verify": {"href": verify_href}}
        return {"oid": oid, "size": size, "actions": actions}

    async def _receive_upload(self, request: Request, oid: str) -> Response:
        """The basic LFS PUT: authorised by its signed link, streamed to a temp file, stored if it matches.

        The link names repo, oid, size and expiry under one signature, so it can store nothing but those
        exact bytes for that repo. The body is always hashed, even when the object store already has it.
        """
        repo_id, size = _signed_upload(self._storage.secret, oid, request.query_params)
        announced = request.headers.get("content-length")
        if announced is not None and announced != str(size):
            raise HttpError(400, f"Content-Length {announced} differs from the {size} bytes the upload link is for")
        with self._storage.begin_upload(oid, size) as upload:
            async for chunk in body_chunks(request.receive, self._body_timeout):  # memory stays flat
                upload.write(chunk)
            await run_in_threadpool(upload.finish)
        await run_in_threadpool(self._storage.link_object, repo_id, oid)
        log.info("%s: stored LFS object %s (%d bytes)", repo_id, oid, size)
        return Response(status_code=200)

    def lfs_verify(self, repo_id: RepoId, call: Call) -> Response:
        self._writable_repo(call, repo_id)
        body = call.json_object()
        oid, size = _str_field(body, "oid"), _int_field(body, "size")
        stored = self._storage.linked_object_size(repo_id, oid)
        if stored is None:
            raise HttpError(404, f"LFS object {oid} was not uploaded to {repo_id}; upload it before verifying")
        if stored != size:
            raise HttpError(422, f"LFS object {oid} has {stored} bytes, not {size}")
        return JSONResponse({})

    def commit(self, repo_id: RepoId, revision: str, call: Call) -> Response:
        token = self._writable_repo(call, repo_id)
        header, operations = _parse_commit_body(call.body)
        request = CommitRequest(
            revision=revision,
            title=_str_field(header, "summary"),
            message=str(header.get("description") or ""),
            author=token.user,
            operations=operations,
            parent=header.get("parentCommit") or None,
            create_pr=call.flag("create_pr"),
        )
        result = self._storage.commit(repo_id, request)
        commit_id = result.commit.id
        log.info("%s: commit %s on %s (%d operations)", repo_id, commit_id[:7], revision, len(operations))
        body: dict[str, Any] = {
            "success": True,
            "commitOid": commit_id,
            "commitUrl": f"{call.repo_url(repo_id)}/commit/{commit_id}",
            "hookOutput": "",
        }
        if result.pull_request is not None:
            body["pullRequestUrl"] = f"{call.repo_url(repo_id)}/discussions/{result.pull_request}"
        return JSONResponse(body)

    # -- pull requests -----------------------------------------------------------------------------

    def discussion_details(self, repo_id: RepoId, number: str, call: Call) -> Response:
        self._visible_repo(call, repo_id)
        pull = self._storage.get_pull_request(repo_id, _discussion_number(number))
        changes = {"base": f"refs/heads/{pull.target}"}
        if pull.merge_commit is not None:
            changes["mergeCommitId"] = pull.merge_commit
        return JSONResponse(
            {
                "num": pull.number,
                "title": pull.title,
                "status": pull.status,
                "isPullRequest": True,
                "createdAt": pull.created_at,
                "author": _author_json(pull.author),
                "repo": {"name": str(repo_id), "type": repo_id.type},
                "pinned": False,
                "locked": False,
                "events": [_event_json(event) for event in pull.events],
                "changes": changes,
                "filesWithConflicts": list(self._storage.pull_request_conflicts(repo_id, pull)),
            }
        )

    def change_discussion_status(self, repo_id: RepoId, number: str, call: Call) -> Response:
        token = self._writable_repo(call, repo_id)
        body = call.json_object()
        status = body.get("status")
        if status not in ("open", "closed"):
            raise HttpError(400, f"Invalid status {status!r}: use 'open' or 'closed' (merge with /merge)")
        event = self._storage.set_pull_request_status(
            repo_id, _discussion_number(number), "open" if status == "open" else "closed", token.user, _comment(body)
        )
        log.info("%s: pull request #%s is %s", repo_id, number, status)
        return JSONResponse({"newStatus": _event_json(event)})

    def merge_pull_request(self, repo_id: RepoId, number: str, call: Call) -> Response:
        token = self._writable_repo(call, repo_id)
        comment = _comment(call.json_object())
        commit, event = self._storage.merge_pull_request(repo_id, _discussion_number(number), token.user, comment)
        log.info("%s: merged pull request #%s as %s", repo_id, number, commit.id[:7])
        return JSONResponse({"newStatus": _event_json(event)})


# --------------------------------------------------------------------------------------------------
# Handlers that need no storage


def whoami(call: Call) -> Response:
    token = call.token
    if token is None:
        raise HttpError(401, "Send a token in 'Authorization: Bearer <token>' to learn who you are")
    return JSONResponse(
        {
            "type": "user",
            "id": token.user,
            "name": token.user,
            "fullname": token.user,
            "email": None,
            "emailVerified": False,
            "isPro": False,
            "orgs": [],
            "auth": {"type": "access_token", "accessToken": {"displayName": "local", "role": token.role}},
        }
    )


def agent_harnesses(call: Call) -> Response:
    return JSONResponse({"standardEnvVars": [], "harnesses": {}})


def validate_yaml(call: Call) -> Response:
    """Check a README.md's front matter: valid YAML holding a mapping. Always answers JSON."""
    content = call.json_object().get("content")
    if not isinstance(content, str):
        return _yaml_errors("The request body needs the README.md text as a string in 'content'")
    match = FRONT_MATTER.search(content)
    if match is None:
        return JSONResponse({"errors": [], "warnings": []})
    try:
        metadata = load_metadata(match.group(2))
    except yaml.YAMLError as exc:
        return _yaml_errors(f"Invalid YAML in the README.md metadata: {exc}")
    except LimitError as exc:
        return _yaml_errors(f"The README.md metadata is refused: {exc.message}")
    if metadata is not None and not isinstance(metadata, dict):
        return _yaml_errors(f"The README.md metadata must be a YAML mapping, not a {type(metadata).__name__}")
    return JSONResponse({"errors": [], "warnings": []})


# --------------------------------------------------------------------------------------------------
# Helpers


def _serve_page(page: PageHandler, call: Call) -> Response:
    return page(call.token, call.query)


def _body_rule(handler: Handler) -> BodyRule:
    function = handler.func if isinstance(handler, partial) else handler
    return BODY_RULES.get(getattr(function, "__name__", ""), NO_BODY)


def _split_path(raw_path: bytes) -> list[str]:
    """Split first, decode each segment after: a ``%2F`` inside a segment stays in that segment."""
    try:
        return [unquote(part, errors="strict") for part in raw_path.decode("ascii").strip("/").split("/")]
    except UnicodeDecodeError as exc:
        raise HttpError(400, "The request path is not valid percent-encoded UTF-8") from exc


def _repo_id_of_body(call: Call, body: Mapping[str, Any]) -> RepoId:
    """The repo of a repos/create or repos/delete body; ``organization: null`` means the token's user."""
    kind = body.get("type", "model")
    if kind not in ("model", "dataset"):
        raise HttpError(400, f"Repo type {kind!r} is not served: the Hub emulator has model and dataset repos")
    namespace = body.get("organization")
    if namespace is None:
        if call.token is None:
            raise HttpError(401, "Send a write token in 'Authorization: Bearer <token>' to manage repos")
        namespace = call.token.user
    return RepoId(kind, str(namespace), _str_field(body, "name"))


def _require_write(call: Call, namespace: str) -> Token:
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


def _sibling_json(entry: TreeEntry, with_blobs: bool) -> dict[str, Any]:
    sibling: dict[str, Any] = {"rfilename": entry.path}
    if with_blobs:
        sibling |= {"size": entry.size, "blobId": entry.git_oid}
        if entry.lfs:
            sibling["lfs"] = {"sha256": entry.sha256, "size": entry.size, "pointerSize": entry.pointer_size}
    return sibling


def _entry_json(entry: TreeEntry | Folder) -> dict[str, Any]:
    if isinstance(entry, Folder):
        return {"type": "directory", "oid": entry.oid, "size": 0, "path": entry.path}
    item: dict[str, Any] = {"type": "file", "oid": entry.git_oid, "size": entry.size, "path": entry.path}
    if entry.lfs:
        item["lfs"] = {"oid": entry.sha256, "size": entry.size, "pointerSize": entry.pointer_size}
    return item


def _last_commit_json(commit: Commit) -> dict[str, str]:
    return {"id": commit.id, "title": commit.title, "date": commit.date}


def _encode_cursor(path: str) -> str:
    return base64.urlsafe_b64encode(path.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError as exc:  # bad base64, or not UTF-8
        raise HttpError(400, "Invalid cursor: follow the Link header of the previous page") from exc


def _card_tags(card: Mapping[str, Any] | None) -> list[str]:
    tags = (card or {}).get("tags")
    return [tag for tag in tags if isinstance(tag, str)] if isinstance(tags, list) else []


def _discussion_number(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise HttpError(400, f"Invalid discussion number {text!r}: expected a positive integer")
    return int(text)


def _comment(body: Mapping[str, Any]) -> str | None:
    comment = body.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise HttpError(400, f"Expected a string in 'comment', got {type(comment).__name__}")
    return (comment or "").strip() or None


def _author_json(user: str) -> dict[str, Any]:
    return {"name": user, "type": "user", "isOwner": False}


def _event_json(event: PullRequestEvent) -> dict[str, Any]:
    """A pull request event as the Hub lists it (huggingface_hub.community.deserialize_event reads it)."""
    data: dict[str, Any]
    match event.kind:
        case "comment":
            latest = {"raw": event.text, "html": html.escape(event.text), "updatedAt": event.date}
            data = {"edited": False, "hidden": False, "numEdits": 0, "latest": latest}
        case "commit":
            data = {"subject": event.text, "oid": event.oid}
        case "status-change":
            data = {"status": event.text}
    author = _author_json(event.author)
    return {"id": event.id, "type": event.kind, "createdAt": event.date, "author": author, "data": data}


def _ref_json(name: str, ref: str, sha: str) -> dict[str, str]:
    return {"name": name, "ref": ref, "targetCommit": sha}


def _yaml_errors(message: str) -> Response:
    return JSONResponse({"errors": [{"message": message}], "warnings": []}, 400)


def _lfs_error(message: str) -> dict[str, Any]:
    return {"code": 422, "message": message}


def _signed_repo_name(repo_id: RepoId) -> str:
    return f"{repo_id.type}:{repo_id}"


def _upload_signature(secret: bytes, repo: str, oid: str, size: int, expires: int) -> str:
    message = f"lfs-upload\n{repo}\n{oid}\n{size}\n{expires}"
    return hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()


def _signed_upload(secret: bytes, oid: str, query: Mapping[str, str]) -> tuple[RepoId, int]:
    """The repo and size an upload link was signed for; 403 when the link is forged, altered or expired."""
    try:
        repo, size, expires, signature = query["repo"], int(query["size"]), int(query["expires"]), query["signature"]
    except (KeyError, ValueError) as exc:
        raise HttpError(400, "Malformed upload link: ask the LFS batch endpoint for a new one") from exc
    expected = _upload_signature(secret, repo, oid, size, expires)
    if not hmac.compare_digest(expected, signature) or expires < time.time():
        raise HttpError(403, "Upload link is invalid or expired: ask the LFS batch endpoint for a new one")
    kind, _, repo_name = repo.partition(":")
    namespace, _, name = repo_name.partition("/")
    repo_type = next((known for known in URL_PREFIXES if known == kind), None)
    if repo_type is None:  # signed by us, so only a change of format could get here
        raise HttpError(400, f"Upload link names an unknown repo type {kind!r}")
    return RepoId(repo_type, namespace, name), size


def _parse_commit_body(body: bytes) -> tuple[dict[str, Any], list[Operation]]:
    """The NDJSON commit: a header line, then one line per operation."""
    try:
        lines = [parse_json(line, "A line of the commit body") for line in body.splitlines() if line.strip()]
    except ValueError as exc:
        raise HttpError(400, f"The commit body is not valid NDJSON: {exc}") from exc
    if not lines or not isinstance(lines[0], dict) or lines[0].get("key") != "header":
        raise HttpError(400, "The commit body must start with a {'key': 'header', 'value': {...}} line")
    header = lines[0].get("value")
    if not isinstance(header, dict):
        raise HttpError(400, "The commit header's 'value' must be an object")
    return header, [_parse_operation(number, line) for number, line in enumerate(lines[1:], start=2)]


def _parse_operation(number: int, line: Any) -> Operation:
    if not isinstance(line, dict) or not isinstance(line.get("value"), dict):
        raise HttpError(400, f"Line {number} of the commit body must be {{'key': ..., 'value': {{...}}}}")
    value = line["value"]
    path = _str_field(value, "path")
    match line.get("key"):
        case "file":
            if value.get("encoding", "base64") != "base64":
                raise HttpError(400, f"Line {number}: file content must be base64-encoded")
            return AddFile(path, _base64_field(value, "content"))
        case "lfsFile":
            if value.get("algo", "sha256") != "sha256":
                raise HttpError(400, f"Line {number}: LFS files are identified by sha256")
            size = value.get("size")
            return AddLfsFile(path, _str_field(value, "oid"), None if size is None else _int_field(value, "size"))
        case "deletedFile":
            return DeleteFile(path)
        case "deletedFolder":
            return DeleteFolder(path)
        case other:
            raise HttpError(400, f"Line {number}: unsupported commit operation {other!r}")


def _str_field(item: Mapping[str, Any], name: str) -> str:
    value = item.get(name)
    if not isinstance(value, str):
        raise HttpError(400, f"Expected a string in '{name}', got {type(value).__name__}")
    return value


def _int_field(item: Mapping[str, Any], name: str) -> int:
    value = item.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise HttpError(400, f"Expected a non-negative integer in '{name}', got {value!r}")
    return value


def _list_field(item: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    value = item.get(name)
    if not isinstance(value, list) or not all(isinstance(element, dict) for element in value):
        raise HttpError(400, f"Expected a list of objects in '{name}'")
    return value


def _base64_field(item: Mapping[str, Any], name: str) -> bytes:
    try:
        return base64.b64decode(_str_field(item, name), validate=True)
    except binascii.Error as exc:
        raise HttpError(400, f"'{name}' is not valid base64: {exc}") from exc
