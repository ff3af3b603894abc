"""Datasets published as dataset repositories of their own, before the model, against the session's Hub."""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import RunningHub
from huggingface_hub import HfApi, snapshot_download

from release.card import split_front_matter
from release.config import Config, parse_config
from release.errors import CardValidationError, ConfigError, PublishError
from release.pipeline import StagedRelease, stage_release
from release.publish import PublishResult, StagedRepo, preview_with_datasets, publish_with_datasets
from release.publish_plan import PublishTarget
from release.stage import read_release_manifest
from release.upload_checks import is_remote_hub

DATASET_METADATA = {"pretty_name": "Flowers", "license": "cc-by-4.0", "size_categories": ["n<1K"]}


def _config(
    root: Path,
    hub: RunningHub,
    repo: str,
    *,
    version: str = "1.0",
    dataset_version: str | None = None,
    data: str = "x,y\n1,2\n",
    **publish: Any,
) -> Config:
    """A small project: a model folder, one dataset published as ``<repo>-data``, both to the session's Hub."""
    (root / "model").mkdir(parents=True, exist_ok=True)
    (root / "model" / "config.json").write_text('{"hidden": 4}\n')
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "train.csv").write_text(data)
    table: dict[str, Any] = {
        "repo_id": repo,
        "version": version,
        "endpoint": hub.url,
        "model": {"dir": "model"},
        "datasets": [
            {
                "name": "flowers",
                "dir": "data",
                "publish": {
                    "repo_id": f"{repo}-data",
                    "metadata": DATASET_METADATA,
                    "content": {"description": "Two columns."},
                    **({"version": dataset_version} if dataset_version else {}),
                    **publish,
                },
            }
        ],
        "card": {"metadata": {"license": "mit"}},
    }
    return parse_config(table, root / "release.toml", env={})


def _repos(staged: StagedRelease, config: Config, hub: RunningHub) -> tuple[list[StagedRepo], StagedRepo]:
    datasets = [
        StagedRepo(d.plan.dest, d.plan.manifest, PublishTarget(hub.url, d.repo.repo_id, "dataset", hub.token))
        for d in staged.datasets
    ]
    model = PublishTarget(hub.url, config.repo_id, "model", hub.token)
    return datasets, StagedRepo(staged.plan.dest, staged.plan.manifest, model)


def _release(config: Config, hub: RunningHub) -> tuple[tuple[PublishResult, ...], PublishResult | None]:
    return publish_with_datasets(*_repos(stage_release(config), config, hub))


def _download(hub: RunningHub, repo: str, revision: str, cache: Path, repo_type: str = "model") -> Path:
    return Path(
        snapshot_download(
            repo, revision=revision, repo_type=repo_type, token=hub.token, cache_dir=cache, endpoint=hub.url
        )
    )


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_dataset_is_published_first_with_its_card_and_tag_and_the_model_links_to_it(
    hub: RunningHub, tmp_path: Path
) -> None:
    config = _config(tmp_path, hub, "alice/ds-first")
    staged = stage_release(config)
    [dataset], model = publish_with_datasets(*_repos(staged, config, hub))
    assert model is not None and not dataset.already_released and not model.already_released
    api = HfApi(endpoint=hub.url, token=hub.token)
    [tag] = api.list_repo_refs("alice/ds-first-data", repo_type="dataset").tags
    assert (tag.name, tag.target_commit) == ("v1.0", dataset.commit)

    data = _download(hub, "alice/ds-first-data", "v1.0", tmp_path / "c1", "dataset")
    assert sorted(_tree(data)) == [
        ".gitattributes",
        "README.md",
        "RELEASE_NOTES.md",
        "data.json",
        "data.sha256",
        "data/train.csv",
        "release-manifest.json",
    ]
    front, body = split_front_matter((data / "README.md").read_text(), "README.md")
    assert yaml.safe_load(front or "") == DATASET_METADATA
    assert "# Flowers" in body and "Two columns." in body and "| `data/train.csv` | 8 |" in body
    checked = subprocess.run(["sha256sum", "-c", "../data.sha256"], cwd=data / "data", capture_output=True, text=True)
    assert checked.returncode == 0 and "train.csv: OK" in checked.stdout

    # The model: its card's datasets: metadata and body link the dataset at its tag; its manifest records the commit.
    weights = _download(hub, "alice/ds-first", "v1.0", tmp_path / "c2")
    front, body = split_front_matter((weights / "README.md").read_text(), "README.md")
    assert yaml.safe_load(front or "")["datasets"] == ["alice/ds-first-data"]
    assert f"[`alice/ds-first-data`]({hub.url}/datasets/alice/ds-first-data/tree/v1.0)" in body
    manifest = read_release_manifest(weights)
    [summary] = manifest.datasets
    assert summary.repo is not None
    assert (summary.repo.repo_id, summary.repo.tag, summary.repo.commit) == (
        "alice/ds-first-data",
        "v1.0",
        tag.target_commit,
    )
    assert (
        f"Dataset alice/ds-first-data v1.0: commit {dataset.commit}"
        in api.list_repo_commits("alice/ds-first")[0].message
    )
    # The staged trees are what was published, release notes included.
    assert {k: v for k, v in _tree(weights).items() if k != ".gitattributes"} == _tree(staged.plan.dest)
    assert {k: v for k, v in _tree(data).items() if k != ".gitattributes"} == _tree(staged.datasets[0].plan.dest)


def test_a_re_run_finds_both_already_released(hub: RunningHub, tmp_path: Path) -> None:
    config = _config(tmp_path, hub, "alice/ds-again")
    [first], model = _release(config, hub)
    assert model is not None
    [again], model_again = _release(config, hub)
    assert model_again is not None
    assert again.already_released and model_again.already_released
    assert (again.commit, model_again.commit) == (first.commit, model.commit)


def test_a_dataset_changed_under_its_version_is_refused_and_the_model_is_not_published(
    hub: RunningHub, tmp_path: Path
) -> None:
    repo = "alice/ds-changed"
    [dataset], model = _release(_config(tmp_path, hub, repo, dataset_version="1"), hub)
    assert model is not None
    # The next model version, from other sources, with the dataset unchanged: the dataset is already released.
    [same], model_two = _release(_config(tmp_path, hub, repo, version="2.0", dataset_version="1"), hub)
    assert same.already_released and same.commit == dataset.commit
    assert model_two is not None and model_two.tag == "v2.0" and not model_two.already_released
    # Version 3.0 of the model, but the dataset's rows changed while its own version stayed 1.
    changed = _config(tmp_path, hub, repo, version="3.0", dataset_version="1", data="x,y\n1,3\n")
    staged = stage_release(changed)
    before = {repo: _tree(staged.plan.dest), f"{repo}-data": _tree(staged.datasets[0].plan.dest)}
    with pytest.raises(PublishError) as info:
        publish_with_datasets(*_repos(staged, changed, hub))
    message = str(info.value)
    assert "v1 is already released on the dataset repository alice/ds-changed-data with different content" in message
    assert "data/train.csv: content on the Hub differs from the release" in message
    assert "bump the dataset's publish.version" in message and "Nothing was published" in message
    api = HfApi(endpoint=hub.url, token=hub.token)
    assert [t.name for t in api.list_repo_refs(repo).tags] == ["v1.0", "v2.0"]  # no v3.0
    assert api.repo_info(repo).sha == model_two.commit
    assert api.dataset_info(f"{repo}-data").sha == dataset.commit
    # Refused: the staged trees are as stage made them (no release notes written into them).
    assert {repo: _tree(staged.plan.dest), f"{repo}-data": _tree(staged.datasets[0].plan.dest)} == before


def test_dry_run_previews_each_dataset_then_the_model_and_creates_nothing(hub: RunningHub, tmp_path: Path) -> None:
    config = _config(tmp_path, hub, "alice/ds-dry")
    staged = stage_release(config)
    before = {d.plan.dest: _tree(d.plan.dest) for d in staged.datasets} | {staged.plan.dest: _tree(staged.plan.dest)}
    [dataset], model = preview_with_datasets(*_repos(staged, config, hub))
    assert (dataset.repo_type, dataset.outcome, model.repo_type, model.outcome) == (
        "dataset",
        "publish",
        "model",
        "publish",
    )
    assert dataset.plan is not None and model.plan is not None
    assert {e.path for e in dataset.plan.add} >= {"README.md", "data.json", "data.sha256", "data/train.csv"}
    api = HfApi(endpoint=hub.url, token=hub.token)
    assert not api.repo_exists("alice/ds-dry-data", repo_type="dataset") and not api.repo_exists("alice/ds-dry")
    assert {d: _tree(d) for d in before} == before


def test_with_create_pr_the_datasets_go_to_pull_requests_and_the_model_waits(hub: RunningHub, tmp_path: Path) -> None:
    config = _config(tmp_path, hub, "alice/ds-reviewed")
    datasets, model = _repos(stage_release(config), config, hub)
    reviewed = [
        StagedRepo(
            d.staged_dir, d.manifest, PublishTarget(hub.url, d.target.repo_id, "dataset", hub.token, create_pr=True)
        )
        for d in datasets
    ]
    [dataset], waiting = publish_with_datasets(reviewed, model)
    assert waiting is None and dataset.pr_url is not None
    api = HfApi(endpoint=hub.url, token=hub.token)
    assert api.list_repo_refs("alice/ds-reviewed-data", repo_type="dataset").tags == []
    assert not api.repo_exists("alice/ds-reviewed")


# --- configuration and card errors name the field -------------------------------------------------


@pytest.mark.parametrize(
    ("publish", "message"),
    [
        ({"repo_id": "alice/d", "licence": "mit"}, "datasets[0].publish.licence: unknown key 'licence'"),
        ({"repo_id": "no-namespace"}, "datasets[0].publish.repo_id"),
        ({"repo_id": "alice/d", "version": 2}, "datasets[0].publish.version: must be a string"),
        ({"repo_id": "alice/d", "private": "yes"}, "datasets[0].publish.private: must be true or false"),
        ({"version": "1"}, "datasets[0].publish"),
    ],
)
def test_a_bad_publish_table_names_the_field(tmp_path: Path, publish: dict[str, Any], message: str) -> None:
    table = {"repo_id": "alice/m", "version": "1", "datasets": [{"name": "d", "dir": "d", "publish": publish}]}
    with pytest.raises(ConfigError) as info:
        parse_config(table, tmp_path / "release.toml", env={})
    assert message in str(info.value) and str(tmp_path / "release.toml") in str(info.value)


def test_two_datasets_cannot_share_a_repository(tmp_path: Path) -> None:
    datasets = [{"name": n, "dir": n, "publish": {"repo_id": "alice/d"}} for n in ("a", "b")]
    with pytest.raises(ConfigError, match=r"datasets\[1\]\.publish\.repo_id: 'alice/d' is already the repository"):
        parse_config({"repo_id": "alice/m", "version": "1", "datasets": datasets}, tmp_path / "r.toml", env={})
    own = {
        "repo_id": "alice/m",
        "repo_type": "dataset",
        "version": "1",
        "datasets": [datasets[0] | {"publish": {"repo_id": "alice/m"}}],
    }
    with pytest.raises(ConfigError, match=r"datasets\[0\]\.publish\.repo_id: 'alice/m' is the release's own"):
        parse_config(own, tmp_path / "r.toml", env={})


def test_the_dataset_version_defaults_to_the_release_version(tmp_path: Path) -> None:
    table = {
        "repo_id": "alice/m",
        "version": "2.1",
        "datasets": [{"name": "d", "dir": "d", "publish": {"repo_id": "alice/d"}}],
    }
    [dataset] = parse_config(table, tmp_path / "r.toml", env={}).datasets
    assert dataset.publish is not None and dataset.publish.tag == "v2.1" and not dataset.publish.own_version


def test_dataset_card_metadata_failing_the_dataset_schema_names_the_field_and_stages_nothing(
    hub: RunningHub, tmp_path: Path
) -> None:
    config = _config(
        tmp_path, hub, "alice/ds-bad-card", metadata={"license": "cc-by-4", "configs": [{"data_files": "x"}]}
    )
    with pytest.raises(CardValidationError) as info:
        stage_release(config)
    text = str(info.value)
    assert "release.toml [datasets[0].publish.metadata]" in text and "the dataset card metadata" in text
    assert "license" in text and "did you mean 'cc-by-4.0'?" in text and "configs[0].config_name" in text
    assert not (tmp_path / "dist").exists() and not (tmp_path / "build" / "README.md").exists()


def test_a_dataset_card_from_a_yaml_file_names_file_and_line(hub: RunningHub, tmp_path: Path) -> None:
    card = tmp_path / "data-card.yaml"
    card.parent.mkdir(parents=True, exist_ok=True)
    card.write_text("pretty_name: Flowers\nconfigs:\n  - data_files: data/*.csv\n")
    config = _config(tmp_path, hub, "alice/ds-bad-file", metadata="data-card.yaml")
    with pytest.raises(CardValidationError) as info:
        stage_release(config)
    assert f"{card}:3: configs[0].config_name" in str(info.value)


def test_the_release_manifest_round_trips_the_dataset_repository(hub: RunningHub, tmp_path: Path) -> None:
    staged = stage_release(_config(tmp_path, hub, "alice/ds-manifest"))
    document = json.loads((staged.plan.dest / "release-manifest.json").read_text())
    assert document["datasets"][0]["repo"] == {
        "repo_id": "alice/ds-manifest-data",
        "repo_type": "dataset",
        "tag": "v1.0",
        "commit": None,
    }
    assert read_release_manifest(staged.plan.dest) == staged.plan.manifest
    own = json.loads((staged.datasets[0].plan.dest / "release-manifest.json").read_text())
    assert "repo" not in own["datasets"][0] and own["repo_type"] == "dataset"


def test_the_card_stage_checks_the_dataset_cards_too(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "t.csv").write_text("a\n1\n")
    (tmp_path / "release.toml").write_text(
        'repo_id = "alice/m"\nversion = "1"\n\n[[datasets]]\nname = "d"\ndir = "data"\n\n[datasets.publish]\n'
        'repo_id = "alice/d"\nmetadata = { license = "mit", licenses = ["mit"] }\n'
    )
    command = [sys.executable, "-m", "release", "card"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "release.toml [datasets[0].publish.metadata]: licenses" in result.stderr
    assert "rename it to license" in result.stderr
    assert not (tmp_path / "build" / "README.md").exists()


def test_reproducing_a_dataset_release_downloads_and_verifies_its_files(
    hub: RunningHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from release.cli import main

    config = _config(tmp_path, hub, "alice/ds-reproduce")
    staged = stage_release(config)
    publish_with_datasets(*_repos(staged, config, hub))
    dest = tmp_path / "reproduced"
    argv = ["reproduce", "--repo-type", "dataset", "alice/ds-reproduce-data", "--dest", str(dest)]
    assert main([*argv, "--endpoint", hub.url, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["revision"], summary["activate"], summary["installed"]) == ("v1.0", None, {})
    assert "release-manifest.json" in summary["verified"]
    # every file of the release, byte for byte, each checked against the manifest (the card beside the
    # manifest in release/, as for a model); no environment is built
    released = _tree(staged.datasets[0].plan.dest)
    assert _tree(dest / "files") == {
        k: v for k, v in released.items() if k not in ("README.md", "release-manifest.json")
    }
    assert (dest / "release" / "README.md").read_bytes() == released["README.md"]
    assert not (dest / "venv").exists()


def test_eval_results_on_the_published_dataset_name_its_repository(tmp_path: Path, hub: RunningHub) -> None:
    _config(tmp_path, hub, "alice/ds-scores")  # writes the model and data folders
    result = {
        "task": {"type": "tabular-classification"},
        "dataset": {"type": "flowers", "name": "flowers", "split": "test"},  # the dataset's name in the config
        "metrics": [{"type": "accuracy", "value": 0.9}],
    }
    (tmp_path / "eval.json").write_text(json.dumps({"results": [result]}))
    table = {
        "repo_id": "alice/ds-scores",
        "version": "1.0",
        "endpoint": hub.url,
        "model": {"dir": "model"},
        "datasets": [{"name": "flowers", "dir": "data", "publish": {"repo_id": "alice/ds-scores-data"}}],
        "card": {"metadata": {"license": "mit"}, "eval_results": "eval.json", "eval_results_dir": True},
    }
    staged = stage_release(parse_config(table, tmp_path / "release.toml", env={}))
    front, _ = split_front_matter((staged.plan.dest / "README.md").read_text(), "README.md")
    [linked] = yaml.safe_load(front or "")["model-index"][0]["results"]
    assert linked["dataset"] == {"type": "alice/ds-scores-data", "name": "flowers", "split": "test", "revision": "v1.0"}
    [scores] = (staged.plan.dest / ".eval_results").iterdir()  # the Hub's per-benchmark file names it too
    assert "alice/ds-scores-data" in scores.read_text()


def _name_of_this_machine() -> str:
    """A host name, not ``localhost``, naming this machine: the emulator addressed by it counts as a Hub
    on another machine (release.upload_checks.is_remote_hub decides by the host name).

    The machine's name resolving to a loopback address (as /etc/hosts often has it) is best; else one
    resolving to an address of this machine that a server can bind (the emulator listens there for the
    test, behind its token and Host checks).
    """
    candidates = [socket.gethostname(), socket.getfqdn(), "localhost.localdomain"]
    bindable: list[str] = []
    for name in dict.fromkeys(candidates):
        try:
            found = {info[4][0] for info in socket.getaddrinfo(name, None, family=socket.AF_INET)}
        except OSError:
            continue
        if not found or not is_remote_hub(f"http://{name}:1"):
            continue
        if all(ipaddress.ip_address(address).is_loopback for address in found):
            return name
        with socket.socket() as probe:
            try:
                probe.bind((next(iter(found)), 0))
            except OSError:
                continue
        bindable.append(name)
    if bindable:
        return bindable[0]
    pytest.skip("no host name other than localhost names this machine")


def test_a_model_card_the_hub_refuses_stops_the_release_before_any_repository_is_touched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The online card checks of all repositories run before the first upload: the dataset is not published."""
    from release.hub.server import HubServer, Token
    from release.workflow.publish import PublishOptions, publish

    name = _name_of_this_machine()
    with HubServer(tmp_path / "hub", [Token("alice", "hf_remote_alice")], host=name) as server:
        endpoint = f"http://{name}:{server.url.rsplit(':', 1)[1]}"
        remote = RunningHub(endpoint, tmp_path / "hub", "hf_remote_alice", "unused", "unused", server.storage_url)
        config = _config(tmp_path / "project", remote, "alice/remote-card")
        staged = stage_release(config)
        datasets, model = _repos(staged, config, remote)
        # The model card, as staged, with front matter the Hub's YAML parser refuses (same size: the
        # staged tree still looks complete, so only the Hub's check can stop it).
        card = model.staged_dir / "README.md"
        text = card.read_text()
        front = text.split("---\n")[1]
        broken = "license: [" + "x" * (len(front) - len("license: [") - 1) + "\n"
        card.write_text(text.replace(front, broken, 1))
        assert card.stat().st_size == len(text.encode())
        with pytest.raises(CardValidationError, match="refused the card's metadata; nothing was uploaded"):
            publish_with_datasets(datasets, model)
        # publish --dry-run asks the Hub the same (with a token that may only read, too)
        monkeypatch.setenv("HF_TOKEN", remote.token)
        with pytest.raises(CardValidationError, match="refused the card's metadata"):
            publish(config, PublishOptions(dry_run=True))
        api = HfApi(endpoint=endpoint, token=remote.token)
        assert not api.repo_exists("alice/remote-card-data", repo_type="dataset")
        assert not api.repo_exists("alice/remote-card")
