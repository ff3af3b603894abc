"""The bounds the Hub emulator puts on what it is sent: Host headers, header and body time, body sizes,
JSON depth and YAML front matter, and the headers that make users' files inert (docs/hub-api.md, Limits).

Nothing a client sends may crash the emulator (an answer of 500), hang it, or make it hold more memory
than a limit allows. This module imports none of the emulator's other modules: the app looks up each
route's :class:`BodyRule` in :data:`BODY_RULES` by the name of the handler that serves it, and turns a
:class:`LimitError` into its answer; the server puts :class:`HeaderCheck` and :class:`CloseUnreadBodies`
in front of everything and serves HTTP with :func:`timed_h11`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import yaml
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

_KiB: Final = 1024
_MiB: Final = 1024 * _KiB

#: A request whose line and headers take longer than this (from the connection's opening, or from the
#: first byte of a later request on it) is cut.
HEADER_TIMEOUT_SECONDS: Final = 30.0
#: The most bytes a request line and its headers may take: 431 (400 from uvicorn while they arrive).
MAX_HEADER_BYTES: Final = 16 * _KiB
#: The most header fields a request may have: 431 beyond it.
MAX_HEADER_FIELDS: Final = 100
#: The longest wait for the next piece of a request body: 408 after it.
BODY_TIMEOUT_SECONDS: Final = 60.0
#: The deepest nesting of arrays and objects a JSON body may have.
JSON_MAX_DEPTH: Final = 64
#: The largest YAML front matter read as metadata, and the most nodes it may expand to, counting an
#: aliased node each time it is used: a 365-byte alias bomb otherwise expands to gigabytes.
FRONT_MATTER_MAX_BYTES: Final = 256 * _KiB
METADATA_MAX_NODES: Final = 100_000
#: Body size limits. The routes that take a body each have one (see the app); others take this much.
NO_BODY_MAX_BYTES: Final = 64 * _KiB
JSON_BODY_MAX_BYTES: Final = 1 * _MiB
README_BODY_MAX_BYTES: Final = 4 * _MiB  # validate-yaml: a README.md as JSON
LISTING_BODY_MAX_BYTES: Final = 32 * _MiB  # preupload, LFS batch, paths-info: one item per file
COMMIT_BODY_MAX_BYTES: Final = 512 * _MiB  # regular files travel inside the commit, base64-encoded
#: The most client connections served at once, idle keep-alive ones included: a request arriving on
#: one more is answered 503 (uvicorn's ``limit_concurrency``, set one above it: uvicorn counts the
#: request's own connection). ``hub serve --max-connections``.
MAX_CONNECTIONS: Final = 256
#: How many connections the kernel queues before the server accepts them (``listen``'s backlog;
#: Linux caps it at ``net.core.somaxconn``). ``hub serve --backlog``.
BACKLOG: Final = 128
#: Host names every server accepts, as well as the one it was bound to.
LOOPBACK_NAMES: Final = frozenset({"127.0.0.1", "localhost", "[::1]"})
#: Files served by /resolve are the users' own: never run as a page of the emulator's origin.
USER_FILE_HEADERS: Final[Mapping[str, str]] = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
}


@dataclass(frozen=True)
class BodyRule:
    """What a route may be sent: at most ``max_bytes`` of body, and whether only with a token."""

    max_bytes: int
    needs_token: bool  # True: a request without a token is answered 401 before its body is read


NO_BODY: Final = BodyRule(NO_BODY_MAX_BYTES, needs_token=False)
_WRITE_JSON: Final = BodyRule(JSON_BODY_MAX_BYTES, needs_token=True)
#: The rule of each API route that takes a body or a token, by the name of the app's handler for it;
#: every other route (the web view's included) has NO_BODY.
BODY_RULES: Final[Mapping[str, BodyRule]] = {
    "change_discussion_status": _WRITE_JSON,
    "comment_discussion": _WRITE_JSON,
    "commit": BodyRule(COMMIT_BODY_MAX_BYTES, needs_token=True),
    "complete_multipart": BodyRule(LISTING_BODY_MAX_BYTES, needs_token=False),  # authorised by its signed link
    "create_branch": _WRITE_JSON,
    "create_discussion": _WRITE_JSON,
    "create_repo": _WRITE_JSON,
    "create_tag": _WRITE_JSON,
    "delete_branch": BodyRule(NO_BODY_MAX_BYTES, needs_token=True),
    "delete_repo": _WRITE_JSON,
    "delete_tag": BodyRule(NO_BODY_MAX_BYTES, needs_token=True),
    "edit_discussion_comment": _WRITE_JSON,
    "grant_access": _WRITE_JSON,
    "handle_access_request": _WRITE_JSON,
    "hide_discussion_comment": BodyRule(NO_BODY_MAX_BYTES, needs_token=True),
    "lfs_batch": BodyRule(LISTING_BODY_MAX_BYTES, needs_token=True),
    "lfs_verify": _WRITE_JSON,
    "merge_pull_request": _WRITE_JSON,
    "move_repo": _WRITE_JSON,
    "paths_info": BodyRule(LISTING_BODY_MAX_BYTES, needs_token=False),
    "preupload": BodyRule(LISTING_BODY_MAX_BYTES, needs_token=True),
    "purge_lfs_files": _WRITE_JSON,
    "rename_discussion": _WRITE_JSON,
    "super_squash": _WRITE_JSON,
    "update_settings": _WRITE_JSON,
    "validate_yaml": BodyRule(README_BODY_MAX_BYTES, needs_token=False),
}


class LimitError(Exception):
    """A request beyond a limit, or one that cannot be parsed within the limits; ``status`` is its answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --------------------------------------------------------------------------------------------------
# Bodies


async def read_body(receive: Receive, headers: Mapping[str, str], limit: int, timeout: float) -> bytes:
    """The whole request body, refused (413) as soon as it is known to exceed ``limit`` bytes.

    A ``Content-Length`` over the limit is refused before any of the body is read; a chunked body is
    read until it passes the limit. 408 when no part of it arrives for ``timeout`` seconds, and
    :class:`ClientDisconnect` when the client goes away.
    """
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.isascii() or not declared.isdigit():
            raise LimitError(400, f"Invalid Content-Length header {declared[:40]!r}")
        if int(declared) > limit:
            raise LimitError(413, f"The request body has {declared} bytes; this route accepts at most {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in body_chunks(receive, timeout):
        size += len(chunk)
        if size > limit:
            raise LimitError(413, f"The request body is larger than the {limit} bytes this route accepts")
        chunks.append(chunk)
    return b"".join(chunks)


async def body_chunks(receive: Receive, timeout: float) -> AsyncIterator[bytes]:
    """The request body as it arrives; 408 when no part of it arrives for ``timeout`` seconds."""
    more = True
    while more:
        try:
            message = await asyncio.wait_for(receive(), timeout)
        except TimeoutError:
            raise LimitError(408, f"The request body stalled: nothing arrived for {timeout:g} seconds") from None
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        more = bool(message.get("more_body", False))
        yield message.get("body", b"")


class CloseUnreadBodies:
    """ASGI wrapper: an answer given before the request's body was read in full closes the connection.

    Refusals (401, 413, 421, ...) are answered without reading the body. ``Connection: close`` makes the
    server close the connection after the answer instead of reading and discarding the rest of the body,
    however large, before the next request on it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        body = _BodyTracker(receive, unread=_announces_body(scope))

        async def closing_send(message: Message) -> None:
            if message["type"] == "http.response.start" and body.unread:
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        await self._app(scope, body.receive, closing_send)


class _BodyTracker:
    """A request's ``receive``, noting when the body has been read in full.

    ``transport`` passes on uvicorn's, which fault injection finds through ``receive.__self__`` to drop
    a connection.
    """

    def __init__(self, receive: Receive, *, unread: bool) -> None:
        self._receive = receive
        self.unread = unread
        self.transport = getattr(getattr(receive, "__self__", None), "transport", None)

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.unread = False
        return message


def _announces_body(scope: Scope) -> bool:
    length = _header(scope, b"content-length")
    return _header(scope, b"transfer-encoding") is not None or (length is not None and length.strip() not in ("", "0"))


def parse_json(text: bytes | str, what: str) -> Any:
    """``text`` parsed as JSON, nested at most :data:`JSON_MAX_DEPTH` deep.

    Raises ValueError for invalid JSON (the caller words it) and :class:`LimitError` (400) for JSON
    nested too deeply, whether Python's own parser gives up on it or not.
    """
    try:
        value = json.loads(text)
    except RecursionError:
        value = None
        too_deep = True
    else:
        too_deep = _depth_exceeds(value, JSON_MAX_DEPTH)
    if too_deep:
        raise LimitError(400, f"{what} nests arrays and objects more than {JSON_MAX_DEPTH} deep")
    return value


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


# --------------------------------------------------------------------------------------------------
# YAML front matter


def load_metadata(text: str) -> Any:
    """YAML front matter as Python values (``yaml.safe_load``), within the size and expansion limits.

    Raises ``yaml.YAMLError`` for invalid YAML and :class:`LimitError` (400) for front matter over
    :data:`FRONT_MATTER_MAX_BYTES`, expanding to more than :data:`METADATA_MAX_NODES` nodes (aliases
    counted each time they are used), nested too deeply, or referring to itself. Nothing is expanded
    before the count: the composed node graph is measured first.
    """
    if len(text.encode("utf-8", errors="replace")) > FRONT_MATTER_MAX_BYTES:
        raise LimitError(400, f"The YAML front matter is larger than {FRONT_MATTER_MAX_BYTES} bytes")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, {}, set())
        return loader.construct_document(node)
    except RecursionError:
        raise LimitError(400, "The YAML front matter is nested too deeply") from None
    finally:
        loader.dispose()


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_nodes: set[int]) -> int:
    """How many nodes ``node`` stands for once every alias is expanded; LimitError past the limit."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        raise LimitError(400, "The YAML front matter refers to itself through an alias")
    open_nodes.add(key)
    children: list[yaml.Node] = []
    if isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [item for pair in node.value for item in pair]
    total = 1
    for child in children:
        total += _expanded_size(child, sizes, open_nodes)
        if total > METADATA_MAX_NODES:
            raise LimitError(
                400,
                f"The YAML front matter expands to more than {METADATA_MAX_NODES} nodes "
                "(aliases count each time they are used): it is not read",
            )
    open_nodes.discard(key)
    sizes[key] = total
    return total


# --------------------------------------------------------------------------------------------------
# Headers


class HeaderCheck:
    """ASGI wrapper answering 431 to too many or too large headers, and 421 to a request whose ``Host``
    names no address of this server.

    A web page elsewhere could otherwise reach the loopback server through a name it controls that
    resolves to 127.0.0.1 (DNS rebinding), with the server's well-known development token.
    """

    def __init__(self, app: ASGIApp, names: frozenset[str], port: int) -> None:
        self._app = app
        self._names = frozenset(name.lower() for name in names)
        self._port = port
        # Bound to every address: the clients may use any of them, and an IP address cannot be rebound.
        self._any_ip = bool(self._names & {"0.0.0.0", "[::]"})  # noqa: S104 (a comparison, not a bind)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self._refusal(scope) if scope["type"] == "http" else None
        if refusal is None:
            await self._app(scope, receive, send)
            return
        status, message = refusal
        headers = {"X-Error-Message": header_text(message)}
        await JSONResponse({"error": message}, status, headers)(scope, receive, send)

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        fields = scope["headers"]
        if len(fields) > MAX_HEADER_FIELDS:
            return 431, f"The request has {len(fields)} header fields; the most accepted is {MAX_HEADER_FIELDS}"
        size = sum(len(name) + len(value) + 4 for name, value in fields)
        if size > MAX_HEADER_BYTES:
            return 431, f"The request's headers take {size} bytes; the most accepted is {MAX_HEADER_BYTES}"
        host = _header(scope, b"host")
        if host is None or not self.allows(host):
            return 421, (
                f"The Host header {(host or '(none)')[:100]!r} names no address of this server: "
                f"use http://127.0.0.1:{self._port} (or localhost)"
            )
        return None

    def allows(self, host: str) -> bool:
        """Whether ``host`` (a Host header value) names this server: a known name, and its port."""
        host = host.strip().lower()
        name, port = host, "80"
        if not host.endswith("]") and ":" in host:
            name, _, port = host.rpartition(":")
        if not port.isascii() or not port.isdigit() or int(port) != self._port:
            return False
        return name in self._names or name in LOOPBACK_NAMES or (self._any_ip and _is_ip(name))


def header_text(text: str) -> str:
    """``text`` as a legal header value: one line of printable ASCII, anything else backslash-escaped.

    Error messages name what a request sent, which may hold any character; h11 refuses to send a header
    with a control character, and the client would see the connection drop instead of the answer.
    """
    printable = "".join(
        char if " " <= char <= "~" or char in "\t\n\r" else f"\\x{ord(char):02x}"
        for char in text.encode("ascii", "backslashreplace").decode()
    )
    return " ".join(printable.split())


def host_names(host: str, bound: str) -> frozenset[str]:
    """The names a server given ``--host host`` and bound to address ``bound`` answers to, as in a Host header."""
    return frozenset(f"[{name}]" if ":" in name else name for name in (host.strip("[]"), bound))


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


# --------------------------------------------------------------------------------------------------
# Header time


def timed_h11(header_timeout: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol, closing connections whose request headers do not arrive in time.

    The clock starts when the connection opens and again at the first byte of each later request, and
    stops once a request's headers are complete. uvicorn's own keep-alive timeout covers the idle time
    between requests; the app's body timeout covers the body.
    """

    class TimedH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)  # type: ignore[arg-type]
            self._watch_headers()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._watch_headers()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_header_timer()
            super().connection_lost(exc)

        def _watch_headers(self) -> None:
            waiting = self.cycle is None or self.cycle.response_complete
            if not waiting or self.transport.is_closing():
                self._stop_header_timer()
            elif self._header_timer is None:
                self._header_timer = self.loop.call_later(header_timeout, self._headers_too_slow)

        def _stop_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                self.transport.close()

    return TimedH11Protocol
