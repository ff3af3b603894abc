"""``hub serve``: the local Hub emulator in the foreground, until interrupted."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from release.hub.faults import FaultRule
from release.hub.repo import CommitLimits
from release.hub.server import parse_token_option, serve
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
        limits=options.limits,
    )
    return HubStopped()
