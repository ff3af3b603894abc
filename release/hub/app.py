"""The ASGI app of the local Hub emulator: the HTTP API that huggingface_hub 2.4.0 speaks.

``docs/hub-api.md`` describes every route (Endpoints), who may call it (Access) and how errors are
answered (Errors); this module is that API and nothing else. Paths the API does not claim go to the
``pages`` router it is given (the web view, :mod:`release.hub.web`, which the server plugs in).

Routing works on the raw path (``scope["raw_path"]``): it is split on ``/`` first and each segment is
percent-decoded afterwards, so ``refs%2Fpr%2F1`` or a ``path_in_repo`` of ``a%2Fb`` stays one segment.
Handlers are plain synchronous functions of a :class:`Call` and run in a worker thread, so storage I/O
never blocks the event loop; only the LFS uploads (:mod:`release.hub.lfs`) stream their bodies on the loop,
chunk by chunk.

Errors are ``{"error": message}`` with the same text in ``X-Error-Message`` and, for not-found errors,
an ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``) that the client needs to
raise the right exception. Unknown routes answer a fast 404: the client retries 5xx for about 23 s.

Discussions, pull requests and super-squash are routed here and served by :mod:`release.hub.discussions`
(docs/hub-api.md, Discussions and pull requests). Anyone with a write token may propose changes to a
repo they may read: preupload and commit accept them for a new pull request (``create_pr``) or their own
open one (``refs/pr/N``), and the LFS batch and verify accept their uploads.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import html
import itertools
import json
import logging
import mimetypes
import re
import uuid
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, Final
from urllib.parse import parse_qs, unquote

import yaml
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from release.card_rules import CARD_SCHEMAS, EMPTY_METADATA, check_card_data
from release.hub import discussions
from release.hub.admin import RepoAdmin
from release.hub.auth import Token, bearer_token, may_write
from release.hub.calls import (
    Call,
    Handler,
    HttpError,
    PageHandler,
    PageRouter,
    PageSizes,
    base64_field,
    check_download,
    int_field,
    list_field,
    require_write,
    require_write_role,
    str_field,
    visible_repo,
    writable_repo,
)
from release.hub.lfs import LfsRoutes, Multipart
from release.hub.limits import (
    BODY_RULES,
    BODY_TIMEOUT_SECONDS,
    NO_BODY,
    USER_FILE_HEADERS,
    BodyRule,
    LimitError,
    load_metadata,
    parse_json,
    read_body,
)
from release.hub.listing import Listings
from release.hub.repo import (
    FRONT_MATTER,
    AddFile,
    AddLfsFile,
    AlreadyExistsError,
    Commit,
    CommitRequest,
    DeleteFile,
    DeleteFolder,
    Folder,
    Operation,
    Repo,
    RepoId,
    RepoType,
    StorageError,
    TreeEntry,
    find_path,
    is_ignored,
    list_folder,
    upload_mode,
)
from release.hub.storage import HubStorage

log = logging.getLogger(__name__)

API_TYPES: Final[Mapping[str, RepoType]] = {"models": "model", "datasets": "dataset"}
INVALID_CREDENTIALS: Final = "Invalid credentials in Authorization header"
#: The largest README.md whose front matter repo info parses into ``cardData``.
CARD_MAX_BYTES: Final = 1024 * 1024
#: A request id the client may choose (its ``X-Request-Id`` or ``X-Amzn-Trace-Id``), echoed in the answer.
_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._:;=/+-]{1,200}")


def create_app(
    storage: HubStorage,
    tokens: Sequence[Token],
    *,
    page_sizes: PageSizes | None = None,
    pages: PageRouter | None = None,
    body_timeout: float = BODY_TIMEOUT_SECONDS,
    multipart: Multipart | None = None,
    storage_port: int | None = None,
) -> HubApp:
    """The emulator's ASGI app over ``storage``, accepting exactly ``tokens``.

    ``pages`` serves the paths no API route claims (the server passes the web view's router); without
    it those paths answer 404. A request body that stalls for ``body_timeout`` seconds answers 408.
    ``multipart`` says which LFS uploads go in parts (default: the Hub's threshold and part size).
    ``storage_port`` is the port of the storage origin /resolve redirects LFS downloads to (the
    server's second socket); without it LFS files are served in place.
    """
    return HubApp(
        storage,
        tokens,
        page_sizes=page_sizes,
        pages=pages,
        body_timeout=body_timeout,
        multipart=multipart,
        storage_port=storage_port,
    )


class RequestIds:
    """ASGI wrapper giving every answer an ``X-Request-Id``: the request's own (``X-Request-Id``, else the
    ``X-Amzn-Trace-Id`` the client sets) when it is a plain token, else a new UUID, as the Hub does. The
    server puts it outside everything else, so refusals of the Host check and injected faults carry one too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        request_id = _request_id(Headers(scope=scope)).encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"x-request-id", request_id)]
                message = {**message, "headers": headers}
            await send(message)

        await self._app(scope, receive, send_with_id)


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
        multipart: Multipart | None = None,
        storage_port: int | None = None,
    ) -> None:
        self._storage = storage
        self._tokens = tuple(tokens)
        self._page_sizes = page_sizes or PageSizes()
        self._pages = pages
        self._body_timeout = body_timeout
        self._lfs = LfsRoutes(
            storage, multipart=multipart or Multipart(), storage_port=storage_port, body_timeout=body_timeout
        )
        self._admin = RepoAdmin(storage, [token.user for token in self._tokens])
        self._listings = Listings(storage, self._page_sizes)

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
        if request.method == "PUT" and parts[:2] == ["api", "lfs-upload"]:  # streamed: signed links, no token
            match parts[2:]:
                case [oid]:
                    return await self._lfs.receive_upload(request, oid)
                case [oid, number]:
                    return await self._lfs.receive_part(request, oid, number)
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
            accept=request.headers.get("accept", ""),
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
            case "POST", ["api", "complete_multipart"]:
                return self._lfs.complete_multipart
            case "GET" | "HEAD", ["lfs-storage", oid]:  # lfs.STORAGE_PATH
                return partial(self._lfs.download, oid)
            case "POST", ["api", "repos", "move"]:
                return self._admin.move_repo
            case "GET", ["api", kind] if kind in API_TYPES:
                return partial(self._listings.list_repos, API_TYPES[kind])
            case _, ["api", kind, namespace, name, *rest] if kind in API_TYPES:
                repo_id = RepoId(API_TYPES[kind], namespace, name)
                return self._route_repo_api(method, repo_id, rest) or partial(self._unrouted, repo_id, method, parts)
            case _, ["api", kind, _name] if kind in API_TYPES:
                return _no_namespace
            case "POST", ["datasets", namespace, git_name, "info", "lfs", "objects", action]:
                return self._route_lfs(RepoId("dataset", namespace, git_name.removesuffix(".git")), action)
            case "POST", [namespace, git_name, "info", "lfs", "objects", action] if git_name.endswith(".git"):
                return self._route_lfs(RepoId("model", namespace, git_name.removesuffix(".git")), action)
            case "GET" | "HEAD", ["datasets", namespace, name, "resolve", revision, *path] if path:
                return partial(self.resolve_file, RepoId("dataset", namespace, name), revision, "/".join(path))
            case "GET" | "HEAD", [namespace, name, "resolve", revision, *path] if path:
                return partial(self.resolve_file, RepoId("model", namespace, name), revision, "/".join(path))
            case "GET" | "HEAD", ["datasets", _name, "resolve", _revision, *path] if path:
                return _no_namespace
            case "GET" | "HEAD", [_name, "resolve", _revision, *path] if path:
                return _no_namespace
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
            case _, ["discussions", *_] | ["super-squash", _]:
                return self._route_discussions(method, repo_id, rest)
        return self._route_admin(method, repo_id, rest)

    def _route_discussions(self, method: str, repo_id: RepoId, rest: list[str]) -> Handler | None:
        """Discussions, pull requests and super-squash (:mod:`release.hub.discussions`)."""
        storage = self._storage
        match method, rest:
            case "GET", ["discussions"]:
                return partial(discussions.list_discussions, storage, self._page_sizes, repo_id)
            case "POST", ["discussions"]:
                return partial(discussions.create_discussion, storage, repo_id)
            case "GET", ["discussions", number]:
                return partial(discussions.discussion_details, storage, repo_id, number)
            case "POST", ["discussions", number, "comment"]:
                return partial(discussions.comment_discussion, storage, repo_id, number)
            case "POST", ["discussions", number, "comment", comment_id, "edit"]:
                return partial(discussions.edit_discussion_comment, storage, repo_id, number, comment_id)
            case "POST", ["discussions", number, "comment", comment_id, "hide"]:
                return partial(discussions.hide_discussion_comment, storage, repo_id, number, comment_id)
            case "POST", ["discussions", number, "title"]:
                return partial(discussions.rename_discussion, storage, repo_id, number)
            case "POST", ["discussions", number, "status"]:
                return partial(discussions.change_discussion_status, storage, repo_id, number)
            case "POST", ["discussions", number, "merge"]:
                return partial(discussions.merge_pull_request, storage, repo_id, number)
            case "POST", ["super-squash", revision]:
                return partial(discussions.super_squash, storage, repo_id, revision)
        return None

    def _route_admin(self, method: str, repo_id: RepoId, rest: list[str]) -> Handler | None:
        """The administration and listing routes of one repo (release.hub.admin, release.hub.listing)."""
        match method, rest:
            case "PUT", ["settings"]:
                return partial(self._admin.update_settings, repo_id)
            case "GET", ["auth-check"]:
                return partial(self._listings.auth_check, repo_id, False)
            case "GET", ["auth-check", "write"]:
                return partial(self._listings.auth_check, repo_id, True)
            case "GET", ["lfs-files"]:
                return partial(self._listings.list_lfs_files, repo_id)
            case "POST", ["lfs-files", "batch"]:
                return partial(self._listings.purge_lfs_files, repo_id)
            case "POST", ["user-access-request", "handle"]:
                return partial(self._admin.handle_access_request, repo_id)
            case "POST", ["user-access-request", "grant"]:
                return partial(self._admin.grant_access, repo_id)
            case "GET", ["user-access-request", status]:
                return partial(self._admin.list_access_requests, repo_id, status)
        return None

    def _unrouted(self, repo_id: RepoId, method: str, parts: list[str], call: Call) -> Response:
        """A repo API path no route claims: 404 RepoNotFound unless it names a repo (``gpt2/revision/main``
        is the repo ``gpt2``, which has no namespace, so no such repo), else 404 without a code."""
        self._visible_repo(call, repo_id)
        raise HttpError(404, f"The Hub emulator has no route for {method} /{'/'.join(parts)}")

    def _route_lfs(self, repo_id: RepoId, action: str) -> Handler | None:
        match action:
            case "batch":
                return partial(self._lfs.lfs_batch, repo_id)
            case "verify":
                return partial(self._lfs.lfs_verify, repo_id)
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

    def _visible_repo(self, call: Call, repo_id: RepoId, *, follow_moves: bool = False) -> Repo:
        """404 RepoNotFound unless the repo exists and is public or in the caller's namespace (or orgs).

        ``follow_moves``: a read of a repo by a name it was moved away from answers 307 to its new name.
        """
        return visible_repo(self._storage, call, repo_id, follow_moves=follow_moves)

    def _writable_repo(self, call: Call, repo_id: RepoId) -> Token:
        return writable_repo(self._storage, call, repo_id)[1]

    def _proposing_repo(self, call: Call, repo_id: RepoId, revision: str) -> Token:
        """Write access for preupload and commit: a writer of the namespace; or, on a repo the caller may
        read, any write token opening a pull request (``create_pr``) or committing to its own open one
        (``refs/pr/N``), since the Hub lets anyone propose changes to a public repo."""
        self._visible_repo(call, repo_id)
        token = call.token
        if token is None or token.role != "write" or may_write(token, repo_id.namespace):
            return require_write(call, repo_id.namespace)
        if call.flag("create_pr") or discussions.pull_request_author(self._storage, repo_id, revision) == token.user:
            return token
        return require_write(call, repo_id.namespace)

    def _uploading_repo(self, call: Call, repo_id: RepoId) -> Token:
        """Write access for the LFS batch and verify: any write token on a repo the caller may read (someone
        proposing a pull request uploads first); the objects only reach a branch through a commit."""
        self._visible_repo(call, repo_id)
        return require_write_role(call)

    # -- repos -------------------------------------------------------------------------------------

    def create_repo(self, call: Call) -> Response:
        body = call.json_object()
        repo_id = _repo_id_of_body(call, body)
        token = require_write(call, repo_id.namespace)
        visibility = body.get("visibility")
        if visibility is None and body.get("private") is not None:
            visibility = "private" if body["private"] else "public"
        if visibility is None:  # an org of an Enterprise Hub can make its repos private by default
            org = next((org for org in token.orgs if org.name.casefold() == repo_id.namespace.casefold()), None)
            visibility = "private" if org is not None and org.private_by_default else "public"
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
        repo = self._visible_repo(call, repo_id, follow_moves=True)
        repo_id = repo.id
        commit = self._storage.resolve(repo_id, revision or "main")
        with_blobs = call.flag("blobs")
        card = self._card_data(commit)
        info: dict[str, Any] = {
            "_id": hashlib.sha1(str(repo_id).encode(), usedforsecurity=False).hexdigest()[:24],
            "id": str(repo_id),
            "author": repo_id.namespace,
            "sha": commit.id,
            "private": repo.private,
            "gated": repo.gated or False,
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
        self._visible_repo(call, repo_id, follow_moves=True)
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
        self._visible_repo(call, repo_id, follow_moves=True)
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
        self._visible_repo(call, repo_id, follow_moves=True)
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
        repo = self._visible_repo(call, repo_id, follow_moves=True)
        check_download(self._storage, call.token, repo, call.base_url)
        commit = self._storage.resolve(repo_id, revision)
        entry = commit.files.get(path)
        if entry is None:
            raise HttpError(404, f"Entry not found: {path}", code="EntryNotFound", headers={"X-Repo-Commit": commit.id})
        # As on the Hub: ETag is the git oid (of the pointer, for LFS files); the client caches LFS blobs by
        # the sha256 in X-Linked-Etag, which it prefers. Each id names one content, so caches stay right.
        headers = {"X-Repo-Commit": commit.id, "ETag": f'"{entry.git_oid}"'}
        redirect = self._lfs.redirect(commit, entry, call)
        if redirect is not None:  # an LFS file, from the storage origin
            return redirect
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
        self._proposing_repo(call, repo_id, revision)
        commit = self._storage.resolve(repo_id, revision)
        body = call.json_object()
        gitattributes = self._text_file(commit, ".gitattributes")
        gitignore = body.get("gitIgnore")  # the .gitignore of the same commit, if it adds one
        if not isinstance(gitignore, str):
            gitignore = self._text_file(commit, ".gitignore") or ""
        answers = []
        for item in list_field(body, "files"):
            path, size = str_field(item, "path"), int_field(item, "size")
            answer: dict[str, Any] = {
                "path": path,
                "uploadMode": upload_mode(path, size, base64_field(item, "sample"), gitattributes),
                "shouldIgnore": is_ignored(path, gitignore),
            }
            if path in commit.files:
                answer["oid"] = commit.files[path].content_id
            answers.append(answer)
        return JSONResponse({"files": answers, "commitOid": commit.id})

    def _text_file(self, commit: Commit, path: str) -> str | None:
        """A small text file of the commit (``.gitattributes``, ``.gitignore``); None when absent or too big."""
        entry = commit.files.get(path)
        if entry is None or entry.size > CARD_MAX_BYTES:
            return None
        return self._storage.object_path(entry.sha256).read_bytes().decode("utf-8", errors="replace")

    def commit(self, repo_id: RepoId, revision: str, call: Call) -> Response:
        token = self._proposing_repo(call, repo_id, revision)
        header, operations = _parse_commit_body(call.body)
        request = CommitRequest(
            revision=revision,
            title=str_field(header, "summary"),
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


# --------------------------------------------------------------------------------------------------
# Handlers that need no storage


def whoami(call: Call) -> Response:
    token = call.token
    if token is None:
        raise HttpError(401, "Send a token in 'Authorization: Bearer <token>' to learn who you are")
    orgs = [
        {"type": "org", "name": org.name, "fullname": org.fullname or org.name, "roleInOrg": "admin"}
        for org in token.orgs
    ]
    return JSONResponse(
        {
            "type": "user",
            "id": token.user,
            "name": token.user,
            "fullname": token.fullname or token.user,
            "email": None,
            "emailVerified": False,
            "isPro": False,
            "orgs": orgs,
            "auth": {"type": "access_token", "accessToken": {"displayName": "local", "role": token.role}},
        }
    )


def agent_harnesses(call: Call) -> Response:
    return JSONResponse({"standardEnvVars": [], "harnesses": {}})


def validate_yaml(call: Call) -> Response:
    """Check a README.md's front matter as the Hub does: a YAML mapping, then for model and dataset cards
    the card rules (:func:`release.card_rules.check_card_data`, as ``card validate``). 400 with the errors
    when the Hub would refuse the card, else 200 with the warnings. JSON, but for ``Accept: text/plain``
    (RepoCard.validate's) the errors come as ``- Error: ...`` lines, as the Hub answers."""
    body = call.json_object()
    content = body.get("content")
    if not isinstance(content, str):
        return _yaml_errors("The request body needs the README.md text as a string in 'content'")
    kind = body.get("repoType") or "model"
    if not isinstance(kind, str):
        return _yaml_errors("'repoType' must be a string: model, dataset or space")
    match = FRONT_MATTER.search(content)
    try:
        metadata = load_metadata(match.group(2)) if match is not None else None
    except yaml.YAMLError as exc:
        return _yaml_errors(f"Invalid YAML in the README.md metadata: {exc}")
    except LimitError as exc:
        return _yaml_errors(f"The README.md metadata is refused: {exc.message}")
    if metadata is not None and not isinstance(metadata, dict):
        return _yaml_errors(f"The README.md metadata must be a YAML mapping, not a {type(metadata).__name__}")
    if kind not in CARD_SCHEMAS:
        warnings = [] if metadata else [{"message": EMPTY_METADATA}]
        return JSONResponse({"errors": [], "warnings": warnings})
    check = check_card_data(metadata, kind)
    answer = {
        "errors": [{"message": str(problem)} for problem in check.errors],
        "warnings": [{"message": str(problem)} for problem in check.warnings],
    }
    if check.errors and call.accept.startswith("text/plain"):
        return PlainTextResponse("".join(f"- Error: {error['message']}\n" for error in answer["errors"]), 400)
    return JSONResponse(answer, 400 if check.errors else 200)


# --------------------------------------------------------------------------------------------------
# Helpers


def _no_namespace(call: Call) -> Response:
    """A repo route whose repo id has no namespace (``gpt2``): no such repo, as the Hub answers."""
    raise HttpError(404, "Repository not found", code="RepoNotFound")


def _request_id(headers: Headers) -> str:
    """The client's request id (``X-Request-Id``, else ``X-Amzn-Trace-Id``) if it is a plain token; else a new one."""
    for name in ("x-request-id", "x-amzn-trace-id"):
        value = headers.get(name)
        if value is not None and _REQUEST_ID.fullmatch(value):
            return value
    return str(uuid.uuid4())


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
    return RepoId(kind, str(namespace), str_field(body, "name"))


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


def _ref_json(name: str, ref: str, sha: str) -> dict[str, str]:
    return {"name": name, "ref": ref, "targetCommit": sha}


def _yaml_errors(message: str) -> Response:
    return JSONResponse({"errors": [{"message": message}], "warnings": []}, 400)


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
    path = str_field(value, "path")
    match line.get("key"):
        case "file":
            if value.get("encoding", "base64") != "base64":
                raise HttpError(400, f"Line {number}: file content must be base64-encoded")
            return AddFile(path, base64_field(value, "content"))
        case "lfsFile":
            if value.get("algo", "sha256") != "sha256":
                raise HttpError(400, f"Line {number}: LFS files are identified by sha256")
            size = value.get("size")
            return AddLfsFile(path, str_field(value, "oid"), None if size is None else int_field(value, "size"))
        case "deletedFile":
            return DeleteFile(path)
        case "deletedFolder":
            return DeleteFolder(path)
        case other:
            raise HttpError(400, f"Line {number}: unsupported commit operation {other!r}")
