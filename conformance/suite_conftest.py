"""Our stand-in for the suite's ``tests/conftest.py``, which huggingface_hub's sdist does not ship.

:mod:`conformance.run` writes this file into the extracted suite as ``tests/conftest.py``. It defines
what the suite's tests import or request from their conftest, written from how the tests use it: the
``api`` fixture (a client of the suite's staging endpoint, that is the emulator, with the suite's
token), the ``repo_factory`` fixture, a :class:`RepoFactory` that creates repos and deletes them
after the test, and ``new_repo_id``; and it resets the client's token caches before each test, so
that no test sees a token another one cached.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from typing import Any

import pytest
from huggingface_hub import HfApi
from huggingface_hub.hf_api import RepoUrl


def _constants() -> Any:
    return importlib.import_module("tests.testing_constants")


def _repo_name(prefix: str = "repo") -> str:
    return importlib.import_module("tests.testing_utils").repo_name(prefix=prefix)  # type: ignore[no-any-return]


class RepoFactory:
    """Create repos for one test (``repo_factory("dataset", repo_id=..., token=..., **create_repo_kwargs)``).

    A ``repo_id`` without a namespace goes in the namespace of the token's user; none at all gets a
    fresh name. Every repo created is deleted when the test ends.
    """

    def __init__(self, api: HfApi) -> None:
        self._api = api
        self._created: list[tuple[str, str, str | None]] = []

    def __call__(
        self, repo_type: str = "model", *, repo_id: str | None = None, token: str | None = None, **kwargs: Any
    ) -> RepoUrl:
        token = token or _constants().TOKEN
        name = repo_id or _repo_name()
        if "/" not in name:
            name = f"{self._api.whoami(token=token)['name']}/{name}"
        url = self._api.create_repo(repo_id=name, repo_type=repo_type, token=token, **kwargs)
        self._created.append((url.repo_id, repo_type, token))
        return url

    def delete_all(self) -> None:
        for repo_id, repo_type, token in reversed(self._created):
            with contextlib.suppress(Exception):  # a test may have deleted or moved it already
                self._api.delete_repo(repo_id=repo_id, repo_type=repo_type, token=token, missing_ok=True)


@pytest.fixture(scope="session")
def api() -> HfApi:
    """A client of the suite's staging endpoint (the emulator), with the suite's token (class fixtures use it)."""
    constants = _constants()
    return HfApi(endpoint=constants.ENDPOINT_STAGING, token=constants.TOKEN)


@pytest.fixture
def new_repo_id(api: HfApi) -> Iterator[str]:
    """A fresh repo id in the suite user's namespace, not created; deleted after the test if it was."""
    repo_id = f"{_constants().USER}/{_repo_name()}"
    yield repo_id
    with contextlib.suppress(Exception):
        api.delete_repo(repo_id=repo_id, missing_ok=True)


@pytest.fixture(autouse=True)
def _fresh_token_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client caches the token it resolved (OAuth refresh, OIDC) for the whole process: start each test empty."""
    from huggingface_hub.utils import _auth

    for name in ("_OAUTH_REFRESH_CACHE", "_OIDC_TOKEN_CACHE"):
        if hasattr(_auth, name):
            monkeypatch.setattr(_auth, name, None)


@pytest.fixture
def repo_factory(api: HfApi) -> Iterator[RepoFactory]:
    factory = RepoFactory(api)
    yield factory
    factory.delete_all()
