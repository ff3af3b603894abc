"""Large files on the Hub emulator: the LFS batch API, basic and multipart uploads, and signed downloads.

Uploads (docs/hub-api.md, Large files). The client asks the batch endpoint how to send each object.
An object of at most :attr:`Multipart.threshold` bytes (or any object, when the client does not offer
the ``multipart`` transfer) gets one signed PUT link, as before. A larger one gets the Hub's multipart
answer, which huggingface_hub's ``lfs.py`` (``_upload_multi_part``) reads: the upload action's
``header`` holds ``chunk_size`` and one signed PUT link per part under its zero-padded number
(``"00001"``...), and its ``href`` is the completion link, POSTed with ``{"oid", "parts": [{"partNumber",
"etag"}]}`` once every part is sent. Each part answers its ``ETag`` (the sha256 of its bytes); the
completion checks every ETag, joins the parts into the object while hashing them, and keeps the object
only if its sha256 and size are the ones announced (else 400). Nothing is ever held whole in memory.

Every link is signed with the storage's secret (HMAC-SHA256) over what it is for (repo, object, size,
part number, upload id) and an expiry, so it can do nothing else; an altered or expired link answers 403.

Downloads. ``/resolve`` of an LFS file answers 302 to a signed, expiring link on the storage origin
(a second loopback socket, like the Hub's separate storage host), and the 302 carries the file's
metadata (``X-Repo-Commit``, ``ETag``, ``X-Linked-Etag``, ``X-Linked-Size``). huggingface_hub follows a
redirect on a HEAD only within the same origin, so it reads the metadata on the 302 and then GETs the
link without its token, exactly as with the Hub's CDN. Range requests work on the link.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode, urlsplit, urlunsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from release.hub.auth import Token
from release.hub.calls import Call, HttpError, int_field, list_field, require_write_role, str_field, visible_repo
from release.hub.limits import USER_FILE_HEADERS, body_chunks
from release.hub.parts import PartStore
from release.hub.repo import URL_PREFIXES, Commit, ContentMismatchError, RepoId, TreeEntry, is_sha256
from release.hub.storage import HubStorage

log = logging.getLogger(__name__)

LFS_CONTENT_TYPE: Final = "application/vnd.git-lfs+json"
#: How long an upload link (basic, part or completion) stays valid.
UPLOAD_LINK_SECONDS: Final = 3600
#: How long a download link from /resolve stays valid.
DOWNLOAD_LINK_SECONDS: Final = 3600
#: Objects larger than this are asked for in parts, of this size: the Hub's own values as
#: huggingface_hub's multipart transfer agent describes them ("files > 5GB", first part "5GB").
DEFAULT_MULTIPART_THRESHOLD: Final = 5 * 1024**3
DEFAULT_CHUNK_SIZE: Final = 5 * 1024**3
#: The most parts one upload may have (as on S3); larger objects get larger parts.
MAX_PARTS: Final = 10_000
#: The path of the storage origin's signed downloads.
STORAGE_PATH: Final = "lfs-storage"

_SIZE_RE: Final = re.compile(r"(\d+)\s*(B|KiB|MiB|GiB)?")
_SIZE_UNITS: Final[Mapping[str, int]] = {"": 1, "B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}


@dataclass(frozen=True)
class Multipart:
    """When the batch answer asks for parts (objects over ``threshold`` bytes), and how large they are."""

    threshold: int = DEFAULT_MULTIPART_THRESHOLD
    chunk_size: int = DEFAULT_CHUNK_SIZE

    def __post_init__(self) -> None:
        if self.threshold < 0 or self.chunk_size < 1:
            raise ValueError(f"The multipart threshold must be >= 0 and the chunk size >= 1 byte: {self}")

    def chunk_for(self, size: int) -> int:
        """The part size for an object of ``size`` bytes: ``chunk_size``, or more to stay within MAX_PARTS."""
        return max(self.chunk_size, math.ceil(size / MAX_PARTS))


def parse_size(text: str) -> int:
    """A byte count such as ``1048576``, ``64KiB``, ``8MiB`` or ``5GiB``; ValueError otherwise."""
    match = _SIZE_RE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a size: use a number of bytes, optionally with B, KiB, MiB or GiB")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2) or ""]


def storage_base_url(base_url: str, storage_port: int) -> str:
    """The storage origin as the client addressed the API: the same scheme and host, the storage port."""
    parts = urlsplit(base_url)
    host = parts.netloc.rpartition(":")[0] if parts.port is not None else parts.netloc
    return urlunsplit((parts.scheme, f"{host}:{storage_port}", "", "", ""))


# --------------------------------------------------------------------------------------------------
# Signed links


def sign(secret: bytes, purpose: str, *fields: object) -> str:
    """The signature of a link for ``purpose`` over ``fields`` (each one line of the signed message)."""
    message = "\n".join([purpose, *(str(field) for field in fields)])
    return hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()


def _check_signature(secret: bytes, query: Mapping[str, str], purpose: str, *fields: object) -> None:
    """403 unless ``query`` carries a valid, unexpired signature of ``fields`` for ``purpose``."""
    try:
        expires, signature = int(query["expires"]), query["signature"]
    except (KeyError, ValueError) as exc:
        raise HttpError(400, f"Malformed {purpose} link: ask for a new one") from exc
    expected = sign(secret, purpose, *fields, expires)
    if not hmac.compare_digest(expected, signature) or expires < time.time():
        raise HttpError(403, f"The {purpose} link is invalid or expired: ask for a new one")


def _query_field(query: Mapping[str, str], name: str) -> str:
    value = query.get(name)
    if value is None:
        raise HttpError(400, f"Malformed link: '{name}' is missing; ask the LFS batch endpoint for a new one")
    return value


def _query_int(query: Mapping[str, str], name: str) -> int:
    text = _query_field(query, name)
    if not text.isascii() or not text.isdigit():
        raise HttpError(400, f"Malformed link: '{name}' is not a number; ask the LFS batch endpoint for a new one")
    return int(text)


def _last_values(query: Mapping[str, Sequence[str]]) -> dict[str, str]:
    return {name: values[-1] for name, values in query.items() if values}


def signed_repo_name(repo_id: RepoId) -> str:
    return f"{repo_id.type}:{repo_id}"


def _repo_of_link(repo: str) -> RepoId:
    kind, _, repo_name = repo.partition(":")
    namespace, _, name = repo_name.partition("/")
    repo_type = next((known for known in URL_PREFIXES if known == kind), None)
    if repo_type is None:  # signed by us, so only a change of format could get here
        raise HttpError(400, f"The link names an unknown repo type {kind!r}")
    return RepoId(repo_type, namespace, name)


def _expiry(seconds: int) -> int:
    return int(time.time()) + seconds


def _etag_value(etag: str) -> str:
    return etag.strip().removeprefix("W/").strip('"')


# --------------------------------------------------------------------------------------------------
# The routes


class LfsRoutes:
    """The LFS routes over one storage: batch, verify, uploads (basic and in parts) and signed downloads."""

    def __init__(
        self,
        storage: HubStorage,
        *,
        multipart: Multipart,
        storage_port: int | None,
        body_timeout: float,
    ) -> None:
        self._storage = storage
        self._multipart = multipart
        self._storage_port = storage_port  # None: LFS files are served in place by /resolve
        self._body_timeout = body_timeout
        self._parts = PartStore(storage.root / "tmp" / "parts")

    def _writable(self, call: Call, repo_id: RepoId) -> Token:
        """Write access for the batch and verify: any write token on a repo the caller may read (someone
        proposing a pull request uploads first); the objects only reach a branch through a commit."""
        visible_repo(self._storage, call, repo_id)
        return require_write_role(call)

    # -- batch and verify --------------------------------------------------------------------------

    def lfs_batch(self, repo_id: RepoId, call: Call) -> Response:
        self._writable(call, repo_id)
        body = call.json_object()
        if body.get("operation") != "upload":
            raise HttpError(400, "The Hub emulator's LFS batch API only uploads; download files through /resolve")
        transfers = body.get("transfers", ["basic"])  # the git-lfs default when the client names none
        if not isinstance(transfers, list) or not all(isinstance(name, str) for name in transfers):
            raise HttpError(400, "Expected a list of transfer names in 'transfers', e.g. ['basic', 'multipart']")
        if "basic" not in transfers and "multipart" not in transfers:
            raise HttpError(422, f"None of the transfers {transfers} is served: use 'basic' or 'multipart'")
        self._parts.discard_older_than(UPLOAD_LINK_SECONDS)  # abandoned uploads whose links have expired
        verify_href = f"{call.repo_url(repo_id)}.git/info/lfs/objects/verify"
        in_parts = "multipart" in transfers
        objects = [
            self._batch_object(repo_id, item, call, verify_href, in_parts=in_parts)
            for item in list_field(body, "objects")
        ]
        chunked = any("header" in obj.get("actions", {}).get("upload", {}) for obj in objects)
        answer = {"transfer": "multipart" if chunked else "basic", "objects": objects, "hash_algo": "sha256"}
        return JSONResponse(answer, headers={"Content-Type": LFS_CONTENT_TYPE})

    def _batch_object(
        self, repo_id: RepoId, item: Mapping[str, Any], call: Call, verify_href: str, *, in_parts: bool
    ) -> dict[str, Any]:
        """One object of a batch answer: no actions if this repo has it, else upload links and a verify link.

        Objects other repos uploaded are not "already stored" here: the uploader must send the bytes once, so
        that knowing a sha256 never gives access to content (nor reveals that some repo holds it).
        """
        oid, size = item.get("oid"), item.get("size")
        if not isinstance(oid, str) or not is_sha256(oid) or not isinstance(size, int) or size < 0:
            message = "Each object needs a sha256 'oid' (64 lowercase hex digits) and a non-negative 'size'"
            return {"oid": str(oid), "size": size if isinstance(size, int) else 0, "error": _lfs_error(message)}
        stored = self._storage.linked_object_size(repo_id, oid)
        if stored == size:
            return {"oid": oid, "size": size}
        if stored is not None:
            return {"oid": oid, "size": size, "error": _lfs_error(f"Object {oid} is stored with size {stored}")}
        if in_parts and size > self._multipart.threshold:
            upload = self._multipart_action(repo_id, oid, size, call)
        else:
            upload = {"href": self._upload_link(repo_id, oid, size, call)}
        return {"oid": oid, "size": size, "actions": {"upload": upload, "verify": {"href": verify_href}}}

    def _upload_link(self, repo_id: RepoId, oid: str, size: int, call: Call) -> str:
        repo, expires = signed_repo_name(repo_id), _expiry(UPLOAD_LINK_SECONDS)
        signature = sign(self._storage.secret, "lfs-upload", repo, oid, size, expires)
        query = urlencode({"repo": repo, "size": size, "expires": expires, "signature": signature})
        return f"{call.base_url}/api/lfs-upload/{oid}?{query}"

    def _multipart_action(self, repo_id: RepoId, oid: str, size: int, call: Call) -> dict[str, Any]:
        """The upload action of an object sent in parts: the completion link, the chunk size and the part links."""
        repo, expires, upload = signed_repo_name(repo_id), _expiry(UPLOAD_LINK_SECONDS), PartStore.new_upload_id()
        chunk = self._multipart.chunk_for(size)
        count = math.ceil(size / chunk)
        header: dict[str, str] = {"chunk_size": str(chunk)}
        for number in range(1, count + 1):
            part_size = min(chunk, size - chunk * (number - 1))
            signature = sign(self._storage.secret, "lfs-part", repo, oid, upload, number, part_size, expires)
            query = {"repo": repo, "upload": upload, "size": part_size, "expires": expires, "signature": signature}
            header[f"{number:05d}"] = f"{call.base_url}/api/lfs-upload/{oid}/{number}?{urlencode(query)}"
        signature = sign(self._storage.secret, "lfs-complete", repo, oid, upload, size, chunk, expires)
        query = {"repo": repo, "oid": oid, "upload": upload, "size": size, "chunk": chunk, "expires": expires}
        href = f"{call.base_url}/api/complete_multipart?{urlencode(query | {'signature': signature})}"
        return {"href": href, "header": header}

    def lfs_verify(self, repo_id: RepoId, call: Call) -> Response:
        self._writable(call, repo_id)
        body = call.json_object()
        oid, size = str_field(body, "oid"), int_field(body, "size")
        stored = self._storage.linked_object_size(repo_id, oid)
        if stored is None:
            raise HttpError(404, f"LFS object {oid} was not uploaded to {repo_id}; upload it before verifying")
        if stored != size:
            raise HttpError(422, f"LFS object {oid} has {stored} bytes, not {size}")
        return JSONResponse({})

    # -- uploads -----------------------------------------------------------------------------------

    async def receive_upload(self, request: Request, oid: str) -> Response:
        """The basic LFS PUT: authorised by its signed link, streamed to a temp file, stored if it matches.

        The link names repo, oid, size and expiry under one signature, so it can store nothing but those
        exact bytes for that repo. The body is always hashed, even when the object store already has it.
        """
        query = request.query_params
        repo, size = _query_field(query, "repo"), _query_int(query, "size")
        _check_signature(self._storage.secret, query, "lfs-upload", repo, oid, size)
        repo_id = _repo_of_link(repo)
        _check_length(request, size)
        with self._storage.begin_upload(oid, size) as upload:
            async for chunk in body_chunks(request.receive, self._body_timeout):  # memory stays flat
                upload.write(chunk)
            await run_in_threadpool(upload.finish)
        await run_in_threadpool(self._storage.link_object, repo_id, oid)
        log.info("%s: stored LFS object %s (%d bytes)", repo_id, oid, size)
        return Response(status_code=200)

    async def receive_part(self, request: Request, oid: str, number_text: str) -> Response:
        """One part of a multipart upload, streamed to its own file; answers the part's ETag."""
        query = request.query_params
        repo, upload_id, size = _query_field(query, "repo"), _query_field(query, "upload"), _query_int(query, "size")
        if not number_text.isascii() or not number_text.isdigit():
            raise HttpError(400, f"Invalid part number {number_text!r}: ask the LFS batch endpoint for new links")
        number = int(number_text)
        _check_signature(self._storage.secret, query, "lfs-part", repo, oid, upload_id, number, size)
        _check_length(request, size)
        with self._parts.begin_part(upload_id, number, size) as writer:
            async for chunk in body_chunks(request.receive, self._body_timeout):
                writer.write(chunk)
            part = await run_in_threadpool(writer.finish)
        log.info("%s: received part %d of LFS object %s (%d bytes)", _repo_of_link(repo), number, oid, size)
        return Response(status_code=200, headers={"ETag": f'"{part.etag}"'})

    def complete_multipart(self, call: Call) -> Response:
        """Join the parts into the object, check its sha256 and size, and keep it (400 and nothing kept if not)."""
        query = _last_values(call.query)
        repo, oid, upload_id = _query_field(query, "repo"), _query_field(query, "oid"), _query_field(query, "upload")
        size, chunk = _query_int(query, "size"), _query_int(query, "chunk")
        _check_signature(self._storage.secret, query, "lfs-complete", repo, oid, upload_id, size, chunk)
        repo_id = _repo_of_link(repo)
        body = call.json_object()
        if str_field(body, "oid") != oid:
            raise HttpError(400, f"The completion body names object {body['oid']!r}, but this link is for {oid}")
        count = math.ceil(size / chunk) if chunk else 0
        self._check_parts(upload_id, list_field(body, "parts"), count)
        try:
            with self._storage.begin_upload(oid, size) as upload:
                for data in self._parts.read_parts(upload_id, range(1, count + 1)):
                    upload.write(data)
                upload.finish()
        except ContentMismatchError:
            self._parts.discard(upload_id)  # the parts make another file: a retry starts from new links
            raise
        self._storage.link_object(repo_id, oid)
        self._parts.discard(upload_id)
        log.info("%s: stored LFS object %s (%d bytes, %d parts)", repo_id, oid, size, count)
        return JSONResponse({})

    def _check_parts(self, upload_id: str, listed: list[dict[str, Any]], count: int) -> None:
        """400 unless the body lists parts 1..count in order, each with the ETag its upload answered."""
        numbers = [item.get("partNumber") for item in listed]
        if numbers != list(range(1, count + 1)):
            raise HttpError(400, f"The completion must list parts 1 to {count} in order, got {numbers[:20]}")
        stored = self._parts.parts(upload_id)
        for item in listed:
            number = item["partNumber"]
            part = stored.get(number)
            if part is None:
                raise HttpError(400, f"Part {number} was not uploaded: upload every part before completing")
            etag = item.get("etag")
            if not isinstance(etag, str) or _etag_value(etag) != part.etag:
                raise HttpError(400, f"Part {number}: ETag {etag!r} is not the one its upload answered")

    # -- downloads ---------------------------------------------------------------------------------

    def redirect(self, commit: Commit, entry: TreeEntry, call: Call) -> Response | None:
        """The 302 of /resolve for an LFS file, to a signed link on the storage origin; None without one."""
        if self._storage_port is None or not entry.lfs:
            return None
        expires = _expiry(DOWNLOAD_LINK_SECONDS)
        signature = sign(self._storage.secret, "lfs-download", entry.sha256, expires)
        query = urlencode({"expires": expires, "signature": signature})
        location = f"{storage_base_url(call.base_url, self._storage_port)}/{STORAGE_PATH}/{entry.sha256}?{query}"
        headers = {
            "Location": location,
            "X-Repo-Commit": commit.id,
            "ETag": f'"{entry.git_oid}"',
            "X-Linked-Etag": f'"{entry.sha256}"',
            "X-Linked-Size": str(entry.size),
            **USER_FILE_HEADERS,
        }
        return Response(status_code=302, headers=headers)

    def download(self, oid: str, call: Call) -> Response:
        """A signed download link: the object's bytes (Range requests work), or 403 when altered or expired."""
        if not is_sha256(oid):
            raise HttpError(404, "Not found: download links come from /resolve")
        _check_signature(self._storage.secret, _last_values(call.query), "lfs-download", oid)
        path = self._storage.object_path(oid)
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise HttpError(404, f"Object {oid} is no longer stored") from None
        headers = {"ETag": f'"{oid}"', **USER_FILE_HEADERS}
        log.debug("serving LFS object %s through a signed link", oid)
        return FileResponse(path, headers=headers, media_type="application/octet-stream", stat_result=stat)


def _check_length(request: Request, size: int) -> None:
    announced = request.headers.get("content-length")
    if announced is not None and announced != str(size):
        raise HttpError(400, f"Content-Length {announced} differs from the {size} bytes the upload link is for")


def _lfs_error(message: str) -> dict[str, Any]:
    return {"code": 422, "message": message}
