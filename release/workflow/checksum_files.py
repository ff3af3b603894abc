"""``checksum PATH...`` and ``checksum --verify``: manifests of any files, with no configuration.

A re-run over unchanged files must cost little more than starting Python (benchmarks/bench_checksum.py):
this module imports only :mod:`release.checksum` and :mod:`release.atomic`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from release.atomic import write_atomic
from release.checksum import HashCache, Manifest, ProgressCallback, VerifyReport, manifest_of_paths, verify_manifest
from release.workflow.report import JsonObject, text_of

if TYPE_CHECKING:
    from release.checksum_stage import Progress


@dataclass(frozen=True)
class PathsOptions:
    paths: tuple[str, ...]  # files or folders, as given
    out: str | None = None  # --manifest: write the manifest here (.json: JSON, else sha256sum); None: print it
    use_cache: bool = True  # the stat cache in the user's cache folder


@dataclass(frozen=True)
class VerifyOptions:
    manifest: str  # the manifest to check, as given
    root: str | None = None  # the manifest's root (default: here); given, extra files are reported too


@dataclass(frozen=True)
class PathsHashed:
    """``checksum PATH...``: the manifest, written to ``out`` or (``listing``) printed by the CLI."""

    manifest: Manifest
    out: str | None
    command: ClassVar[str] = "checksum"
    message: ClassVar[str] = ""
    exit_code: ClassVar[int] = 0

    @property
    def listing(self) -> str | None:
        """The sha256sum listing the command prints when it writes no file (even with -q, never with --json)."""
        return self.manifest.to_sha256sum() if self.out is None else None

    def to_json(self) -> JsonObject:
        return {
            "command": self.command,
            "files": len(self.manifest.entries),
            "bytes": self.manifest.total_size,
            "manifest": self.out,
            "entries": [{"path": e.path, "size": e.size, "sha256": e.sha256} for e in self.manifest.entries],
        }

    def text(self) -> str:
        return ""


@dataclass(frozen=True)
class Verified:
    """``checksum --verify``: what differs between the manifest and the files on disk."""

    manifest: str
    report: VerifyReport
    command: ClassVar[str] = "checksum"

    @property
    def exit_code(self) -> int:
        return 0 if self.report.ok else 1

    @property
    def message(self) -> str:
        if not self.report.ok:
            return f"{self.manifest}: files differ from the manifest"
        return f"{self.report.checked} file(s) match {self.manifest}"

    def to_json(self) -> JsonObject:
        report = self.report
        return {
            "command": self.command,
            "verify": self.manifest,
            "checked": report.checked,
            "missing": list(report.missing),
            "extra": list(report.extra),
            "modified": [{"path": p, "expected": e, "actual": a} for p, e, a in report.modified],
            "ok": report.ok,
            "message": self.message,
        }

    def text(self) -> str:
        report = self.report
        problems = [f"  missing   {p}" for p in report.missing]
        problems += [f"  extra     {p}" for p in report.extra]
        problems += [
            f"  modified  {path}\n            expected {expected}\n            actual   {actual}"
            for path, expected, actual in report.modified
        ]
        return text_of(self.message, problems)


def hash_paths(options: PathsOptions, progress: Progress | None = None) -> PathsHashed:
    """The manifest of ``options.paths`` (relative to here), written to ``options.out`` when given."""
    cache = HashCache.load(user_cache_dir() / "sha256-cache.sqlite") if options.use_cache else None
    with _task(progress, "sha256", lambda: _paths_bytes(options.paths)) as advance:
        manifest = manifest_of_paths([Path(p) for p in options.paths], Path.cwd(), progress=advance, cache=cache)
    if cache is not None:
        cache.save()
    if options.out is not None:
        write_atomic(
            Path(options.out), manifest.to_json() if options.out.endswith(".json") else manifest.to_sha256sum()
        )
    return PathsHashed(manifest, options.out)


def verify(options: VerifyOptions, progress: Progress | None = None) -> Verified:
    """Re-read every file of the manifest (never from the cache) and compare."""
    manifest = Manifest.read(Path(options.manifest))
    root = Path(options.root) if options.root else Path.cwd()
    with _task(progress, "verify", lambda: sum(max(e.size, 0) for e in manifest.entries)) as advance:
        report = verify_manifest(manifest, root, check_extra=options.root is not None, progress=advance)
    return Verified(options.manifest, report)


def user_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "model-release"


@contextmanager
def _task(progress: Progress | None, description: str, total: Callable[[], int]) -> Iterator[ProgressCallback]:
    """A progress callback; the total is computed only when someone watches."""
    if progress is None:
        yield lambda _n: None
        return
    with progress.task(description, total()) as advance:
        yield advance


def _paths_bytes(paths: Sequence[str]) -> int:
    total = 0
    for given in paths:
        path = Path(given)
        if path.is_file():
            total += path.stat().st_size
        elif path.is_dir():
            total += sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return total
