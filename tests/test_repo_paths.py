"""The names the Hub takes for the files of a repository (release.repo_paths)."""

from __future__ import annotations

import os

import pytest

from release.errors import StageError
from release.repo_paths import MAX_PART_BYTES, MAX_PATH_BYTES, check_repo_paths, path_problem


@pytest.mark.parametrize(
    "path",
    [
        "model.safetensors",
        "sub/folder/config.json",
        "données/été.csv",  # UTF-8 beyond ASCII
        "a b/c (1).txt",
        ".gitattributes",  # a file, not the .git folder
        "x" * MAX_PART_BYTES,
        "/".join(["x" * 200] * 20),  # long, but within PATH_MAX
    ],
)
def test_names_the_hub_takes(path: str) -> None:
    assert path_problem(path) is None


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("", "empty"),
        ("bad\nname.bin", "U+000A"),
        ("bad\rname.bin", "U+000D"),
        ("tab\there", "U+0009"),
        ("nul\0", "U+0000"),
        ("esc\x1b[2J", "U+001B"),
        ("del\x7f", "U+007F"),
        ("c1\x85", "U+0085"),
        ("line\u2028sep", "U+2028"),
        (os.fsdecode(b"latin\xff.txt"), "not UTF-8"),
        ("/etc/passwd", "absolute"),
        ("a//b", "empty, '.' or '..'"),
        ("a/", "empty, '.' or '..'"),
        ("./a", "empty, '.' or '..'"),
        ("a/../../b", "empty, '.' or '..'"),
        ("..", "empty, '.' or '..'"),
        (".git/config", ".git/ folder"),
        ("sub/.git/HEAD", ".git/ folder"),
        (".cache/huggingface/x", ".cache/ folder"),
        ("x" * (MAX_PART_BYTES + 1), "above 255"),
        ("é" * 128, "above 255"),  # 256 bytes in 128 characters
        ("/".join(["x" * 250] * 17), f"above {MAX_PATH_BYTES:,}"),
    ],
)
def test_names_the_hub_refuses_say_why(path: str, problem: str) -> None:
    found = path_problem(path)
    assert found is not None and problem in found


def test_one_error_names_every_refused_path_with_what_it_is() -> None:
    files = [("ok.txt", "model file"), ("bad\n1", "model file in m"), (".git/x", "data of dataset d")]
    with pytest.raises(StageError) as raised:
        check_repo_paths(files, "Rename them.")
    message = str(raised.value)
    assert message.startswith("2 file name(s) the Hub would refuse; nothing was uploaded:")
    assert "'bad\\n1' (model file in m): it holds the control character U+000A" in message
    assert "'.git/x' (data of dataset d)" in message and "ok.txt" not in message
    assert message.endswith("Rename them.")
    assert "\n1" not in message  # the name is shown as its repr: no line break of its own
