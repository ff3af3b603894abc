"""Fault injection for the local Hub emulator: error answers, dropped connections and added latency.

Off by default. When a server is given fault rules or an admin token, :func:`with_faults` wraps the
emulator's ASGI app in :class:`FaultInjector`, which checks every request against its rules in order:

- ``latency`` rules that match delay the request (each one that matches adds its delay);
- ``hold`` rules that match hold the request until it is released (``POST /admin/faults/release``)
  or the rules are cleared: a bare ``hold`` before the emulator sees the request, ``hold=BYTES`` once
  the emulator has been handed the first BYTES of its body. Holding on an event instead of a delay
  lets a test put a request in a known state (waiting at the server, or half received) and act
  then, however loaded the machine is;
- then the first matching ``status`` or ``drop`` rule decides the request's fate: ``status`` answers
  that HTTP status (after reading the request body, so the client sees the answer) without calling
  the emulator; ``drop`` passes the request on, lets the first K bytes of its body through and then
  resets the TCP connection, so the client sees a broken connection and no answer at all, and the
  emulator sees its client vanish mid-body (a partial LFS upload is discarded, as after a real cut).

A rule with a ``count`` fires for the next ``count`` matching requests and then stays listed, spent;
without one it fires until the rules are cleared. Every injected fault is logged at WARNING on the
``release.hub.faults`` logger.

Routes are matched against ``"METHOD /raw/path"``: the path exactly as sent (still percent-encoded),
without the query string. See :meth:`FaultRule.from_spec` for the compact syntax of ``--fault``.

The admin endpoint ``/admin/faults`` (GET lists, POST adds, DELETE clears and releases every held
request) and ``/admin/faults/release`` (POST releases the held requests, all of them or those of the
rules whose ids a JSON list names, and keeps the rules) exist only when an admin token is set, and
only for clients on a loopback address: for anyone else the request goes to the emulator as if the
endpoint did not exist (404, no route). Loopback clients without
``Authorization: Bearer <admin token>`` get 403. Admin requests are never subject to faults.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hmac
import ipaddress
import json
import logging
import re
import socket
import struct
import threading
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Final, Literal

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from release.errors import HubServerError
from release.hub.limits import header_text

log = logging.getLogger(__name__)

FaultKind = Literal["status", "drop", "latency", "hold"]

#: The path of the admin endpoint (GET lists the rules, POST adds rules, DELETE clears them).
ADMIN_PATH: Final = "/admin/faults"
#: POST here releases the held requests (every one, or those of the listed rule ids); the rules stay in force.
RELEASE_PATH: Final = f"{ADMIN_PATH}/release"
SPEC_SYNTAX: Final = (
    "A fault spec is comma-separated key=value items: exactly one of status=CODE (400-599), "
    "drop=BYTES (e.g. 0, 65536, 1MiB), latency=DURATION (e.g. 200ms, 1.5s), or hold (until released) "
    "or hold=BYTES (until released, once the emulator has the first BYTES of the body); optionally count=N "
    "(the next N matching requests; default: until cleared) and, for status, retry-after=SECONDS; "
    "and last, route=PATTERN (the rest of the spec: a glob on 'METHOD /raw/path' such as "
    "'POST /api/models/*/preupload/*', '/path...' for any method, or 're:REGEX'; default '*')"
)
_KINDS: Final[tuple[FaultKind, ...]] = ("status", "drop", "latency", "hold")
_KIND_FIELDS: Final[Mapping[FaultKind, str]] = {"status": "status", "drop": "drop_after_bytes", "latency": "latency_ms"}
_SPEC_KEYS: Final = ("status", "drop", "latency", "hold", "count", "retry-after", "route")
_BYTE_UNITS: Final[Mapping[str, int]] = {"": 1, "B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}
_BYTES_RE: Final = re.compile(r"(\d+)\s*(B|KiB|MiB|GiB)?")
_DURATION_RE: Final = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s)?")
_MAX_LATENCY_MS: Final = 600_000
_ADMIN_BODY_MAX_BYTES: Final = 1024 * 1024  # a list of fault rules; more answers 413


@dataclass(frozen=True)
class FaultRule:
    """One fault to inject on the requests whose ``"METHOD /raw/path"`` matches ``route``.

    ``kind`` says which of the other fields is set: ``status`` (with an optional ``retry_after`` in
    seconds, sent as ``Retry-After``), ``drop_after_bytes`` or ``latency_ms``; a ``hold`` may set
    ``hold_after_bytes`` (None: held before the emulator sees the request).
    """

    kind: FaultKind
    route: str = "*"  # a glob; "/..." matches the path under any method; "re:..." is a regex (fullmatch)
    count: int | None = None  # the next N matching requests; None: until cleared
    status: int | None = None
    retry_after: int | None = None
    drop_after_bytes: int | None = None
    latency_ms: int | None = None
    hold_after_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise HubServerError(f"Unknown fault kind {self.kind!r}: use one of {', '.join(_KINDS)}")
        for kind, name in _KIND_FIELDS.items():
            value = getattr(self, name)
            if (value is None) == (kind == self.kind):
                needs = "needs" if kind == self.kind else "cannot have"
                raise HubServerError(f"A {self.kind!r} fault {needs} a value for {name!r}")
        if self.hold_after_bytes is not None and self.kind != "hold":
            raise HubServerError(f"A {self.kind!r} fault cannot have a value for 'hold_after_bytes'")
        if self.retry_after is not None and self.kind != "status":
            raise HubServerError(f"A {self.kind!r} fault cannot have 'retry_after': only status faults answer")
        _check_int("count", self.count, minimum=1)
        _check_int("status", self.status, minimum=400, maximum=599)
        _check_int("retry_after", self.retry_after, minimum=0)
        _check_int("drop_after_bytes", self.drop_after_bytes, minimum=0)
        _check_int("latency_ms", self.latency_ms, minimum=1, maximum=_MAX_LATENCY_MS)
        _check_int("hold_after_bytes", self.hold_after_bytes, minimum=0)
        if not isinstance(self.route, str) or not self.route.strip():
            raise HubServerError("A fault's route must be a non-empty pattern, e.g. '*' or 'PUT /api/lfs-upload/*'")
        if self.route.startswith("re:"):
            try:
                re.compile(self.route[3:])
            except re.error as exc:
                raise HubServerError(f"The fault route {self.route!r} is not a valid regex: {exc}") from exc

    @classmethod
    def from_spec(cls, spec: str) -> FaultRule:
        """Parse the compact syntax of ``hub serve --fault`` (see :data:`SPEC_SYNTAX`).

        Examples: ``status=503,count=2,route=POST /api/models/*/preupload/*``,
        ``status=429,retry-after=1,count=1,route=/api/*``, ``drop=1MiB,route=PUT /api/lfs-upload/*``,
        ``latency=200ms,route=*``, ``hold,count=1,route=POST /api/models/*/commit/*``,
        ``hold=64KiB,count=1,route=PUT /api/lfs-upload/*``. Raises :class:`HubServerError` naming the bad part.
        """
        if not spec.strip():
            raise _spec_error(spec, "it is empty")
        head, found, route = spec.partition("route=")
        items = head.split(",")
        if found:
            if items[-1].strip():
                raise _spec_error(spec, f"put a comma between {items[-1].strip()!r} and route=")
            items.pop()  # the empty text between the last comma and route=
        values: dict[str, str] = {}
        for item in items:
            key, equals, value = (part.strip() for part in item.partition("="))
            if key == "hold" and not equals:
                equals, value = "=", "-"  # a bare hold: before the emulator sees the request
            if not equals or not value:
                raise _spec_error(spec, f"{item.strip()!r} is not a key=value item")
            if key not in _SPEC_KEYS:
                raise _spec_error(spec, f"unknown key {key!r} (keys: {', '.join(_SPEC_KEYS)})")
            if key in values:
                raise _spec_error(spec, f"{key!r} is given twice")
            values[key] = value
        kinds = [kind for kind in _KINDS if kind in values]
        if len(kinds) != 1:
            found_kinds = " and ".join(kinds) or "none"
            hint = "; route= takes the rest of the spec, so put it last" if "=" in route else ""
            raise _spec_error(spec, f"give exactly one of status=, drop=, latency= or hold (found {found_kinds}{hint})")
        kind = kinds[0]
        fields: dict[str, Any] = {"kind": kind}
        if found:
            fields["route"] = route.strip()
        if "count" in values:
            fields["count"] = _spec_int(spec, "count", values["count"])
        if "retry-after" in values:
            fields["retry_after"] = _spec_int(spec, "retry-after", values["retry-after"])
        if kind == "status":
            fields["status"] = _spec_int(spec, "status", values["status"])
        elif kind == "drop":
            fields["drop_after_bytes"] = _spec_bytes(spec, values["drop"])
        elif kind == "hold":
            if values["hold"] != "-":
                fields["hold_after_bytes"] = _spec_bytes(spec, values["hold"], key="hold")
        else:
            fields["latency_ms"] = _spec_milliseconds(spec, values["latency"])
        try:
            return cls(**fields)
        except HubServerError as exc:
            raise _spec_error(spec, str(exc)) from None

    @classmethod
    def from_json(cls, value: Any) -> FaultRule:
        """A rule from the admin endpoint: a spec string, or an object with this class's field names."""
        if isinstance(value, str):
            return cls.from_spec(value)
        if not isinstance(value, dict):
            raise HubServerError(f"A fault must be a spec string or a JSON object, not {type(value).__name__}")
        names = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise HubServerError(f"Unknown fault field(s) {', '.join(unknown)}: use {', '.join(names)}")
        return cls(**value)

    def to_spec(self) -> str:
        """The rule in the syntax of :meth:`from_spec` (``from_spec(rule.to_spec()) == rule``)."""
        match self.kind:
            case "status":
                items = [f"status={self.status}"]
                if self.retry_after is not None:
                    items.append(f"retry-after={self.retry_after}")
            case "drop":
                items = [f"drop={self.drop_after_bytes}"]
            case "latency":
                items = [f"latency={self.latency_ms}ms"]
            case "hold":
                items = ["hold" if self.hold_after_bytes is None else f"hold={self.hold_after_bytes}"]
        if self.count is not None:
            items.append(f"count={self.count}")
        return ",".join([*items, f"route={self.route}"])

    def matches(self, method: str, raw_path: str) -> bool:
        """Whether the request ``method raw_path`` (path still percent-encoded, no query) is this rule's."""
        pattern, is_regex = (self.route[3:], True) if self.route.startswith("re:") else (self.route, False)
        subject = raw_path if pattern.startswith("/") else f"{method} {raw_path}"
        return re.fullmatch(pattern, subject) is not None if is_regex else fnmatchcase(subject, pattern)


@dataclass
class _Fault:
    """A rule in force: how many requests it fired on, how many it holds now, how many have finished."""

    id: int
    rule: FaultRule
    fired: int = 0
    held: int = 0
    finished: int = 0  # of the requests it fired on, those the emulator is done with (answered or cut)
    # Held requests wait on the gate of the moment; a release opens it, and the next hold makes a new one.
    gate: asyncio.Event | None = dataclasses.field(default=None, repr=False)

    @property
    def spent(self) -> bool:
        return self.rule.count is not None and self.fired >= self.rule.count

    def to_json(self) -> dict[str, Any]:
        remaining = None if self.rule.count is None else self.rule.count - self.fired
        return {"id": self.id, "spec": self.rule.to_spec(), **dataclasses.asdict(self.rule)} | {
            "fired": self.fired,
            "held": self.held,
            "finished": self.finished,
            "remaining": remaining,
        }


@dataclass(frozen=True)
class _Plan:
    """What to do to one request: delays and holds, then at most one status or drop fault."""

    delays: tuple[_Fault, ...]
    final: _Fault | None

    @property
    def faults(self) -> tuple[_Fault, ...]:
        return (*self.delays, self.final) if self.final is not None else self.delays


class FaultInjector:
    """ASGI middleware that injects the faults of its rules, and serves the admin endpoint."""

    def __init__(self, app: ASGIApp, rules: Sequence[FaultRule] = (), *, admin_token: str | None = None) -> None:
        self._app = app
        self._admin_token = admin_token
        self._faults: list[_Fault] = []
        self._next_id = 1
        self._guard = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None  # the server's, once a request was held
        self.add(rules)

    def add(self, rules: Sequence[FaultRule]) -> list[dict[str, Any]]:
        """Put ``rules`` in force after those already there; return them as the admin endpoint lists them."""
        with self._guard:
            added = [_Fault(self._next_id + offset, rule) for offset, rule in enumerate(rules)]
            self._next_id += len(added)
            self._faults.extend(added)
            return [fault.to_json() for fault in added]

    def clear(self) -> int:
        """Remove every rule and release the requests they hold; return how many rules there were."""
        with self._guard:
            cleared, self._faults = self._faults, []
        self._open(cleared)
        return len(cleared)

    def release(self, ids: Collection[int] | None = None) -> int:
        """Let the requests held by the rules ``ids`` (default: all) go on; return how many were held.

        The rules stay in force: a hold rule that is not spent holds its next requests again. Safe to
        call from any thread.
        """
        with self._guard:
            chosen = [fault for fault in self._faults if ids is None or fault.id in ids]
        return self._open(chosen)

    def _open(self, faults: Sequence[_Fault]) -> int:
        with self._guard:
            gates = [fault.gate for fault in faults if fault.gate is not None]
            held = sum(fault.held for fault in faults)
            for fault in faults:
                fault.gate = None
            loop = self._loop
        if loop is not None and not loop.is_closed():
            for gate in gates:
                loop.call_soon_threadsafe(gate.set)
        return held

    def listing(self) -> list[dict[str, Any]]:
        with self._guard:
            return [fault.to_json() for fault in self._faults]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        raw_path = (scope.get("raw_path") or scope["path"].encode()).partition(b"?")[0].decode("latin-1")
        method: str = scope["method"]
        admin_path = raw_path.rstrip("/")
        if self._admin_token is not None and admin_path in (ADMIN_PATH, RELEASE_PATH) and _from_loopback(scope):
            response = await self._admin(scope, receive, method, admin_path)
            await response(scope, receive, send)
            return
        plan = self._plan(method, raw_path)
        try:
            await self._serve(plan, scope, receive, send)
        finally:
            with self._guard:
                for fault in plan.faults:
                    fault.finished += 1

    async def _serve(self, plan: _Plan, scope: Scope, receive: Receive, send: Send) -> None:
        for fault in plan.delays:
            if fault.rule.kind == "latency":
                await asyncio.sleep((fault.rule.latency_ms or 0) / 1000)
            elif fault.rule.hold_after_bytes is None:
                await self._hold(fault)
            else:
                receive = _BodyHold(receive, fault.rule.hold_after_bytes, functools.partial(self._hold, fault)).receive
        final = plan.final
        if final is None:
            await self._app(scope, receive, send)
        elif final.rule.kind == "status":
            await _drain_body(receive)
            await _status_response(final)(scope, receive, send)
        else:
            dropper = _ConnectionDropper(receive, final.rule.drop_after_bytes or 0)
            await self._app(scope, dropper.receive, dropper.send)
            await dropper.drop()

    async def _hold(self, fault: _Fault) -> None:
        """Wait until the held requests are released, counted in ``fault.held`` meanwhile."""
        with self._guard:
            if fault.gate is None:
                fault.gate, self._loop = asyncio.Event(), asyncio.get_running_loop()
            gate = fault.gate
            fault.held += 1
        try:
            await gate.wait()
        finally:
            with self._guard:
                fault.held -= 1

    def _plan(self, method: str, raw_path: str) -> _Plan:
        """Pick the faults for one request, count them as fired and log them."""
        delays: list[_Fault] = []
        final: _Fault | None = None
        with self._guard:
            for fault in self._faults:
                if fault.spent or not fault.rule.matches(method, raw_path):
                    continue
                if fault.rule.kind in ("latency", "hold"):
                    delays.append(fault)
                elif final is None:
                    final = fault
                else:
                    continue
                fault.fired += 1
                _log_fault(fault, method, raw_path)
        return _Plan(tuple(delays), final)

    async def _admin(self, scope: Scope, receive: Receive, method: str, path: str) -> Response:
        if not _bearer_matches(scope, self._admin_token or ""):
            return _error(403, "The fault admin endpoint needs the admin token in 'Authorization: Bearer <token>'")
        if path == RELEASE_PATH:
            if method != "POST":
                return _error(405, f"{RELEASE_PATH} answers POST (release the held requests)")
            body = await _read_body(receive)
            if body is None:
                return _error(413, f"The body is larger than {_ADMIN_BODY_MAX_BYTES} bytes")
            try:
                ids = json.loads(body) if body.strip() else None
            except (ValueError, RecursionError) as exc:
                return _error(400, f"The body is not valid JSON: {exc}")
            if ids is not None and not (isinstance(ids, list) and all(type(i) is int for i in ids)):
                return _error(400, "The body must be empty (release every held request) or a JSON list of fault ids")
            return JSONResponse({"released": self.release(ids)})
        match method:
            case "GET":
                return JSONResponse({"faults": self.listing()})
            case "DELETE":
                return JSONResponse({"cleared": self.clear()})
            case "POST":
                body = await _read_body(receive)
                if body is None:
                    return _error(413, f"The body is larger than {_ADMIN_BODY_MAX_BYTES} bytes")
                try:
                    items = json.loads(body)
                    if not isinstance(items, list):
                        raise HubServerError("The body must be a JSON list of faults (spec strings or objects)")
                    rules = [FaultRule.from_json(item) for item in items]
                except (ValueError, RecursionError) as exc:
                    return _error(400, f"The body is not valid JSON: {exc}")
                except (HubServerError, TypeError) as exc:
                    return _error(400, str(exc))
                added = self.add(rules)
                log.warning("Fault rules added through %s: %s", ADMIN_PATH, "; ".join(r.to_spec() for r in rules))
                return JSONResponse({"faults": added})
        return _error(405, f"{ADMIN_PATH} answers GET (list), POST (add) and DELETE (clear and release)")


def with_faults(app: ASGIApp, rules: Sequence[FaultRule] = (), *, admin_token: str | None = None) -> ASGIApp:
    """``app`` wrapped in a :class:`FaultInjector`, or ``app`` itself when there is nothing to inject."""
    if not rules and admin_token is None:
        return app
    return FaultInjector(app, rules, admin_token=admin_token)


class _BodyHold:
    """Pass a request's first ``after`` body bytes to the app, then hold the rest until ``hold`` returns."""

    def __init__(self, receive: Receive, after: int, hold: Callable[[], Awaitable[None]]) -> None:
        self._receive = receive
        self._left: int | None = after  # None: the hold point is behind us
        self._hold = hold
        self._rest: Message | None = None  # the part of a message past the hold point

    async def receive(self) -> Message:
        if self._rest is not None:
            await self._hold()
            rest, self._rest = self._rest, None
            return rest
        message = await self._receive()
        if self._left is None or message["type"] != "http.request":
            return message
        body: bytes = message.get("body", b"")
        if len(body) < self._left or (len(body) == self._left and message.get("more_body", False)):
            self._left -= len(body)
            return message
        head, self._left = body[: self._left], None
        self._rest = {**message, "body": body[len(head) :]}
        if not head:
            return await self.receive()
        return {"type": "http.request", "body": head, "more_body": True}


class _ConnectionDropper:
    """Pass a request's first ``after`` body bytes to the app, then reset the connection; swallow answers."""

    def __init__(self, receive: Receive, after: int) -> None:
        self._receive = receive
        self._left = after
        self._handed_over = False  # the bytes allowed were handed over: the next read drops
        self._dropped = False

    async def receive(self) -> Message:
        if self._dropped:
            return {"type": "http.disconnect"}
        if self._handed_over:  # even when the rest of the body already came in the same message
            await self.drop()
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] != "http.request":
            return message
        body: bytes = message.get("body", b"")
        if len(body) < self._left or (len(body) == self._left and message.get("more_body", False)):
            self._left -= len(body)
            return message
        if self._left > 0:  # hand over the last bytes allowed; the next receive drops
            allowed, self._left, self._handed_over = body[: self._left], 0, True
            return {"type": "http.request", "body": allowed, "more_body": True}
        await self.drop()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        await self.drop()  # the app answered before the drop point: the client still gets no answer

    async def drop(self) -> None:
        if self._dropped:
            return
        self._dropped = True
        _reset_connection(self._receive)
        while (await self._receive())["type"] != "http.disconnect":
            pass  # until the server has noticed, so it does not answer in our place


def _reset_connection(receive: Receive) -> None:
    """Close the request's TCP connection at once with a reset (RST), through uvicorn's transport."""
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if not isinstance(transport, asyncio.Transport):
        raise RuntimeError("Cannot drop the connection: the ASGI server does not expose its transport (uvicorn does)")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _read_body(receive: Receive) -> bytes | None:
    """The admin request's body; None once it passes _ADMIN_BODY_MAX_BYTES (the rest is left unread)."""
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > _ADMIN_BODY_MAX_BYTES:
            return None
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _drain_body(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


def _status_response(fault: _Fault) -> Response:
    rule = fault.rule
    message = f"Injected fault: HTTP {rule.status} (fault {fault.id}: {rule.to_spec()})"
    response = _error(rule.status or 500, message)
    if rule.retry_after is not None:
        response.headers["Retry-After"] = str(rule.retry_after)
    return response


def _error(status: int, message: str) -> Response:
    headers = {"X-Error-Message": header_text(message)}
    return JSONResponse({"error": message}, status, headers)


def _log_fault(fault: _Fault, method: str, raw_path: str) -> None:
    rule = fault.rule
    match rule.kind:
        case "status":
            what = f"answering HTTP {rule.status}"
        case "drop":
            what = f"dropping the connection after {rule.drop_after_bytes} request body bytes"
        case "latency":
            what = f"adding {rule.latency_ms} ms of latency"
        case "hold":
            after = "" if rule.hold_after_bytes is None else f" after {rule.hold_after_bytes} request body bytes"
            what = f"holding the request{after} until released"
    of = f"{fault.fired} of {rule.count}" if rule.count is not None else f"{fault.fired}, no limit"
    log.warning("Fault %d (%s) on %s %s: %s [%s]", fault.id, fault.rule.to_spec(), method, raw_path, what, of)


def _from_loopback(scope: Scope) -> bool:
    client = scope.get("client")
    try:
        address = ipaddress.ip_address(client[0] if client else "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _bearer_matches(scope: Scope, token: str) -> bool:
    given = b""
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            scheme, _, credential = value.partition(b" ")
            given = credential.strip() if scheme.lower() == b"bearer" else b""
    return bool(token) and hmac.compare_digest(given, token.encode())


def _check_int(name: str, value: int | None, *, minimum: int, maximum: int | None = None) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum or (maximum and value > maximum):
        bounds = f"from {minimum} to {maximum}" if maximum else f"at least {minimum}"
        raise HubServerError(f"A fault's {name!r} must be an integer {bounds}, not {value!r}")


def _spec_error(spec: str, problem: str) -> HubServerError:
    return HubServerError(f"Bad fault spec {spec!r}: {problem}. {SPEC_SYNTAX}")


def _spec_int(spec: str, key: str, text: str) -> int:
    if not text.isdigit():
        raise _spec_error(spec, f"{key}={text} is not a whole number")
    return int(text)


def _spec_bytes(spec: str, text: str, key: str = "drop") -> int:
    match = _BYTES_RE.fullmatch(text)
    if match is None:
        raise _spec_error(spec, f"{key}={text} is not a byte count (e.g. 0, 65536, 64KiB, 1MiB)")
    return int(match.group(1)) * _BYTE_UNITS[match.group(2) or ""]


def _spec_milliseconds(spec: str, text: str) -> int:
    match = _DURATION_RE.fullmatch(text)
    if match is None:
        raise _spec_error(spec, f"latency={text} is not a duration (e.g. 200ms, 1.5s; a bare number is ms)")
    milliseconds = float(match.group(1)) * (1000 if match.group(2) == "s" else 1)
    return round(milliseconds)
