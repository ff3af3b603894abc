"""Running under GitHub Actions: what the run is (tag or branch), and the job summary of a command.

Everything here is a pure function of the environment and of a command's result, except
:func:`append_summary`, which appends to the file named by ``GITHUB_STEP_SUMMARY``. The CLI
decides when to call them. The version a tag build releases is read by
:func:`release.config.version_from_ci`; this module only reports it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

#: GitHub refuses a step summary above 1 MiB; the release notes are cut to stay well below it.
SUMMARY_LIMIT = 512 * 1024
#: Environment variables whose values are credentials: never written into a summary.
SECRET_VARIABLES = (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_OIDC_ID_TOKEN",
    "GITHUB_TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
)
_HF_TOKEN_PATTERN = re.compile(r"\bhf_[A-Za-z0-9]{20,}\b")


class ActionsRun(NamedTuple):
    """The GitHub Actions run this process belongs to (``GITHUB_ACTIONS=true``).

    A NamedTuple, not a dataclass: every command imports this module, and ``dataclasses`` costs ~15 ms
    of start-up (see ``release.checksum``).
    """

    summary_path: Path | None  # GITHUB_STEP_SUMMARY
    ref_type: str | None  # "tag" or "branch" (GITHUB_REF_TYPE)
    ref_name: str | None  # "v1.2.3" or "main" (GITHUB_REF_NAME)
    sha: str | None  # the source commit (GITHUB_SHA)
    run_url: str | None  # the run's page

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ActionsRun | None:
        """The run, or None when not under GitHub Actions."""
        if not in_github_actions(env):
            return None
        server, repository, run_id = (env.get(f"GITHUB_{k}") for k in ("SERVER_URL", "REPOSITORY", "RUN_ID"))
        return cls(
            summary_path=Path(env["GITHUB_STEP_SUMMARY"]) if env.get("GITHUB_STEP_SUMMARY") else None,
            ref_type=env.get("GITHUB_REF_TYPE") or None,
            ref_name=env.get("GITHUB_REF_NAME") or None,
            sha=env.get("GITHUB_SHA") or None,
            run_url=f"{server}/{repository}/actions/runs/{run_id}" if server and repository and run_id else None,
        )

    def describe_ref(self) -> str | None:
        if self.ref_name is None:
            return None
        if self.ref_type == "tag":
            return f"tag `{self.ref_name}`: the version comes from it"
        if self.ref_type == "branch":
            return f"branch `{self.ref_name}`: not a tag build, so the version is the configuration's"
        return f"`{self.ref_name}`"


def in_github_actions(env: Mapping[str, str]) -> bool:
    """GitHub sets ``GITHUB_ACTIONS=true`` in every step: its log is not a terminal, so no progress bars."""
    return env.get("GITHUB_ACTIONS") == "true"


def secrets_of(env: Mapping[str, str]) -> tuple[str, ...]:
    """The credential values in ``env`` that a summary must never contain."""
    return tuple(sorted({env[name] for name in SECRET_VARIABLES if len(env.get(name, "")) >= 8}))


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` without any of ``secrets``, nor anything shaped like a Hugging Face token."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return _HF_TOKEN_PATTERN.sub("hf_***", text)


def render_summary(
    label: str,
    result: Mapping[str, Any] | None,
    run: ActionsRun,
    *,
    error: tuple[str, str] | None = None,
    secrets: Iterable[str] = (),
) -> str:
    """The Markdown a command appends to the job summary.

    ``label`` is the command as typed (``release --dry-run``); ``result`` its result, or None when
    it failed with ``error`` (the error's class name and message). ``release`` and ``publish`` get
    a table (result, repository, version, commit, files, plan) and the release notes; any other
    command its message.
    """
    lines: list[str] = []
    ref = run.describe_ref()
    if error is not None:
        kind, message = error
        lines += [f"### model-release {label}: failed", "", f"**{kind}**", "", *_block(message)]
        lines += ["", *_table([("Ref", ref), ("Run", run.run_url)])] if ref or run.run_url else []
    elif result is not None and result.get("command") in ("release", "publish"):
        lines += _release_summary(label, result, run)
    else:
        result = result or {}
        failed = int(result.get("exit_code", 0)) != 0
        lines += [f"### model-release {label}: {'failed' if failed else 'ok'}"]
        if result.get("message"):
            lines += ["", *_block(str(result["message"]))]
    text = "\n".join(lines).rstrip("\n") + "\n\n"
    return redact(text, secrets)


def append_summary(path: Path, text: str) -> None:
    """Append ``text`` to the job summary in one ``write`` on an ``O_APPEND`` descriptor.

    Steps of a job, and commands of a step, append to the same file: each summary stays whole.
    """
    data = text.encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)


# --- the release summary --------------------------------------------------------------------------


def _release_summary(label: str, result: Mapping[str, Any], run: ActionsRun) -> list[str]:
    repo_id, tag = result.get("repo_id", "?"), result.get("tag", "?")
    failed = int(result.get("exit_code", 0)) != 0
    if result.get("dry_run"):
        outcome = result.get("outcome")
        headline = {
            "already released": f"{repo_id} {tag} is already released",
            "refuse": f"{repo_id} {tag} would be refused",
        }.get(str(outcome), f"would release {repo_id} {tag}")
        verdict = f"dry run: nothing was sent to {result.get('endpoint')}"
    elif result.get("pr_url"):
        headline = f"{repo_id} {tag} is in a pull request, not tagged yet"
        verdict = f"verified in the pull request {result['pr_url']}; merge it, then publish again to tag {tag}"
    elif result.get("already_released"):
        headline = verdict = f"{repo_id} {tag} was already released"
    elif result.get("published") is False:
        headline = f"{repo_id} {tag} was not published yet"
        verdict = "waiting for its datasets' pull requests: merge them, then publish again"
    else:
        headline, verdict = f"released {repo_id} {tag}", "released, verified and tagged"
    lines = [f"### model-release {label}: {'failed: ' if failed else ''}{headline}", ""]
    rows: list[tuple[str, str | None]] = [
        ("Result", verdict),
        ("Repository", _repository(result)),
        ("Version", f"`{result.get('version')}`, tag `{tag}`" if result.get("version") else f"tag `{tag}`"),
        ("Ref", run.describe_ref()),
        ("Commit on the Hub", f"`{result['commit']}`" if result.get("commit") else None),
        ("Source commit", f"`{run.sha}`" if run.sha else None),
        ("Files", _files(result)),
        ("Plan", _plan(result.get("plan"))),
        ("Changes", _changes(result)),
        *(("Dataset", _dataset(d)) for d in result.get("datasets") or () if isinstance(d, Mapping)),
        ("Run", run.run_url),
    ]
    lines += _table(rows)
    if failed and result.get("message"):
        lines += ["", *_block(str(result["message"]))]
    notes = str(result.get("release_notes") or "").strip("\n")
    if notes and not result.get("already_released"):
        if len(notes) > SUMMARY_LIMIT:
            notes = notes[:SUMMARY_LIMIT].rsplit("\n", 1)[0] + "\n\n_(cut here: the whole notes are RELEASE_NOTES.md)_"
        lines += ["", "#### Release notes", "", notes]
    return lines


def _repository(result: Mapping[str, Any]) -> str:
    repo_id = str(result.get("repo_id", "?"))
    endpoint = str(result.get("endpoint") or "")
    if endpoint in ("", "local"):
        return f"`{repo_id}` on the embedded local Hub (`.hub/`)"
    prefix = "datasets/" if result.get("repo_type") == "dataset" else ""
    url = str(result.get("url") or f"{endpoint}/{prefix}{repo_id}")
    tag = result.get("tag")
    link = f"[{repo_id}]({url})"
    if tag and not result.get("dry_run") and not result.get("pr_url"):
        link += f" ([`{tag}`]({url}/tree/{tag}))"
    return f"{link} on {endpoint}"


def _dataset(result: Mapping[str, Any]) -> str:
    """A dataset published as a repository of its own, before the model: one cell."""
    state = (
        _plan(result.get("plan"))
        or result.get("outcome")
        or ("already released" if result.get("already_released") else None)
    )
    if not result.get("dry_run") and result.get("commit") and not result.get("already_released"):
        state = f"released at `{result['commit']}`"
    return f"{_repository({'repo_type': 'dataset', **result})}, tag `{result.get('tag')}`: {state or 'published'}"


def _files(result: Mapping[str, Any]) -> str | None:
    if result.get("files") is None and result.get("bytes") is None:
        return None
    parts = []
    if result.get("files") is not None:
        parts.append(f"{result['files']} files")
    if result.get("bytes") is not None:
        parts.append(f"{int(result['bytes']):,} bytes")
    return ", ".join(parts)


def _plan(plan: Any) -> str | None:
    if not isinstance(plan, Mapping):
        return None
    return (
        f"add {len(plan.get('added', []))}, change {len(plan.get('changed', []))}, "
        f"delete {len(plan.get('deleted', []))}, keep {plan.get('unchanged', 0)}; "
        f"upload {int(plan.get('upload_bytes', 0)):,} bytes"
    )


def _changes(result: Mapping[str, Any]) -> str | None:
    if "uploaded" not in result and "deleted" not in result:
        return None
    return f"{len(result.get('uploaded', []))} file(s) uploaded, {len(result.get('deleted', []))} deleted"


def _table(rows: Iterable[tuple[str, str | None]]) -> list[str]:
    kept = [(name, value) for name, value in rows if value]
    if not kept:
        return []
    return ["| | |", "|---|---|", *(f"| {name} | {_cell(value)} |" for name, value in kept)]


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def _block(text: str) -> list[str]:
    """``text`` as a fenced block, with a fence longer than any run of backticks inside it."""
    if len(text) > SUMMARY_LIMIT:
        text = text[:SUMMARY_LIMIT] + "\n[cut: the whole output is in the job's log]"
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}text", text.rstrip("\n"), fence]
