"""Who may do what on the local Hub emulator: its tokens, how a request names one, and the access rules.

A :class:`Token` grants its role (``read`` or ``write``) over the namespace named like its user; the
development token :data:`DEV_TOKEN` writes every namespace and is accepted only by a server given no
tokens at all. The API (:mod:`release.hub.app`) and the web view (:mod:`release.hub.web`) both decide
reads with :func:`may_read`, so a page never shows a repo the API would hide. Nothing here knows about
HTTP answers: callers turn a refusal into their own status and message.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from release.errors import HubServerError
from release.hub.repo import Repo, RepoId, StorageError

#: Accepted (user "dev", write access to every namespace) only when a server is given no tokens.
DEV_TOKEN: Final[str] = "hf_local_dev_token"  # noqa: S105 (public by design)


@dataclass(frozen=True)
class Org:
    """An organisation: a namespace its members may read privately and write, as their own.

    ``private_by_default`` makes the repos created in it private unless the request says otherwise (an
    Enterprise Hub setting).
    """

    name: str
    fullname: str = ""
    private_by_default: bool = False


@dataclass(frozen=True)
class Token:
    """A token the emulator accepts. It grants ``role`` over the namespace ``user`` and those of its ``orgs``
    (or every namespace)."""

    user: str  # the whoami name, and the namespace the token may read privately and write
    value: str = field(repr=False)
    role: Literal["read", "write"] = "write"
    any_namespace: bool = False  # the dev token may write every namespace
    fullname: str = ""  # whoami's "fullname" (the user name when empty)
    orgs: tuple[Org, ...] = ()  # the organisations the user belongs to

    def acts_for(self, namespace: str) -> bool:
        """Whether the token speaks for ``namespace``: its user's, one of its orgs', or any (the dev token)."""
        folded = namespace.casefold()
        return (
            self.any_namespace or folded == self.user.casefold() or any(folded == o.name.casefold() for o in self.orgs)
        )


def parse_token_option(text: str) -> Token:
    """Parse a ``--token NAME:TOKEN`` option into a write token for namespace NAME."""
    user, separator, value = text.partition(":")
    if not separator:
        raise HubServerError("A --token option must look like NAME:TOKEN (no ':' found; the value is not shown)")
    if not value or any(char.isspace() for char in value):
        raise HubServerError(f"The --token option for user {user!r} has an empty token or one with whitespace")
    try:
        RepoId("model", user, "x")
    except StorageError as exc:
        raise HubServerError(
            f"The --token option names user {user!r}, which is not a valid namespace: "
            "use letters, digits, '.', '_' or '-'"
        ) from exc
    return Token(user=user, value=value, role="write")


def accepted_tokens(tokens: Sequence[Token]) -> tuple[Token, ...]:
    """The tokens a server accepts: ``tokens``, or the development token alone when there are none.

    Raises :class:`HubServerError` when two users were given the same token value.
    """
    if not tokens:
        return (Token(user="dev", value=DEV_TOKEN, role="write", any_namespace=True),)
    seen: dict[str, str] = {}
    for token in tokens:
        if token.value in seen:
            raise HubServerError(f"Users {seen[token.value]!r} and {token.user!r} were given the same token value")
        seen[token.value] = token.user
    return tuple(tokens)


def bearer_token(authorization: str, tokens: Sequence[Token]) -> Token | None:
    """The token an ``Authorization: Bearer <token>`` header value carries, if it is one of ``tokens``.

    None for any other scheme, an empty credential or an unknown token. Values are compared in constant time.
    """
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        return None
    given = credential.strip().encode()
    for token in tokens:
        if hmac.compare_digest(token.value.encode(), given):
            return token
    return None


def may_read(token: Token | None, repo: Repo) -> bool:
    """The one read rule: anyone may read a public repo; a private one needs a token of its namespace
    (its user's or one of its orgs', or every namespace). ``None`` is an anonymous caller."""
    return not repo.private or (token is not None and token.acts_for(repo.id.namespace))


def may_write(token: Token, namespace: str) -> bool:
    """The write rule: a write token of ``namespace`` (its user's or one of its orgs', or every namespace)."""
    return token.role == "write" and token.acts_for(namespace)
