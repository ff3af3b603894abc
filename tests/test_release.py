"""The whole pipeline through the real CLI, on a copy of the bundled example."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import HfApi, snapshot_download
from project import copy_example, run_cli

from release.hub.server import HubServer, Token

REPO_ROOT = Path(__file__).resolve().parent.parent
REPO_ID = "examples/tiny-flowers"
DATA_REPO_ID = "examples/tiny-flowers-data"  # the example's dataset, published as a repository of its own


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _datasets(summary: dict[str, object]) -> list[dict[str, Any]]:
    """The datasets published with the model, from the --json summary."""
    datasets = summary["datasets"]
    assert isinstance(datasets, list)
    return datasets


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    project = copy_example(tmp_path_factory.mktemp("e2e") / "project")
    result = run_cli("release", "--json", cwd=project)
    assert result.returncode == 0, result.stderr
    return project, json.loads(result.stdout)


@pytest.mark.slow
def test_release_prints_the_documented_summary(released: tuple[Path, dict[str, object]]) -> None:
    _project, summary = released
    assert summary["ok"] is True
    assert summary["repo_id"] == REPO_ID and summary["repo_type"] == "model"
    assert summary["version"] == "0.1.0" and summary["tag"] == "v0.1.0"
    assert summary["endpoint"] == "local"
    assert isinstance(summary["commit"], str) and len(summary["commit"]) == 40
    staged = Path(str(summary["staged_dir"]))
    files = _files(staged)
    assert summary["files"] == len(files)
    assert summary["bytes"] == sum(len(b) for b in files.values())
    [dataset] = _datasets(summary)
    assert dataset["repo_id"] == DATA_REPO_ID and dataset["repo_type"] == "dataset" and dataset["tag"] == "v0.1.0"
    assert len(dataset["commit"]) == 40 and dataset["files"] == len(_files(Path(dataset["staged_dir"])))
    # the evaluation results name the published dataset repository, at its tag, so the Hub links them
    card = files["README.md"].decode()
    linked = f"type: {DATA_REPO_ID}\n      name: tiny-flowers\n      split: test\n      revision: v0.1.0\n"
    assert f"    dataset:\n      {linked}" in card


@pytest.mark.slow
def test_the_tag_downloads_byte_for_byte_as_staged(released: tuple[Path, dict[str, object]], tmp_path: Path) -> None:
    project, summary = released
    staged = _files(Path(str(summary["staged_dir"])))
    with HubServer(project / ".hub", [Token("reader", "hf_reader_token")]) as hub:
        folder = snapshot_download(
            REPO_ID,
            revision="v0.1.0",
            endpoint=hub.url,
            token="hf_reader_token",
            cache_dir=tmp_path / "cache",
        )
        refs = HfApi(endpoint=hub.url, token="hf_reader_token").list_repo_refs(REPO_ID)
    downloaded = {k: v for k, v in _files(Path(folder)).items() if k != ".gitattributes"}
    assert downloaded == staged
    assert [(t.name, t.target_commit) for t in refs.tags] == [("v0.1.0", summary["commit"])]


@pytest.mark.slow
def test_a_second_release_of_the_same_version_is_a_no_op(released: tuple[Path, dict[str, object]]) -> None:
    project, summary = released
    again = run_cli("release", "--json", cwd=project)
    assert again.returncode == 0, again.stderr
    document = json.loads(again.stdout)
    assert document["already_released"] is True and document["commit"] == summary["commit"]
    [dataset] = document["datasets"]
    assert dataset["already_released"] is True and dataset["commit"] == _datasets(summary)[0]["commit"]


@pytest.mark.slow
def test_changed_data_under_a_released_version_is_refused_and_nothing_is_published(
    released: tuple[Path, dict[str, object]],
) -> None:
    project, summary = released
    data = project / "example" / "data" / "test.csv"
    original = data.read_bytes()
    data.write_bytes(original.replace(b"setosa", b"Setosa", 1))
    try:
        refused = run_cli("release", cwd=project)
    finally:
        data.write_bytes(original)
    assert refused.returncode == 1
    assert f"v0.1.0 is already released on the dataset repository {DATA_REPO_ID} with different" in refused.stderr
    assert "data/test.csv" in refused.stderr and "Nothing was published" in refused.stderr
    with HubServer(project / ".hub", [Token("reader", "hf_reader_token")]) as hub:
        api = HfApi(endpoint=hub.url, token="hf_reader_token")
        heads = api.repo_info(REPO_ID).sha, api.dataset_info(DATA_REPO_ID).sha
    assert heads == (summary["commit"], _datasets(summary)[0]["commit"])


@pytest.mark.slow
def test_changed_content_under_a_released_version_is_refused(
    released: tuple[Path, dict[str, object]],
) -> None:
    project, summary = released
    predict = project / "example" / "model" / "predict.py"
    original = predict.read_text()
    predict.write_text(original + "# changed\n")
    try:
        refused = run_cli("release", cwd=project)
    finally:
        predict.write_text(original)
    assert refused.returncode == 1
    assert "v0.1.0 is already released" in refused.stderr and "predict.py" in refused.stderr
    with HubServer(project / ".hub", [Token("reader", "hf_reader_token")]) as hub:
        head = HfApi(endpoint=hub.url, token="hf_reader_token").repo_info(REPO_ID, revision="main").sha
    assert head == summary["commit"]


# --- bad input: a clear error, a non-zero exit, nothing half-written or published -----------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "project")


def _nothing_made(project: Path) -> None:
    assert not (project / ".hub").exists(), "the Hub was started"
    dist = project / "dist"
    assert not dist.exists() or not any(dist.iterdir()), f"something was staged: {list(dist.iterdir())}"


def test_misspelt_config_key_exits_2_naming_it(project: Path) -> None:
    config = project / "release.toml"
    config.write_text(config.read_text().replace('repo_type = "model"', 'repo_typ = "model"'))
    result = run_cli("release", cwd=project)
    assert result.returncode == 2
    assert "repo_typ: unknown key 'repo_typ' (did you mean 'repo_type'?)" in result.stderr
    assert str(config) in result.stderr
    _nothing_made(project)


def test_missing_weights_exit_1_naming_the_path(project: Path) -> None:
    (project / "example" / "model" / "config.json").unlink()
    result = run_cli("release", cwd=project)
    assert result.returncode == 1
    assert f"model file {project / 'example' / 'model' / 'config.json'} does not exist" in result.stderr
    _nothing_made(project)


def test_missing_dataset_folder_exits_1_naming_it(project: Path) -> None:
    shutil.rmtree(project / "example" / "data")
    result = run_cli("release", cwd=project)
    assert result.returncode == 1
    assert "dataset 'tiny-flowers'" in result.stderr and str(project / "example" / "data") in result.stderr
    _nothing_made(project)


def test_card_metadata_failing_the_schema_names_the_field(project: Path) -> None:
    card = project / "example" / "card.yaml"
    card.write_text(card.read_text().replace("license: apache-2.0", "license: apache2"))
    result = run_cli("release", cwd=project)
    assert result.returncode == 1
    assert f"{card}:3: license:" in result.stderr and "did you mean 'apache-2.0'?" in result.stderr
    _nothing_made(project)


def test_stale_lock_stops_the_release_naming_the_file(project: Path) -> None:
    requirements_in = project / "requirements.in"
    requirements_in.write_text(requirements_in.read_text() + "jinja2\n")
    result = run_cli("release", cwd=project)
    assert result.returncode == 1
    assert "requirements.txt" in result.stderr and "model-release lock" in result.stderr
    _nothing_made(project)


def test_no_token_against_a_remote_hub_stops_before_any_work(project: Path, hub: object) -> None:
    result = run_cli("release", "--endpoint", "http://127.0.0.1:9", cwd=project, env={"HF_TOKEN": ""})
    assert result.returncode == 1
    assert "no Hub token for http://127.0.0.1:9" in result.stderr
    _nothing_made(project)
    assert not (project / "build").exists()


def test_invalid_token_is_rejected_and_never_printed(project: Path, hub: object) -> None:
    from conftest import HUB_URL

    secret = "hf_wrong_secret_value_123"
    result = run_cli("release", "--endpoint", HUB_URL, "--json", cwd=project, env={"HF_TOKEN": secret})
    assert result.returncode == 1
    assert "rejected the token (HTTP 401)" in result.stderr
    assert secret not in result.stderr + result.stdout
    assert json.loads(result.stdout)["error"]["type"] == "AuthError"
    assert not HfApi(endpoint=HUB_URL).repo_exists(REPO_ID)


def test_a_secret_in_a_release_file_blocks_the_release_and_is_never_shown(project: Path) -> None:
    secret = "hf_" + "Qw7Rt5Yu3Io1Pa9Sd8Fg6Hj4Kl2Zx0CvBn"
    predict = project / "example" / "model" / "predict.py"
    predict.write_text(predict.read_text() + f'\nHF_TOKEN = "{secret}"\n')
    result = run_cli("release", "--json", cwd=project)
    assert result.returncode == 1
    assert "MR401" in result.stderr and "predict.py" in result.stderr
    assert secret not in result.stdout + result.stderr
    assert json.loads(result.stdout)["error"]["type"] == "UnsafeArtifactError"
    _nothing_made(project)


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("extra\nline.txt", "'extra\\nline.txt'"),
        ("extra\x1b[31m.txt", "'extra\\x1b[31m.txt'"),
        (os.fsdecode(b"extra\xff.txt"), "'extra\\udcff.txt'"),  # not UTF-8: a surrogate escape on Linux
    ],
)
def test_a_model_file_the_hub_would_refuse_stops_the_release_before_any_repository(
    project: Path, name: str, shown: str
) -> None:
    """Every repository's names are checked first: the dataset repository is not created, then the model refused."""
    config = project / "release.toml"
    config.write_text(config.read_text().replace('include = ["*.safetensors"', 'include = ["extra*", "*.safetensors"'))
    (project / "example" / "model" / name).write_text("x")
    result = run_cli("release", "--json", cwd=project)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{shown} (model file in {project / 'example' / 'model'})" in result.stderr
    assert json.loads(result.stdout)["error"]["type"] == "StageError"
    _nothing_made(project)  # no Hub started: the dataset repository was never created


def test_the_gate_alone_on_paths(project: Path) -> None:
    clean = run_cli("check", "example/model", cwd=project)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    index = project / "example" / "model" / "model.safetensors.index.json"
    index.write_text(index.read_text().replace("model-00002-of-00002", "model-00003-of-00002"))
    broken = run_cli("check", "example/model", cwd=project)
    assert broken.returncode == 1
    assert "MR202" in broken.stdout and "model-00003-of-00002.safetensors" in broken.stdout


def _snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root``, folders included, with the bytes of each file."""
    return {p.relative_to(root).as_posix(): p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))}


def test_dry_runs_print_the_plan_and_publish_nothing(project: Path) -> None:
    before = _snapshot(project)
    dry = run_cli("release", "--dry-run", "--json", cwd=project)
    assert dry.returncode == 0, dry.stderr
    assert _snapshot(project) == before  # nothing staged, no checksums or card under build/, no .hub
    document = json.loads(dry.stdout)
    assert document["dry_run"] is True and document["outcome"] == "publish" and document["repo_exists"] is False
    assert document["staged_dir"] is None
    [dataset] = document["datasets"]
    assert (dataset["repo_id"], dataset["repo_type"], dataset["outcome"]) == (DATA_REPO_ID, "dataset", "publish")
    assert sorted(f["path"] for f in dataset["plan"]["added"]) == [
        "README.md",
        "RELEASE_NOTES.md",
        "data.json",
        "data.sha256",
        "data/README.md",
        "data/test.csv",
        "data/train.csv",
        "release-manifest.json",
    ]
    plan = document["plan"]
    added = sorted(f["path"] for f in plan["added"])
    assert {"README.md", "RELEASE_NOTES.md", "release-manifest.json", "predict.py", "datasets/tiny-flowers.sha256"} <= {
        *added
    }
    assert plan["upload_bytes"] == document["bytes"] and plan["changed"] == [] and plan["deleted"] == []
    assert plan["unchanged"] == 0 and document["release_notes"].startswith("# Release v0.1.0\n\nFirst release")

    assert run_cli("stage", cwd=project).returncode == 0
    staged = _snapshot(project / "dist")
    text = run_cli("publish", "--dry-run", cwd=project)
    assert text.returncode == 0, text.stderr
    out = text.stdout
    assert "dry run: nothing was sent" in out and "add       data/train.csv" in out and "add       predict.py" in out
    assert out.index(f"Publishing {DATA_REPO_ID} v0.1.0 would:") < out.index(f"Publishing {REPO_ID} v0.1.0 would:")
    assert f"upload {plan['upload_bytes']} bytes in {len(added)} file(s)" in out
    assert _snapshot(project / "dist") == staged and not (project / ".hub").exists()
