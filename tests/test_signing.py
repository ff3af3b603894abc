"""Signed releases: model-signing at stage and publish, verified at reproduce and by ``verify``.

Keys are made here, at run time (no key is in the repository). Everything goes through the real
model-signing library, its own ``model_signing`` command line and the local Hub emulator.
Sigstore keyless signing needs Sigstore's services (Fulcio, Rekor) and an OIDC identity, which these
tests cannot reach: its configuration and its refusals are tested, not a keyless signature.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import RunningHub
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from huggingface_hub import HfApi
from project import REPO_ROOT, copy_example, run_cli
from wheelhouse import Wheelhouse

from release.checksum import ManifestEntry, build_manifest, hash_file
from release.cli import main
from release.config import load_config, parse_config
from release.errors import ConfigError, SignatureError
from release.lock.pip import PipIndex, lock_requirements
from release.publish import publish_release
from release.publish_plan import PublishTarget
from release.reproduce import ReproduceOptions, ReproduceTarget, reproduce_release
from release.signing import SIGNATURE_PATH, SignSpec, TrustPolicy, sign_tree, verify_tree
from release.stage import ReleaseManifest, SignatureRef, SourceInfo, StagePlan, apply_stages, plan_stage

MODEL_SIGNING = str(Path(sys.executable).parent / "model_signing")


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


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("keys")
    return {name: _keypair(folder, name) for name in ("publisher", "intruder")}


def _tree(root: Path, marker: str = "") -> Path:
    """A small release folder: weights, a card, a manifest."""
    (root / "sub").mkdir(parents=True)
    (root / "model.safetensors").write_bytes(os.urandom(2000))
    (root / "sub" / "config.json").write_text(f'{{"marker": "{marker}"}}\n', encoding="utf-8")
    (root / "README.md").write_text("# a model\n", encoding="utf-8")
    return root


# --- signing and verifying a folder ---------------------------------------------------------------


def test_a_signed_tree_verifies_and_each_tampering_is_refused_naming_why(
    tmp_path: Path, keys: dict[str, tuple[Path, Path]]
) -> None:
    private, public = keys["publisher"]
    tree = _tree(tmp_path / "release")
    sign_tree(tree, SignSpec("key", key=private))
    verified = verify_tree(tree, TrustPolicy(key=public))
    assert verified.files == 3 and str(public) in verified.signer

    with pytest.raises(SignatureError, match="another key") as other:
        verify_tree(tree, TrustPolicy(key=keys["intruder"][1]))
    assert other.value.problem == "untrusted"

    (tree / "sub" / "config.json").write_text('{"marker": "changed"}\n', encoding="utf-8")
    with pytest.raises(SignatureError, match=r"changed after signing: sub/config\.json changed") as changed:
        verify_tree(tree, TrustPolicy(key=public))
    assert changed.value.problem == "tampered"

    (tree / "sub" / "config.json").write_text('{"marker": ""}\n', encoding="utf-8")
    (tree / "extra.bin").write_bytes(b"added later")
    with pytest.raises(SignatureError, match=r"extra\.bin was not signed"):
        verify_tree(tree, TrustPolicy(key=public))


def test_a_signature_swapped_in_from_another_release_of_the_same_key_is_refused(
    tmp_path: Path, keys: dict[str, tuple[Path, Path]]
) -> None:
    private, public = keys["publisher"]
    first, second = _tree(tmp_path / "first", "1"), _tree(tmp_path / "second", "2")
    sign_tree(first, SignSpec("key", key=private))
    sign_tree(second, SignSpec("key", key=private))
    shutil.copyfile(first / SIGNATURE_PATH, second / SIGNATURE_PATH)
    with pytest.raises(SignatureError, match="changed after signing") as info:
        verify_tree(second, TrustPolicy(key=public))
    assert info.value.problem == "tampered"


def test_an_unsigned_tree_is_refused_and_a_broken_key_is_named(
    tmp_path: Path, keys: dict[str, tuple[Path, Path]]
) -> None:
    tree = _tree(tmp_path / "release")
    with pytest.raises(SignatureError, match="not signed") as info:
        verify_tree(tree, TrustPolicy(key=keys["publisher"][1]))
    assert info.value.problem == "unsigned"
    with pytest.raises(ConfigError, match=r"\[sign\] key: .* is not a file"):
        sign_tree(tree, SignSpec("key", key=tmp_path / "missing.pem"))
    with pytest.raises(ConfigError, match="SIGNING_KEY_NOT_SET is not set"):
        sign_tree(tree, SignSpec("key", key_env="SIGNING_KEY_NOT_SET"))
    assert not (tree / SIGNATURE_PATH).exists()


def test_a_sigstore_policy_verifies_offline_with_a_trust_root_and_refuses_a_key_signature(
    tmp_path: Path, keys: dict[str, tuple[Path, Path]]
) -> None:
    """Sigstore keyless signing needs Sigstore's services; verifying needs only a trust root, given as a file.

    The trust root is the one the sigstore package ships (its TUF cache seed), so nothing is fetched.
    """
    import sigstore

    store = Path(sigstore.__file__).parent / "_store" / "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev"
    trust_config = tmp_path / "trust-config.json"
    trust_config.write_text(
        json.dumps(
            {
                "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
                "trustedRoot": json.loads((store / "trusted_root.json").read_text("utf-8")),
                "signingConfig": json.loads((store / "signing_config.v0.2.json").read_text("utf-8")),
            }
        ),
        encoding="utf-8",
    )
    tree = _tree(tmp_path / "release")
    sign_tree(tree, SignSpec("key", key=keys["publisher"][0]))
    workflow = "https://github.com/alice/model/.github/workflows/release.yml@refs/tags/v1.0"
    policy = TrustPolicy(
        identity=workflow, issuer="https://token.actions.githubusercontent.com", trust_config=trust_config
    )
    with pytest.raises(SignatureError, match=r"does not verify under the identity https://github\.com/alice") as info:
        verify_tree(tree, policy)
    assert info.value.problem == "untrusted"


def test_keyless_signing_without_a_ci_identity_stops_naming_the_permission(tmp_path: Path) -> None:
    """Never model-signing's interactive OAuth flow: outside CI (the tests' environment has none), a refusal."""
    tree = _tree(tmp_path / "release")
    with pytest.raises(ConfigError, match="id-token: write"):
        sign_tree(tree, SignSpec("sigstore"))
    assert not (tree / SIGNATURE_PATH).exists()


# --- interoperability with model-signing's own command line ---------------------------------------


def test_the_upstream_command_line_accepts_our_signature_and_refuses_it_tampered(
    tmp_path: Path, keys: dict[str, tuple[Path, Path]]
) -> None:
    private, public = keys["publisher"]
    tree = _tree(tmp_path / "release")
    sign_tree(tree, SignSpec("key", key=private))
    command = [MODEL_SIGNING, "verify", "key", str(tree), "--signature", str(tree / SIGNATURE_PATH)]
    ok = subprocess.run([*command, "--public_key", str(public)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "Verification succeeded" in ok.stdout
    other = subprocess.run(
        [*command, "--public_key", str(keys["intruder"][1])], capture_output=True, text=True, check=False
    )
    assert other.returncode == 1 and "Key mismatch" in other.stderr
    (tree / "README.md").write_text("# changed\n", encoding="utf-8")
    changed = subprocess.run([*command, "--public_key", str(public)], capture_output=True, text=True, check=False)
    assert changed.returncode == 1 and "Hash mismatch for 'README.md'" in changed.stderr


def test_we_accept_a_folder_the_upstream_command_line_signed(
    tmp_path: Path, keys: dict[str, tuple[Path, Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    private, public = keys["publisher"]
    tree = _tree(tmp_path / "release")
    signed = subprocess.run(
        [
            MODEL_SIGNING,
            "sign",
            "key",
            str(tree),
            "--signature",
            str(tree / SIGNATURE_PATH),
            "--private_key",
            str(private),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert signed.returncode == 0, signed.stderr
    assert verify_tree(tree, TrustPolicy(key=public)).files == 3
    assert main(["verify", str(tree), "--trust-key", str(public), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["command"] == "verify" and document["files"] == 3 and document["ok"] is True
    assert main(["verify", str(tree), "--trust-key", str(keys["intruder"][1])]) == 1
    assert "SignatureError" in capsys.readouterr().err


# --- the staged tree, publish, reproduce and verify through the local Hub -------------------------


def _signed_release(
    hub: RunningHub,
    tmp_path: Path,
    wheelhouse: Wheelhouse,
    repo: str,
    key: Path | None,
    version: str = "1.0",
) -> StagePlan:
    """Lock tinypkg, stage a release (signed with ``key``, or unsigned), publish and tag it."""
    work = tmp_path / f"work-{repo.replace('/', '-')}-{version}"
    (work / "model").mkdir(parents=True)
    (work / "requirements.in").write_text("tinypkg\n", encoding="utf-8")
    lock = work / "requirements.txt"
    lock_requirements(work / "requirements.in", lock, PipIndex(no_index=True, find_links=(str(wheelhouse.directory),)))
    with lock.open("a", encoding="utf-8") as out:
        out.write(f"# released as {repo} {version}\n")
    (work / "model" / "model.safetensors").write_bytes(os.urandom(3000))
    spec = SignSpec("key", key=key) if key is not None else None
    plan = plan_stage(
        dest=work / "dist",
        repo_id=repo,
        repo_type="model",
        version=version,
        card=f"---\nlicense: mit\n---\n# {repo}\n",
        model=(build_manifest(work / "model"), work / "model"),
        datasets=[],
        locks={"requirements.txt": lock},
        source=SourceInfo("c" * 40, False),
        signature=SignatureRef(SIGNATURE_PATH, "key") if spec is not None else None,
    )
    apply_stages([plan], inspect=lambda _plan, built: sign_tree(built, spec) if spec is not None else None)
    publish_release(plan.dest, plan.manifest, PublishTarget(hub.url, repo, "model", hub.token, sign=spec))
    return plan


def test_publishing_a_signed_tree_needs_the_sign_table_to_sign_it_again(
    hub: RunningHub, tmp_path: Path, wheelhouse: Wheelhouse, keys: dict[str, tuple[Path, Path]]
) -> None:
    from release.errors import PublishError

    plan = _signed_release(hub, tmp_path, wheelhouse, "alice/signed-twice", keys["publisher"][0])
    target = PublishTarget(hub.url, "alice/signed-twice", "model", hub.token)
    with pytest.raises(PublishError, match=r"is a signed release \(model\.sig, method key\), but no \[sign\]"):
        publish_release(plan.dest, plan.manifest, target)


def _options(wheelhouse: Wheelhouse, dest: Path, trust: TrustPolicy) -> ReproduceOptions:
    return ReproduceOptions(dest=dest, find_links=(str(wheelhouse.directory),), no_index=True, trust=trust)


def test_reproduce_with_the_trusted_key_builds_a_signed_release(
    hub: RunningHub, tmp_path: Path, wheelhouse: Wheelhouse, keys: dict[str, tuple[Path, Path]]
) -> None:
    private, public = keys["publisher"]
    plan = _signed_release(hub, tmp_path, wheelhouse, "alice/signed-ok", private)
    manifest = ReleaseManifest.from_json((plan.dest / "release-manifest.json").read_text("utf-8"), "staged")
    assert manifest.signature == SignatureRef(SIGNATURE_PATH, "key")
    assert SIGNATURE_PATH not in {e.path for e in manifest.files}  # it signs the manifest: named, not listed
    # publish signed again once the notes joined: the staged tree is the release, and verifies
    assert "RELEASE_NOTES.md" in {e.path for e in manifest.files}
    assert verify_tree(plan.dest, TrustPolicy(key=public)).files == len(manifest.files) + 1
    result = reproduce_release(
        ReproduceTarget(hub.url, "alice/signed-ok"), _options(wheelhouse, tmp_path / "env", TrustPolicy(key=public))
    )
    assert result.installed["tinypkg"] == "1.0"


def test_reproduce_refuses_another_key_and_an_unsigned_release_before_installing(
    hub: RunningHub, tmp_path: Path, wheelhouse: Wheelhouse, keys: dict[str, tuple[Path, Path]]
) -> None:
    _signed_release(hub, tmp_path, wheelhouse, "alice/signed-other", keys["intruder"][0])
    trust = TrustPolicy(key=keys["publisher"][1])
    with pytest.raises(SignatureError, match="another key") as other:
        reproduce_release(ReproduceTarget(hub.url, "alice/signed-other"), _options(wheelhouse, tmp_path / "a", trust))
    assert other.value.problem == "untrusted" and "nothing was installed or run" in str(other.value)
    _signed_release(hub, tmp_path, wheelhouse, "alice/unsigned", None)
    with pytest.raises(SignatureError, match="is not signed") as unsigned:
        reproduce_release(ReproduceTarget(hub.url, "alice/unsigned"), _options(wheelhouse, tmp_path / "b", trust))
    assert unsigned.value.problem == "unsigned"
    assert list(tmp_path.glob("*a")) == [] and not (tmp_path / "b").exists()  # nothing built
    # without a trust policy an unsigned release reproduces as before
    reproduce_release(ReproduceTarget(hub.url, "alice/unsigned"), _options(wheelhouse, tmp_path / "c", TrustPolicy()))


def test_a_republished_file_and_a_swapped_signature_are_refused(
    hub: RunningHub, tmp_path: Path, wheelhouse: Wheelhouse, keys: dict[str, tuple[Path, Path]]
) -> None:
    """A writer without the key: a new lock with a manifest to match, under the old signature; or another
    release's signature (same key) put beside this one's files."""
    private, public = keys["publisher"]
    plan = _signed_release(hub, tmp_path, wheelhouse, "alice/signed-tampered", private)
    other = _signed_release(hub, tmp_path, wheelhouse, "alice/signed-donor", private)
    api = HfApi(endpoint=hub.url, token=hub.token)
    tampered = tmp_path / "tampered"
    shutil.copytree(plan.dest, tampered)
    lock = tampered / "requirements.txt"
    lock.write_text(lock.read_text("utf-8") + "# an extra line\n", encoding="utf-8")
    manifest = ReleaseManifest.from_json((tampered / "release-manifest.json").read_text("utf-8"), "staged")
    size, digest = hash_file(lock)
    entries = tuple(e if e.path != lock.name else ManifestEntry(lock.name, size, digest) for e in manifest.files)
    (tampered / "release-manifest.json").write_text(replace(manifest, files=entries).to_json(), "utf-8")
    api.upload_folder(repo_id="alice/signed-tampered", folder_path=tampered, commit_message="tampered")
    api.create_tag("alice/signed-tampered", tag="v1.1")
    trust = TrustPolicy(key=public)
    with pytest.raises(SignatureError, match=r"release-manifest\.json changed after signing") as changed:
        reproduce_release(
            ReproduceTarget(hub.url, "alice/signed-tampered", revision="v1.1"),
            _options(wheelhouse, tmp_path / "e1", trust),
        )
    assert changed.value.problem == "tampered"

    api.delete_file(SIGNATURE_PATH, repo_id="alice/signed-tampered")
    api.create_tag("alice/signed-tampered", tag="v1.1.1")
    with pytest.raises(SignatureError, match=r"names its signature model\.sig, but the repository has no such file"):
        reproduce_release(
            ReproduceTarget(hub.url, "alice/signed-tampered", revision="v1.1.1"),
            _options(wheelhouse, tmp_path / "e3", trust),
        )

    api.upload_file(
        path_or_fileobj=other.dest / SIGNATURE_PATH, path_in_repo=SIGNATURE_PATH, repo_id="alice/signed-tampered"
    )
    api.create_tag("alice/signed-tampered", tag="v1.2")
    with pytest.raises(SignatureError, match="changed after signing"):
        reproduce_release(
            ReproduceTarget(hub.url, "alice/signed-tampered", revision="v1.2"),
            _options(wheelhouse, tmp_path / "e2", trust),
        )


def test_verify_downloads_a_release_and_checks_every_file(
    hub: RunningHub,
    tmp_path: Path,
    wheelhouse: Wheelhouse,
    keys: dict[str, tuple[Path, Path]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    private, public = keys["publisher"]
    _signed_release(hub, tmp_path, wheelhouse, "alice/signed-verify", private)
    argv = ["verify", "alice/signed-verify@v1.0", "--endpoint", hub.url, "--trust-key", str(public)]
    assert main([*argv, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["target"].startswith("alice/signed-verify@v1.0 (commit ") and document["files"] == 5
    assert main(["verify", "alice/signed-verify@v1.0", "--endpoint", hub.url]) == 2  # nothing to trust given
    assert "say what to trust" in capsys.readouterr().err


# --- the example, through the real command line ---------------------------------------------------


def test_the_example_is_unsigned_by_default_and_no_key_is_in_the_repository() -> None:
    assert load_config(REPO_ROOT / "release.toml").sign is None
    tracked = subprocess.run(["git", "ls-files", "*.pem", "*.key"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert tracked.returncode == 0 and tracked.stdout == ""


def test_sign_tables_are_checked_by_the_schema(tmp_path: Path) -> None:
    base = {"repo_id": "alice/x", "version": "1.0"}
    with pytest.raises(ConfigError, match="sign"):
        parse_config({**base, "sign": {"method": "key"}}, tmp_path / "release.toml")
    with pytest.raises(ConfigError, match="sign"):
        parse_config({**base, "sign": {"method": "certificate", "key": "k.pem"}}, tmp_path / "release.toml")
    config = parse_config(
        {**base, "sign": {"method": "sigstore"}, "trust": {"key": "pub.pem"}}, tmp_path / "release.toml"
    )
    assert config.sign == SignSpec("sigstore") and config.trust.key == tmp_path / "pub.pem"
    with pytest.raises(ConfigError, match="trust"):
        parse_config({**base, "trust": {"identity": "someone"}}, tmp_path / "release.toml")


@pytest.mark.slow
def test_the_example_released_with_a_key_reproduces_and_verifies_with_it(
    tmp_path: Path, keys: dict[str, tuple[Path, Path]]
) -> None:
    private, public = keys["publisher"]
    project = copy_example(tmp_path / "project")
    with (project / "release.toml").open("a", encoding="utf-8") as config:
        config.write('\n[sign]\nmethod = "key"\nkey_env = "TEST_SIGNING_KEY"\n')
    dry = run_cli("release", "--dry-run", "--json", cwd=project, env={"TEST_SIGNING_KEY": str(private)})
    assert dry.returncode == 0, dry.stderr  # a dry run signs nothing (its tree is links), and plans the rest
    released = run_cli("release", "--json", cwd=project, env={"TEST_SIGNING_KEY": str(private)})
    assert released.returncode == 0, released.stderr
    summary = json.loads(released.stdout)
    staged = Path(summary["staged_dir"])
    assert (staged / SIGNATURE_PATH).is_file()
    shipped = [p for p in staged.rglob("*") if p.is_file()]
    assert summary["files"] == len(shipped) and summary["bytes"] == sum(p.stat().st_size for p in shipped)
    upstream = subprocess.run(
        [
            MODEL_SIGNING,
            "verify",
            "key",
            str(staged),
            "--signature",
            str(staged / SIGNATURE_PATH),
            "--public_key",
            str(public),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert upstream.returncode == 0, upstream.stderr
    verified = run_cli(
        "verify",
        "examples/tiny-flowers@v0.1.0",
        "--endpoint",
        "local",
        "--trust-key",
        str(public),
        "--json",
        cwd=project,
    )
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["files"] == len([p for p in staged.rglob("*") if p.is_file()]) - 1
    refused = run_cli(
        "verify",
        "examples/tiny-flowers@v0.1.0",
        "--endpoint",
        "local",
        "--trust-key",
        str(keys["intruder"][1]),
        cwd=project,
    )
    assert refused.returncode == 1 and "another key" in refused.stderr
    again = run_cli("release", "--json", cwd=project, env={"TEST_SIGNING_KEY": str(private)})
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["already_released"] is True  # a new signature is not a new release


def test_sign_options_override_the_sign_table(
    tmp_path: Path, keys: dict[str, tuple[Path, Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--sign-key and --sign-sigstore on stage, publish and release; the [sign] table stays as written."""
    from release.cli import _config, build_parser

    private = keys["publisher"][0]
    base = 'repo_id = "alice/x"\nversion = "1.0"\n'
    (tmp_path / "release.toml").write_text(base, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for command in ("stage", "publish", "release"):
        args = build_parser().parse_args([command, "--sign-key", str(private)])
        assert _config(args).sign == SignSpec("key", key=private)
        assert _config(build_parser().parse_args([command, "--sign-sigstore"])).sign == SignSpec("sigstore")
        assert _config(build_parser().parse_args([command])).sign is None
    table = '[sign]\nmethod = "certificate"\nkey = "old.pem"\ncertificate = "cert.pem"\n'
    (tmp_path / "release.toml").write_text(base + table, encoding="utf-8")
    certified = _config(build_parser().parse_args(["stage", "--sign-key", str(private)])).sign
    assert certified == SignSpec("certificate", key=private, certificate=tmp_path / "cert.pem")
    issuer = '[sign]\nmethod = "sigstore"\noidc_issuer = "https://issuer.example"\n'
    (tmp_path / "release.toml").write_text(base + issuer, encoding="utf-8")
    keyless = _config(build_parser().parse_args(["release", "--sign-sigstore"])).sign
    assert keyless == SignSpec("sigstore", oidc_issuer="https://issuer.example")
    assert main(["stage", "--sign-key", "missing.pem"]) == 2
    with pytest.raises(SystemExit):  # one or the other
        build_parser().parse_args(["stage", "--sign-key", str(private), "--sign-sigstore"])
