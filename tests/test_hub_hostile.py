"""Hostile requests to the Hub emulator (issue 17): each gets a 4xx, within bounded time and memory, and the
server goes on serving. docs/hub-api.md, Limits, says what is bounded and how.

Everything goes over real HTTP to a running server: httpx (huggingface_hub's own HTTP client) for requests
it can send, a raw socket for the ones no client would send (half a request, no Host header). Sizes and
byte counts are asserted, never wall time; waits for the server to act are reads with a deadline.
"""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from uuid import uuid4

import httpx2 as httpx
import pytest
from conftest import RunningHub
from huggingface_hub import HfApi

from release.hub.server import HubServer

MiB = 1024 * 1024
#: 7 levels of 9 aliases each: ~300 bytes that expand to 9**7 (4.8 million) strings.
ALIAS_BOMB = (
    "---\n"
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{name}: &{name} [{','.join(['*' + last] * 9)}]\n" for last, name in zip("abcdef", "bcdefg", strict=True)
    )
    + "---\n# A card\n"
)
#: How long a test waits, at most, for the server to do something it must do at once.
DEADLINE_SECONDS = 20.0


# --------------------------------------------------------------------------------------------------
# Helpers


@pytest.fixture
def repo(hub: RunningHub) -> str:
    repo_id = f"alice/hostile-{uuid4().hex[:8]}"
    HfApi(endpoint=hub.url, token=hub.token).create_repo(repo_id)
    return repo_id


def commit_files(hub: RunningHub, repo_id: str, files: Mapping[str, bytes]) -> None:
    """Commit ``files`` with a raw NDJSON commit: the client would refuse some of them before sending."""
    lines = [{"key": "header", "value": {"summary": "hostile files"}}] + [
        {"key": "file", "value": {"path": path, "content": base64.b64encode(content).decode(), "encoding": "base64"}}
        for path, content in files.items()
    ]
    answer = httpx.post(
        f"{hub.url}/api/models/{repo_id}/commit/main",
        content="\n".join(json.dumps(line) for line in lines),
        headers={"Authorization": f"Bearer {hub.token}", "Content-Type": "application/x-ndjson"},
    )
    assert answer.status_code == 200, answer.text


class CountedBody:
    """A request body of ``total`` bytes in 1 MiB chunks, counting how many the client got to send."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        chunk = b" " * MiB
        while self.sent < self.total:
            self.sent += len(chunk)
            yield chunk


def assert_still_serving(url: str) -> None:
    answer = httpx.get(f"{url}/api/agent-harnesses")
    assert answer.status_code == 200
    assert answer.json() == {"standardEnvVars": [], "harnesses": {}}


def raw_exchange(url: str, request: bytes) -> bytes:
    """Send ``request`` on a fresh connection and read until the server closes it (or the deadline)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=DEADLINE_SECONDS) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


# --------------------------------------------------------------------------------------------------
# YAML front matter (finding 1)


def test_an_alias_bomb_in_a_card_is_measured_not_expanded(hub: RunningHub, repo: str) -> None:
    assert len(ALIAS_BOMB.encode()) < 365
    commit_files(hub, repo, {"README.md": ALIAS_BOMB.encode()})

    info = httpx.get(f"{hub.url}/api/models/{repo}")
    assert info.status_code == 200
    assert len(info.content) < 10_000  # 33.6 MB before the fix
    assert "cardData" not in info.json()
    assert {"rfilename": "README.md"} in info.json()["siblings"]
    assert HfApi(endpoint=hub.url).model_info(repo).card_data is None  # the client reads it as a card-less repo

    page = httpx.get(f"{hub.url}/{repo}")
    assert page.status_code == 200
    assert len(page.content) < 100_000
    assert "The front matter is not shown: The YAML front matter expands to more than 100000 nodes" in page.text

    validated = httpx.post(f"{hub.url}/api/validate-yaml", json={"content": ALIAS_BOMB})
    assert validated.status_code == 400
    (error,) = validated.json()["errors"]
    assert "expands to more than 100000 nodes" in error["message"]


def test_aliases_within_the_limit_still_expand(hub: RunningHub, repo: str) -> None:
    card = "---\nbase: &base {license: mit}\nother: *base\ntags: &tags [a, b]\nmore_tags: *tags\n---\n"
    commit_files(hub, repo, {"README.md": card.encode()})
    card_data = httpx.get(f"{hub.url}/api/models/{repo}").json()["cardData"]
    assert card_data == {
        "base": {"license": "mit"},
        "other": {"license": "mit"},
        "tags": ["a", "b"],
        "more_tags": ["a", "b"],
    }


@pytest.mark.parametrize(
    ("front_matter", "named"),
    [
        ("a: " + "[" * 5000 + "]" * 5000, "nested too deeply"),
        ("a: &a [*a]", "refers to itself"),
        ("a: [" + ", ".join(["x"] * 90_000) + "]", "larger than 262144 bytes"),
    ],
    ids=["deep", "recursive", "large"],
)
def test_front_matter_beyond_a_limit_is_refused_by_name(
    hub: RunningHub, repo: str, front_matter: str, named: str
) -> None:
    readme = f"---\n{front_matter}\n---\n# Card\n"
    validated = httpx.post(f"{hub.url}/api/validate-yaml", json={"content": readme})
    assert validated.status_code == 400
    assert named in validated.json()["errors"][0]["message"]

    commit_files(hub, repo, {"README.md": readme.encode()})
    info = httpx.get(f"{hub.url}/api/models/{repo}")
    assert info.status_code == 200
    assert "cardData" not in info.json()
    assert httpx.get(f"{hub.url}/{repo}").status_code == 200


# --------------------------------------------------------------------------------------------------
# Bodies (finding 2) and JSON depth (finding 7)


def test_a_huge_anonymous_body_is_refused_before_it_is_read(hub: RunningHub) -> None:
    body = CountedBody(256 * MiB)
    answer = httpx.post(
        f"{hub.url}/api/validate-yaml", content=iter(body), headers={"Content-Length": str(body.total)}, timeout=60
    )
    assert answer.status_code == 413
    assert "accepts at most 4194304" in answer.json()["error"]
    assert body.sent < 64 * MiB  # what the sockets' buffers took before the server answered, not the whole body
    assert_still_serving(hub.url)


def test_a_huge_chunked_body_is_refused_once_it_passes_the_limit(hub: RunningHub) -> None:
    body = CountedBody(256 * MiB)
    answer = httpx.post(f"{hub.url}/api/validate-yaml", content=iter(body), timeout=60)  # no length: chunked
    assert answer.status_code == 413
    assert "larger than the 4194304 bytes" in answer.json()["error"]
    assert body.sent < 64 * MiB
    assert_still_serving(hub.url)


@pytest.mark.parametrize("authorization", [None, "Bearer hf_not_a_token"], ids=["anonymous", "bad-token"])
def test_a_write_without_a_valid_token_is_refused_before_its_body(
    hub: RunningHub, repo: str, authorization: str | None
) -> None:
    body = CountedBody(256 * MiB)
    headers = {"Content-Length": str(body.total), "Content-Type": "application/x-ndjson"}
    if authorization is not None:
        headers["Authorization"] = authorization
    answer = httpx.post(f"{hub.url}/api/models/{repo}/commit/main", content=iter(body), headers=headers, timeout=60)
    assert answer.status_code == 401
    assert body.sent < 64 * MiB
    assert_still_serving(hub.url)


def test_deeply_nested_json_is_a_400_never_a_500(hub: RunningHub, repo: str) -> None:
    auth = {"Authorization": f"Bearer {hub.token}"}
    deep = '{"key": "header", "value": {"summary": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    commit = httpx.post(f"{hub.url}/api/models/{repo}/commit/main", content=deep, headers=auth)
    assert commit.status_code == 400
    assert commit.json()["error"] == "A line of the commit body nests arrays and objects more than 64 deep"

    shallow_enough_for_python = '{"name": ' + "[" * 100 + "]" * 100 + "}"  # parses, but is still too deep
    create = httpx.post(f"{hub.url}/api/repos/create", content=shallow_enough_for_python, headers=auth)
    assert create.status_code == 400
    assert "more than 64 deep" in create.json()["error"]

    anonymous = httpx.post(f"{hub.url}/api/validate-yaml", content='{"content": ' + "{" * 100_000)
    assert anonymous.status_code == 400
    assert_still_serving(hub.url)


@pytest.mark.parametrize("path", ["/api/models/a%00b/x", "/a%00b/x%01", "/datasets/alice/x%00y"])
def test_control_characters_in_a_request_are_escaped_in_the_answer_headers(hub: RunningHub, path: str) -> None:
    answer = httpx.get(f"{hub.url}{path}")  # h11 refused to send the raw NUL: the connection dropped, unanswered
    assert answer.status_code in (400, 404)
    assert "\\x00" in answer.headers["X-Error-Message"] or "\\x01" in answer.headers["X-Error-Message"]


def test_a_paths_info_body_that_is_not_utf8_is_a_400(hub: RunningHub, repo: str) -> None:
    answer = httpx.post(f"{hub.url}/api/models/{repo}/paths-info/main", content=b"paths=\xff\xfe")
    assert answer.status_code == 400
    assert "not UTF-8 form data" in answer.json()["error"]


def test_the_fault_admin_endpoint_bounds_its_body(tmp_path: Path) -> None:
    with HubServer(tmp_path / "hub", admin_token="hf_admin_secret") as server:
        admin = {"Authorization": "Bearer hf_admin_secret"}
        deep = httpx.post(f"{server.url}/admin/faults", content="[" * 100_000, headers=admin)
        assert deep.status_code == 400
        large = httpx.post(f"{server.url}/admin/faults", content=b"[" + b" " * (2 * MiB) + b"]", headers=admin)
        assert large.status_code == 413
        assert_still_serving(server.url)


# --------------------------------------------------------------------------------------------------
# Active content and the Host header (finding 5)


def test_user_files_are_served_as_inert_content(hub: RunningHub, repo: str) -> None:
    files = {
        "page.html": b"<html><script>fetch('/api/whoami-v2')</script></html>",
        "image.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    }
    commit_files(hub, repo, files)
    for path, content in files.items():
        for method in ("GET", "HEAD"):
            answer = httpx.request(method, f"{hub.url}/{repo}/resolve/main/{path}")
            assert answer.status_code == 200
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
            assert answer.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
            if method == "GET":
                assert answer.content == content  # the bytes themselves are untouched


@pytest.mark.parametrize(
    "host", ["evil.example:{port}", "127.0.0.1.evil.example:{port}", "127.0.0.1:1", "127.0.0.1", "localhost"]
)
def test_a_host_header_naming_another_server_is_refused(hub: RunningHub, host: str) -> None:
    port = hub.url.rsplit(":", 1)[1]
    for path in ("/api/agent-harnesses", "/", "/api/whoami-v2"):
        answer = httpx.get(f"{hub.url}{path}", headers={"Host": host.format(port=port)})
        assert answer.status_code == 421
        assert "names no address of this server" in answer.json()["error"]
    no_host = raw_exchange(hub.url, b"GET /api/agent-harnesses HTTP/1.0\r\n\r\n")
    assert no_host.startswith(b"HTTP/1.1 421 ")


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "LOCALHOST", "[::1]"])
def test_the_loopback_names_are_accepted_and_answers_point_back_at_them(hub: RunningHub, name: str) -> None:
    port = hub.url.rsplit(":", 1)[1]
    answer = httpx.post(
        f"{hub.url}/api/repos/create",
        json={"name": f"host-{uuid4().hex[:8]}"},
        headers={"Host": f"{name}:{port}", "Authorization": f"Bearer {hub.token}"},
    )
    assert answer.status_code == 200
    assert answer.json()["url"].startswith(f"http://{name}:{port}/alice/")


# --------------------------------------------------------------------------------------------------
# Idle connections (finding 10)


@pytest.fixture
def impatient_hub(tmp_path: Path) -> Iterator[str]:
    with HubServer(tmp_path / "hub", header_timeout=0.5, body_timeout=0.5) as server:
        yield server.url


def test_a_connection_that_sends_nothing_is_closed(impatient_hub: str) -> None:
    assert raw_exchange(impatient_hub, b"") == b""


def test_a_half_sent_request_is_closed_while_others_are_served(impatient_hub: str) -> None:
    host, port = impatient_hub.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=DEADLINE_SECONDS) as sock:
        sock.sendall(f"GET /api/agent-harnesses HTTP/1.1\r\nHost: {host}:{port}\r\nX-Slow: ".encode())
        assert_still_serving(impatient_hub)  # served while the half request waits
        assert sock.recv(65536) == b""  # then the server closes the connection: no answer, no hang


def test_a_stalled_body_answers_408(impatient_hub: str) -> None:
    host_port = impatient_hub.removeprefix("http://")
    request = f"POST /api/validate-yaml HTTP/1.1\r\nHost: {host_port}\r\nContent-Length: 100\r\n\r\n{{".encode()
    answer = raw_exchange(impatient_hub, request)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"nothing arrived for 0.5 seconds" in answer
    assert_still_serving(impatient_hub)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (f"X-Big: {'x' * 20_000}\r\n\r\n", b"431"),  # complete, and too large
        ("".join(f"X-{n}: {n}\r\n" for n in range(150)) + "\r\n", b"431"),  # too many
        (f"X-Big: {'x' * 20_000}", b"400"),  # too large while still arriving: uvicorn stops reading
    ],
    ids=["large", "many", "incomplete"],
)
def test_headers_over_the_limits_are_refused(impatient_hub: str, headers: str, status: bytes) -> None:
    host_port = impatient_hub.removeprefix("http://")
    request = f"GET / HTTP/1.1\r\nHost: {host_port}\r\nConnection: close\r\n{headers}".encode()
    assert raw_exchange(impatient_hub, request).startswith(b"HTTP/1.1 " + status + b" ")
    assert_still_serving(impatient_hub)


# --------------------------------------------------------------------------------------------------
# Connections


def test_a_request_beyond_the_connection_limit_is_answered_503_and_the_held_ones_finish(tmp_path: Path) -> None:
    """Two connections are served at once; a request on a third gets 503 at once, while the other two
    wait at the server (held by a fault, released by the test)."""
    from release.hub.faults import ADMIN_PATH, FaultRule
    from release.hub.server import Connections, Token

    admin = "hf_hostile_admin"
    held = FaultRule("hold", route="GET /api/whoami-v2", count=1)
    server = HubServer(
        tmp_path / "hub",
        [Token("alice", "hf_hostile_alice")],
        faults=[held],
        admin_token=admin,
        connections=Connections(most=2, backlog=4),
    ).start()
    try:
        port = int(server.url.rsplit(":", 1)[1])
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {admin}"}) as control:
            assert control.get(ADMIN_PATH).status_code == 200  # connection 1: kept alive, watches the rule
            waiting = socket.create_connection(("127.0.0.1", port))  # connection 2: held at the server
            waiting.settimeout(DEADLINE_SECONDS)
            waiting.sendall(
                b"GET /api/whoami-v2 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                b"Authorization: Bearer hf_hostile_alice\r\n\r\n" % port
            )
            deadline = time.monotonic() + DEADLINE_SECONDS
            while control.get(ADMIN_PATH).json()["faults"][0]["held"] != 1:
                assert time.monotonic() < deadline, "the request was never held"
                time.sleep(0.01)
            beyond = httpx.get(f"{server.url}/api/whoami-v2")  # connection 3
            assert beyond.status_code == 503
            assert control.post(f"{ADMIN_PATH}/release").json() == {"released": 1}
            answer = b""
            while chunk := waiting.recv(65536):
                answer += chunk
            waiting.close()
        assert answer.startswith(b"HTTP/1.1 200") and b'"name":"alice"' in answer.replace(b" ", b"")
    finally:
        server.stop()


def test_hub_serve_names_its_connection_defaults() -> None:
    from release.cli import build_parser
    from release.hub.limits import BACKLOG, MAX_CONNECTIONS
    from release.workflow.serve import ServeOptions

    assert (ServeOptions().max_connections, ServeOptions().backlog) == (MAX_CONNECTIONS, BACKLOG)
    usage = build_parser().parse_args(["hub", "serve", "--max-connections", "3", "--backlog", "9"])
    assert (usage.max_connections, usage.backlog) == (3, 9)
