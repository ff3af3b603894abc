"""Under GitHub Actions: the version from the tag, the job summary, plain progress, trusted publishing.

The Actions environment is simulated with the variables GitHub sets in every step; the commands run
as real processes of the CLI, against the embedded local Hub or the session's Hub emulator.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import WRITE_TOKEN, RunningHub
from project import copy_example, run_cli

from release.checksum import ManifestEntry
from release.ci import ActionsRun, append_summary, render_summary
from release.publish_plan import PublishPlan
from release.redaction import redact, secrets_of
from release.workflow.outcomes import DryRunReport, Repo, WouldPublish

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCE_SHA = "5f3c1e0a9b8d7c6e5f4a3b2c1d0e9f8a7b6c5d4e"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "project")


def _actions(summary: Path | None, ref_type: str, ref_name: str, **extra: str) -> dict[str, str]:
    """The variables GitHub Actions sets in a step of a workflow run."""
    env = {
        "GITHUB_ACTIONS": "true",
        "CI": "true",
        "GITHUB_REF_TYPE": ref_type,
        "GITHUB_REF_NAME": ref_name,
        "GITHUB_REF": f"refs/{'tags' if ref_type == 'tag' else 'heads'}/{ref_name}",
        "GITHUB_SHA": SOURCE_SHA,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "flower-lab/tiny-flowers",
        "GITHUB_RUN_ID": "4242",
        **extra,
    }
    if summary is not None:
        env["GITHUB_STEP_SUMMARY"] = str(summary)
    return env


def _set_namespace(project: Path, prefix: str) -> None:
    """Move the example's repositories (the model's, and its dataset's when published) to ``prefix``."""
    config = project / "release.toml"
    config.write_text(config.read_text().replace('"examples/tiny-flowers', f'"{prefix}'))


# --- through the CLI ------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_tag_build_releases_the_tagged_version_and_summarises_it(project: Path, tmp_path: Path) -> None:
    summary = tmp_path / "step_summary.md"
    summary.write_text("output of an earlier step\n")
    result = run_cli("release", "--json", cwd=project, env=_actions(summary, "tag", "v0.1.0"))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["version"] == "0.1.0" and document["tag"] == "v0.1.0"
    text = summary.read_text()
    assert text.startswith(
        "output of an earlier step\n### model-release release: released examples/tiny-flowers v0.1.0"
    )
    assert "| Result | released, verified and tagged |" in text
    assert "| Version | `0.1.0`, tag `v0.1.0` |" in text
    assert "| Ref | tag `v0.1.0`: the version comes from it |" in text
    assert f"| Commit on the Hub | `{document['commit']}` |" in text
    assert f"| Source commit | `{SOURCE_SHA}` |" in text
    assert f"| Files | {document['files']} files, {document['bytes']:,} bytes |" in text
    assert "| Run | https://github.com/flower-lab/tiny-flowers/actions/runs/4242 |" in text
    assert "embedded local Hub" in text
    assert "#### Release notes\n\n" + document["release_notes"].strip() in text
    assert text.endswith("\n\n")


def test_a_tag_that_disagrees_with_the_config_fails_and_the_summary_says_why(project: Path, tmp_path: Path) -> None:
    summary = tmp_path / "step_summary.md"
    result = run_cli("release", cwd=project, env=_actions(summary, "tag", "v0.2.0"))
    assert result.returncode == 2
    assert "ConfigError" in result.stderr
    assert "version is '0.1.0' but the CI tag (GITHUB_REF_NAME) releases '0.2.0'" in result.stderr
    text = summary.read_text()
    assert text.startswith("### model-release release: failed\n\n**ConfigError**\n\n```text\n")
    assert "version is '0.1.0' but the CI tag (GITHUB_REF_NAME) releases '0.2.0'" in text
    assert "| Ref | tag `v0.2.0`: the version comes from it |" in text
    assert not (project / "dist").exists() and not (project / ".hub").exists() and not (project / "build").exists()


def test_without_a_version_in_the_config_the_tag_gives_it(project: Path, tmp_path: Path) -> None:
    config = project / "release.toml"
    config.write_text(config.read_text().replace('version = "0.1.0"\n', ""))
    summary = tmp_path / "step_summary.md"
    result = run_cli("release", "--dry-run", "--json", cwd=project, env=_actions(summary, "tag", "v0.4.2"))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["version"] == "0.4.2" and document["tag"] == "v0.4.2" and document["outcome"] == "publish"
    text = summary.read_text()
    assert text.startswith("### model-release release --dry-run: would release examples/tiny-flowers v0.4.2\n")
    assert "| Version | `0.4.2`, tag `v0.4.2` |" in text


def test_a_branch_push_keeps_the_configured_version(project: Path, tmp_path: Path) -> None:
    summary = tmp_path / "step_summary.md"
    result = run_cli("release", "--dry-run", "--json", cwd=project, env=_actions(summary, "branch", "main"))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["tag"] == "v0.1.0"
    plan = document["plan"]
    text = summary.read_text()
    assert "### model-release release --dry-run: would release examples/tiny-flowers v0.1.0" in text
    assert "| Result | dry run: nothing was sent to local |" in text
    assert "| Ref | branch `main`: not a tag build, so the version is the configuration's |" in text
    assert (
        f"| Plan | add {len(plan['added'])}, change 0, delete 0, keep 0; upload {plan['upload_bytes']:,} bytes |"
        in text
    )
    assert "#### Release notes\n\n# Release v0.1.0\n\nFirst release" in text
    assert "Commit on the Hub" not in text  # nothing was committed


def test_other_commands_summarise_their_outcome(project: Path, tmp_path: Path) -> None:
    summary = tmp_path / "step_summary.md"
    env = _actions(summary, "branch", "main")
    assert run_cli("lock", "--check", cwd=project, env=env).returncode == 0
    (project / "requirements.in").write_text("numpy>=2\n")
    assert run_cli("lock", "--check", cwd=project, env=env).returncode == 1
    text = summary.read_text()
    first, second = text.split("### model-release lock --check: ")[1:]
    assert first.startswith("ok\n\n```text\nlocks are fresh\n```")
    assert second.startswith("failed\n\n**StaleLockError**\n\n```text\nThe lock ")
    assert "requirements.txt is stale" in second


def test_no_summary_outside_github_actions(project: Path, tmp_path: Path) -> None:
    summary = tmp_path / "step_summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary)}  # set, but GITHUB_ACTIONS is not
    assert run_cli("lock", "--check", cwd=project, env=env).returncode == 0
    assert not summary.exists()


@pytest.mark.slow
def test_a_release_to_a_remote_hub_links_it_and_never_shows_the_token(
    project: Path, tmp_path: Path, hub: RunningHub
) -> None:
    _set_namespace(project, "alice/ci-summary-flowers")
    summary = tmp_path / "step_summary.md"
    env = _actions(summary, "tag", "v0.1.0", HF_TOKEN=WRITE_TOKEN)
    result = run_cli("release", "--endpoint", hub.url, "--json", cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    text = summary.read_text()
    url = f"{hub.url}/alice/ci-summary-flowers"
    assert f"| Repository | [alice/ci-summary-flowers]({url}) ([`v0.1.0`]({url}/tree/v0.1.0)) on {hub.url} |" in text
    assert WRITE_TOKEN not in text + result.stdout + result.stderr
    # --endpoint, not the config's "local", is the Hub the card links the dataset repository on
    card = (Path(json.loads(result.stdout)["staged_dir"]) / "README.md").read_text()
    assert f"({hub.url}/datasets/alice/ci-summary-flowers-data/tree/v0.1.0)" in card


def test_trusted_publishing_without_an_id_token_stops_before_any_work(
    project: Path, tmp_path: Path, hub: RunningHub
) -> None:
    _set_namespace(project, "alice/ci-oidc-flowers")
    summary = tmp_path / "step_summary.md"
    # The workflow lacks `permissions: id-token: write`, so GitHub gives no ACTIONS_ID_TOKEN_REQUEST_URL;
    # HF_OIDC_RESOURCE opts into trusted publishing, which then wins over an HF_TOKEN also present.
    env = _actions(summary, "tag", "v0.1.0", HF_OIDC_RESOURCE="alice/ci-oidc-flowers", HF_TOKEN=WRITE_TOKEN)
    result = run_cli("release", "--endpoint", hub.url, cwd=project, env=env)
    assert result.returncode == 1
    assert "AuthError: trusted publishing (HF_OIDC_RESOURCE=alice/ci-oidc-flowers) gave no token" in result.stderr
    assert "permissions: id-token: write" in result.stderr
    text = summary.read_text()
    assert "### model-release release: failed\n\n**AuthError**" in text and "id-token: write" in text
    assert WRITE_TOKEN not in text + result.stderr
    assert not (project / "dist").exists() and not (project / "build").exists()


def test_progress_is_plain_log_lines_under_github_actions(tmp_path: Path) -> None:
    weights = tmp_path / "weights.bin"
    with weights.open("wb") as handle:
        handle.truncate(64 << 20)  # the smallest total that gets progress
    actions = run_cli("checksum", "--no-cache", str(weights), cwd=tmp_path, env=_actions(None, "branch", "main"))
    assert actions.returncode == 0, actions.stderr
    lines = [line for line in actions.stderr.splitlines() if line.startswith("INFO: sha256: ")]
    assert lines == [f"INFO: sha256: {p}% of 64.0 MiB" for p in range(10, 101, 10)]
    assert "\x1b[" not in actions.stderr and "\r" not in actions.stderr  # no terminal control: a log
    elsewhere = run_cli("checksum", "--no-cache", str(weights), cwd=tmp_path, env={})
    assert elsewhere.returncode == 0 and "sha256: " not in elsewhere.stderr  # not a terminal: no progress


# --- the summary itself ---------------------------------------------------------------------------

RUN = ActionsRun(Path("summary.md"), "tag", "v1.2.0", SOURCE_SHA, "https://github.com/o/r/actions/runs/7")


@dataclass(frozen=True)
class _FailedCheck:
    """What the summary reads of any command's report other than release's and publish's."""

    message: str
    exit_code: int = 1


def test_a_dry_run_summary_counts_the_plan() -> None:
    def entry(path: str, size: int) -> ManifestEntry:
        return ManifestEntry(path, size, "0" * 64)

    plan = PublishPlan(
        head=None,
        add=(entry("a", 1000), entry("b", 1500), entry("c", 500)),
        unchanged=tuple(entry(f"kept-{n}", 0) for n in range(4)),
        delete=("old.bin",),
        changed=frozenset({"b", "c"}),
    )
    repo = Repo("alice/m", "model", "1.2.0", "v1.2.0", "https://hub.example", None)
    result = DryRunReport("release", WouldPublish(repo, True, plan, "# Release v1.2.0\n\n- changed b\n"))
    text = render_summary("release --dry-run", result, RUN)
    assert text.splitlines()[:3] == ["### model-release release --dry-run: would release alice/m v1.2.0", "", "| | |"]
    assert "| Repository | [alice/m](https://hub.example/alice/m) on https://hub.example |" in text
    assert "| Plan | add 1, change 2, delete 1, keep 4; upload 3,000 bytes |" in text
    assert "| Result | dry run: nothing was sent to https://hub.example |" in text
    assert text.endswith("#### Release notes\n\n# Release v1.2.0\n\n- changed b\n\n")
    chunked = render_summary("release --dry-run", DryRunReport("release", WouldPublish(repo, True, plan, "", 3)), RUN)
    assert "| Plan | add 1, change 2, delete 1, keep 4; upload 3,000 bytes; in 2 commits to a pull request, " in chunked


def test_a_summary_never_holds_a_token() -> None:
    secret = "ghs_16C7e42F292c6912E7710c838347Ae178B4a"
    hf_token = "hf_" + "Qw7Rt5Yu3Io1Pa9Sd8Fg6Hj4Kl2Zx0CvBn"
    message = f"the server said: bad credentials {secret} and {hf_token}"
    text = render_summary("publish", None, RUN, error=("PublishError", message), secrets=[secret])
    assert secret not in text and hf_token not in text
    assert "bad credentials *** and hf_***" in text
    assert secrets_of({"HF_TOKEN": hf_token, "GITHUB_TOKEN": secret, "HF_ENDPOINT": "https://x"}) == tuple(
        sorted([secret, hf_token])
    )
    assert redact("nothing to hide", []) == "nothing to hide"


def test_a_message_with_backticks_keeps_its_fence() -> None:
    text = render_summary("card --check", _FailedCheck("a ```b``` c"), RUN)
    assert text == "### model-release card --check: failed\n\n````text\na ```b``` c\n````\n\n"


def test_summaries_are_appended_whole(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    append_summary(path, "first\n")
    append_summary(path, "second " * 100_000 + "\n")
    assert path.read_text() == "first\n" + "second " * 100_000 + "\n"


def test_the_run_is_read_from_github_actions_variables() -> None:
    assert ActionsRun.from_env({"GITHUB_STEP_SUMMARY": "/tmp/s.md"}) is None  # not under Actions
    run = ActionsRun.from_env({"GITHUB_ACTIONS": "true", "GITHUB_REF_TYPE": "branch", "GITHUB_REF_NAME": "dev"})
    assert run is not None and run.summary_path is None and run.run_url is None
    assert run.describe_ref() == "branch `dev`: not a tag build, so the version is the configuration's"
