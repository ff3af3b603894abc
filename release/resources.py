"""Where the bundled JSON Schemas and Jinja templates are, installed or in a source checkout."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

_PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(kind: Literal["schemas", "templates"]) -> Path:
    """The folder of bundled schemas or templates.

    A wheel carries them inside the package (``release/_resources/``); a source checkout or an
    editable install has them at the top of the repository.
    """
    installed = _PACKAGE_DIR / "_resources" / kind
    return installed if installed.is_dir() else _PACKAGE_DIR.parent / kind
