"""The one place model-release starts external programs.

:func:`run` spawns a program, captures its output as text and turns the ways it can fail
(program missing, not executable, timed out, non-zero exit) into a :class:`ProcessError` whose
message says what was being done and what to do next. Messages and log lines never carry
credentials: commands and output quoted pass through :func:`release.redaction.redact`
(``scheme://user:password@host`` becomes ``scheme://***@host``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from release.errors import ProcessError  # re-exported: callers of run() catch it from here
from release.redaction import redact

__all__ = ["ProcessError", "format_command", "quote_output", "run"]

logger = logging.getLogger(__name__)

#: How many trailing lines of a failed program's error output a message quotes.
_TAIL_LINES = 20


def format_command(argv: Sequence[str]) -> str:
    """A shell-quoted, credential-free rendering of ``argv`` for messages and logs."""
    return redact(shlex.join(argv))


def run(
    argv: Sequence[str],
    *,
    what: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float | None = None,
    install_hint: str = "",
    replace_env: bool = False,
    timeout_hint: str = "Check the network or the index it reads, then try again.",
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to completion and return its exit code, stdout and stderr (decoded as UTF-8).

    ``what`` says what the program is run for ("lock requirements.in with pip-compile"); every
    error message starts from it. ``env`` holds variables set on top of this process's own
    environment. Standard input is closed. With ``check`` (the default) a non-zero exit raises
    :class:`ProcessError` quoting the end of the program's error output; without it the caller
    reads ``returncode`` and reports the failure in its own terms. ``install_hint`` completes
    the "Program X not found" message ("install it with: apt-get install git"). With ``replace_env``,
    ``env`` is the program's whole environment instead (for a program that must not inherit credentials).
    ``timeout_hint`` ends the message when ``timeout`` runs out.
    """
    if not argv:
        raise ValueError("run() needs a program to run: argv is empty")
    command = format_command(argv)
    if cwd is not None and not cwd.is_dir():
        raise ProcessError(f"Cannot {what}: the working directory {cwd} does not exist.")
    child_env = (dict(env) if replace_env else {**os.environ, **env}) if env is not None else None
    logger.debug("Running %s (to %s)%s", command, what, f" in {cwd}" if cwd is not None else "")
    try:
        completed = _run_group(argv, cwd, child_env, timeout)
    except FileNotFoundError as exc:
        hint = f": {install_hint}" if install_hint else ": install it, or put it on PATH"
        raise ProcessError(f"Program {argv[0]!r} not found (needed to {what}){hint}.") from exc
    except PermissionError as exc:
        raise ProcessError(
            f"Program {argv[0]!r} cannot be executed (needed to {what}): "
            "check that it is an executable file you may run."
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise ProcessError(
            f"Gave up after {timeout:g} s trying to {what}: `{command}` did not finish. {timeout_hint}"
        ) from exc
    if check and completed.returncode != 0:
        raise ProcessError(
            f"Could not {what}: `{command}` exited with status {completed.returncode}."
            + quote_output(completed.stderr or completed.stdout)
        )
    return completed


def _run_group(
    argv: Sequence[str], cwd: Path | None, env: Mapping[str, str] | None, timeout: float | None
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in a process group of its own: when it times out (or we are interrupted), the whole
    group is killed, so a child it started cannot keep its output pipes, and so this call, open."""
    with subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
    return subprocess.CompletedProcess(list(argv), process.returncode, stdout, stderr)


def quote_output(output: str, limit: int = _TAIL_LINES) -> str:
    """The last ``limit`` non-blank lines of ``output``, indented under a newline, credential-free."""
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    if not lines:
        return ""
    return "\n" + "\n".join(f"  {redact(line)}" for line in lines[-limit:])
