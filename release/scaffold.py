"""``model-release init``: adopt model-release in an existing model project.

:func:`scan_project` reads the project: its weights, its data folders, its declared dependencies.
:func:`plan_scaffold` turns what was found into the files to write, rendered from the bundled
``templates/project/``; it is pure. :func:`apply_scaffold` writes the files that do not exist yet
and never touches an existing one. :func:`lock_missing` locks what has no lock yet, so that the
release's dry run can follow.

A project whose weights come with their model card (a ``README.md`` with YAML front matter, in the
model folder or at the project's root, as a model downloaded from the Hub has) keeps it: ``init``
points ``card.metadata`` at it, so its front matter stays the card's metadata and its text comes
first in the released card (:func:`find_card`).
"""

from __future__ import annotations

import fnmatch
import json
import os
import posixpath
import re
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from release import __version__
from release.card import check_metadata, read_card
from release.checkpoint import SAFETENSORS_SUFFIX, SHARD_INDEX_SUFFIX
from release.config import Config
from release.errors import CardError, CardValidationError, UsageError
from release.libraries import LAYOUT_MARKERS, ModelLayout, WeightKind, read_layout, weight_kind
from release.lock.pip import PipIndex, lock_requirements, parse_lock_header
from release.pipeline import conda_options
from release.resources import resource_dir
from release.schema import load_schema
from release.sizes import format_size
from release.stage import CARD_PATH

DEFAULT_VERSION = "0.1.0"
PLACEHOLDER_NAMESPACE = "your-username"
CARD_OUTPUT = "MODEL_CARD.md"
#: The name of a model card on the Hub: adopted by ``init`` when it has front matter.
CARD_NAME = "README.md"
#: Folders with one of these names (at most two levels down) are datasets.
DATA_DIR_NAMES = frozenset({"data", "dataset", "datasets"})
_SKIP_DIRS = frozenset(
    {"__pycache__", "node_modules", "site-packages", "build", "dist", "wandb", "mlruns", "lightning_logs"}
)
_WEIGHTS_MAX_DEPTH = 4
_DATA_MAX_DEPTH = 2
_NAME_PATTERN = re.compile(r"[^A-Za-z0-9._-]+")
_VERSION_PATTERN = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]*$")


@dataclass(frozen=True)
class WeightsFolder:
    """A folder holding weight files (in it, or in the module or component folders its layout names)."""

    dir: str  # POSIX, relative to the project; "." for its root
    files: tuple[tuple[str, WeightKind, int], ...]  # (path in dir, kind, size), sorted by path
    companions: tuple[str, ...] = ()  # the files besides the weights that loading needs (its layout's)
    layout: ModelLayout = field(default_factory=ModelLayout)
    present: tuple[str, ...] = ()  # every file init saw in the folder, weights and all

    @property
    def size(self) -> int:
        return sum(size for _, kind, size in self.files if not kind.endswith("-index"))

    def names(self, *kinds: WeightKind) -> list[str]:
        return [name for name, kind, _ in self.files if kind in kinds]

    @property
    def rank(self) -> int:
        """0: safetensors, 1: ONNX or GGUF, 2: pickles only (the safest format wins)."""
        if self.names("safetensors"):
            return 0
        return 1 if self.names("other") else 2


@dataclass(frozen=True)
class DataFolder:
    dir: str  # POSIX, relative to the project
    name: str  # the dataset's name in the release (datasets/<name>.sha256)
    files: int
    size: int


@dataclass(frozen=True)
class AdoptedCard:
    """The model card ``init`` adopts: ``card.metadata`` names it. Built by :func:`find_card`."""

    path: str  # POSIX, relative to the project
    fields: tuple[str, ...]  # the top-level fields of its front matter, in its order
    license: str | None  # its license, when it is one id of the Hub's table
    problems: tuple[str, ...] = ()  # what the card stage will refuse in its front matter, each with its fix


@dataclass(frozen=True)
class ProjectScan:
    """What ``init`` found in a project. Built by :func:`scan_project`."""

    root: Path
    name: str
    version: str
    summary: str | None
    license: str | None  # a license id of the Hub's table, when the project declares a known one
    requirements: tuple[str, ...]
    requirements_source: str | None  # where they were declared; None: nowhere
    weights: tuple[WeightsFolder, ...]  # the folder to release first
    datasets: tuple[DataFolder, ...]
    config_in_pyproject: bool  # pyproject.toml has a [tool.release] table
    foreign_requirements_txt: bool  # requirements.txt exists and is not a model-release lock
    existing: frozenset[str]  # the files init may write, and the card's output, that exist already
    card: AdoptedCard | None = None  # the model card that came with the weights, adopted as the card


@dataclass(frozen=True)
class ModelChoice:
    dir: str
    include: tuple[str, ...]
    notes: tuple[str, ...]
    layout: ModelLayout = field(default_factory=ModelLayout)
    unreleased: tuple[str, ...] = ()  # files in dir that include leaves out


@dataclass(frozen=True)
class ScaffoldFile:
    path: str  # POSIX, relative to the project
    text: str


@dataclass(frozen=True)
class ScaffoldPlan:
    """Every file ``init`` would write, and the choices behind release.toml."""

    root: Path
    files: tuple[ScaffoldFile, ...]
    repo_id: str
    model: ModelChoice | None
    datasets: tuple[DataFolder, ...]
    card_output: str | None
    install_spec: str


@dataclass(frozen=True)
class ScaffoldOutcome:
    created: tuple[str, ...]
    kept: tuple[str, ...]  # existed already: left exactly as they were


# Paths init writes, and the template each comes from (None: a copy of the bundled card template; not
# ending in .j2: copied as it is). release-tools.txt is model-release's own .ci/tools.txt: what the
# workflows install, nox and uv, pinned with their hashes.
_FILES: tuple[tuple[str, str | None], ...] = (
    ("release.toml", "release.toml.j2"),
    ("requirements.in", "requirements.in.j2"),
    ("noxfile.py", "noxfile.py.j2"),
    ("templates/README.md.j2", None),
    (".github/workflows/release.yml", "github/workflows/release.yml.j2"),
    (".github/workflows/release-checks.yml", "github/workflows/release-checks.yml.j2"),
    (".github/release-tools.txt", "github/release-tools.txt"),
    (".gitignore", "gitignore.j2"),
)


#: What init and the release write into the project: never a file of a model folder at its root.
_PROJECT_FILES = frozenset(
    {path for path, _ in _FILES}
    | {CARD_OUTPUT, "requirements.txt", "environment.json", "environment.yml", "conda-lock.yml"}
)


# --- reading the project ------------------------------------------------------------------------


def scan_project(root: Path) -> ProjectScan:
    """Read what ``init`` needs: the project's metadata, weights, data folders and dependencies."""
    if not root.is_dir():
        raise UsageError(f"{root} is not a folder: `model-release init` adopts an existing project")
    pyproject = _read_pyproject(root / "pyproject.toml")
    declared = pyproject.get("project")
    project: dict[str, Any] = declared if isinstance(declared, dict) else {}
    tool = pyproject.get("tool")
    version = project.get("version")
    summary = project.get("description")
    requirements, source, foreign = _declared_requirements(root, project)
    weights, data_dirs = _walk(root)
    candidates = [path for path, _ in _FILES] + [CARD_OUTPUT]
    card = find_card(root, weights[0].dir if weights else None)
    declared_license = _hub_license(project.get("license"))
    return ProjectScan(
        root=root,
        name=str(project.get("name") or root.resolve().name),
        version=version if isinstance(version, str) and _VERSION_PATTERN.match(version) else DEFAULT_VERSION,
        summary=summary.strip() if isinstance(summary, str) and summary.strip() else None,
        license=card.license if card is not None and card.license else declared_license,
        requirements=requirements,
        requirements_source=source,
        weights=weights,
        datasets=_data_folders(root, data_dirs, weights[0].dir if weights else None),
        config_in_pyproject=isinstance(tool, dict) and "release" in tool,
        foreign_requirements_txt=foreign,
        existing=frozenset(p for p in candidates if (root / p).exists() or (root / p).is_symlink()),
        card=card,
    )


def find_card(root: Path, model_dir: str | None) -> AdoptedCard | None:
    """The model card that came with the weights: ``README.md`` with YAML front matter, in the model
    folder or else at the project's root; None when neither has one (a README without front matter
    is a project's README, not a model card).

    Its front matter is checked as the card stage will check it, so that ``init`` reports every
    invalid field with its fix; the card is adopted all the same, never with a field dropped.
    """
    folders = [model_dir] if model_dir not in (None, ".") else []
    for folder in [*folders, "."]:
        path = root / folder / CARD_NAME
        if not path.is_file():
            continue
        relative = (Path(folder) / CARD_NAME).as_posix()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        try:
            metadata = read_card(text, relative)
        except CardValidationError as exc:  # front matter that is not a YAML mapping: the card step names it
            return AdoptedCard(relative, (), None, tuple(str(problem) for problem in exc.problems))
        except CardError:
            continue  # no front matter
        license = metadata.data.get("license")
        problems = check_metadata(metadata).errors
        valid_license = isinstance(license, str) and not any(p.path == "license" for p in problems)
        return AdoptedCard(
            relative,
            tuple(str(key) for key in metadata.data),
            license if valid_license and isinstance(license, str) else None,
            tuple(str(problem) for problem in problems),
        )
    return None


def install_spec(env: Mapping[str, str]) -> str:
    """How a project's noxfile installs this model-release.

    ``MODEL_RELEASE_SPEC`` when set; else this source checkout when running from one; else where
    the installed distribution came from (a folder, a wheel, a git URL: PEP 610's
    ``direct_url.json``); else ``model-release==VERSION`` from the package index.
    """
    if env.get("MODEL_RELEASE_SPEC"):
        return env["MODEL_RELEASE_SPEC"]
    source = Path(__file__).resolve().parent.parent
    if _is_model_release_checkout(source):
        return str(source)
    try:
        distribution = metadata.distribution("model-release")
    except metadata.PackageNotFoundError:
        return f"model-release=={__version__}"
    return _direct_url_spec(distribution.read_text("direct_url.json")) or f"model-release=={distribution.version}"


# --- planning -----------------------------------------------------------------------------------


def plan_scaffold(scan: ProjectScan, *, spec: str, python: str, repo_id: str | None = None) -> ScaffoldPlan:
    """The files to write into the project, rendered. Pure: reads only the bundled templates."""
    model = choose_model(scan.weights)
    card_output = None if CARD_OUTPUT in scan.existing else CARD_OUTPUT
    guessed = repo_id is None
    repo_id = repo_id or f"{PLACEHOLDER_NAMESPACE}/{_slug(scan.name, 'model')}"
    context: dict[str, Any] = {
        "name": scan.name,
        "repo_id": repo_id,
        "repo_id_guessed": guessed,
        "version": scan.version,
        "model": model,
        "datasets": scan.datasets,
        "card_output": card_output,
        "card": scan.card,
        "license": scan.license,
        "summary": scan.summary,
        "requirements": scan.requirements,
        "source": scan.requirements_source,
        "python": python,
        "spec": spec,
    }
    files = []
    for path, template in _FILES:
        if path == "release.toml" and scan.config_in_pyproject:
            continue  # the configuration is pyproject.toml's [tool.release]: a release.toml would shadow it
        if template is None:
            text = (resource_dir("templates") / "README.md.j2").read_text(encoding="utf-8")
        elif not template.endswith(".j2"):
            text = (resource_dir("templates") / "project" / template).read_text(encoding="utf-8")
        else:
            text = _render(template, context)
        files.append(ScaffoldFile(path, text))
    return ScaffoldPlan(scan.root, tuple(files), repo_id, model, scan.datasets, card_output, spec)


def choose_model(weights: Sequence[WeightsFolder]) -> ModelChoice | None:
    """The folder to release and its include globs.

    In each folder holding weights (the model's, and each of its module or component folders) the
    safest format wins: safetensors over ONNX/GGUF over pickles. Then every file the layout says
    loading needs; what is left out is listed, never dropped silently.
    """
    if not weights:
        return None
    folder, others = weights[0], weights[1:]
    include, left, pickles = _weight_globs(folder)
    notes: list[str] = []
    if pickles:
        notes.append("pickles: the safety gate scans each one, but safetensors cannot run code when loaded")
    if left:
        notes.append(f"left out, as safer weights are released: {_some(left)}")
    include += folder.companions
    if folder.layout.code:
        notes.append(
            f"code that runs when the model loads (trust_remote_code): {_some(folder.layout.code)}; "
            "read them before you release them"
        )
    if others:
        notes.append(f"weights also in: {_some([o.dir + '/' for o in others])} (change dir to release another)")
    released = [n for n in folder.present if any(_matches(n, pattern) for pattern in include)]
    unreleased = tuple(n for n in folder.present if n not in released and n not in left)
    others_left = [n for n in unreleased if n != CARD_PATH]
    if others_left:
        notes.append(f"not released (not in include; add them if loading needs them): {_some(others_left)}")
    if CARD_PATH in unreleased:
        notes.append(f"{CARD_PATH} is not released as a file: the release's {CARD_PATH} is the card it renders")
    return ModelChoice(folder.dir, tuple(include), tuple(notes), folder.layout, unreleased)


def _weight_globs(folder: WeightsFolder) -> tuple[list[str], list[str], bool]:
    """The include globs of the weights, the weights left out, and whether pickles are released."""
    groups: dict[str, list[tuple[str, WeightKind]]] = {}
    for name, kind, _size in folder.files:
        groups.setdefault(posixpath.dirname(name), []).append((name, kind))
    include: list[str] = []
    left: list[str] = []
    pickles = False
    for sub, files in sorted(groups.items()):
        prefix = f"{sub}/" if sub else ""
        kinds = {kind for _, kind in files}
        if "safetensors" in kinds:
            taken: tuple[WeightKind, ...] = ("safetensors", "safetensors-index")
            globs = [f"*{SAFETENSORS_SUFFIX}"] + ([f"*{SHARD_INDEX_SUFFIX}"] if "safetensors-index" in kinds else [])
        elif "other" in kinds:
            taken = ("other",)
            globs = sorted({f"*{posixpath.splitext(n)[1]}" for n, k in files if k == "other"})
        else:
            taken, pickles = ("pickle", "pickle-index"), True
            globs = sorted({f"*{posixpath.splitext(n)[1]}" for n, k in files if k == "pickle"})
            globs += ["*.bin.index.json"] if "pickle-index" in kinds else []
        include += [prefix + glob for glob in globs if prefix + glob not in include]
        left += [name for name, kind in files if kind not in taken]
    return include, left, pickles


def _matches(path: str, pattern: str) -> bool:
    """Whether an include pattern of :func:`choose_model` (``dir/*.suffix`` or a path) names ``path``."""
    return path.count("/") == pattern.count("/") and fnmatch.fnmatchcase(path, pattern)


# --- writing ------------------------------------------------------------------------------------


def apply_scaffold(plan: ScaffoldPlan) -> ScaffoldOutcome:
    """Create each planned file that does not exist; an existing file is left as it is, unread."""
    created: list[str] = []
    kept: list[str] = []
    for file in plan.files:
        (created if _create(plan.root / file.path, file.text) else kept).append(file.path)
    return ScaffoldOutcome(tuple(created), tuple(kept))


def lock_missing(config: Config) -> list[Path]:
    """Lock what has no lock yet: requirements.txt from requirements.in, and conda-lock.yml from the
    project's own environment.yml. An existing lock is never rewritten, even a stale one."""
    lock = config.lock
    written: list[Path] = []
    if lock.requirements_in.is_file() and not lock.requirements_txt.exists():
        index = PipIndex(lock.index_url, lock.extra_index_urls, lock.find_links, lock.no_index)
        written.append(lock_requirements(lock.requirements_in, lock.requirements_txt, index, lock.resolver).path)
    if lock.environment_yml is not None and lock.conda_lock is not None and not lock.conda_lock.exists():
        from release.lock.conda import lock_conda  # conda-lock and rattler: imported only to lock an environment.yml

        conda = lock_conda(lock.environment_yml, lock.conda_lock, conda_options(config))
        written += [conda.path, *conda.explicit]
    return written


# --- reporting ----------------------------------------------------------------------------------


def describe_findings(scan: ProjectScan, plan: ScaffoldPlan) -> list[str]:
    """What init found and chose, one line each, for the report."""
    lines: list[str] = []
    model = plan.model
    if model is None:
        lines.append("  weights  none found (safetensors, shards, pickles, ONNX, GGUF): set [model] in release.toml")
    else:
        folder = scan.weights[0]
        weights = [n for n, kind, _ in folder.files if not kind.endswith("-index")]
        size = format_size(folder.size)
        lines.append(f"  weights  {model.dir}/: {len(weights)} file(s), {size}; include {', '.join(model.include)}")
        lines += [f"           {note}" for note in model.notes]
        if model.layout.libraries:
            stated = ", ".join(f"{key} {value}" for key, value in model.layout.metadata.items())
            card = f"; the card gets {stated} unless it sets them" if stated else ""
            lines.append(f"  library  {', '.join(model.layout.libraries)}{card}")
    for dataset in plan.datasets:
        lines.append(
            f"  data     {dataset.dir}/: dataset {dataset.name!r}, {dataset.files} file(s), {format_size(dataset.size)}"
        )
    lines += _describe_card(scan.card)
    if scan.requirements_source:
        lines.append(f"  requires {len(scan.requirements)} requirement(s) from {scan.requirements_source}")
    else:
        lines.append("  requires nothing declared (pyproject.toml, requirements.txt): add them to requirements.in")
    if scan.foreign_requirements_txt:
        lines.append(
            "  note     requirements.txt is not a model-release lock and was kept: move it away, then "
            "`nox -s lock` writes the hash-pinned lock in its place"
        )
    lines.append(f"  installs model-release from {plan.install_spec} (noxfile.py; MODEL_RELEASE_SPEC overrides it)")
    return lines


def _describe_card(card: AdoptedCard | None) -> list[str]:
    if card is None:
        return []
    fields = _some(list(card.fields), limit=8) if card.fields else "no fields"
    lines = [
        f"  card     adopted {card.path} (card.metadata): its front matter ({fields}) is the card's metadata, "
        "and its text comes first in the released card, the release's sections after it"
    ]
    if card.problems:
        lines.append(f"           {len(card.problems)} invalid field(s), kept as written: fix them in {card.path}")
        lines += [f"           - {problem}" for problem in card.problems]
    return lines


def detected_json(scan: ProjectScan, plan: ScaffoldPlan) -> dict[str, Any]:
    """What init found and chose, for ``--json``."""
    model: dict[str, Any] | None = None
    if plan.model is not None:
        folder = scan.weights[0]
        model = {
            "dir": plan.model.dir,
            "include": list(plan.model.include),
            "files": [name for name, _, _ in folder.files],
            "bytes": folder.size,
            "notes": list(plan.model.notes),
            "libraries": list(plan.model.layout.libraries),
            "card_metadata": dict(plan.model.layout.metadata),
            "code": list(plan.model.layout.code),
            "unreleased": list(plan.model.unreleased),
        }
    return {
        "repo_id": plan.repo_id,
        "version": scan.version,
        "model": model,
        "other_weights": [f.dir for f in scan.weights[1:]],
        "datasets": [{"name": d.name, "dir": d.dir, "files": d.files, "bytes": d.size} for d in plan.datasets],
        "requirements": list(scan.requirements),
        "requirements_from": scan.requirements_source,
        "license": scan.license,
        "card_output": plan.card_output,
    }


def next_steps(
    plan: ScaffoldPlan, outcome: ScaffoldOutcome, *, repo_id: str, version: str, dry_run_ok: bool
) -> list[str]:
    """What to do after ``init``, from trying the release locally to releasing from a CI tag."""
    steps: list[str] = []
    if repo_id.startswith(f"{PLACEHOLDER_NAMESPACE}/"):
        steps.append(f"Set repo_id in release.toml to your Hub user or organisation (now {repo_id}).")
    steps.append("Review release.toml (the model folder, datasets, card metadata and text) and requirements.in.")
    if not dry_run_ok:
        steps.append("Fix what the dry run reported, then run it again: model-release release --dry-run")
    if ".gitignore" in outcome.kept:
        steps.append("Add the model-release outputs to .gitignore: /build/ /dist/ /.hub/ /.nox/ /.reproduce/")
    if "noxfile.py" in outcome.kept:
        steps.append(
            "noxfile.py was kept: add the release, lock and check sessions the workflows call "
            "(see templates/project/noxfile.py.j2 in model-release)"
        )
    steps.append(
        "Get nox, which runs the sessions of noxfile.py, if `nox --version` finds none: pipx install nox "
        "(or python -m pip install --user nox; with uv: uv tool install nox). uv is optional: when it is "
        "installed, nox creates the sessions' environments with it, else with virtualenv"
    )
    steps.append(
        "Optionally snapshot the locked runtime into environment.json (shipped with every release): nox -s lock"
    )
    steps.append(
        "Release to the embedded local Hub (offline, no token): nox -s release. It renders the card again "
        f"({plan.card_output or 'card.output'}) whenever something it shows changed: commit it with the rest"
    )
    committed = [f.path for f in plan.files] + ["requirements.txt"] + ([plan.card_output] if plan.card_output else [])
    steps.append(
        f"Commit: git add {' '.join(sorted(set(committed)))}, "
        "and environment.json and environment.yml once `nox -s lock` wrote them"
    )
    steps.append(
        'Release to the Hugging Face Hub: set endpoint = "https://huggingface.co" in release.toml, '
        "export HF_TOKEN=<a token with write access>, then nox -s release (README: Your first release)"
    )
    steps.append(
        "Release from GitHub Actions: add the repository secret HF_TOKEN (or set up trusted publishing), "
        "set the repository variable MODEL_RELEASE_SPEC (where CI installs model-release from), "
        f"then push the version's tag: git tag v{version} && git push origin v{version}"
    )
    return steps


# --- helpers ------------------------------------------------------------------------------------


def _render(template: str, context: Mapping[str, Any]) -> str:
    """A project template: Jinja with << >> and <% %> delimiters, as workflows use ${{ }} themselves."""
    # jinja2 takes ~60 ms to import (measured with -X importtime): only `init` renders templates.
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(str(resource_dir("templates") / "project")),
        variable_start_string="<<",
        variable_end_string=">>",
        block_start_string="<%",
        block_end_string="%>",
        comment_start_string="<#",
        comment_end_string="#>",
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # TOML, Python and YAML, not HTML  # noqa: S701
    )
    env.filters["toml"] = _toml_value
    env.filters["toml_lines"] = _toml_lines
    env.filters["pystr"] = lambda value: json.dumps(str(value))
    return env.get_template(template).render(**context)


def _toml_value(value: Any) -> str:
    """A TOML string or array of strings (a JSON string is a valid TOML basic string)."""
    if isinstance(value, str):
        return json.dumps(value)
    return "[" + ", ".join(json.dumps(str(item)) for item in value) + "]"


def _toml_lines(values: Sequence[str]) -> str:
    """A TOML array of strings, one a line when there are more than three (a layout's many files)."""
    if len(values) <= 3:
        return _toml_value(values)
    return "[\n" + "".join(f"    {json.dumps(str(value))},\n" for value in values) + "]"


def _create(path: Path, text: str) -> bool:
    """Write ``path`` whole, only if it does not exist: a temporary file linked into place."""
    if path.exists() or path.is_symlink():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, path)  # fails, rather than replacing, when the file appeared meanwhile
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(tmp)


def _read_pyproject(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:  # not UTF-8: names the byte
        raise UsageError(f"cannot read {path}: {exc or type(exc).__name__}; fix it, then run init again") from None


def _declared_requirements(root: Path, project: Mapping[str, Any]) -> tuple[tuple[str, ...], str | None, bool]:
    """(requirements, where declared, whether requirements.txt is someone else's file)."""
    requirements_txt = root / "requirements.txt"
    foreign = False
    lines: list[str] = []
    if requirements_txt.is_file():
        text = requirements_txt.read_text(encoding="utf-8", errors="replace")
        foreign = parse_lock_header(text) is None
        if foreign:
            lines = [
                line.split(" #", 1)[0].rstrip(" \\").strip()
                for line in text.splitlines()
                if line.strip() and not line.lstrip().startswith(("#", "--hash"))
            ]
    dependencies = project.get("dependencies")
    if isinstance(dependencies, list) and "dependencies" not in project.get("dynamic", ()):
        return tuple(str(d) for d in dependencies), "pyproject.toml [project].dependencies", foreign
    if foreign:
        return tuple(line for line in lines if line), "requirements.txt", foreign
    return (), None, foreign


def _hub_license(declared: Any) -> str | None:
    """The Hub's id of the project's license (PEP 621/639), or None when it has no such id."""
    if isinstance(declared, dict):
        declared = declared.get("text")
    if not isinstance(declared, str) or not declared.strip():
        return None
    known = set(load_schema("modelcard.schema.json")["$defs"]["licenseId"]["enum"])
    candidate = declared.strip().lower()
    return candidate if candidate in known else None


def _walk(root: Path) -> tuple[tuple[WeightsFolder, ...], list[str]]:
    """Weight folders (best first) and data folder candidates, in a walk that skips hidden folders,
    virtual environments, build outputs and experiment logs, and never enters a data folder."""
    found: dict[str, list[tuple[str, WeightKind, int]]] = {}
    names_in: dict[str, set[str]] = {}
    data_dirs: list[str] = []

    def visit(directory: Path, parts: tuple[str, ...]) -> None:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            return
        here = "/".join(parts) or "."
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if entry.name.startswith(".") or entry.name in _SKIP_DIRS:
                    continue
                if (Path(entry.path) / "pyvenv.cfg").exists():
                    continue  # a virtual environment
                child = (*parts, entry.name)
                if entry.name.lower() in DATA_DIR_NAMES:
                    if len(child) <= _DATA_MAX_DEPTH:
                        data_dirs.append("/".join(child))
                elif len(child) <= _WEIGHTS_MAX_DEPTH:
                    visit(Path(entry.path), child)
            elif entry.is_file(follow_symlinks=False):
                names_in.setdefault(here, set()).add(entry.name)
                kind = weight_kind(entry.name)
                if kind is not None:
                    found.setdefault(here, []).append((entry.name, kind, entry.stat().st_size))

    visit(root, ())
    models = _model_dirs(found, names_in)
    folders = [_weights_folder(root, directory, found, names_in, models) for directory in models]
    folders = [f for f in folders if any(not kind.endswith("-index") for _, kind, _ in f.files)]
    folders.sort(key=lambda f: (f.rank, -f.size, f.dir.count("/"), f.dir))
    return tuple(folders), data_dirs


def _model_dirs(found: Mapping[str, object], names_in: Mapping[str, set[str]]) -> list[str]:
    """The folders holding a model: each with weights, and each whose layout spans sub-folders
    (``modules.json``, ``model_index.json``), which then holds the weights of its sub-folders too."""
    roots = sorted(d for d, names in names_in.items() if names & LAYOUT_MARKERS)
    return sorted(
        {d for d in found if not any(_inside(d, r) for r in roots)}
        | {r for r in roots if not any(_inside(r, o) for o in roots)}
    )


def _weights_folder(
    root: Path,
    directory: str,
    found: Mapping[str, list[tuple[str, WeightKind, int]]],
    names_in: Mapping[str, set[str]],
    models: Sequence[str],
) -> WeightsFolder:
    """One model folder: its weights (with those of the sub-folders its layout names), every file init
    saw in it but not in another model's folder (paths relative to it), and its layout."""

    def relative(folder: str, name: str = "") -> str:
        inner = folder if directory == "." else folder[len(directory) + 1 :]
        return posixpath.join(inner, name) if inner and inner != "." else name

    others = [m for m in models if _inside(m, directory)]
    inside = [
        d
        for d in names_in
        if d == directory or (_inside(d, directory) and not any(d == o or _inside(d, o) for o in others))
    ]
    layout = read_layout(root / directory, frozenset(relative(d, n) for d in inside for n in names_in[d]))
    parts = [
        d
        for d in names_in
        if d == directory
        or any(relative(d) == f or relative(d).startswith(f"{f}/") for f in layout.folders if _inside(d, directory))
    ]
    present = tuple(
        sorted(
            {relative(d, n) for d in {*inside, *parts} for n in names_in[d] if not n.startswith(".")}
            - (_PROJECT_FILES if directory == "." else frozenset())
        )
    )
    weights = tuple(sorted((relative(d, n), k, size) for d in parts if d in found for n, k, size in found[d]))
    companions = tuple(n for n in layout.files if weight_kind(n) is None)
    return WeightsFolder(directory, weights, companions, layout, present)


def _inside(folder: str, parent: str) -> bool:
    """Whether ``folder`` is strictly inside ``parent`` (POSIX, relative to the project; "." is its root)."""
    return folder != parent and (parent == "." or folder.startswith(f"{parent}/"))


def _data_folders(root: Path, candidates: Sequence[str], model_dir: str | None) -> tuple[DataFolder, ...]:
    folders: list[DataFolder] = []
    used: set[str] = set()
    for directory in candidates:
        if (
            model_dir is not None
            and model_dir != "."
            and (
                directory == model_dir or directory.startswith(f"{model_dir}/") or model_dir.startswith(f"{directory}/")
            )
        ):
            continue  # inside the model folder, or holding it
        count = size = 0
        for parent, _dirs, files in os.walk(root / directory):
            for name in files:
                path = Path(parent) / name
                if path.is_file() and not path.is_symlink():
                    count += 1
                    size += path.stat().st_size
        if not count:
            continue
        name = _slug(directory.replace("/", "-"), "data")
        while name in used:
            name += "-2"
        used.add(name)
        folders.append(DataFolder(directory, name, count, size))
    return tuple(folders)


def _slug(text: str, fallback: str) -> str:
    """A Hub-safe name: letters, digits, '.', '_' and '-', starting with a letter or digit."""
    slug = _NAME_PATTERN.sub("-", text).strip("-._")[:96].strip("-._")
    return slug or fallback


def _some(items: Sequence[str], limit: int = 4) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _is_model_release_checkout(folder: Path) -> bool:
    pyproject = folder / "pyproject.toml"
    if not (pyproject.is_file() and (folder / "release" / "__init__.py").is_file()):
        return False
    try:
        with pyproject.open("rb") as handle:
            return bool(tomllib.load(handle).get("project", {}).get("name") == "model-release")
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError):
        return False


def _direct_url_spec(text: str | None) -> str | None:
    """A pip requirement for where a distribution was installed from (PEP 610), or None for an index."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    url = data.get("url") if isinstance(data, dict) else None
    if not isinstance(url, str):
        return None
    vcs = data.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs"):
        revision = vcs.get("commit_id") or vcs.get("requested_revision")
        return f"model-release @ {vcs['vcs']}+{url}" + (f"@{revision}" if revision else "")
    if url.startswith("file://"):
        path = Path(unquote(urlparse(url).path))
        return str(path) if path.exists() else None
    return f"model-release @ {url}"
