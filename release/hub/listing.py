"""Listing routes of the Hub emulator: repos (``list_models``, ``list_datasets``), a repo's LFS files, and
the access check.

``GET /api/models`` and ``GET /api/datasets`` list the repos the caller may read, filtered, sorted and
paged as the client asks (docs/hub-api.md, Listings); ``GET/POST .../lfs-files`` list a repo's LFS
objects and delete some for good (``list_lfs_files``, ``permanently_delete_lfs_files``);
``GET .../auth-check[/write]`` answers whether the caller may read (download) or write a repo.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Sequence
from typing import Any, Final

from starlette.responses import JSONResponse, Response

from release.hub.auth import may_read
from release.hub.calls import (
    Call,
    HttpError,
    PageSizes,
    check_download,
    require_write,
    visible_repo,
    writable_repo,
)
from release.hub.repo import DEFAULT_BRANCH, Repo, RepoId, RepoMissingError, RepoType, is_sha256
from release.hub.storage import HubStorage

log = logging.getLogger(__name__)

#: The client's ``sort`` values (after its own renaming) and the repo field each sorts by.
SORT_KEYS: Final = {
    "id": "id",
    "createdAt": "createdAt",
    "lastModified": "lastModified",
    "downloads": "downloads",
    "likes": "likes",
    "trendingScore": "trendingScore",
}
#: Query parameters the listings accept and ignore: they ask for more fields, all of which are served.
_DETAIL_PARAMS: Final = frozenset({"full", "config", "cardData", "expand", "expand[]"})
_FILTER_PARAMS: Final = frozenset({"search", "author", "sort", "direction", "limit", "cursor", "gated"})


class Listings:
    """The listing routes over one storage."""

    def __init__(self, storage: HubStorage, page_sizes: PageSizes) -> None:
        self._storage = storage
        self._page_sizes = page_sizes

    def list_repos(self, repo_type: RepoType, call: Call) -> Response:
        """The repos of one type the caller may read: ``search`` (in the id), ``author``, ``gated``; sorted
        by ``sort`` (descending unless ``direction=1``; by id without it); at most ``limit``; in pages
        linked by ``Link``."""
        unknown = sorted(set(call.query) - _FILTER_PARAMS - _DETAIL_PARAMS)
        if unknown:
            raise HttpError(400, f"The Hub emulator does not filter repo listings by {unknown[0]!r}")
        search = _last(call, "search").casefold()
        author = _last(call, "author").casefold()
        gated = _last(call, "gated").lower()
        items = []
        for repo in self._storage.list_repos():
            if repo.id.type != repo_type or not may_read(call.token, repo):
                continue
            if (author and repo.id.namespace.casefold() != author) or search not in str(repo.id).casefold():
                continue
            if gated in ("true", "false") and (repo.gated is not None) != (gated == "true"):
                continue
            with contextlib.suppress(RepoMissingError):  # deleted since the listing began
                items.append(self._repo_json(repo))
        sort = _last(call, "sort") or "id"
        if sort not in SORT_KEYS:
            raise HttpError(400, f"Invalid sort {sort!r}: use one of {', '.join(sorted(SORT_KEYS))}")
        descending = _last(call, "direction") != "1" if "sort" in call.query else False  # the Hub's default
        items.sort(key=lambda item: (item[SORT_KEYS[sort]], item["id"]), reverse=descending)
        limit = _non_negative(call, "limit", len(items))
        start = _non_negative(call, "cursor", 0)
        end = min(start + self._page_sizes.repos, limit)
        headers = call.next_link("cursor", str(end)) if end < min(limit, len(items)) else {}
        return JSONResponse(items[start:end], headers=headers)

    def _repo_json(self, repo: Repo) -> dict[str, Any]:
        head = self._storage.resolve(repo.id, DEFAULT_BRANCH)
        return {
            "_id": hashlib.sha1(str(repo.id).encode(), usedforsecurity=False).hexdigest()[:24],
            "id": str(repo.id),
            "author": repo.id.namespace,
            "sha": head.id,
            "private": repo.private,
            "gated": repo.gated or False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "trendingScore": 0,
            "tags": [],
            "createdAt": repo.created_at,
            "lastModified": head.date,
        }

    def auth_check(self, repo_id: RepoId, write: bool, call: Call) -> Response:
        """200 when the caller may download the repo's files (``write``: may also write to it)."""
        repo = visible_repo(self._storage, call, repo_id)
        if write:
            require_write(call, repo.id.namespace)
        check_download(self._storage, call.token, repo, call.base_url)
        return JSONResponse({})

    def list_lfs_files(self, repo_id: RepoId, call: Call) -> Response:
        """The repo's LFS objects (its writers only, as on the Hub)."""
        repo, _ = writable_repo(self._storage, call, repo_id)
        files = [
            {
                "fileOid": item.sha256,
                "filename": item.path,
                "oid": item.pointer_oid,
                "pushedAt": item.pushed_at,
                "ref": item.ref,
                "size": item.size,
            }
            for item in self._storage.lfs_files(repo.id)
        ]
        return JSONResponse(files)

    def purge_lfs_files(self, repo_id: RepoId, call: Call) -> Response:
        """Delete LFS objects for good and rewrite the history that used them (``rewriteHistory`` must be true)."""
        repo, _ = writable_repo(self._storage, call, repo_id)
        deletions = call.json_object().get("deletions")
        if not isinstance(deletions, dict):
            raise HttpError(400, "Expected an object in 'deletions': {'sha': [...], 'rewriteHistory': true}")
        shas = deletions.get("sha")
        if not isinstance(shas, list) or not all(isinstance(sha, str) and is_sha256(sha) for sha in shas):
            raise HttpError(400, "Expected a list of sha256 ids (64 lowercase hex digits) in 'deletions.sha'")
        if deletions.get("rewriteHistory", True) is not True:
            raise HttpError(
                400, "The Hub emulator deletes LFS files only with 'rewriteHistory': true (no dangling pointers)"
            )
        self._storage.purge_lfs_files(repo.id, _unique(shas))
        log.info("%s: deleted %d LFS objects and rewrote the history using them", repo.id, len(shas))
        return JSONResponse({})


def _last(call: Call, name: str) -> str:
    return call.query.get(name, [""])[-1]


def _non_negative(call: Call, name: str, default: int) -> int:
    text = _last(call, name)
    if not text:
        return default
    if not text.isascii() or not text.isdigit():
        raise HttpError(400, f"Invalid {name}={text!r}: expected a non-negative integer")
    return int(text)


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))
