"""Signed releases: the release tree signed with OpenSSF model-signing, and checked against a trust policy.

A signed release holds one more file, :data:`SIGNATURE_PATH` (``model.sig``): a Sigstore bundle,
written by model-signing, over every other file of the release (``release-manifest.json`` and the
card included), hashed with sha256 one file at a time. The order is forced: the signature covers the
manifest, so the manifest cannot hold the signature's digest. ``release-manifest.json`` names the
signature instead (``"signature": {"path": "model.sig", "method": ...}``), and the signature is left
out of what it signs exactly as model-signing's own command line leaves it out (its ``--signature``
path is an ignored path; git's files, ``.gitattributes`` and the like, are ignored by default as
there, and still covered: the manifest lists every file, and the manifest is signed). So the
upstream ``model_signing verify key DIR --signature DIR/model.sig --public_key KEY.pub`` accepts
our releases, and we accept a folder it signed.

The signature file is checked by verifying it, never by a digest: a tree whose files all match the
signature's manifest, under a key or identity the user trusts, is the release its publisher signed.

model-signing costs about 0.6 s to import: it is imported here only, inside the functions that sign
or verify, and nothing else imports this module at start-up.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from release.errors import ConfigError, SignatureError, StageError

log = logging.getLogger(__name__)

SIGNATURE_PATH = "model.sig"
#: What model-signing leaves out by default (its ignore_git_paths), as its command line does.
_GIT = frozenset({".git", ".gitattributes", ".github", ".gitignore"})

#: How a release is signed: a private key (PEM), a key with its certificate chain, or Sigstore keyless (CI OIDC).
SignMethod = Literal["key", "certificate", "sigstore"]

SignatureProblem = Literal["unsigned", "untrusted", "tampered", "malformed"]


@dataclass(frozen=True)
class SignSpec:
    """``[sign]``: how stage (and publish, once the release notes join the tree) signs a release."""

    method: SignMethod
    key: Path | None = None  # the private key (PEM): key and certificate
    key_env: str | None = None  # or the environment variable holding the key's path (CI secrets)
    certificate: Path | None = None  # the signing certificate (certificate)
    chain: tuple[Path, ...] = ()  # further certificates (certificate)
    oidc_issuer: str | None = None  # sigstore: another issuer than Sigstore's default

    def private_key(self) -> Path:
        """The private key's path, from ``key`` or the variable ``key_env`` names; the key itself is never read here."""
        if self.key is not None:
            return self.key
        if self.key_env is not None:
            value = os.environ.get(self.key_env)
            if not value:
                raise ConfigError(f"[sign] key_env: the environment variable {self.key_env} is not set")
            return Path(value)
        raise ConfigError(f"[sign] method = {self.method!r} needs key (a PEM file) or key_env")


@dataclass(frozen=True)
class TrustPolicy:
    """What a user trusts (``--trust-key``, ``--trust-identity``/``--trust-issuer``, or ``[trust]``)."""

    key: Path | None = None  # a public key (PEM)
    certificate_chain: tuple[Path, ...] = ()  # root and intermediate certificates (certificate signing)
    identity: str | None = None  # Sigstore: the signer's identity (e.g. the workflow's URL)
    issuer: str | None = None  # Sigstore: the OIDC issuer that vouched for it
    trust_config: Path | None = None  # Sigstore: a trust root (ClientTrustConfig JSON), to verify offline

    @property
    def required(self) -> bool:
        return self.key is not None or bool(self.certificate_chain) or self.identity is not None

    def describe(self) -> str:
        if self.key is not None:
            return f"the key {self.key}"
        if self.certificate_chain:
            return f"the certificates {', '.join(str(c) for c in self.certificate_chain)}"
        return f"the identity {self.identity} (issuer {self.issuer})"


@dataclass(frozen=True)
class Verified:
    """A signature that checked out: who it was checked against, and how many files it covers."""

    signer: str
    files: int


def signature_error(problem: SignatureProblem, message: str) -> SignatureError:
    return SignatureError(f"{message}; nothing was installed or run", problem=problem)


# --- signing --------------------------------------------------------------------------------------


def sign_tree(directory: Path, spec: SignSpec) -> Path:
    """Sign every file under ``directory`` (but the signature) into ``directory/model.sig``."""
    import model_signing  # about 0.6 s: only when a release is signed

    config = model_signing.signing.Config().set_hashing_config(_hashing(model_signing))  # type: ignore[no-untyped-call]
    try:
        if spec.method == "key":
            config.use_elliptic_key_signer(private_key=_readable(spec.private_key(), "key"))
        elif spec.method == "certificate":
            if spec.certificate is None:
                raise ConfigError("[sign] method = 'certificate' needs certificate (the signing certificate, PEM)")
            config.use_certificate_signer(
                private_key=_readable(spec.private_key(), "key"),
                signing_certificate=_readable(spec.certificate, "certificate"),
                certificate_chain=[_readable(c, "chain") for c in spec.chain],
            )
        else:  # the CI's identity token, or a refusal: never model-signing's interactive OAuth flow
            token = _ambient_identity_token()
            config.use_sigstore_signer(
                use_ambient_credentials=False, identity_token=token, oidc_issuer=spec.oidc_issuer
            )
        target = directory / SIGNATURE_PATH
        config.sign(directory, target)
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:  # model-signing's: a key it cannot load, of an unsupported curve
        raise ConfigError(f"[sign] could not sign {directory} with method {spec.method!r}: {exc}") from exc
    except Exception as exc:  # Sigstore's: no OIDC identity (id-token: write), its services out of reach
        hint = " (keyless signing needs the CI's OIDC token, id-token: write, and Sigstore's services)"
        extra = hint if spec.method == "sigstore" else ""
        raise StageError(f"could not sign {directory} with method {spec.method!r}{extra}: {exc}") from exc
    return target


def sign_files(files: Mapping[str, Path | bytes], spec: SignSpec) -> bytes:
    """The signature of a release given file by file (on disk, or bytes not written yet): publish re-signs
    the release once the release notes and the final manifest join it."""
    with tempfile.TemporaryDirectory(prefix="model-release-sign-") as scratch:
        root = Path(scratch) / "release"
        for path, origin in files.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(origin, bytes):
                target.write_bytes(origin)
            else:
                try:
                    os.link(origin, target)
                except OSError:
                    shutil.copyfile(origin, target)
        return sign_tree(root, spec).read_bytes()


def _ambient_identity_token() -> str:
    """The OIDC token the CI gives this job (GitHub Actions with ``id-token: write``, and the others the
    ``id`` library knows); without one, signing stops here instead of opening a browser."""
    from sigstore.oidc import detect_credential  # installed with model-signing

    token = detect_credential("sigstore")  # model-signing's client id for Sigstore's issuer
    if not token:
        raise ConfigError(
            'keyless signing (--sign-sigstore, or [sign] method = "sigstore") needs an OIDC identity from CI '
            "(on GitHub Actions: permissions `id-token: write`); none was found. Sign locally with a key "
            '(--sign-key PRIVATE.pem, or [sign] method = "key")'
        )
    return token


def _readable(path: Path, field: str) -> Path:
    if not path.is_file():
        raise ConfigError(f"[sign] {field}: {path} is not a file")
    return path


def _hashing(model_signing: Any) -> Any:
    """sha256 over each file, the signature left out: what model-signing's command line does by default."""
    return model_signing.hashing.Config().set_ignored_paths(paths=[SIGNATURE_PATH], ignore_git_paths=True)


# --- verifying ------------------------------------------------------------------------------------


def verify_tree(directory: Path, trust: TrustPolicy) -> Verified:
    """Every file under ``directory`` against its ``model.sig``, under ``trust``; :class:`SignatureError` if not."""
    import model_signing  # about 0.6 s: only when a release is verified

    signature = directory / SIGNATURE_PATH
    if not signature.is_file():
        raise signature_error("unsigned", f"{directory} has no {SIGNATURE_PATH}: it is not signed")
    signed = signed_digests(signature, trust)  # who signed, before what they signed
    config = _verifying_config(model_signing, trust).set_hashing_config(_hashing(model_signing))
    try:
        with _signature_errors(directory, trust):
            config.verify(directory, signature)
    except SignatureError as exc:
        changes = _differences(directory, signed)
        if exc.problem != "tampered" or not changes:
            raise
        raise signature_error("tampered", f"files in {directory} changed after signing: {'; '.join(changes)}") from exc
    return Verified(trust.describe(), len(signed))


def _differences(directory: Path, signed: Mapping[str, str]) -> list[str]:
    """How the files under ``directory`` differ from what was signed, file by file."""
    here = {
        p.relative_to(directory).as_posix(): p for p in sorted(directory.rglob("*")) if p.is_file() or p.is_symlink()
    }
    here.pop(SIGNATURE_PATH, None)
    changes = [f"{path} is missing" for path in sorted(set(signed) - set(here))]
    changes += [f"{path} was not signed" for path in sorted(set(here) - set(signed)) if path.split("/")[0] not in _GIT]
    changes += [
        f"{path} changed"
        for path in sorted(set(here) & set(signed))
        if hashlib.sha256(here[path].read_bytes()).hexdigest() != signed[path]
    ]
    return changes


def verify_signed_digests(signature: Path, trust: TrustPolicy, files: Mapping[str, Path]) -> Verified:
    """The signature under ``trust``, and each of ``files`` (release path -> download) against what it signed.

    For ``reproduce``, which downloads only some files: checking ``release-manifest.json`` against the
    signature makes every file later checked against the manifest one the signer released.
    """
    signed = signed_digests(signature, trust)
    for path, local in sorted(files.items()):
        if path not in signed:
            raise signature_error("tampered", f"{path} is not covered by the signature {SIGNATURE_PATH}")
        digest = hashlib.sha256(local.read_bytes()).hexdigest()
        if digest != signed[path]:
            raise signature_error("tampered", f"{path} changed after signing (sha256 {digest}, signed {signed[path]})")
    return Verified(trust.describe(), len(signed))


def signed_digests(signature: Path, trust: TrustPolicy) -> dict[str, str]:
    """What a signature signed (release path -> sha256), once it checks out under ``trust``."""
    import model_signing
    from model_signing._signing import sign_sigstore, sign_sigstore_pb  # pinned 1.1.1: its verifiers

    config = _verifying_config(model_signing, trust)
    reader = sign_sigstore.Signature if trust.identity is not None else sign_sigstore_pb.Signature
    with _signature_errors(signature.parent, trust):
        try:
            read = reader.read(signature)
        except (ValueError, KeyError, TypeError) as exc:
            raise signature_error("malformed", f"{SIGNATURE_PATH} is not a model-signing signature ({exc})") from exc
        manifest = config._verifier.verify(read)
    algorithms = {d.digest.algorithm for d in manifest.resource_descriptors()}
    if algorithms != {"sha256"}:
        raise signature_error("malformed", f"{SIGNATURE_PATH} signs with {sorted(algorithms)}, not sha256 per file")
    return {str(d.identifier): d.digest.digest_value.hex() for d in manifest.resource_descriptors()}


def _verifying_config(model_signing: Any, trust: TrustPolicy) -> Any:
    config = model_signing.verifying.Config()
    if trust.key is not None:
        return config.use_elliptic_key_verifier(public_key=_trusted(trust.key, "--trust-key"))
    if trust.certificate_chain:
        chain = [_trusted(c, "--trust-certificate") for c in trust.certificate_chain]
        return config.use_certificate_verifier(certificate_chain=chain)
    if trust.identity is not None and trust.issuer is not None:
        config_path = None if trust.trust_config is None else _trusted(trust.trust_config, "--trust-config")
        return config.use_sigstore_verifier(identity=trust.identity, oidc_issuer=trust.issuer, trust_config=config_path)
    raise ConfigError(
        "nothing to trust: give --trust-key, or --trust-identity with --trust-issuer (or a [trust] table)"
    )


def _trusted(path: Path, option: str) -> Path:
    if not path.is_file():
        raise ConfigError(f"{option}: {path} is not a file")
    return path


@contextlib.contextmanager
def _signature_errors(where: Path, trust: TrustPolicy) -> Iterator[None]:
    """model-signing's ValueErrors as :class:`SignatureError`, with the reason named."""
    try:
        yield
    except SignatureError:
        raise
    except Exception as exc:  # model-signing raises ValueError, and whatever its crypto libraries raise
        text = str(exc) or type(exc).__name__
        problem: SignatureProblem = "tampered" if text.startswith("Signature mismatch") else "untrusted"
        if problem == "tampered":
            reason = f"files in {where} changed after signing: {text.removeprefix('Signature mismatch: ')}"
        elif "Key mismatch" in text:
            reason = f"the signature in {where} was made with another key than {trust.describe()}"
        else:
            reason = f"the signature in {where} does not verify under {trust.describe()}: {text}"
        raise signature_error(problem, reason) from exc
