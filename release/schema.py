"""Validation of documents against the bundled JSON Schemas, with messages a person can act on.

jsonschema finds the problems; this module words them: the JSON path of the field, the offending
value, what was expected, and a did-you-mean for misspelt keys and enum values. ``jsonschema`` is
imported lazily: commands that validate nothing should not pay for it.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from release.resources import resource_dir

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a table/mapping",
    "null": "null",
}


@dataclass(frozen=True)
class SchemaProblem:
    """One way a document fails its schema."""

    path: tuple[str | int, ...]  # where, from the document root
    message: str  # what is wrong, what was expected, and a suggestion when there is one

    def where(self, prefix: str = "") -> str:
        return format_path(self.path, prefix)


@cache
def load_schema(name: str) -> dict[str, Any]:
    """A bundled JSON Schema, by file name (e.g. ``"release-config.schema.json"``)."""
    schema: dict[str, Any] = json.loads((resource_dir("schemas") / name).read_text(encoding="utf-8"))
    return schema


def format_path(path: Sequence[str | int], prefix: str = "") -> str:
    """``("model-index", 0, "results")`` -> ``model-index[0].results`` (``prefix`` goes in front)."""
    text = prefix
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def describe_value(value: object) -> str:
    """A short rendering of an offending value, with its JSON type."""
    kind = _json_type(value)
    shown = json.dumps(value, ensure_ascii=False, default=str)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{kind} {shown}" if kind in ("integer", "number", "boolean") else shown


def check_document(instance: object, schema: dict[str, Any]) -> list[SchemaProblem]:
    """Every problem of ``instance`` against ``schema``, sorted by path (empty when valid)."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema)
    problems: list[SchemaProblem] = []
    for error in validator.iter_errors(instance):
        problems.extend(_explain(error))
    return sorted(set(problems), key=lambda p: (format_path(p.path), p.message))


def _explain(error: ValidationError) -> Iterable[SchemaProblem]:
    path = tuple(error.absolute_path)
    kind = error.validator
    expected: Any = error.validator_value
    instance: Any = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        known = sorted(schema.get("properties", {}))
        for key in sorted(set(error.instance) - set(known)):
            hint = _did_you_mean(key, known)
            allowed = f"; known keys here: {', '.join(known)}" if known and not hint else ""
            yield SchemaProblem((*path, key), f"unknown key {key!r}{hint}{allowed}")
        return
    if kind == "required":
        missing = [k for k in expected if k not in instance]
        for key in missing:
            yield SchemaProblem((*path, key), f"required key {key!r} is missing")
        return
    if kind == "type":
        names = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        hint = ""
        if names == ["string"] and isinstance(error.instance, int | float) and path:
            hint = f' (quote it: {path[-1]} = "{error.instance}")'
        yield SchemaProblem(path, f"must be {wanted}, got {describe_value(error.instance)}{hint}")
        return
    if kind == "enum":
        options = [str(o) for o in expected]
        hint = _did_you_mean(str(error.instance), options)
        shown = ", ".join(options) if len(options) <= 12 else f"{len(options)} allowed values"
        yield SchemaProblem(path, f"{describe_value(error.instance)} is not allowed{hint} (expected {shown})")
        return
    if kind == "pattern":
        what = schema.get("description", f"text matching {expected}").rstrip(".")
        what = what[:1].lower() + what[1:]
        yield SchemaProblem(path, f"{describe_value(error.instance)} is not valid: expected {what}")
        return
    yield SchemaProblem(path, error.message)


def _did_you_mean(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not close:
        close = [o for o in options if o.lower() == word.lower()]
    return f" (did you mean {close[0]!r}?)" if close else ""


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "table"
    return type(value).__name__
