"""reproduce against the session's local Hub: real releases, real pip, real venvs, offline."""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conda_channel import CondaChannel
from conftest import RunningHub
from huggingface_hub import HfApi
from wheelhouse import Wheelhouse

from release.checksum import build_manifest
from release.cli import main
from release.errors import ReproduceError
from release.hub.server import HubServer, Multipart, Token
from release.lock.conda import CondaLockOptions, lock_conda
from release.lock.pip import PipIndex, lock_requirements, read_pins
from release.lock.snapshot import marker_environment
from release.publish import publish_release
from release.publish_plan import PublishTarget
from release.reproduce import (
    Differences,
    ReproduceOptions,
    ReproduceTarget,
    applicable_pins,
    compare_installed,
    compare_with_snapshot,
    latest_version_tag,
    parse_target,
    recorded_python,
    reproduce_release,
)
from release.stage import SourceInfo, StagePlan, apply_stages, plan_stage
from release.verify import MetricClaim, VerifySpec


def _release(
    hub: RunningHub,
    tmp_path: Path,
    wheelhouse: Wheelhouse,
    repo: str,
    version: str = "1.0",
    python: str | None = None,
    conda_lock: Path | None = None,
    private: bool = False,
    lock_lines: str = "",
    verify: VerifySpec | None = None,
) -> StagePlan:
    """Lock tinypkg from the wheelhouse, stage a release with that lock and a snapshot, publish and tag it."""
    work = tmp_path / f"work-{version}"
    (work / "model").mkdir(parents=True)
    (work / "requirements.in").write_text("tinypkg\n", encoding="utf-8")
    lock = work / "requirements.txt"
    lock_requirements(work / "requirements.in", lock, PipIndex(no_index=True, find_links=(str(wheelhouse.directory),)))
    with lock.open("a", encoding="utf-8") as out:
        out.write(lock_lines)  # lines the lock holds besides tinypkg's, e.g. for other platforms
        out.write(f"# released as {repo} {version}\n")  # unique bytes: tampering touches this repo only
    snapshot = {
        "format": "model-release.environment/1",
        "python": {"implementation": "CPython", "version": python or platform.python_version()},
        "platform": {"system": platform.system(), "machine": platform.machine(), "release": "", "libc": None},
        "distributions": [{"name": "tinypkg", "version": "1.0"}, {"name": "tinydep", "version": "1.1"}],
        "torch": None,
        "drift": {"lock": "requirements.txt", "different": [], "missing": []},
    }
    (work / "environment.json").write_text(json.dumps(snapshot), encoding="utf-8")
    (work / "model" / "model.safetensors").write_bytes(os.urandom(3000))
    (work / "model" / "config.json").write_text(f'{{"repo": "{repo}"}}\n', encoding="utf-8")
    plan = plan_stage(
        dest=work / "dist",
        repo_id=repo,
        repo_type="model",
        version=version,
        card=f"---\nlicense: mit\n---\n# {repo}\n",
        model=(build_manifest(work / "model"), work / "model"),
        datasets=[],
        locks={
            "requirements.txt": lock,
            "environment.json": work / "environment.json",
            **({"conda-lock.yml": conda_lock} if conda_lock is not None else {}),
        },
        source=SourceInfo("c" * 40, False),
        verify=verify,
    )
    apply_stages([plan])
    publish_release(plan.dest, plan.manifest, PublishTarget(hub.url, repo, "model", hub.token, private))
    return plan


def _offline(wheelhouse: Wheelhouse, dest: Path, **kw: Any) -> ReproduceOptions:
    return ReproduceOptions(dest=dest, find_links=(str(wheelhouse.directory),), no_index=True, **kw)


_LIST = "import json, importlib.metadata as m; print(json.dumps({d.name: d.version for d in m.distributions()}))"


def _pip_list(venv: Path) -> dict[str, str]:
    """What the venv's own python sees installed, but its seed (a venv made by uv has no pip to ask)."""
    listed = subprocess.run([str(venv / "bin" / "python"), "-c", _LIST], capture_output=True, text=True, check=True)
    return {n.lower(): v for n, v in json.loads(listed.stdout).items() if n not in ("pip", "setuptools", "wheel")}


def test_reproduce_builds_the_locked_set_and_prints_json(
    hub: RunningHub, tmp_path: Path, wheelhouse: Wheelhouse, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = "alice/repro-ok"
    plan = _release(hub, tmp_path, wheelhouse, repo)
    dest = tmp_path / "env"
    argv = ["reproduce", repo, "--dest", str(dest), "--endpoint", hub.url, "--no-index"]
    assert main([*argv, "--find-links", str(wheelhouse.directory), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    lock = read_pins((plan.dest / "requirements.txt").read_text(encoding="utf-8"))
    assert lock == {"tinypkg": "1.0", "tinydep": "1.1"}
    assert _pip_list(dest / "venv") == lock
    assert summary["revision"] == "v1.0" and summary["lock_differences"]["missing"] == []
    assert summary["lock_differences"]["extra"] == [] and summary["lock_differences"]["different"] == []
    assert summary["snapshot_differences"]["python"] is None
    assert summary["activate"] == f"source {dest / 'venv' / 'bin' / 'activate'}"
    assert "release-manifest.json" in summary["verified"] and "requirements.txt" in summary["verified"]
    assert (dest / "release" / "requirements.txt").read_bytes() == (plan.dest / "requirements.txt").read_bytes()
    assert not (dest / "files").exists()  # no weights without --with-weights
    assert str(dest) in (dest / "venv" / "bin" / "activate").read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".env")] == []


def test_lock_lines_for_another_platform_are_neither_missing_nor_installed(
    hub: RunningHub, tmp_path: Path, wheelhouse: Wheelhouse
) -> None:
    repo = "alice/repro-markers"
    other = "win32" if sys.platform != "win32" else "linux"
    hashed = f"    --hash=sha256:{wheelhouse.sha256('otherpkg==2.0')}\n"
    _release(hub, tmp_path, wheelhouse, repo, lock_lines=f"otherpkg==2.0 ; sys_platform == '{other}' \\\n{hashed}")
    result = reproduce_release(ReproduceTarget(hub.url, repo, "model", "v1.0"), _offline(wheelhouse, tmp_path / "env"))
    assert result.lock_differences == Differences()  # otherpkg: not missing, tinypkg and tinydep installed
    assert set(result.installed) >= {"tinypkg", "tinydep"} and "otherpkg" not in result.installed
    lock = (result.dest / "release" / "requirements.txt").read_text(encoding="utf-8")
    assert f"otherpkg==2.0 ; sys_platform == '{other}'" in lock  # the lock itself is released as it was


def test_applicable_pins_evaluate_each_lines_marker() -> None:
    lock = (
        "a==1.0 ; sys_platform == 'win32' \\\n    --hash=sha256:00\n"
        'a==2.0 ; sys_platform == "linux"\n'
        "b==3.0 ; python_version >= '3.8'\n"
        "c==4.0\n"
    )
    linux = {"sys_platform": "linux", "python_version": "3.11"}
    assert applicable_pins(lock, linux) == {"a": "2.0", "b": "3.0", "c": "4.0"}
    windows = {"sys_platform": "win32", "python_version": "3.7"}
    assert applicable_pins(lock, windows) == {"a": "1.0", "c": "4.0"}
    assert read_pins(lock) == {"a": "1.0", "b": "3.0", "c": "4.0"}  # without an environment: every line
    assert marker_environment(sys.executable)["sys_platform"] == sys.platform


def test_with_weights_byte_compares_with_the_staged_files(
    hub: RunningHub, tmp_path: Path, wheelhouse: Wheelhouse
) -> None:
    repo = "alice/repro-weights"
    plan = _release(hub, tmp_path, wheelhouse, repo)
    target = ReproduceTarget(hub.url, repo, "model", "v1.0")
    result = reproduce_release(target, _offline(wheelhouse, tmp_path / "env", with_weights=True))
    staged = {
        p.relative_to(plan.dest).as_posix(): p.read_bytes()
        for p in plan.dest.rglob("*")
        if p.is_file() and p.name not in ("README.md", "requirements.txt", "environment.json", "release-manifest.json")
    }
    got = {p.relative_to(result.dest / "files").as_posix(): p.read_bytes() for p in (result.dest / "files").rglob("*")}
    assert got == staged and set(result.weights) == set(staged)


def test_weights_published_in_parts_are_reproduced_through_the_signed_redirect(
    tmp_path: Path, wheelhouse: Wheelhouse, caplog: pytest.LogCaptureFixture
) -> None:
    """model-release's own publish sends the weights in parts; reproduce downloads them from the storage origin."""
    caplog.set_level(logging.DEBUG, logger="release.hub.lfs")
    storage, token = tmp_path / "parts-hub", "hf_parts_alice"
    with HubServer(storage, [Token("alice", token)], multipart=Multipart(threshold=1024, chunk_size=1000)) as server:
        hub = RunningHub(server.url, storage, token, token, token, server.storage_url)
        repo = "alice/repro-in-parts"
        plan = _release(hub, tmp_path, wheelhouse, repo)  # model.safetensors: 3000 bytes, so 3 parts
        weights = next(e for e in plan.manifest.files if e.path == "model.safetensors")
        lines = [record.getMessage() for record in caplog.records if record.name == "release.hub.lfs"]
        assert sum(f"part {n} of LFS object {weights.sha256}" in line for line in lines for n in (1, 2, 3)) == 3
        assert any(f"{weights.sha256} (3000 bytes, 3 parts)" in line for line in lines)
        caplog.clear()
        target = ReproduceTarget(hub.url, repo, "model", "v1.0")
        result = reproduce_release(target, _offline(wheelhouse, tmp_path / "env", with_weights=True))
        assert "model.safetensors" in result.weights  # downloaded and checked against the manifest
        staged = (plan.dest / "model.safetensors").read_bytes()
        assert (result.dest / "files" / "model.safetensors").read_bytes() == staged
        served = [r.getMessage() for r in caplog.records if r.name == "release.hub.lfs"]
        assert f"serving LFS object {weights.sha256} through a signed link" in served


def test_a_tampered_object_on_the_hub_is_refused_naming_the_file(
    hub: RunningHub, tmp_path: Path, wheelhouse: Wheelhouse
) -> None:
    repo = "alice/repro-tampered"
    plan = _release(hub, tmp_path, wheelhouse, repo)
    entry = next(e for e in plan.manifest.files if e.path == "requirements.txt")
    stored = hub.storage / "objects" / entry.sha256[:2] / entry.sha256[2:]
    data = stored.read_bytes()
    stored.write_bytes(data.replace(b"# released as", b"# RELEASED AS"))
    dest = tmp_path / "env"
    with pytest.raises(ReproduceError, match=r"requirements\.txt does not match release-manifest\.json") as info:
        reproduce_release(ReproduceTarget(hub.url, repo), _offline(wheelhouse, dest))
    assert "tampered" in str(info.value)
    assert list(tmp_path.glob("*env*")) == []  # nothing half-built, no temp folder left


def _stored(hub: RunningHub, path: Path) -> Path:
    import hashlib

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return hub.storage / "objects" / digest[:2] / digest[2:]


def test_a_truncated_file_is_refused_naming_it(hub: RunningHub, tmp_path: Path, wheelhouse: Wheelhouse) -> None:
    repo = "alice/repro-truncated"
    plan = _release(hub, tmp_path, wheelhouse, repo)
    stored = _stored(hub, plan.dest / "README.md")
    stored.write_bytes(stored.read_bytes()[:10])
    with pytest.raises(ReproduceError, match=r"README\.md does not match release-manifest\.json \(expected \d+ bytes"):
        reproduce_release(ReproduceTarget(hub.url, repo), _offline(wheelhouse, tmp_path / "env"))
    assert list(tmp_path.glob("*env*")) == []


def test_a_tampered_manifest_is_refused(hub: RunningHub, tmp_path: Path, wheelhouse: Wheelhouse) -> None:
    repo = "alice/repro-tampered-manifest"
    plan = _release(hub, tmp_path, wheelhouse, repo)
    stored = _stored(hub, plan.dest / "release-manifest.json")
    stored.write_bytes(stored.read_bytes().replace(b'"version": "1.0"', b'"version": "1.1"'))
    with pytest.raises(ReproduceError, match=r"release-manifest\.json does not match the id the Hub lists"):
        reproduce_release(ReproduceTarget(hub.url, repo), _offline(wheelhouse, tmp_path / "env"))
    assert list(tmp_path.glob("*env*")) == []


def test_a_private_release_is_read_with_a_token(hub: RunningHub, tmp_path: Path, wheelhouse: Wheelhouse) -> None:
    repo = "alice/repro-private"
    _release(hub, tmp_path, wheelhouse, repo, private=True)
    with pytest.raises(ReproduceError, match="if it is private, set HF_TOKEN"):
        reproduce_release(ReproduceTarget(hub.url, repo), _offline(wheelhouse, tmp_path / "a"))
    result = reproduce_release(
        ReproduceTarget(hub.url, repo, token=hub.read_token), _offline(wheelhouse, tmp_path / "b")
    )
    assert result.installed["tinypkg"] == "1.0"


def test_the_latest_version_tag_is_chosen_by_version_order(
    hub: RunningHub, tmp_path: Path, wheelhouse: Wheelhouse
) -> None:
    repo = "alice/repro-versions"
    _release(hub, tmp_path, wheelhouse, repo, "1.9")
    _release(hub, tmp_path, wheelhouse, repo, "1.10")
    result = reproduce_release(ReproduceTarget(hub.url, repo), _offline(wheelhouse, tmp_path / "env"))
    assert result.revision == "v1.10"
    commit = result.commit
    again = reproduce_release(
        ReproduceTarget(hub.url, repo, revision=commit[:12]), _offline(wheelhouse, tmp_path / "e2")
    )
    assert again.commit == commit


def test_unknown_repo_and_revision(hub: RunningHub, tmp_path: Path, wheelhouse: Wheelhouse) -> None:
    with pytest.raises(ReproduceError, match=r"no model repo alice/repro-nothing-here at .*HF_TOKEN"):
        reproduce_release(ReproduceTarget(hub.url, "alice/repro-nothing-here"), _offline(wheelhouse, tmp_path / "a"))
    repo = "alice/repro-revs"
    _release(hub, tmp_path, wheelhouse, repo)
    with pytest.raises(
        ReproduceError, match=r"alice/repro-revs has no revision 'v9\.9' \(tags: v1\.0; branches: main\)"
    ):
        reproduce_release(ReproduceTarget(hub.url, repo, revision="v9.9"), _offline(wheelhouse, tmp_path / "b"))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_another_python_is_named_with_how_to_get_it(hub: RunningHub, tmp_path: Path, wheelhouse: Wheelhouse) -> None:
    repo = "alice/repro-python"
    _release(hub, tmp_path, wheelhouse, repo, python="3.99.1")
    with pytest.raises(ReproduceError, match=r"recorded with Python 3\.99.*uv python install 3\.99"):
        reproduce_release(ReproduceTarget(hub.url, repo), _offline(wheelhouse, tmp_path / "new" / "deep" / "env"))
    assert not (tmp_path / "new").exists()


def test_a_release_without_a_manifest_says_so_and_installs_only_when_asked(
    hub: RunningHub, tmp_path: Path, wheelhouse: Wheelhouse
) -> None:
    repo = "alice/repro-foreign"
    work = tmp_path / "work"
    work.mkdir()
    (work / "requirements.in").write_text("otherpkg\n", encoding="utf-8")
    lock_requirements(
        work / "requirements.in",
        work / "requirements.txt",
        PipIndex(no_index=True, find_links=(str(wheelhouse.directory),)),
    )
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_repo(repo)
    api.upload_file(path_or_fileobj=work / "requirements.txt", path_in_repo="requirements.txt", repo_id=repo)
    target = ReproduceTarget(hub.url, repo, revision="main")
    with pytest.raises(ReproduceError, match=r"has no release-manifest\.json.*--unverified.*pip install") as info:
        reproduce_release(target, _offline(wheelhouse, tmp_path / "env"))
    assert "hf download alice/repro-foreign requirements.txt" in str(info.value)
    assert not (tmp_path / "env").exists()
    result = reproduce_release(target, _offline(wheelhouse, tmp_path / "env", unverified=True))
    assert result.installed.get("otherpkg") == "2.0" and "release-manifest.json" not in result.verified


def test_an_existing_destination_is_left_alone(hub: RunningHub, tmp_path: Path, wheelhouse: Wheelhouse) -> None:
    repo = "alice/repro-exists"
    _release(hub, tmp_path, wheelhouse, repo)
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "mine").write_text("keep", encoding="utf-8")
    with pytest.raises(ReproduceError, match="already exists"):
        reproduce_release(ReproduceTarget(hub.url, repo), _offline(wheelhouse, tmp_path / "env"))
    assert [p.name for p in (tmp_path / "env").iterdir()] == ["mine"]


def _conda_lock(tmp_path: Path, channel: CondaChannel, platforms: tuple[str, ...]) -> Path:
    folder = tmp_path / "conda"
    folder.mkdir()
    (folder / "environment.yml").write_text(
        "name: demo\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.11\n  - numpy\n", encoding="utf-8"
    )
    lock = folder / "conda-lock.yml"
    lock_conda(folder / "environment.yml", lock, CondaLockOptions(platforms=platforms, channel_alias=channel.alias))
    return lock


@pytest.mark.skipif(sys.platform != "linux" or platform.machine() != "x86_64", reason="the test channel's linux-64")
def test_conda_builds_a_prefix_from_the_lock(
    hub: RunningHub, tmp_path: Path, wheelhouse: Wheelhouse, conda_channel: CondaChannel
) -> None:
    repo = "alice/repro-conda"
    _release(
        hub, tmp_path, wheelhouse, repo, conda_lock=_conda_lock(tmp_path, conda_channel, ("linux-64", "osx-arm64"))
    )
    result = reproduce_release(ReproduceTarget(hub.url, repo), _offline(wheelhouse, tmp_path / "env", conda=True))
    assert result.conda_prefix == tmp_path / "env" / "conda"
    assert "numpy" in result.conda_packages and "python" in result.conda_packages
    assert (tmp_path / "env" / "conda" / "lib" / "python3.11" / "site-packages" / "numpy" / "__init__.py").is_file()
    assert "conda-lock.yml" in result.verified


@pytest.mark.skipif(sys.platform != "linux" or platform.machine() != "x86_64", reason="the test channel's linux-64")
def test_run_with_conda_runs_the_command_in_the_conda_prefix(
    hub: RunningHub, tmp_path: Path, wheelhouse: Wheelhouse, conda_channel: CondaChannel
) -> None:
    # The test channel's python is a script: the command proves the prefix's bin comes first on PATH.
    check = (
        '[ "$(command -v python3.11)" = "$CONDA_PREFIX/bin/python3.11" ] && found=1 || found=0; '
        'echo "{\\"prefix_python\\": $found, \\"says\\": \\"$(python3.11)\\"}" > results.json'
    )
    verify = VerifySpec(("sh", "-c", check), "results.json", (MetricClaim("prefix_python", 1.0, "prefix_python"),))
    repo = "alice/repro-conda-run"
    lock = _conda_lock(tmp_path, conda_channel, ("linux-64",))
    _release(hub, tmp_path, wheelhouse, repo, conda_lock=lock, verify=verify)

    result = reproduce_release(
        ReproduceTarget(hub.url, repo), _offline(wheelhouse, tmp_path / "env", conda=True, run=True)
    )

    assert result.proof is not None and result.proof.ok, result.proof
    written = json.loads((tmp_path / "env" / "run" / "results.json").read_text())
    assert written == {"prefix_python": 1, "says": "Python 3.11.9"}


def test_a_conda_lock_for_another_platform_names_the_ones_it_covers(
    hub: RunningHub, tmp_path: Path, wheelhouse: Wheelhouse, conda_channel: CondaChannel
) -> None:
    import rattler

    here = str(rattler.Subdir.current())
    other = "osx-arm64" if here != "osx-arm64" else "linux-64"
    repo = "alice/repro-conda-other"
    _release(hub, tmp_path, wheelhouse, repo, conda_lock=_conda_lock(tmp_path, conda_channel, (other,)))
    with pytest.raises(ReproduceError, match=f"has no packages for {here}: it locks {other}"):
        reproduce_release(ReproduceTarget(hub.url, repo), _offline(wheelhouse, tmp_path / "env", conda=True))
    assert list(tmp_path.glob("*env*")) == []


# --- the pure parts ---------------------------------------------------------------------------------


def test_parse_target() -> None:
    assert parse_target("a/b@v1.0") == ("a/b", "v1.0")
    assert parse_target("a/b") == ("a/b", None)
    for bad in ("a", "a/b@", "/b", "a/b/c"):
        with pytest.raises(ReproduceError, match="is not REPO"):
            parse_target(bad)


def test_latest_version_tag_uses_version_order() -> None:
    assert latest_version_tag(["v1.9", "v1.10", "v1.10rc1", "nightly", "vx"]) == "v1.10"
    assert latest_version_tag(["main"]) is None


def test_recorded_python_prefers_the_snapshot() -> None:
    header = "# model-release: input requirements.in sha256=" + "0" * 64 + "\n"
    header += "# model-release: resolved with pip-tools for CPython 3.12 on linux x86_64\n"
    assert recorded_python({"python": {"version": "3.11.7"}}, header) == "3.11"
    assert recorded_python(None, header) == "3.12"
    assert recorded_python(None, "tinypkg==1.0\n") is None


def test_compare_installed() -> None:
    diff = compare_installed({"Tiny_Pkg": "1.0", "pip": "24", "extra": "1"}, {"tiny-pkg": "1.1", "gone": "2"})
    assert diff == Differences(missing=("gone",), extra=("extra",), different=(("tiny-pkg", "1.1", "1.0"),))
    assert diff.lines("requirements.txt")[0] == "missing (in requirements.txt, not installed): gone"


def test_long_difference_lists_are_capped_in_text() -> None:
    diff = Differences(missing=tuple(f"p{i:02}" for i in range(12)))
    lines = diff.lines("environment.json", limit=10)
    assert len(lines) == 11 and lines[-1].endswith("... and 2 more (--json lists them all)")


def test_local_endpoint_needs_the_project_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["reproduce", "alice/anything", "--endpoint", "local"]) == 2
    assert 'endpoint "local" needs the project\'s release.toml' in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_the_text_summary_ends_with_the_activate_command(
    hub: RunningHub, tmp_path: Path, wheelhouse: Wheelhouse, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = "alice/repro-text"
    _release(hub, tmp_path, wheelhouse, repo)
    dest = tmp_path / "env"
    argv = ["reproduce", f"{repo}@v1.0", "--dest", str(dest), "--endpoint", hub.url, "--no-index"]
    assert main([*argv, "--find-links", str(wheelhouse.directory)]) == 0
    out = capsys.readouterr().out
    assert "the installed set equals the lock" in out
    assert "no differences from environment.json" in out  # the venv's seed (pip) is not an extra: the lock has none
    assert out.rstrip().endswith(f"activate it with: source {dest / 'venv' / 'bin' / 'activate'}")


# --- the installer (uv or pip), the recorded Python, the venv seed ---------------------------------

_IN_VENV = "import sys, tinypkg; print(sys.prefix); print(tinypkg.__version__)"


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_the_rebuilt_venv_works_after_the_rename_with_each_installer(
    hub: RunningHub, tmp_path: Path, wheelhouse: Wheelhouse, capsys: pytest.CaptureFixture[str], installer: str
) -> None:
    repo = f"alice/repro-installer-{installer}"
    _release(hub, tmp_path, wheelhouse, repo)
    dest = tmp_path / "env"
    argv = ["reproduce", repo, "--dest", str(dest), "--endpoint", hub.url, "--no-index", "--installer", installer]
    assert main([*argv, "--find-links", str(wheelhouse.directory), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["installer"] == installer
    seed = {"pip", "setuptools", "wheel"}
    assert {n: v for n, v in summary["installed"].items() if n not in seed} == {"tinydep": "1.1", "tinypkg": "1.0"}
    assert (set(summary["installed"]) & seed == set()) == (installer == "uv")  # python -m venv seeds pip
    assert summary["snapshot_differences"]["extra"] == [] and summary["snapshot_differences"]["missing"] == []
    assert f"(installed with {installer})" in summary["message"]
    venv = dest / "venv"
    direct = subprocess.run([str(venv / "bin" / "python"), "-c", _IN_VENV], capture_output=True, text=True, check=True)
    assert direct.stdout.split() == [str(venv), "1.0"]
    activated = subprocess.run(
        ["bash", "-c", f'source "{venv}/bin/activate" && python -c "{_IN_VENV}" && echo "$VIRTUAL_ENV"'],
        capture_output=True,
        text=True,
        check=True,
    )
    assert activated.stdout.split() == [str(venv), "1.0", str(venv)]
    for path in [*(venv / "bin").iterdir(), venv / "pyvenv.cfg"]:
        if path.is_file() and not path.is_symlink():
            assert ".building-" not in path.read_text(encoding="utf-8", errors="replace"), path
    if installer == "pip":  # pip's own script: its shebang was rewritten to the renamed venv
        pip = subprocess.run([str(venv / "bin" / "pip"), "--version"], capture_output=True, text=True, check=True)
        assert str(venv) in pip.stdout
    else:
        assert not (venv / "bin" / "pip").exists()  # uv venv seeds nothing


def test_auto_falls_back_to_pip_without_uv_and_asking_for_uv_says_how_to_get_it(
    hub: RunningHub, tmp_path: Path, wheelhouse: Wheelhouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = "alice/repro-no-uv"
    _release(hub, tmp_path, wheelhouse, repo)
    (tmp_path / "no-uv").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "no-uv"))  # nothing on PATH: every program is run by its full path
    target = ReproduceTarget(hub.url, repo)
    with pytest.raises(ReproduceError, match=r"--installer uv: uv is not on PATH: install it.*--installer pip"):
        reproduce_release(target, _offline(wheelhouse, tmp_path / "a", installer="uv"))
    assert not (tmp_path / "a").exists()
    result = reproduce_release(target, _offline(wheelhouse, tmp_path / "b"))
    assert result.installer == "pip" and result.installed["tinypkg"] == "1.0"
    assert result.snapshot_differences is not None and result.snapshot_differences.clean


def test_a_recorded_python_uv_cannot_get_offline_names_both_ways_out(
    hub: RunningHub, tmp_path: Path, wheelhouse: Wheelhouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = "alice/repro-python-offline"
    _release(hub, tmp_path, wheelhouse, repo, python="3.99.0")
    monkeypatch.setenv("UV_OFFLINE", "1")  # no download is even tried
    with pytest.raises(ReproduceError) as info:
        reproduce_release(ReproduceTarget(hub.url, repo), _offline(wheelhouse, tmp_path / "env"))
    message = str(info.value)
    assert message.startswith(f"{repo}@v1.0 was recorded with Python 3.99, but {sys.executable} is Python")
    assert "`uv python install 3.99` could not get it" in message
    assert "Run `uv python install 3.99` where the network is reachable, or run again with --python PATH" in message
    assert not (tmp_path / "env").exists()


def test_the_venv_seed_is_no_snapshot_difference_unless_the_lock_pins_it() -> None:
    snapshot = {
        "python": {"version": "3.11.7"},
        "platform": {"system": "Linux", "machine": "x86_64"},
        "distributions": [
            {"name": "pip", "version": "24.0"},
            {"name": "setuptools", "version": "65.5.0"},
            {"name": "tinypkg", "version": "1.0"},
        ],
    }
    by_uv = {"tinypkg": "1.0"}  # uv venv: no seed
    by_pip = {"tinypkg": "1.0", "pip": "25.1", "setuptools": "65.5.0", "wheel": "0.45"}  # python -m venv, newer pip
    for installed in (by_uv, by_pip):
        assert compare_with_snapshot(installed, snapshot, "3.11.7", "Linux x86_64") == Differences()
    pinned = compare_with_snapshot(by_uv, snapshot, "3.11.7", "Linux x86_64", pinned=("pip", "tinypkg"))
    assert pinned == Differences(missing=("pip",))  # the lock pins pip: its absence counts
    pinned = compare_with_snapshot(by_pip, snapshot, "3.11.7", "Linux x86_64", pinned=("Pip",))
    assert pinned == Differences(different=(("pip", "24.0", "25.1"),))
    other = compare_with_snapshot({"tinypkg": "1.0", "extra": "1"}, snapshot, "3.12.1", "Linux x86_64")
    assert other == Differences(extra=("extra",), python=("3.11.7", "3.12.1"))
