"""The card: metadata validated offline against the Hub's spec, README.md rendered with Jinja2.

The YAML front matter is emitted from validated data with ``yaml.safe_dump``, never templated by
hand; the template renders only the body. Undefined template variables are errors. Model
repositories are checked against ``schemas/modelcard.schema.json``, dataset repositories against
``schemas/datasetcard.schema.json``.

``card.metadata`` may name a Markdown card (``README.md``, as published on the Hub) instead of a
YAML file: its front matter is the metadata and its body, the author's prose, is kept: the template
renders it first and adds what the release knows after it.

The evaluation results file (``card.eval_results``) fills the card's ``model-index`` and, when
``card.eval_results_dir`` is set, the Hub's newer ``.eval_results/*.yaml`` files
(https://huggingface.co/docs/hub/eval-results): one list of ``{dataset: {id, task_id, revision},
value, verifyToken, source, notes}`` entries per benchmark, as ``huggingface_hub``'s
``eval_result_entries_to_yaml`` writes them. No date is written (the Hub takes the commit's), so
the same results always give the same bytes.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from release.card_rules import CARD_SCHEMAS as RULE_SCHEMAS
from release.card_rules import EMPTY_METADATA, check_card_data
from release.errors import CardError, CardProblem, CardValidationError
from release.resources import resource_dir
from release.schema import check_document, format_path, load_schema

log = logging.getLogger(__name__)

RepoType = Literal["model", "dataset"]
MODEL_CARD_SCHEMA = "modelcard.schema.json"
DATASET_CARD_SCHEMA = "datasetcard.schema.json"
CARD_SCHEMAS: Mapping[str, str] = RULE_SCHEMAS
TEMPLATE_NAME = "README.md.j2"
DATASET_TEMPLATE_NAME = "dataset-README.md.j2"  # the card of a dataset published beside the model
EVAL_RESULTS_DIR = ".eval_results"
#: The schema ($defs of the model-card schema) of the results file model-release reads.
_RESULTS_FILE_DEF = "evalResultsFile"
#: A card metadata file with one of these suffixes is a Markdown card: front matter, then a body.
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
_NAMESPACED_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*/[A-Za-z0-9_][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class CardMetadata:
    """Card metadata and where it came from (for error messages)."""

    data: Mapping[str, Any]
    source: str  # a file name, or "release.toml [card.metadata]"
    yaml_text: str | None = None  # the YAML it was read from, to find line numbers
    body: str | None = None  # the Markdown after the front matter, when read from a card (README.md)

    def line_of(self, path: Sequence[str | int]) -> int | None:
        return yaml_line_of(self.yaml_text, path) if self.yaml_text is not None else None


@dataclass(frozen=True)
class CardCheck:
    errors: tuple[CardProblem, ...]
    warnings: tuple[str, ...] = field(default=())


def load_metadata(
    inline: Mapping[str, Any] | None, file: Path | None, config_name: str, table: str = "card.metadata"
) -> CardMetadata:
    """Card metadata from the config (inline table ``table``) or from the file it names.

    A YAML file holds the metadata alone. A Markdown file (``.md``) is a card: its front matter is
    the metadata and its body is kept (:attr:`CardMetadata.body`).
    """
    if file is None:
        return CardMetadata(dict(inline or {}), f"{config_name} [{table}]")
    text = _read_text(file, "card metadata file")
    if file.suffix.lower() in MARKDOWN_SUFFIXES:
        return read_card(text, str(file), table)
    front = _FRONT_MATTER.search(text)
    if front is not None and text[front.end() :].strip():
        raise CardError(
            f"{file} ({table}) holds YAML front matter and then more text, as a Markdown card does, but its name "
            "does not end in .md: name a Markdown card such as README.md (its front matter is then read as the "
            "metadata and its body kept in the card), or keep only the YAML in this file"
        )
    data = _parse_yaml_mapping(text, str(file))
    return CardMetadata(data, str(file), text)


def read_card(text: str, source: str, table: str = "card.metadata") -> CardMetadata:
    """A Markdown card as card metadata: its front matter (validated later), and its body kept.

    A card without front matter is an error naming ``source``: the metadata of a card is the YAML
    block at its very top, between two ``---`` lines.
    """
    found = _front_matter(text, source)
    if found is None:
        raise CardError(
            f"{source} ({table}) has no YAML front matter: a card's metadata is the block at the very top of "
            "the file, between two '---' lines (for example '---', 'license: apache-2.0', '---'); add one, "
            "or name a YAML file holding the metadata alone"
        )
    data = _parse_yaml_mapping(found.yaml_text, source, line_offset=found.line_offset)
    return CardMetadata(data, source, "\n" * found.line_offset + found.yaml_text, found.body)


@dataclass(frozen=True)
class EvalResultsFile:
    """The evaluation results file, validated: model-index results with numeric metric values."""

    path: Path
    results: tuple[Mapping[str, Any], ...]  # as written, with the optional ``benchmark`` of each
    text: str

    def model_index_results(self) -> list[dict[str, Any]]:
        """The results as ``model-index[].results`` holds them (``benchmark`` is ours, not the Hub's)."""
        return [{k: v for k, v in result.items() if k != "benchmark"} for result in self.results]

    def where(self, path: Sequence[str | int]) -> str:
        line = yaml_line_of(self.text, path)  # JSON is YAML: the same lookup finds the line
        return f"{self.path}:{line}" if line else str(self.path)


def load_eval_results(path: Path) -> EvalResultsFile:
    """Read and validate the results file: ``{"results": [...]}`` in the shape of ``model-index[].results``.

    Every problem is reported at once, with its JSON path, the offending value and the file and
    line. Metric values must be finite numbers: the Hub and huggingface_hub accept any scalar in a
    card's model-index, but what model-release computes from (the card's table, ``.eval_results``
    files, leaderboards) compares numbers.
    """
    text = _read_text(path, "eval results file")
    try:
        document = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise CardError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from exc
    except ValueError as exc:
        raise CardError(f"{path}: {exc}") from exc
    except RecursionError:
        raise CardError(f"{path}: not valid JSON here (arrays or objects nested too deeply)") from None
    card_schema = load_schema(MODEL_CARD_SCHEMA)
    schema = {"$ref": f"#/$defs/{_RESULTS_FILE_DEF}", "$defs": card_schema["$defs"]}
    found = EvalResultsFile(path, (), text)
    problems = [CardProblem(p.where(), p.message, found.where(p.located_at)) for p in check_document(document, schema)]
    if problems:
        raise CardValidationError(
            problems,
            hint=(
                f"Fix {path} (card.eval_results): each result is a model-index result whose metric values are "
                "numbers (put a spread such as '± 0.3' in the metric's name or args); nothing was rendered "
                "or uploaded."
            ),
            what="the evaluation results file",
        )
    return EvalResultsFile(path, tuple(document["results"]), text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows: every metric value must be a finite number")


def with_eval_results(metadata: CardMetadata, results: list[dict[str, Any]] | None, model_name: str) -> CardMetadata:
    """Put the eval results into ``model-index``, keeping every result the metadata has.

    Without a ``model-index``, it is one entry named ``model_name``. With one (an adopted card's, or
    an inline one), the results it does not hold yet are added to its entry named ``model_name``,
    or to a new entry of that name after its own. A ``model-index`` that is not a list is left
    alone, for the schema check to name.
    """
    index = metadata.data.get("model-index")
    if not results or (index is not None and not isinstance(index, list)):
        return metadata
    entries: list[Any] = list(index or [])
    held = [r for e in entries if isinstance(e, dict) and isinstance(e.get("results"), list) for r in e["results"]]
    missing = [result for result in results if result not in held]
    if not missing:
        return metadata
    at = next(
        (
            i
            for i, e in enumerate(entries)
            if isinstance(e, dict) and e.get("name") == model_name and isinstance(e.get("results"), list)
        ),
        None,
    )
    if at is None:
        entries.append({"name": model_name, "results": missing})
    else:
        entries[at] = {**entries[at], "results": [*entries[at]["results"], *missing]}
    return replace(metadata, data={**metadata.data, "model-index": entries})


def with_datasets(metadata: CardMetadata, repo_ids: Sequence[str]) -> CardMetadata:
    """Add the dataset repositories published with the model to the card's ``datasets`` (after its own).

    A ``datasets`` value that is not a list is left alone, for the schema check to name.
    """
    listed = metadata.data.get("datasets", [])
    if not repo_ids or not isinstance(listed, list):
        return metadata
    merged = dict(metadata.data)
    merged["datasets"] = [*listed, *(r for r in repo_ids if r not in listed)]
    return replace(metadata, data=merged)


def with_published_datasets(
    results: Sequence[Mapping[str, Any]], published: Mapping[str, tuple[str, str]]
) -> list[dict[str, Any]]:
    """Results on a dataset this release publishes name its repository, at its tag, in ``model-index``.

    ``published`` maps a dataset's name in the config to (repository id, tag). A result whose
    ``dataset.type`` is that name gets the repository id as its type (the Hub links the results to the
    dataset's page) and, unless it has one, the tag as its ``revision``. Other results are unchanged.
    """
    linked = []
    for result in results:
        dataset = result.get("dataset")
        if isinstance(dataset, Mapping) and isinstance(dataset.get("type"), str) and dataset["type"] in published:
            repo_id, tag = published[dataset["type"]]
            result = {**result, "dataset": {**dataset, "type": repo_id, "revision": dataset.get("revision") or tag}}
        linked.append(dict(result))
    return linked


def eval_results_files(results: EvalResultsFile) -> dict[str, str]:
    """The ``.eval_results/*.yaml`` files (release path -> YAML text) of a results file, one per benchmark.

    Each result becomes one entry: the benchmark's Hub dataset id and task id (``benchmark.id`` and
    ``benchmark.task_id``, by default ``dataset.type`` and ``dataset.config`` or ``default``) and
    one metric's value (``benchmark.metric``, by default the first). A result whose dataset is not
    a Hub dataset id (namespace/name) is an error naming it: the Hub shows such scores nowhere.
    """
    entries: dict[str, list[dict[str, Any]]] = {}
    problems: list[CardProblem] = []
    for index, result in enumerate(results.results):
        benchmark: Mapping[str, Any] = result.get("benchmark", {})
        dataset: Mapping[str, Any] = result["dataset"]
        at: tuple[str | int, ...] = ("results", index)
        dataset_id = benchmark.get("id", dataset["type"])
        if not _NAMESPACED_ID.fullmatch(dataset_id):
            problems.append(
                CardProblem(
                    format_path((*at, "dataset", "type")),
                    f"{json.dumps(dataset_id)} is not a Hub dataset id (namespace/name), which .eval_results "
                    "files need: set benchmark.id to the benchmark's dataset repository",
                    results.where((*at, "dataset", "type")),
                )
            )
            continue
        metrics: Sequence[Mapping[str, Any]] = result["metrics"]
        wanted = benchmark.get("metric")
        metric = next((m for m in metrics if m["type"] == wanted), None) if wanted else metrics[0]
        if metric is None:
            known = ", ".join(m["type"] for m in metrics)
            problems.append(
                CardProblem(
                    format_path((*at, "benchmark", "metric")),
                    f"{json.dumps(wanted)} is not the type of one of the result's metrics ({known})",
                    results.where((*at, "benchmark", "metric")),
                )
            )
            continue
        entry: dict[str, Any] = {
            "dataset": {"id": dataset_id, "task_id": benchmark.get("task_id", dataset.get("config", "default"))}
        }
        revision = benchmark.get("revision", dataset.get("revision"))
        if revision is not None:
            entry["dataset"]["revision"] = revision
        entry["value"] = metric["value"]
        if "verifyToken" in metric:
            entry["verifyToken"] = metric["verifyToken"]
        source = result.get("source")
        if source:
            entry["source"] = {k: source[k] for k in ("url", "name") if k in source}
        if "notes" in benchmark:
            entry["notes"] = benchmark["notes"]
        entries.setdefault(dataset_id, []).append(entry)
    if problems:
        raise CardValidationError(
            problems,
            hint=f"Fix {results.path}, or set card.eval_results_dir = false; nothing was rendered or uploaded.",
            what="the evaluation results file",
        )
    return {
        f"{EVAL_RESULTS_DIR}/{dataset_id.replace('/', '__')}.yaml": _yaml_text(listed)
        for dataset_id, listed in sorted(entries.items())
    }


def check_metadata(metadata: CardMetadata, repo_type: str = "model") -> CardCheck:
    """Every error and warning of a model or dataset card's metadata.

    The errors and the Hub's warnings come from :func:`release.card_rules.check_card_data`, the rules
    the Hub emulator's validate-yaml applies too; model-release adds its own advice as warnings (no
    license, an unknown library, no evaluation results, a metric value that is not a number).
    """
    _schema_name(repo_type)  # a CardError naming the repo type, before anything else
    rules = check_card_data(metadata.data, repo_type)
    errors = tuple(CardProblem(p.where(), p.message, _located(metadata, p.anchor or p.path)) for p in rules.errors)
    warnings = [f"{_located(metadata, p.anchor or p.path)}: {p}" for p in rules.warnings]
    data = metadata.data
    if "license" not in data:
        warnings.append(f"{metadata.source}: no license: users cannot know how they may use the {repo_type}")
    if repo_type == "dataset":
        return CardCheck(errors, tuple(warnings))
    library = data.get("library_name")
    known = load_schema(MODEL_CARD_SCHEMA)["$defs"]["knownLibraries"]["enum"]
    if isinstance(library, str) and library and library not in known:
        warnings.append(f"{metadata.source}: library_name {library!r} is not one the Hub knows")
    if "model-index" not in data:
        warnings.append(f"{metadata.source}: no evaluation results (model-index); set card.eval_results")
    for where, value in _metric_values(data.get("model-index")):
        if isinstance(value, bool) or not isinstance(value, int | float):
            warnings.append(
                f"{_located(metadata, where)}: {format_path(where)}: {json.dumps(value, ensure_ascii=False)} is not "
                "a number; the Hub shows it, but leaderboards and tools that compare results skip it"
            )
    return CardCheck(errors, tuple(warnings))


def _located(metadata: CardMetadata, path: Sequence[str | int]) -> str:
    """``source:line`` of the value at ``path`` (the closest parent found), or the source alone."""
    line = metadata.line_of(path)
    return f"{metadata.source}:{line}" if line else metadata.source


def validate_metadata(metadata: CardMetadata, repo_type: str = "model") -> tuple[str, ...]:
    """Raise :class:`CardValidationError` with every problem; return the warnings otherwise."""
    result = check_metadata(metadata, repo_type)
    if result.errors:
        raise CardValidationError(
            result.errors,
            hint=(
                f"Fix the fields above in the front matter of {metadata.source} (the card's metadata, between its "
                "'---' lines); nothing was rendered or uploaded."
                if metadata.body is not None
                else "Fix the fields above; nothing was rendered or uploaded."
            ),
            what=f"the {repo_type} card metadata",
        )
    for warning in result.warnings:
        log.warning("%s", warning)
    return result.warnings


def _schema_name(repo_type: str) -> str:
    try:
        return CARD_SCHEMAS[repo_type]
    except KeyError:
        raise CardError(
            f"no card schema for repo type {repo_type!r} (expected one of: {', '.join(CARD_SCHEMAS)})"
        ) from None


def _metric_values(model_index: object) -> list[tuple[tuple[str | int, ...], object]]:
    """(path, value) of every metric value of a model-index that has the documented shape."""
    found: list[tuple[tuple[str | int, ...], object]] = []
    for i, entry in enumerate(model_index if isinstance(model_index, list) else []):
        results = entry.get("results") if isinstance(entry, dict) else None
        for j, result in enumerate(results if isinstance(results, list) else []):
            metrics = result.get("metrics") if isinstance(result, dict) else None
            for k, metric in enumerate(metrics if isinstance(metrics, list) else []):
                if isinstance(metric, dict) and "value" in metric:
                    found.append((("model-index", i, "results", j, "metrics", k, "value"), metric["value"]))
    return found


class _PlainDumper(yaml.SafeDumper):
    """Writes a value shared by several keys out in full each time: no anchors (``&id001``) or aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _yaml_text(document: Any) -> str:
    return yaml.dump(document, Dumper=_PlainDumper, sort_keys=False, allow_unicode=True, default_flow_style=False)


def render_card(
    metadata: Mapping[str, Any],
    context: Mapping[str, Any],
    template: Path | None = None,
    default_template: str = TEMPLATE_NAME,
) -> str:
    """README.md: YAML front matter from ``metadata``, then the template's body.

    ``template`` is the user's own; without one, the bundled ``default_template`` renders the body.
    """
    # jinja2 takes ~60 ms to import (measured with -X importtime): only the commands that render pay for it.
    from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    search = [str(resource_dir("templates"))]
    name = default_template
    if template is not None:
        if not template.is_file():
            where = "card.template" if default_template == TEMPLATE_NAME else "the dataset's publish.template"
            raise CardError(f"card template {template} does not exist ({where} in the config)")
        search.insert(0, str(template.parent))
        name = template.name
    # Sandboxed: a template taken from elsewhere cannot reach Python's internals (``__class__``, ``__mro__``,
    # ``__globals__``) or change the values it is given; such an attempt is a CardError naming its line.
    env = ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(search),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # Markdown, not HTML
    )
    env.filters["tojson_compact"] = lambda value: json.dumps(value, ensure_ascii=False, sort_keys=True)
    try:
        body = env.get_template(name).render(**context)
    except TemplateError as exc:
        raise CardError(f"card template {_template_location(exc, name)}: {exc}") from exc
    adopted = context.get("body")
    if isinstance(adopted, str) and adopted and adopted not in body:
        raise CardError(
            f"card template {template or name} does not show the body of the adopted card (the Markdown after the "
            "front matter of the card that card.metadata names): add {{ body }} where the author's text goes, as "
            f"the bundled {default_template} does, so that none of it is dropped"
        )
    return f"---\n{_yaml_text(dict(metadata))}---\n\n{body.lstrip()}"


def card_body(metadata: CardMetadata) -> str | None:
    """The adopted card's body as the template shows it: without the blank lines around it; None without one."""
    if metadata.body is None:
        return None
    return _LEADING_BLANK_LINES.sub("", metadata.body).rstrip()


def _template_location(exc: Exception, name: str) -> str:
    """file:line of a template error; Jinja puts template frames into the traceback."""
    filename, lineno = getattr(exc, "filename", None), getattr(exc, "lineno", None)
    if lineno is None:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.endswith(".py")]
        if frames:
            filename, lineno = frames[-1].filename, frames[-1].lineno
    return f"{filename or name}:{lineno or '?'}"


def split_front_matter(text: str, source: str) -> tuple[str | None, str]:
    """The YAML front matter of a card (None if it has none) and the rest, split as the Hub splits them."""
    found = _front_matter(text, source)
    return (None, text) if found is None else (found.yaml_text, found.body)


def read_front_matter(text: str, source: str) -> dict[str, Any] | None:
    """The metadata of a card: its front matter parsed as a YAML mapping; None when it has none.

    Raises :class:`CardValidationError` naming ``source`` and the line when the front matter is not
    closed, not YAML, or not a mapping.
    """
    found = _front_matter(text, source)
    return None if found is None else _parse_yaml_mapping(found.yaml_text, source, line_offset=found.line_offset)


@dataclass(frozen=True)
class _FrontMatter:
    yaml_text: str
    body: str
    line_offset: int  # the lines of the card above the YAML (the opening "---", blank lines before it)


#: The front matter of a README.md as ``huggingface_hub.repocard`` finds it, and so as the Hub reads
#: it: optional blank space, a ``---`` line, the YAML, then a ``---`` line.
_FRONT_MATTER = re.compile(r"^(\s*---(?:\r\n|\r|\n))([\S\s]*?)((?:\r\n|\r|\n)---[ \t]*(\r\n|\n|$))")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t]*(?:\r\n|\r|\n))+")


def _front_matter(text: str, source: str) -> _FrontMatter | None:
    match = _FRONT_MATTER.search(text)
    if match is None:
        lines = text.lstrip().splitlines()
        if lines and lines[0].strip() == "---" and all(line.strip() != "---" for line in lines[1:]):
            problem = CardProblem("(front matter)", "the YAML front matter has no closing '---'", source)
            raise CardValidationError([problem])
        return None
    opening = len(_LINE_BREAK.findall(match.group(1)))
    return _FrontMatter(match.group(2), text[match.end() :], opening)


def check_card_file(path: Path, repo_type: str = "model") -> CardCheck:
    """Validate the metadata of any README.md on disk, including cards written by others."""
    text = _read_text(path, f"{repo_type} card")
    try:
        found = _front_matter(text, str(path))
        if found is None:  # the Hub takes a card without metadata, with this warning
            return CardCheck((), (f"{path}: {EMPTY_METADATA}",))
        data = _parse_yaml_mapping(found.yaml_text, str(path), line_offset=found.line_offset)
    except CardValidationError as exc:
        return CardCheck(exc.problems)
    return check_metadata(CardMetadata(data, str(path), "\n" * found.line_offset + found.yaml_text), repo_type)


@dataclass(frozen=True)
class CardDrift:
    """A rendered file that differs from the one on disk (for ``card --check``)."""

    path: Path
    state: Literal["missing", "differs", "stale"]  # stale: on disk, but no longer rendered
    diff: str  # a short unified diff (empty unless the file differs)


def check_rendered(
    expected: Mapping[Path, str], owned_dirs: Sequence[Path] = (), max_lines: int = 40
) -> list[CardDrift]:
    """How the files on disk differ from what would be rendered; empty when they are identical.

    ``owned_dirs`` are folders whose ``*.yaml`` files model-release writes (``.eval_results/``): a
    file there that is no longer rendered is reported as stale.
    """
    drift: list[CardDrift] = []
    for path, text in sorted(expected.items()):
        try:
            actual = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            drift.append(CardDrift(path, "missing", ""))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            raise CardError(f"cannot read {path}: {exc}") from exc
        if actual != text:
            lines = list(
                difflib.unified_diff(
                    actual.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    fromfile=f"{path} (on disk)",
                    tofile=f"{path} (rendered)",
                    n=1,
                )
            )
            shown = [line if line.endswith("\n") else line + "\n" for line in lines[:max_lines]]
            if len(lines) > max_lines:
                shown.append(f"... ({len(lines) - max_lines} more diff lines)\n")
            drift.append(CardDrift(path, "differs", "".join(shown)))
    for folder in owned_dirs:
        for stale in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            if stale not in expected:
                drift.append(CardDrift(stale, "stale", ""))
    return drift


def yaml_line_of(text: str, path: Sequence[str | int]) -> int | None:
    """The 1-based line of the value at ``path`` in a YAML document (the closest parent found)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)  # no expansion: aliases stay shared nodes
    except (yaml.YAMLError, RecursionError):
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


#: Card metadata larger than this (in characters of YAML) is refused: real cards hold a few kB.
MAX_METADATA_CHARS = 1 << 20
#: At most this many aliases (``*name``) in card metadata: each can repeat a whole subtree.
MAX_YAML_ALIASES = 100
#: At most this many values in card metadata once its aliases are expanded, as any reader of the
#: card (the Hub, a JSON export, the schema check) expands them: an "alias bomb" of a few hundred
#: bytes would expand to billions.
MAX_YAML_NODES = 100_000


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, counting the aliases it composes (:data:`MAX_YAML_ALIASES`)."""

    aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_YAML_ALIASES:
                raise _YamlLimit(f"more than {MAX_YAML_ALIASES} aliases")
        return super().compose_node(parent, index)


class _YamlLimit(Exception):
    """Card metadata beyond one of the limits above (the message says which)."""


def load_bounded_yaml(text: str, source: str) -> Any:
    """``yaml.safe_load`` within the limits on size, aliases and expanded values; CardError naming ``source``
    and the limit beyond them. Raises ``yaml.YAMLError`` for text that is not YAML."""
    try:
        if len(text) > MAX_METADATA_CHARS:
            raise _YamlLimit(f"{len(text):,} characters, more than {MAX_METADATA_CHARS:,}")
        loader = _BoundedLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            if _expanded_size(node, {}) > MAX_YAML_NODES:
                raise _YamlLimit(f"more than {MAX_YAML_NODES:,} values once its aliases are expanded")
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except _YamlLimit as exc:
        raise CardError(
            f"{source}: the card metadata is refused: {exc}. Write the metadata out without YAML anchors and "
            "aliases (&name, *name), as model-release writes cards"
        ) from None
    except RecursionError:
        raise CardError(f"{source}: the card metadata is refused: it nests values too deeply") from None


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many values ``node`` holds with every alias expanded (each shared node counted once, then reused)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    sizes[id(node)] = MAX_YAML_NODES + 1  # a node that holds itself (a recursive alias) expands forever
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, sizes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    sizes[id(node)] = min(size, MAX_YAML_NODES + 1)
    return size


def _parse_yaml_mapping(text: str, source: str, line_offset: int = 0) -> dict[str, Any]:
    try:
        data = load_bounded_yaml(text, source)
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
    "CARD_SCHEMAS",
    "EVAL_RESULTS_DIR",
    "CardCheck",
    "CardDrift",
    "CardMetadata",
    "EvalResultsFile",
    "card_body",
    "check_card_file",
    "check_metadata",
    "check_rendered",
    "eval_results_files",
    "format_path",
    "load_eval_results",
    "load_metadata",
    "read_card",
    "read_front_matter",
    "render_card",
    "split_front_matter",
    "validate_metadata",
    "with_datasets",
    "with_eval_results",
]
