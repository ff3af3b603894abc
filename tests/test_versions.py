"""Release versions: PEP 440 in its normal form, one tag per version, the same rule for every source."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from release.config import parse_config
from release.errors import ConfigError
from release.notes import previous_version

MINIMAL = {"repo_id": "alice/model"}


def _parse(tmp_path: Path, data: dict[str, object], env: dict[str, str] | None = None) -> tuple[str, str]:
    config = parse_config({**MINIMAL, **data}, tmp_path / "release.toml", env=env or {})
    return config.version, config.tag


@pytest.mark.parametrize(
    ("given", "version"),
    [("1.2.0", "1.2.0"), ("v1.2.0", "1.2.0"), ("V1.2.0", "1.2.0"), ("1.0", "1.0"), ("2.0.0rc1", "2.0.0rc1")],
)
def test_a_version_in_normal_form_is_accepted_and_tagged_once(tmp_path: Path, given: str, version: str) -> None:
    assert _parse(tmp_path, {"version": given}) == (version, f"v{version}")


@pytest.mark.parametrize(
    ("given", "fix"),
    [
        ("01.2.3", "is not in PEP 440's normal form (leading zeros are not allowed); fix: write '1.2.3'"),
        ("1.0.0-rc.1", "is not in PEP 440's normal form; fix: write '1.0.0rc1' (tagged v1.0.0rc1)"),
        ("vv1.0.0", "is not a PEP 440 version; fix: write a PEP 440 version in its normal form"),
        ("latest", "is not a PEP 440 version; fix: write a PEP 440 version in its normal form"),
    ],
)
def test_a_bad_version_names_the_file_the_field_the_rule_and_the_fix(tmp_path: Path, given: str, fix: str) -> None:
    with pytest.raises(ConfigError) as info:
        _parse(tmp_path, {"version": given})
    assert info.value.exit_code == 2
    assert f"{tmp_path / 'release.toml'}: version {given!r} {fix}" in str(info.value)
    assert "such as 1.2.0" in str(info.value)


def test_a_datasets_own_version_follows_the_same_rule(tmp_path: Path) -> None:
    dataset = {"name": "d", "dir": "d", "publish": {"repo_id": "alice/d", "version": "v2.0"}}
    config = parse_config({**MINIMAL, "version": "1.0.0", "datasets": [dataset]}, tmp_path / "release.toml", env={})
    publish = config.datasets[0].publish
    assert publish is not None and (publish.version, publish.tag) == ("2.0", "v2.0")
    bad = {**dataset, "publish": {"repo_id": "alice/d", "version": "02.0"}}
    with pytest.raises(ConfigError) as info:
        parse_config({**MINIMAL, "version": "1.0.0", "datasets": [bad]}, tmp_path / "release.toml", env={})
    assert f"{tmp_path / 'release.toml'}: datasets[0].publish.version '02.0' is not in PEP 440" in str(info.value)
    assert "fix: write '2.0'" in str(info.value)


def test_a_ci_tag_follows_the_same_rule(tmp_path: Path) -> None:
    tag = {"GITHUB_REF_TYPE": "tag", "GITHUB_REF_NAME": "v1.2.0"}
    assert _parse(tmp_path, {}, tag) == ("1.2.0", "v1.2.0")
    assert _parse(tmp_path, {"version": "v1.2.0"}, tag) == ("1.2.0", "v1.2.0")  # v1.2.0 and 1.2.0 agree
    for name, fix in [("v01.2.0", "fix: write '1.2.0'"), ("nightly", "is not a PEP 440 version")]:
        with pytest.raises(ConfigError) as info:
            _parse(tmp_path, {}, {"GITHUB_REF_TYPE": "tag", "GITHUB_REF_NAME": name})
        assert f"the CI tag (GITHUB_REF_NAME) {name!r}" in str(info.value) and fix in str(info.value)


def test_a_bad_version_stops_the_cli_with_exit_2_before_staging(tmp_path: Path) -> None:
    (tmp_path / "release.toml").write_text('repo_id = "alice/m"\nversion = "01.2.3"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    result = subprocess.run(
        [sys.executable, "-m", "release", "stage"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert "ConfigError" in result.stderr and "release.toml: version '01.2.3'" in result.stderr
    assert "leading zeros are not allowed" in result.stderr and "fix: write '1.2.3'" in result.stderr
    assert not (tmp_path / "dist").exists()


def test_release_notes_compare_with_the_previous_version_in_pep_440_order() -> None:
    tags = ["v0.9", "v1.0.0rc1", "v1.0.0", "v1.10.0", "v1.2.0", "not-a-version", "vnext"]
    assert previous_version("1.0.0", tags) == "1.0.0rc1"  # a pre-release comes before its release
    assert previous_version("1.0.0rc2", tags) == "1.0.0rc1"
    assert previous_version("1.10.1", tags) == "1.10.0" and previous_version("1.3", tags) == "1.2.0"
    assert previous_version("0.1", tags) is None
