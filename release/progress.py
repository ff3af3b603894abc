"""Progress of long work, on stderr: bars on a terminal, plain log lines under GitHub Actions.

Both implement :class:`release.checksum_stage.Progress`; work below 64 MiB shows nothing.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from release.sizes import format_size


def in_github_actions(env: Mapping[str, str]) -> bool:
    """GitHub sets ``GITHUB_ACTIONS=true`` in every step: its log is not a terminal, so no progress bars."""
    return env.get("GITHUB_ACTIONS") == "true"


#: Work smaller than this finishes before a bar would be worth drawing.
MIN_TOTAL = 64 << 20


class Bars:
    """Byte progress bars (rich) on stderr."""

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        if total < MIN_TOTAL:
            yield lambda _n: None
            return
        # rich costs ~50 ms to import: only when a bar is drawn.
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, transient=True) as bar:
            task_id = bar.add_task(description, total=total)
            yield lambda n: bar.advance(task_id, n)


class LogLines:
    """Progress as plain lines on stderr, one per tenth of the work: GitHub Actions shows a log, not a terminal."""

    def __init__(self, min_total: int = MIN_TOTAL) -> None:
        self.min_total = min_total

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        if total < self.min_total:
            yield lambda _n: None
            return
        lock = threading.Lock()
        state = {"done": 0, "tenth": 1}

        def advance(n: int) -> None:
            with lock:  # files are hashed in parallel
                state["done"] += n
                while state["tenth"] <= 10 and state["done"] * 10 >= total * state["tenth"]:
                    print(f"INFO: {description}: {state['tenth'] * 10}% of {format_size(total)}", file=sys.stderr)
                    state["tenth"] += 1

        yield advance


def progress_for(*, shown: bool, github_actions: bool) -> Bars | LogLines | None:
    """Log lines under GitHub Actions, bars on a terminal; None otherwise (and when not ``shown``: --json, -q),
    so nobody computes totals for a bar nobody sees."""
    if not shown:
        return None
    if github_actions:
        return LogLines()
    return Bars() if sys.stderr.isatty() else None
