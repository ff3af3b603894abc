"""``verify DIR`` or ``verify REPO[@REV]``: a signed release's signature, checked against what the user trusts.

A folder (a staged tree, a download) is checked as it is. A release on the Hub is downloaded (its
manifest, every file the manifest lists, its signature) into a throwaway folder and checked there:
nothing is installed or run.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from release.config import Config
from release.errors import ReproduceError, StageError
from release.hub_client import connect, hub_errors
from release.reproduce import ReproduceTarget, parse_target, resolve_revision
from release.signing import TrustPolicy, Verified, signature_error, verify_tree
from release.stage import RELEASE_MANIFEST, ReleaseManifest
from release.workflow.hub import read_token, reading_hub
from release.workflow.report import JsonObject, detail_lines, text_of


@dataclass(frozen=True)
class VerifyRequest:
    target: str  # a folder, or REPO[@REV]
    trust: TrustPolicy
    repo_type: Literal["model", "dataset"] = "model"
    endpoint: str | None = None  # --endpoint, else HF_ENDPOINT; None: the configuration's, else the Hub


@dataclass(frozen=True)
class SignatureVerified:
    """Every file of the release is what its signer signed."""

    target: str  # the folder, or REPO@REV (commit)
    verified: Verified
    command: ClassVar[str] = "verify"
    exit_code: ClassVar[int] = 0

    @property
    def message(self) -> str:
        return f"{self.target}: signed by {self.verified.signer}; its {self.verified.files} files are as signed"

    def to_json(self) -> JsonObject:
        return {
            "command": self.command,
            "target": self.target,
            "signer": self.verified.signer,
            "files": self.verified.files,
            "message": self.message,
        }

    def text(self) -> str:
        return text_of(self.message, detail_lines([("signer", self.verified.signer), ("files", self.verified.files)]))


def verify(request: VerifyRequest, config: Config | None) -> SignatureVerified:
    """A folder when ``request.target`` is one, else a release on the Hub; :class:`SignatureError` if refused."""
    folder = Path(request.target)
    if folder.is_dir():
        return SignatureVerified(str(folder), verify_tree(folder, request.trust))
    repo_id, revision = parse_target(request.target)
    with reading_hub(request.endpoint, config) as (endpoint, hub_token):
        target = ReproduceTarget(endpoint, repo_id, request.repo_type, revision, hub_token or read_token())
        with tempfile.TemporaryDirectory(prefix="model-release-verify-") as scratch:
            name, tree = _download_release(target, Path(scratch) / "release")
            return SignatureVerified(name, verify_tree(tree, request.trust))


def _download_release(target: ReproduceTarget, into: Path) -> tuple[str, Path]:
    """Every file of the release at its revision, its manifest and its signature, into ``into``."""
    with hub_errors(target.endpoint, target.repo_id, ReproduceError, "nothing was verified"):
        api = connect(target.endpoint, target.token)
        revision = resolve_revision(api, target)
        name = f"{target.repo_id}@{revision.requested} (commit {revision.commit})"

        def download(path: str) -> Path:
            return Path(
                api.hf_hub_download(
                    target.repo_id, path, repo_type=target.repo_type, revision=revision.commit, local_dir=into
                )
            )

        files = set(api.list_repo_files(target.repo_id, repo_type=target.repo_type, revision=revision.commit))
        if RELEASE_MANIFEST not in files:
            raise signature_error("unsigned", f"{name} has no {RELEASE_MANIFEST}: it was not released signed")
        try:
            manifest = ReleaseManifest.from_json(download(RELEASE_MANIFEST).read_text(encoding="utf-8"), name)
        except StageError as exc:
            raise ReproduceError(str(exc)) from exc
        if manifest.signature is None or manifest.signature.path not in files:
            raise signature_error("unsigned", f"{name} is not signed (no signature in its {RELEASE_MANIFEST})")
        for path in [manifest.signature.path, *(e.path for e in manifest.files)]:
            download(path)
    shutil.rmtree(into / ".cache", ignore_errors=True)  # the client's bookkeeping, not a file of the release
    return name, into
