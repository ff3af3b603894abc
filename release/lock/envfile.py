"""An ``environment.yml`` for conda users of a pip-locked project: conda's Python, then the pip lock.

Written only when the project has no environment.yml of its own. ``conda env create -f
environment.yml`` installs Python at the locked version, then runs pip on the hash-pinned
requirements.txt (pip switches to hash-checking mode for a file whose requirements carry hashes).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from release.atomic import write_atomic
from release.config import GENERATED_MARKER
from release.lock.pip import parse_lock_header, read_text_input

_VERSION = re.compile(r"Python\D*?(\d+)\.(\d+)")


def locked_python(lock_text: str) -> str:
    """The ``major.minor`` the lock was resolved for (this interpreter's when the lock does not say)."""
    header = parse_lock_header(lock_text)
    match = _VERSION.search(header.resolved_with) if header else None
    return f"{match.group(1)}.{match.group(2)}" if match else f"{sys.version_info.major}.{sys.version_info.minor}"


def render_environment_yml(name: str, python: str, requirements_txt: str) -> str:
    """The file's text. Pure."""
    return (
        f"{GENERATED_MARKER} from {requirements_txt}; do not edit.\n"
        f"# conda env create -f environment.yml   (then: conda activate {name})\n"
        f"name: {name}\n"
        "channels:\n"
        "  - conda-forge\n"
        "dependencies:\n"
        f"  - python={python}\n"
        "  - pip\n"
        "  - pip:\n"
        "      - --require-hashes\n"
        f"      - -r {requirements_txt}\n"
    )


def write_environment_yml(path: Path, name: str, requirements_txt: Path) -> str:
    """Write the environment file beside ``requirements_txt``; returns the Python version pinned."""
    python = locked_python(read_text_input(requirements_txt, "The lock", "run `model-release lock` first."))
    relative = requirements_txt.name if requirements_txt.parent == path.parent else str(requirements_txt)
    write_atomic(path, render_environment_yml(name, python, relative))
    return python
