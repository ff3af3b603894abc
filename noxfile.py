"""Sessions of model-release: the release stages, the tests, and the checks (``nox -l`` lists them).

Every session installs from the project's lock, ``uv.lock``, with hashes checked (``uv sync --locked``
fails on a lock that is stale against pyproject.toml): the release stages get model-release and its
runtime, the others add a dependency group of pyproject.toml. ``nox -s upgrade`` re-resolves the lock.
The release sessions forward ``session.posargs`` to the CLI, so ``nox -s release -- --json`` is
``python -m release release --json``.
"""

from __future__ import annotations

import os
import shutil
import tomllib
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"  # the sessions install with `uv sync`
nox.options.sessions = ["tests"]
nox.options.error_on_external_run = True

PYTHON = "3.11"


TOOLS_LOCK = ".ci/tools.txt"  # what .ci/run installs first (nox, uv), exported from uv.lock's "tools" group
#: The same file, as `model-release init` writes it into a project for its workflows.
SCAFFOLD_TOOLS = "templates/project/github/release-tools.txt"
_EXPORT_TOOLS = ("uv", "export", "--quiet", "--locked", "--only-group=tools", "--no-emit-project", "--no-header")


def _sync(session: nox.Session, *groups: str, project: bool = True) -> None:
    """Install the locked environment into the session's venv, exactly what uv.lock holds, hashes checked:
    model-release with its runtime and the dependency ``groups``, or (``project=False``) the groups alone."""
    if project:
        selection = [*(f"--group={group}" for group in groups), "--no-editable"]
    else:
        selection = [f"--only-group={group}" for group in groups]
    env = {"UV_PROJECT_ENVIRONMENT": session.virtualenv.location}
    session.run_install("uv", "sync", "--locked", "--no-default-groups", *selection, env=env, external=True)


def _cli(session: nox.Session, *args: str) -> None:
    _sync(session)
    session.run("python", "-m", "release", *args, *session.posargs)


@nox.session(python=PYTHON)
def lock(session: nox.Session) -> None:
    """Freeze the environments: requirements.txt, conda-lock.yml or environment.yml, environment.json."""
    if "--check" in session.posargs:
        _cli(session, "lock")
        return
    # environment.json describes the training environment: a venv holding only the locked runtime,
    # not this session's venv, which also holds model-release.
    runtime = Path(session.create_tmp()) / "runtime"
    session.run("python", "-m", "venv", "--clear", str(runtime))
    python = str(runtime / "bin" / "python")
    session.run(
        python, "-m", "pip", "install", "-q", "--require-hashes", "--no-deps", "-r", "requirements.txt", external=True
    )
    _cli(session, "lock", "--python", python)


@nox.session(python=PYTHON)
def checksum(session: nox.Session) -> None:
    """Write SHA-256 manifests of the model files and datasets."""
    _cli(session, "checksum")


@nox.session(python=PYTHON)
def card(session: nox.Session) -> None:
    """Validate the card metadata and render README.md (``-- --check``: compare with the committed card)."""
    _example_weights(session)  # the card lists the weights' digests
    _cli(session, "card")


@nox.session(python=PYTHON)
def stage(session: nox.Session) -> None:
    """Assemble the exact release tree and its manifest under dist/."""
    _example_weights(session)
    _cli(session, "stage")


@nox.session(python=PYTHON)
def publish(session: nox.Session) -> None:
    """Upload the staged release as one commit, verify it, and tag it."""
    _cli(session, "publish")


@nox.session(python=PYTHON)
def release(session: nox.Session) -> None:
    """Release the project end to end (the bundled example goes to the embedded local Hub)."""
    _example_weights(session)
    _cli(session, "release")


@nox.session(python=PYTHON)
def reproduce(session: nox.Session) -> None:
    """Rebuild a published release's environment, and prove it: nox -s reproduce -- REPO[@REV] [--run] [--retrain]."""
    _cli(session, "reproduce")


@nox.session(python=PYTHON)
def hub(session: nox.Session) -> None:
    """Serve the local Hub emulator on 127.0.0.1 (storage .hub/)."""
    _sync(session)
    session.run("python", "-m", "release", "hub", "serve", *session.posargs)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite (real pip-compile, real huggingface_hub against the local Hub).

    Two pytest-xdist workers per CPU: the tests marked ``backoff`` sleep through the client's own
    retry waits (about 23 s each, no CPU), so the other workers use the CPUs meanwhile; workers that
    run out of tests steal from the others. ``nox -s tests -- -n 0`` runs it serially, and
    ``-m "not backoff"`` leaves the sleepers out.
    """
    _sync(session, "test")
    workers = 2 * (os.cpu_count() or 1)
    session.run("python", "-m", "pytest", f"--numprocesses={workers}", "--dist=worksteal", *session.posargs)


#: zizmor, the GitHub Actions security linter: every audit it has, none that asks GitHub (no network).
ZIZMOR = ("zizmor", "--offline", "--persona=auditor", "--no-progress", "--color=never")
#: Renders the workflows `init` writes into the folder given, with model-release's own scaffold.
_RENDER_WORKFLOWS = """
import sys
from pathlib import Path
from release.scaffold import plan_scaffold, scan_project
root = Path(sys.argv[1])
for file in plan_scaffold(scan_project(root), spec="model-release", python="3.11").files:
    if file.path.startswith(".github/workflows/"):
        (root / file.path).parent.mkdir(parents=True, exist_ok=True)
        (root / file.path).write_text(file.text)
"""


@nox.session(python=PYTHON)
def conformance(session: nox.Session) -> None:
    """Run huggingface_hub's own test suite (its sdist, as uv.lock pins it) against the Hub emulator.

    Writes conformance/results.md after a whole run. ``-- --ci`` runs the subset CI can afford;
    ``-- tests/test_hf_api.py -k Branch`` (the suite's paths) any part; ``-- --workers 0`` serially.
    """
    _sync(session, "conformance")
    session.run("python", "-m", "conformance.run", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Lint and format-check with ruff; check the workflows, this repository's and those `init` writes, with
    actionlint (and shellcheck) and zizmor; check the locks."""
    _sync(session, "lint")  # model-release too: it renders the workflows `init` writes
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    scaffold = Path(session.create_tmp()) / "scaffold"
    shutil.rmtree(scaffold, ignore_errors=True)
    scaffold.mkdir()
    session.run("python", "-c", _RENDER_WORKFLOWS, str(scaffold), silent=True)
    workflows = [Path(".github/workflows"), scaffold / ".github" / "workflows"]
    files = [str(path) for folder in workflows for path in sorted(folder.glob("*.yml"))]
    session.run("actionlint", *files)
    session.run(*ZIZMOR, ".github/dependabot.yml", *files)  # also Dependabot's config, which updates the pins
    # uv.lock against pyproject.toml, and .ci/tools.txt against uv.lock: a stale lock fails here.
    session.run("uv", "lock", "--check", external=True)
    exported = session.run(*_EXPORT_TOOLS, silent=True, external=True)
    if exported != Path(TOOLS_LOCK).read_text():
        session.error(f"{TOOLS_LOCK} is stale against uv.lock: run `{' '.join(_EXPORT_TOOLS)} -o {TOOLS_LOCK}`")
    if Path(SCAFFOLD_TOOLS).read_text() != Path(TOOLS_LOCK).read_text():
        session.error(f"{SCAFFOLD_TOOLS} differs from {TOOLS_LOCK}: copy {TOOLS_LOCK} over it")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """Type-check the package, tests and noxfile with mypy --strict."""
    _sync(session, "typecheck")
    session.run("mypy")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Run the benchmarks under benchmarks/ (ratios against a baseline measured in the same run), and the
    hostile-input probes (each of issue 17's findings, held or not, with what was measured)."""
    _sync(session, "test")  # the lock benchmark builds the tests' conda channel
    session.run("python", "benchmarks/bench_checksum.py", *session.posargs)
    session.run("python", "benchmarks/bench_many_files.py")  # 10k and 100k small files: checksum, cache, gate
    session.run("python", "benchmarks/bench_gate.py")  # the secret scan, with and without its prefilter
    session.run("python", "benchmarks/bench_release_reads.py")  # how often a release reads the weights
    session.run("python", "benchmarks/bench_hub.py")  # 1 GiB up and down through the Hub emulator
    session.run("python", "benchmarks/bench_publish.py")  # a 1 GiB release: publish vs upload_folder, re-run
    session.run("python", "benchmarks/bench_multipart.py")  # 6 GiB published in parts vs one PUT of upload_folder
    # 100,000 files end to end (1,001 chunked commits, about 5 min) vs upload_folder; --files 10000 for a quick look
    session.run("python", "benchmarks/bench_large_release.py", "--files", "100000")
    session.run("python", "benchmarks/bench_lock.py")  # pip-tools vs uv (needs the index), conda
    session.run("python", "benchmarks/bench_reproduce.py")  # reproduce's venv step vs bare uv and pip (the index)
    session.run("python", "benchmarks/probe_hostile.py")  # issue 17's findings against a fresh emulator and the CLI


@nox.session(python=False)
def upgrade(session: nox.Session) -> None:
    """Re-resolve uv.lock to the newest versions pyproject.toml allows, show what moved, run the tests.

    ``nox -s upgrade -- numpy`` upgrades only the packages named. Review the change and commit
    pyproject.toml, uv.lock, .ci/tools.txt and its copy for `init` (SCAFFOLD_TOOLS) together.
    """
    before = _locked_versions()
    upgrade = [f"--upgrade-package={name}" for name in session.posargs] or ["--upgrade"]
    session.run("uv", "lock", *upgrade, external=True)
    session.run(*_EXPORT_TOOLS, f"--output-file={TOOLS_LOCK}", external=True)
    shutil.copyfile(TOOLS_LOCK, SCAFFOLD_TOOLS)  # what `init` writes for the projects' workflows
    after = _locked_versions()
    names = sorted(before.keys() | after.keys())
    moved = [f"  {n}: {before.get(n, '-')} -> {after.get(n, '-')}" for n in names if before.get(n) != after.get(n)]
    session.log("What moved:\n" + ("\n".join(moved) or "  nothing"))
    session.notify("tests")


def _locked_versions() -> dict[str, str]:
    """Each package of uv.lock and its version(s) (a split resolution may lock several)."""
    packages = tomllib.loads(Path("uv.lock").read_text())["package"]
    versions: dict[str, list[str]] = {}
    for package in packages:
        versions.setdefault(package["name"], []).append(str(package.get("version", package.get("source"))))
    return {name: ", ".join(sorted(found)) for name, found in versions.items()}


def _example_weights(session: nox.Session) -> None:
    """The example's weights are generated, never committed: make them with its own locked runtime."""
    session.install("--require-hashes", "--no-deps", "-r", "requirements.txt")
    session.run("python", "example/model/train.py")
