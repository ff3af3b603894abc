"""Release notes: what changed since the previous version tag, as ``RELEASE_NOTES.md``.

Pure: :func:`diff_releases` compares two :class:`ReleaseSnapshot` values (the release manifest, the
pip lock and the card's ``model-index`` of each version) and :func:`render_notes` writes Markdown.
:mod:`release.publish` reads the previous snapshot from the Hub at the previous version's tag and
the new one from the staged tree. The notes hold no date or time: the same two releases always
give the same bytes, so publishing a version again finds it "already released".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from packaging.version import InvalidVersion, Version

from release.card import read_front_matter
from release.checksum import ManifestEntry
from release.errors import CardValidationError
from release.sizes import format_size

#: The release path of the notes.
NOTES_PATH = "RELEASE_NOTES.md"
#: Above this many changed files the notes count them per top-level folder instead of listing each: a
#: release of 100,000 files would otherwise write megabytes of notes (and of commit description).
MAX_FILE_LINES = 100

_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;\\]+)")


@dataclass(frozen=True)
class ReleaseSnapshot:
    """What the notes compare of one release."""

    version: str
    files: Mapping[str, ManifestEntry]
    pins: Mapping[str, str] = field(default_factory=dict)  # normalized package name -> pinned version
    metrics: Mapping[str, Any] = field(default_factory=dict)  # "task / dataset / metric" -> value


@dataclass(frozen=True)
class Change:
    name: str
    old: Any  # None: added
    new: Any  # None: removed


@dataclass(frozen=True)
class ReleaseNotes:
    version: str
    previous: str | None  # None: the first release
    added: tuple[ManifestEntry, ...] = ()
    removed: tuple[ManifestEntry, ...] = ()
    changed: tuple[tuple[ManifestEntry, ManifestEntry], ...] = ()  # (old, new)
    dependencies: tuple[Change, ...] = ()
    metrics: tuple[Change, ...] = ()


def diff_releases(previous: ReleaseSnapshot | None, current: ReleaseSnapshot) -> ReleaseNotes:
    """Files added, removed and changed (by sha256), dependency and metric changes. Pure."""
    if previous is None:
        return ReleaseNotes(current.version, None, added=tuple(current.files[p] for p in sorted(current.files)))
    skip = {NOTES_PATH, "release-manifest.json"}  # these always differ
    old, new = previous.files, current.files
    return ReleaseNotes(
        current.version,
        previous.version,
        added=tuple(new[p] for p in sorted(set(new) - set(old) - skip)),
        removed=tuple(old[p] for p in sorted(set(old) - set(new) - skip)),
        changed=tuple((old[p], new[p]) for p in sorted(set(old) & set(new) - skip) if old[p].sha256 != new[p].sha256),
        dependencies=_changes(previous.pins, current.pins),
        metrics=_changes(previous.metrics, current.metrics),
    )


def render_notes(notes: ReleaseNotes) -> str:
    """The Markdown of ``RELEASE_NOTES.md`` (and of the commit description)."""
    lines = [f"# Release v{notes.version}", ""]
    if notes.previous is None:
        lines += [f"First release: {len(notes.added)} file(s), {format_size(sum(e.size for e in notes.added))}.", ""]
        return "\n".join(lines)
    lines += [f"Changes since v{notes.previous}.", "", "## Files", ""]
    if len(notes.added) + len(notes.removed) + len(notes.changed) > MAX_FILE_LINES:
        lines += _files_by_folder(notes)
    else:
        file_lines = [f"- added `{e.path}` ({format_size(e.size)})" for e in notes.added]
        file_lines += [f"- removed `{e.path}` ({format_size(e.size)})" for e in notes.removed]
        file_lines += [
            f"- changed `{new.path}` ({format_size(old.size)} → {format_size(new.size)})" for old, new in notes.changed
        ]
        lines += file_lines or ["No file changed."]
    lines += ["", "## Dependencies", ""]
    lines += [f"- {c.name}: {_value(c.old)} → {_value(c.new)}" for c in notes.dependencies] or ["No change."]
    lines += ["", "## Metrics", ""]
    lines += [f"- {c.name}: {_value(c.old)} → {_value(c.new)}" for c in notes.metrics] or ["No change."]
    return "\n".join(lines) + "\n"


def _files_by_folder(notes: ReleaseNotes) -> list[str]:
    """The file changes counted per top-level folder, for releases that change too many files to list."""
    kinds = {
        "added": [(0, e.size, e.path) for e in notes.added],
        "removed": [(e.size, 0, e.path) for e in notes.removed],
        "changed": [(old.size, new.size, new.path) for old, new in notes.changed],
    }
    folders: dict[str, dict[str, list[int]]] = {}  # "" for the files at the top level
    for kind, changes in kinds.items():
        for old, new, path in changes:
            counts = folders.setdefault(path.split("/", 1)[0] if "/" in path else "", {}).setdefault(kind, [0, 0, 0])
            counts[0] += 1
            counts[1] += old
            counts[2] += new

    def summary(counts: Mapping[str, list[int]]) -> str:
        parts = []
        for kind in (kind for kind in kinds if kind in counts):
            number, old, new = counts[kind]
            size = format_size(new if kind == "added" else old)
            if kind == "changed":
                size = f"{format_size(old)} → {format_size(new)}"
            parts.append(f"{number:,} {kind} ({size})")
        return ", ".join(parts)

    total = {kind: [len(c), sum(o for o, _, _ in c), sum(n for _, n, _ in c)] for kind, c in kinds.items() if c}
    lines = [f"{summary(total)}; per folder below, every file in `release-manifest.json`.", ""]
    shown = sorted(folders)[:MAX_FILE_LINES]  # the top level ("") first
    lines += [f"- {_folder_label(name)}: {summary(folders[name])}" for name in shown]
    if len(folders) > len(shown):
        lines.append(f"- and {len(folders) - len(shown):,} more folders")
    return lines


def _folder_label(name: str) -> str:
    if not name:
        return "top level"
    return f"`` {name}/ ``" if "`" in name else f"`{name}/`"  # a code span that a backquote cannot end


def parse_pins(text: str) -> dict[str, str]:
    """``name==version`` pins of a pip lock (hash lines, comments and options skipped), names normalized."""
    pins = {}
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return pins


def parse_metrics(card_text: str) -> dict[str, Any]:
    """The ``model-index`` results of a card's front matter, by ``task / dataset / metric``.

    A card without readable metadata has none: the notes then list no metric changes.
    """
    try:
        metadata = read_front_matter(card_text, "README.md") or {}
    except CardValidationError:
        return {}
    metrics: dict[str, Any] = {}
    index = metadata.get("model-index")
    for model in index if isinstance(index, list) else []:
        for result in model.get("results", []) if isinstance(model, dict) else []:
            if not isinstance(result, dict):
                continue
            task = _label(result.get("task"))
            dataset = _label(result.get("dataset"))
            for metric in result.get("metrics", []) if isinstance(result.get("metrics"), list) else []:
                if isinstance(metric, dict):
                    metrics[f"{task} / {dataset} / {_label(metric)}"] = metric.get("value")
    return metrics


def previous_version(version: str, tags: list[str]) -> str | None:
    """The highest ``v<version>`` tag below ``version`` in PEP 440 order (release versions are PEP 440:
    see :func:`release.config.normalize_version`), without its ``v``; tags that are no version are skipped."""
    try:
        key = Version(version)
    except InvalidVersion:
        return None
    older = [(parsed, t[1:]) for t in tags if t.startswith("v") and (parsed := _parsed(t[1:])) is not None]
    below = [(parsed, text) for parsed, text in older if parsed < key]
    return max(below)[1] if below else None


def _parsed(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _label(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("name") or value.get("type") or "?")
    return "?"


def _changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[Change, ...]:
    return tuple(
        Change(name, old.get(name), new.get(name))
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    )


def _value(value: Any) -> str:
    return "(none)" if value is None else str(value)
