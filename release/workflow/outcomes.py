"""What ``publish`` and ``release`` report: one outcome type per thing that can happen to a repository.

After publishing, each repository was :class:`Published` (committed, verified, tagged now),
:class:`AlreadyReleased` (its tag held the same release), or is :class:`InPullRequest` (verified in a
pull request, tagged once merged); the model may also be :class:`WaitingForDatasets` (their pull
requests). A dry run plans each one: :class:`WouldPublish`, :class:`WouldBeAlreadyReleased` or
:class:`Refused` (the tag holds other content). :class:`PublishReport` and :class:`DryRunReport` hold the
model's outcome and each dataset's; their ``to_json()`` is the ``--json`` document, and
:mod:`release.ci` renders the job summary from the same values.

Only values here (no Hub client, no stages): the CLI and the job summary import it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from release.workflow.report import JsonObject, detail_lines, text_of

if TYPE_CHECKING:
    from release.publish_plan import PublishPlan


@dataclass(frozen=True)
class Repo:
    """The repository and the release an outcome is about."""

    repo_id: str
    repo_type: str  # "model" or "dataset"
    version: str
    tag: str
    endpoint: str  # the configuration's: "local", or the Hub's URL
    staged_dir: Path | None  # None: a dry run's throwaway tree

    @property
    def name(self) -> str:
        return f"{'dataset ' if self.repo_type == 'dataset' else ''}{self.repo_id}"

    def to_json(self) -> JsonObject:
        return {
            "repo_id": self.repo_id,
            "repo_type": self.repo_type,
            "version": self.version,
            "tag": self.tag,
            "endpoint": self.endpoint,
            "staged_dir": None if self.staged_dir is None else str(self.staged_dir),
        }


# --- after publishing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Changes:
    """What the commit changed on the branch."""

    uploaded: tuple[str, ...]
    deleted: tuple[str, ...]


@dataclass(frozen=True)
class OnHub:
    """A release on the Hub, whatever this run sent: the commit that holds it, and its size."""

    repo: Repo
    commit: str
    url: str | None  # the repository's page; None on the embedded Hub
    files: int  # the release as published, release-manifest.json included
    bytes: int
    changes: Changes | None  # None: nothing was committed
    notes: str  # RELEASE_NOTES.md as published by this run

    already_released: ClassVar[bool] = False

    @property
    def message(self) -> str:
        raise NotImplementedError

    @property
    def release_notes(self) -> str:
        return self.notes

    def to_json(self) -> JsonObject:
        document = self.repo.to_json()
        document.update(commit=self.commit, url=self.url, already_released=self.already_released)
        document.update(files=self.files, bytes=self.bytes)
        if self.changes is not None:
            document.update(uploaded=list(self.changes.uploaded), deleted=list(self.changes.deleted))
        if self.notes:
            document["release_notes"] = self.notes
        document["message"] = self.message
        return document


@dataclass(frozen=True)
class Published(OnHub):
    """Committed, verified and tagged by this run."""

    @property
    def message(self) -> str:
        return f"{self.repo.name} {self.repo.tag} released at commit {self.commit}" + _notes_after(self.notes)


@dataclass(frozen=True)
class AlreadyReleased(OnHub):
    """The tag already held this release, identical: nothing was sent."""

    already_released: ClassVar[bool] = True

    @property
    def message(self) -> str:
        return f"{self.repo.name} {self.repo.tag} was already released at commit {self.commit}"

    @property
    def release_notes(self) -> str:
        return ""  # published with the release, earlier


@dataclass(frozen=True)
class InPullRequest(OnHub):
    """Verified in a pull request (``create_pr``), not tagged: merge it, then publish again to tag it."""

    pr_url: str

    @property
    def message(self) -> str:
        repo = self.repo
        return (
            f"{repo.name} {repo.tag} is verified in the pull request {self.pr_url} (commit {self.commit}); "
            f"not tagged yet: merge it, then run publish again to tag {repo.tag}"
        ) + _notes_after(self.notes)

    def to_json(self) -> JsonObject:
        return {**super().to_json(), "pr_url": self.pr_url, "tagged": False}


RepoOutcome = Published | AlreadyReleased | InPullRequest


@dataclass(frozen=True)
class WaitingForDatasets:
    """The model, not published: it links to its datasets at their tags, and they wait in pull requests."""

    repo: Repo

    @property
    def message(self) -> str:
        return (
            f"{self.repo.repo_id} {self.repo.tag} was not published: it links to its datasets at their tags. Merge "
            "the datasets' pull requests, then run publish again: it tags them and publishes the model"
        )

    def to_json(self) -> JsonObject:
        document = self.repo.to_json()
        document.update(commit=None, published=False)
        return document


@dataclass(frozen=True)
class PublishReport:
    """``publish`` or ``release``: the model's outcome, after each dataset's (in config order)."""

    command: Literal["publish", "release"]
    model: RepoOutcome | WaitingForDatasets
    datasets: tuple[RepoOutcome, ...] = ()
    hub_storage: Path | None = None  # endpoint "local": where the embedded Hub keeps what was published
    warnings: tuple[str, ...] | None = None  # release: the cards' warnings

    exit_code: ClassVar[int] = 0

    @property
    def message(self) -> str:
        return "\n\n".join([*(d.message for d in self.datasets), self.model.message])

    def to_json(self) -> JsonObject:
        document = self.model.to_json()
        if self.datasets or isinstance(self.model, WaitingForDatasets):
            document["datasets"] = [d.to_json() for d in self.datasets]
        document["message"] = self.message
        steps = self.next_steps
        if self.hub_storage is not None and steps:
            document.update(hub_storage=str(self.hub_storage), next_steps=steps)
        document["command"] = self.command
        if self.warnings is not None:
            document["warnings"] = list(self.warnings)
        return document

    @property
    def next_steps(self) -> list[str]:
        """Where to browse and download what went to the embedded Hub (which runs only during the release)."""
        model = self.model
        if self.hub_storage is None or isinstance(model, WaitingForDatasets):
            return []
        storage, repo = self.hub_storage, model.repo
        env = "HF_ENDPOINT=http://127.0.0.1:8000 HF_HUB_DISABLE_XET=1"
        return [
            f"model-release hub serve --storage {storage} --port 8000   "
            f"(from a clone, without installing: nox -s hub -- --storage {storage} --port 8000)",
            f"{env} hf download {repo.repo_id} --revision {repo.tag}"
            + (f" --repo-type {repo.repo_type}" if repo.repo_type != "model" else ""),
            *(f"{env} hf download {d.repo.repo_id} --revision {d.repo.tag} --repo-type dataset" for d in self.datasets),
            f"curl http://127.0.0.1:8000/api/{repo.repo_type}s/{repo.repo_id}/tree/{repo.tag}?recursive=true",
        ]

    def text(self) -> str:
        model = self.model
        details: list[tuple[str, object]] = [("repo_id", model.repo.repo_id), ("tag", model.repo.tag)]
        if isinstance(model, WaitingForDatasets):
            details.append(("staged_dir", model.repo.staged_dir))
        else:
            details += [("commit", model.commit), ("staged_dir", model.repo.staged_dir)]
            details += [("files", model.files), ("bytes", model.bytes)]
        lines = detail_lines(details)
        if self.next_steps:
            lines.append("Browse and download what was published (the local Hub runs only during the release):")
            lines += [f"  {step}" for step in self.next_steps]
        return text_of(self.message, lines)


# --- a dry run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WouldPublish:
    """Nothing tagged yet: the plan of the commit (what would be added, changed, deleted and kept)."""

    repo: Repo
    repo_exists: bool
    plan: PublishPlan
    notes: str  # RELEASE_NOTES.md as it would be published
    chunk_size: int | None = None  # commits of this many operations to a pull request, merged at once; None: one

    outcome: ClassVar[str] = "publish"

    @property
    def commits(self) -> int:
        """How many commits the plan would take."""
        operations = len(self.plan.add) + len(self.plan.delete)
        return -(-operations // self.chunk_size) if self.chunk_size else 1

    @property
    def bytes(self) -> int:
        """The release as it would be published."""
        return self.plan.upload_bytes + self.plan.unchanged_bytes

    @property
    def release_notes(self) -> str:
        return self.notes

    @property
    def message(self) -> str:
        repo, plan = self.repo, self.plan
        lines = [f"dry run: nothing was sent to {repo.endpoint}. Publishing {repo.repo_id} {repo.tag} would:"]
        if not self.repo_exists:
            lines.append(f"  create the repository {repo.repo_id}")
        lines += [f"  add       {e.path} ({e.size} bytes)" for e in plan.add if e.path not in plan.changed]
        lines += [f"  change    {e.path} ({e.size} bytes)" for e in plan.add if e.path in plan.changed]
        lines += [f"  delete    {p}" for p in plan.delete]
        if self.chunk_size:
            lines.append(
                f"  commit in {self.commits} commits of at most {self.chunk_size} operations to a pull request "
                "(the Hub's guidance for one commit), then merge it into the branch in one step"
            )
        lines.append(
            f"  upload {plan.upload_bytes} bytes in {len(plan.add)} file(s); "
            f"keep {len(plan.unchanged)} unchanged file(s) ({plan.unchanged_bytes} bytes); "
            f"delete {len(plan.delete)} file(s) ({plan.delete_bytes} bytes); then tag {repo.tag}"
        )
        return "\n".join(lines) + "\n\nRelease notes:\n" + self.notes.rstrip("\n")

    def to_json(self) -> JsonObject:
        return {
            **_planned(self.repo, self.repo_exists, self.outcome, self.bytes),
            "plan": self.plan.to_json(),
            "commits": self.commits,
            "release_notes": self.notes,
            "message": self.message,
        }


@dataclass(frozen=True)
class WouldBeAlreadyReleased:
    """The tag already holds this release, identical: publishing would send nothing."""

    repo: Repo
    repo_exists: bool
    tag_commit: str
    bytes: int  # the release's files

    outcome: ClassVar[str] = "already released"
    release_notes: ClassVar[str] = ""

    @property
    def message(self) -> str:
        return f"dry run: {self.repo.repo_id} {self.repo.tag} is already released with identical content"

    def to_json(self) -> JsonObject:
        return {
            **_planned(self.repo, self.repo_exists, self.outcome, self.bytes),
            "tag_commit": self.tag_commit,
            "message": self.message,
        }


@dataclass(frozen=True)
class Refused:
    """The tag holds other content, and versions are immutable: publishing would be refused."""

    repo: Repo
    repo_exists: bool
    tag_commit: str
    differences: tuple[str, ...]
    bytes: int  # the release's files
    message: str  # publish.already_released_message, the one wording of this refusal

    outcome: ClassVar[str] = "refuse"
    release_notes: ClassVar[str] = ""

    def to_json(self) -> JsonObject:
        return {
            **_planned(self.repo, self.repo_exists, self.outcome, self.bytes),
            "tag_commit": self.tag_commit,
            "differences": list(self.differences),
            "message": self.message,
        }


Planned = WouldPublish | WouldBeAlreadyReleased | Refused


@dataclass(frozen=True)
class DryRunReport:
    """``publish --dry-run`` or ``release --dry-run``: each dataset's plan, then the model's. Nothing was sent."""

    command: Literal["publish", "release"]
    model: Planned
    datasets: tuple[Planned, ...] = ()
    warnings: tuple[str, ...] | None = None  # release: the cards' warnings
    unreleased: tuple[str, ...] | None = None  # release: the files of model.dir that model.include leaves out

    @property
    def refused(self) -> bool:
        return any(isinstance(p, Refused) for p in (*self.datasets, self.model))

    @property
    def exit_code(self) -> int:
        return 1 if self.refused else 0

    @property
    def message(self) -> str:
        lines = [*(d.message for d in self.datasets), self.model.message]
        if self.datasets and self.refused:
            lines.append(
                "publishing would stop before sending anything: no dataset and not the model would be published"
            )
        if self.unreleased:
            lines.append(
                f"not released: {len(self.unreleased)} file(s) of the model folder that model.include leaves out "
                "(add them to model.include if loading the model needs them):\n"
                + "\n".join(f"  {path}" for path in self.unreleased)
            )
        return "\n\n".join(lines)

    def to_json(self) -> JsonObject:
        document = self.model.to_json()
        if self.datasets:
            document["datasets"] = [d.to_json() for d in self.datasets]
        document.update(message=self.message, command=self.command)
        if self.warnings is not None:
            document["warnings"] = list(self.warnings)
        if self.unreleased is not None:
            document["unreleased"] = list(self.unreleased)
        return document

    def text(self) -> str:
        repo = self.model.repo
        details = [("repo_id", repo.repo_id), ("tag", repo.tag), ("staged_dir", repo.staged_dir)]
        return text_of(self.message, detail_lines([*details, ("bytes", self.model.bytes)]))


def _planned(repo: Repo, repo_exists: bool, outcome: str, size: int) -> JsonObject:
    return {"dry_run": True, **repo.to_json(), "repo_exists": repo_exists, "outcome": outcome, "bytes": size}


def _notes_after(notes: str) -> str:
    return "\n\n" + notes.rstrip("\n") if notes else ""
