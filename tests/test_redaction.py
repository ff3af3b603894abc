"""One redaction rule (release.redaction) on every channel: printed errors and reports, logs, the job summary."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest
from conftest import HUB_URL, RunningHub
from project import copy_example, run_cli

from release.cli import main
from release.redaction import RedactingFilter, public_url, redact, remember

PASSWORD = "S3cr3t-pa55w0rd-in-the-url"  # made up here
# A token of the Hub's shape, built at run time: the repository holds no literal secret.
HF_SHAPED = "hf_" + "".join(chr(ord("A") + (i * 7) % 26) for i in range(34))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"http://user:{PASSWORD}@host:8/api", "http://***@host:8/api"),
        (f"https://{PASSWORD}@hub.example/x", "https://***@hub.example/x"),
        (f"token {HF_SHAPED}.", "token hf_***."),
        ("api_org_" + "a1" * 16, "api_org_***"),
        (f"GET /x?token={PASSWORD}&revision=main", "GET /x?token=***&revision=main"),
        (f"/lfs?repo=a/b&size=3&expires=9&signature={PASSWORD}", "/lfs?repo=a/b&size=3&expires=9&signature=***"),
        (f"u?access_token={PASSWORD}#frag", "u?access_token=***#frag"),
        (f"u?password={PASSWORD} and u?sig={PASSWORD}", "u?password=*** and u?sig=***"),
        (f"s3?X-Amz-Signature={PASSWORD}&X-Amz-Credential={PASSWORD}", "s3?X-Amz-Signature=***&X-Amz-Credential=***"),
        # ordinary text is left alone
        ("https://huggingface.co/alice/m/tree/v1.0?recursive=true", None),
        ("tokenizer.json, key_size=3, hf_short, password: see the docs", None),
    ],
)
def test_redact_replaces_every_known_shape_of_secret(text: str, expected: str | None) -> None:
    redacted = redact(text)
    assert redacted == (text if expected is None else expected)
    assert PASSWORD not in redacted and HF_SHAPED not in redacted


def test_known_secrets_are_redacted_whatever_their_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_plain_value_42")
    remember("my-configured-token-value")
    remember("short")  # too short to search for: it would blank out ordinary words
    text = redact("a ghs_plain_value_42 b my-configured-token-value c short d", ["given-secret-1"])
    assert text == "a *** b *** c short d"
    assert redact("x given-secret-1 y", ["given-secret-1"]) == "x *** y"


def test_public_url_drops_the_user_info() -> None:
    assert public_url(f"https://user:{PASSWORD}@hub.example/datasets/a/b") == "https://hub.example/datasets/a/b"
    assert public_url("https://huggingface.co") == "https://huggingface.co"


def test_a_log_record_never_shows_a_secret_in_its_message_args_or_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    log = logging.getLogger("release.test_redaction")
    log.addHandler(handler)
    log.propagate = False  # only this handler: not one an in-process CLI run of another test left on "release"
    try:
        log.warning("connecting to %s with %s", f"http://u:{PASSWORD}@h", HF_SHAPED)
        try:
            raise RuntimeError(f"refused http://u:{PASSWORD}@h?token={PASSWORD}")
        except RuntimeError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
        log.propagate = True
    err = capsys.readouterr().err
    assert "connecting to http://***@h with hf_***" in err
    assert "RuntimeError: refused http://***@h?token=***" in err
    assert PASSWORD not in err and HF_SHAPED not in err


def test_the_cli_log_handler_redacts(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The CLI's own handler, as `main` configures it, on a record of one of model-release's loggers."""
    config = tmp_path / "release.toml"
    config.write_text(f'repo_id = "alice/m"\nversion = "1"\nendpoint = "http://u:{PASSWORD}@127.0.0.1:9"\n')
    ours = logging.getLogger("release")
    saved = (ours.handlers[:], ours.level, ours.propagate)
    try:
        assert main(["--config", str(config), "-q", "card", "validate", str(tmp_path / "none.md")]) != 0
        logging.getLogger("release.pipeline").warning("the Hub at %s said %s", f"http://u:{PASSWORD}@h", HF_SHAPED)
    finally:
        ours.handlers[:], ours.level, ours.propagate = saved
    captured = capsys.readouterr()
    assert "the Hub at http://***@h said hf_***" in captured.err
    assert PASSWORD not in captured.out + captured.err


def _everything_written(*roots: Path) -> bytes:
    return b"".join(p.read_bytes() for root in roots for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def test_a_password_in_the_endpoint_url_is_never_printed_logged_or_written(tmp_path: Path, hub: RunningHub) -> None:
    project = copy_example(tmp_path / "project")
    summary = tmp_path / "summary.md"
    endpoint = HUB_URL.replace("http://", f"http://someone:{PASSWORD}@")
    env = {"HF_TOKEN": hub.token, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    for command in (["release", "-v", "--json"], ["release", "-v", "--dry-run"], ["reproduce", "alice/none"]):
        result = run_cli(*command, "--endpoint", endpoint, cwd=project, env=env)
        assert result.returncode != 0, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        printed = result.stdout + result.stderr
        assert "***@127.0.0.1" in printed, printed
        assert PASSWORD not in printed and hub.token not in printed
    written = _everything_written(project, tmp_path / "summary.md")
    assert summary.read_text().count("### model-release") == 3
    assert PASSWORD.encode() not in written and hub.token.encode() not in written
    assert os.fsencode(PASSWORD) not in summary.read_bytes()


def test_what_a_server_says_is_quoted_flat_short_and_redacted() -> None:
    from release.hub_client import SERVER_WORDS_LIMIT, server_words

    said = f"bad\x1b[2J request\r\nfor http://u:{PASSWORD}@h?sig={PASSWORD} by {HF_SHAPED}\u2028" + "x" * 1000
    quoted = server_words(said)
    assert quoted.startswith("bad [2J request for http://***@h?sig=*** by hf_*** xxx")
    assert quoted.endswith(" [cut]") and len(quoted) <= SERVER_WORDS_LIMIT + len(" [cut]")
    assert not any(ord(char) < 0x20 for char in quoted) and PASSWORD not in quoted
