from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import subprocess
import time
import unicodedata
from pathlib import Path

import pytest
from project import run_cli

from release.checksum import (
    HashCache,
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


def test_cli_checksum_paths_then_verify(tmp_path: Path) -> None:
    _tree(tmp_path / "data")
    made = run_cli("checksum", "data", "--manifest", "data.sha256", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert subprocess.run(["sha256sum", "-c", "data.sha256"], cwd=tmp_path, capture_output=True).returncode == 0
    ok = run_cli("--json", "checksum", "--verify", "data.sha256", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["checked"] == 4
    (tmp_path / "data" / "train.csv").write_text("tampered")
    bad = run_cli("checksum", "--verify", "data.sha256", cwd=tmp_path)
    assert bad.returncode == 1
    assert "modified  data/train.csv" in bad.stdout


def test_cli_checksum_of_a_missing_path_exits_nonzero_naming_it(tmp_path: Path) -> None:
    result = run_cli("checksum", "nowhere.bin", cwd=tmp_path)
    assert result.returncode == 1
    assert "nowhere.bin: no such file or folder" in result.stderr


# --- the incremental cache ------------------------------------------------------------------------

POISON = "f" * 64  # a digest no file here has: seeing it back proves the cache answered


def _aged(path: Path, data: bytes, age: float = 60.0) -> Path:
    """Write ``data`` with an mtime in the past (recent files are never cached: racy timestamps)."""
    path.write_bytes(data)
    past = time.time() - age
    os.utime(path, (past, past))
    return path


def _poisoned_cache(path: Path, cache_file: Path) -> HashCache:
    cache = HashCache(cache_file)
    hash_files([path], cache=cache)
    cache.save()
    with contextlib.closing(sqlite3.connect(cache_file)) as db, db:
        assert db.execute("UPDATE files SET sha256 = ?", (POISON,)).rowcount >= 1
    return HashCache.load(cache_file)


def test_an_unchanged_file_is_not_read_again(tmp_path: Path) -> None:
    path = _aged(tmp_path / "w.bin", b"weights")
    cache = _poisoned_cache(path, tmp_path / "cache.sqlite")
    assert hash_files([path], cache=cache) == [(7, POISON)]


@pytest.mark.parametrize("change", ["touch", "same-size rewrite, mtime restored", "rename away and back", "new inode"])
def test_any_change_to_a_file_invalidates_its_entry(tmp_path: Path, change: str) -> None:
    path = _aged(tmp_path / "w.bin", b"weights")
    cache = _poisoned_cache(path, tmp_path / "cache.sqlite")
    before = path.stat()
    if change == "touch":
        os.utime(path, None)
    elif change == "same-size rewrite, mtime restored":
        path.write_bytes(b"WEIGHTS")
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # ctime still moves
    elif change == "rename away and back":
        path.rename(tmp_path / "other.bin")
        (tmp_path / "other.bin").rename(path)
    else:
        replacement = _aged(tmp_path / "new.bin", b"weights")
        os.utime(replacement, ns=(before.st_atime_ns, before.st_mtime_ns))
        os.replace(replacement, path)
    [(_size, digest)] = hash_files([path], cache=cache)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest() != POISON


def test_a_file_modified_just_now_is_hashed_but_not_remembered(tmp_path: Path) -> None:
    path = tmp_path / "fresh.bin"
    path.write_bytes(b"just written")
    cache = HashCache(tmp_path / "cache.sqlite")
    hash_files([path], cache=cache)
    cache.save()
    assert not (tmp_path / "cache.sqlite").exists()


def test_verify_rereads_every_byte_even_when_the_cache_says_unchanged(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    path = _aged(root / "w.bin", b"0123456789")
    cache = HashCache(tmp_path / "cache.sqlite")
    manifest = build_manifest(root, cache=cache)
    cache.save()
    with path.open("r+b") as handle:  # flip one byte, then make the cache agree with the new stat
        handle.write(b"X")
    stat = path.stat()
    with contextlib.closing(sqlite3.connect(tmp_path / "cache.sqlite")) as db, db:
        db.execute(
            "UPDATE files SET dev = ?, ino = ?, size = ?, mtime_ns = ?, ctime_ns = ?",
            (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns),
        )
    assert build_manifest(root, cache=HashCache.load(tmp_path / "cache.sqlite")) == manifest  # fooled
    report = verify_manifest(manifest, root)  # not fooled
    assert [p for p, _, _ in report.modified] == ["w.bin"]


def test_an_unreadable_cache_counts_as_empty(tmp_path: Path) -> None:
    (tmp_path / "cache.sqlite").write_text("{not json")
    path = _aged(tmp_path / "w.bin", b"abc")
    assert hash_files([path], cache=HashCache.load(tmp_path / "cache.sqlite")) == [
        (3, hashlib.sha256(b"abc").hexdigest())
    ]


def test_a_single_big_file_is_hashed_by_a_reader_and_a_hasher_thread(tmp_path: Path) -> None:
    # Fewer files than workers takes the pipelined path (>= 16 MiB): check odd sizes around the buffers.
    for size in ((16 << 20), (16 << 20) + 1, (17 << 20) - 1):
        path = tmp_path / f"big-{size}"
        path.write_bytes(os.urandom(size))
        seen: list[int] = []
        assert hash_files([path], workers=2, progress=seen.append) == [
            (size, hashlib.sha256(path.read_bytes()).hexdigest())
        ]
        assert sum(seen) == size


def test_our_own_hard_link_does_not_invalidate_the_cache(tmp_path: Path) -> None:
    path = _aged(tmp_path / "w.bin", b"weights")
    cache = _poisoned_cache(path, tmp_path / "cache.sqlite")
    os.link(path, tmp_path / "staged.bin")  # what stage does: it moves the source's ctime
    cache.after_link([path])
    assert hash_files([path], cache=cache) == [(7, POISON)]
    path.write_bytes(b"WEIGHTS")  # a real change is still seen after that
    cache.after_link([path])
    assert hash_files([path], cache=cache)[0][1] == hashlib.sha256(b"WEIGHTS").hexdigest()


def _foreign_rows(cache_file: Path, count: int, written: int | None = None) -> None:
    """``count`` rows of files this run never asks about, as years of other checksums leave them."""
    written = int(time.time()) if written is None else written
    with contextlib.closing(sqlite3.connect(cache_file)) as db, db:
        db.execute(HashCache._SCHEMA)
        db.executemany(
            "INSERT INTO files VALUES (?, 1, ?, 10, 0, 0, ?, ?)",
            ((f"/elsewhere/{i:07d}.bin", i, "0" * 64, written) for i in range(count)),
        )


def test_a_run_reads_only_the_rows_of_the_files_it_asks_about(tmp_path: Path) -> None:
    cache_file = tmp_path / "cache.sqlite"
    _foreign_rows(cache_file, 20_000)
    files = [_aged(tmp_path / f"w{i}.bin", b"w%d" % i) for i in range(3)]
    first = HashCache.load(cache_file)
    hash_files(files, cache=first)
    first.save()
    again = HashCache.load(cache_file)
    assert hash_files(files, cache=again) == [(2, hashlib.sha256(f.read_bytes()).hexdigest()) for f in files]
    assert again.loaded == 3, "the whole store was read"


def test_two_runs_saving_at_once_keep_each_others_rows(tmp_path: Path) -> None:
    cache_file = tmp_path / "cache.sqlite"
    one, two = _aged(tmp_path / "one.bin", b"1"), _aged(tmp_path / "two.bin", b"2")
    first, second = HashCache.load(cache_file), HashCache.load(cache_file)  # both opened before either saves
    hash_files([one], cache=first)
    hash_files([two], cache=second)
    first.save()
    second.save()
    both = _poisoned_cache(one, cache_file)  # poisons every row: both must be there to be served
    assert hash_files([one, two], cache=both) == [(1, POISON), (1, POISON)]


def test_rows_not_written_for_half_a_year_are_pruned_when_a_run_saves(tmp_path: Path) -> None:
    cache_file = tmp_path / "cache.sqlite"
    _foreign_rows(cache_file, 5, written=int(time.time()) - 200 * 86400)
    cache = HashCache.load(cache_file)
    hash_files([_aged(tmp_path / "w.bin", b"w")], cache=cache)
    cache.save()
    with contextlib.closing(sqlite3.connect(cache_file)) as db:
        assert [row[0] for row in db.execute("SELECT path FROM files")] == [str(tmp_path / "w.bin")]


def test_a_damaged_cache_counts_as_empty_and_is_started_again(tmp_path: Path) -> None:
    cache_file = tmp_path / "cache.sqlite"
    cache_file.write_bytes(b"SQLite format 3\0" + os.urandom(2000))
    path = _aged(tmp_path / "w.bin", b"abc")
    cache = HashCache.load(cache_file)
    assert hash_files([path], cache=cache) == [(3, hashlib.sha256(b"abc").hexdigest())]
    cache.save()
    assert hash_files([path], cache=_poisoned_cache(path, cache_file)) == [(3, POISON)]


def test_checksum_of_a_file_named_with_a_non_utf8_byte_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "ok.bin").write_bytes(b"x")
    with open(os.fsencode(tmp_path / "d") + b"/bad\xff.bin", "wb") as handle:
        handle.write(b"y")
    done = run_cli("checksum", "d", "--manifest", "m.sha256", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "FileNameError: d/bad\\xff.bin: the file name is not UTF-8 text" in done.stderr
    assert "rename the file" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "m.sha256").exists()


#: Names with each character GNU sha256sum escapes (backslash, LF, CR), and with characters that
#: str.splitlines would split a line at (VT, FF, FS, GS, RS, NEL, U+2028, U+2029), which it does not.
HOSTILE_NAMES = [
    "back\\slash",
    "new\nline",
    "carriage\rreturn",
    *(f"split{c}here" for c in "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
]


def test_hostile_names_written_by_checksum_are_verified_by_gnu_sha256sum_and_by_us(tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    for number, name in enumerate(HOSTILE_NAMES):
        (root / name).write_bytes(str(number).encode())
    done = run_cli("checksum", "d", "--manifest", "sums.sha256", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    checked = subprocess.run(["sha256sum", "-c", "sums.sha256"], cwd=tmp_path, capture_output=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count(b": OK\n") == len(HOSTILE_NAMES)
    ours = run_cli("checksum", "--verify", "sums.sha256", cwd=tmp_path)
    assert ours.returncode == 0, ours.stdout + ours.stderr
    read = Manifest.read(tmp_path / "sums.sha256")
    assert sorted(e.path for e in read.entries) == sorted(f"d/{name}" for name in HOSTILE_NAMES)


def test_a_manifest_is_split_at_lf_only() -> None:
    digest = "0" * 64
    text = f"{digest}  a\x0bb\r\n{digest}  c\u2028d\n\n"
    assert [e.path for e in Manifest.from_sha256sum(text, "m").entries] == ["a\x0bb", "c\u2028d"]
