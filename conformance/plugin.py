"""Our pytest plugin for huggingface_hub's test suite: it points the suite at a fresh Hub emulator.

Loaded with ``-p conformance.plugin`` (see :mod:`conformance.run`). In each process that runs tests it
binds the emulator's socket, sets the client's environment (``HF_ENDPOINT``, Xet off, a scratch
``HF_HOME``) before the suite imports huggingface_hub, starts :class:`release.hub.server.HubServer` with
the suite's users and tokens, and patches the suite's ``tests/testing_constants.py`` so that its staging
endpoint is the emulator. A guard refuses every connection to a host that is not the loopback one, and
fails the test that tried, so no test reaches huggingface.co or hub-ci. It skips what the skip list
names, and the process that reports (the only one, or xdist's controller) tallies the outcomes per file.
"""

from __future__ import annotations

import importlib
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, Final

import pytest

from conformance.results import Outcome, combine, markdown_table, phase_outcome, results_document, summary_line, tally
from conformance.sdist import ConformanceError
from conformance.skips import SkipList, load_skips

LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})
#: The organisation the suite's whoami test expects its user in, as on the Hub's CI (name, full name).
_USER_ORG: Final = ("valid_org_hub", "Dummy Hub Org")

_skips_key = pytest.StashKey[SkipList]()
_outcomes_key = pytest.StashKey[dict[str, Outcome]]()
_messages_key = pytest.StashKey[dict[str, str]]()
_cleanup_key = pytest.StashKey[list[Callable[[], None]]]()


class NetworkGuardError(Exception):
    """A test tried to reach a host other than the emulator's (not an OSError: no client retries it)."""


_guard_hits: list[str] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "huggingface_hub's suite against the Hub emulator")
    group.addoption("--conformance-skips", type=Path, required=True, help="the skip list (conformance/skips.toml)")
    group.addoption("--conformance-results", type=Path, default=None, help="write the per-file table here")
    group.addoption("--conformance-failures", type=Path, default=None, help="write failing node ids here")


def _is_worker() -> bool:
    return "PYTEST_XDIST_WORKER" in os.environ  # set by pytest-xdist before a worker parses its options


def _is_xdist_controller(config: pytest.Config) -> bool:
    return bool(getattr(config.known_args_namespace, "numprocesses", None)) and not _is_worker()


def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Before the suite's conftest imports huggingface_hub: the skip list, the environment, the emulator.

    After pytest-env (its hook runs first) has applied the suite's settings, before pytest imports conftests.
    """
    config = early_config
    try:
        config.stash[_skips_key] = load_skips(config.known_args_namespace.conformance_skips)
    except ConformanceError as exc:
        raise pytest.UsageError(str(exc)) from exc
    config.stash[_outcomes_key] = {}
    config.stash[_messages_key] = {}
    config.stash[_cleanup_key] = []
    if not _is_xdist_controller(config):
        _start_emulator(config)


def pytest_configure(config: pytest.Config) -> None:
    # pytest-vcr is not installed: its recorded cassettes are of production (the skip list covers them).
    config.addinivalue_line("markers", "vcr: replays recorded HTTP cassettes (pytest-vcr, not installed)")


def pytest_unconfigure(config: pytest.Config) -> None:
    cleanups: list[Callable[[], None]] = config.stash.get(_cleanup_key, [])
    for cleanup in reversed(cleanups):
        cleanup()


def _start_emulator(config: pytest.Config) -> None:
    """Bind, set the client's environment, import the suite's constants, serve them to the emulator."""
    scratch = Path(tempfile.mkdtemp(prefix="hub-conformance-"))
    config.stash[_cleanup_key].append(lambda: shutil.rmtree(scratch, ignore_errors=True))
    sock = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    _set_client_environment(url, scratch)
    if "huggingface_hub" in sys.modules:
        raise pytest.UsageError("huggingface_hub was imported before the conformance plugin set HF_ENDPOINT")
    sys.path.insert(0, str(config.rootpath))  # the suite's `tests` package, before any other `tests`
    constants = _patch_suite_constants(url)
    from huggingface_hub import constants as client_constants

    from release.hub.auth import Org
    from release.hub.server import HubServer, Token

    if url != client_constants.ENDPOINT:
        raise pytest.UsageError(f"huggingface_hub's ENDPOINT is {client_constants.ENDPOINT}, not the emulator {url}")
    enterprise = Org(constants.ENTERPRISE_ORG, private_by_default=True)  # an Enterprise Hub org
    tokens = [
        Token(user=constants.USER, value=constants.TOKEN, fullname=constants.FULL_NAME, orgs=(Org(*_USER_ORG),)),
        Token(user=constants.OTHER_USER, value=constants.OTHER_TOKEN),
        Token(user=constants.ENTERPRISE_USER, value=constants.ENTERPRISE_TOKEN, orgs=(enterprise,)),
    ]
    server = HubServer(scratch / "hub", tokens, sock=sock).start()
    config.stash[_cleanup_key].append(server.stop)
    _install_network_guard(config)


def _set_client_environment(url: str, scratch: Path) -> None:
    os.environ.pop("HUGGINGFACE_CO_STAGING", None)  # the suite's pytest-env sets it; it forces hub-ci
    os.environ.update(
        {
            "HF_ENDPOINT": url,
            "HF_HUB_DISABLE_XET": "1",
            "HF_HOME": str(scratch / "hf-home"),
            "NO_COLOR": "1",  # the suite's CLI output tests compare plain text
            "HF_TOKEN": "",
            "HUGGING_FACE_HUB_TOKEN": "",
        }
    )


def _patch_suite_constants(url: str) -> Any:
    """The suite's ``tests.testing_constants``, its staging endpoint set to ``url``."""
    constants: Any = importlib.import_module("tests.testing_constants")  # the suite's, from config.rootpath
    constants.ENDPOINT_STAGING = url
    return constants


def _install_network_guard(config: pytest.Config) -> None:
    real_getaddrinfo = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in LOOPBACK_HOSTS:
            _guard_hits.append(name)
            raise NetworkGuardError(f"conformance guard: this test tried to reach {name}; only the emulator is allowed")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.getaddrinfo = guarded
    config.stash[_cleanup_key].append(lambda: setattr(socket, "getaddrinfo", real_getaddrinfo))


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Files the skip list names whole are not imported at all (many need what only they use)."""
    try:
        relative = collection_path.relative_to(config.rootpath).as_posix()
    except ValueError:
        return None
    return True if relative in config.stash[_skips_key].whole_files() else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skips = config.stash[_skips_key]
    for item in items:
        reason = skips.reason_for(item.nodeid, (mark.name for mark in item.iter_markers()))
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=f"out of scope: {reason}"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """A test that tried to leave the loopback host fails, even when the client swallowed the guard's error."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if _guard_hits:
        hosts = sorted(set(_guard_hits))
        _guard_hits.clear()
        if report.passed or report.skipped:
            report.outcome = "failed"
            report.longrepr = (
                f"conformance guard: the test tried to reach {', '.join(hosts)} (only loopback is allowed)"
            )


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    config = _reporting_config
    if config is None or _is_worker():
        return
    outcomes = config.stash[_outcomes_key]
    phase = phase_outcome(report.when, report.outcome)
    outcomes[report.nodeid] = combine(outcomes.get(report.nodeid), phase)
    if phase in ("failed", "error"):
        config.stash[_messages_key].setdefault(report.nodeid, _headline(report))


def pytest_collectreport(report: pytest.CollectReport) -> None:
    config = _reporting_config
    if config is None or _is_worker() or not report.failed:
        return
    config.stash[_outcomes_key][report.nodeid] = "error"
    config.stash[_messages_key][report.nodeid] = _headline(report)


def _headline(report: pytest.TestReport | pytest.CollectReport) -> str:
    """The first line of what went wrong (the exception's message, else the report's last line)."""
    crash = getattr(report.longrepr, "reprcrash", None)
    text = str(getattr(crash, "message", "") or report.longreprtext).strip()
    lines = text.splitlines() if crash is not None else text.splitlines()[-1:]
    return lines[0][:300] if lines else ""


_reporting_config: pytest.Config | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    global _reporting_config
    _reporting_config = session.config


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if _is_worker():
        return
    outcomes: dict[str, Outcome] = config.stash[_outcomes_key]
    results = tally(outcomes)
    terminalreporter.section("conformance with huggingface_hub's tests")
    terminalreporter.write(markdown_table(results))
    terminalreporter.write_line(summary_line(results))
    path: Path | None = config.getoption("conformance_results")
    if path is not None:
        import huggingface_hub

        version = huggingface_hub.__version__
        not_collected = config.stash[_skips_key].whole_files()
        document = results_document(results, not_collected, version=version, command="nox -s conformance")
        path.write_text(document, encoding="utf-8")
        terminalreporter.write_line(f"wrote {path}")
    failures: Path | None = config.getoption("conformance_failures")
    if failures is not None:
        messages = config.stash[_messages_key]
        lines = [
            f"{outcome}\t{nodeid}\t{messages.get(nodeid, '')}"
            for nodeid, outcome in sorted(config.stash[_outcomes_key].items())
            if outcome in ("failed", "error")
        ]
        failures.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        terminalreporter.write_line(f"wrote {failures}")
