"""The ``lock`` stage for pip: pin requirements.in into a hashed requirements.txt with pip-tools.

:func:`lock_requirements` runs the real ``pip-compile`` (``python -m piptools compile``) in a
subprocess, then puts two header lines of ours above pip-compile's output::

    # model-release: input requirements.in sha256=<hex>
    # model-release: resolved with pip-tools for CPython 3.11 on linux x86_64

The hash covers the requirements only (comments, blank lines and surrounding whitespace removed),
so :func:`check_requirements_lock` can tell, without the network, whether the lock still matches
its input: a changed comment does not make the lock stale, a changed requirement does.

The new lock is written next to the old one and moved over it with ``os.replace``: when
pip-compile fails, the previous lock is left byte for byte as it was and no temporary file remains.
Index URLs (which may carry credentials) are never written to the lock, and messages redact them.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement

from release.errors import LockError, StaleLockError
from release.process import quote_output, run
from release.redaction import redact

__all__ = [
    "LOCK_COMMAND",
    "LockHeader",
    "LockResult",
    "PipIndex",
    "canonical_name",
    "check_requirements_lock",
    "count_pins",
    "lock_requirements",
    "normalise_requirements",
    "parse_lock_header",
    "pip_compile_argv",
    "read_pins",
    "requirements_sha256",
    "uv_compile_argv",
]

logger = logging.getLogger(__name__)

#: The command that (re)writes the lock; pip-compile's own header names it too.
LOCK_COMMAND = "model-release lock"
_FIX = f"Run `{LOCK_COMMAND}` (or `nox -s lock`) and commit the new lock file."

_HEADER_PREFIX = "# model-release: "
_INPUT_LINE = re.compile(r"^# model-release: input (?P<name>.+) sha256=(?P<sha256>[0-9a-f]{64})$")
_RESOLVED_LINE = re.compile(r"^# model-release: resolved with (?P<resolved_with>.+)$")

#: A comment in a requirements file, as pip reads it: "#" at the start or after whitespace
#: (so the "#sha256=..." fragment of a URL requirement is not a comment).
_COMMENT = re.compile(r"(^|\s+)#.*$")

#: The module path in front of an exception's name: "pip._internal.exceptions." + "DistributionNotFound: ..."
_MODULE_PATH = re.compile(r"^(?:[A-Za-z_]\w*\.)+(?=\w+(?::|$))")

#: pip's retry counter, removed so that five "Retrying" warnings quote as one line.
_RETRY_COUNTER = re.compile(r"\s*\(Retry\([^)]*\)\)")

#: Options every lock is compiled with. Index options are never written into the lock file
#: (they may carry credentials, and they describe this machine, not the release).
_PIP_COMPILE_OPTIONS = (
    "--generate-hashes",
    "--strip-extras",
    "--allow-unsafe",
    "--no-emit-index-url",
    "--no-emit-trusted-host",
    "--no-emit-find-links",
    "--resolver=backtracking",
    "--newline=LF",
    "--no-config",
    "--quiet",
)


Resolver = Literal["pip-tools", "uv"]

_PROGRAMS: dict[str, str] = {"pip-tools": "pip-compile", "uv": "uv pip compile"}

#: uv's options: one lock for every platform and Python version (``--universal``), hashes, our command.
_UV_COMPILE_OPTIONS = ("--universal", "--generate-hashes", "--no-config", "--quiet", "--no-progress")


@dataclass(frozen=True)
class PipIndex:
    """Where pip-compile looks for distributions, on top of what pip reads by itself.

    pip also reads its own configuration (``pip.conf``, ``PIP_INDEX_URL``,
    ``PIP_EXTRA_INDEX_URL``, ``PIP_FIND_LINKS``, ``PIP_NO_INDEX``) in the pip-compile process:
    ``index_url`` replaces pip's configured index, while ``extra_index_urls`` and ``find_links``
    are added to pip's. URLs may carry credentials; they are passed to pip only, never written to
    the lock file nor shown in messages.
    """

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False

    @classmethod
    def with_pip_environment(cls, index: PipIndex, environ: Mapping[str, str]) -> PipIndex:
        """``index`` completed from pip's variables (``PIP_INDEX_URL`` ...), for uv, which does not read them."""
        return cls(
            index_url=index.index_url or environ.get("PIP_INDEX_URL") or None,
            extra_index_urls=index.extra_index_urls or tuple(environ.get("PIP_EXTRA_INDEX_URL", "").split()),
            find_links=index.find_links or tuple(environ.get("PIP_FIND_LINKS", "").split()),
            no_index=index.no_index or environ.get("PIP_NO_INDEX", "").lower() in ("1", "true", "yes", "on"),
        )

    def to_pip_args(self) -> tuple[str, ...]:
        """The pip-compile options that select these indexes, in a fixed order."""
        args: list[str] = []
        if self.no_index:
            args.append("--no-index")
        if self.index_url is not None:
            args += ["--index-url", self.index_url]
        for url in self.extra_index_urls:
            args += ["--extra-index-url", url]
        for link in self.find_links:
            args += ["--find-links", link]
        return tuple(args)


@dataclass(frozen=True)
class LockHeader:
    """The model-release lines at the top of a requirements lock."""

    input_name: str  # the input file, relative to the lock's folder: "requirements.in"
    input_sha256: str  # requirements_sha256() of the input when it was locked
    resolved_with: str  # "pip-tools for CPython 3.11 on linux x86_64"

    def render(self) -> str:
        return (
            f"{_HEADER_PREFIX}input {self.input_name} sha256={self.input_sha256}\n"
            f"{_HEADER_PREFIX}resolved with {self.resolved_with}\n"
        )


@dataclass(frozen=True)
class LockResult:
    """What :func:`lock_requirements` wrote."""

    path: Path  # the lock file (requirements.txt)
    input_sha256: str  # requirements_sha256() of requirements.in, as recorded in the header
    pins: int  # how many distributions the lock pins
    python_version: str  # the interpreter pip-compile resolved for: "CPython 3.11"
    platform: str  # the platform it resolved for: "linux x86_64"


def normalise_requirements(text: str) -> str:
    """The requirement content of a requirements file: comments, blank lines and padding removed."""
    lines = (_COMMENT.sub("", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def requirements_sha256(text: str) -> str:
    """The hex sha256 of :func:`normalise_requirements` of ``text``, as the lock header records it."""
    return hashlib.sha256(normalise_requirements(text).encode("utf-8")).hexdigest()


def parse_lock_header(text: str) -> LockHeader | None:
    """The model-release header at the top of a lock file's text, or None if it has none."""
    name = sha256 = resolved_with = None
    for line in text.splitlines():
        if not line.startswith(_HEADER_PREFIX):
            break
        if match := _INPUT_LINE.match(line):
            name, sha256 = match["name"], match["sha256"]
        elif match := _RESOLVED_LINE.match(line):
            resolved_with = match["resolved_with"]
    if name is None or sha256 is None:
        return None
    return LockHeader(name, sha256, resolved_with or "")


def count_pins(lock_text: str) -> int:
    """How many requirement lines a pip-compile output has (hash, comment and option lines aside)."""
    return sum(1 for line in lock_text.splitlines() if line[:1] not in ("", " ", "\t", "#", "-"))


_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)(?:\s*;\s*(.+?))?\s*\\?$")


def read_pins(lock_text: str, environment: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{normalised name: version}`` of a lock's ``name==version`` lines (the first, for a name that
    uv's universal lock pins differently per platform).

    With ``environment`` (PEP 508 marker variables, such as ``sys_platform``), only the lines whose
    environment marker holds in it: ``x==1 ; sys_platform == 'win32'`` is not a pin on Linux.
    """
    pins: dict[str, str] = {}
    for line in lock_text.splitlines():
        if (match := _PIN.match(line)) and (environment is None or _marker_holds(match.group(3), environment)):
            pins.setdefault(canonical_name(match.group(1)), match.group(2))
    return pins


def _marker_holds(marker: str | None, environment: Mapping[str, str]) -> bool:
    """Whether a lock line's marker holds in ``environment``; a line without one (or one that cannot be
    read, which pip would refuse anyway) always counts."""
    if marker is None:
        return True
    try:
        return Marker(marker).evaluate(dict(environment))
    except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName):
        return True


def canonical_name(name: str) -> str:
    """PEP 503 normalisation: ``Safe_Tensors`` -> ``safe-tensors``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _python_version() -> str:
    return f"{platform.python_implementation()} {sys.version_info.major}.{sys.version_info.minor}"


def _platform() -> str:
    return f"{sys.platform} {platform.machine()}"


def read_text_input(path: Path, role: str, missing_hint: str) -> str:
    """A lock input or lock as text; a LockError naming the file for every way reading can fail."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise LockError(f"{role} {path} does not exist: {missing_hint}") from exc
    except UnicodeDecodeError as exc:
        reason = f"byte {exc.start}: {exc.reason}"
        raise LockError(f"{role} {path} is not UTF-8 text ({reason}): save it as UTF-8.") from None
    except OSError as exc:
        raise LockError(f"Cannot read {role} {path}: {exc.strerror or exc}.") from exc


def _read_requirements_in(requirements_in: Path) -> str:
    return read_text_input(
        requirements_in,
        "The requirements input",
        f"create it with one requirement per line (e.g. `numpy>=1.26`), then run `{LOCK_COMMAND}`.",
    )


def check_requirements_syntax(requirements_in: Path, text: str) -> None:
    """Raise :class:`LockError` naming the file and line of the first requirement pip could not parse.

    Option lines (``-r``, ``-c``, ``-e``, ``--index-url`` ...) and URL requirements are left to pip.
    """
    logical = text.replace("\\\n", " ")  # pip joins lines ending in a backslash
    for number, line in enumerate(logical.splitlines(), start=1):
        requirement = _COMMENT.sub("", line).strip()
        if not requirement or requirement.startswith("-"):
            continue
        try:
            Requirement(requirement)
        except InvalidRequirement as exc:
            raise LockError(
                f"{requirements_in}:{number}: not a valid requirement: {requirement!r} ({exc}). "
                f"Write one requirement per line, e.g. `numpy>=1.26`; {requirements_in.name} and any previous "
                "lock are unchanged."
            ) from None


def unreachable_indexes(index: PipIndex, timeout: float = 5.0) -> list[str]:
    """The configured index URLs that do not answer at all, credentials redacted (for error messages)."""
    unreachable = []
    for url in [u for u in (index.index_url, *index.extra_index_urls) if u and u.startswith(("http://", "https://"))]:
        parts = urllib.parse.urlsplit(url)
        bare = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()  # no credentials: reachability only
        try:
            with urllib.request.urlopen(bare, timeout=timeout):  # noqa: S310 (http(s) only, checked above)
                pass
        except urllib.error.HTTPError:
            continue  # it answered: reachable (auth or path problems show in pip's own message)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            unreachable.append(f"{redact(url)} ({reason})")
    return unreachable


def _input_name(requirements_in: Path, requirements_txt: Path) -> str:
    """How the header names the input: relative to the lock's folder, POSIX separators."""
    relative = os.path.relpath(requirements_in.resolve(), requirements_txt.resolve().parent)
    return Path(relative).as_posix()


def pip_compile_argv(input_name: str, output: Path, index: PipIndex) -> list[str]:
    """The pip-compile command for ``input_name`` (relative to its folder, the working directory)."""
    return [
        sys.executable,
        "-m",
        "piptools",
        "compile",
        *_PIP_COMPILE_OPTIONS,
        *index.to_pip_args(),
        "--output-file",
        str(output),
        input_name,
    ]


def uv_compile_argv(input_name: str, output: Path, index: PipIndex) -> list[str]:
    """The ``uv pip compile --universal`` command (uv's index options have pip's names)."""
    return [
        _uv_binary(),
        "pip",
        "compile",
        *_UV_COMPILE_OPTIONS,
        "--custom-compile-command",
        LOCK_COMMAND,
        "--python-version",
        f"{sys.version_info.major}.{sys.version_info.minor}",
        *index.to_pip_args(),
        "--output-file",
        str(output),
        input_name,
    ]


def _uv_binary() -> str:
    try:
        from uv import find_uv_bin
    except ImportError as exc:
        raise LockError(
            'lock.resolver = "uv" needs uv: install it with `python -m pip install uv` (a model-release dependency)'
        ) from exc
    return str(find_uv_bin())


def _uv_version() -> str:
    try:
        return importlib.metadata.version("uv")
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _pip_error_lines(output: str) -> list[str]:
    """The lines of pip-compile's output that explain a failure, without the tracebacks.

    pip's own ``ERROR:``/``WARNING:`` lines are kept (each once), and when pip-compile died with a
    traceback (pip-tools 7.6 does on an unresolvable requirement with pip 26) its final exception,
    without the module path. Failing those, the end of the output.
    """
    lines = output.splitlines()
    picked: list[str] = []
    for line in lines:
        text = line.strip()
        if text.startswith(("ERROR:", "Error:", "WARNING:")):
            picked.append(_RETRY_COUNTER.sub("", text))
    picked += _final_exception(lines)
    if not picked:
        return [line.strip() for line in lines if line.strip()][-20:]
    return list(dict.fromkeys(picked))


def _final_exception(lines: list[str]) -> list[str]:
    """The exception that ended the last traceback in ``lines`` (with its continuation lines)."""
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last):")]
    if not starts:
        return []
    after_frames = [line for line in lines[starts[-1] + 1 :] if line.strip()]
    for i, line in enumerate(after_frames):
        if not line[:1].isspace():
            first = _MODULE_PATH.sub("", line.strip())
            return [first, *textwrap.dedent("\n".join(after_frames[i + 1 :])).splitlines()]
    return []


def _failure_message(
    requirements_in: Path,
    requirements_txt: Path,
    completed: subprocess.CompletedProcess[str],
    resolver: Resolver = "pip-tools",
) -> str:
    said = "\n".join(_pip_error_lines(f"{completed.stdout}\n{completed.stderr}"))
    kept = (
        f"{requirements_txt} was left as it was" if requirements_txt.exists() else f"{requirements_txt} was not written"
    )
    return (
        f"Could not lock {requirements_in}: {_PROGRAMS[resolver]} exited with status {completed.returncode}."
        + (f"\n{_PROGRAMS[resolver]} said:{quote_output(said)}" if said else "")
        + f"\n{kept}. Fix or relax the requirement named above in {requirements_in.name} "
        "(or point the lock at an index that has it), then run "
        f"`{LOCK_COMMAND}` again."
    )


def lock_requirements(
    requirements_in: Path, requirements_txt: Path, index: PipIndex, resolver: Resolver = "pip-tools"
) -> LockResult:
    """Resolve ``requirements_in`` and write the hashed lock ``requirements_txt``.

    ``pip-tools`` resolves for this interpreter and platform; ``uv`` (``uv pip compile --universal``)
    writes one lock with environment markers, valid on every platform for this Python version and
    newer. Existing pins in ``requirements_txt`` are kept when they still satisfy the input (the
    resolver starts from a copy of it). Raises :class:`LockError` naming the input, and quoting the
    resolver, when resolution fails; the previous lock is then left unchanged.
    """
    requirements_in = Path(requirements_in)
    requirements_txt = Path(requirements_txt)
    text = _read_requirements_in(requirements_in)
    check_requirements_syntax(requirements_in, text)
    _check_can_lock(requirements_in, requirements_txt, resolver)
    header = LockHeader(
        input_name=_input_name(requirements_in, requirements_txt),
        input_sha256=requirements_sha256(text),
        resolved_with=_resolved_with(resolver),
    )
    if resolver == "uv":
        index = PipIndex.with_pip_environment(index, os.environ)
    body = _compile(requirements_in, requirements_txt, index, resolver, header)
    logger.info("Locked %s into %s (%d pins)", requirements_in, requirements_txt, count_pins(body))
    return LockResult(
        path=requirements_txt,
        input_sha256=header.input_sha256,
        pins=count_pins(body),
        python_version=_python_version(),
        platform=_platform(),
    )


def _check_can_lock(requirements_in: Path, requirements_txt: Path, resolver: Resolver) -> None:
    """The lock goes to another file than its input, in a folder that exists, and the resolver is installed."""
    if requirements_in.resolve() == requirements_txt.resolve():
        raise LockError(
            f"The lock file {requirements_txt} is the input itself: lock into another file "
            "(requirements.txt next to requirements.in)."
        )
    lock_dir = requirements_txt.parent
    if not lock_dir.is_dir():
        raise LockError(f"Cannot write {requirements_txt}: the folder {lock_dir} does not exist.")
    if resolver == "pip-tools" and importlib.util.find_spec("piptools") is None:
        raise LockError(
            f"pip-tools is not installed for {sys.executable}, so {requirements_in} cannot be locked: "
            "install it with `python -m pip install pip-tools==7.6.2` (a dependency of model-release)."
        )


def _resolved_with(resolver: Resolver) -> str:
    """What the header says the lock was resolved with, and for which interpreters and platforms."""
    if resolver == "pip-tools":
        return f"pip-tools for {_python_version()} on {_platform()}"
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return f"uv {_uv_version()} --universal for Python >= {python} on every platform"


def _compile(
    requirements_in: Path, requirements_txt: Path, index: PipIndex, resolver: Resolver, header: LockHeader
) -> str:
    """Run the resolver on a copy of the lock beside it, then move its output, under our header, over the lock.

    Until that rename the previous lock is left as it was. Returns the resolver's output.
    """
    try:
        with tempfile.TemporaryDirectory(dir=requirements_txt.parent, prefix=f".{requirements_txt.name}.") as tmp:
            compiled = Path(tmp) / requirements_txt.name
            if requirements_txt.exists():
                shutil.copyfile(requirements_txt, compiled)  # so the resolver keeps existing pins
            argv = (pip_compile_argv if resolver == "pip-tools" else uv_compile_argv)(
                requirements_in.name, compiled, index
            )
            completed = run(
                argv,
                what=f"lock {requirements_in} with {resolver}",
                cwd=requirements_in.parent,
                env={"CUSTOM_COMPILE_COMMAND": LOCK_COMMAND},
                check=False,
            )
            if completed.returncode != 0:
                message = _failure_message(requirements_in, requirements_txt, completed, resolver)
                unreachable = unreachable_indexes(index)
                if unreachable:
                    message += "\nThese indexes could not be reached: " + "; ".join(unreachable)
                raise LockError(message)
            body = compiled.read_text(encoding="utf-8")
            for warning in (line for line in body.splitlines() if line.startswith("# WARNING")):
                logger.warning("%s: %s", requirements_txt, redact(warning))
            staged = Path(tmp) / f"{requirements_txt.name}.new"
            staged.write_text(header.render() + body, encoding="utf-8")
            staged.replace(requirements_txt)  # atomic: same folder, same file system
    except OSError as exc:
        raise LockError(
            f"Cannot write {requirements_txt}: {exc.strerror or exc}. "
            f"The previous lock, if any, is unchanged; fix the folder's permissions or space and run "
            f"`{LOCK_COMMAND}` again."
        ) from exc
    return body


def check_requirements_lock(requirements_in: Path, requirements_txt: Path) -> None:
    """Raise :class:`StaleLockError` unless ``requirements_txt`` was locked from ``requirements_in``
    as it is now. Reads both files only: no network, no pip."""
    requirements_in = Path(requirements_in)
    requirements_txt = Path(requirements_txt)
    digest = requirements_sha256(_read_requirements_in(requirements_in))
    if not requirements_txt.exists():
        raise StaleLockError(f"The lock {requirements_txt} is missing ({requirements_in} has no lock). {_FIX}")
    lock_text = read_text_input(requirements_txt, "The lock", _FIX)
    header = parse_lock_header(lock_text)
    if header is None:
        raise StaleLockError(
            f"The lock {requirements_txt} has no model-release header, so it cannot be checked against "
            f"{requirements_in} (it was not written by `{LOCK_COMMAND}`, or its first lines were "
            f"edited). {_FIX}"
        )
    if header.input_sha256 != digest:
        raise StaleLockError(
            f"The lock {requirements_txt} is stale: the requirements in {requirements_in} changed "
            f"since it was locked (sha256 {header.input_sha256[:12]}… in the lock, {digest[:12]}… now). "
            f"{_FIX}"
        )
