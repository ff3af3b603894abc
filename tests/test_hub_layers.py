"""The Hub emulator's modules import one way only: repo <- commits, threads, parts, gating <- storage <- auth
<- calls <- discussions, lfs, admin, listing <- app, web <- server.

The sources are parsed, not imported: every import statement counts, wherever it stands (inside a
function, under ``if TYPE_CHECKING:``), so not even a cycle of type annotations can creep back.
docs/hub-api.md describes the layers.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

import pytest

HUB = Path(__file__).resolve().parents[1] / "release" / "hub"
PACKAGE = ("release", "hub")

#: A module may import only modules of a lower layer. faults wraps any ASGI app and imports only limits.
LAYERS: Mapping[str, int] = {
    "repo": 0,
    "limits": 0,  # bounds on what a request may send; imports none of them
    "faults": 1,  # escapes its answers' X-Error-Message with limits.header_text
    "commits": 1,  # commit files: snapshots and deltas, and the caches of built trees
    "threads": 1,  # discussion records and how they change; pure, for the discussions routes
    "parts": 1,  # the parts of multipart LFS uploads on disk
    "gating": 1,  # the access request records of gated repos, which the storage keeps; imports only repo
    "storage": 2,
    "auth": 3,
    "calls": 4,  # the parsed request, the error answer and the access helpers, shared by every route module
    "discussions": 5,
    "lfs": 5,  # the LFS batch API, uploads (basic and in parts) and signed downloads
    "admin": 5,  # settings, moves, gating and access requests
    "listing": 5,  # repo listings, LFS file listings, the access check
    "app": 6,
    "web": 6,
    "server": 7,
    "__init__": 8,  # the package's public names, from every layer
}


def hub_imports(source: str) -> set[str]:
    """The modules of release.hub that a module of release.hub imports (``__init__``: the package itself)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {_hub_module(tuple(alias.name.split("."))) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = PACKAGE[: len(PACKAGE) - node.level + 1] if node.level else ()
            target = (*base, *(node.module.split(".") if node.module else ()))
            if target == PACKAGE:  # from release.hub import x: the module x, or a name of the package
                found |= {alias.name if alias.name in LAYERS else "__init__" for alias in node.names}
            elif target == PACKAGE[:-1]:  # from release import hub
                found |= {"__init__" for alias in node.names if alias.name == PACKAGE[-1]}
            else:
                found.add(_hub_module(target))
    return found - {""}


def _hub_module(name: tuple[str, ...]) -> str:
    if name[: len(PACKAGE)] != PACKAGE:
        return ""  # not ours
    return name[len(PACKAGE)] if len(name) > len(PACKAGE) else "__init__"


def layer_violations(sources: Mapping[str, str]) -> list[str]:
    """Every import of a module by one of the same or a lower layer, as ``"importer -> imported"``."""
    return sorted(
        f"{module} -> {imported}"
        for module, source in sources.items()
        for imported in hub_imports(source)
        if imported != module and LAYERS[imported] >= LAYERS[module]
    )


def test_every_hub_module_has_a_layer() -> None:
    assert {path.stem for path in HUB.glob("*.py")} == set(LAYERS)


def test_hub_modules_import_only_lower_layers() -> None:
    sources = {path.stem: path.read_text(encoding="utf-8") for path in HUB.glob("*.py")}
    assert layer_violations(sources) == []
    assert hub_imports(sources["server"]) >= {"app", "web", "auth", "storage", "faults"}  # it composes them
    assert hub_imports(sources["repo"]) == set()


@pytest.mark.parametrize(
    ("module", "source", "violation"),
    [
        ("web", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from release.hub.app import Call\n", "app"),
        ("app", "from release.hub import web\n", "web"),
        ("app", "def f() -> None:\n    from release.hub.server import Token\n", "server"),
        ("auth", "import release.hub.app\n", "app"),
        ("storage", "from .auth import Token\n", "auth"),
        ("repo", "from . import faults\n", "faults"),
        ("repo", "from release.hub.storage import HubStorage\n", "storage"),
        ("auth", "from release.hub import Token\n", "__init__"),
        ("web", "from release import hub\n", "__init__"),
    ],
)
def test_the_check_finds_imports_against_the_layers(module: str, source: str, violation: str) -> None:
    sources = {module: source}
    assert layer_violations(sources) == [f"{module} -> {violation}"]


def test_the_check_allows_imports_down_the_layers() -> None:
    sources = {
        "server": "from release.hub import web\nfrom release.hub.app import create_app\nimport release.hub.faults\n",
        "app": "from release.hub.auth import Token\nfrom .storage import HubStorage\nimport release.errors\n",
        "storage": "from release.hub.repo import RepoId\n",
        "web": "from release.hub.auth import may_read\nfrom release import atomic\n",
    }
    assert layer_violations(sources) == []
