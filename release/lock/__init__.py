"""The ``lock`` stage: freeze environments into locks a release ships and a user rebuilds from.

- :mod:`release.lock.pip`: ``requirements.in`` -> hash-pinned ``requirements.txt`` (pip-tools or uv).
- :mod:`release.lock.conda`: ``environment.yml`` -> multi-platform ``conda-lock.yml`` (py-rattler
  solves, conda-lock's own code writes the file). Not imported here: conda-lock takes ~1.8 s to
  import, which pip-only projects should not pay.
- :mod:`release.lock.snapshot`: ``environment.json``, what the model was actually trained with.
"""

from __future__ import annotations

from release.lock.pip import (
    LOCK_COMMAND,
    LockHeader,
    LockResult,
    PipIndex,
    check_requirements_lock,
    count_pins,
    lock_requirements,
    normalise_requirements,
    parse_lock_header,
    pip_compile_argv,
    requirements_sha256,
)

__all__ = [
    "LOCK_COMMAND",
    "LockHeader",
    "LockResult",
    "PipIndex",
    "check_requirements_lock",
    "count_pins",
    "lock_requirements",
    "normalise_requirements",
    "parse_lock_header",
    "pip_compile_argv",
    "requirements_sha256",
]
