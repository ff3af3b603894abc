"""``stage``: check the locks, then checksum, card and stage: the exact release trees under ``stage_dir``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from release.checksum_stage import Progress
from release.config import Config
from release.pipeline import StagedRelease, check_locks, stage_release
from release.stage import StagePlan
from release.workflow.report import JsonObject, detail_lines, text_of


@dataclass(frozen=True)
class Staged:
    staged: StagedRelease
    command: ClassVar[str] = "stage"
    exit_code: ClassVar[int] = 0

    @property
    def message(self) -> str:
        plan = self.staged.plan
        lines = [
            f"staged {len(d.plan.files)} files of the dataset {d.repo.repo_id} in {d.plan.dest}"
            for d in self.staged.datasets
        ]
        return "\n".join([*lines, f"staged {len(plan.files)} files in {plan.dest}"])

    def to_json(self) -> JsonObject:
        plan = self.staged.plan
        datasets = [
            {
                "repo_id": d.repo.repo_id,
                "repo_type": "dataset",
                "version": d.repo.version,
                "staged_dir": str(d.plan.dest),
                "files": len(d.plan.files),
                "bytes": _bytes(d.plan),
            }
            for d in self.staged.datasets
        ]
        return {
            "command": self.command,
            "staged_dir": str(plan.dest),
            "files": len(plan.files),
            "bytes": _bytes(plan),
            "datasets": datasets,
            "warnings": list(self.staged.warnings),
            "message": self.message,
        }

    def text(self) -> str:
        plan = self.staged.plan
        return text_of(
            self.message, detail_lines([("staged_dir", plan.dest), ("files", len(plan.files)), ("bytes", _bytes(plan))])
        )


def stage(config: Config, progress: Progress | None = None) -> Staged:
    check_locks(config)
    return Staged(stage_release(config, progress))


def _bytes(plan: StagePlan) -> int:
    return sum(f.size for f in plan.files)
