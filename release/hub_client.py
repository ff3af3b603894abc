"""The one way model-release talks to a Hub: the ``huggingface_hub`` client, and its failures in our words.

:mod:`release.publish` and :mod:`release.reproduce` build their client with :func:`connect` and
turn the client's failures into our errors with :func:`hub_errors` (every transport and HTTP
failure) and :func:`http_status` (the status of one ``HfHubHTTPError``, for the few a caller
handles itself: a moved branch, a tag taken meanwhile). Messages name the endpoint, the repository
and the server's own words; never a token.

``huggingface_hub`` is imported only inside these functions: commands that do not talk to a Hub
(checksum, card, lock) never import it.

Uploads always use the LFS protocol (Xet off): every file is sent with a sha256 the server checks,
and the same code path works against the Hub, a mirror and the local emulator, which speaks only
LFS. huggingface_hub 2.4 has no per-call or per-client switch for this: ``create_commit`` and
``preupload_lfs_files`` upload through ``_commit_api._upload_files``, which uses Xet whenever
``utils.is_xet_available()``, and that reads ``constants.HF_HUB_DISABLE_XET``, a module global
the library sets from the environment variable of that name when it is first imported. So the one
process-level setting is that variable, scoped to the import: the first function of this module
that needs huggingface_hub sets it, imports the library, and puts the environment back as it was
(nothing else, child processes included, sees it). The library's constants are never written.
For this to hold, nothing in model-release imports huggingface_hub before this module has: the
token ``hf auth login`` saved is read with :func:`saved_token`.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from release import __version__
from release.errors import AuthError, PublishError, ReleaseError
from release.redaction import redact, remember

if TYPE_CHECKING:
    from httpx2 import Response
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

LIBRARY_NAME = "model-release"
#: The environment variable huggingface_hub reads, once, when it is imported (see the module docstring).
XET_SWITCH = "HF_HUB_DISABLE_XET"
#: How much of what a server says our messages quote (:func:`server_words`).
SERVER_WORDS_LIMIT = 500
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def connect(endpoint: str, token: str | None, *, uploads: bool = False) -> HfApi:
    """A client for the Hub at ``endpoint`` with ``token`` (None: anonymous, not the token ``hf auth login`` saved).

    With ``uploads``, raises :class:`PublishError` when the client would upload with Xet: something
    imported huggingface_hub before this module could turn Xet off, and the environment does not.
    """
    remember(token)  # never printed, logged or written from here on
    _import_without_xet()
    from huggingface_hub import HfApi, constants

    if uploads and not constants.HF_HUB_DISABLE_XET:
        raise PublishError(
            "huggingface_hub was imported with Xet uploads on before model-release could turn them off; "
            f"model-release uploads only through LFS: set {XET_SWITCH}=1 in the environment and run again"
        )
    return HfApi(endpoint=endpoint, token=token or False, library_name=LIBRARY_NAME, library_version=__version__)


def post_json(endpoint: str, token: str | None, path: str, body: Mapping[str, Any]) -> Response:
    """POST ``body`` as JSON to ``endpoint + path`` with the client's session and headers (user agent, token)."""
    remember(token)
    _import_without_xet()
    from huggingface_hub import get_session
    from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]  # public, lazily exported

    headers = build_hf_headers(token=token or False, library_name=LIBRARY_NAME, library_version=__version__)
    return get_session().post(f"{endpoint}{path}", json=dict(body), headers=headers)


def get_json(endpoint: str, token: str | None, path: str) -> Any:
    """GET ``endpoint + path`` with the client's session and headers; the JSON answer, or the client's
    ``HfHubHTTPError`` (as ``HfApi`` raises it) for an error status."""
    remember(token)
    _import_without_xet()
    from huggingface_hub import get_session
    from huggingface_hub.utils import build_hf_headers, hf_raise_for_status  # type: ignore[attr-defined]

    headers = build_hf_headers(token=token or False, library_name=LIBRARY_NAME, library_version=__version__)
    response = get_session().get(f"{endpoint}{path}", headers=headers)
    hf_raise_for_status(response)
    return response.json()


def _import_without_xet() -> None:
    """Import huggingface_hub for the first time with Xet off, then restore the environment."""
    if "huggingface_hub" in sys.modules:
        return
    previous = os.environ.get(XET_SWITCH)
    os.environ[XET_SWITCH] = "1"
    try:
        import huggingface_hub.constants  # noqa: F401  # reads HF_HUB_DISABLE_XET now, and never again
    finally:
        if previous is None:
            del os.environ[XET_SWITCH]
        else:
            os.environ[XET_SWITCH] = previous


def saved_token() -> str | None:
    """The token huggingface_hub finds by itself: ``HF_TOKEN``, the one ``hf auth login`` saved, or, with
    ``HF_OIDC_RESOURCE``, one from the Hub's trusted publishing (which raises rather than fall back)."""
    _import_without_xet()
    from huggingface_hub import get_token

    token = get_token()
    remember(token)
    return token


def whoami(api: HfApi, endpoint: str) -> str:
    """The name of the token's user; :class:`AuthError` when the Hub rejects the token."""
    _import_without_xet()
    from huggingface_hub.errors import HfHubHTTPError

    try:
        info = api.whoami()
    except HfHubHTTPError as exc:
        status = http_status(exc)
        if status in (401, 403):
            raise AuthError(
                f"the Hub at {endpoint} rejected the token (HTTP {status}): create a token with write "
                f"access at {endpoint}/settings/tokens and set HF_TOKEN"
            ) from None
        raise
    return str(info.get("name", "?"))


def http_status(exc: HfHubHTTPError) -> int | None:
    """The HTTP status the Hub answered with (None when the error carries no response)."""
    return int(exc.response.status_code) if exc.response is not None else None


def server_detail(exc: HfHubHTTPError) -> str:
    """What the Hub said about the failure: its own message, else the first line of the client's."""
    return server_words(exc.server_message or str(exc).splitlines()[0])


def server_words(text: str, limit: int = SERVER_WORDS_LIMIT) -> str:
    """What a server said (an ``X-Error-Message``, an error body), fit to quote in our messages.

    A server is not trusted with the terminal: control characters and line breaks become spaces, the
    text is cut at ``limit`` characters, and it is redacted like everything else we print
    (:func:`release.redaction.redact`): a server that echoes the token or a signed link shows neither.
    """
    flat = redact(" ".join(_CONTROLS.sub(" ", text).split()))  # before the cut, which could halve a secret
    return flat if len(flat) <= limit else flat[:limit] + " [cut]"


@contextmanager
def hub_errors(
    endpoint: str, repo_id: str, error: type[ReleaseError] = PublishError, outcome: str = ""
) -> Iterator[None]:
    """Turn the client's failures inside the block into ``error``, naming the endpoint and the repository.

    A Hub out of reach; a refused request, with its status and the server's words; an upload that
    ``create_commit`` wrapped in ``RuntimeError`` (naming the file), before any commit was made.
    ``outcome``, when given, says what any failure leaves behind ("nothing was built").
    """
    _import_without_xet()  # before anything else imports huggingface_hub
    from httpx2 import TransportError
    from huggingface_hub.errors import HfHubHTTPError

    tail = f"; {outcome}" if outcome else ""
    try:
        yield
    except RuntimeError as exc:  # "Error while uploading '<path>' to the Hub." from the HTTP or transport error
        cause = exc.__cause__
        if not isinstance(cause, HfHubHTTPError | TransportError):
            raise
        detail = server_detail(cause) if isinstance(cause, HfHubHTTPError) else server_words(str(cause))
        raise error(
            f"{exc} ({detail}); nothing was committed to {repo_id}. If the file changed after staging, "
            f"run the release again{tail}"
        ) from exc
    except TransportError as exc:
        raise error(f"cannot reach the Hub at {endpoint}: {server_words(str(exc))}{tail}") from exc
    except HfHubHTTPError as exc:
        status = http_status(exc)
        detail = server_detail(exc)
        if status == 412:
            detail = "the branch moved meanwhile (another commit landed first); run again"
        raise error(
            f"the Hub at {endpoint} refused a request for {repo_id} (HTTP {status or '?'}): {detail}{tail}"
        ) from exc
