"""``checksum`` with a configuration: the manifests of the model files and datasets, under ``build_dir/checksums``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from release.checksum_stage import Checksums, Progress, compute_checksums
from release.config import Config
from release.pipeline import apply_build
from release.workflow.report import JsonObject, text_of


@dataclass(frozen=True)
class ManifestsWritten:
    checksums: Checksums
    written: tuple[Path, ...]
    command: ClassVar[str] = "checksum"
    exit_code: ClassVar[int] = 0

    @property
    def message(self) -> str:
        return f"manifests written to {self.checksums.directory}"

    def to_json(self) -> JsonObject:
        return {
            "command": self.command,
            "files": self.checksums.files,
            "bytes": self.checksums.total_size,
            "written": [str(p) for p in self.written],
            "message": self.message,
        }

    def text(self) -> str:
        return text_of(self.message)


def checksum(config: Config, progress: Progress | None = None) -> ManifestsWritten:
    checksums = compute_checksums(config, progress)
    return ManifestsWritten(checksums, apply_build(checksums))
