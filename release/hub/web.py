"""The emulator's read-only web view: what a person sees at ``/`` and at a repo's own address.

``GET /`` lists the repos the caller may read (the API's rule: public ones, and private ones only for a
token of their namespace). ``GET /{namespace}/{name}`` and ``GET /datasets/{namespace}/{name}`` show one
repo at ``?rev=`` (a branch, tag, ``refs/pr/N`` or commit; ``main`` by default): its files with sizes
and hashes, its history, branches and tags, and its README.md rendered from Markdown.

Each page is planned first as a frozen value from storage, then rendered by a Jinja2 template of
``pages/`` with autoescaping. The README is rendered by markdown-it with raw HTML off, so nothing in a
repo can put markup or script on the page; a Content-Security-Policy that allows no script at all backs
that up. The pages use no JavaScript and load nothing from outside the emulator.

Who may see a repo is the API's own rule, :func:`release.hub.auth.may_read`. The app serves these pages
for the paths :func:`route` claims; this module knows nothing of the API.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, urlsplit

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererProtocol
from markdown_it.token import Token as MarkdownToken
from markdown_it.utils import EnvType, OptionsDict
from markupsafe import Markup
from starlette.responses import HTMLResponse, Response

from release.hub.auth import Token, may_read
from release.hub.limits import LimitError, header_text, load_metadata
from release.hub.repo import (
    FRONT_MATTER,
    URL_PREFIXES,
    Commit,
    InvalidInputError,
    Repo,
    RepoId,
    RepoMissingError,
    RepoType,
    RevisionMissingError,
)
from release.hub.storage import HubStorage

#: The most commits a repo page lists, newest first.
MAX_COMMITS: Final = 50
#: How many files one page of a repo's file list shows (``?files=N`` picks the page, from 1).
FILES_PER_PAGE: Final = 1000
#: A README.md larger than this is linked, not rendered.
MAX_README_BYTES: Final = 1024 * 1024
#: Namespaces whose two-segment paths belong to the API, never to a repo page.
API_NAMESPACES: Final = frozenset({"api"})

#: A page: the caller's token (None: anonymous) and the request's query, to an HTML answer.
Page = Callable[[Token | None, Mapping[str, Sequence[str]]], Response]
_HEADERS: Final[Mapping[str, str]] = {
    # No script at all, styles only inline, images only from the emulator itself.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


# --------------------------------------------------------------------------------------------------
# Page values


@dataclass(frozen=True)
class RepoRow:
    """One repo in the index."""

    url: str
    repo_id: str
    private: bool
    updated: str  # the date of main's head commit
    last_title: str


@dataclass(frozen=True)
class IndexPage:
    models: Sequence[RepoRow]
    datasets: Sequence[RepoRow]


@dataclass(frozen=True)
class FileRow:
    path: str
    size: int
    lfs: bool
    hash: str  # sha256 for LFS files, the git blob id for regular ones
    download_url: str


@dataclass(frozen=True)
class CommitRow:
    id: str
    title: str
    author: str
    date: str
    url: str  # the repo page at this commit


@dataclass(frozen=True)
class RefRow:
    name: str
    kind: str  # "branch", "tag" or "pull request"
    commit_id: str
    url: str
    current: bool  # the page shows this ref


@dataclass(frozen=True)
class Readme:
    metadata: Sequence[tuple[str, str]]  # the front matter's keys and values, as text
    metadata_error: str | None  # why the front matter could not be read, if it could not
    html: Markup | None  # None: too large to render
    size: int
    download_url: str


@dataclass(frozen=True)
class RepoPage:
    repo_id: str
    repo_type: RepoType
    url: str
    private: bool
    revision: str
    commit: CommitRow
    files: Sequence[FileRow]  # one page of them
    commits: Sequence[CommitRow]
    older_commits: bool  # the history goes on past the commits shown
    refs: Sequence[RefRow]
    readme: Readme | None
    files_total: int = 0  # every file at this revision
    files_page: int = 1
    files_pages: int = 1
    files_previous: str | None = None  # the URLs of the neighbouring pages of the file list
    files_next: str | None = None


# --------------------------------------------------------------------------------------------------
# Routing and handlers


def route(storage: HubStorage, method: str, parts: Sequence[str]) -> Page | None:
    """The page a request asks for, from its method and path segments (each already percent-decoded).

    None when the path is not a page: the caller answers it (the app tries its API routes first).
    """
    if method not in ("GET", "HEAD"):
        return None
    match parts:
        case [""]:
            return partial(show_index, storage)
        case ["datasets", namespace, name]:
            return partial(show_repo, storage, "dataset", namespace, name)
        case [namespace, name] if namespace not in API_NAMESPACES:
            return partial(show_repo, storage, "model", namespace, name)
        # The Hub's own page URLs for a revision (model cards link datasets this way).
        case ["datasets", namespace, name, "tree", revision]:
            return partial(show_repo, storage, "dataset", namespace, name, revision=revision)
        case [namespace, name, "tree", revision] if namespace not in API_NAMESPACES:
            return partial(show_repo, storage, "model", namespace, name, revision=revision)
    return None


def show_index(storage: HubStorage, token: Token | None, query: Mapping[str, Sequence[str]]) -> Response:
    """``GET /``: the repos the caller may read, models then datasets."""
    page = plan_index(storage, token)
    return _html(_render("index.html", title="Repositories", page=page))


def show_repo(
    storage: HubStorage,
    repo_type: RepoType,
    namespace: str,
    name: str,
    token: Token | None,
    query: Mapping[str, Sequence[str]],
    *,
    revision: str | None = None,
) -> Response:
    """``GET /{namespace}/{name}`` or ``/datasets/...``: one repo at ``?rev=`` (default ``main``).

    ``/{namespace}/{name}/tree/{revision}`` (the Hub's URL of a revision) gives ``revision`` instead.
    """
    revision = revision or query.get("rev", ["main"])[-1] or "main"
    try:
        repo_id = RepoId(repo_type, namespace, name)
        repo = storage.get_repo(repo_id)
        if not may_read(token, repo):
            raise RepoMissingError("Repository not found")
        page = plan_repo_page(storage, repo, revision, _page_number(query.get("files", ["1"])[-1]))
    except (InvalidInputError, RepoMissingError):
        what = f"{repo_type} repository {namespace}/{name}"
        return _error_page("RepoNotFound", "Repository not found", f"There is no {what} here, or it is private.")
    except RevisionMissingError:
        message = f"{namespace}/{name} has no branch, tag or commit named '{revision}'."
        return _error_page("RevisionNotFound", "Revision not found", message)
    return _html(_render("repo.html", title=page.repo_id, page=page))


# --------------------------------------------------------------------------------------------------
# Planning: storage to page values


def plan_index(storage: HubStorage, token: Token | None) -> IndexPage:
    rows: dict[RepoType, list[RepoRow]] = {"model": [], "dataset": []}
    for repo in storage.list_repos():
        if not may_read(token, repo):
            continue
        try:
            head = storage.resolve(repo.id, "main")
        except (RepoMissingError, RevisionMissingError):  # deleted since the listing
            continue
        rows[repo.id.type].append(RepoRow(repo_url(repo.id), str(repo.id), repo.private, head.date, head.title))
    return IndexPage(models=rows["model"], datasets=rows["dataset"])


def plan_repo_page(storage: HubStorage, repo: Repo, revision: str, files_page: int = 1) -> RepoPage:
    """Everything the repo page shows at ``revision``, with page ``files_page`` of its files (sorted by path;
    the last page when there are fewer). Raises RevisionMissingError if ``revision`` names nothing."""
    repo_id = repo.id
    commit = storage.resolve(repo_id, revision)
    history = list(islice(storage.history(repo_id, commit), MAX_COMMITS + 1))
    paths = storage.derived(repo_id, ("sorted paths", commit.id), lambda: sorted(commit.files))
    pages = max(1, -(-len(paths) // FILES_PER_PAGE))
    files_page = min(files_page, pages)
    shown = paths[(files_page - 1) * FILES_PER_PAGE : files_page * FILES_PER_PAGE]
    files = [
        FileRow(entry.path, entry.size, entry.lfs, entry.content_id, resolve_url(repo_id, commit.id, entry.path))
        for entry in (commit.files[path] for path in shown)
    ]
    refs = storage.read_refs(repo_id)
    named = [
        *(("branch", name, sha) for name, sha in refs.named("refs/heads/")),
        *(("tag", name, sha) for name, sha in refs.named("refs/tags/")),
        *(("pull request", f"refs/pr/{number}", sha) for number, sha in refs.named("refs/pr/")),
    ]
    ref_rows = [RefRow(name, kind, sha, page_url(repo_id, name), name == revision) for kind, name, sha in named]
    return RepoPage(
        repo_id=str(repo_id),
        repo_type=repo_id.type,
        url=repo_url(repo_id),
        private=repo.private,
        revision=revision,
        commit=_commit_row(repo_id, commit),
        files=files,
        files_total=len(paths),
        files_page=files_page,
        files_pages=pages,
        files_previous=_files_url(repo_id, revision, files_page - 1) if files_page > 1 else None,
        files_next=_files_url(repo_id, revision, files_page + 1) if files_page < pages else None,
        commits=[_commit_row(repo_id, item) for item in history[:MAX_COMMITS]],
        older_commits=len(history) > MAX_COMMITS,
        refs=ref_rows,
        readme=_plan_readme(storage, repo_id, commit),
    )


def _page_number(text: str) -> int:
    """``?files=N``: a page number from 1; anything else is the first page."""
    return int(text) if text.isascii() and text.isdigit() and 0 < len(text) < 10 and int(text) > 0 else 1


def _files_url(repo_id: RepoId, revision: str, number: int) -> str:
    return f"{page_url(repo_id, revision)}&files={number}#files"


def _commit_row(repo_id: RepoId, commit: Commit) -> CommitRow:
    return CommitRow(commit.id, commit.title, commit.author, commit.date, page_url(repo_id, commit.id))


def _plan_readme(storage: HubStorage, repo_id: RepoId, commit: Commit) -> Readme | None:
    entry = commit.files.get("README.md")
    if entry is None:
        return None
    download_url = resolve_url(repo_id, commit.id, entry.path)
    if entry.size > MAX_README_BYTES:
        return Readme((), None, None, entry.size, download_url)
    text = storage.object_path(entry.sha256).read_bytes().decode("utf-8", errors="replace")
    metadata: list[tuple[str, str]] = []
    error = None
    match = FRONT_MATTER.search(text)
    if match is not None:
        text = text[match.end() :]
        try:
            data = load_metadata(match.group(2))
        except yaml.YAMLError as exc:
            data, error = None, f"The front matter is not valid YAML: {exc}"
        except LimitError as exc:
            data, error = None, f"The front matter is not shown: {exc.message}"
        if isinstance(data, dict):
            metadata = [(str(key), _metadata_text(value)) for key, value in data.items()]
        elif data is not None:
            error = f"The front matter is a YAML {type(data).__name__}, not a mapping."
    base = f"{repo_url(repo_id)}/resolve/{quote(commit.id, safe='')}"
    return Readme(metadata, error, render_markdown(text, base), entry.size, download_url)


def _metadata_text(value: Any) -> str:
    if isinstance(value, list) and all(isinstance(item, str | int | float | bool) for item in value):
        return ", ".join(str(item) for item in value)
    if isinstance(value, dict | list):
        return str(yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=1000)).strip()
    return "" if value is None else str(value)


# --------------------------------------------------------------------------------------------------
# Markdown


def render_markdown(text: str, base_url: str) -> Markup:
    """CommonMark (with tables and strikethrough) as HTML, raw HTML escaped, never passed through.

    Relative links and images point into the repo at ``base_url`` (``.../resolve/{commit}``); images
    from elsewhere become plain links, so the page loads nothing from outside the emulator.
    """
    markdown = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    markdown.add_render_rule("image", _render_image)
    tokens = markdown.parse(text)
    for token in _walk(tokens):
        for attribute in ("href", "src"):
            value = token.attrGet(attribute)
            if isinstance(value, str):
                token.attrSet(attribute, _in_repo(value, base_url))
    return Markup(markdown.renderer.render(tokens, markdown.options, {}))  # noqa: S704 (escaped by markdown-it)


def _walk(tokens: Sequence[MarkdownToken]) -> list[MarkdownToken]:
    found: list[MarkdownToken] = []
    for token in tokens:
        found.append(token)
        found.extend(_walk(token.children or []))
    return found


def _in_repo(url: str, base_url: str) -> str:
    """A relative link's target inside the repo; any other link unchanged."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not parts.path or parts.path.startswith("/"):
        return url
    path = posixpath.normpath(parts.path)
    if path == ".." or path.startswith("../"):
        return url
    query = f"?{parts.query}" if parts.query else ""
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return f"{base_url}/{path}{query}{fragment}"


def _render_image(
    self: RendererProtocol, tokens: Sequence[MarkdownToken], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """An image from the repo itself, or a link to an image from elsewhere."""
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    alt = escapeHtml("".join(child.content for child in token.children or []))
    if src.startswith("/") and not src.startswith("//"):
        return f'<img src="{escapeHtml(src)}" alt="{alt}">'
    return f'<a href="{escapeHtml(src)}">{alt or escapeHtml(src)}</a>'


# --------------------------------------------------------------------------------------------------
# Addresses


def repo_url(repo_id: RepoId) -> str:
    return f"/{URL_PREFIXES[repo_id.type]}{repo_id}"


def page_url(repo_id: RepoId, revision: str) -> str:
    return f"{repo_url(repo_id)}?rev={quote(revision, safe='')}"


def resolve_url(repo_id: RepoId, revision: str, path: str) -> str:
    return f"{repo_url(repo_id)}/resolve/{quote(revision, safe='')}/{quote(path, safe='/')}"


# --------------------------------------------------------------------------------------------------
# Rendering


def format_size(size: int) -> str:
    """Decimal units, as the Hub shows them: ``512 B``, ``4.1 kB``, ``1.3 GB``."""
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            break
    return f"{value:.1f} {unit}"


def format_date(date: str) -> str:
    """``2026-11-01T12:34:56.789Z`` as ``2026-11-01 12:34:56 UTC``."""
    return f"{date[:10]} {date[11:19]} UTC"


def _html(body: str, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return HTMLResponse(body, status, {**_HEADERS, **(headers or {})})


def _error_page(code: str, title: str, message: str) -> Response:
    body = _render("error.html", title=title, message=message)
    return _html(body, 404, {"X-Error-Code": code, "X-Error-Message": header_text(message)})


def _render(template: str, **context: Any) -> str:
    return _TEMPLATES.get_template(template).render(format_size=format_size, format_date=format_date, **context)


_TEMPLATES: Final = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "pages"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
