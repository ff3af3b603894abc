"""Release notes: the pure diff, and RELEASE_NOTES.md published against the previous version tag."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import RunningHub
from huggingface_hub import HfApi

from release.checksum import ManifestEntry, build_manifest
from release.notes import (
    MAX_FILE_LINES,
    ReleaseSnapshot,
    diff_releases,
    parse_metrics,
    parse_pins,
    previous_version,
    render_notes,
)
from release.publish import preview_publish, publish_release
from release.publish_plan import PublishTarget
from release.stage import SourceInfo, StagePlan, apply_stages, plan_stage, read_release_manifest

LOCK_1 = (
    "numpy==1.26.4 \\\n    --hash=sha256:aa\nsafetensors==0.4.2 \\\n    --hash=sha256:bb\n# via -r requirements.in\n"
)
LOCK_2 = "numpy==2.0.1 \\\n    --hash=sha256:cc\nJinja2==3.1.4 \\\n    --hash=sha256:dd\n"


def _card(accuracy: float) -> str:
    return (
        "---\nlicense: mit\nmodel-index:\n- name: m\n  results:\n  - task: {type: text-classification}\n"
        f"    dataset: {{name: flowers, type: flowers}}\n    metrics:\n    - {{type: accuracy, value: {accuracy}}}\n"
        "---\n# card\n"
    )


def test_diff_lists_files_dependencies_and_metrics() -> None:
    old = ReleaseSnapshot(
        "1.0",
        {"a": ManifestEntry("a", 10, "1" * 64), "b": ManifestEntry("b", 2048, "2" * 64)},
        parse_pins(LOCK_1),
        parse_metrics(_card(0.9)),
    )
    new = ReleaseSnapshot(
        "1.1",
        {"b": ManifestEntry("b", 4096, "3" * 64), "c": ManifestEntry("c", 5, "4" * 64)},
        parse_pins(LOCK_2),
        parse_metrics(_card(0.95)),
    )
    text = render_notes(diff_releases(old, new))
    assert text == (
        "# Release v1.1\n\nChanges since v1.0.\n\n## Files\n\n"
        "- added `c` (5 bytes)\n- removed `a` (10 bytes)\n- changed `b` (2.0 KiB → 4.0 KiB)\n\n"
        "## Dependencies\n\n- jinja2: (none) → 3.1.4\n- numpy: 1.26.4 → 2.0.1\n- safetensors: 0.4.2 → (none)\n\n"
        "## Metrics\n\n- text-classification / flowers / accuracy: 0.9 → 0.95\n"
    )
    assert render_notes(diff_releases(None, new)) == "# Release v1.1\n\nFirst release: 2 file(s), 4.0 KiB.\n"


def test_a_release_changing_many_files_counts_them_per_folder() -> None:
    def entries(paths: list[str], digit: str, size: int = 100) -> dict[str, ManifestEntry]:
        return {p: ManifestEntry(p, size, digit * 64) for p in paths}

    kept = [f"data/{n:05}.txt" for n in range(50_000)]
    old = ReleaseSnapshot("1.0", entries([*kept, "README.md", "old/x.bin"], "1"))
    added = [f"images/{n:05}.png" for n in range(40_000)] + [f"z{n:03}/a" for n in range(MAX_FILE_LINES + 5)]
    new_files = entries([*kept[:49_000], *added, "README.md"], "1") | entries(kept[:10], "2", 200)
    new_files |= entries(["big.safetensors"], "5", 5 << 30) | entries(["we`ird/x"], "6")  # top level first
    text = render_notes(diff_releases(old, ReleaseSnapshot("2.0", new_files)))
    assert len(text) < 20_000  # not one line per file
    files = text.split("## Files\n\n")[1].split("\n\n## Dependencies")[0].splitlines()
    assert files[0] == (
        "40,107 added (5.0 GiB), 1,001 removed (97.8 KiB), 10 changed (1000 bytes → 2.0 KiB); "
        "per folder below, every file in `release-manifest.json`."
    )
    assert files[2:6] == [
        "- top level: 1 added (5.0 GiB)",
        "- `data/`: 1,000 removed (97.7 KiB), 10 changed (1000 bytes → 2.0 KiB)",
        "- `images/`: 40,000 added (3.8 MiB)",
        "- `old/`: 1 removed (100 bytes)",
    ]
    assert len(files) == 2 + MAX_FILE_LINES + 1 and files[-1] == "- and 10 more folders"
    assert "- `` we`ird/ ``: 1 added (100 bytes)" in files
    few = ReleaseSnapshot("2.0", entries([*kept, "README.md"], "1") | entries(["new.txt"], "3"))
    assert "- added `new.txt` (100 bytes)" in render_notes(diff_releases(old, few))  # a few files: each listed


def test_the_previous_version_is_the_highest_tag_below_this_one() -> None:
    tags = ["v0.9", "v1.10.0", "v1.2.0", "v2.0", "not-a-version"]
    assert previous_version("1.10.1", tags) == "1.10.0"
    assert previous_version("1.3", tags) == "1.2.0"
    assert previous_version("0.1", tags) is None


def _stage(root: Path, version: str, files: dict[str, bytes], lock: str, accuracy: float) -> StagePlan:
    model = root / f"src-{version}"
    for name, data in files.items():
        (model / name).parent.mkdir(parents=True, exist_ok=True)
        (model / name).write_bytes(data)
    (root / f"requirements-{version}.txt").write_text(lock)
    plan = plan_stage(
        dest=root / "dist" / version,
        repo_id="alice/notes",
        repo_type="model",
        version=version,
        card=_card(accuracy),
        model=(build_manifest(model), model),
        datasets=[],
        locks={"requirements.txt": root / f"requirements-{version}.txt"},
        source=SourceInfo(None, None),
    )
    apply_stages([plan])
    return plan


def test_release_notes_are_published_in_the_release_its_manifest_and_the_commit(
    hub: RunningHub, tmp_path: Path
) -> None:
    target = PublishTarget(hub.url, "alice/notes", "model", hub.token)
    first = _stage(tmp_path, "1.0", {"w.safetensors": os.urandom(3000), "old.txt": b"o\n"}, LOCK_1, 0.9)
    one = publish_release(first.dest, first.manifest, target)
    assert one.notes.startswith("# Release v1.0\n\nFirst release")
    second = _stage(tmp_path, "1.1", {"w.safetensors": os.urandom(5000), "new.txt": b"n\n"}, LOCK_2, 0.95)
    preview = preview_publish(second.dest, second.manifest, target)
    assert not (second.dest / "RELEASE_NOTES.md").exists()  # a dry run writes nothing

    two = publish_release(second.dest, second.manifest, target)

    assert two.notes == preview.notes
    assert "- added `new.txt` (2 bytes)" in two.notes and "- removed `old.txt` (2 bytes)" in two.notes
    assert "- changed `w.safetensors` (2.9 KiB → 4.9 KiB)" in two.notes
    assert "- numpy: 1.26.4 → 2.0.1" in two.notes and "- jinja2: (none) → 3.1.4" in two.notes
    assert "- text-classification / flowers / accuracy: 0.9 → 0.95" in two.notes
    assert (second.dest / "RELEASE_NOTES.md").read_text() == two.notes
    manifest = read_release_manifest(second.dest)
    assert "RELEASE_NOTES.md" in {e.path for e in manifest.files}
    api = HfApi(endpoint=hub.url, token=hub.token)
    assert "RELEASE_NOTES.md" in api.list_repo_files("alice/notes", revision="v1.1")
    [latest, *_] = api.list_repo_commits("alice/notes")
    assert latest.commit_id == two.commit and "## Dependencies" in latest.message
    # Publishing the same version again, from a fresh stage, makes the same notes: already released.
    restaged = plan_stage(
        dest=tmp_path / "dist" / "1.1-again",
        repo_id="alice/notes",
        repo_type="model",
        version="1.1",
        card=_card(0.95),
        model=(build_manifest(tmp_path / "src-1.1"), tmp_path / "src-1.1"),
        datasets=[],
        locks={"requirements.txt": tmp_path / "requirements-1.1.txt"},
        source=SourceInfo(None, None),
    )
    apply_stages([restaged])
    assert publish_release(restaged.dest, restaged.manifest, target).already_released
