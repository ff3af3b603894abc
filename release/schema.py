"""Validation of documents against the bundled JSON Schemas, with messages a person can act on.

jsonschema finds the problems; this module words them: the JSON path of the field, the offending
value, what was expected, and a did-you-mean for misspelt keys and enum values. ``jsonschema`` is
imported lazily: it takes ~100 ms to import (measured with -X importtime), which commands that
validate nothing should not pay.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

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


Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class SchemaProblem:
    """One way a document fails its schema.

    Its ``severity`` is the schema's: a rule is a warning when the failing keyword is named in its
    node's ``x-warnings`` (keyword -> the fix, appended to the message) or when the rule lies under a
    node with ``"x-severity": "warning"`` (whose ``x-fix`` is appended); every other rule is an error.
    """

    path: tuple[str | int, ...]  # where, from the document root
    message: str  # what is wrong, what was expected, and a suggestion when there is one
    anchor: tuple[str | int, ...] | None = None  # where to point in the source when ``path`` is not there
    severity: Severity = "error"

    @property
    def located_at(self) -> tuple[str | int, ...]:
        """The path to look up in the source: the anchor (e.g. the key a missing key depends on), else the path."""
        return self.anchor if self.anchor is not None else self.path

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
    errors = list(validator.iter_errors(instance))
    # Two rules may both refuse a value's type (a metric value: "a scalar" and "a number"); the
    # narrower one says what is expected.
    narrowest: dict[tuple[str | int, ...], ValidationError] = {}
    for error in errors:
        if error.validator == "type":
            path = tuple(error.absolute_path)
            held = narrowest.get(path)
            if held is None or _type_count(error) < _type_count(held):
                narrowest[path] = error
    problems: list[SchemaProblem] = []
    for error in errors:
        if error.validator == "type" and narrowest[tuple(error.absolute_path)] is not error:
            continue
        problems.extend(_explain(error, schema))
    return sorted(set(problems), key=lambda p: (format_path(p.path), p.message))


def _type_count(error: ValidationError) -> int:
    expected: Any = error.validator_value
    return 1 if isinstance(expected, str) else len(expected)


def _explain(error: ValidationError, root: dict[str, Any]) -> Iterable[SchemaProblem]:
    """The problems of one jsonschema error, worded, each with the severity and fix its rule declares."""
    if error.validator in ("anyOf", "oneOf") and error.context:
        branch = _matching_branch(error)
        if branch is not None:  # the alternative the value was meant for explains it, with its own rules
            for sub in branch:
                yield from _explain(sub, root)
            return
    severity, fix = _rule_severity(error, root)
    for problem in _word(error, root, severity):
        message = f"{problem.message}; {fix}" if fix else problem.message
        yield SchemaProblem(problem.path, message, problem.anchor, severity)


def _word(error: ValidationError, root: dict[str, Any], severity: Severity = "error") -> Iterable[SchemaProblem]:
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
        reason, anchor = _condition(error, root, instance, path)
        for key in missing:
            yield SchemaProblem((*path, key), f"required key {key!r} is missing{reason}", anchor)
        return
    if kind in ("anyOf", "oneOf") and error.context:
        what = schema.get("description", "").rstrip(".")
        if what:
            what = what[:1].lower() + what[1:]
            yield SchemaProblem(path, f"{describe_value(error.instance)} is not valid: expected {what}")
            return
    if kind == "type":
        names = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        hint = ""
        if names == ["string"] and isinstance(error.instance, int | float) and path and isinstance(path[-1], str):
            hint = f' (quote it: {path[-1]} = "{error.instance}")'
        yield SchemaProblem(path, f"must be {wanted}, got {describe_value(error.instance)}{hint}")
        return
    if kind == "enum":
        declared = schema.get("type")
        if declared is not None and _json_type(instance) not in _type_names(declared):
            return  # the type rule beside the enum explains it: "must be a string, got [...]"
        options = [str(o) for o in expected]
        hint = _did_you_mean(str(error.instance), options)
        shown = ", ".join(options) if len(options) <= 12 else f"{len(options)} allowed values"
        verdict = "is not allowed" if severity == "error" else "is not a known value"
        yield SchemaProblem(path, f"{describe_value(error.instance)} {verdict}{hint} (expected {shown})")
        return
    if kind == "pattern":
        what = schema.get("description", f"text matching {expected}").rstrip(".")
        what = what[:1].lower() + what[1:]
        yield SchemaProblem(path, f"{describe_value(error.instance)} is not valid: expected {what}")
        return
    if kind == "minLength":
        wanted = "must not be empty" if expected == 1 else f"must be at least {expected} characters long"
        yield SchemaProblem(path, f"{wanted}, got {describe_value(instance)}")
        return
    if kind == "minItems":
        wanted = "must not be an empty list" if expected == 1 else f"must have at least {expected} items"
        yield SchemaProblem(path, wanted)
        return
    if kind == "minimum":
        yield SchemaProblem(path, f"{describe_value(instance)} is below the minimum, {expected}")
        return
    if kind == "not" and path:
        yield SchemaProblem(path, f"the key {path[-1]!r} is not allowed")
        return
    yield SchemaProblem(path, error.message)


def _rule_severity(error: ValidationError, root: dict[str, Any]) -> tuple[Severity, str]:
    """The severity of the rule ``error`` broke and the fix the schema gives for it ("" without one)."""
    parts = list(error.absolute_schema_path)
    node: Any = root
    severity: Severity = "error"
    fix = ""
    for part in parts[:-1]:
        node = _schema_step(node, part, root)
        if node is None:
            return severity, fix
        if isinstance(node, dict) and node.get("x-severity") == "warning":
            severity, fix = "warning", str(node.get("x-fix", fix))
    keyword = parts[-1] if parts else ""
    while isinstance(node, dict) and keyword not in node and "$ref" in node:
        node = _resolve(root, node["$ref"])
    if isinstance(node, dict):
        warnings = node.get("x-warnings", {})
        if isinstance(warnings, dict) and keyword in warnings:
            return "warning", str(warnings[keyword])
        if not fix:
            fix = str(node.get("x-fix", ""))
    return severity, fix


def _schema_step(node: Any, part: str | int, root: dict[str, Any]) -> Any:
    """The schema node under ``node`` at ``part`` of a jsonschema schema path (whose ``$ref`` hops are implied)."""
    while isinstance(node, dict) and part not in node and "$ref" in node:
        node = _resolve(root, node["$ref"])
    if isinstance(node, dict):
        return node.get(str(part))
    if isinstance(node, list) and isinstance(part, int) and part < len(node):
        return node[part]
    return None


def _resolve(root: dict[str, Any], ref: object) -> Any:
    """The node a local ``$ref`` (``#/$defs/name``) points at; None for any other reference."""
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return None
    node: Any = root
    for part in ref[2:].split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _matching_branch(error: ValidationError) -> list[ValidationError] | None:
    """The errors of the one alternative of an anyOf/oneOf whose shape fits the value, if there is one.

    ``license: mitt`` fails both "a license id" (enum) and "a list of license ids" (type): the
    first one is what the author meant, so its error explains the problem best.
    """
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context or ():
        branches.setdefault(int(sub.schema_path[0]), []).append(sub)
    fitting = {
        index: errors
        for index, errors in branches.items()
        if not any(e.validator == "type" and not e.relative_path for e in errors)
    }
    if len(fitting) > 1:  # prefer alternatives that fail deeper inside the value over ones that fail on it
        deeper = {i: errors for i, errors in fitting.items() if all(e.relative_path for e in errors)}
        fitting = deeper or fitting
    if not fitting:
        return None
    return fitting[min(fitting)]


def _condition(
    error: ValidationError, root: dict[str, Any], instance: object, path: tuple[str | int, ...]
) -> tuple[str, tuple[str | int, ...] | None]:
    """For a key required by an ``if``/``then``: why (the rule's description) and the key that triggered it."""
    schema_path = list(error.schema_path)
    if len(schema_path) < 2 or schema_path[-2] != "then":
        return "", None
    node: Any = root
    for part in schema_path[:-2]:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    if not isinstance(node, dict):
        return "", None
    description = str(node.get("description", "")).rstrip(".")
    reason = f" ({description})" if description else ""
    keys = node.get("if", {}).get("properties", {})
    trigger = next((k for k in keys if isinstance(instance, dict) and k in instance), None)
    return reason, ((*path, trigger) if trigger is not None else None)


def _did_you_mean(word: str, options: Sequence[str]) -> str:
    close = [o for o in options if o.lower() == word.lower()]
    if not close:
        close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _type_names(declared: str | Sequence[str]) -> set[str]:
    """The _json_type names a JSON Schema ``type`` admits."""
    names = {declared} if isinstance(declared, str) else set(declared)
    admitted = {{"array": "list", "object": "table"}.get(n, n) for n in names}
    if "number" in names:
        admitted.add("integer")
    return admitted


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
