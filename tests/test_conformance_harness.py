"""The conformance harness's own parts that need no network and no suite: the lock, the sdist's checks,
the skip list, the tally of results, the pytest command (``nox -s conformance`` runs the rest)."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from conformance.results import FileResult, combine, markdown_table, phase_outcome, results_document, tally, totals
from conformance.run import CI_FILES, SKIPS, pytest_command
from conformance.sdist import ConformanceError, LockedSdist, check_sha256, download, extract, locked_sdist
from conformance.skips import covers, load_skips, parse_skips

ROOT = Path(__file__).resolve().parent.parent
DIGEST = "ab" * 32
LOCK = f"""
version = 1

[[package]]
name = "huggingface-hub"
version = "2.4.0"
source = {{ registry = "https://pypi.org/simple" }}
sdist = {{ url = "https://files.example/hh/huggingface_hub-2.4.0.tar.gz", hash = "sha256:{DIGEST}", size = 10 }}
"""


def test_locked_sdist_reads_the_version_url_and_hash() -> None:
    sdist = locked_sdist(LOCK)
    assert sdist == LockedSdist(
        "huggingface-hub", "2.4.0", "https://files.example/hh/huggingface_hub-2.4.0.tar.gz", DIGEST
    )
    assert sdist.filename == "huggingface_hub-2.4.0.tar.gz"


def test_the_projects_lock_pins_one_huggingface_hub_sdist() -> None:
    sdist = locked_sdist((ROOT / "uv.lock").read_text(encoding="utf-8"))
    assert sdist.url.startswith("https://") and sdist.url.endswith(f"huggingface_hub-{sdist.version}.tar.gz")
    assert len(sdist.sha256) == 64


@pytest.mark.parametrize(
    ("lock", "message"),
    [
        ("version = 1\n", "locks 0 versions of huggingface-hub"),
        (LOCK + LOCK.replace("2.4.0", "2.5.0").replace("version = 1\n", ""), "locks 2 versions"),
        (LOCK.replace("sdist = ", "wheel = "), "records no sdist url and hash"),
        (LOCK.replace("sha256:", "md5:"), "not sha256:HEX"),
        ("[[package]\n", "not valid TOML"),
    ],
)
def test_locked_sdist_refuses_a_lock_it_cannot_use(lock: str, message: str) -> None:
    with pytest.raises(ConformanceError, match=message):
        locked_sdist(lock)


def test_check_sha256_refuses_a_file_with_another_digest(tmp_path: Path) -> None:
    path = tmp_path / "x.tar.gz"
    path.write_bytes(b"sdist")
    check_sha256(path, hashlib.sha256(b"sdist").hexdigest())
    with pytest.raises(ConformanceError, match=r"x\.tar\.gz has SHA-256 .* but uv\.lock records 0+: refusing"):
        check_sha256(path, "0" * 64)


def test_download_keeps_an_intact_copy_without_fetching(tmp_path: Path) -> None:
    (tmp_path / "a.tar.gz").write_bytes(b"sdist")
    sdist = LockedSdist("p", "1", "https://unreachable.invalid/a.tar.gz", hashlib.sha256(b"sdist").hexdigest())
    assert download(sdist, tmp_path) == tmp_path / "a.tar.gz"


def test_download_fetches_https_only(tmp_path: Path) -> None:
    sdist = LockedSdist("p", "1", "http://files.example/a.tar.gz", DIGEST)
    with pytest.raises(ConformanceError, match="only https is fetched"):
        download(sdist, tmp_path)


def _sdist(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_extract_adds_the_package_marker_and_our_conftest(tmp_path: Path) -> None:
    archive = _sdist(tmp_path / "s.tar.gz", {"hh-1/tests/test_a.py": b"", "hh-1/setup.py": b""})
    root = extract(archive, tmp_path / "out")
    assert root == tmp_path / "out" / "hh-1"
    assert (root / "tests" / "__init__.py").read_text() == ""
    assert (root / "tests" / "conftest.py").read_bytes() == (ROOT / "conformance" / "suite_conftest.py").read_bytes()


def test_extract_refuses_an_sdist_that_ships_a_conftest(tmp_path: Path) -> None:
    archive = _sdist(tmp_path / "s.tar.gz", {"hh-1/tests/conftest.py": b"x = 1\n"})
    with pytest.raises(ConformanceError, match=r"ships tests/conftest\.py"):
        extract(archive, tmp_path / "out")


def test_extract_refuses_an_archive_without_tests(tmp_path: Path) -> None:
    archive = _sdist(tmp_path / "s.tar.gz", {"hh-1/setup.py": b""})
    with pytest.raises(ConformanceError, match="no single folder with tests/"):
        extract(archive, tmp_path / "out")


SKIPS_TEXT = """
[markers]
production = "production data"

[nodes]
"tests/test_a.py" = "whole file"
"tests/test_b.py::TestX" = "class"
"tests/test_b.py::TestX::test_y" = "one test"
"""


def test_skip_reasons_by_node_and_marker() -> None:
    skips = parse_skips(SKIPS_TEXT)
    assert skips.reason_for("tests/test_a.py::test_z") == "whole file"
    assert skips.reason_for("tests/test_b.py::TestX::test_z[1]") == "class"
    assert skips.reason_for("tests/test_b.py::TestX::test_y[1]") == "one test"  # the longest entry wins
    assert skips.reason_for("tests/test_b.py::TestXY::test_y") is None
    assert skips.reason_for("tests/test_c.py::test", ["parametrize", "production"]) == "production data"
    assert skips.reason_for("tests/test_c.py::test", ["parametrize"]) is None
    assert skips.whole_files() == {"tests/test_a.py": "whole file"}


def test_covers_a_node_its_children_and_its_parameters_only() -> None:
    assert covers("tests/t.py::T::f", "tests/t.py::T::f")
    assert covers("tests/t.py::T::f", "tests/t.py::T::f[a-b]")
    assert covers("tests/t.py::T", "tests/t.py::T::f")
    assert not covers("tests/t.py::T::f", "tests/t.py::T::fg")
    assert not covers("tests/t.py", "tests/t.py.bak::f")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[nodes]\n"tests/a.py" = ""\n', r"\[nodes\] 'tests/a.py' needs a non-empty reason"),
        ('[nodes]\n"a.py" = "why"\n', "must be a path under tests/"),
        ('[other]\nx = "y"\n', "unknown tables"),
        ("[markers]\nx = 1\n", r"\[markers\] 'x' needs a non-empty reason"),
        ("markers = 1\n", r"\[markers\] must be a table"),
    ],
)
def test_parse_skips_names_the_entry_to_fix(text: str, message: str) -> None:
    with pytest.raises(ConformanceError, match=message):
        parse_skips(text)


def test_the_committed_skip_list_parses_and_gives_every_entry_a_reason() -> None:
    skips = load_skips(SKIPS)
    assert skips.markers and skips.nodes
    assert all(reason.strip() for reason in [*skips.markers.values(), *skips.nodes.values()])


def test_ci_files_are_not_skipped_whole() -> None:
    skips = load_skips(SKIPS)
    assert CI_FILES
    assert not set(CI_FILES) & set(skips.whole_files())


@pytest.mark.parametrize(
    ("when", "outcome", "expected"),
    [
        ("setup", "passed", "passed"),
        ("setup", "failed", "error"),
        ("setup", "skipped", "skipped"),
        ("call", "failed", "failed"),
        ("call", "passed", "passed"),
        ("teardown", "failed", "error"),
        ("collect", "failed", "error"),
    ],
)
def test_phase_outcome(when: str, outcome: str, expected: str) -> None:
    assert phase_outcome(when, outcome) == expected


def test_a_test_counts_once_with_its_worst_phase() -> None:
    assert combine(combine(combine(None, "passed"), "passed"), "error") == "error"  # setup, call, teardown
    assert combine(combine(None, "passed"), "failed") == "failed"
    assert combine("failed", "passed") == "failed"  # teardown after a failed call
    assert combine(None, "skipped") == "skipped"


def test_tally_and_markdown_table() -> None:
    outcomes = {
        "tests/test_b.py::t1": "passed",
        "tests/test_b.py::t2[x]": "failed",
        "tests/test_a.py::T::t": "skipped",
        "tests/test_a.py::T::u": "error",
        "tests/test_c.py": "error",  # a file that failed to collect
    }
    results = tally(outcomes)  # type: ignore[arg-type]
    assert results == [
        FileResult("tests/test_a.py", error=1, skipped=1),
        FileResult("tests/test_b.py", passed=1, failed=1),
        FileResult("tests/test_c.py", error=1),
    ]
    assert totals(results) == FileResult("total", passed=1, failed=1, error=2, skipped=1)
    table = markdown_table(results).splitlines()
    assert table[0] == "| file | passed | failed | errors | skipped |"
    assert table[2] == "| `tests/test_a.py` | 0 | 0 | 1 | 1 |"
    assert table[-1] == "| **total** | **1** | **1** | **2** | **1** |"
    document = results_document(results, {"tests/test_x.py": "why"}, version="2.4.0", command="nox -s conformance")
    assert "**1 passed, 1 failed, 2 errors, 1 skipped**" in document
    assert "- `tests/test_x.py`: why\n" in document


def test_pytest_command_runs_the_suites_tests_with_our_plugin(tmp_path: Path) -> None:
    command = pytest_command(tmp_path, ["--numprocesses=2"], results=tmp_path / "r.md", failures=None)
    assert command[-1] == "tests"
    assert command[command.index("-p") : command.index("-p") + 2] == ["-p", "conformance.plugin"]
    assert f"--conformance-skips={SKIPS}" in command and f"--conformance-results={tmp_path / 'r.md'}" in command
    selected = pytest_command(tmp_path, ["tests/test_hf_api.py", "-k", "Branch"], results=None, failures=None)
    assert selected[-3:] == ["tests/test_hf_api.py", "-k", "Branch"]
    assert not any(arg.startswith("--conformance-results") for arg in selected)
