"""One rule for secrets in whatever model-release prints or writes: :func:`redact`.

The CLI passes everything it prints through it (a report, an error, a traceback), its log handler
carries a :class:`RedactingFilter`, and the job summary (:mod:`release.ci`) is redacted before it is
appended. :func:`redact` replaces with ``***``:

- the value of every known secret: the token model-release was given (each value :func:`remember`
  was called with) and the credentials in the environment (:data:`SECRET_VARIABLES`);
- anything shaped like a Hugging Face token (``hf_...``, ``api_org_...``);
- the user-info of a URL: ``scheme://user:password@host`` becomes ``scheme://***@host``;
- credentials in a query string: ``?token=``, ``access_token=``, ``password=``, ``sig=``, ``signature=``,
  ``X-Amz-Signature=`` and the like keep their name and lose their value.

Links written into release files (the card) drop the user-info altogether: :func:`public_url`.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping

#: Environment variables whose values are credentials: never printed, logged or written.
SECRET_VARIABLES = (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_OIDC_ID_TOKEN",
    "GITHUB_TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
)
#: A known secret shorter than this is not searched for: it would blank out ordinary words.
MIN_SECRET_LENGTH = 8

_HF_TOKEN = re.compile(r"\b(hf_|api_org_)[A-Za-z0-9]{20,}")
#: The user-info part of a URL (``user:password@`` or ``token@``), after ``scheme://``.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@'\"<>]+@")
_QUERY_CREDENTIAL = re.compile(
    r"(?P<name>[?&;](?:access_token|id_token|refresh_token|token|auth|authorization|password|passwd|pwd|secret"
    r"|client_secret|api_key|apikey|key|sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token"
    r"|x-goog-signature|x-goog-credential)=)[^&#\s'\"<>]+",
    re.IGNORECASE,
)

_remembered: set[str] = set()


def remember(secret: str | None) -> None:
    """Redact ``secret`` from now on, wherever it appears (the token a command was given)."""
    if secret and len(secret) >= MIN_SECRET_LENGTH:
        _remembered.add(secret)


def secrets_of(env: Mapping[str, str]) -> tuple[str, ...]:
    """The credential values in ``env`` that nothing may print or write."""
    return tuple(sorted({env[name] for name in SECRET_VARIABLES if len(env.get(name, "")) >= MIN_SECRET_LENGTH}))


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without ``secrets``, the remembered and environment secrets, tokens, URL user-info and
    query-string credentials (each replaced with ``***``)."""
    known = {*secrets, *_remembered, *secrets_of(os.environ)}
    for secret in sorted(known, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    text = _HF_TOKEN.sub(r"\1***", text)
    text = _URL_USERINFO.sub(r"\g<scheme>***@", text)
    return _QUERY_CREDENTIAL.sub(r"\g<name>***", text)


def public_url(url: str) -> str:
    """``url`` without user-info (``https://user:pw@host/x`` -> ``https://host/x``), for links written into files."""
    return _URL_USERINFO.sub(r"\g<scheme>", url)


class RedactingFilter(logging.Filter):
    """A log handler's filter: the record's message, and its exception's traceback, pass through :func:`redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


__all__ = ["SECRET_VARIABLES", "RedactingFilter", "public_url", "redact", "remember", "secrets_of"]
