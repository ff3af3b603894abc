"""release.card_rules: the rules shared by ``card validate`` and the Hub emulator's validate-yaml.

The corpus of realistic cards and the changes the Hub refuses are in test_card_corpus.py; here are
the rules' own corners: languages, YAML 1.1's ``no``, empty metadata, the marks in the schemas that
make a rule a warning, and what importing the module costs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import REPO_ROOT

from release.card_rules import EMPTY_METADATA, SPECIAL_LANGUAGES, RuleProblem, check_card_data

SCHEMAS = {kind: REPO_ROOT / "schemas" / f"{kind}card.schema.json" for kind in ("model", "dataset")}


def warnings_at(data: dict[str, Any], kind: str = "model") -> dict[str, str]:
    check = check_card_data(data, kind)
    assert check.errors == (), [str(p) for p in check.errors]
    return {p.where(): p.message for p in check.warnings}


@pytest.mark.parametrize("language", ["en", "fra", "yue", *sorted(SPECIAL_LANGUAGES)])
def test_iso_codes_and_the_hubs_special_values_need_no_advice(language: str) -> None:
    assert "language" not in warnings_at({"language": language}) and "language[0]" not in warnings_at(
        {"language": [language]}
    )


@pytest.mark.parametrize(
    ("value", "advice"),
    [
        ("en-US", "write language: en and put 'en-US' in language_bcp47"),
        ("zh-Hant", "write language: zh and put 'zh-Hant' in language_bcp47"),
        ("pt-br", "write language: pt and put 'pt-br' in language_bcp47"),
        ("sr-Latn-RS", "write language: sr and put 'sr-Latn-RS' in language_bcp47"),
        ("EN", "write it in lowercase ('en')"),
        ("english", "write the code (e.g. en, fra) or one of code, multilingual"),
    ],
)
def test_other_language_values_are_warnings_with_the_fix(value: str, advice: str) -> None:
    assert advice in warnings_at({"language": [value]})["language[0]"]
    assert advice in warnings_at({"language": value}, "dataset")["language"]


def test_norwegian_read_as_false_by_yaml_1_1_is_read_back_as_no() -> None:
    """PyYAML reads ``language: no`` as false; the Hub's YAML reader keeps "no" (Norwegian)."""
    for data, where in (({"language": False}, "language"), ({"language": ["nb", False]}, "language[1]")):
        advice = warnings_at(data)[where]
        assert advice.startswith("read as false") and "quote it ('no')" in advice
    assert [str(p) for p in check_card_data({"language": [0]}, "model").errors] == [
        "language[0]: must be a string, got integer 0"
    ]


@pytest.mark.parametrize("data", [None, {}])
def test_a_card_without_metadata_gets_the_hubs_warning(data: dict[str, Any] | None) -> None:
    check = check_card_data(data, "model")
    assert check.errors == () and check.warnings == (RuleProblem((), EMPTY_METADATA),)
    assert str(check.warnings[0]) == EMPTY_METADATA


def test_an_unknown_repo_type_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="no card rules for repo type 'space'"):
        check_card_data({"license": "mit"}, "space")


def _nodes(node: object, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, sub in node.items():
            yield from _nodes(sub, f"{path}/{key}")
    elif isinstance(node, list):
        for index, sub in enumerate(node):
            yield from _nodes(sub, f"{path}/{index}")


@pytest.mark.parametrize("kind", sorted(SCHEMAS))
def test_every_warning_mark_names_a_rule_of_its_node_and_says_the_fix(kind: str) -> None:
    """A typo in ``x-warnings`` would silently leave a rule an error: each key is a keyword of its node."""
    schema = json.loads(SCHEMAS[kind].read_text(encoding="utf-8"))
    marks = 0
    for path, node in _nodes(schema):
        for keyword, fix in node.get("x-warnings", {}).items():
            assert keyword in node, f"{path}: x-warnings names {keyword!r}, which the node does not have"
            assert isinstance(fix, str) and fix, path
            marks += 1
        if "x-severity" in node:
            assert node["x-severity"] == "warning" and node.get("x-fix"), path
            marks += 1
    assert marks > 10


def test_importing_the_rules_does_not_import_jsonschema() -> None:
    """The emulator imports the rules at start; jsonschema (~100 ms) waits for the first check."""
    code = (
        "import sys, release.card_rules as r; before = 'jsonschema' in sys.modules; "
        "r.check_card_data({'license': 'mit'}, 'model'); print(before, 'jsonschema' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert result.stdout.split() == ["False", "True"]
