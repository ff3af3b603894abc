"""The skip list: which of huggingface_hub's tests are out of the emulator's scope, and why.

``conformance/skips.toml`` names tests by marker (``[markers]``, e.g. the suite's ``production``) or by
file or node id (``[nodes]``); every entry carries its reason, which the skip reports. A node id entry
covers the tests under it: a file, a class, or a test with all its parameters.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from conformance.sdist import ConformanceError


@dataclass(frozen=True)
class SkipList:
    """Reasons to skip, by marker name and by node id (or a prefix of node ids)."""

    markers: Mapping[str, str]
    nodes: Mapping[str, str]

    def reason_for(self, nodeid: str, markers: Iterable[str] = ()) -> str | None:
        """Why the test ``nodeid`` (carrying ``markers``) is skipped, or None when it runs.

        The longest node entry that covers ``nodeid`` wins over a shorter one; node entries win over markers.
        """
        covering = [node for node in self.nodes if covers(node, nodeid)]
        if covering:
            return self.nodes[max(covering, key=len)]
        for marker in sorted(set(markers)):
            if marker in self.markers:
                return self.markers[marker]
        return None

    def whole_files(self) -> dict[str, str]:
        """The entries that name a whole test file (``tests/test_x.py``): not collected at all."""
        return {node: reason for node, reason in self.nodes.items() if "::" not in node and node.endswith(".py")}


def covers(entry: str, nodeid: str) -> bool:
    """Whether the skip-list ``entry`` (a file, class or test node id) covers the test ``nodeid``."""
    return nodeid == entry or nodeid.startswith((entry + "::", entry + "["))


def parse_skips(text: str, *, name: str = "skips.toml") -> SkipList:
    """Parse a skip list. Raises :class:`ConformanceError` naming the entry that is wrong and how to fix it."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConformanceError(f"{name} is not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - {"markers", "nodes"})
    if unknown:
        raise ConformanceError(f"{name} has unknown tables {unknown}: use [markers] and [nodes] only")
    tables: dict[str, dict[str, str]] = {}
    for table in ("markers", "nodes"):
        entries = data.get(table, {})
        if not isinstance(entries, dict):
            raise ConformanceError(f'{name}: [{table}] must be a table of NAME = "reason"')
        for key, reason in entries.items():
            if not isinstance(reason, str) or not reason.strip():
                raise ConformanceError(f"{name}: [{table}] {key!r} needs a non-empty reason string")
            if table == "nodes" and not key.startswith("tests/"):
                raise ConformanceError(
                    f"{name}: [nodes] {key!r} must be a path under tests/ (a node id as pytest shows)"
                )
        tables[table] = {str(key): str(reason) for key, reason in entries.items()}
    return SkipList(markers=tables["markers"], nodes=tables["nodes"])


def load_skips(path: Path) -> SkipList:
    """Read and parse the skip list at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConformanceError(f"Cannot read the skip list {path}: {exc.strerror or exc}") from exc
    return parse_skips(text, name=path.name)
