"""The exceptions model-release raises: one root, one subclass per kind of failure.

The CLI turns any :class:`ReleaseError` into an ``ERROR`` line (class name and message) and the
exception's exit code; a traceback is shown only for unexpected exceptions. Messages say what
failed, where (file, field or path) and what to do next, and never contain a token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal


class ReleaseError(Exception):
    """Root of every error model-release reports to the user."""

    exit_code: int = 1


class ConfigError(ReleaseError):
    """The configuration (release.toml or [tool.release]) is missing, malformed or invalid."""

    exit_code = 2


class UsageError(ReleaseError):
    """The command line asks for something that cannot be done as asked."""

    exit_code = 2


class ProcessError(ReleaseError):
    """An external program could not be started, timed out, or failed (message has no credentials)."""


class LockError(ReleaseError):
    """Resolving or writing a lock file failed; the previous lock is left as it was."""


class StaleLockError(LockError):
    """A lock file no longer matches its input."""


class ChecksumError(ReleaseError):
    """A file could not be hashed, or a path is not allowed in a manifest."""


class FileNameError(ChecksumError):
    """A file's name cannot go into a manifest: its bytes are not UTF-8 text. Rename the file."""

    exit_code = 2


@dataclass(frozen=True)
class CardProblem:
    """One problem found in model-card metadata."""

    path: str  # JSON path of the field, e.g. "model-index[0].results[0].metrics[0].value"
    message: str  # what is wrong and what was expected
    source: str = ""  # the file the value came from, when known

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        return f"{where}{self.path}: {self.message}"


class CardValidationError(ReleaseError):
    """Card metadata failed the schema; carries every problem at once."""

    def __init__(self, problems: Sequence[CardProblem], hint: str = "", what: str = "the model card metadata") -> None:
        self.problems = tuple(problems)
        lines = [f"{len(self.problems)} problem(s) in {what}:"]
        lines += [f"  - {problem}" for problem in self.problems]
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))


class CardError(ReleaseError):
    """The card could not be rendered (template missing, undefined variable, unreadable input)."""


class StageError(ReleaseError):
    """The release tree could not be assembled."""


Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One thing the safety gate found in a file of a planned release (see ``release.gate``).

    ``code`` is stable ("MR301 pickle-dangerous-global"); ``where`` is a line ("line 12"), a tensor
    name or a pickle global; ``message`` and ``fix`` never quote a secret. People read findings
    through :func:`release.gate.format_finding`.
    """

    code: str
    severity: Severity
    path: str  # the file's path in the release
    where: str | None
    message: str
    fix: str

    def to_json(self) -> dict[str, Any]:
        """The finding for ``--json``: its fields, in order."""
        return asdict(self)


class UnsafeArtifactError(StageError):
    """A file that must not be released (unsafe pickle, leaked secret, broken checkpoint).

    Carries every error finding of the gate, each with its code, file, place and fix.
    """

    def __init__(self, message: str, findings: Sequence[Finding] = ()) -> None:
        self.findings = tuple(findings)
        super().__init__(message)


class PublishError(ReleaseError):
    """Uploading, committing, verifying or tagging on the Hub failed."""


class AuthError(PublishError):
    """No token, or the Hub rejected it. The message never contains the token."""


class ReproduceError(ReleaseError):
    """A published release could not be rebuilt or verified."""


class HubServerError(ReleaseError):
    """The local Hub emulator could not start or was given bad options."""

    exit_code = 2


class SignatureError(ReproduceError):
    """A release's signature is missing, by someone not trusted, or over other bytes (see ``release.signing``).

    ``problem`` names which: "unsigned", "untrusted", "tampered" or "malformed".
    """

    def __init__(self, message: str, *, problem: str) -> None:
        self.problem = problem
        super().__init__(message)
