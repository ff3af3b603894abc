"""Run the local Hub emulator: in a daemon thread (:class:`HubServer`) or in the foreground (:func:`serve`).

Both listen on a loopback socket by default and serve storage in one directory. This is where the
emulator's parts are put together: the API (:mod:`release.hub.app`) with the web view
(:mod:`release.hub.web`) for the paths the API leaves, wrapped in fault injection
(:mod:`release.hub.faults`) when asked, behind the header checks and timeouts of
:mod:`release.hub.limits`. Tokens decide who may do what (:mod:`release.hub.auth`): a token grants its
role over the namespace named like its user. With no tokens at all, the documented development token
:data:`DEV_TOKEN` is accepted instead.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Final

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from release.errors import HubServerError
from release.hub import web
from release.hub.app import RequestIds, create_app
from release.hub.auth import DEV_TOKEN, Token, accepted_tokens, parse_token_option
from release.hub.calls import PageSizes
from release.hub.faults import ADMIN_PATH, FaultInjector, FaultRule, with_faults
from release.hub.lfs import Multipart
from release.hub.limits import (
    BACKLOG,
    BODY_TIMEOUT_SECONDS,
    HEADER_TIMEOUT_SECONDS,
    MAX_CONNECTIONS,
    MAX_HEADER_BYTES,
    CloseUnreadBodies,
    HeaderCheck,
    host_names,
    timed_h11,
)
from release.hub.repo import CommitLimits
from release.hub.storage import HubStorage

# The tokens, connection bounds and multipart settings HubServer and serve take are defined in
# release.hub.auth, here and in release.hub.lfs, and exported here with them.
__all__ = ["DEV_TOKEN", "Connections", "HubServer", "Multipart", "Token", "parse_token_option", "serve"]

log = logging.getLogger(__name__)

_STARTUP_TIMEOUT_SECONDS: Final = 10.0
_STOP_TIMEOUT_SECONDS: Final = 10.0


@dataclass(frozen=True)
class Connections:
    """How many client connections the emulator serves at once (a request on one more is answered 503),
    and how many the kernel queues before they are accepted."""

    most: int = MAX_CONNECTIONS
    backlog: int = BACKLOG

    def __post_init__(self) -> None:
        if self.most < 1 or self.backlog < 1:
            raise HubServerError(
                f"--max-connections and --backlog must be at least 1 (got {self.most} and {self.backlog})"
            )


class HubServer:
    """The emulator on a loopback socket, run by uvicorn in a daemon thread. Use it as a context manager."""

    def __init__(
        self,
        storage: Path,
        tokens: Sequence[Token] = (),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        sock: socket.socket | None = None,
        page_sizes: PageSizes | None = None,
        faults: Sequence[FaultRule] = (),
        admin_token: str | None = None,
        header_timeout: float = HEADER_TIMEOUT_SECONDS,
        body_timeout: float = BODY_TIMEOUT_SECONDS,
        connections: Connections | None = None,
        multipart: Multipart | None = None,
        storage_sock: socket.socket | None = None,
        limits: CommitLimits | None = None,
    ) -> None:
        self._timeouts = (header_timeout, body_timeout)  # docs/hub-api.md, Limits
        self._connections = connections or Connections()
        self._multipart = multipart  # None: the Hub's threshold and part size
        self._storage_sock = storage_sock  # the storage origin's socket; None: bound at start
        self._limits = limits  # None: the Hub's (CommitLimits())
        self._storage_dir = storage
        self._faults = tuple(faults)  # injected from the start; more through the admin endpoint
        self._admin_token = admin_token  # None: no admin endpoint
        self._page_sizes = page_sizes  # None: the Hub's page sizes
        self._tokens = accepted_tokens(tokens)
        _check_admin_token(admin_token, self._tokens)
        self._host = host
        self._port = port
        self._sock = sock
        self._url = _url_of(sock) if sock is not None else None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._injector: FaultInjector | None = None

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` exactly as bound (e.g. ``http://127.0.0.1:43125``)."""
        if self._url is None:
            raise HubServerError("The Hub emulator has no socket yet: call start() first")
        return self._url

    @property
    def storage_url(self) -> str:
        """The storage origin LFS downloads are redirected to, ``http://HOST:PORT`` (known once started)."""
        if self._storage_sock is None:
            raise HubServerError("The Hub emulator has no storage socket yet: call start() first")
        return _url_of(self._storage_sock)

    def start(self) -> HubServer:
        """Serve in a daemon thread; return once the socket accepts connections."""
        if self._thread is not None:
            raise HubServerError(f"The Hub emulator on {self.url} is already running")
        header_timeout, body_timeout = self._timeouts
        bound = []  # the sockets bound here, closed again if the storage cannot be opened
        if self._sock is None:
            self._sock = _bind(self._host, self._port)
            self._url = _url_of(self._sock)
            bound.append(self._sock)
        if self._storage_sock is None:
            self._storage_sock = _bind(self._host, 0)
            bound.append(self._storage_sock)
        options = _Options(
            self._page_sizes, self._faults, self._admin_token, body_timeout, self._multipart, self._limits
        )
        try:
            served = _compose(self._storage_dir, self._tokens, options, _port_of(self._storage_sock))
        except BaseException:
            for sock in bound:
                sock.close()
            if self._sock in bound:
                self._sock = self._url = None
            self._storage_sock = None if self._storage_sock in bound else self._storage_sock
            raise
        self._injector = served if isinstance(served, FaultInjector) else None
        sockets = [self._sock, self._storage_sock]
        server = _uvicorn_server(_host_checked(served, self._host, sockets), header_timeout, self._connections)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": sockets}, name=f"hub-emulator {self.url}", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + _STARTUP_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                raise HubServerError(f"The Hub emulator on {self.url} did not start; see the log for why")
            time.sleep(0.01)
        self._server, self._thread = server, thread
        log.info("Hub emulator running on %s (storage %s)", self.url, self._storage_dir)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket. Does nothing when not running."""
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        if self._injector is not None:
            self._injector.release()  # held requests would keep the server from finishing
        self._thread.join(_STOP_TIMEOUT_SECONDS)
        self._server = self._thread = None

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve(
    host: str,
    port: int,
    storage: Path,
    tokens: Sequence[Token],
    *,
    faults: Sequence[FaultRule] = (),
    admin_token: str | None = None,
    fault_admin: bool = False,
    connections: Connections | None = None,
    multipart: Multipart | None = None,
    storage_port: int = 0,
    limits: CommitLimits | None = None,
) -> None:
    """Serve in the foreground (for ``model-release hub serve``); ``limits`` bound each commit (None: the Hub's).

    LFS downloads are redirected to the storage origin, a second socket on ``host`` at ``storage_port``
    (0: any free port). ``multipart`` says which LFS uploads go in parts (default: as the Hub).

    ``faults`` are injected from the start (see :mod:`release.hub.faults`). With ``fault_admin`` or an
    ``admin_token``, loopback clients holding the admin token may manage faults at ``/admin/faults``; a
    token is generated (and logged, so that the user can use it) when none is given.

    Ctrl-C (SIGINT) shuts down gracefully and returns; SIGTERM shuts down gracefully and then ends the
    process the default way for that signal.
    """
    accepted = accepted_tokens(tokens)
    generated = fault_admin and admin_token is None
    if generated:
        admin_token = secrets.token_urlsafe(24)
    _check_admin_token(admin_token, accepted)
    connections = connections or Connections()
    sock = _bind(host, port)
    storage_sock = _bind(host, storage_port)
    options = _Options(None, faults, admin_token, BODY_TIMEOUT_SECONDS, multipart, limits)
    app = _compose(storage, accepted, options, _port_of(storage_sock))
    url = _url_of(sock)
    log.info("Hub emulator serving %s (storage %s)", url, storage)
    if tokens:
        log.info("Accepting %d token(s) for: %s", len(accepted), ", ".join(sorted({t.user for t in accepted})))
    else:
        log.info("No tokens given: accepting the development token %s (user 'dev', writes anywhere)", DEV_TOKEN)
    log.info("Point clients at it with HF_ENDPOINT=%s HF_HUB_DISABLE_XET=1", url)
    log.info("LFS downloads are redirected to the storage origin %s", _url_of(storage_sock))
    in_parts = multipart or Multipart()
    log.info("LFS uploads over %d bytes go in parts of %d bytes", in_parts.threshold, in_parts.chunk_size)
    for rule in faults:
        log.warning("Injecting faults: %s", rule.to_spec())
    if admin_token is not None:
        shown = admin_token if generated else "the one given by --admin-token"
        log.info("Fault admin endpoint: %s%s (loopback clients only; Authorization: Bearer TOKEN)", url, ADMIN_PATH)
        log.info("Fault admin token: %s", shown)
    # On Ctrl-C uvicorn shuts down gracefully, then re-raises the signal only to report it.
    with contextlib.suppress(KeyboardInterrupt):
        sockets = [sock, storage_sock]
        server = _uvicorn_server(_host_checked(app, host, sockets), HEADER_TIMEOUT_SECONDS, connections)
        server.run(sockets=sockets)
    log.info("Hub emulator on %s stopped", url)


@dataclass(frozen=True)
class _Options:
    """How the emulator is put together, beyond its storage and tokens."""

    page_sizes: PageSizes | None
    faults: Sequence[FaultRule]
    admin_token: str | None
    body_timeout: float
    multipart: Multipart | None
    limits: CommitLimits | None  # None: the Hub's


def _compose(storage_dir: Path, tokens: Sequence[Token], options: _Options, storage_port: int) -> ASGIApp:
    """The emulator as served: the API and the web view over one storage, inside fault injection if asked."""
    storage = HubStorage.open(storage_dir, options.limits)
    pages = partial(web.route, storage)
    app = create_app(
        storage,
        tokens,
        page_sizes=options.page_sizes,
        pages=pages,
        body_timeout=options.body_timeout,
        multipart=options.multipart,
        storage_port=storage_port,
    )
    return with_faults(app, options.faults, admin_token=options.admin_token)


def _host_checked(app: ASGIApp, host: str, sockets: Sequence[socket.socket]) -> ASGIApp:
    """``app`` answering only requests whose Host names the loopback names or ``host``, at the port of the
    socket they came in on; a refusal given before a request's body was read closes its connection. Every
    answer has a request id."""
    checks = {}
    for sock in sockets:
        bound, port = sock.getsockname()[:2]
        checks[port] = RequestIds(CloseUnreadBodies(HeaderCheck(app, host_names(host, bound), port)))
    return _ByPort(checks)


class _ByPort:
    """ASGI: each request to the app of the local port it came in on (the API's or the storage origin's)."""

    def __init__(self, apps: Mapping[int, ASGIApp]) -> None:
        self._apps = dict(apps)
        self._first = next(iter(self._apps.values()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        app = self._apps.get(server[1], self._first) if server else self._first
        await app(scope, receive, send)


def _port_of(sock: socket.socket) -> int:
    port: int = sock.getsockname()[1]
    return port


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise HubServerError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def _url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _check_admin_token(admin_token: str | None, tokens: Sequence[Token]) -> None:
    if admin_token is None:
        return
    if not admin_token or any(char.isspace() for char in admin_token):
        raise HubServerError("The admin token is empty or contains whitespace")
    if any(admin_token == token.value for token in tokens):
        raise HubServerError("The admin token is also a user token: choose one that is not")


def _uvicorn_server(app: ASGIApp, header_timeout: float, connections: Connections) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        # uvicorn answers 503 once this many connections are open, the request's own included.
        limit_concurrency=connections.most + 1,
        backlog=connections.backlog,  # the listen() of the socket, however it was bound
        http=timed_h11(header_timeout),  # a request's headers must arrive within header_timeout
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,  # larger request line and headers: 400
        lifespan="off",
        ws="none",
        log_config=None,  # leave the process's logging configuration alone
        access_log=False,
        server_header=False,
        timeout_keep_alive=120,  # idle client connections stay usable; stop() closes them at once
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)
