"""Fault injection in the local Hub emulator, seen through the real huggingface_hub client and its retries.

The client retries the preupload, the LFS batch and the LFS PUT on 408/429/5xx and on network errors,
waiting 1, 2, 4, 8, 8 s, or ``Retry-After`` + 1 s when the answer has that header (docs/hub-api.md,
Client retries).
Status faults here send ``Retry-After: 0`` to keep each retry at one second.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest
from conftest import REPO_ROOT
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError
from starlette.responses import Response
from starlette.types import Message

from release.errors import HubServerError
from release.hub import DEV_TOKEN, HubServer, Token
from release.hub.faults import ADMIN_PATH, FaultInjector, FaultRule, with_faults

TOKEN = "hf_fault_tests_alice"
ADMIN = "hf_fault_tests_admin"
REPO = "alice/faults"

# --------------------------------------------------------------------------------------------------
# Helpers


def start_hub(storage: Path, *faults: str, admin_token: str | None = None) -> HubServer:
    rules = [FaultRule.from_spec(spec) for spec in faults]
    return HubServer(storage, [Token("alice", TOKEN)], faults=rules, admin_token=admin_token).start()


@pytest.fixture
def make_hub(tmp_path: Path) -> Iterator[Any]:
    """Start a Hub with the given fault specs (stopped at the end of the test), with repo alice/faults."""
    servers: list[HubServer] = []

    def make(*faults: str, admin_token: str | None = None) -> tuple[HubServer, HfApi]:
        server = start_hub(tmp_path / "hub", *faults, admin_token=admin_token)
        servers.append(server)
        api = HfApi(endpoint=server.url, token=TOKEN)
        api.create_repo(REPO)
        return server, api

    yield make
    for server in servers:
        server.stop()


def fault_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "release.hub.faults"]


def client_retry_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name.startswith("huggingface_hub")]


def lfs_operation(content: bytes) -> CommitOperationAdd:
    return CommitOperationAdd(path_in_repo="weights.bin", path_or_fileobj=content)


def object_path(storage: Path, content: bytes) -> Path:
    sha256 = hashlib.sha256(content).hexdigest()
    return storage / "objects" / sha256[:2] / sha256[2:]


def raw(method: str, url: str, *, token: str | None = None, body: object = None) -> tuple[int, Mapping[str, str], Any]:
    """One request as given (no retries): status, lower-case headers, and the JSON body (None if not JSON)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        connection.request(method, parts.path, body=None if body is None else json.dumps(body), headers=headers)
        response = connection.getresponse()
        data, headers = response.read(), {k.lower(): v for k, v in response.getheaders()}
        is_json = headers.get("content-type", "").startswith("application/json")
        return response.status, headers, json.loads(data) if is_json else None
    finally:
        connection.close()


def call_asgi(app: Any, method: str, path: str, client: tuple[str, int], token: str) -> int:
    """Call an ASGI app directly, as a server would for a client at ``client``; return the status."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"authorization", f"Bearer {token}".encode())],
        "client": client,
    }
    asyncio.run(app(scope, receive, send))
    return int(sent[0]["status"])


# --------------------------------------------------------------------------------------------------
# Rules and their syntax


@pytest.mark.parametrize(
    ("spec", "rule"),
    [
        (
            "status=503,count=2,route=POST /api/models/*/preupload/*",
            FaultRule("status", "POST /api/models/*/preupload/*", count=2, status=503),
        ),
        (
            "status=429,retry-after=1,route=/api/*",
            FaultRule("status", "/api/*", status=429, retry_after=1),
        ),
        ("drop=1MiB,route=PUT /api/lfs-upload/*", FaultRule("drop", "PUT /api/lfs-upload/*", drop_after_bytes=2**20)),
        ("drop=0,count=1", FaultRule("drop", count=1, drop_after_bytes=0)),
        ("latency=200ms,route=*", FaultRule("latency", latency_ms=200)),
        ("latency=1.5s", FaultRule("latency", latency_ms=1500)),
        ("latency=75", FaultRule("latency", latency_ms=75)),
        ("hold,count=1,route=POST /api/models/*/commit/*", FaultRule("hold", "POST /api/models/*/commit/*", count=1)),
        ("hold=64KiB,route=PUT /api/lfs-upload/*", FaultRule("hold", "PUT /api/lfs-upload/*", hold_after_bytes=65536)),
        (
            "status=500,route=re:GET /api/(whoami-v2|x{1,2})",
            FaultRule("status", "re:GET /api/(whoami-v2|x{1,2})", status=500),
        ),
    ],
)
def test_fault_specs_parse_into_rules_and_back(spec: str, rule: FaultRule) -> None:
    assert FaultRule.from_spec(spec) == rule
    assert FaultRule.from_spec(rule.to_spec()) == rule


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("", "it is empty"),
        ("stat=503", "unknown key 'stat'"),
        ("status=5x3", "status=5x3 is not a whole number"),
        ("status=200", "'status' must be an integer from 400 to 599"),
        ("status=503,drop=10", "found status and drop"),
        ("count=2", "found none"),
        ("route=*,status=503", "put it last"),
        ("status=503 route=*", "put a comma between 'status=503' and route="),
        ("drop=1MB", "drop=1MB is not a byte count"),
        ("latency=fast", "latency=fast is not a duration"),
        ("hold=lots", "hold=lots is not a byte count"),
        ("hold,latency=5", "found latency and hold"),
        ("drop=0,retry-after=1", "cannot have 'retry_after'"),
        ("status=503,count=0", "'count' must be an integer at least 1"),
        ("status=503,count=1,count=2", "'count' is given twice"),
        ("status=503,route=re:(", "not a valid regex"),
        ("status=503,,count=1", "'' is not a key=value item"),
    ],
)
def test_bad_fault_specs_name_the_bad_part(spec: str, named: str) -> None:
    with pytest.raises(HubServerError) as caught:
        FaultRule.from_spec(spec)
    assert str(caught.value).startswith(f"Bad fault spec {spec!r}: ")
    assert named in str(caught.value)


def test_rules_match_the_method_and_the_raw_path() -> None:
    preupload = FaultRule.from_spec("status=503,route=POST /api/models/*/preupload/*")
    assert preupload.matches("POST", "/api/models/alice/m/preupload/main")
    assert not preupload.matches("GET", "/api/models/alice/m/preupload/main")
    assert not preupload.matches("POST", "/api/datasets/alice/m/preupload/main")
    any_method = FaultRule.from_spec("status=503,route=/api/models/*/tree/refs%2Fpr%2F1")
    assert any_method.matches("GET", "/api/models/alice/m/tree/refs%2Fpr%2F1")  # still percent-encoded
    assert not any_method.matches("GET", "/api/models/alice/m/tree/refs/pr/1")
    regex = FaultRule.from_spec(r"status=503,route=re:(GET|HEAD) /[^/]+/[^/]+/resolve/.*")
    assert regex.matches("HEAD", "/alice/m/resolve/main/config.json")
    assert not regex.matches("GET", "/api/models/alice/m")
    assert FaultRule.from_spec("latency=1").matches("DELETE", "/anything")


def test_fault_rules_are_checked_when_built() -> None:
    for kwargs, named in (
        ({"kind": "status"}, "needs a value for 'status'"),
        ({"kind": "latency", "latency_ms": 5, "status": 503}, "cannot have a value for 'status'"),
        ({"kind": "explode"}, "Unknown fault kind 'explode'"),
        ({"kind": "latency", "latency_ms": 5, "hold_after_bytes": 1}, "cannot have a value for 'hold_after_bytes'"),
        ({"kind": "drop", "drop_after_bytes": -1}, "'drop_after_bytes' must be an integer at least 0"),
        ({"kind": "status", "status": 503, "route": " "}, "non-empty pattern"),
    ):
        with pytest.raises(HubServerError, match=re.escape(named)):
            FaultRule(**kwargs)
    with pytest.raises(HubServerError, match="Unknown fault field"):
        FaultRule.from_json({"kind": "status", "status": 503, "times": 2})


# --------------------------------------------------------------------------------------------------
# Each kind of fault, against the real client


def test_503_on_preupload_and_lfs_batch_is_retried_until_the_commit_goes_through(
    make_hub: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server, api = make_hub(
        "status=503,retry-after=0,count=2,route=POST /api/models/*/preupload/*",
        "status=503,retry-after=0,count=2,route=POST /*.git/info/lfs/objects/batch",
    )
    content = os.urandom(100_000)
    commit = api.create_commit(REPO, [lfs_operation(content)], commit_message="through the 503s")
    assert api.repo_info(REPO).sha == commit.oid
    downloaded = hf_hub_download(REPO, "weights.bin", endpoint=server.url, token=TOKEN)
    assert Path(downloaded).read_bytes() == content
    assert [line.rsplit(": ", 1)[-1] for line in fault_log(caplog)] == [
        "answering HTTP 503 [1 of 2]",
        "answering HTTP 503 [2 of 2]",
        "answering HTTP 503 [1 of 2]",
        "answering HTTP 503 [2 of 2]",
    ]
    assert "on POST /api/models/alice/faults/preupload/main" in fault_log(caplog)[0]
    assert "on POST /alice/faults.git/info/lfs/objects/batch" in fault_log(caplog)[2]


def test_429_with_retry_after_is_honoured_by_the_client(make_hub: Any, caplog: pytest.LogCaptureFixture) -> None:
    _, api = make_hub("status=429,retry-after=1,count=1,route=POST /*.git/info/lfs/objects/batch")
    started = time.monotonic()
    api.create_commit(REPO, [lfs_operation(os.urandom(10_000))], commit_message="after the rate limit")
    waited = time.monotonic() - started
    # The client waits Retry-After + 1 s: 2 s, where its own first backoff would be 1 s.
    assert waited > 1.9  # a lower bound holds however loaded the machine is
    assert [line.rsplit(": ", 1)[-1] for line in fault_log(caplog)] == ["answering HTTP 429 [1 of 1]"]
    assert any("Rate limited. Waiting 2.0s" in line for line in client_retry_log(caplog))


def test_connection_dropped_mid_lfs_put_is_retried_and_the_upload_completes(
    make_hub: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, api = make_hub("drop=256KiB,count=1,route=PUT /api/lfs-upload/*")
    content = os.urandom(2_000_000)
    commit = api.create_commit(REPO, [lfs_operation(content)], commit_message="after a cut")
    assert api.repo_info(REPO).sha == commit.oid
    assert object_path(tmp_path / "hub", content).read_bytes() == content
    assert list((tmp_path / "hub" / "tmp").iterdir()) == []
    (drop,) = fault_log(caplog)
    assert drop.endswith("dropping the connection after 262144 request body bytes [1 of 1]")
    # The client saw a broken connection, not an HTTP answer, and retried the PUT.
    retries = [line for line in client_retry_log(caplog) if "thrown while requesting PUT" in line]
    assert len(retries) == 1 and "HTTP Error" not in retries[0]


@pytest.mark.backoff  # the client retries 5 times, waiting 1+2+4+8+8 s, before it gives up
def test_lfs_put_dropped_on_every_attempt_fails_the_commit_and_keeps_nothing(
    make_hub: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Slow by nature (about 23 s): the client gives up only after 5 retries waiting 1+2+4+8+8 s."""
    _, api = make_hub("drop=64KiB,route=PUT /api/lfs-upload/*")
    head = api.repo_info(REPO).sha
    content = os.urandom(1_000_000)
    with pytest.raises(RuntimeError, match=re.escape("Error while uploading 'weights.bin' to the Hub")) as caught:
        api.create_commit(REPO, [lfs_operation(content)], commit_message="never")
    assert isinstance(caught.value.__cause__, httpx2.TransportError)
    assert len(fault_log(caplog)) == 6  # the first attempt and 5 retries
    assert api.repo_info(REPO).sha == head
    assert api.list_repo_files(REPO) == [".gitattributes"]
    storage = tmp_path / "hub"
    assert not object_path(storage, content).exists()
    assert list((storage / "tmp").iterdir()) == []


def test_latency_delays_only_the_matching_requests(make_hub: Any, caplog: pytest.LogCaptureFixture) -> None:
    _, api = make_hub("latency=400ms,count=1,route=GET /api/whoami-v2")
    timings = []
    for _ in range(2):
        started = time.monotonic()
        assert api.whoami()["name"] == "alice"
        timings.append(time.monotonic() - started)
    assert timings[0] >= 0.4  # a lower bound holds however loaded the machine is
    (line,) = fault_log(caplog)  # the second request was not delayed
    assert line.endswith("on GET /api/whoami-v2: adding 400 ms of latency [1 of 1]")


# --------------------------------------------------------------------------------------------------
# The admin endpoint


def test_admin_endpoint_adds_lists_and_clears_faults_with_counts(make_hub: Any) -> None:
    server, api = make_hub(admin_token=ADMIN)
    url = f"{server.url}{ADMIN_PATH}"
    for token in (None, "hf_wrong", TOKEN):
        status, _, body = raw("GET", url, token=token)
        assert status == 403 and "admin token" in body["error"]

    whoami_500 = "status=500,count=1,route=GET /api/whoami-v2"
    slow = {"kind": "latency", "route": "GET /api/models/*", "latency_ms": 10}
    status, _, added = raw("POST", url, token=ADMIN, body=[whoami_500, slow])
    assert status == 200
    assert [(f["id"], f["spec"], f["fired"], f["remaining"]) for f in added["faults"]] == [
        (1, whoami_500, 0, 1),
        (2, "latency=10ms,route=GET /api/models/*", 0, None),
    ]

    with pytest.raises(HfHubHTTPError) as caught:  # whoami is not retried by the client
        api.whoami()
    assert caught.value.response.status_code == 500
    assert api.whoami()["name"] == "alice"  # the fault was for one request
    api.repo_info(REPO)
    api.repo_info(REPO)
    _, _, listed = raw("GET", url, token=ADMIN)
    assert [(f["id"], f["fired"], f["remaining"]) for f in listed["faults"]] == [(1, 1, 0), (2, 2, None)]

    for bad, named in (
        ([whoami_500, "status=9"], "Bad fault spec 'status=9'"),
        ({"spec": whoami_500}, "JSON list"),
        ([{"kind": "drop"}], "needs a value for 'drop_after_bytes'"),
    ):
        status, _, body = raw("POST", url, token=ADMIN, body=bad)
        assert status == 400 and named in body["error"]
    assert len(raw("GET", url, token=ADMIN)[2]["faults"]) == 2  # nothing added by a bad request
    assert raw("PUT", url, token=ADMIN)[0] == 405

    assert raw("DELETE", url, token=ADMIN)[2] == {"cleared": 2}
    assert raw("GET", url, token=ADMIN)[2] == {"faults": []}


def counts(url: str) -> list[tuple[int, int, int]]:
    """(fired, held, finished) of each rule, from the admin endpoint."""
    return [(f["fired"], f["held"], f["finished"]) for f in raw("GET", f"{url}{ADMIN_PATH}", token=ADMIN)[2]["faults"]]


def until(condition: Callable[[], bool], timeout: float = 60) -> None:
    """Poll ``condition`` until it holds; the deadline only turns a hang into a failure."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def test_a_held_request_waits_at_the_server_until_the_test_releases_it(make_hub: Any) -> None:
    server, api = make_hub("hold,count=1,route=GET /api/whoami-v2", admin_token=ADMIN)
    answers: list[str] = []
    thread = threading.Thread(target=lambda: answers.append(api.whoami()["name"]))
    thread.start()
    until(lambda: counts(server.url) == [(1, 1, 0)])
    assert answers == [] and thread.is_alive()  # held: no answer can have been sent
    assert api.whoami()["name"] == "alice"  # the rule was for one request; others are served meanwhile
    assert raw("POST", f"{server.url}{ADMIN_PATH}/release", token=ADMIN)[2] == {"released": 1}
    thread.join(60)
    assert answers == ["alice"] and counts(server.url) == [(1, 0, 1)]
    assert raw("POST", f"{server.url}{ADMIN_PATH}/release", token=ADMIN, body=["x"])[0] == 400
    assert raw("GET", f"{server.url}{ADMIN_PATH}/release", token=ADMIN)[0] == 405


def test_a_hold_after_some_bytes_leaves_exactly_that_much_of_an_upload_at_the_server(
    make_hub: Any, tmp_path: Path
) -> None:
    server, api = make_hub("hold=256KiB,count=1,route=PUT /api/lfs-upload/*", admin_token=ADMIN)
    content = os.urandom(1_000_000)
    thread = threading.Thread(target=lambda: api.create_commit(REPO, [lfs_operation(content)], commit_message="w"))
    thread.start()
    until(lambda: counts(server.url) == [(1, 1, 0)])
    [partial] = (tmp_path / "hub" / "tmp").iterdir()  # the upload's temp file: 256 KiB received, the rest held
    assert partial.stat().st_size <= 256 * 1024 and not object_path(tmp_path / "hub", content).exists()
    assert raw("DELETE", f"{server.url}{ADMIN_PATH}", token=ADMIN)[2] == {"cleared": 1}  # clearing releases too
    thread.join(60)
    assert object_path(tmp_path / "hub", content).read_bytes() == content
    assert api.list_repo_files(REPO) == [".gitattributes", "weights.bin"]


def test_stopping_the_server_releases_what_it_holds(tmp_path: Path) -> None:
    server = start_hub(tmp_path / "hub", "hold,route=GET /api/whoami-v2", admin_token=ADMIN)
    api = HfApi(endpoint=server.url, token=TOKEN)
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: outcome.append(api.whoami()["name"]))
    thread.start()
    until(lambda: counts(server.url) == [(1, 1, 0)])
    server.stop()
    thread.join(60)
    assert outcome == ["alice"]  # released and answered before the server closed


def test_admin_endpoint_exists_only_for_loopback_clients_and_only_when_enabled(tmp_path: Path) -> None:
    inner = Response(b"the emulator's own answer", 404)
    injector = FaultInjector(inner, admin_token=ADMIN)
    for client in (("127.0.0.1", 5000), ("127.8.9.10", 5000), ("::1", 5000), ("::ffff:127.0.0.1", 5000)):
        assert call_asgi(injector, "GET", ADMIN_PATH, client, ADMIN) == 200
    for client in (("192.0.2.10", 5000), ("2001:db8::1", 5000), ("::ffff:192.0.2.10", 5000)):
        assert call_asgi(injector, "GET", ADMIN_PATH, client, ADMIN) == 404  # passed on, as an unknown route

    assert with_faults(inner) is inner  # no rules and no admin token: no fault injection at all
    with HubServer(tmp_path / "hub", [Token("alice", TOKEN)]) as server:
        assert raw("GET", f"{server.url}{ADMIN_PATH}")[0] == 404  # the emulator's own answer: no such repo
        assert raw("DELETE", f"{server.url}{ADMIN_PATH}")[0] == 404  # ... or no such route
    with pytest.raises(HubServerError, match="also a user token"):
        HubServer(tmp_path / "hub", [Token("alice", TOKEN)], admin_token=TOKEN)


def test_hub_serve_takes_faults_and_an_admin_token_on_the_command_line(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "release", "hub", "serve", "--port", "0", "--storage", str(tmp_path / "hub")]

    bad = subprocess.run([*command, "--fault", "status=503,count=two"], env=env, capture_output=True, text=True)
    assert bad.returncode == 2
    assert "ERROR: HubServerError: Bad fault spec 'status=503,count=two': count=two is not a whole number" in bad.stderr
    assert not (tmp_path / "hub").exists()

    log_path = tmp_path / "serve.log"
    fault = "status=500,count=1,route=GET /api/whoami-v2"
    with (
        log_path.open("w") as log_file,
        subprocess.Popen([*command, "--fault", fault, "--fault-admin"], env=env, stderr=log_file, text=True) as process,
    ):
        try:
            text = wait_for_log(log_path, "Fault admin token: ")
            url = re.search(r"Hub emulator serving (\S+)", text).group(1)  # type: ignore[union-attr]
            admin_token = re.search(r"Fault admin token: (\S+)", text).group(1)  # type: ignore[union-attr]
            assert f"Injecting faults: {fault}" in text
            api = HfApi(endpoint=url, token=DEV_TOKEN)
            with pytest.raises(HfHubHTTPError):
                api.whoami()
            assert api.whoami()["name"] == "dev"
            _, _, listed = raw("GET", f"{url}{ADMIN_PATH}", token=admin_token)
            assert [(f["spec"], f["fired"]) for f in listed["faults"]] == [(fault, 1)]
        finally:
            process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    assert "Fault 1 (status=500,count=1,route=GET /api/whoami-v2) on GET /api/whoami-v2" in log_path.read_text()


def wait_for_log(path: Path, text: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = path.read_text()
        if text in content:
            return content
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not logged within {timeout} s:\n{path.read_text()}")


def test_an_injected_answer_whose_message_holds_a_control_character_still_reaches_the_client(
    tmp_path: Path,
) -> None:
    """The fault's message names its route; a control character in it is escaped in X-Error-Message
    (h11 refuses to send it raw, and the client would see the connection drop instead of the answer)."""
    server = start_hub(tmp_path / "hub", "status=418,route=re:GET /api/whoami-v2\x01?")
    try:
        response = httpx2.get(f"{server.url}/api/whoami-v2", headers={"Authorization": f"Bearer {TOKEN}"})
    finally:
        server.stop()
    assert response.status_code == 418
    assert "\\x01" in response.headers["X-Error-Message"]
    assert response.json()["error"].startswith("Injected fault: HTTP 418")
