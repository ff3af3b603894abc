"""``hub serve``: the local Hub emulator in the foreground, until interrupted."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from release.errors import HubServerError
from release.hub.faults import FaultRule
from release.hub.lfs import parse_size
from release.hub.limits import BACKLOG, MAX_CONNECTIONS
from release.hub.repo import CommitLimits
from release.hub.server import Connections, Multipart, parse_token_option, serve
from release.workflow.report import JsonObject, text_of


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    storage: Path = Path(".hub")
    tokens: tuple[str, ...] = ()  # NAME:TOKEN; none: the documented dev token
    faults: tuple[str, ...] = ()  # fault specs, injected from the start
    admin_token: str | None = None
    fault_admin: bool = False
    max_connections: int = MAX_CONNECTIONS  # a request on one more connection is answered 503
    backlog: int = BACKLOG  # connections the kernel queues before they are accepted
    storage_port: int = 0  # the storage origin's port; 0: any free port
    multipart_threshold: str | None = None  # a size such as "8MiB"; None: as the Hub
    multipart_chunk_size: str | None = None
    limits: CommitLimits = field(default_factory=CommitLimits)  # the Hub's: 100 operations a commit, 10,000 a folder


@dataclass(frozen=True)
class HubStopped:
    command: ClassVar[str] = "hub serve"
    message: ClassVar[str] = "local Hub stopped"
    exit_code: ClassVar[int] = 0

    def to_json(self) -> JsonObject:
        return {"command": self.command, "message": self.message}

    def text(self) -> str:
        return text_of(self.message)


def serve_hub(options: ServeOptions) -> HubStopped:
    """Serve the Hub API in the foreground until interrupted."""
    tokens = [parse_token_option(t) for t in options.tokens]
    faults = [FaultRule.from_spec(spec) for spec in options.faults]
    serve(
        options.host,
        options.port,
        options.storage,
        tokens,
        faults=faults,
        admin_token=options.admin_token,
        fault_admin=options.fault_admin,
        connections=Connections(options.max_connections, options.backlog),
        multipart=_multipart(options),
        storage_port=options.storage_port,
        limits=options.limits,
    )
    return HubStopped()


def _multipart(options: ServeOptions) -> Multipart | None:
    """The multipart settings the options ask for; None when they ask for the Hub's."""
    if options.multipart_threshold is None and options.multipart_chunk_size is None:
        return None
    default = Multipart()
    threshold = _size("--multipart-threshold", options.multipart_threshold, default.threshold)
    chunk_size = _size("--multipart-chunk-size", options.multipart_chunk_size, default.chunk_size)
    if chunk_size < 1:
        raise HubServerError("--multipart-chunk-size must be at least 1 byte")
    return Multipart(threshold, chunk_size)


def _size(option: str, text: str | None, default: int) -> int:
    if text is None:
        return default
    try:
        return parse_size(text)
    except ValueError as exc:
        raise HubServerError(f"{option}: {exc}") from exc
