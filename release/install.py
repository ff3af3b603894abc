"""Building a virtual environment from a hash-pinned lock: with uv when it is there, else with pip.

Both installers do the same job the same way: a fresh venv from a given interpreter, then every line
of the lock installed as pinned, each file checked against the lock's ``--hash`` lines
(``--require-hashes``), nothing resolved (``--no-deps``), then a consistency check (``pip check``).
uv does it in about a twentieth of pip's time; it is not a dependency of model-release, only used
when found on ``PATH``. A venv made by ``uv venv`` has no pip, setuptools or wheel, unlike one made
by ``python -m venv``.

The recorded Python is found with uv too (:func:`recorded_interpreter`): ``uv python find`` looks at
the system's, pyenv's and uv's own interpreters, and ``uv python install`` downloads one when none
is there.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from release.errors import ReproduceError
from release.process import quote_output, run

Installer = Literal["uv", "pip"]
InstallerChoice = Literal["auto", "uv", "pip"]

_GET_UV = (
    "install it (`pipx install uv` or `pip install uv`, see https://docs.astral.sh/uv/) and put it on PATH, "
    "or run again with --installer pip"
)


@dataclass(frozen=True)
class LockInstall:
    """One venv to build: ``lock`` installed into ``venv``, created from ``python``, by ``installer``."""

    python: str  # the interpreter the venv is made from
    lock: Path  # a requirements.txt whose every line is pinned with --hash
    venv: Path  # must not exist yet
    installer: Installer
    uv: str | None = None  # the uv program (needed when installer is "uv")
    index_args: tuple[str, ...] = ()  # --no-index, --index-url URL, --find-links URL: given to either installer
    name: str = "the lock"  # how messages name what is installed ("requirements.txt of alice/model@v1.0")

    @property
    def venv_python(self) -> str:
        return str(self.venv / "bin" / "python")


def find_uv() -> str | None:
    """The uv program on ``PATH``, or None."""
    return shutil.which("uv")


def choose_installer(choice: InstallerChoice, uv: str | None) -> Installer:
    """``auto``: uv when it was found, else pip. ``uv`` without uv is an error saying how to get it."""
    if choice == "pip":
        return "pip"
    if uv is not None:
        return "uv"
    if choice == "uv":
        raise ReproduceError(f"--installer uv: uv is not on PATH: {_GET_UV}")
    return "pip"


def build_venv(plan: LockInstall) -> str:
    """Create ``plan.venv``, install the lock (hashes required, no resolution), check it; its python."""
    if plan.installer == "uv":
        _build_with_uv(plan)
    else:
        _build_with_pip(plan)
    return plan.venv_python


def _build_with_uv(plan: LockInstall) -> None:
    if plan.uv is None:
        raise ReproduceError(f"--installer uv: uv is not on PATH: {_GET_UV}")
    uv = plan.uv
    # Not --relocatable: the caller moves the venv and rewrites its absolute paths, the same for both installers.
    run(
        [uv, "venv", "--quiet", "--no-project", "--python", plan.python, str(plan.venv)],
        what=f"create a virtual environment with {plan.python} (uv venv)",
    )
    target = ["--python", plan.venv_python]
    hashed = ["--require-hashes", "--no-deps", *plan.index_args, "-r", str(plan.lock)]
    run([uv, "pip", "install", "--quiet", *target, *hashed], what=f"install {plan.name} (uv pip install)")
    run([uv, "pip", "check", "--quiet", *target], what="check the installed set (uv pip check)")


def _build_with_pip(plan: LockInstall) -> None:
    run([plan.python, "-m", "venv", str(plan.venv)], what=f"create a virtual environment with {plan.python}")
    pip = [plan.venv_python, "-m", "pip"]
    hashed = ["--require-hashes", "--no-deps", *plan.index_args, "-r", str(plan.lock)]
    run([*pip, "install", "--disable-pip-version-check", *hashed], what=f"install {plan.name}")
    run([*pip, "check", "--disable-pip-version-check"], what="check the installed set")


def find_python(version: str, uv: str) -> str | None:
    """A Python ``version`` (``"3.11"``) outside any virtual environment, as ``uv python find`` sees it."""
    found = run([uv, "python", "find", "--system", version], what=f"find Python {version}", check=False)
    path = found.stdout.strip()
    return path if found.returncode == 0 and path else None


def recorded_interpreter(version: str, uv: str) -> str:
    """An interpreter of Python ``version``: one already on this machine, else one ``uv python install`` gets.

    Raises :class:`ReproduceError` naming the version and the two ways out when neither works (no
    such download, or no network).
    """
    found = find_python(version, uv)
    if found is not None:
        return found
    installed = run([uv, "python", "install", version], what=f"install Python {version}", check=False)
    found = find_python(version, uv) if installed.returncode == 0 else None
    if found is None:
        said = quote_output(installed.stderr or installed.stdout, limit=5)
        raise ReproduceError(
            f"Python {version} is not on this machine and `uv python install {version}` could not get it"
            f"{':' if said else ''}{said}\n"
            f"Run `uv python install {version}` where the network is reachable, or run again with --python PATH "
            f"naming a Python {version} interpreter"
        )
    return found
