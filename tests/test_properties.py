"""Property-based tests: hostile configuration files, card front matter, release manifests and repo paths.

Whatever the input, model-release answers with one of its own errors (a ReleaseError subclass, which
the CLI prints without a traceback) or with a value; never another exception. The examples are
derandomized (the same inputs every run) and few enough that this file runs in a few seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import string
import tempfile
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub._commit_api import _validate_path_in_repo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from release.card import check_metadata, read_card
from release.config import load_config, parse_config
from release.errors import ReleaseError
from release.hub.repo import InvalidInputError, check_repo_path
from release.repo_paths import path_problem
from release.stage import RELEASE_MANIFEST_FORMAT, ReleaseManifest

PROPERTIES = settings(
    derandomize=True, deadline=None, max_examples=150, database=None, suppress_health_check=[HealthCheck.too_slow]
)

#: Every key of release.toml's schema, so that random documents reach past the first unknown key.
CONFIG_KEYS = [
    "allow_pickles",
    "build_dir",
    "card",
    "channel_alias",
    "command",
    "conda_lock",
    "content",
    "create_pr",
    "dataset",
    "datasets",
    "dir",
    "endpoint",
    "environment_yml",
    "eval_results",
    "eval_results_dir",
    "exclude",
    "explicit_files",
    "extra_index_urls",
    "find_links",
    "gate",
    "generated_environment_yml",
    "include",
    "include_data",
    "index_url",
    "lock",
    "max_file_size",
    "metadata",
    "metrics",
    "model",
    "name",
    "no_index",
    "output",
    "outputs",
    "platforms",
    "private",
    "publish",
    "published",
    "pypi_mapping",
    "python",
    "rel",
    "repo_id",
    "repo_type",
    "requirements_in",
    "requirements_txt",
    "resolver",
    "result",
    "results",
    "secret_exclude",
    "snapshot",
    "stage",
    "template",
    "train",
    "verify",
    "version",
    "virtual_packages",
    "warn_size",
]

_short_text = st.text(max_size=12)
_toml_scalars = st.one_of(
    _short_text,
    st.sampled_from(["alice/m", "1.0.0", "local", "model", "dataset", "*.safetensors", "https://h.example", "."]),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    st.booleans(),
    st.dates(),
    st.datetimes(),
)
_toml_values = st.recursive(
    _toml_scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(CONFIG_KEYS) | _short_text, children, max_size=4)
    ),
    max_leaves=12,
)
_config_documents = st.builds(
    lambda base, extra: {**base, **extra},
    st.fixed_dictionaries({"repo_id": st.sampled_from(["alice/m", "m", ""]) | _short_text, "version": _toml_scalars}),
    st.dictionaries(st.sampled_from(CONFIG_KEYS) | _short_text, _toml_values, max_size=5),
)


@PROPERTIES
@given(_config_documents)
def test_any_config_table_is_a_config_or_a_release_error(document: dict[str, Any]) -> None:
    with contextlib.suppress(ReleaseError):
        parse_config(document, Path("/project/release.toml"), env={})


_toml_text = st.one_of(
    st.binary(max_size=200),
    st.text(alphabet=string.printable + "é\0\ufeff", max_size=200),
    st.lists(
        st.sampled_from(
            [
                'repo_id = "alice/m"',
                'version = "1"',
                "[model]",
                "[[datasets]]",
                "[lock]",
                "x = [[[[",
                'include = ["*"]',
                "a.b.c = 1",
                '"\\ud800" = 1',
                "dir = 'model'",
                "[card.content]",
            ]
        ),
        max_size=8,
    ).map("\n".join),
)


@PROPERTIES
@given(_toml_text)
def test_any_release_toml_file_is_a_config_or_a_release_error(content: str | bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "release.toml"
        if isinstance(content, str):
            path.write_bytes(content.encode("utf-8", "surrogatepass"))
        else:
            path.write_bytes(content)
        with contextlib.suppress(ReleaseError):
            load_config(path, Path(folder))


_yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), _short_text, st.dates())
_yaml_values = st.recursive(
    _yaml_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_short_text, children, max_size=4),
    max_leaves=12,
)
_card_keys = st.sampled_from(
    ["license", "language", "tags", "datasets", "base_model", "pipeline_tag", "model-index", "library_name", "metrics"]
)
_front_matter = st.one_of(
    st.text(max_size=200),
    st.dictionaries(_card_keys | _short_text, _yaml_values, max_size=6).map(
        lambda data: yaml.safe_dump(data, allow_unicode=True)
    ),
    st.lists(
        st.sampled_from(
            [
                "a: &a [x, x]",
                "b: [*a, *a]",
                "c: *missing",
                "- item",
                "key: : value",
                "? complex",
                "!!python/name:os",
                "'",
            ]
        ),
        max_size=6,
    ).map("\n".join),
)


@PROPERTIES
@given(_front_matter, st.sampled_from(["model", "dataset"]))
def test_any_card_front_matter_is_checked_or_a_release_error(front_matter: str, repo_type: str) -> None:
    try:
        metadata = read_card(f"---\n{front_matter}\n---\n# A card\n", "README.md")
        check_metadata(metadata, repo_type)
    except ReleaseError:
        pass


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _short_text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_short_text, children, max_size=4),
    max_leaves=12,
)
_VALID_MANIFEST = {
    "format": RELEASE_MANIFEST_FORMAT,
    "repo_id": "alice/m",
    "repo_type": "model",
    "version": "1.0",
    "tag": "v1.0",
    "source": {"git_commit": None, "git_dirty": None},
    "file_count": 1,
    "total_size": 3,
    "files": [{"path": "a.txt", "size": 3, "sha256": "0" * 64}],
    "datasets": [
        {
            "name": "d",
            "file_count": 1,
            "total_size": 1,
            "manifest": "datasets/d.json",
            "checksums": "datasets/d.sha256",
            "manifest_sha256": "0" * 64,
            "included": False,
            "repo": {"repo_id": "alice/d", "repo_type": "dataset", "tag": "v1", "commit": None},
        }
    ],
    "verify": {"command": "python v.py", "results": "r.json", "metrics": {"accuracy": {"abs": 0}}},
}


def _mutated(path: tuple[str | int, ...], value: Any) -> str:
    """The valid manifest with the value at ``path`` (as far as it leads) replaced by ``value``."""
    document: Any = json.loads(json.dumps(_VALID_MANIFEST))
    node = document
    for step in path[:-1]:
        if isinstance(node, dict) and isinstance(step, str) and step in node:
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and node:
            node = node[step % len(node)]
        else:
            break
    last = path[-1]
    if isinstance(node, dict):
        node[str(last)] = value
    elif isinstance(node, list) and node:
        node[int(last) % len(node) if isinstance(last, int) else 0] = value
    return json.dumps(document)


_manifest_keys = st.sampled_from(
    [*_VALID_MANIFEST, "path", "size", "sha256", "name", "repo", "included", "command", "metrics", "abs"]
)
_manifests = st.one_of(
    st.text(max_size=100),
    _json_values.map(json.dumps),
    st.builds(_mutated, st.lists(_manifest_keys | st.integers(0, 2), min_size=1, max_size=4).map(tuple), _json_values),
)


@PROPERTIES
@given(_manifests)
def test_any_release_manifest_is_read_or_a_release_error(text: str) -> None:
    with contextlib.suppress(ReleaseError):
        ReleaseManifest.from_json(text, "release-manifest.json")


_path_parts = st.one_of(
    st.sampled_from(["a", "..", ".", "", ".git", ".cache", ".gitattributes", "x\ny", "é", "\x7f", "\u2028", "a" * 256]),
    st.text(max_size=6),
    st.binary(max_size=6).map(os.fsdecode),  # file names that are not UTF-8, as Linux hands them to Python
)
_paths = st.one_of(st.text(max_size=30), st.lists(_path_parts, min_size=1, max_size=5).map("/".join))


@PROPERTIES
@given(_paths)
def test_the_path_check_refuses_whatever_huggingface_hub_or_the_emulator_refuses(path: str) -> None:
    problem = path_problem(path)  # never raises
    try:
        _validate_path_in_repo(path)
        client_accepts = True
    except ValueError:
        client_accepts = False
    try:
        check_repo_path(path)
        emulator_accepts = True
    except InvalidInputError:
        emulator_accepts = False
    if not client_accepts or not emulator_accepts:
        assert problem is not None, (path, client_accepts, emulator_accepts)
    if problem is None:
        path.encode("utf-8")  # a name the Hub takes is UTF-8 text
