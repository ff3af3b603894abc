"""The Hub a command talks to: the token, and the embedded Hub for ``endpoint = "local"``.

This is the one place that reads a token from the environment: ``HF_TOKEN`` (or
``HUGGING_FACE_HUB_TOKEN``), else the one ``hf auth login`` saved, else with ``HF_OIDC_RESOURCE`` set
one from the Hub's trusted publishing. A token is passed on, never printed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from release.config import Config
from release.errors import AuthError, ConfigError, UsageError
from release.hub_client import saved_token
from release.pipeline import local_hub

#: Where ``reproduce`` reads from when neither --endpoint, HF_ENDPOINT nor a configuration names a Hub.
DEFAULT_ENDPOINT = "https://huggingface.co"


def check_repo_ids(config: Config) -> None:
    """Refuse the placeholder repository id ``model-release init`` writes (``your-username/...``) for any Hub
    but the embedded one, which keeps accepting it for trying a release out. Reads nothing but ``config``."""
    if config.is_local_endpoint:
        return
    from release.scaffold import PLACEHOLDER_NAMESPACE  # the scaffold's: only for a Hub on the network

    keys = [("repo_id", config.repo_id)]
    keys += [(f"datasets[{i}].publish.repo_id", d.publish.repo_id) for i, d in enumerate(config.datasets) if d.publish]
    for key, repo_id in keys:
        namespace, _, name = repo_id.partition("/")
        if namespace == PLACEHOLDER_NAMESPACE:
            raise ConfigError(
                f"{config.path}: {key} = {repo_id!r} is the placeholder `model-release init` writes, and the "
                f"release goes to {config.endpoint}: set {key} to your Hub user or organisation "
                f'(e.g. {key} = "my-org/{name}"). Only the embedded Hub (endpoint = "local") accepts the '
                "placeholder. Nothing was staged or uploaded"
            )


def hub_token(config: Config) -> str | None:
    """The token to publish with: None for the embedded Hub (it makes its own), else :func:`require_token`."""
    return None if config.is_local_endpoint else require_token(config.endpoint)


def require_token(endpoint: str) -> str:
    """The token for a real Hub or mirror: with HF_OIDC_RESOURCE set, one from the Hub's trusted
    publishing (the CI job's OIDC token, exchanged); else HF_TOKEN, else the one `hf auth login` saved."""
    oidc = os.environ.get("HF_OIDC_RESOURCE")
    token = None if oidc else _environment_token()
    if not token:
        try:
            token = saved_token()  # with HF_OIDC_RESOURCE: the OIDC exchange, which raises rather than fall back
        except Exception as exc:  # OIDCError, or the exchange's HTTP error
            if not oidc:
                raise
            raise AuthError(
                f"trusted publishing (HF_OIDC_RESOURCE={oidc}) gave no token: {type(exc).__name__}: {exc}. "
                "Under GitHub Actions the job needs `permissions: id-token: write` and the Hub repository must "
                "trust the workflow; or unset HF_OIDC_RESOURCE and set HF_TOKEN. Nothing was staged or uploaded"
            ) from exc
    if not token:
        raise AuthError(
            f"no Hub token for {endpoint}: set HF_TOKEN (a token with write access, from "
            f"{endpoint}/settings/tokens) or run `hf auth login`; nothing was staged or uploaded"
        )
    return str(token)


def read_token() -> str | None:
    """A token to read with, if there is one (a public repository is read without)."""
    token = _environment_token()
    if not token:
        token = saved_token()
    return token or None


@contextmanager
def connect(config: Config, token: str | None, *, read_only: bool = False) -> Iterator[tuple[str, str]]:
    """(URL, token) of the configuration's Hub: the embedded one for ``endpoint = "local"``, run meanwhile.

    ``read_only`` (a dry run): a project without ``.hub`` yet gets an empty throwaway one.
    """
    if config.is_local_endpoint:
        with local_hub(config, read_only=read_only) as hub:
            yield hub
        return
    assert token is not None, "hub_token() gives a token for every Hub but the embedded one"
    yield config.endpoint, token


@contextmanager
def reading_hub(endpoint: str | None, config: Config | None) -> Iterator[tuple[str, str | None]]:
    """(URL, a token for it or None) to read a release from: ``endpoint`` (--endpoint, else HF_ENDPOINT),
    else the configuration's, else the Hugging Face Hub. ``"local"``: the project's embedded Hub."""
    if endpoint is None:
        endpoint = config.endpoint if config is not None else DEFAULT_ENDPOINT
    if endpoint != "local":
        yield endpoint.rstrip("/"), None
        return
    if config is None:
        raise UsageError(
            'endpoint "local" needs the project\'s release.toml (its .hub storage): run from the project '
            "or pass --config, or give the Hub's URL with --endpoint or HF_ENDPOINT"
        )
    with local_hub(config) as (url, token):
        yield url, token


def _environment_token() -> str | None:
    return os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
