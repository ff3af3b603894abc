"""The model card: metadata validated offline against the Hub's spec, README.md rendered with Jinja2.

The YAML front matter is emitted from validated data with ``yaml.safe_dump``, never templated by
hand; the template renders only the body. Undefined template variables are errors.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from release.errors import CardError, CardProblem, CardValidationError
from release.resources import resource_dir
from release.schema import check_document, format_path, load_schema

log = logging.getLogger(__name__)

MODEL_CARD_SCHEMA = "modelcard.schema.json"
TEMPLATE_NAME = "README.md.j2"


@dataclass(frozen=True)
class CardMetadata:
    """Card metadata and where it came from (for error messages)."""

    data: Mapping[str, Any]
    source: str  # a file name, or "release.toml [card.metadata]"
    yaml_text: str | None = None  # the YAML it was read from, to find line numbers

    def line_of(self, path: Sequence[str | int]) -> int | None:
        return yaml_line_of(self.yaml_text, path) if self.yaml_text is not None else None


@dataclass(frozen=True)
class CardCheck:
    errors: tuple[CardProblem, ...]
    warnings: tuple[str, ...] = field(default=())


def load_metadata(inline: Mapping[str, Any] | None, file: Path | None, config_name: str) -> CardMetadata:
    """Card metadata from the config (inline table) or from the YAML file it names."""
    if file is not None:
        text = _read_text(file, "card metadata file")
        data = _parse_yaml_mapping(text, str(file))
        return CardMetadata(data, str(file), text)
    return CardMetadata(dict(inline or {}), f"{config_name} [card.metadata]")


def load_eval_results(path: Path) -> list[dict[str, Any]]:
    """Evaluation results: ``{"results": [...]}`` in the shape of ``model-index[].results``."""
    text = _read_text(path, "eval results file")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CardError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from exc
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, list):
        raise CardError(f'{path}: expected an object with a "results" list (model-index results)')
    return results


def with_eval_results(metadata: CardMetadata, results: list[dict[str, Any]] | None, model_name: str) -> CardMetadata:
    """Fill ``model-index`` from the eval results, unless the metadata already has one."""
    if not results or "model-index" in metadata.data:
        return metadata
    merged = dict(metadata.data)
    merged["model-index"] = [{"name": model_name, "results": results}]
    return CardMetadata(merged, metadata.source, metadata.yaml_text)


def check_metadata(metadata: CardMetadata) -> CardCheck:
    """Every schema problem (errors) and every soft problem (warnings) of the metadata."""
    schema = load_schema(MODEL_CARD_SCHEMA)
    errors = []
    for problem in check_document(dict(metadata.data), schema):
        line = metadata.line_of(problem.path)
        source = f"{metadata.source}:{line}" if line else metadata.source
        errors.append(CardProblem(problem.where(), problem.message, source))
    warnings = []
    if "license" not in metadata.data:
        warnings.append(f"{metadata.source}: no license: users cannot know how they may use the model")
    library = metadata.data.get("library_name")
    known = schema.get("$defs", {}).get("knownLibraries", {}).get("enum")
    if isinstance(library, str) and known and library not in known:
        warnings.append(f"{metadata.source}: library_name {library!r} is not one the Hub knows")
    if "model-index" not in metadata.data:
        warnings.append(f"{metadata.source}: no evaluation results (model-index); set card.eval_results")
    return CardCheck(tuple(errors), tuple(warnings))


def validate_metadata(metadata: CardMetadata) -> tuple[str, ...]:
    """Raise :class:`CardValidationError` with every problem; return the warnings otherwise."""
    result = check_metadata(metadata)
    if result.errors:
        raise CardValidationError(result.errors, hint="Fix the fields above; nothing was rendered or uploaded.")
    for warning in result.warnings:
        log.warning("%s", warning)
    return result.warnings


def render_card(metadata: Mapping[str, Any], context: Mapping[str, Any], template: Path | None = None) -> str:
    """README.md: YAML front matter from ``metadata``, then the template's body."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError

    search = [str(resource_dir("templates"))]
    name = TEMPLATE_NAME
    if template is not None:
        if not template.is_file():
            raise CardError(f"card template {template} does not exist (card.template in the config)")
        search.insert(0, str(template.parent))
        name = template.name
    env = Environment(
        loader=FileSystemLoader(search),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # Markdown, not HTML  # noqa: S701
    )
    env.filters["tojson_compact"] = lambda value: json.dumps(value, ensure_ascii=False, sort_keys=True)
    try:
        body = env.get_template(name).render(**context)
    except TemplateError as exc:
        raise CardError(f"card template {_template_location(exc, name)}: {exc}") from exc
    front = yaml.safe_dump(dict(metadata), sort_keys=False, allow_unicode=True, default_flow_style=False)
    return f"---\n{front}---\n\n{body.lstrip()}"


def _template_location(exc: Exception, name: str) -> str:
    """file:line of a template error; Jinja puts template frames into the traceback."""
    import traceback

    filename, lineno = getattr(exc, "filename", None), getattr(exc, "lineno", None)
    if lineno is None:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.endswith(".py")]
        if frames:
            filename, lineno = frames[-1].filename, frames[-1].lineno
    return f"{filename or name}:{lineno or '?'}"


def split_front_matter(text: str, source: str) -> tuple[str | None, str]:
    """The YAML front matter of a card (None if it has none) and the rest."""
    if not text.startswith("---"):
        return None, text
    lines = text.splitlines(keepends=True)
    if lines[0].strip() != "---":
        return None, text
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            return "".join(lines[1:index]), "".join(lines[index + 1 :])
    raise CardValidationError([CardProblem("(front matter)", "the YAML front matter has no closing '---'", source)])


def check_card_file(path: Path) -> CardCheck:
    """Validate the metadata of any README.md on disk, including cards written by others."""
    text = _read_text(path, "model card")
    front, _ = split_front_matter(text, str(path))
    if front is None:
        return CardCheck((CardProblem("(front matter)", "the card has no YAML metadata block", str(path)),))
    try:
        data = _parse_yaml_mapping(front, str(path), line_offset=1)
    except CardValidationError as exc:
        return CardCheck(exc.problems)
    return check_metadata(CardMetadata(data, str(path), "\n" + front))


def yaml_line_of(text: str, path: Sequence[str | int]) -> int | None:
    """The 1-based line of the value at ``path`` in a YAML document (the closest parent found)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part), None)
            if match is None:
                break
            key_node = next(k for k, v in node.value if v is match)
            line = key_node.start_mark.line + 1
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _parse_yaml_mapping(text: str, source: str, line_offset: int = 0) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1 + line_offset}" if mark is not None else source
        raise CardValidationError([CardProblem("(yaml)", f"not valid YAML: {exc}", where)]) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CardValidationError([CardProblem("(top level)", "card metadata must be a YAML mapping", source)])
    return data


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CardError(f"{what} {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CardError(f"cannot read {what} {path}: {exc}") from exc


__all__ = [
    "CardCheck",
    "CardMetadata",
    "check_card_file",
    "check_metadata",
    "format_path",
    "load_eval_results",
    "load_metadata",
    "render_card",
    "split_front_matter",
    "validate_metadata",
    "with_eval_results",
]
