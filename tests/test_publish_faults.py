"""Publishing that cannot half-fail: dry runs, stale parents, racing publishers, injected faults, SIGKILL.

Every test runs the real ``huggingface_hub`` client against its own Hub emulator (so faults and
request counts concern one test only), with faults injected by the emulator's middleware.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import CommitOperationAdd, HfApi, RepoFile, snapshot_download

from release.checksum import build_manifest
from release.errors import PublishError
from release.hub.server import HubServer, Token
from release.publish import PublishResult, preview_publish, publish_release
from release.publish_plan import PublishTarget
from release.stage import SourceInfo, StagePlan, apply_stages, plan_stage

TOKEN = "hf_faults_alice_write"
OTHER = "hf_faults_bob_write"
ADMIN = "hf_faults_admin"
COMMIT_ROUTE = "POST /api/models/*/commit/*"
PUT_ROUTE = "PUT /api/lfs-upload/*"
PREUPLOAD_ROUTE = "POST /api/models/*/preupload/*"
BATCH_ROUTE = "POST /*.git/info/lfs/objects/batch"


class FaultyHub:
    """A Hub emulator of its own, whose faults a test adds, counts and releases through the admin API.

    A test names each rule by the SPEC it wrote, so the specs of the rules in force must differ.
    """

    def __init__(self, server: HubServer, storage: Path) -> None:
        self.server = server
        self.url = server.url
        self.storage = storage
        self.api = HfApi(endpoint=self.url, token=TOKEN)
        self._ids: dict[str, int] = {}  # the test's SPEC -> the server's id of the rule

    def add(self, *specs: str) -> None:
        response = httpx2.post(f"{self.url}/admin/faults", json=list(specs), headers=_admin())
        response.raise_for_status()
        self._ids.update(zip(specs, (int(f["id"]) for f in response.json()["faults"]), strict=True))

    def state(self) -> dict[str, dict[str, int]]:
        """Each rule in force, by its SPEC: how many requests it ``fired`` on, ``held`` now, ``finished``."""
        response = httpx2.get(f"{self.url}/admin/faults", headers=_admin())
        response.raise_for_status()
        by_id = {int(f["id"]): f for f in response.json()["faults"]}
        return {spec: {k: int(by_id[i][k]) for k in ("fired", "held", "finished")} for spec, i in self._ids.items()}

    def fired(self) -> dict[str, int]:
        """How often each rule in force fired, by its SPEC as the test wrote it."""
        return {spec: counts["fired"] for spec, counts in self.state().items()}

    def wait_until_held(self, *specs: str, count: int = 1) -> None:
        """Until each rule of ``specs`` holds ``count`` requests at the server."""
        _wait_until(lambda: all(self.state()[spec]["held"] == count for spec in specs))

    def release(self, *specs: str) -> None:
        """Let the requests held by these rules go on (the rules stay in force)."""
        ids = [self._ids[spec] for spec in specs]
        httpx2.post(f"{self.url}/admin/faults/release", json=ids, headers=_admin()).raise_for_status()

    def clear(self) -> None:
        """Remove every rule, releasing whatever they hold."""
        httpx2.delete(f"{self.url}/admin/faults", headers=_admin()).raise_for_status()
        self._ids.clear()

    def target(self, repo: str, token: str = TOKEN) -> PublishTarget:
        return PublishTarget(self.url, repo, "model", token)


def _admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def faulty(tmp_path: Path) -> Iterator[FaultyHub]:
    storage = tmp_path / "hub"
    tokens = [Token("alice", TOKEN, "write"), Token("bob", OTHER, "write")]
    with HubServer(storage, tokens, admin_token=ADMIN) as server:
        yield FaultyHub(server, storage)


def _stage(root: Path, name: str, version: str, files: dict[str, bytes], repo: str) -> StagePlan:
    model = root / f"src-{name}"
    for path, data in files.items():
        (model / path).parent.mkdir(parents=True, exist_ok=True)
        (model / path).write_bytes(data)
    plan = plan_stage(
        dest=root / "dist" / name,
        repo_id=repo,
        repo_type="model",
        version=version,
        card="---\nlicense: mit\n---\n# card\n",
        model=(build_manifest(model), model),
        datasets=[],
        locks={},
        source=SourceInfo("a" * 40, False),
    )
    apply_stages([plan])
    return plan


def _staged(plan: StagePlan) -> dict[str, bytes]:
    return {p.relative_to(plan.dest).as_posix(): p.read_bytes() for p in plan.dest.rglob("*") if p.is_file()}


def _at(hub: FaultyHub, repo: str, revision: str, cache: Path) -> dict[str, bytes]:
    folder = Path(snapshot_download(repo, revision=revision, token=TOKEN, cache_dir=cache, endpoint=hub.url))
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.name != ".gitattributes"
    }


def _commits(hub: FaultyHub, repo: str) -> list[str]:
    return [c.commit_id for c in hub.api.list_repo_commits(repo)]


def _wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll ``condition`` until it holds; the deadline only turns a hang into a failure."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


# --- dry run --------------------------------------------------------------------------------------


def test_dry_run_of_a_new_repo_creates_nothing(faulty: FaultyHub, tmp_path: Path) -> None:
    repo = "alice/dry-new"
    plan = _stage(tmp_path, "one", "1.0", {"model.safetensors": os.urandom(5000), "notes.txt": b"hi\n"}, repo)
    preview = preview_publish(plan.dest, plan.manifest, faulty.target(repo))
    assert preview.outcome == "publish" and not preview.repo_exists and preview.plan is not None
    summary = preview.plan.to_json()
    assert {f["path"] for f in summary["added"]} == {*_staged(plan), "RELEASE_NOTES.md"}
    assert summary["upload_bytes"] == sum(f["size"] for f in summary["added"])
    assert not (plan.dest / "RELEASE_NOTES.md").exists()  # the dry run wrote nothing into the staged tree
    assert summary["changed"] == [] and summary["deleted"] == [] and summary["unchanged"] == 0
    assert not faulty.api.repo_exists(repo)
    assert not (faulty.storage / "repos").exists() or not any((faulty.storage / "repos").rglob("*.json"))


def test_dry_run_of_the_next_version_lists_every_kind_of_change_and_touches_nothing(
    faulty: FaultyHub, tmp_path: Path
) -> None:
    repo = "alice/dry-next"
    kept, old = os.urandom(3000), os.urandom(2000)
    first = _stage(tmp_path, "one", "1.0", {"kept.safetensors": kept, "w.safetensors": old, "gone.txt": b"x\n"}, repo)
    publish_release(first.dest, first.manifest, faulty.target(repo))
    new = os.urandom(2500)
    second = _stage(tmp_path, "two", "2.0", {"kept.safetensors": kept, "w.safetensors": new, "new.txt": b"n\n"}, repo)
    before = (_commits(faulty, repo), faulty.api.list_repo_refs(repo).tags)

    preview = preview_publish(second.dest, second.manifest, faulty.target(repo))

    assert preview.plan is not None
    summary = preview.plan.to_json()
    assert [f["path"] for f in summary["added"]] == ["new.txt"]
    changed = {f["path"] for f in summary["changed"]}
    assert {"w.safetensors", "release-manifest.json"} <= changed and "kept.safetensors" not in changed
    assert summary["deleted"] == ["gone.txt"] and summary["delete_bytes"] == 2
    # The card and the unchanged weights are kept: regular files compare by git blob id, LFS by sha256.
    assert summary["unchanged"] >= 2 and summary["unchanged_bytes"] >= len(kept)
    assert (_commits(faulty, repo), faulty.api.list_repo_refs(repo).tags) == before


def test_dry_run_of_a_released_version_says_so_or_that_it_would_refuse(faulty: FaultyHub, tmp_path: Path) -> None:
    repo = "alice/dry-released"
    plan = _stage(tmp_path, "one", "1.0", {"w.safetensors": os.urandom(100)}, repo)
    publish_release(plan.dest, plan.manifest, faulty.target(repo))
    assert preview_publish(plan.dest, plan.manifest, faulty.target(repo)).outcome == "already released"
    other = _stage(tmp_path, "two", "1.0", {"w.safetensors": os.urandom(100)}, repo)
    preview = preview_publish(other.dest, other.manifest, faulty.target(repo))
    assert preview.outcome == "refuse" and any("w.safetensors" in d for d in preview.tag_differences)


# --- a concurrent commit between plan and commit; racing publishers ---------------------------------


def test_a_commit_landing_between_plan_and_commit_is_planned_around(faulty: FaultyHub, tmp_path: Path) -> None:
    repo = "alice/stale-parent"
    first = _stage(tmp_path, "one", "1.0", {"w.safetensors": os.urandom(4000)}, repo)
    publish_release(first.dest, first.manifest, faulty.target(repo))
    second = _stage(tmp_path, "two", "2.0", {"w.safetensors": os.urandom(4000), "b.txt": b"b\n"}, repo)
    hold = f"hold,count=1,route={COMMIT_ROUTE}"  # the publisher's commit waits at the server
    faulty.add(hold)
    outcome: list[PublishResult | BaseException] = []

    def publish() -> None:
        try:
            outcome.append(publish_release(second.dest, second.manifest, faulty.target(repo)))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=publish)
    thread.start()
    faulty.wait_until_held(hold)
    intruder = faulty.api.create_commit(
        repo, [CommitOperationAdd("intruder.txt", b"not part of the release\n")], commit_message="meanwhile"
    )
    faulty.release(hold)
    thread.join(60)
    [result] = outcome
    assert isinstance(result, PublishResult), result
    assert not result.already_released and result.tag == "v2.0"
    commits = _commits(faulty, repo)
    assert commits[0] == result.commit and intruder.oid in commits  # planned again on top of the intruder
    assert _at(faulty, repo, "v2.0", tmp_path / "c") == _staged(second)  # the intruder's file was deleted
    assert faulty.api.repo_info(repo).sha == result.commit


def test_a_branch_that_keeps_moving_stops_with_a_clear_message(faulty: FaultyHub, tmp_path: Path) -> None:
    repo = "alice/stale-twice"
    first = _stage(tmp_path, "one", "1.0", {"w.safetensors": os.urandom(4000)}, repo)
    publish_release(first.dest, first.manifest, faulty.target(repo))
    second = _stage(tmp_path, "two", "2.0", {"w.safetensors": os.urandom(4000)}, repo)
    holds = [f"hold,count=1,route={COMMIT_ROUTE}", f"hold,count=1,route=POST /api/models/{repo}/commit/*"]
    faulty.add(holds[0])
    outcome: list[BaseException | PublishResult] = []

    def publish() -> None:
        try:
            outcome.append(publish_release(second.dest, second.manifest, faulty.target(repo)))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=publish)
    thread.start()
    other = HfApi(endpoint=faulty.url, token=TOKEN)
    for attempt, hold in enumerate(holds, 1):  # each time the publisher's commit is held, another lands first
        faulty.wait_until_held(hold)
        other.create_commit(repo, [CommitOperationAdd(f"x{attempt}.txt", b"x\n")], commit_message="meanwhile")
        if attempt == 1:
            faulty.add(holds[1])  # for the publisher's next commit, once it has planned again
        faulty.release(hold)
    thread.join(60)
    [error] = outcome
    assert isinstance(error, PublishError) and "moved twice while publishing v2.0" in str(error)
    assert [t.name for t in faulty.api.list_repo_refs(repo).tags] == ["v1.0"]
    assert TOKEN not in str(error)


BOTH_COMMITS = f"hold,count=2,route={COMMIT_ROUTE}"


def _race(
    faulty: FaultyHub, plans: list[StagePlan], repo: str, *faults: str, meanwhile: Callable[[], None] | None = None
) -> list[PublishResult | BaseException]:
    """Publish two ``plans`` at once, with ``faults`` added too.

    Both commits are held at the server until both publishers have planned; then ``meanwhile`` runs
    (by default it releases both commits at once) while the publishers go on.
    """
    assert len(plans) == 2
    faulty.add(BOTH_COMMITS, *faults)
    outcomes: list[PublishResult | BaseException] = [RuntimeError("not run")] * len(plans)

    def publish(index: int, plan: StagePlan) -> None:
        try:
            outcomes[index] = publish_release(plan.dest, plan.manifest, faulty.target(repo))
        except BaseException as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=publish, args=(i, p)) for i, p in enumerate(plans)]
    for thread in threads:
        thread.start()
    faulty.wait_until_held(BOTH_COMMITS, count=2)
    if meanwhile is None:
        faulty.release(BOTH_COMMITS)
    else:
        meanwhile()
    for thread in threads:
        thread.join(60)
    return outcomes


def test_two_publishers_of_identical_content_race_one_tags_the_other_reports_already_released(
    faulty: FaultyHub, tmp_path: Path
) -> None:
    repo = "alice/race-same"
    files = {"w.safetensors": os.urandom(6000)}
    plans = [_stage(tmp_path, name, "1.0", files, repo) for name in ("a", "b")]
    outcomes = _race(faulty, plans, repo)
    assert all(isinstance(o, PublishResult) for o in outcomes), outcomes
    results = [o for o in outcomes if isinstance(o, PublishResult)]
    assert sorted(r.already_released for r in results) == [False, True]
    [tag] = faulty.api.list_repo_refs(repo).tags
    assert {r.commit for r in results} == {tag.target_commit}
    assert _at(faulty, repo, "v1.0", tmp_path / "c") == _staged(plans[0])


def test_two_publishers_of_different_content_race_one_tags_the_other_is_refused(
    faulty: FaultyHub, tmp_path: Path
) -> None:
    repo = "alice/race-different"
    plans = [_stage(tmp_path, name, "1.0", {"w.safetensors": os.urandom(6000)}, repo) for name in ("a", "b")]
    outcomes = _race(faulty, plans, repo)
    [winner] = [i for i, o in enumerate(outcomes) if isinstance(o, PublishResult)]
    [loser] = [o for o in outcomes if not isinstance(o, PublishResult)]
    assert isinstance(loser, PublishError) and "already released" in str(loser) and "different content" in str(loser)
    [tag] = faulty.api.list_repo_refs(repo).tags
    assert tag.name == "v1.0"
    assert _at(faulty, repo, "v1.0", tmp_path / "c") == _staged(plans[winner])
    # Whichever order the race took, the branch holds the tagged tree: nothing of the loser's remains.
    assert _tree(faulty, repo, "main") == _tree(faulty, repo, "v1.0")
    assert TOKEN not in str(loser)


# The loser's commit lands on the branch after the winner's tag: the loser's second commit (after its
# 412, a new look at the tag and a new plan) waits at the server until the winner's tag is in place.
LOSERS_COMMIT = f"hold,count=1,route={COMMIT_ROUTE}"
WINNERS_TAG = "hold,count=1,route=POST /api/models/*/tag/*"


def _loser_commits_after_the_winners_tag(faulty: FaultyHub, before_the_losers_commit_lands: str = "") -> None:
    """The choreography of a tag race lost after the loser's commit (``_race``'s ``meanwhile``).

    ``before_the_losers_commit_lands``: fault specs to add while the loser's second commit is held.
    """
    faulty.add(LOSERS_COMMIT, WINNERS_TAG)  # after the two held commits: these hold the next ones
    faulty.release(BOTH_COMMITS)  # one commit lands, the other gets a 412
    faulty.wait_until_held(WINNERS_TAG, LOSERS_COMMIT)
    faulty.release(WINNERS_TAG)
    _wait_until(lambda: faulty.state()[WINNERS_TAG]["finished"] == 1)  # v1.0 names the winner's commit
    if before_the_losers_commit_lands:
        faulty.add(before_the_losers_commit_lands)
    faulty.release(LOSERS_COMMIT)


def test_the_loser_of_a_tag_race_puts_the_branch_back_on_the_tagged_tree(faulty: FaultyHub, tmp_path: Path) -> None:
    repo = "alice/race-restored"
    plans = [_stage(tmp_path, name, "1.0", {"w.safetensors": os.urandom(6000)}, repo) for name in ("a", "b")]
    outcomes = _race(faulty, plans, repo, meanwhile=lambda: _loser_commits_after_the_winners_tag(faulty))
    [winner] = [o for o in outcomes if isinstance(o, PublishResult)]
    [loser] = [o for o in outcomes if not isinstance(o, PublishResult)]
    assert isinstance(loser, PublishError) and "already released" in str(loser), loser
    restored = faulty.api.repo_info(repo).sha
    assert f"holds the tree of v1.0 again (commit {restored})" in str(loser)
    assert TOKEN not in str(loser)
    titles = [c.title for c in faulty.api.list_repo_commits(repo)[:3]]
    assert titles == ["Restore v1.0 after a publishing race", "Release v1.0", "Release v1.0"]
    [tag] = faulty.api.list_repo_refs(repo).tags
    assert tag.target_commit == winner.commit
    assert _tree(faulty, repo, "main") == _tree(faulty, repo, "v1.0")


@pytest.mark.parametrize("interference", ["another commit", "an HTTP 503"])
def test_the_loser_of_a_tag_race_says_when_it_cannot_restore_the_branch(
    faulty: FaultyHub, tmp_path: Path, interference: str
) -> None:
    repo = "alice/race-unrestored"
    plans = [_stage(tmp_path, name, "1.0", {"w.safetensors": os.urandom(6000)}, repo) for name in ("a", "b")]
    restore = f"hold,count=1,route=POST /api/models/{repo}/commit/*"  # the next commit: the loser's restore
    if interference == "an HTTP 503":
        restore = f"status=503,count=1,route={COMMIT_ROUTE}"
    intruder: list[str] = []

    def interfere_with_the_restore() -> None:
        _loser_commits_after_the_winners_tag(faulty, before_the_losers_commit_lands=restore)
        if interference == "another commit":
            faulty.wait_until_held(restore)
            done = faulty.api.create_commit(repo, [CommitOperationAdd("x.txt", b"x\n")], commit_message="meanwhile")
            intruder.append(done.oid)
            faulty.release(restore)

    outcomes = _race(faulty, plans, repo, meanwhile=interfere_with_the_restore)
    [loser] = [o for o in outcomes if not isinstance(o, PublishResult)]
    assert isinstance(loser, PublishError) and "already released" in str(loser), loser
    assert TOKEN not in str(loser)
    head = faulty.api.repo_info(repo).sha
    if interference == "another commit":
        assert "another commit landed on it before it could be restored to the tree of v1.0" in str(loser)
        assert "the branch was left as it is" in str(loser)
        assert head == intruder[0]  # the restore did not land; the intruder's commit is kept
    else:
        assert f"failed (HTTP 503): the branch still holds this run's commit {head}" in str(loser)
        assert faulty.api.list_repo_commits(repo)[0].title == "Release v1.0"


def _tree(hub: FaultyHub, repo: str, revision: str) -> dict[str, tuple[int, str | None]]:
    """Every file's size and id (git blob id, or sha256 for LFS files) at ``revision``."""
    return {
        entry.path: (entry.size, entry.lfs.sha256 if entry.lfs else entry.blob_id)
        for entry in hub.api.list_repo_tree(repo, revision=revision, recursive=True)
        if isinstance(entry, RepoFile)
    }


# --- injected faults ------------------------------------------------------------------------------

RECOVERABLE = [
    f"status=429,retry-after=0,count=2,route={PREUPLOAD_ROUTE}",
    f"status=503,count=2,route={PREUPLOAD_ROUTE}",
    f"status=429,retry-after=0,count=2,route={BATCH_ROUTE}",
    f"status=502,count=2,route={BATCH_ROUTE}",
    f"status=500,count=2,route={PUT_ROUTE}",
    f"status=429,retry-after=1,count=1,route={PUT_ROUTE}",
    f"drop=64KiB,count=1,route={PUT_ROUTE}",
    "status=502,count=1,route=GET /api/models/*/tree/*",  # the client retries paginated listings
]


@pytest.mark.parametrize("spec", RECOVERABLE)
def test_bursts_of_errors_and_dropped_uploads_end_in_the_complete_verified_release(
    faulty: FaultyHub, tmp_path: Path, spec: str
) -> None:
    repo = "alice/bursts"
    first = _stage(tmp_path, "one", "1.0", {"w.safetensors": os.urandom(300_000)}, repo)
    publish_release(first.dest, first.manifest, faulty.target(repo))
    second = _stage(tmp_path, "two", "2.0", {"w.safetensors": os.urandom(300_000)}, repo)
    faulty.add(spec)
    result = publish_release(second.dest, second.manifest, faulty.target(repo))
    assert faulty.fired()[spec] >= 1, "the fault never fired"
    assert result.tag == "v2.0" and not result.already_released
    assert _at(faulty, repo, "v2.0", tmp_path / "c") == _staged(second)
    assert faulty.api.repo_info(repo).sha == result.commit


@pytest.mark.backoff  # the client retries 5 times, waiting 1+2+4+8+8 s, before it gives up
@pytest.mark.parametrize(
    "spec",
    [
        f"status=503,route={PREUPLOAD_ROUTE}",
        f"status=500,route={PUT_ROUTE}",
        f"drop=0,route={PUT_ROUTE}",
        f"status=500,count=1,route={COMMIT_ROUTE}",
    ],
)
def test_persistent_faults_end_in_a_clean_error_and_the_previous_release(
    faulty: FaultyHub, tmp_path: Path, spec: str
) -> None:
    repo = "alice/persistent"
    first = _stage(tmp_path, "one", "1.0", {"w.safetensors": os.urandom(100_000)}, repo)
    published = publish_release(first.dest, first.manifest, faulty.target(repo))
    second = _stage(tmp_path, "two", "2.0", {"w.safetensors": os.urandom(100_000)}, repo)
    faulty.add(spec)
    with pytest.raises(PublishError) as info:
        publish_release(second.dest, second.manifest, faulty.target(repo))
    assert TOKEN not in str(info.value)
    assert faulty.api.repo_info(repo).sha == published.commit  # the branch is still the previous release
    assert [t.name for t in faulty.api.list_repo_refs(repo).tags] == ["v1.0"]
    faulty.clear()
    again = publish_release(second.dest, second.manifest, faulty.target(repo))  # a re-run completes
    assert _at(faulty, repo, "v2.0", tmp_path / "c") == _staged(second) and again.tag == "v2.0"


_PUBLISH_SCRIPT = """
import sys
from pathlib import Path
from release.publish import publish_release
from release.publish_plan import PublishTarget
from release.stage import read_release_manifest
staged = Path(sys.argv[1])
target = PublishTarget(sys.argv[2], sys.argv[3], "model", sys.argv[4])
result = publish_release(staged, read_release_manifest(staged), target)
print(result.commit)
"""


def test_a_publisher_killed_mid_upload_resumes_without_sending_a_completed_blob_again(
    faulty: FaultyHub, tmp_path: Path
) -> None:
    repo = "alice/killed"
    files = {f"shard-{i}.safetensors": os.urandom(200_000) for i in range(3)}
    plan = _stage(tmp_path, "one", "1.0", files, repo)
    puts = f"latency=1ms,route={PUT_ROUTE}"  # counts every LFS upload
    hold = f"hold,count=1,route={PUT_ROUTE}"  # the first upload waits at the server, its body unread,
    cut = f"drop=0,count=1,route={PUT_ROUTE}"  # and is cut once released: none of it is stored
    faulty.add(puts, hold, cut)
    command = [sys.executable, "-c", _PUBLISH_SCRIPT, str(plan.dest), faulty.url, repo, TOKEN]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # One upload is held, the two others are stored: the publisher is killed mid-upload.
        _wait_until(lambda: faulty.state()[hold]["held"] == 1 and faulty.state()[puts]["finished"] == 2)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    faulty.release(hold)
    _wait_until(lambda: faulty.state()[puts]["finished"] == 3)  # the held upload is over, and stored nothing
    assert process.returncode == -signal.SIGKILL
    assert faulty.api.list_repo_refs(repo).tags == [] and faulty.api.list_repo_files(repo) == [".gitattributes"]
    faulty.clear()
    faulty.add(puts)
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert faulty.fired()[puts] == 1  # only the blob whose upload was killed is sent again
    assert _at(faulty, repo, "v1.0", tmp_path / "c") == _staged(plan)


# --- a pull request instead of the branch ---------------------------------------------------------


def test_create_pr_puts_the_verified_release_in_a_pull_request_and_tags_after_the_merge(
    faulty: FaultyHub, tmp_path: Path
) -> None:
    repo = "alice/reviewed"
    first = _stage(tmp_path, "one", "1.0", {"w.safetensors": os.urandom(4000)}, repo)
    released = publish_release(first.dest, first.manifest, faulty.target(repo))
    second = _stage(tmp_path, "two", "2.0", {"w.safetensors": os.urandom(4000)}, repo)
    reviewed = PublishTarget(faulty.url, repo, "model", TOKEN, create_pr=True)

    proposed = publish_release(second.dest, second.manifest, reviewed)

    assert proposed.pr_url is not None and proposed.pr_url.endswith("/discussions/1")
    assert faulty.api.repo_info(repo).sha == released.commit  # the branch is still the previous release
    assert [t.name for t in faulty.api.list_repo_refs(repo).tags] == ["v1.0"]  # not tagged before the merge
    assert _at(faulty, repo, "refs/pr/1", tmp_path / "pr") == _staged(second)  # the PR holds the whole release
    faulty.api.merge_pull_request(repo, 1, comment="reviewed")  # the reviewer merges
    merged = faulty.api.get_discussion_details(repo, 1)
    assert merged.status == "merged" and merged.merge_commit_oid == faulty.api.repo_info(repo).sha
    assert _at(faulty, repo, "main", tmp_path / "merged") == _staged(second)  # the branch holds the release
    tagged = publish_release(second.dest, second.manifest, reviewed)  # after the merge: verify, then tag
    assert tagged.pr_url is None and not tagged.already_released
    assert tagged.commit == merged.merge_commit_oid  # nothing left to commit: the merge commit is tagged
    assert _at(faulty, repo, "v2.0", tmp_path / "c") == _staged(second)


def test_a_publisher_killed_mid_commit_leaves_a_whole_tree_and_the_re_run_tags_it(
    faulty: FaultyHub, tmp_path: Path
) -> None:
    repo = "alice/killed-commit"
    first = _stage(tmp_path, "one", "1.0", {"w.safetensors": os.urandom(4000)}, repo)
    released = publish_release(first.dest, first.manifest, faulty.target(repo))
    second = _stage(tmp_path, "two", "2.0", {"w.safetensors": os.urandom(4000), "n.txt": b"n\n"}, repo)
    hold = f"hold,count=1,route={COMMIT_ROUTE}"
    faulty.add(hold)
    command = [sys.executable, "-c", _PUBLISH_SCRIPT, str(second.dest), faulty.url, repo, TOKEN]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        faulty.wait_until_held(hold)  # the commit request is at the server
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    faulty.release(hold)
    _wait_until(lambda: faulty.state()[hold]["finished"] == 1)  # decided by the server, with or without its client
    head = faulty.api.repo_info(repo).sha
    assert head is not None
    assert [t.name for t in faulty.api.list_repo_refs(repo).tags] == ["v1.0"]
    branch = _at(faulty, repo, head, tmp_path / "h")
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    # The killed run wrote nothing into the staged tree; the re-run wrote the notes once its commit held them.
    assert head == released.commit or branch == _staged(second)  # the previous release or all of this one
    assert _at(faulty, repo, "v2.0", tmp_path / "c") == _staged(second)


@pytest.mark.parametrize(
    "spec",
    [
        "status=503,count=1,route=GET /api/models/*/refs",
        "status=500,count=1,route=GET /api/models/*/revision/*",
        "status=503,count=1,route=POST /api/repos/create",
    ],
)
def test_a_5xx_on_a_call_the_client_does_not_retry_is_a_clean_error_and_the_re_run_completes(
    faulty: FaultyHub, tmp_path: Path, spec: str
) -> None:
    repo = "alice/not-retried"
    first = _stage(tmp_path, "one", "1.0", {"w.safetensors": os.urandom(2000)}, repo)
    released = publish_release(first.dest, first.manifest, faulty.target(repo))
    second = _stage(tmp_path, "two", "2.0", {"w.safetensors": os.urandom(2000)}, repo)
    faulty.add(spec)
    with pytest.raises(PublishError, match=r"HTTP 5\d\d"):
        publish_release(second.dest, second.manifest, faulty.target(repo))
    assert faulty.fired()[spec] == 1
    assert faulty.api.repo_info(repo).sha == released.commit
    assert [t.name for t in faulty.api.list_repo_refs(repo).tags] == ["v1.0"]
    again = publish_release(second.dest, second.manifest, faulty.target(repo))
    assert again.tag == "v2.0" and _at(faulty, repo, "v2.0", tmp_path / "c") == _staged(second)
