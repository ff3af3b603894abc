"""``lock``: freeze the environments, or with ``--check`` prove the committed locks fresh."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from release.config import Config
from release.pipeline import LockOutcome, check_locks, lock_environments
from release.workflow.report import JsonObject, text_of


@dataclass(frozen=True)
class LockOptions:
    check: bool = False  # only check: a stale lock raises StaleLockError
    python: str | None = None  # the training interpreter to snapshot (default: lock.python, else this one)


@dataclass(frozen=True)
class LocksFresh:
    """``lock --check``: every lock matches its input."""

    fresh: tuple[Path, ...]
    command: ClassVar[str] = "lock"
    message: ClassVar[str] = "locks are fresh"
    exit_code: ClassVar[int] = 0

    def to_json(self) -> JsonObject:
        return {"command": self.command, "check": True, "fresh": [str(p) for p in self.fresh], "message": self.message}

    def text(self) -> str:
        return text_of(self.message)


@dataclass(frozen=True)
class Locked:
    """``lock``: the files written, and what each lock holds."""

    outcome: LockOutcome
    command: ClassVar[str] = "lock"
    exit_code: ClassVar[int] = 0

    @property
    def message(self) -> str:
        return "wrote " + ", ".join(self.outcome.written)

    def to_json(self) -> JsonObject:
        outcome = self.outcome
        document: JsonObject = {"command": self.command}
        if outcome.pins is not None:
            document.update(pins=outcome.pins, input_sha256=outcome.input_sha256, resolver=outcome.resolver)
        if outcome.conda_platforms is not None:
            document.update(conda_platforms=list(outcome.conda_platforms), conda_packages=outcome.conda_packages)
        if outcome.environment_python is not None:
            document["environment_python"] = outcome.environment_python
        if outcome.drift_different is not None:
            document["drift"] = {
                "different": [list(d) for d in outcome.drift_different],
                "missing": list(outcome.drift_missing),
            }
        document.update(written=list(outcome.written), message=self.message)
        return document

    def text(self) -> str:
        return text_of(self.message)


def lock(config: Config, options: LockOptions) -> LocksFresh | Locked:
    if options.check:
        return LocksFresh(tuple(check_locks(config)))
    python = options.python or config.lock.python or sys.executable
    return Locked(lock_environments(config, python=python))
