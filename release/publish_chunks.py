"""Large releases under the Hub's commit guidance: chunked commits to a pull request, merged into the branch at once.

The Hub asks for commits of about 100 files or fewer through its HTTP API. A release whose plan holds
more operations than ``[publish] max_commit_operations`` is published by :func:`commit_in_chunks`:

1. its LFS files are uploaded first, a window of chunks at a time (as a single commit would);
2. the first chunk opens a pull request on the branch head seen when planning, and the others are
   committed to the pull request's ref (``refs/pr/N``), each on the pull request's head seen before it;
3. the pull request's head is compared with the release, file by file;
4. the branch must still be where the pull request began; then the pull request is merged (opened first
   if the Hub made it a draft), one step that moves the branch from the previous release to this one.
   (The caller verifies the branch and tags.)

The pull request's description carries a marker naming the version and the commit it began on, so an
interrupted run finds its open pull request again and commits only what its head lacks. When the
branch moved since the pull request began, the release is refused rather than merged on top of commits
it never saw: the message names the pull request to close. With ``create_pr`` the verified pull request
is left open for review, as a single-commit release would be.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, TypeVar

from release.checksum import ManifestEntry
from release.errors import PublishError
from release.hub_client import get_json, http_status
from release.publish_plan import addition, branch_head, compare_tree, local_blob_ids, plan_publish, remote_tree

if TYPE_CHECKING:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    from release.publish_plan import PublishPlan, PublishTarget, ReleaseToPublish

_T = TypeVar("_T")

log = logging.getLogger(__name__)

#: The Hub's guidance: commits of at most 100 files through the HTTP API.
DEFAULT_MAX_COMMIT_OPERATIONS: Final = 100
#: How many chunks' LFS files are uploaded before those chunks are committed (bounds memory and retries).
UPLOAD_WINDOW_CHUNKS: Final = 10
#: The statuses of a pull request that may still be merged: the Hub may open a pull request made through
#: the API as a draft (huggingface_hub's create_pull_request says so), which is opened before the merge.
_OPEN: Final = ("open", "draft")
_MARKER_RE: Final = re.compile(r"<!-- model-release: chunked release (\S+) on (\S+) -->")


@dataclass(frozen=True)
class OpenRelease:
    """A pull request this tool opened for a chunked release: its number, head, and the commit it began on."""

    number: int
    head: str
    base: str


def needs_chunks(plan: PublishPlan, max_operations: int) -> bool:
    """Whether the plan holds more operations than one commit may. Pure."""
    return len(plan.add) + len(plan.delete) > max_operations


def marker(tag: str, base: str) -> str:
    """The line in the pull request's description that lets a later run find it. Pure."""
    return f"<!-- model-release: chunked release {tag} on {base} -->"


def read_marker(description: str) -> tuple[str, str] | None:
    """``(tag, base)`` from a pull request's description, or None when it carries no marker. Pure."""
    found = _MARKER_RE.search(description)
    return (found.group(1), found.group(2)) if found else None


def chunks(operations: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    """``operations`` in consecutive chunks of at most ``size``. Pure."""
    for start in range(0, len(operations), size):
        yield operations[start : start + size]


def commit_in_chunks(
    api: HfApi, target: PublishTarget, staged_dir: Path, plan: PublishPlan, release: ReleaseToPublish, description: str
) -> tuple[str, str | None]:
    """Publish ``plan`` (made against the branch) through a pull request, as described in the module docstring.

    Returns the merge commit on the branch; with ``create_pr``, the pull request's verified head and its URL.
    """
    assert plan.head is not None  # chunks are for existing repositories, whose branch has a head
    found = find_open_release(api, target, release.tag)
    if found is not None and found.base != plan.head:
        raise PublishError(_moved(target, found, plan.head, release.tag))
    if found is not None:
        log.info("resuming %s from pull request #%d (head %s)", release.tag, found.number, found.head[:7])
        remote = remote_tree(api, target, found.head)
        blob_ids = local_blob_ids(release.entries, remote, staged_dir, release.pending)
        remaining = plan_publish(release.entries, remote, found.head, blob_ids)
        number, head = found.number, found.head
    else:
        remaining, number, head = plan, None, plan.head
    number, head = _commit_chunks(api, target, staged_dir, remaining, release, description, number, head)
    problems = compare_tree(release.entries, remote_tree(api, target, head), staged_dir, release.pending)
    if problems:
        raise PublishError(
            f"pull request #{number} of {target.repo_id} does not match the release; it was NOT merged:\n  - "
            + "\n  - ".join(problems)
        )
    url = f"{_repo_url(target)}/discussions/{number}"
    if target.create_pr:
        return head, url
    return _merge(api, target, OpenRelease(number, head, plan.head), release.tag), None


@dataclass(frozen=True)
class PullRequestState:
    """What a chunked release reads of its pull request: status, merge commit and opening description."""

    status: str  # "open", "draft", "closed" or "merged"
    merge_commit: str | None
    description: str
    base: str = ""  # the ref it merges into, e.g. "refs/heads/main"


def pull_request_state(target: PublishTarget, number: int) -> PullRequestState:
    """Pull request ``number`` of the target, read without its diff.

    ``HfApi.get_discussion_details`` always asks for the diff, which the Hub computes and sends whole: for
    a release of 100,000 files, megabytes on every call. The same route without ``diff=1`` answers the rest.
    """
    prefix = "datasets/" if target.repo_type == "dataset" else "models/"
    data = get_json(target.endpoint, target.token, f"/api/{prefix}{target.repo_id}/discussions/{number}")
    events = data.get("events") or []
    opening = next((e for e in events if isinstance(e, dict) and e.get("type") == "comment"), {})
    description = str(((opening.get("data") or {}).get("latest") or {}).get("raw") or "")
    changes = data.get("changes") or {}
    merge_commit = changes.get("mergeCommitId")
    merged = str(merge_commit) if merge_commit else None
    return PullRequestState(str(data.get("status")), merged, description, str(changes.get("base") or ""))


def find_open_release(api: HfApi, target: PublishTarget, tag: str) -> OpenRelease | None:
    """The newest open (or draft) pull request titled for ``tag`` whose description carries this tool's marker.

    Only pull requests with the release's title are read one by one (without their diffs).
    """
    refs = api.list_repo_refs(target.repo_id, repo_type=target.repo_type, include_pull_requests=True)
    heads = {int(r.ref.rsplit("/", 1)[1]): r.target_commit for r in refs.pull_requests or ()}
    titled = sorted(
        (
            pull.num
            for pull in api.get_repo_discussions(
                target.repo_id, repo_type=target.repo_type, discussion_type="pull_request"
            )
            if pull.title == _title(tag) and pull.status in _OPEN and pull.num in heads
        ),
        reverse=True,
    )
    for number in titled:
        state = pull_request_state(target, number)
        found = read_marker(state.description)
        into = state.base in ("", f"refs/heads/{target.branch}")  # one for another branch is not this release's
        if state.status in _OPEN and into and found is not None and found[0] == tag:
            return OpenRelease(number, heads[number], found[1])
    return None


def _title(tag: str) -> str:
    """The title of the pull request of a chunked release."""
    return f"Release {tag}"


def _commit_chunks(
    api: HfApi,
    target: PublishTarget,
    staged_dir: Path,
    plan: PublishPlan,
    release: ReleaseToPublish,
    description: str,
    number: int | None,
    head: str,
) -> tuple[int, str]:
    """Commit the plan's operations chunk by chunk; the first opens the pull request when ``number`` is None."""
    from huggingface_hub import CommitOperationAdd
    from huggingface_hub.errors import HfHubHTTPError

    size = target.max_commit_operations
    # Deletions first: a file that becomes a folder (or a folder that becomes a file) must be gone before
    # what takes its place is added, or a chunk would hold both and the Hub refuses it.
    paths = [*plan.delete, *(entry.path for entry in plan.add)]
    total = -(-len(paths) // size)
    entries = {entry.path: entry for entry in plan.add}
    base = head
    for window_start in range(0, len(paths), size * UPLOAD_WINDOW_CHUNKS):
        window = paths[window_start : window_start + size * UPLOAD_WINDOW_CHUNKS]
        operations = _operations(staged_dir, window, entries, release)
        additions = [op for op in operations if isinstance(op, CommitOperationAdd)]
        # Upload modes and the remote files' ids (by which the client drops unchanged additions) are read on
        # the revision the chunks go to: the branch until the pull request exists, then the pull request.
        revision = target.branch if number is None else f"refs/pr/{number}"
        api.preupload_lfs_files(
            target.repo_id, additions, repo_type=target.repo_type, revision=revision, create_pr=number is None
        )
        for offset, chunk in enumerate(chunks(operations, size)):
            part = (window_start // size) + offset + 1
            try:
                if number is None:
                    info = api.create_commit(
                        target.repo_id,
                        chunk,
                        commit_message=_title(release.tag),
                        commit_description=f"{description}\n\n{marker(release.tag, base)}",
                        repo_type=target.repo_type,
                        revision=target.branch,
                        parent_commit=base,
                        create_pr=True,
                    )
                    number = int(str(info.pr_num)) if info.pr_num is not None else _pr_number(str(info.pr_url))
                else:
                    info = api.create_commit(
                        target.repo_id,
                        chunk,
                        commit_message=f"Release {release.tag} (part {part} of {total})",
                        repo_type=target.repo_type,
                        revision=f"refs/pr/{number}",
                        parent_commit=head,
                    )
            except HfHubHTTPError as exc:
                if http_status(exc) != 412:
                    raise
                where = f"pull request #{number}" if number is not None else target.branch
                raise PublishError(
                    f"another commit landed on {where} of {target.repo_id} while publishing {release.tag}: "
                    "nothing was merged or tagged. Close the pull request if one was opened, and run the release again"
                ) from exc
            head = str(info.oid)
            log.info("committed part %d of %d of %s to pull request #%s", part, total, release.tag, number)
    if number is None:  # nothing was left to commit: the pull request already holds everything
        raise PublishError(f"no pull request holds {release.tag}: run the release again")
    return number, head


def _operations(
    staged_dir: Path, paths: Sequence[str], entries: Mapping[str, ManifestEntry], release: ReleaseToPublish
) -> list[CommitOperationAdd | CommitOperationDelete]:
    """The commit operations for ``paths``: an upload for each path of ``entries``, a deletion for the others."""
    from huggingface_hub import CommitOperationDelete

    operations: list[CommitOperationAdd | CommitOperationDelete] = []
    for path in paths:
        entry = entries.get(path)
        if entry is not None:
            operations.append(addition(staged_dir, entry, release.pending))
        else:
            operations.append(CommitOperationDelete(path_in_repo=path))
    return operations


def _merge(api: HfApi, target: PublishTarget, pull: OpenRelease, tag: str) -> str:
    """Merge the verified pull request, if the branch is still where it began; the merge commit."""
    now = branch_head(api, target)
    if now != pull.base:
        raise PublishError(_moved(target, pull, now, tag))
    if pull_request_state(target, pull.number).status == "draft":  # a draft does not merge: open it first
        api.change_discussion_status(
            target.repo_id, pull.number, "open", repo_type=target.repo_type, comment=f"Ready: {tag} is complete"
        )
    refs = api.list_repo_refs(target.repo_id, repo_type=target.repo_type, include_pull_requests=True)
    head = next((r.target_commit for r in refs.pull_requests or () if r.ref == f"refs/pr/{pull.number}"), None)
    if head != pull.head:  # the merge takes the pull request's head as it is: only the one verified
        raise PublishError(
            f"pull request #{pull.number} of {target.repo_id} changed after it was verified (its head was "
            f"{pull.head}, it is now {head}): {tag} was NOT merged or tagged. Close pull request #{pull.number} "
            f"({_repo_url(target)}/discussions/{pull.number}) and run the release again"
        )
    api.merge_pull_request(target.repo_id, pull.number, repo_type=target.repo_type, comment=_title(tag))
    merged = pull_request_state(target, pull.number).merge_commit or branch_head(api, target)
    if merged is None:
        raise PublishError(f"pull request #{pull.number} of {target.repo_id} was merged, but {target.branch} is gone")
    log.info("merged pull request #%d into %s as %s", pull.number, target.branch, merged[:7])
    return merged


def _moved(target: PublishTarget, pull: OpenRelease, now: str | None, tag: str) -> str:
    return (
        f"{target.branch} of {target.repo_id} moved since pull request #{pull.number} began "
        f"(it began on {pull.base}, {target.branch} is now at {now}): {tag} was NOT merged or tagged, so "
        f"{target.branch} keeps the commits it has. Close pull request #{pull.number} "
        f"({_repo_url(target)}/discussions/{pull.number}) and run the release again: it opens a new pull "
        f"request on the current {target.branch}"
    )


def _pr_number(url: str) -> int:
    return int(url.rstrip("/").rsplit("/", 1)[1])


def _repo_url(target: PublishTarget) -> str:
    prefix = "datasets/" if target.repo_type == "dataset" else ""
    return f"{target.endpoint}/{prefix}{target.repo_id}"
