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


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("release.toml", b'repo_id = "alice/m"\nversion = "0.1"\n# caf\xe9 in Latin-1\n'),
        ("pyproject.toml", b'[project]\nname = "m"\ndescription = "caf\xe9"\n[tool.release]\nrepo_id = "alice/m"\n'),
    ],
)
def test_a_config_that_is_not_utf8_exits_2_naming_the_file_and_byte(tmp_path: Path, name: str, content: bytes) -> None:
    import os
    import subprocess
    import sys

    (tmp_path / name).write_bytes(content)
    offset = content.index(b"\xe9")
    result = subprocess.run(
        [sys.executable, "-m", "release", "stage"],
        cwd=tmp_path,
        env={**os.environ, "GITHUB_REF_TYPE": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"ConfigError: {tmp_path / name} is not UTF-8 text: byte {offset} (line 3) is b'\\xe9'" in result.stderr


@pytest.mark.parametrize(
    ("name", "role"),
    [("requirements.in", "The requirements input"), ("environment.yml", "The conda environment file")],
)
def test_lock_inputs_that_are_not_utf8_are_lock_errors_naming_the_file_and_byte(
    tmp_path: Path, name: str, role: str
) -> None:
    import os
    import subprocess
    import sys

    (tmp_path / "release.toml").write_text('repo_id = "alice/m"\nversion = "0.1"\n')
    (tmp_path / name).write_bytes(b"name: x\n# caf\xe9\ndependencies: [numpy]\n")
    if name == "requirements.in":
        (tmp_path / "requirements.txt").write_text("numpy==2.0\n")
    result = subprocess.run(
        [sys.executable, "-m", "release", "lock", "--check"],
        cwd=tmp_path,
        env={**os.environ, "GITHUB_REF_TYPE": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"LockError: {role} {tmp_path / name} is not UTF-8 text (byte 13: " in result.stderr


def test_a_config_nested_too_deeply_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "release.toml").write_text('repo_id = "alice/m"\nversion = "0.1"\nx = ' + "[" * 100_000 + "\n")
    with pytest.raises(ConfigError, match=r"release\.toml is not valid TOML: it nests arrays or tables too deeply"):
        load_config(cwd=tmp_path)


def test_the_repository_example_config_is_valid() -> None:
    root = Path(__file__).resolve().parent.parent
    config = load_config(root / "release.toml")
    assert config.endpoint == "local"
    assert [d.name for d in config.datasets] == ["tiny-flowers"]
    publish = config.datasets[0].publish  # the example's data is also a dataset repository of its own
    assert publish is not None and (publish.repo_id, publish.tag) == ("examples/tiny-flowers-data", config.tag)


def test_an_environment_yml_beside_the_config_is_locked_unless_we_generated_it(tmp_path: Path) -> None:
    (tmp_path / "release.toml").write_text('repo_id = "alice/m"\nversion = "0.1"\n')
    assert load_config(cwd=tmp_path).lock.environment_yml is None
    (tmp_path / "environment.yml").write_text("# Generated by model-release lock\ndependencies: [python=3.11]\n")
    assert load_config(cwd=tmp_path).lock.environment_yml is None
    (tmp_path / "environment.yml").write_text("dependencies: [python=3.11]\n")
    lock = load_config(cwd=tmp_path).lock
    assert lock.environment_yml == tmp_path / "environment.yml"
    assert lock.conda_lock == tmp_path / "conda-lock.yml"


def test_card_output_defaults_to_the_build_dir_and_resolves(tmp_path: Path) -> None:
    config = parse_config({**MINIMAL, "build_dir": "out"}, tmp_path / "release.toml")
    assert config.card.output == (tmp_path / "out" / "README.md").resolve()
    assert config.card.eval_results_dir is False
    table = {"card": {"output": "README.md", "eval_results": "r.json", "eval_results_dir": True}}
    config = parse_config({**MINIMAL, **table}, tmp_path / "release.toml")
    assert config.card.output == (tmp_path / "README.md").resolve() and config.card.eval_results_dir


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"card": {"eval_results_dir": True}}, "card.eval_results_dir = true needs card.eval_results"),
        (
            {"repo_type": "dataset", "card": {"eval_results": "r.json", "eval_results_dir": True}},
            "applies to model repositories only",
        ),
    ],
)
def test_eval_results_dir_needs_results_and_a_model_repo(
    tmp_path: Path, table: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({**MINIMAL, **table}, tmp_path / "release.toml")


def test_the_version_comes_from_a_ci_tag_build_when_the_config_has_none(tmp_path: Path) -> None:
    ci = {"GITHUB_REF_TYPE": "tag", "GITHUB_REF_NAME": "v1.2.3"}
    config = parse_config({"repo_id": "alice/model"}, tmp_path / "release.toml", env=ci)
    assert config.version == "1.2.3" and config.tag == "v1.2.3"
    agreeing = parse_config({**MINIMAL, "version": "1.2.3"}, tmp_path / "release.toml", env=ci)
    assert agreeing.version == "1.2.3"
    branch = {"GITHUB_REF_TYPE": "branch", "GITHUB_REF_NAME": "main"}
    assert parse_config(MINIMAL, tmp_path / "release.toml", env=branch).version == "1.0.0"


def test_a_ci_tag_that_disagrees_with_the_config_is_a_config_error(tmp_path: Path) -> None:
    ci = {"GITHUB_REF_TYPE": "tag", "GITHUB_REF_NAME": "v1.2.4"}
    with pytest.raises(ConfigError) as info:
        parse_config(MINIMAL, tmp_path / "release.toml", env=ci)
    assert info.value.exit_code == 2
    assert "version is '1.0.0' but the CI tag (GITHUB_REF_NAME) releases '1.2.4'" in str(info.value)
    with pytest.raises(ConfigError, match="version is missing"):
        parse_config({"repo_id": "alice/model"}, tmp_path / "release.toml", env={})


def test_a_ci_tag_that_disagrees_stops_the_cli_with_exit_2(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    (tmp_path / "release.toml").write_text('repo_id = "alice/m"\nversion = "0.1"\n')
    env = {**os.environ, "GITHUB_REF_TYPE": "tag", "GITHUB_REF_NAME": "v0.2"}
    result = subprocess.run(
        [sys.executable, "-m", "release", "stage"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "ConfigError" in result.stderr and "releases '0.2'" in result.stderr
    assert not (tmp_path / "dist").exists()


def test_publish_max_commit_operations_defaults_to_the_hubs_guidance_and_must_be_positive(tmp_path: Path) -> None:
    assert parse_config(MINIMAL, tmp_path / "release.toml").max_commit_operations == 100
    table = {**MINIMAL, "publish": {"max_commit_operations": 25}}
    assert parse_config(table, tmp_path / "release.toml").max_commit_operations == 25
    for bad in (0, "many"):
        with pytest.raises(ConfigError) as error:
            parse_config({**MINIMAL, "publish": {"max_commit_operations": bad}}, tmp_path / "release.toml")
        message = str(error.value)
        assert "publish.max_commit_operations" in message and str(tmp_path / "release.toml") in message
