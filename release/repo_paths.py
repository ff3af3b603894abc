"""The names the Hub takes for the files of a repository, checked before anything is uploaded.

A release publishes several repositories (each published dataset's, then the model's); a name the
Hub refuses must stop the release before the first of them is touched, not fail the last commit
with HTTP 400 after the others are tagged. :func:`path_problem` says why a path would be refused;
:func:`check_repo_paths` raises one :class:`~release.errors.StageError` naming every such path.

The rules: what ``huggingface_hub`` itself refuses in a commit (a ``..`` part, a part named ``.git``
or ``.cache``), what the Hub and its emulator refuse (an absolute path, an empty or ``.`` part, a
control character; see docs/hub-api.md), and what no one could download: a name that is not UTF-8
text (on Linux, a file name whose bytes are not UTF-8 reaches Python as surrogate escapes), a part
longer than the 255 bytes file systems allow for one name, a path longer than Linux's 4,096-byte
``PATH_MAX``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from release.errors import StageError

#: The longest name of one file or folder, in UTF-8 bytes: ext4, APFS and NTFS allow 255.
MAX_PART_BYTES = 255
#: The longest path, in UTF-8 bytes (Linux's PATH_MAX, of which the download folder takes a part).
MAX_PATH_BYTES = 4096
#: Parts huggingface_hub refuses anywhere in a path (its ``FORBIDDEN_FOLDERS``).
RESERVED_PARTS = (".git", ".cache")
#: Character categories that break a line or control a terminal: control (C0, DEL, C1), line and
#: paragraph separators.
_CONTROL_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})
#: How many refused paths one error lists.
_SHOWN = 20


def path_problem(path: str) -> str | None:
    """Why the Hub would refuse ``path`` as the path of a file in a repository; None when it takes it."""
    if not path:
        return "the path is empty"
    try:
        encoded = path.encode("utf-8")
    except UnicodeEncodeError:
        return "the name is not UTF-8 text (its bytes on disk do not decode as UTF-8)"
    control = next((char for char in path if unicodedata.category(char) in _CONTROL_CATEGORIES), None)
    if control is not None:
        return f"it holds the control character U+{ord(control):04X}"
    if path.startswith("/"):
        return "it is absolute"
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "it has an empty, '.' or '..' part"
    reserved = next((part for part in parts if part in RESERVED_PARTS), None)
    if reserved is not None:
        return f"it is inside a {reserved}/ folder, which the Hub keeps for itself"
    if len(encoded) > MAX_PATH_BYTES:
        return f"it is {len(encoded):,} bytes long, above {MAX_PATH_BYTES:,}"
    long_part = next((part for part in parts if len(part.encode("utf-8")) > MAX_PART_BYTES), None)
    if long_part is not None:
        return f"a part of it is {len(long_part.encode('utf-8')):,} bytes long, above {MAX_PART_BYTES}"
    return None


def check_repo_paths(files: Iterable[tuple[str, str]], fix: str) -> None:
    """Raise :class:`StageError` naming every path the Hub would refuse, with what it is.

    ``files`` holds (path in the repository, what the file is: "model file in example/model"); ``fix``
    ends the message (how to rename or leave out such a file).
    """
    refused = [(path, what, problem) for path, what in files if (problem := path_problem(path)) is not None]
    if not refused:
        return
    lines = [f"{len(refused)} file name(s) the Hub would refuse; nothing was uploaded:"]
    lines += [f"  - {path!r} ({what}): {problem}" for path, what, problem in refused[:_SHOWN]]
    if len(refused) > _SHOWN:
        lines.append(f"  ... and {len(refused) - _SHOWN} more")
    lines.append(fix)
    raise StageError("\n".join(lines))


__all__ = ["MAX_PART_BYTES", "MAX_PATH_BYTES", "RESERVED_PARTS", "check_repo_paths", "path_problem"]
