from __future__ import annotations

from pathlib import Path

import pytest

from release.config import load_config, parse_config
from release.errors import ConfigError

MINIMAL = {"repo_id": "alice/model", "version": "1.0.0"}


def test_minimal_config_gets_defaults_and_resolves_paths(tmp_path: Path) -> None:
    config = parse_config({**MINIMAL, "model": {"dir": "weights"}}, tmp_path / "release.toml")
    assert config.repo_type == "model"
    assert config.tag == "v1.0.0"
    assert config.model is not None and config.model.dir == tmp_path / "weights"
    assert config.lock.requirements_in == tmp_path / "requirements.in"
    assert config.stage_dir == tmp_path / "dist"
    assert config.build_dir == tmp_path / "build"


def test_misspelt_key_is_named_with_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({**MINIMAL, "verison": "2"}, tmp_path / "release.toml")
    message = str(info.value)
    assert "verison" in message and "did you mean 'version'?" in message
    assert str(tmp_path / "release.toml") in message


def test_nested_unknown_key_names_its_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"model\.inclde: unknown key 'inclde' \(did you mean 'include'\?\)"):
        parse_config({**MINIMAL, "model": {"dir": "w", "inclde": ["*"]}}, tmp_path / "release.toml")


def test_wrong_type_names_the_key_and_the_expected_type(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"repo_id": "alice/model", "version": 1}, tmp_path / "release.toml")
    assert 'version: must be a string, got integer 1 (quote it: version = "1")' in str(info.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"repo_id": "no-namespace", "version": "1", "repo_type": "modle"}, tmp_path / "x.toml")
    message = str(info.value)
    assert "repo_id" in message and "namespace/name" in message
    assert "did you mean 'model'?" in message


def test_duplicate_dataset_names_are_refused(tmp_path: Path) -> None:
    data = {**MINIMAL, "datasets": [{"name": "d", "dir": "a"}, {"name": "d", "dir": "b"}]}
    with pytest.raises(ConfigError, match="used twice: d"):
        parse_config(data, tmp_path / "release.toml")


def test_endpoint_comes_from_config_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "https://mirror.example/")
    assert parse_config(MINIMAL, tmp_path / "r.toml").endpoint == "https://mirror.example"
    assert parse_config({**MINIMAL, "endpoint": "local"}, tmp_path / "r.toml").endpoint == "local"


def test_release_toml_is_found_in_the_current_folder(tmp_path: Path) -> None:
    (tmp_path / "release.toml").write_text('repo_id = "alice/m"\nversion = "0.1"\n')
    assert load_config(cwd=tmp_path).repo_id == "alice/m"


def test_tool_release_table_of_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.release]\nrepo_id = "alice/m"\nversion = "0.2"\nvesion = "x"\n')
    with pytest.raises(ConfigError, match=r"tool\.release\.vesion: unknown key"):
        load_config(cwd=tmp_path)


def test_no_config_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"create release\.toml"):
        load_config(cwd=tmp_path)


def test_invalid_toml_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "release.toml").write_text('repo_id = "alice/m"\nversion = \n')
    with pytest.raises(ConfigError, match=r"release\.toml is not valid TOML.*line 2"):
        load_config(cwd=tmp_path)


def test_the_repository_example_config_is_valid() -> None:
    root = Path(__file__).resolve().parent.parent
    config = load_config(root / "release.toml")
    assert config.endpoint == "local"
    assert [d.name for d in config.datasets] == ["tiny-flowers"]


def test_conda_files_beside_the_config_are_picked_up(tmp_path: Path) -> None:
    (tmp_path / "release.toml").write_text('repo_id = "alice/m"\nversion = "0.1"\n')
    assert load_config(cwd=tmp_path).lock.environment_yml is None
    (tmp_path / "environment.yml").write_text("dependencies: [python=3.11]\n")
    (tmp_path / "conda-lock.yml").write_text("version: 1\n")
    lock = load_config(cwd=tmp_path).lock
    assert lock.environment_yml == tmp_path / "environment.yml"
    assert lock.conda_lock == tmp_path / "conda-lock.yml"
