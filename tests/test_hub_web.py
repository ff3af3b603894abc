"""The emulator's read-only web view: its HTML over plain HTTP, then its pages in a real headless Chromium."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit
from uuid import uuid4

import numpy as np
import pytest
from conftest import RunningHub
from huggingface_hub import CommitOperationAdd, HfApi
from safetensors.numpy import save

from release.hub.web import format_size, render_markdown

HOSTILE_NAME = "x\"'><script>alert('file')</script>.txt"
HOSTILE_README = b"""---
license: mit
note: "<script>alert('yaml')</script>"
---
# Card <script>alert('heading')</script>

<script>alert('block')</script>
<img src=x onerror="alert('img')">

[click](javascript:alert('link')) and ![remote](https://example.com/x.png)
"""
CARD = b"""---
license: apache-2.0
library_name: safetensors
tags:
- text-classification
---
# Tiny classifier

A **tiny** model, published by the tests.

| metric | value |
|---|---|
| accuracy | 0.91 |
"""


# --------------------------------------------------------------------------------------------------
# Helpers


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes


def fetch(method: str, url: str, token: str | None = None) -> Answer:
    """One request, the path sent exactly as given."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        connection.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers)
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


class Page(HTMLParser):
    """What a person reads on a page: tables as rows of cell texts, headings, links, and every tag seen."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.headings: list[str] = []
        self.links: dict[str, str] = {}  # text -> href
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self._cell: list[str] | None = None
        self._heading: list[str] | None = None
        self._link: tuple[str, list[str]] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag in ("h1", "h2"):
            self._heading = []
        elif tag == "a":
            self._link = (dict(attrs).get("href") or "", [])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag in ("h1", "h2") and self._heading is not None:
            self.headings.append(" ".join("".join(self._heading).split()))
            self._heading = None
        elif tag == "a" and self._link is not None:
            self.links[" ".join("".join(self._link[1]).split())] = self._link[0]
            self._link = None

    def handle_data(self, data: str) -> None:
        for collector in (self._cell, self._heading, self._link[1] if self._link else None):
            if collector is not None:
                collector.append(data)

    def row(self, first_cell: str) -> list[str]:
        """The first table row whose first cell reads ``first_cell``."""
        return next(row for table in self.tables for row in table if row and row[0] == first_cell)

    def table(self, first_header: str) -> list[list[str]]:
        """The body rows of the table whose header row starts with ``first_header``."""
        return next(table[1:] for table in self.tables if table and table[0][:1] == [first_header])


def get_page(url: str, token: str | None = None) -> tuple[Answer, Page]:
    answer = fetch("GET", url, token)
    return answer, Page(answer.body.decode())


def new_repo(api: HfApi, *, private: bool = False, repo_type: str = "model") -> str:
    repo_id = f"alice/web-{uuid4().hex[:10]}"
    api.create_repo(repo_id, private=private, repo_type=repo_type)
    return repo_id


@pytest.fixture
def api(hub: RunningHub) -> HfApi:
    return HfApi(token=hub.token)


# --------------------------------------------------------------------------------------------------
# Plain HTTP


def test_index_lists_public_repos_and_private_ones_only_to_their_namespace(hub: RunningHub, api: HfApi) -> None:
    public, private = new_repo(api), new_repo(api, private=True)
    dataset = new_repo(api, repo_type="dataset")
    response, page = get_page(hub.url + "/")
    assert response.status == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src" not in response.headers["content-security-policy"]  # no script at all
    assert page.links[public] == f"/{public}"
    assert page.links[dataset] == f"/datasets/{dataset}"
    assert private not in page.links
    for token in (hub.token, hub.read_token):
        _, page = get_page(hub.url + "/", token)
        assert page.links[private] == f"/{private}"
        assert page.row(f"{private} private")[1] == "initial commit"
    _, page = get_page(hub.url + "/", hub.other_token)
    assert private not in page.links
    assert public in page.links


def test_private_repo_page_is_a_404_for_anyone_else(hub: RunningHub, api: HfApi) -> None:
    private = new_repo(api, private=True)
    for token in (None, hub.other_token):
        response, page = get_page(f"{hub.url}/{private}", token)
        assert (response.status, response.headers["x-error-code"]) == (404, "RepoNotFound")
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headings == ["Repository not found"]
    response, page = get_page(f"{hub.url}/{private}", hub.read_token)
    assert response.status == 200
    assert page.headings[0] == f"Models / {private} private"


def test_unknown_repos_and_revisions_answer_a_404_page(hub: RunningHub, api: HfApi) -> None:
    repo = new_repo(api)
    for path, code in (
        ("/alice/no-such-repo", "RepoNotFound"),
        ("/datasets/alice/no-such-repo", "RepoNotFound"),
        (f"/datasets/{repo}", "RepoNotFound"),  # a model repo is not a dataset
        ("/alice/bad..name", "RepoNotFound"),
        (f"/{repo}?rev=no-such-branch", "RevisionNotFound"),
        (f"/{repo}?rev=a%0d%0aSet-Cookie:%20x", "RevisionNotFound"),
    ):
        response, page = get_page(hub.url + path)
        assert (response.status, response.headers["x-error-code"]) == (404, code), path
        assert "\n" not in response.headers["x-error-message"]
        assert "set-cookie" not in response.headers
        assert page.links["All repositories"] == "/"


def test_repo_page_escapes_hostile_file_names_and_readme(hub: RunningHub, api: HfApi) -> None:
    repo = new_repo(api)
    api.create_commit(
        repo,
        [CommitOperationAdd(HOSTILE_NAME, b"hostile\n"), CommitOperationAdd("README.md", HOSTILE_README)],
        commit_message="<b>bold</b> title",
    )
    response, page = get_page(f"{hub.url}/{repo}")
    assert response.status == 200
    body = response.body.decode()
    assert "<script" not in body and "<img" not in body and "<b>" not in body
    assert "javascript:" not in page.links.values()
    assert page.tags.isdisjoint({"script", "img", "b", "iframe"})
    assert page.attributes.isdisjoint({"onerror", "onclick", "onload"})
    assert page.row(HOSTILE_NAME)[1:3] == ["8 B", "git"]
    assert page.row("note") == ["note", "<script>alert('yaml')</script>"]
    assert "Card <script>alert('heading')</script>" in page.headings
    assert page.links["remote"] == "https://example.com/x.png"  # a link, never loaded by the page
    download = fetch("GET", hub.url + page.links[HOSTILE_NAME])
    assert (download.status, download.body) == (200, b"hostile\n")


def test_repo_page_shows_files_history_refs_and_readme_at_a_revision(hub: RunningHub, api: HfApi) -> None:
    repo = new_repo(api)
    weights = save({"weight": np.arange(256, dtype=np.float32)})
    first = api.create_commit(
        repo,
        [CommitOperationAdd("README.md", CARD), CommitOperationAdd("model.safetensors", weights)],
        commit_message="Release v1",
    )
    api.create_tag(repo, tag="v1")
    api.create_branch(repo, branch="dev")
    api.upload_file(
        path_or_fileobj=b"{}\n", path_in_repo="nested/config.json", repo_id=repo, commit_message="Add config"
    )

    _, page = get_page(f"{hub.url}/{repo}")
    assert page.row("model.safetensors") == [
        "model.safetensors",
        format_size(len(weights)),
        "LFS",
        hashlib.sha256(weights).hexdigest(),
    ]
    git_blob_id = hashlib.sha1(b"blob 3\0{}\n", usedforsecurity=False).hexdigest()
    assert page.row("nested/config.json")[1:] == ["3 B", "git", git_blob_id]
    history = page.table("Commit")
    assert [row[1] for row in history] == ["Add config", "Release v1", "initial commit"]  # newest first
    assert history[1][0] == first.oid[:7]
    assert page.row("v1") == ["v1", "tag", first.oid[:7]]
    assert page.row("dev")[1] == "branch"
    assert page.row("main shown")[1] == "branch"
    assert page.row("license") == ["license", "apache-2.0"]
    assert page.row("tags") == ["tags", "text-classification"]
    assert "Tiny classifier" in page.headings

    _, at_tag = get_page(f"{hub.url}/{repo}?rev=v1")
    assert "nested/config.json" not in at_tag.links
    assert at_tag.row("v1 shown")[1] == "tag"
    assert at_tag.links["model.safetensors"] == f"/{repo}/resolve/{first.oid}/model.safetensors"
    _, at_tree_url = get_page(f"{hub.url}/{repo}/tree/v1")  # the Hub's own URL of a revision
    assert at_tree_url.row("v1 shown")[1] == "tag"
    assert "nested/config.json" not in at_tree_url.links
    _, at_commit = get_page(f"{hub.url}/{repo}?rev={first.oid[:8]}")
    assert at_commit.links.keys() >= {"README.md", "model.safetensors"}
    assert "nested/config.json" not in at_commit.links
    redirect = fetch("GET", hub.url + page.links["model.safetensors"])  # an LFS file: to the storage origin
    assert redirect.status == 302
    assert fetch("GET", redirect.headers["location"]).body == weights


def test_web_routes_leave_the_api_alone(hub: RunningHub, api: HfApi) -> None:
    repo = new_repo(api, repo_type="dataset")
    head = fetch("HEAD", f"{hub.url}/datasets/{repo}")
    assert (head.status, head.body) == (200, b"")
    assert fetch("GET", f"{hub.url}/datasets/{repo}/tree/main").status == 200
    assert fetch("GET", f"{hub.url}/datasets/{repo}/tree/v9").status == 404
    assert head.headers["content-type"] == "text/html; charset=utf-8"
    assert json.loads(fetch("GET", f"{hub.url}/api/whoami-v2", hub.token).body)["name"] == "alice"
    missing = fetch("GET", f"{hub.url}/api/nothing")
    assert missing.status == 404
    assert json.loads(missing.body) == {"error": missing.headers["x-error-message"]}
    assert api.list_repo_files(repo, repo_type="dataset") == [".gitattributes"]


def test_markdown_links_point_into_the_repo_and_images_from_elsewhere_become_links() -> None:
    html = render_markdown("[cfg](config.json) [up](../x) [abs](/a) [web](https://h/x) ![i](img/a.png)", "/r/resolve/c")
    assert '<a href="/r/resolve/c/config.json">cfg</a>' in html
    assert '<a href="../x">up</a>' in html
    assert '<a href="/a">abs</a>' in html
    assert '<img src="/r/resolve/c/img/a.png" alt="i">' in html
    assert render_markdown("![pic](https://h/p.png)", "/r") == '<p><a href="https://h/p.png">pic</a></p>\n'


def test_format_size() -> None:
    assert [format_size(n) for n in (0, 999, 1000, 10_240, 1_300_000_000)] == [
        "0 B",
        "999 B",
        "1.0 kB",
        "10.2 kB",
        "1.3 GB",
    ]


# --------------------------------------------------------------------------------------------------
# In a real browser


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium. Missing, the browser test skips on a developer's machine and fails on CI."""
    # Debian's chromium here; GitHub's Ubuntu runners have Google Chrome, which runs the same way.
    path = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    if path is None:
        message = "no chromium or google-chrome: apt-get install chromium (Debian's package)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; .ci/run installs it")
        pytest.skip(message)
    return path


def run_chromium(chromium: str, tmp_path: Path, *args: str) -> str:
    profile = tmp_path / f"profile-{uuid4().hex[:8]}"
    command = [
        chromium,
        "--headless",
        "--no-sandbox",  # root in a container
        "--disable-gpu",
        "--disable-quic",
        "--disable-background-networking",  # this machine's network is closed: no calls home
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_published_repo_reads_well_in_headless_chromium(
    hub: RunningHub, api: HfApi, chromium: str, tmp_path: Path
) -> None:
    repo = new_repo(api)
    weights = save({"weight": np.arange(1024, dtype=np.float32).reshape(32, 32)}, metadata={"format": "np"})
    commit = api.create_commit(
        repo,
        [
            CommitOperationAdd("README.md", CARD),
            CommitOperationAdd("model.safetensors", weights),
            CommitOperationAdd(HOSTILE_NAME, b"hostile\n"),
        ],
        commit_message="Release v1.0.0",
    )
    api.create_tag(repo, tag="v1.0.0")
    repo_url = f"{hub.url}/{repo}"

    index = Page(run_chromium(chromium, tmp_path, "--dump-dom", hub.url + "/"))
    assert index.links[repo] == f"/{repo}"
    assert index.row(repo)[1] == "Release v1.0.0"

    dom = run_chromium(chromium, tmp_path, "--dump-dom", repo_url)
    page = Page(dom)
    assert "script" not in page.tags  # the hostile name stayed text in the browser's own DOM
    assert page.row("README.md")[1:3] == [format_size(len(CARD)), "git"]
    assert page.row("model.safetensors") == [
        "model.safetensors",
        format_size(len(weights)),
        "LFS",
        hashlib.sha256(weights).hexdigest(),
    ]
    assert page.row(HOSTILE_NAME)[1] == "8 B"
    assert page.row("v1.0.0") == ["v1.0.0", "tag", commit.oid[:7]]
    assert [commit.oid[:7], "Release v1.0.0", "alice"] == page.row(commit.oid[:7])[:3]
    assert "Tiny classifier" in page.headings
    assert page.row("license") == ["license", "apache-2.0"]
    assert page.row("accuracy") == ["accuracy", "0.91"]  # a Markdown table, rendered
    assert page.links["model.safetensors"] == f"/{repo}/resolve/{commit.oid}/model.safetensors"

    screenshot = tmp_path / "repo.png"
    run_chromium(chromium, tmp_path, "--window-size=1280,1400", f"--screenshot={screenshot}", repo_url)
    assert screenshot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert screenshot.stat().st_size > 20_000  # a page was drawn, not a blank one
    assert fetch("GET", hub.url + page.links[HOSTILE_NAME]).body == b"hostile\n"
