"""``reproduce REPO[@REV]``: rebuild a published release's environment from its locks, verified."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from release.config import Config
from release.reproduce import ReproduceOptions, ReproduceResult, ReproduceTarget, parse_target, reproduce_release
from release.workflow.hub import read_token, reading_hub
from release.workflow.report import JsonObject, text_of


@dataclass(frozen=True)
class ReproduceRequest:
    target: str  # REPO[@REV]
    repo_type: Literal["model", "dataset"] = "model"
    endpoint: str | None = None  # --endpoint, else HF_ENDPOINT; None: the configuration's, else the Hub
    options: ReproduceOptions = field(default_factory=ReproduceOptions)


@dataclass(frozen=True)
class Reproduced:
    result: ReproduceResult
    command: ClassVar[str] = "reproduce"
    exit_code: ClassVar[int] = 0

    @property
    def message(self) -> str:
        result = self.result
        lines = [f"reproduced {result.repo_id}@{result.revision} (commit {result.commit}) in {result.dest}"]
        lines.append(f"verified against the release manifest: {', '.join(result.verified)}")
        if result.installed:
            lines.append(
                f"the environment holds {len(result.installed)} distributions, on Python {result.python} "
                f"(installed with {result.installer})"
            )
            lines += result.lock_differences.lines("requirements.txt") or ["the installed set equals the lock"]
        if result.snapshot_differences is not None:
            lines += result.snapshot_differences.lines("environment.json") or ["no differences from environment.json"]
        if result.conda_prefix is not None:
            lines.append(f"conda prefix {result.conda_prefix}: {len(result.conda_packages)} packages")
        if result.weights:
            lines.append(f"downloaded and verified {len(result.weights)} files into {result.dest / 'files'}")
        if result.activate:
            lines.append(f"activate it with: {result.activate}")
        return "\n".join(lines)

    def to_json(self) -> JsonObject:
        return {"command": self.command, **self.result.to_json(), "message": self.message}

    def text(self) -> str:
        return text_of(self.message)


def reproduce(request: ReproduceRequest, config: Config | None) -> Reproduced:
    """``config``: the project's, needed for ``endpoint = "local"`` (its ``.hub``) and as the default endpoint."""
    repo_id, revision = parse_target(request.target)
    with reading_hub(request.endpoint, config) as (endpoint, hub_token):
        target = ReproduceTarget(endpoint, repo_id, request.repo_type, revision, hub_token or read_token())
        return Reproduced(reproduce_release(target, request.options))
