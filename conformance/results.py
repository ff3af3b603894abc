"""The conformance run's results: one outcome per test, tallied per file, written as a Markdown table."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

Outcome = Literal["passed", "failed", "error", "skipped"]
COLUMNS: Final[tuple[Outcome, ...]] = ("passed", "failed", "error", "skipped")
_RANK: Final[dict[Outcome, int]] = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}


def phase_outcome(when: str, outcome: str) -> Outcome:
    """What one pytest phase report (``setup``, ``call``, ``teardown``; ``passed``, ``failed``, ``skipped``) means.

    A failure outside the test's call (its setup or teardown, or collecting its file) is an error.
    """
    if outcome == "failed":
        return "failed" if when == "call" else "error"
    if outcome == "skipped":
        return "skipped"
    return "passed"


def combine(first: Outcome | None, second: Outcome) -> Outcome:
    """One test's outcome from its phases: an error outranks a failure, which outranks a skip or a pass."""
    if first is None:
        return second
    return first if _RANK[first] >= _RANK[second] else second


def file_of(nodeid: str) -> str:
    """The test file a node id belongs to (``tests/test_x.py::Class::test[p]`` -> ``tests/test_x.py``)."""
    return nodeid.split("::", 1)[0]


@dataclass(frozen=True)
class FileResult:
    """How many tests of one file passed, failed, errored and were skipped."""

    file: str
    passed: int = 0
    failed: int = 0
    error: int = 0
    skipped: int = 0

    def count(self, outcome: Outcome) -> int:
        return {"passed": self.passed, "failed": self.failed, "error": self.error, "skipped": self.skipped}[outcome]


def tally(outcomes: Mapping[str, Outcome]) -> list[FileResult]:
    """Per file (sorted), the count of each outcome among the tests ``outcomes`` maps node ids to."""
    counts: dict[str, Counter[Outcome]] = {}
    for nodeid, outcome in outcomes.items():
        counts.setdefault(file_of(nodeid), Counter())[outcome] += 1
    return [
        FileResult(file, passed=c["passed"], failed=c["failed"], error=c["error"], skipped=c["skipped"])
        for file, c in sorted(counts.items())
    ]


def totals(results: Iterable[FileResult]) -> FileResult:
    """The sum of ``results``, as a row named ``total``."""
    rows = list(results)
    return FileResult(
        "total",
        passed=sum(r.passed for r in rows),
        failed=sum(r.failed for r in rows),
        error=sum(r.error for r in rows),
        skipped=sum(r.skipped for r in rows),
    )


def markdown_table(results: Iterable[FileResult]) -> str:
    """A Markdown table of ``results`` with a bold total row last."""
    rows = list(results)
    total = totals(rows)
    lines = ["| file | passed | failed | errors | skipped |", "| --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| `{r.file}` | {r.passed} | {r.failed} | {r.error} | {r.skipped} |" for r in rows]
    lines.append(f"| **total** | **{total.passed}** | **{total.failed}** | **{total.error}** | **{total.skipped}** |")
    return "\n".join(lines) + "\n"


def summary_line(results: Iterable[FileResult]) -> str:
    """``N passed, N failed, N errors, N skipped`` over ``results``."""
    total = totals(results)
    return f"{total.passed} passed, {total.failed} failed, {total.error} errors, {total.skipped} skipped"


def results_document(
    results: Iterable[FileResult], not_collected: Mapping[str, str], *, version: str, command: str
) -> str:
    """The whole ``results.md``: what was run, the totals, the table per file, the files left out and why."""
    rows = list(results)
    left_out = "".join(f"- `{file}`: {reason}\n" for file, reason in sorted(not_collected.items()))
    return (
        "# Conformance with huggingface_hub's tests: latest results\n\n"
        f"huggingface_hub {version}'s own test suite (from its sdist) against the Hub emulator, "
        f"written by `{command}`.\nOut-of-scope tests are skipped by `conformance/skips.toml`, "
        "with a reason each; `conformance/failures.md` sorts the failures and errors.\n\n"
        f"**{summary_line(rows)}**\n\n"
        + markdown_table(rows)
        + "\nNot collected (out of scope, named whole by the skip list):\n\n"
        + left_out
    )
