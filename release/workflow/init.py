"""``init``: adopt model-release in a project: scaffold what is missing, lock, render the card, then a dry run."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from release.checksum_stage import Progress
from release.config import load_config
from release.errors import ReleaseError
from release.scaffold import (
    ProjectScan,
    ScaffoldOutcome,
    ScaffoldPlan,
    apply_scaffold,
    describe_findings,
    detected_json,
    install_spec,
    lock_missing,
    next_steps,
    plan_scaffold,
    scan_project,
)
from release.workflow.card import render
from release.workflow.outcomes import DryRunReport, PublishReport
from release.workflow.publish import PublishOptions, release
from release.workflow.report import JsonObject, text_of

Step = Literal["configuration", "lock", "card", "dry run"]


@dataclass(frozen=True)
class InitOptions:
    directory: Path  # the project's folder
    repo_id: str | None = None  # default: your-username/<the project's name>


@dataclass(frozen=True)
class StepFailed:
    """The step of ``init`` that raised, and the error (its exit code is init's)."""

    step: Step
    kind: str  # the error's class name
    message: str
    exit_code: int


@dataclass(frozen=True)
class Initialised:
    root: Path
    scan: ProjectScan
    plan: ScaffoldPlan
    outcome: ScaffoldOutcome
    locked: tuple[str, ...]  # relative to the project
    rendered: tuple[str, ...] | None  # the card and its files, when init rendered it
    dry_run: PublishReport | DryRunReport | None
    failure: StepFailed | None
    next_steps: tuple[str, ...]
    command: ClassVar[str] = "init"

    @property
    def exit_code(self) -> int:
        return _exit_code(self.failure, self.dry_run)

    @property
    def message(self) -> str:
        lines = [f"model-release init: {self.root}"]
        lines += [f"  created  {path}" for path in self.outcome.created]
        lines += [f"  kept     {path} (it exists: left as it was)" for path in self.outcome.kept]
        lines += describe_findings(self.scan, self.plan)
        lines += [f"  locked   {path}" for path in self.locked]
        lines += [f"  rendered {path}" for path in self.rendered or ()]
        if self.dry_run is not None:
            lines += ["", self.dry_run.message]
        if self.failure is not None:
            failure = self.failure
            lines += ["", f"The {failure.step} failed: {failure.kind}: {failure.message}"]
        lines += ["", "Next steps:", *(f"  {n}. {text}" for n, text in enumerate(self.next_steps, 1))]
        return "\n".join(lines)

    def to_json(self) -> JsonObject:
        document: JsonObject = {
            "command": self.command,
            "project": str(self.root),
            "created": list(self.outcome.created),
            "kept": list(self.outcome.kept),
            "install_spec": self.plan.install_spec,
            "detected": detected_json(self.scan, self.plan),
            "locked": list(self.locked),
            "dry_run": None,
        }
        if self.rendered is not None:
            document["rendered"] = list(self.rendered)
        if self.dry_run is not None:
            document["dry_run"] = {k: v for k, v in self.dry_run.to_json().items() if k != "message"}
        if self.failure is not None:
            failure = self.failure
            document["error"] = {"step": failure.step, "type": failure.kind, "message": failure.message}
        document.update(next_steps=list(self.next_steps), message=self.message)
        return document

    def text(self) -> str:
        return text_of(self.message)


def init(options: InitOptions, progress: Progress | None = None) -> Initialised:
    """Scaffold what is missing (never overwriting a file), then lock, card and dry run, stopping at the first error."""
    root = options.directory.resolve()
    scan = scan_project(root)
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    plan = plan_scaffold(scan, spec=install_spec(os.environ), python=python, repo_id=options.repo_id)
    outcome = apply_scaffold(plan)
    step: Step = "configuration"
    version, repo_id = scan.version, plan.repo_id
    locked: tuple[str, ...] = ()
    rendered: tuple[str, ...] | None = None
    dry_run: PublishReport | DryRunReport | None = None
    failure: StepFailed | None = None
    try:
        config = load_config(root / "release.toml" if (root / "release.toml").is_file() else root / "pyproject.toml")
        step = "lock"
        locked = tuple(_relative(p, root) for p in lock_missing(config))
        version, repo_id = config.version, config.repo_id
        step = "card"
        if config.card.output is not None and not config.card.output.exists():  # a card to commit and check
            rendered = tuple(_relative(p, root) for p in render(config).written)
        step = "dry run"
        dry_run = release(config, PublishOptions(dry_run=True), progress)
    except ReleaseError as exc:
        failure = StepFailed(step, type(exc).__name__, str(exc), exc.exit_code)
    ok = _exit_code(failure, dry_run) == 0
    steps = next_steps(plan, outcome, repo_id=repo_id, version=version, dry_run_ok=ok)
    return Initialised(root, scan, plan, outcome, locked, rendered, dry_run, failure, tuple(steps))


def _exit_code(failure: StepFailed | None, dry_run: PublishReport | DryRunReport | None) -> int:
    """The failed step's exit code, else the dry run's (1 when publishing would be refused)."""
    if failure is not None:
        return failure.exit_code
    return dry_run.exit_code if dry_run is not None else 0


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
