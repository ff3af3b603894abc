"""A local Hugging Face Hub emulator: enough of the Hub's HTTP API for huggingface_hub 2.4.0 (LFS, no Xet).

Start it with ``HubServer(storage_dir, tokens)`` (tests) or ``serve(...)`` (the ``hub serve`` command), then
point the client at it with ``HF_ENDPOINT`` and ``HF_HUB_DISABLE_XET=1``.
"""

from release.hub.auth import DEV_TOKEN, Org, Token, parse_token_option
from release.hub.calls import PageSizes
from release.hub.lfs import Multipart
from release.hub.repo import CommitLimits
from release.hub.server import HubServer, serve

__all__ = [
    "DEV_TOKEN",
    "CommitLimits",
    "HubServer",
    "Multipart",
    "Org",
    "PageSizes",
    "Token",
    "parse_token_option",
    "serve",
]
