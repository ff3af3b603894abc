"""Properties of the Hub emulator under arbitrary input (issue 17): whatever a request carries, the answer
is below 500 and the server goes on serving.

Hypothesis makes the inputs: commit bodies (NDJSON lines of random shapes, and bytes that are no JSON at
all), README front matter, repo names, revisions and file paths in URLs, and headers. Runs are
derandomized and keep no example database, so CI tries the same inputs every time; the example counts
keep the file to a few seconds. ``pytest --hypothesis-show-statistics`` shows how many inputs each
property tried.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote
from uuid import uuid4

import httpx2 as httpx
import pytest
from conftest import RunningHub
from huggingface_hub import HfApi
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PROPERTY_SETTINGS = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
#: How deep a generated value nests: past Python's recursion limit too, where json and yaml give up.
nesting = st.integers(min_value=1, max_value=2000)
field_names = st.sampled_from(["path", "content", "summary", "description", "parentCommit", "oid", "size", "encoding"])
commit_lines: st.SearchStrategy[bytes] = st.one_of(
    st.fixed_dictionaries(
        {
            "key": st.sampled_from(["header", "file", "lfsFile", "deletedFile", "deletedFolder", "other"]),
            "value": st.dictionaries(field_names, json_values | st.text(max_size=30), max_size=5),
        }
    ).map(lambda line: json.dumps(line).encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=40),
    nesting.map(lambda depth: b'{"key": "header", "value": ' + b"[" * depth + b"]" * depth + b"}"),
)
#: A header line as the client sends it first: the rest of the body then gets past the header check.
HEADER_LINE = json.dumps({"key": "header", "value": {"summary": "property"}}).encode()
url_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)


@pytest.fixture(scope="module")
def client(hub: RunningHub) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hub.url, timeout=30) as session:
        yield session


@pytest.fixture(scope="module")
def repo(hub: RunningHub) -> str:
    api = HfApi(endpoint=hub.url, token=hub.token)
    repo_id = f"alice/properties-{uuid4().hex[:8]}"
    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=b"hello\n", path_in_repo="data/hello.txt", repo_id=repo_id)
    api.create_discussion(repo_id, title="A discussion the routes on discussions/1 reach")
    return repo_id


def assert_answered_and_serving(client: httpx.Client, answer: httpx.Response) -> None:
    assert answer.status_code < 500, answer.text
    assert client.get("/api/agent-harnesses").status_code == 200


@PROPERTY_SETTINGS
@given(lines=st.lists(commit_lines, max_size=5), with_header=st.booleans())
def test_any_commit_body_is_answered_below_500(
    client: httpx.Client, hub: RunningHub, repo: str, lines: list[bytes], with_header: bool
) -> None:
    body = b"\n".join([HEADER_LINE, *lines] if with_header else lines)
    answer = client.post(
        f"/api/models/{repo}/commit/main", content=body, headers={"Authorization": f"Bearer {hub.token}"}
    )
    assert_answered_and_serving(client, answer)


body_fields = st.sampled_from(
    [
        *("name", "organization", "type", "private", "visibility", "tag", "startingPoint", "files", "path", "size"),
        *("sample", "operation", "objects", "oid", "status", "comment", "transfers", "paths", "expand"),
        *("title", "description", "pullRequest", "content", "message"),
    ]
)


@PROPERTY_SETTINGS
@given(
    route=st.sampled_from(
        [
            ("POST", "/api/repos/create"),
            ("POST", "/api/models/{repo}/tag/main"),
            ("POST", "/api/models/{repo}/branch/property-branch"),
            ("POST", "/api/models/{repo}/preupload/main"),
            ("POST", "/api/models/{repo}/paths-info/main"),
            ("POST", "/{repo}.git/info/lfs/objects/batch"),
            ("POST", "/{repo}.git/info/lfs/objects/verify"),
            ("POST", "/api/models/{repo}/discussions/1/status"),
            ("POST", "/api/models/{repo}/discussions/1/merge"),
            ("POST", "/api/models/{repo}/discussions"),
            ("POST", "/api/models/{repo}/discussions/1/comment"),
            ("POST", "/api/models/{repo}/discussions/1/title"),
            ("POST", "/api/models/{repo}/discussions/1/comment/0123abcd/edit"),
            ("POST", "/api/models/{repo}/super-squash/main"),
            ("POST", "/api/validate-yaml"),
        ]
    ),
    body=st.dictionaries(body_fields, json_values, max_size=5).map(json.dumps) | json_values.map(json.dumps),
)
def test_any_json_body_is_answered_below_500(
    client: httpx.Client, hub: RunningHub, repo: str, route: tuple[str, str], body: str
) -> None:
    method, path = route
    headers = {"Authorization": f"Bearer {hub.token}"}
    assert_answered_and_serving(client, client.request(method, path.format(repo=repo), content=body, headers=headers))


@PROPERTY_SETTINGS
@given(path=url_text, content=st.binary(max_size=64))
def test_any_committed_file_is_answered_below_500(
    client: httpx.Client, hub: RunningHub, repo: str, path: str, content: bytes
) -> None:
    line = {"key": "file", "value": {"path": path, "content": base64.b64encode(content).decode()}}
    body = b"\n".join([HEADER_LINE, json.dumps(line).encode()])
    answer = client.post(
        f"/api/models/{repo}/commit/main", content=body, headers={"Authorization": f"Bearer {hub.token}"}
    )
    assert_answered_and_serving(client, answer)
    if answer.status_code == 200:  # what was committed can be read back
        read = client.get(f"/{repo}/resolve/main/{quote(path, safe='/')}")
        assert read.status_code == 200
        assert read.content == content


@PROPERTY_SETTINGS
@given(
    front_matter=st.text(max_size=200)
    | json_values.map(json.dumps)
    | nesting.map(lambda depth: "a: " + "[" * depth + "]" * depth)
)
def test_any_front_matter_is_answered_below_500(client: httpx.Client, front_matter: str) -> None:
    answer = client.post("/api/validate-yaml", json={"content": f"---\n{front_matter}\n---\n# Card\n"})
    assert_answered_and_serving(client, answer)
    assert "errors" in answer.json()


@PROPERTY_SETTINGS
@given(
    template=st.sampled_from(
        [
            "/api/models/{repo}/revision/{rev}",
            "/api/models/{repo}/tree/{rev}/{path}",
            "/api/models/{repo}/commits/{rev}",
            "/api/models/{repo}/refs",
            "/{repo}/resolve/{rev}/{path}",
            "/datasets/{repo}/resolve/{rev}/{path}",
            "/{repo}/tree/{rev}",
            "/{repo}",
        ]
    ),
    namespace=url_text,
    name=url_text,
    rev=url_text,
    path=url_text,
    real_repo=st.booleans(),
    encode=st.booleans(),
)
def test_any_repo_path_and_revision_is_answered_below_500(
    client: httpx.Client,
    repo: str,
    template: str,
    namespace: str,
    name: str,
    rev: str,
    path: str,
    real_repo: bool,
    encode: bool,
) -> None:
    safe = "" if encode else "/"
    repo_path = repo if real_repo else f"{quote(namespace, safe=safe)}/{quote(name, safe=safe)}"
    url = template.format(repo=repo_path, rev=quote(rev, safe=safe), path=quote(path, safe="/"))
    assert_answered_and_serving(client, client.get(url, params={"rev": rev} if template == "/{repo}" else None))


#: Printable ASCII without surrounding blanks: what HTTP lets a client send at all.
header_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60).map(str.strip)
byte_ranges = st.from_regex(r"bytes=[0-9]{0,3}-[0-9]{0,3}(,[0-9]{0,3}-[0-9]{0,3})?", fullmatch=True)


@PROPERTY_SETTINGS
@given(
    path=st.sampled_from(["/api/whoami-v2", "/", "/api/models/{repo}", "/{repo}/resolve/main/data/hello.txt"]),
    authorization=st.none() | header_values | header_values.map(lambda value: f"Bearer {value}".strip()),
    range_=st.none() | header_values | byte_ranges,
    extra=st.dictionaries(st.from_regex(r"X-[A-Za-z0-9-]{1,20}", fullmatch=True), header_values, max_size=5),
)
def test_any_headers_are_answered_below_500(
    client: httpx.Client,
    repo: str,
    path: str,
    authorization: str | None,
    range_: str | None,
    extra: dict[str, str],
) -> None:
    headers = dict(extra)
    if authorization is not None:
        headers["Authorization"] = authorization
    if range_ is not None:
        headers["Range"] = range_
    assert_answered_and_serving(client, client.get(path.format(repo=repo), headers=headers))
