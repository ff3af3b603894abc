"""Running under GitHub Actions: what the run is (tag or branch), and the job summary of a command.

Everything here is a pure function of the environment and of a command's report, except
:func:`append_summary`, which appends to the file named by ``GITHUB_STEP_SUMMARY``. The CLI
decides when to call them. The version a tag build releases is read by
:func:`release.config.version_from_ci`; this module only reports it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from release.progress import in_github_actions
from release.redaction import redact
from release.workflow.outcomes import (
    AlreadyReleased,
    Changes,
    DryRunReport,
    InPullRequest,
    OnHub,
    Planned,
    PublishReport,
    Refused,
    RepoOutcome,
    WaitingForDatasets,
    WouldBeAlreadyReleased,
    WouldPublish,
)

if TYPE_CHECKING:
    pass

#: GitHub refuses a step summary above 1 MiB; the release notes are cut to stay well below it.
SUMMARY_LIMIT = 512 * 1024


@dataclass(frozen=True)
class ActionsRun:
    """The GitHub Actions run this process belongs to (``GITHUB_ACTIONS=true``)."""

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


class Summarised(Protocol):
    """What the summary of a command other than ``release`` and ``publish`` shows (every report has it)."""

    @property
    def message(self) -> str: ...

    @property
    def exit_code(self) -> int: ...


def render_summary(
    label: str,
    report: Summarised | None,
    run: ActionsRun,
    *,
    error: tuple[str, str] | None = None,
    secrets: Iterable[str] = (),
) -> str:
    """The Markdown a command appends to the job summary.

    ``label`` is the command as typed (``release --dry-run``); ``report`` its report, or None when
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
    elif isinstance(report, PublishReport | DryRunReport):
        lines += _release_summary(label, report, run)
    else:
        failed = report is not None and report.exit_code != 0
        lines += [f"### model-release {label}: {'failed' if failed else 'ok'}"]
        if report is not None and report.message:
            lines += ["", *_block(report.message)]
    text = "\n".join(lines).rstrip("\n") + "\n\n"
    return redact(text, secrets)  # the one rule: known secrets, tokens, URL user-info, query credentials


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


def _release_summary(label: str, report: PublishReport | DryRunReport, run: ActionsRun) -> list[str]:
    model = report.model
    repo = model.repo
    headline, verdict = _verdict(report)
    lines = [f"### model-release {label}: {'failed: ' if report.exit_code else ''}{headline}", ""]
    rows: list[tuple[str, str | None]] = [
        ("Result", verdict),
        ("Repository", _repository(model)),
        ("Version", f"`{repo.version}`, tag `{repo.tag}`" if repo.version else f"tag `{repo.tag}`"),
        ("Ref", run.describe_ref()),
        ("Commit on the Hub", f"`{model.commit}`" if isinstance(model, OnHub) else None),
        ("Source commit", f"`{run.sha}`" if run.sha else None),
        ("Files", _files(model)),
        ("Plan", _plan(model) if isinstance(model, WouldPublish) else None),
        ("Changes", _changes(model.changes) if isinstance(model, OnHub) else None),
        *(("Dataset", _dataset(d)) for d in report.datasets),
        ("Run", run.run_url),
    ]
    lines += _table(rows)
    if report.exit_code and report.message:
        lines += ["", *_block(report.message)]
    notes = model.release_notes.strip("\n") if not isinstance(model, WaitingForDatasets) else ""
    if notes:
        if len(notes) > SUMMARY_LIMIT:
            notes = notes[:SUMMARY_LIMIT].rsplit("\n", 1)[0] + "\n\n_(cut here: the whole notes are RELEASE_NOTES.md)_"
        lines += ["", "#### Release notes", "", notes]
    return lines


def _verdict(report: PublishReport | DryRunReport) -> tuple[str, str]:
    """The headline and the Result cell."""
    model = report.model
    name = f"{model.repo.repo_id} {model.repo.tag}"
    if isinstance(model, WouldBeAlreadyReleased):
        return f"{name} is already released", f"dry run: nothing was sent to {model.repo.endpoint}"
    if isinstance(model, Refused):
        return f"{name} would be refused", f"dry run: nothing was sent to {model.repo.endpoint}"
    if isinstance(model, WouldPublish):
        return f"would release {name}", f"dry run: nothing was sent to {model.repo.endpoint}"
    if isinstance(model, InPullRequest):
        verdict = f"verified in the pull request {model.pr_url}; merge it, then publish again to tag {model.repo.tag}"
        return f"{name} is in a pull request, not tagged yet", verdict
    if isinstance(model, AlreadyReleased):
        return f"{name} was already released", f"{name} was already released"
    if isinstance(model, WaitingForDatasets):
        return (
            f"{name} was not published yet",
            "waiting for its datasets' pull requests: merge them, then publish again",
        )
    return f"released {name}", "released, verified and tagged"


def _repository(outcome: RepoOutcome | WaitingForDatasets | Planned) -> str:
    repo = outcome.repo
    if repo.endpoint in ("", "local"):
        return f"`{repo.repo_id}` on the embedded local Hub (`.hub/`)"
    prefix = "datasets/" if repo.repo_type == "dataset" else ""
    url = (outcome.url if isinstance(outcome, OnHub) else None) or f"{repo.endpoint}/{prefix}{repo.repo_id}"
    link = f"[{repo.repo_id}]({url})"
    if isinstance(outcome, OnHub | WaitingForDatasets) and not isinstance(outcome, InPullRequest):
        link += f" ([`{repo.tag}`]({url}/tree/{repo.tag}))"
    return f"{link} on {repo.endpoint}"


def _dataset(outcome: RepoOutcome | Planned) -> str:
    """A dataset published as a repository of its own, before the model: one cell."""
    if isinstance(outcome, WouldPublish):
        state = _plan(outcome)
    elif isinstance(outcome, WouldBeAlreadyReleased | Refused):
        state = outcome.outcome
    elif isinstance(outcome, AlreadyReleased):
        state = "already released"
    else:
        state = f"released at `{outcome.commit}`"
    return f"{_repository(outcome)}, tag `{outcome.repo.tag}`: {state}"


def _files(outcome: RepoOutcome | WaitingForDatasets | Planned) -> str | None:
    if isinstance(outcome, WaitingForDatasets):
        return None
    if isinstance(outcome, OnHub):
        return f"{outcome.files} files, {outcome.bytes:,} bytes"
    return f"{outcome.bytes:,} bytes"


def _plan(would: WouldPublish) -> str:
    plan = would.plan
    changed = sum(1 for e in plan.add if e.path in plan.changed)
    text = (
        f"add {len(plan.add) - changed}, change {changed}, delete {len(plan.delete)}, keep {len(plan.unchanged)}; "
        f"upload {plan.upload_bytes:,} bytes"
    )
    if would.chunk_size:
        text += f"; in {would.commits:,} commits to a pull request, merged at once"
    return text


def _changes(changes: Changes | None) -> str | None:
    if changes is None:
        return None
    return f"{len(changes.uploaded)} file(s) uploaded, {len(changes.deleted)} deleted"


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
