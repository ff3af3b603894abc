#!/usr/bin/env python3
"""Regenerate the enum parts of the card schemas from their public sources.

Three enums in ``schemas/modelcard.schema.json`` are not written by hand:

* ``$defs/pipelineTag``: the keys of ``PIPELINE_DATA``, and
* ``$defs/knownLibraries``: the keys of ``MODEL_LIBRARIES_UI_ELEMENTS``,
  both read from the built ``dist`` files of the ``@huggingface/tasks`` npm package
  (fetched with ``npm pack``), and
* ``$defs/licenseId``: the ids in ``schemas/hub-licenses.json``, a copy of the license table
  of the Hub's documentation (https://huggingface.co/docs/hub/repositories-licenses), which
  no package ships.

Three more in ``schemas/datasetcard.schema.json`` come from the same sources:
``$defs/taskCategory`` (the keys of ``PIPELINE_DATA`` again), ``$defs/knownTaskIds`` (the
``type`` of every ``subtasks`` entry of ``PIPELINE_DATA``, which the package exports as
``SUBTASK_TYPES``) and ``$defs/licenseId``.

Everything else in the schemas is hand-written and is left exactly as it is, including the marks that
make a rule a warning rather than an error (``x-warnings``, ``x-severity``, ``x-fix``; docs/card-rules.md
gives the evidence for each rule, and release/card_rules.py applies them): the script loads
each schema, replaces those ``enum`` lists (sorted) and the top-level ``$comment`` (which
records the package version), and writes it back with 2-space indentation and a trailing
newline. The same inputs always give the same bytes.

Usage (from the repository root)::

    python schemas/generate.py                       # npm pack @huggingface/tasks@latest, rewrite
    python schemas/generate.py --tasks-version 0.21.54
    python schemas/generate.py --tarball huggingface-tasks-0.21.54.tgz   # offline
    python schemas/generate.py --check               # exit 1 if a schema is not current

    # refresh schemas/hub-licenses.json from a copy of the docs page's markdown source
    # (docs/hub/repositories-licenses.md in github.com/huggingface/hub-docs), then regenerate:
    python schemas/generate.py --licenses-markdown repositories-licenses.md \\
        --licenses-commit <hub-docs commit> --tarball ...

Only the standard library is used. When ``node`` is on PATH (it is wherever ``npm`` is), the
ids read from the JavaScript text are cross-checked against what node itself evaluates from
the same files (``--node-check never`` turns that off).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

HERE = Path(__file__).resolve().parent
SCHEMA_PATH = HERE / "modelcard.schema.json"
DATASET_SCHEMA_PATH = HERE / "datasetcard.schema.json"
LICENSES_PATH = HERE / "hub-licenses.json"

PACKAGE = "@huggingface/tasks"
PIPELINE_CONST = "PIPELINE_DATA"
LIBRARIES_CONST = "MODEL_LIBRARIES_UI_ELEMENTS"
SUBTASKS_CONST = "SUBTASK_TYPES"

#: Which ``$defs`` entry of the schema holds which generated enum.
PIPELINE_DEF = "pipelineTag"
LIBRARIES_DEF = "knownLibraries"
LICENSES_DEF = "licenseId"
#: The same for the dataset-card schema (its licenseId is the same enum as the model card's).
TASK_CATEGORY_DEF = "taskCategory"
TASK_IDS_DEF = "knownTaskIds"

LICENSES_PAGE = "https://huggingface.co/docs/hub/repositories-licenses"
LICENSES_MARKDOWN = "https://github.com/huggingface/hub-docs/blob/main/docs/hub/repositories-licenses.md"

# Sanity patterns for extracted ids: a parse that went astray yields text that fails them.
_PIPELINE_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_LIBRARY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_LICENSE_ID = re.compile(r"[a-z0-9][a-z0-9.+-]*")
# Fewer ids than this means the dist layout changed under us, not that the Hub shrank.
_MIN_IDS = 10


# --------------------------------------------------------------------------------------------
# Reading the top-level keys of an object literal out of built JavaScript
# --------------------------------------------------------------------------------------------

_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


def _declaration(name: str) -> re.Pattern[str]:
    """``export const NAME = {`` (ESM), ``const NAME = {`` or ``exports.NAME = {`` (CommonJS)."""
    n = re.escape(name)
    return re.compile(rf"(?:\b(?:const|let|var)\s+{n}|\bexports\.{n})\s*=\s*\{{")


def _unescape(raw: str) -> str:
    def one(match: re.Match[str]) -> str:
        esc = match.group(1)
        if esc[0] in "ux" and len(esc) > 1:
            return chr(int(esc[1:], 16))
        return _SIMPLE_ESCAPES.get(esc, esc)

    return _ESCAPE.sub(one, raw)


def _skip_space(src: str, i: int) -> int:
    """Past whitespace and comments."""
    n = len(src)
    while i < n:
        if src[i].isspace():
            i += 1
        elif src.startswith("//", i):
            end = src.find("\n", i)
            i = n if end < 0 else end + 1
        elif src.startswith("/*", i):
            end = src.find("*/", i + 2)
            if end < 0:
                raise ValueError(f"unterminated comment at offset {i}")
            i = end + 2
        else:
            break
    return i


def _read_string(src: str, i: int) -> tuple[str, int]:
    """The decoded text of the '...' or "..." literal at ``i``, and the offset past it."""
    quote = src[i]
    j = i + 1
    n = len(src)
    while j < n:
        c = src[j]
        if c == "\\":
            j += 2
        elif c == quote:
            return _unescape(src[i + 1 : j]), j + 1
        elif c == "\n":
            break
        else:
            j += 1
    raise ValueError(f"unterminated string literal at offset {i}")


def _skip_template(src: str, i: int) -> int:
    """The offset past the `...` template literal at ``i`` (``${...}`` parts included)."""
    j = i + 1
    n = len(src)
    while j < n:
        c = src[j]
        if c == "\\":
            j += 2
        elif c == "`":
            return j + 1
        elif src.startswith("${", j):
            j = _skip_balanced(src, j + 1)
        else:
            j += 1
    raise ValueError(f"unterminated template literal at offset {i}")


def _skip_balanced(src: str, i: int) -> int:
    """The offset past the bracket group opened at ``i`` (strings, templates, comments skipped)."""
    closers = {"{": "}", "[": "]", "(": ")"}
    stack = [closers[src[i]]]
    j = i + 1
    n = len(src)
    while j < n:
        j = _skip_space(src, j)
        if j >= n:
            break
        c = src[j]
        if c in "'\"":
            _, j = _read_string(src, j)
        elif c == "`":
            j = _skip_template(src, j)
        elif c in closers:
            stack.append(closers[c])
            j += 1
        elif c in ")]}":
            if c != stack.pop():
                raise ValueError(f"unbalanced {c!r} at offset {j}")
            j += 1
            if not stack:
                return j
        else:
            j += 1
    raise ValueError(f"unterminated bracket group at offset {i}")


def object_literal_keys(source: str, name: str) -> list[str]:
    """The top-level keys, in source order, of the object literal assigned to ``name`` in ``source``.

    ``source`` is built JavaScript (``export const NAME = { key: value, "other-key": {...}, ... }``).
    Keys must be plain identifiers or string literals; a spread, computed key, shorthand property
    or method raises ``ValueError`` rather than being guessed at. Values are skipped with bracket
    matching that understands strings, template literals and comments (not regular-expression
    literals, which the data files this reads do not use; the node cross-check catches that).
    """
    return [key for key, _ in object_literal_items(source, name)]


def object_literal_items(source: str, name: str) -> list[tuple[str, str]]:
    """The top-level ``(key, value source text)`` pairs of the object literal assigned to ``name``."""
    found = list(_declaration(name).finditer(source))
    if not found:
        raise ValueError(f"no object literal assigned to {name} found")
    if len(found) > 1:
        raise ValueError(f"{name} is assigned an object literal {len(found)} times")
    items, _ = _object_items(source, found[0].end(), name)  # just past the opening brace
    return items


def _object_items(src: str, i: int, name: str) -> tuple[list[tuple[str, str]], int]:
    """The properties of the object literal whose ``{`` is just before ``i``, and the offset past its ``}``."""
    items: list[tuple[str, str]] = []
    n = len(src)
    while True:
        i = _skip_space(src, i)
        if i >= n:
            raise ValueError(f"{name}: unterminated object literal")
        c = src[i]
        if c == "}":
            return items, i + 1
        if c in "'\"":
            key, i = _read_string(src, i)
        elif (ident := _IDENT.match(src, i)) is not None:
            key, i = ident.group(), ident.end()
        else:
            raise ValueError(f"{name}: unsupported property syntax at offset {i}: {src[i : i + 20]!r}")
        i = _skip_space(src, i)
        if i >= n or src[i] != ":":
            raise ValueError(f"{name}: expected ':' after key {key!r} (shorthand or method property?)")
        start = i + 1
        i = _skip_value(src, start, name)
        items.append((key, src[start:i].strip()))
        i = _skip_space(src, i)
        if i < n and src[i] == ",":
            i += 1
        elif i < n and src[i] == "}":
            return items, i + 1
        else:
            raise ValueError(f"{name}: expected ',' or '}}' after the value of {key!r}")


def _array_items(text: str, name: str) -> list[str]:
    """The element source texts of the array literal ``text`` (``[a, {...}, "b"]``)."""
    if not text.startswith("["):
        raise ValueError(f"{name}: expected an array literal, found {text[:20]!r}")
    items: list[str] = []
    i, n = 1, len(text)
    while True:
        i = _skip_space(text, i)
        if i >= n:
            raise ValueError(f"{name}: unterminated array literal")
        if text[i] == "]":
            return items
        start = i
        i = _skip_value(text, start, name, closers=",]")
        items.append(text[start:i].strip())
        if i < n and text[i] == ",":
            i += 1


def pipeline_subtask_types(source: str) -> list[str]:
    """The ``type`` of every entry of every ``subtasks`` list in ``PIPELINE_DATA``, in source order.

    These are what ``SUBTASK_TYPES`` evaluates to: the dataset cards' known ``task_ids``.
    """
    types: list[str] = []
    for key, value in object_literal_items(source, PIPELINE_CONST):
        if not value.startswith("{"):
            raise ValueError(f"{PIPELINE_CONST}.{key}: expected an object literal")
        fields, _ = _object_items(value, 1, f"{PIPELINE_CONST}.{key}")
        subtasks = dict(fields).get("subtasks")
        if subtasks is None:
            continue
        for element in _array_items(subtasks, f"{PIPELINE_CONST}.{key}.subtasks"):
            if not element.startswith("{"):
                raise ValueError(f"{PIPELINE_CONST}.{key}.subtasks: expected object literals")
            entry = dict(_object_items(element, 1, f"{PIPELINE_CONST}.{key}.subtasks")[0])
            kind = entry.get("type", "")
            if not kind or kind[0] not in "'\"":
                raise ValueError(f"{PIPELINE_CONST}.{key}.subtasks: an entry's type is not a string literal")
            types.append(_read_string(kind, 0)[0])
    return types


def _skip_value(src: str, i: int, name: str, closers: str = ",}") -> int:
    """The offset of the ',' or '}' (or another of ``closers``) that ends the value starting at ``i``."""
    n = len(src)
    while True:
        i = _skip_space(src, i)
        if i >= n:
            raise ValueError(f"{name}: unterminated object literal")
        c = src[i]
        if c in closers:
            return i
        if c in "'\"":
            _, i = _read_string(src, i)
        elif c == "`":
            i = _skip_template(src, i)
        elif c in "{[(":
            i = _skip_balanced(src, i)
        elif c in ")]}":
            raise ValueError(f"{name}: unbalanced {c!r} at offset {i}")
        else:
            i += 1


def find_object_keys(files: Mapping[str, str], name: str) -> tuple[str, list[str]]:
    """The one ``.js`` file among ``files`` (path -> text) that assigns ``name``, and its keys."""
    pattern = _declaration(name)
    hits = sorted(path for path, text in files.items() if path.endswith(".js") and pattern.search(text))
    if len(hits) != 1:
        raise ValueError(f"expected exactly one .js file assigning {name}, found {hits or 'none'}")
    return hits[0], object_literal_keys(files[hits[0]], name)


def checked_ids(ids: Iterable[str], pattern: re.Pattern[str], what: str) -> list[str]:
    """``ids`` sorted and de-duplicated, after checking each one looks like an id."""
    unique = sorted(set(ids))
    bad = [i for i in unique if not pattern.fullmatch(i)]
    if bad:
        raise ValueError(f"{what}: unexpected ids {bad[:5]} (did the source format change?)")
    return unique


# --------------------------------------------------------------------------------------------
# The Hub's license table
# --------------------------------------------------------------------------------------------

_LICENSE_ROW = re.compile(r"^\|\s*(?P<name>.+?)\s*\|\s*`(?P<id>[^`]+)`\s*\|(?P<rest>.*)$")
_LICENSE_LINK = re.compile(r"<!--\s*license:\s*(?P<url>\S+)\s*-->")


def parse_license_table(markdown: str) -> list[dict[str, str]]:
    """The rows of the license table in the Hub docs' ``repositories-licenses.md``, in table order.

    The table sits between ``<!-- region licenses -->`` and ``<!-- endregion -->``; each row is
    ``| Full name | `id` |``, optionally followed by ``<!-- license: URL -->``.
    """
    start = markdown.find("<!-- region licenses -->")
    end = markdown.find("<!-- endregion -->", start)
    if start < 0 or end < 0:
        raise ValueError("no '<!-- region licenses -->' ... '<!-- endregion -->' block found")
    rows: list[dict[str, str]] = []
    for line in markdown[start:end].splitlines():
        match = _LICENSE_ROW.match(line.strip())
        if match is None:
            continue
        row = {"id": match["id"].strip(), "name": re.sub(r"\\(.)", r"\1", match["name"])}
        link = _LICENSE_LINK.search(match["rest"])
        if link is not None:
            row["link"] = link["url"]
        rows.append(row)
    ids = [r["id"] for r in rows]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate license ids in the table: {sorted({i for i in ids if ids.count(i) > 1})}")
    checked_ids(ids, _LICENSE_ID, "license table")
    if len(rows) < _MIN_IDS:
        raise ValueError(f"only {len(rows)} license rows found; did the page's format change?")
    return rows


def licenses_document(rows: Sequence[Mapping[str, str]], *, commit: str, retrieved: str) -> dict[str, Any]:
    """The content of ``schemas/hub-licenses.json`` for the given table rows."""
    return {
        "$comment": (
            "The Hub's license identifiers, copied from the license table of its documentation. "
            "schemas/generate.py turns the ids into the license enum of modelcard.schema.json. "
            "To update: edit this file by hand, or rerun generate.py with --licenses-markdown on a "
            "fresh copy of the page's markdown source."
        ),
        "source": LICENSES_PAGE,
        "source_markdown": LICENSES_MARKDOWN,
        "source_commit": commit,
        "retrieved": retrieved,
        "licenses": [dict(row) for row in rows],
    }


def license_ids(document: Mapping[str, Any]) -> list[str]:
    """The sorted license ids of a ``hub-licenses.json`` document."""
    return checked_ids((row["id"] for row in document["licenses"]), _LICENSE_ID, "hub-licenses.json")


# --------------------------------------------------------------------------------------------
# The schema
# --------------------------------------------------------------------------------------------


def schema_comment(tasks_version: str, licenses: Mapping[str, Any]) -> str:
    return (
        "Partly generated by schemas/generate.py; edit the rest by hand. "
        f"The enums of $defs/{PIPELINE_DEF} and $defs/{LIBRARIES_DEF} are the keys of "
        f"{PIPELINE_CONST} and {LIBRARIES_CONST} in the npm package {PACKAGE}@{tasks_version}; "
        f"the enum of $defs/{LICENSES_DEF} is the ids of schemas/hub-licenses.json "
        f"({licenses['source']}, retrieved {licenses['retrieved']}). "
        "Rerun the script to refresh them."
    )


def update_schema(
    schema: Mapping[str, Any],
    *,
    tasks_version: str,
    pipeline_tags: Iterable[str],
    libraries: Iterable[str],
    licenses: Mapping[str, Any],
) -> dict[str, Any]:
    """A copy of ``schema`` with the generated enums and ``$comment`` replaced; nothing else changes."""
    new = copy.deepcopy(dict(schema))
    defs = new.get("$defs", {})
    for key in (PIPELINE_DEF, LIBRARIES_DEF, LICENSES_DEF):
        if not isinstance(defs.get(key), dict) or "enum" not in defs[key]:
            raise ValueError(f"the schema has no $defs/{key} with an enum to replace")
    defs[PIPELINE_DEF]["enum"] = checked_ids(pipeline_tags, _PIPELINE_ID, PIPELINE_CONST)
    defs[LIBRARIES_DEF]["enum"] = checked_ids(libraries, _LIBRARY_ID, LIBRARIES_CONST)
    defs[LICENSES_DEF]["enum"] = license_ids(licenses)
    new["$comment"] = schema_comment(tasks_version, licenses)
    return new


def dataset_schema_comment(tasks_version: str, licenses: Mapping[str, Any]) -> str:
    return (
        "Partly generated by schemas/generate.py; edit the rest by hand. "
        f"The enum of $defs/{TASK_CATEGORY_DEF} is the keys of {PIPELINE_CONST} and the enum of "
        f"$defs/{TASK_IDS_DEF} is the subtask types ({SUBTASKS_CONST}) of {PIPELINE_CONST}, in the npm "
        f"package {PACKAGE}@{tasks_version}; the enum of $defs/{LICENSES_DEF} is the ids of "
        f"schemas/hub-licenses.json ({licenses['source']}, retrieved {licenses['retrieved']}). "
        "Rerun the script to refresh them."
    )


def update_dataset_schema(
    schema: Mapping[str, Any],
    *,
    tasks_version: str,
    pipeline_tags: Iterable[str],
    subtask_types: Iterable[str],
    licenses: Mapping[str, Any],
) -> dict[str, Any]:
    """A copy of the dataset-card ``schema`` with its generated enums and ``$comment`` replaced."""
    new = copy.deepcopy(dict(schema))
    defs = new.get("$defs", {})
    for key in (TASK_CATEGORY_DEF, TASK_IDS_DEF, LICENSES_DEF):
        if not isinstance(defs.get(key), dict) or "enum" not in defs[key]:
            raise ValueError(f"the dataset schema has no $defs/{key} with an enum to replace")
    defs[TASK_CATEGORY_DEF]["enum"] = checked_ids(pipeline_tags, _PIPELINE_ID, PIPELINE_CONST)
    defs[TASK_IDS_DEF]["enum"] = checked_ids(subtask_types, _PIPELINE_ID, SUBTASKS_CONST)
    defs[LICENSES_DEF]["enum"] = license_ids(licenses)
    new["$comment"] = dataset_schema_comment(tasks_version, licenses)
    return new


def render(document: Any) -> str:
    """Deterministic JSON text: 2-space indent, key order kept, UTF-8 as is, trailing newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------------------------
# The npm package
# --------------------------------------------------------------------------------------------


def read_tarball(data: bytes) -> tuple[str, dict[str, str]]:
    """The version and the ``dist/**/*.js`` texts (keyed by path inside the package) of an npm tarball."""
    files: dict[str, str] = {}
    version = ""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            path = member.name.split("/", 1)[1] if "/" in member.name else member.name
            wanted = path == "package.json" or (path.startswith("dist/") and path.endswith(".js"))
            if not wanted:
                continue
            handle = tar.extractfile(member)
            if handle is None:
                continue
            text = handle.read().decode("utf-8")
            if path == "package.json":
                version = str(json.loads(text)["version"])
            else:
                files[path] = text
    if not version:
        raise ValueError("the tarball has no package/package.json with a version")
    return version, files


def dist_files(files: Mapping[str, str]) -> dict[str, str]:
    """The ESM build when there is one (else everything): one copy of each constant to read."""
    esm = {p: t for p, t in files.items() if p.startswith("dist/esm/")}
    return esm or dict(files)


def npm_pack(spec: str, dest: Path) -> Path:
    """``npm pack SPEC`` into ``dest``; the tarball's path."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is not on PATH (needed to download the package; or pass --tarball)")
    result = subprocess.run(
        [npm, "pack", spec, "--json", "--pack-destination", str(dest)],
        check=True,
        capture_output=True,
        text=True,
        cwd=dest,
    )
    info = json.loads(result.stdout)
    return dest / str(info[0]["filename"])


_NODE_SCRIPT = """
import { pathToFileURL } from "node:url";
const [file, ...names] = process.argv.slice(1);
const mod = await import(pathToFileURL(file).href);
const out = {};
for (const name of names) {
  const value = mod[name];
  out[name] = value === undefined ? null : Array.isArray(value) ? value : Object.keys(value);
}
process.stdout.write(JSON.stringify(out));
"""


def node_keys(tarball: Path, wanted: Mapping[str, str]) -> dict[str, list[str] | None] | None:
    """What node evaluates ``Object.keys(NAME)`` (an array: NAME itself) to, for each NAME -> dist file.

    None without node; a NAME the file does not export maps to None.
    """
    node = shutil.which("node")
    if node is None:
        return None
    out: dict[str, list[str] | None] = {}
    with tempfile.TemporaryDirectory(prefix="modelcard-schema-node-") as tmp:
        with tarfile.open(tarball, mode="r:gz") as tar:
            tar.extractall(tmp, filter="data")
        for name, path in wanted.items():
            result = subprocess.run(
                [node, "--input-type=module", "-e", _NODE_SCRIPT, str(Path(tmp) / "package" / path), name],
                check=True,
                capture_output=True,
                text=True,
            )
            out.update(json.loads(result.stdout))
    return out


class TasksData(NamedTuple):
    """What the schemas take from one ``@huggingface/tasks`` package."""

    version: str
    pipeline_tags: list[str]
    libraries: list[str]
    subtask_types: list[str]


def extract_from_tarball(tarball: Path, node_check: str) -> TasksData:
    """The version, pipeline tags, library ids and subtask types of a ``@huggingface/tasks`` tarball."""
    version, files = read_tarball(tarball.read_bytes())
    files = dist_files(files)
    pipeline_file, pipeline = find_object_keys(files, PIPELINE_CONST)
    libraries_file, libraries = find_object_keys(files, LIBRARIES_CONST)
    subtasks = pipeline_subtask_types(files[pipeline_file])
    for what, ids in ((PIPELINE_CONST, pipeline), (LIBRARIES_CONST, libraries)):
        if len(set(ids)) < _MIN_IDS:
            raise ValueError(f"only {len(set(ids))} keys read from {what}; did the package's layout change?")
    if node_check != "never":
        wanted = {PIPELINE_CONST: pipeline_file, LIBRARIES_CONST: libraries_file, SUBTASKS_CONST: pipeline_file}
        evaluated = node_keys(tarball, wanted)
        if evaluated is None:
            if node_check == "always":
                raise SystemExit("--node-check always: node is not on PATH")
            print("note: node not found; the ids read from the JS text were not cross-checked", file=sys.stderr)
        else:
            for name, ids in ((PIPELINE_CONST, pipeline), (LIBRARIES_CONST, libraries), (SUBTASKS_CONST, subtasks)):
                from_node = evaluated.get(name)
                if from_node is None:
                    if name == SUBTASKS_CONST:  # an older package without the export: the parse stands alone
                        print(f"note: {pipeline_file} exports no {name}; subtasks not cross-checked", file=sys.stderr)
                        continue
                    raise ValueError(f"node found no {name} in {wanted[name]}")
                if sorted(set(from_node)) != sorted(set(ids)):
                    only_text = sorted(set(ids) - set(from_node))
                    only_node = sorted(set(from_node) - set(ids))
                    raise ValueError(
                        f"{name}: the text parse and node disagree "
                        f"(only in the parse: {only_text}; only in node: {only_node})"
                    )
    return TasksData(version, pipeline, libraries, subtasks)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks-version", default="latest", help=f"version or tag of {PACKAGE} (default: latest)")
    parser.add_argument("--tarball", type=Path, help=f"a local {PACKAGE} .tgz to read instead of running npm pack")
    parser.add_argument("--schema", type=Path, default=SCHEMA_PATH, help="the model-card schema to update in place")
    parser.add_argument(
        "--dataset-schema", type=Path, default=DATASET_SCHEMA_PATH, help="the dataset-card schema to update in place"
    )
    parser.add_argument("--licenses", type=Path, default=LICENSES_PATH, help="the license data file")
    parser.add_argument(
        "--licenses-markdown",
        type=Path,
        help="rewrite the license data file from this copy of the docs page's markdown source first",
    )
    parser.add_argument("--licenses-commit", default="", help="hub-docs commit the markdown was taken from")
    parser.add_argument("--retrieved", help="date the markdown was retrieved (YYYY-MM-DD; default: today)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file would change")
    parser.add_argument(
        "--node-check",
        choices=("auto", "always", "never"),
        default="auto",
        help="cross-check the extracted ids by evaluating the dist files with node (default: when found)",
    )
    args = parser.parse_args(argv)

    changed: list[Path] = []

    licenses_text = args.licenses.read_text(encoding="utf-8") if args.licenses.exists() else ""
    if args.licenses_markdown is not None:
        rows = parse_license_table(args.licenses_markdown.read_text(encoding="utf-8"))
        retrieved = args.retrieved or datetime.datetime.now(datetime.UTC).date().isoformat()
        new_licenses = render(licenses_document(rows, commit=args.licenses_commit, retrieved=retrieved))
        if new_licenses != licenses_text:
            changed.append(args.licenses)
            if not args.check:
                args.licenses.write_text(new_licenses, encoding="utf-8")
        licenses_text = new_licenses
    licenses = json.loads(licenses_text)

    with tempfile.TemporaryDirectory(prefix="modelcard-schema-") as tmp:
        tarball = args.tarball or npm_pack(f"{PACKAGE}@{args.tasks_version}", Path(tmp))
        tasks = extract_from_tarball(tarball, args.node_check)

    updates = (
        (
            args.schema,
            lambda schema: update_schema(
                schema,
                tasks_version=tasks.version,
                pipeline_tags=tasks.pipeline_tags,
                libraries=tasks.libraries,
                licenses=licenses,
            ),
        ),
        (
            args.dataset_schema,
            lambda schema: update_dataset_schema(
                schema,
                tasks_version=tasks.version,
                pipeline_tags=tasks.pipeline_tags,
                subtask_types=tasks.subtask_types,
                licenses=licenses,
            ),
        ),
    )
    for path, update in updates:
        old_text = path.read_text(encoding="utf-8")
        new_text = render(update(json.loads(old_text)))
        if new_text != old_text:
            changed.append(path)
            if not args.check:
                path.write_text(new_text, encoding="utf-8")

    print(
        f"{PACKAGE}@{tasks.version}: {len(set(tasks.pipeline_tags))} pipeline tags, "
        f"{len(set(tasks.libraries))} libraries, {len(set(tasks.subtask_types))} subtask types; "
        f"{len(licenses['licenses'])} licenses (retrieved {licenses['retrieved']})"
    )
    for path in changed:
        print(f"{'would change' if args.check else 'updated'}: {path}")
    if not changed:
        print("up to date")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
