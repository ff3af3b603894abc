from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from release.checksum import (
    Manifest,
    ManifestEntry,
    build_manifest,
    collect_files,
    hash_files,
    verify_manifest,
)
from release.errors import ChecksumError
from release.schema import check_document, load_schema


def _tree(root: Path) -> dict[str, bytes]:
    files = {
        "train.csv": b"a,b\n1,2\n",
        "test.csv": b"a,b\n3,4\n",
        "images/cat 1.png": os.urandom(3000),
        "images/deep/dog.png": b"",
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return files


def test_manifest_lists_every_file_sorted_with_size_and_sha256(tmp_path: Path) -> None:
    files = _tree(tmp_path)
    manifest = build_manifest(tmp_path, name="d")
    assert [e.path for e in manifest.entries] == sorted(files)
    for entry in manifest.entries:
        assert entry.size == len(files[entry.path])
        assert entry.sha256 == hashlib.sha256(files[entry.path]).hexdigest()
    assert manifest.total_size == sum(len(d) for d in files.values())


def test_sha256sum_verifies_our_file_and_we_read_its_output(tmp_path: Path) -> None:
    _tree(tmp_path)
    manifest = build_manifest(tmp_path)
    (tmp_path.parent / "sums.sha256").write_text(manifest.to_sha256sum())
    checked = subprocess.run(
        ["sha256sum", "-c", str(tmp_path.parent / "sums.sha256")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count(": OK") == len(manifest.entries)
    made = subprocess.run(
        ["sha256sum", *[e.path for e in manifest.entries]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    read = Manifest.from_sha256sum(made, "sha256sum output")
    assert [(e.path, e.sha256) for e in read.entries] == [(e.path, e.sha256) for e in manifest.entries]


def test_names_with_newline_and_backslash_round_trip_through_sha256sum(tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    (root / "odd\\name").write_bytes(b"x")
    (root / "two\nlines").write_bytes(b"y")
    manifest = build_manifest(root)
    (tmp_path / "sums").write_text(manifest.to_sha256sum())
    checked = subprocess.run(["sha256sum", "-c", str(tmp_path / "sums")], cwd=root, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    again = Manifest.from_sha256sum((tmp_path / "sums").read_text(), "sums")
    assert [e.path for e in again.entries] == [e.path for e in manifest.entries]


def test_json_manifest_validates_against_its_schema_and_round_trips(tmp_path: Path) -> None:
    _tree(tmp_path)
    manifest = build_manifest(tmp_path, name="d")
    document = json.loads(manifest.to_json())
    assert check_document(document, load_schema("manifest.schema.json")) == []
    assert Manifest.from_json(manifest.to_json(), "m.json") == manifest
    assert manifest.to_json().endswith("}\n")


def test_verify_reports_missing_extra_and_modified_with_both_digests(tmp_path: Path) -> None:
    _tree(tmp_path)
    manifest = build_manifest(tmp_path)
    (tmp_path / "train.csv").write_bytes(b"a,b\n1,3\n")  # same size, different bytes
    (tmp_path / "test.csv").unlink()
    (tmp_path / "new.txt").write_text("surprise")
    report = verify_manifest(manifest, tmp_path)
    assert not report.ok
    assert report.missing == ("test.csv",)
    assert report.extra == ("new.txt",)
    assert [(p, e) for p, e, _ in report.modified] == [("train.csv", manifest.by_path["train.csv"].sha256)]
    assert report.modified[0][2] == hashlib.sha256(b"a,b\n1,3\n").hexdigest()


def test_parallel_hashing_with_reused_buffers_matches_hashlib(tmp_path: Path) -> None:
    sizes = [0, 1, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 5 * (1 << 20) + 123]
    paths = []
    for index, size in enumerate(sizes):
        path = tmp_path / f"f{index}"
        path.write_bytes(os.urandom(size))
        paths.append(path)
    seen: list[int] = []
    results = hash_files(paths * 3, workers=2, progress=seen.append)
    expected = [(p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest()) for p in paths] * 3
    assert results == expected
    assert sum(seen) == 3 * sum(sizes)


def test_globs_keep_star_within_a_folder(tmp_path: Path) -> None:
    _tree(tmp_path)
    top = [rel for rel, _ in collect_files(tmp_path, ["*.csv"])]
    assert top == ["test.csv", "train.csv"]
    deep = [rel for rel, _ in collect_files(tmp_path, ["**/*.png"], ["images/deep/**"])]
    assert deep == ["images/cat 1.png"]


def test_symlink_leading_outside_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    (tmp_path / "secret").write_text("outside")
    (root / "link").symlink_to(tmp_path / "secret")
    with pytest.raises(ChecksumError, match="outside"):
        collect_files(root)


def test_symlink_inside_the_root_is_hashed_as_its_target(tmp_path: Path) -> None:
    (tmp_path / "real.bin").write_bytes(b"abc")
    (tmp_path / "alias.bin").symlink_to(tmp_path / "real.bin")
    manifest = build_manifest(tmp_path)
    assert manifest.by_path["alias.bin"].sha256 == manifest.by_path["real.bin"].sha256


@pytest.mark.parametrize("bad", ["/etc/passwd", "../up.txt", "a/../../b", "a/./b", ""])
def test_manifest_paths_that_escape_the_root_are_refused(bad: str) -> None:
    with pytest.raises(ChecksumError, match="not a plain relative path"):
        Manifest((ManifestEntry(bad, 1, "0" * 64),))


def test_paths_are_nfc_normalised(tmp_path: Path) -> None:
    decomposed = unicodedata.normalize("NFD", "café.txt")
    (tmp_path / decomposed).write_text("x")
    [entry] = build_manifest(tmp_path).entries
    assert entry.path == unicodedata.normalize("NFC", "café.txt")


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ChecksumError, match="does not exist"):
        build_manifest(tmp_path / "nope")


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "release", *args], cwd=cwd, capture_output=True, text=True)


def test_cli_checksum_paths_then_verify(tmp_path: Path) -> None:
    _tree(tmp_path / "data")
    made = _cli("checksum", "data", "--manifest", "data.sha256", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert subprocess.run(["sha256sum", "-c", "data.sha256"], cwd=tmp_path, capture_output=True).returncode == 0
    ok = _cli("--json", "checksum", "--verify", "data.sha256", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["checked"] == 4
    (tmp_path / "data" / "train.csv").write_text("tampered")
    bad = _cli("checksum", "--verify", "data.sha256", cwd=tmp_path)
    assert bad.returncode == 1
    assert "modified  data/train.csv" in bad.stdout


def test_cli_checksum_of_a_missing_path_exits_nonzero_naming_it(tmp_path: Path) -> None:
    result = _cli("checksum", "nowhere.bin", cwd=tmp_path)
    assert result.returncode == 1
    assert "nowhere.bin: no such file or folder" in result.stderr
