"""The checks the Hub would make on a release, made before anything is uploaded to any repository.

A release publishes several repositories (each published dataset's, then the model's). Whatever the
Hub would refuse in one of them must stop the release before the first is touched: a file name it
does not take (:mod:`release.repo_paths`), card metadata it refuses (``POST /api/validate-yaml`` on a
Hub on another machine), a token that may only read. :func:`release.publish.check_before_upload`
runs them all over every repository of a release.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from release.errors import CardProblem, CardValidationError, PublishError
from release.hub_client import connect, hub_errors, post_json, server_words

if TYPE_CHECKING:
    from release.publish_plan import PublishTarget

log = logging.getLogger(__name__)


def is_remote_hub(endpoint: str) -> bool:
    """Whether ``endpoint`` is a Hub on another machine: not ``local``, not loopback (127.0.0.0/8, ::1, localhost).

    The online card check runs only against such a Hub: the local emulator checks only that the
    metadata is YAML, which the offline schema check already covers.
    """
    if endpoint == "local":
        return False
    host = urlsplit(endpoint).hostname
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name
        return True


def validate_card_online(target: PublishTarget, card_text: str, repo_type: str | None = None) -> tuple[str, ...]:
    """Ask the Hub's ``POST /api/validate-yaml`` whether it accepts the card's metadata; before any upload.

    The same check ``huggingface_hub`` makes when a commit adds a README.md, made up front so a
    card the Hub would refuse stops the release before anything is hashed or sent. Raises
    :class:`CardValidationError` with the Hub's messages when it refuses the card; returns its
    warnings otherwise. Transport and HTTP failures become :class:`PublishError`.
    """
    kind = repo_type or target.repo_type
    url = f"{target.endpoint}/api/validate-yaml"
    with hub_errors(target.endpoint, target.repo_id):
        response = post_json(
            target.endpoint, target.token, "/api/validate-yaml", {"content": card_text, "repoType": kind}
        )
        body = _json_object(response)
        if response.status_code == 400:
            messages = [server_words(str(e.get("message", e))) for e in body.get("errors", []) if isinstance(e, dict)]
            said = messages or [server_words(response.text) or "refused"]
            problems = [CardProblem("README.md", m, url) for m in said]
            raise CardValidationError(
                problems,
                hint=f"The Hub at {target.endpoint} refused the card's metadata; nothing was uploaded.",
                what=f"the {kind} card, as the Hub sees it",
            )
        from huggingface_hub import hf_raise_for_status

        hf_raise_for_status(response)
    warnings = tuple(server_words(str(w.get("message", w))) for w in body.get("warnings", []) if isinstance(w, dict))
    for warning in warnings:
        log.warning("the Hub at %s about the card: %s", target.endpoint, warning)
    return warnings


def _json_object(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def check_token_writes(targets: Sequence[PublishTarget]) -> None:
    """Raise :class:`PublishError` when the Hub says the token of ``targets`` may only read.

    One ``whoami`` per token. Only a role of ``read`` is refused here: which namespaces a token may
    write to (its user's, its organisations', a fine-grained token's list) the Hub alone decides.
    """
    seen: dict[str, list[str]] = {}
    for target in targets:
        seen.setdefault(target.token, []).append(target.repo_id)
    for token, repos in seen.items():
        first = next(t for t in targets if t.token == token)
        with hub_errors(first.endpoint, first.repo_id):
            info = connect(first.endpoint, token).whoami()
        role = _token_role(info)
        if role == "read":
            raise PublishError(
                f"the token for {', '.join(repos)} may only read (the Hub at {first.endpoint} says its role is "
                f"'read'): create a token with write access at {first.endpoint}/settings/tokens and set HF_TOKEN; "
                "nothing was uploaded"
            )


def _token_role(info: dict[str, Any]) -> str | None:
    auth = info.get("auth")
    token = auth.get("accessToken") if isinstance(auth, dict) else None
    role = token.get("role") if isinstance(token, dict) else None
    return role if isinstance(role, str) else None


__all__ = ["check_token_writes", "is_remote_hub", "validate_card_online"]
