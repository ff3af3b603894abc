"""Test isolation and shared fixtures.

Everything that ``huggingface_hub`` reads once at import time is set here, before any test module
imports it: a private HOME/HF_HOME/XDG_CACHE_HOME, Xet off, telemetry off, and ``HF_ENDPOINT``
pointing at the session's local Hub emulator, whose loopback socket is bound right now so the
port is known before the client is imported and cannot be taken by anyone else.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conda_channel import conda_channel, conda_pip_index  # noqa: F401  (session fixtures: a conda channel, a pip index)
from wheelhouse import wheelhouse  # noqa: F401  (a session fixture: tiny real wheels for pip)

_SESSION_ROOT = Path(tempfile.mkdtemp(prefix="model-release-tests-"))
for _var, _sub in (("HOME", "home"), ("HF_HOME", "hf-home"), ("XDG_CACHE_HOME", "cache")):
    (_SESSION_ROOT / _sub).mkdir()
    os.environ[_var] = str(_SESSION_ROOT / _sub)
os.environ["HF_HUB_DISABLE_XET"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
os.environ.pop("HF_TOKEN", None)
os.environ.pop("HUGGING_FACE_HUB_TOKEN", None)
os.environ.pop("HF_OIDC_RESOURCE", None)
# A CI tag build would set the version of every config the tests write (release.config.version_from_ci).
os.environ.pop("GITHUB_REF_TYPE", None)
os.environ.pop("GITHUB_REF_NAME", None)
# Under GitHub Actions, commands the tests run would append to the job's real summary and log plain progress.
os.environ.pop("GITHUB_ACTIONS", None)
os.environ.pop("GITHUB_STEP_SUMMARY", None)
os.environ.pop("MODEL_RELEASE_SPEC", None)
# pip must see only what a test gives it: no machine-wide config, index or find-links.
for _var in [v for v in os.environ if v.startswith(("PIP_", "UV_"))]:
    del os.environ[_var]
os.environ["PIP_CONFIG_FILE"] = os.devnull
os.environ["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"

_HUB_SOCKET = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
_HUB_SOCKET.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
_HUB_SOCKET.bind(("127.0.0.1", 0))
HUB_URL = f"http://127.0.0.1:{_HUB_SOCKET.getsockname()[1]}"
os.environ["HF_ENDPOINT"] = HUB_URL

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Tokens the session Hub accepts: one writer per namespace, and a read-only one.
WRITE_TOKEN = "hf_test_alice_write"
OTHER_WRITE_TOKEN = "hf_test_bob_write"
READ_TOKEN = "hf_test_alice_read"


@dataclass(frozen=True)
class RunningHub:
    url: str
    storage: Path
    token: str  # write access to namespace "alice"
    other_token: str  # write access to namespace "bob"
    read_token: str  # read-only access for user "alice"
    storage_url: str  # the storage origin LFS downloads are redirected to


@pytest.fixture(scope="session")
def hub() -> Iterator[RunningHub]:
    """The local Hub emulator, on loopback, for the whole session (HF_ENDPOINT points at it)."""
    from release.hub.server import HubServer, Token

    storage = _SESSION_ROOT / "hub-storage"
    tokens = [
        Token(user="alice", value=WRITE_TOKEN, role="write"),
        Token(user="bob", value=OTHER_WRITE_TOKEN, role="write"),
        Token(user="alice", value=READ_TOKEN, role="read"),
    ]
    with HubServer(storage, tokens, sock=_HUB_SOCKET) as server:
        yield RunningHub(HUB_URL, storage, WRITE_TOKEN, OTHER_WRITE_TOKEN, READ_TOKEN, server.storage_url)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _HUB_SOCKET.close()  # already closed by the server when the hub fixture ran
    shutil.rmtree(_SESSION_ROOT, ignore_errors=True)
