"""``check PATH...``: the safety gate over files on disk, what ``stage`` runs before anything is released."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from release.config import Config
from release.errors import Finding
from release.gate import collect_gate_files, format_finding, run_gate
from release.pipeline import gate_config
from release.workflow.report import JsonObject, text_of


@dataclass(frozen=True)
class GateChecked:
    findings: tuple[Finding, ...]
    command: ClassVar[str] = "check"

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0

    @property
    def message(self) -> str:
        lines = [format_finding(finding, severity=True) for finding in self.findings]
        return "\n".join([*lines, f"{self.errors} error(s), {len(self.findings) - self.errors} warning(s)"])

    def to_json(self) -> JsonObject:
        return {"command": self.command, "findings": [f.to_json() for f in self.findings], "message": self.message}

    def text(self) -> str:
        return text_of(self.message)


def check(paths: Sequence[Path], config: Config | None) -> GateChecked:
    """Every finding of the gate over ``paths`` (relative to here), with the config's gate settings if any."""
    return GateChecked(tuple(run_gate(collect_gate_files(paths, Path.cwd()), gate_config(config))))
