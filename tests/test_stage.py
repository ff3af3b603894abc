from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path

import pytest

from release.checksum import build_manifest
from release.errors import StageError
from release.stage import (
    RELEASE_MANIFEST,
    DatasetInput,
    ReleaseManifest,
    SourceInfo,
    StagePlan,
    apply_stages,
    plan_stage,
    read_release_manifest,
)


def _project(root: Path) -> tuple[Path, Path, Path]:
    model, data = root / "model", root / "data"
    (model / "sub").mkdir(parents=True)
    data.mkdir()
    (model / "model.safetensors").write_bytes(os.urandom(2048))
    (model / "sub" / "config.json").write_text("{}")
    (data / "train.csv").write_text("x\n1\n")
    lock = root / "requirements.txt"
    lock.write_text("numpy==2.0.0 --hash=sha256:" + "0" * 64 + "\n")
    return model, data, lock


def _plan(root: Path, *, include_data: bool = False, extra: dict[str, str] | None = None) -> StagePlan:
    model, data, lock = _project(root)
    for name, text in (extra or {}).items():
        (model / name).write_text(text)
    return plan_stage(
        dest=root / "dist" / "m-1.0",
        repo_id="alice/m",
        repo_type="model",
        version="1.0",
        card="# card\n",
        model=(build_manifest(model), model),
        datasets=[DatasetInput(build_manifest(data, name="flowers"), data, include_data)],
        locks={"requirements.txt": lock},
        source=SourceInfo("a" * 40, False),
    )


def test_plan_lists_every_release_file_with_its_digest(tmp_path: Path) -> None:
    plan = _plan(tmp_path, include_data=True)
    paths = [f.path for f in plan.files]
    assert paths == sorted(paths)
    assert paths == [
        "README.md",
        "datasets/flowers.json",
        "datasets/flowers.sha256",
        "datasets/flowers/train.csv",
        "model.safetensors",
        RELEASE_MANIFEST,
        "requirements.txt",
        "sub/config.json",
    ]
    manifest = plan.manifest
    assert [e.path for e in manifest.files] == [p for p in paths if p != RELEASE_MANIFEST]
    assert manifest.source.git_commit == "a" * 40


def test_apply_builds_the_tree_and_the_manifest_matches_the_bytes(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    apply_stages([plan])
    dest = plan.dest
    manifest = read_release_manifest(dest)
    for entry in manifest.files:
        data = (dest / entry.path).read_bytes()
        assert len(data) == entry.size and hashlib.sha256(data).hexdigest() == entry.sha256
    on_disk = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert on_disk == sorted([e.path for e in manifest.files] + [RELEASE_MANIFEST])
    assert not (dest / "datasets" / "flowers").exists()  # data only when the config says so
    assert ReleaseManifest.from_json((dest / RELEASE_MANIFEST).read_text(), "x") == manifest


def test_staging_twice_gives_identical_bytes(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    apply_stages([plan])
    dest = plan.dest
    first = (dest / RELEASE_MANIFEST).read_bytes()
    apply_stages([plan])
    assert (dest / RELEASE_MANIFEST).read_bytes() == first


def test_a_failed_stage_leaves_the_previous_tree_and_no_leftovers(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    apply_stages([plan])
    dest = plan.dest
    before = {p: p.read_bytes() for p in dest.rglob("*") if p.is_file()}
    source = tmp_path / "model" / "model.safetensors"
    source.unlink()  # a new file replaces it (the staged hard link keeps the old bytes)
    source.write_bytes(b"truncated")
    with pytest.raises(StageError, match="changed since it was hashed"):
        apply_stages([plan])
    assert {p: p.read_bytes() for p in dest.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in dest.parent.iterdir()) == ["m-1.0"]


def test_two_sources_for_one_release_path_are_refused(tmp_path: Path) -> None:
    with pytest.raises(StageError, match=r"two files would be released as README\.md"):
        _plan(tmp_path, extra={"README.md": "a card inside the model folder"})


def test_a_path_that_is_both_file_and_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StageError, match="both a file and a folder"):
        _plan(tmp_path, extra={"datasets": "a file named like the datasets folder"})


def test_reading_a_folder_that_was_never_staged(tmp_path: Path) -> None:
    with pytest.raises(StageError, match="run the stage step first"):
        read_release_manifest(tmp_path)


def test_several_trees_move_into_place_only_when_every_one_passes_the_inspection(tmp_path: Path) -> None:
    model = _plan(tmp_path)
    dataset = replace(model, dest=tmp_path / "dist" / "datasets" / "d-1.0")

    def refuse_the_dataset(plan: StagePlan, built: Path) -> None:
        assert (built / "model.safetensors").is_file()
        if plan is dataset:
            raise StageError("the gate found something")

    with pytest.raises(StageError, match="the gate found something"):
        apply_stages([model, dataset], refuse_the_dataset)
    assert not (tmp_path / "dist").exists()  # neither tree, no building folder, no folder it created
    apply_stages([model, dataset])
    assert (model.dest / RELEASE_MANIFEST).is_file() and (dataset.dest / RELEASE_MANIFEST).is_file()


def test_a_dry_run_tree_links_to_the_sources_instead_of_copying(tmp_path: Path) -> None:
    plan = _plan(tmp_path, include_data=True)
    scratch = replace(plan, dest=tmp_path / "scratch" / "m-1.0")
    apply_stages([scratch], link="symbolic")
    linked = scratch.dest / "datasets" / "flowers" / "train.csv"
    assert linked.is_symlink() and linked.resolve() == (tmp_path / "data" / "train.csv").resolve()
    assert not (scratch.dest / RELEASE_MANIFEST).is_symlink()  # generated files are written
    assert read_release_manifest(scratch.dest) == plan.manifest
