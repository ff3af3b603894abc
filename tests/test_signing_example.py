"""Issue 19, done: the bundled example released signed with ``--sign-key``, reproduced with ``--trust-key``.

The example (copied to a temporary folder) is released to the embedded local Hub with a key made here,
at run time (no key is in the repository), given on the command line: ``release.toml`` has no
``[sign]`` table. Its runtime lock is replaced by one of the test wheelhouse's tiny package, so that
``reproduce`` installs offline. A user trusting another key is refused; then someone with write access
but not the key tags three more revisions: a file changed (and the manifest to match), the signature
of another release by the same key swapped in, the signature stripped. Each is refused before
anything is installed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from project import copy_example, run_cli
from wheelhouse import Wheelhouse

from release.checksum import ManifestEntry, hash_file
from release.lock.pip import PipIndex, lock_requirements
from release.signing import SIGNATURE_PATH, SignSpec, sign_tree
from release.stage import RELEASE_MANIFEST, ReleaseManifest

pytestmark = pytest.mark.slow

REPO = "examples/tiny-flowers"


def _keypair(folder: Path, name: str) -> tuple[Path, Path]:
    """A fresh P-256 key: (private PEM, public PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / f"{name}.pem", folder / f"{name}.pub"
    folder.mkdir(parents=True, exist_ok=True)
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private, public


def _offline_example(dest: Path, wheelhouse: Wheelhouse) -> Path:
    """The example, its runtime lock replaced by the wheelhouse's ``tinypkg`` (reproduce installs offline)."""
    project = copy_example(dest)
    (project / "requirements.in").write_text("tinypkg\n", encoding="utf-8")
    index = PipIndex(no_index=True, find_links=(str(wheelhouse.directory),))
    lock_requirements(project / "requirements.in", project / "requirements.txt", index)
    config = (project / "release.toml").read_text(encoding="utf-8")
    lock = 'requirements_txt = "requirements.txt"\n'
    offline = f"{lock}no_index = true\nfind_links = [{json.dumps(str(wheelhouse.directory))}]\n"
    (project / "release.toml").write_text(config.replace(lock, offline, 1), encoding="utf-8")
    assert "[sign]" not in config  # the key comes from the command line only
    return project


def _tag(api: HfApi, tag: str, operations: list[CommitOperationAdd | CommitOperationDelete]) -> None:
    """Tag ``tag`` on a commit of ``operations`` over the signed release v0.1.0 (a branch of its own)."""
    branch = f"tampered-{tag}"
    api.create_branch(REPO, branch=branch, revision="v0.1.0")
    commit = api.create_commit(REPO, operations, commit_message=f"tampered: {tag}", revision=branch)
    api.create_tag(REPO, tag=tag, revision=commit.oid)


def test_the_example_signed_with_sign_key_reproduces_under_trust_and_each_tampering_is_refused(
    tmp_path: Path, wheelhouse: Wheelhouse
) -> None:
    from release.hub.server import DEV_TOKEN, HubServer

    private, public = _keypair(tmp_path / "keys", "publisher")
    _, intruder = _keypair(tmp_path / "keys", "intruder")
    project = _offline_example(tmp_path / "project", wheelhouse)

    released = run_cli("release", "--sign-key", str(private), "--json", cwd=project)
    assert released.returncode == 0, released.stderr
    staged = Path(json.loads(released.stdout)["staged_dir"])
    manifest = ReleaseManifest.from_json((staged / RELEASE_MANIFEST).read_text("utf-8"), "staged")
    assert manifest.signature is not None and manifest.signature.method == "key"
    assert (staged / SIGNATURE_PATH).is_file()

    def reproduce(revision: str, key: Path, dest: str) -> tuple[int, str]:
        done = run_cli(
            "reproduce",
            f"{REPO}@{revision}",
            "--endpoint",
            "local",
            "--trust-key",
            str(key),
            "--no-index",
            "--find-links",
            str(wheelhouse.directory),
            "--dest",
            str(tmp_path / "reproduced" / dest),
            "--json",
            cwd=project,
        )
        return done.returncode, done.stderr

    code, stderr = reproduce("v0.1.0", public, "trusted")
    assert code == 0, stderr
    assert (tmp_path / "reproduced" / "trusted").is_dir()

    code, stderr = reproduce("v0.1.0", intruder, "other-key")
    assert code == 1 and "SignatureError" in stderr and "another key" in stderr

    # Someone with write access but without the key tags three more revisions.
    donor = tmp_path / "donor"  # another release signed with the same key: its train.py and manifest differ
    shutil.copytree(staged, donor)
    (donor / "train.py").write_text("# another release\n", encoding="utf-8")
    size, donor_digest = hash_file(donor / "train.py")
    donor_files = tuple(
        ManifestEntry(e.path, size, donor_digest) if e.path == "train.py" else e for e in manifest.files
    )
    (donor / RELEASE_MANIFEST).write_text(replace(manifest, files=donor_files).to_json(), encoding="utf-8")
    sign_tree(donor, SignSpec("key", key=private))  # the same key, over other files
    with HubServer(project / ".hub") as server:
        api = HfApi(endpoint=server.url, token=DEV_TOKEN)
        changed = (staged / "predict.py").read_bytes() + b"\nimport os  # runs at import\n"
        digest = hashlib.sha256(changed).hexdigest()
        entry = ManifestEntry("predict.py", len(changed), digest)
        entries = tuple(entry if e.path == entry.path else e for e in manifest.files)
        rewritten = replace(manifest, files=entries).to_json().encode()
        _tag(
            api,
            "v0.1.1",
            [
                CommitOperationAdd("predict.py", changed),
                CommitOperationAdd(RELEASE_MANIFEST, rewritten),
            ],
        )
        _tag(api, "v0.1.2", [CommitOperationAdd(SIGNATURE_PATH, (donor / SIGNATURE_PATH).read_bytes())])
        unsigned = replace(manifest, signature=None).to_json().encode()
        _tag(api, "v0.1.3", [CommitOperationDelete(SIGNATURE_PATH), CommitOperationAdd(RELEASE_MANIFEST, unsigned)])
    assert hash_file(staged / "predict.py")[1] != digest

    code, stderr = reproduce("v0.1.1", public, "tampered")
    assert code == 1 and "SignatureError" in stderr and "changed after signing" in stderr, stderr
    code, stderr = reproduce("v0.1.2", public, "swapped")
    assert code == 1 and "SignatureError" in stderr and "changed after signing" in stderr, stderr
    code, stderr = reproduce("v0.1.3", public, "unsigned")
    assert code == 1 and "SignatureError" in stderr and "not signed" in stderr, stderr
    for refused in ("other-key", "tampered", "swapped", "unsigned"):
        assert not (tmp_path / "reproduced" / refused).exists(), f"{refused}: something was built"
