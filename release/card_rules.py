"""The rules card metadata is checked by: the same for ``card validate`` and the Hub emulator's validate-yaml.

A rule is an **error** only where the Hub is known to refuse the value (a push or a validate-yaml call
answers 400), a **warning** with the fix where the Hub takes the value but ignores it or a better field
exists, and there is no rule where the Hub takes the value as it is. ``docs/card-rules.md`` gives the
evidence for every error rule.

The rules are the card schemas (``schemas/modelcard.schema.json``, ``schemas/datasetcard.schema.json``),
whose nodes mark the warnings (``x-warnings``, ``x-severity``; see :class:`release.schema.SchemaProblem`),
and the language rules below, which a schema cannot word well. This module imports nothing heavy:
``jsonschema`` (about 100 ms) is imported on the first check, not on import, so the emulator does not
pay for it at start.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from release.schema import check_document, format_path, load_schema

CardKind = Literal["model", "dataset"]
CARD_SCHEMAS: Final[Mapping[str, str]] = {
    "model": "modelcard.schema.json",
    "dataset": "datasetcard.schema.json",
}
#: What the Hub says about a card without metadata (a push is accepted "with warnings").
EMPTY_METADATA: Final = "empty or missing yaml metadata in repo card"
#: The values of ``language`` the Hub takes besides ISO 639 codes.
SPECIAL_LANGUAGES: Final = frozenset({"multilingual", "code"})

_ISO_639: Final = re.compile(r"[a-z]{2,3}")
#: A BCP-47 tag with a region or script subtag (en-US, zh-Hant, pt-br, sr-Latn-RS).
_WITH_SUBTAGS: Final = re.compile(r"(?P<base>[A-Za-z]{2,3})(?:-[A-Za-z0-9]{1,8})+")


@dataclass(frozen=True)
class RuleProblem:
    """One problem of card metadata: the field (a path from the top of the metadata) and what to do."""

    path: tuple[str | int, ...]
    message: str
    anchor: tuple[str | int, ...] | None = None  # the key to point at when ``path`` is absent (license_name)

    def where(self) -> str:
        return format_path(self.path)

    def __str__(self) -> str:
        return f"{self.where()}: {self.message}" if self.path else self.message


@dataclass(frozen=True)
class RuleCheck:
    """The problems of one card's metadata: errors (the Hub refuses the card) and warnings (it takes it)."""

    errors: tuple[RuleProblem, ...]
    warnings: tuple[RuleProblem, ...]


def check_card_data(data: Mapping[str, Any] | None, kind: str) -> RuleCheck:
    """Every error and warning of a model or dataset card's metadata (``None``: the card has none).

    Raises ``ValueError`` for a ``kind`` other than ``model`` or ``dataset``.
    """
    try:
        schema = load_schema(CARD_SCHEMAS[kind])
    except KeyError:
        raise ValueError(f"no card rules for repo type {kind!r} (expected one of: {', '.join(CARD_SCHEMAS)})") from None
    if not data:
        return RuleCheck((), (RuleProblem((), EMPTY_METADATA),))
    document, warnings = _read_yaml_11_booleans(dict(data))
    errors: list[RuleProblem] = []
    for problem in check_document(document, schema):
        found = RuleProblem(problem.path, problem.message, problem.anchor)
        (warnings if problem.severity == "warning" else errors).append(found)
    warnings.extend(_language_warnings(document.get("language")))
    return RuleCheck(tuple(errors), tuple(warnings))


def _read_yaml_11_booleans(data: dict[str, Any]) -> tuple[dict[str, Any], list[RuleProblem]]:
    """``language: no`` (Norwegian) as the Hub reads it: PyYAML follows YAML 1.1 and reads ``no`` as false.

    The Hub's YAML reader keeps ``no`` as text; a false in ``language`` is therefore read back as
    ``"no"``, with a warning to quote it so that every reader agrees.
    """
    language = data.get("language")
    fix = "quote it ('no') so that YAML 1.1 readers such as PyYAML do not read Norwegian as false"
    if language is False:
        return {**data, "language": "no"}, [RuleProblem(("language",), f"read as false; {fix}")]
    if isinstance(language, list) and any(value is False for value in language):
        fixed = ["no" if value is False else value for value in language]
        found = [RuleProblem(("language", i), f"read as false; {fix}") for i, v in enumerate(language) if v is False]
        return {**data, "language": fixed}, found
    return data, []


def _language_warnings(language: object) -> list[RuleProblem]:
    """Warnings for ``language`` values that are neither ISO 639 codes nor the Hub's special values."""
    if isinstance(language, str):
        values: Sequence[tuple[tuple[str | int, ...], object]] = [(("language",), language)]
    elif isinstance(language, list):
        values = [(("language", i), value) for i, value in enumerate(language)]
    else:
        return []  # absent, or a type the schema already refuses
    found = []
    for path, value in values:
        if not isinstance(value, str) or _ISO_639.fullmatch(value) or value in SPECIAL_LANGUAGES:
            continue
        found.append(RuleProblem(path, _language_advice(value)))
    return found


def _language_advice(value: str) -> str:
    shown = repr(value)
    tagged = _WITH_SUBTAGS.fullmatch(value)
    if tagged is not None:
        base = tagged["base"].lower()
        return (
            f"{shown} is a BCP-47 tag: the Hub takes it, but the languages it lists are ISO 639 codes; write "
            f"language: {base} and put {shown} in language_bcp47"
        )
    if _ISO_639.fullmatch(value.lower()):
        return f"{shown} is not an ISO 639 code as the Hub lists them: write it in lowercase ({value.lower()!r})"
    special = ", ".join(sorted(SPECIAL_LANGUAGES))
    return (
        f"{shown} is not an ISO 639 code: the Hub takes it, but the languages it lists are ISO 639 codes; "
        f"write the code (e.g. en, fra) or one of {special}"
    )


__all__ = [
    "CARD_SCHEMAS",
    "EMPTY_METADATA",
    "SPECIAL_LANGUAGES",
    "CardKind",
    "RuleCheck",
    "RuleProblem",
    "check_card_data",
]
