"""What every command returns, and the text helpers the reports share."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

#: A JSON object as ``--json`` prints it (``json.dumps`` with sorted keys).
JsonObject = dict[str, object]


class Report(Protocol):
    """A command's result: the same facts as ``--json`` and as text, and the exit code they mean."""

    @property
    def command(self) -> str:
        """The command as ``--json`` names it: "release", "card validate", ..."""
        ...

    @property
    def message(self) -> str:
        """The summary; empty when the command has none (``checksum PATH...``)."""
        ...

    @property
    def exit_code(self) -> int:
        """0, or 1 when the report is of a failed check (a refused dry run, a drifted card, ...)."""
        ...

    def to_json(self) -> JsonObject: ...

    def text(self) -> str:
        """What a terminal shows without ``--json``: the message and the details that go with it."""
        ...


def text_of(message: str, details: Iterable[str] = ()) -> str:
    """``message`` and each detail line, each ending with a newline (nothing for an empty message)."""
    return "".join(f"{line}\n" for line in ([message] if message else []) + list(details))


def detail_lines(pairs: Sequence[tuple[str, object]]) -> list[str]:
    """``  name        value`` lines for the values that are not None."""
    return [f"  {name:<11} {value}" for name, value in pairs if value is not None]
