"""How a release proves itself: what it declares, and the checks that hold it to its own claims.

A project declares in ``[verify]`` a command that runs the model on fixed inputs and writes a JSON
results file, the metrics to compare (each with a tolerance), and optionally how to retrain the
weights. ``stage`` turns the declaration into a :class:`VerifySpec` (:func:`declare`), the published
value of each metric taken from the card's evaluation results, and records it in
``release-manifest.json`` and the card, so a release made by someone else is checked against what
it claims.

``reproduce --run`` runs the command in the rebuilt environment, in a working copy of the
downloaded release, with the Hub offline, and compares every metric (:func:`run_checks`).
``--retrain`` runs the training command in another working copy whose declared outputs were
removed, compares what it wrote with the manifest's digests, bit for bit, and, when they differ,
falls back to the metrics measured on the retrained weights (:func:`retrain`).

The commands are the release's own code: they run with the environment's ``bin`` folder first on
``PATH``, ``HF_HUB_OFFLINE=1``, and without this process's tokens or secrets.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import math
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from release.checksum import ManifestEntry, check_relative_path, hash_file
from release.config import MetricDeclaration, VerifyConfig
from release.errors import ChecksumError, ConfigError, ProcessError, ReproduceError, StageError
from release.process import format_command, run

log = logging.getLogger(__name__)

#: Variables never passed to a release's commands: credentials of this process.
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|API_KEY|ACCESS_KEY", re.IGNORECASE)
#: Variables set for a release's commands: no network for the Hub's libraries, nothing from our interpreter.
_OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
_DROPPED = frozenset({"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV"})


# --- the declaration ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricClaim:
    """A published metric: its value, where the results file holds the measured one, and the tolerance."""

    name: str
    published: float
    result: str  # a dotted path into the results file
    abs: float = 0.0
    rel: float = 0.0

    @property
    def tolerance(self) -> str:
        """``exact``, ``±0.001``, ``±1%``, or ``±0.001 or ±1%``."""
        parts = ([f"±{self.abs:g}"] if self.abs else []) + ([f"±{self.rel * 100:g}%"] if self.rel else [])
        return " or ".join(parts) or "exact"

    def allows(self, measured: float) -> bool:
        """Within the absolute or the relative tolerance of the published value (both 0: equal)."""
        return math.isfinite(measured) and abs(measured - self.published) <= max(
            self.abs, self.rel * abs(self.published)
        )

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "published": self.published, "result": self.result, "abs": self.abs, "rel": self.rel}


@dataclass(frozen=True)
class TrainSpec:
    command: tuple[str, ...]
    outputs: tuple[str, ...]  # globs of release paths

    def matches(self, path: str) -> bool:
        return any(fnmatch.fnmatchcase(path, pattern) for pattern in self.outputs)


@dataclass(frozen=True)
class VerifySpec:
    """What ``release-manifest.json`` records under ``verify``."""

    command: tuple[str, ...]
    results: str
    metrics: tuple[MetricClaim, ...]
    train: TrainSpec | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "command": list(self.command),
            "results": self.results,
            "metrics": [m.to_json() for m in self.metrics],
            "train": None
            if self.train is None
            else {"command": list(self.train.command), "outputs": list(self.train.outputs)},
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any], source: str) -> VerifySpec:
        """The recorded declaration; :class:`StageError` naming ``source`` when it is malformed."""
        try:
            train = document.get("train")
            spec = cls(
                command=_strings(document["command"]),
                results=str(document["results"]),
                metrics=tuple(
                    MetricClaim(m["name"], _number(m["published"]), m["result"], _number(m["abs"]), _number(m["rel"]))
                    for m in document["metrics"]
                ),
                train=None if train is None else TrainSpec(_strings(train["command"]), _strings(train["outputs"])),
            )
            check_relative_path(spec.results)
        except (KeyError, TypeError, ValueError, AttributeError, ChecksumError) as exc:
            raise StageError(f"{source}: malformed verify declaration ({exc})") from exc
        if not spec.command or not spec.metrics:
            raise StageError(f"{source}: malformed verify declaration (no command or no metrics)")
        return spec


def declare(config: VerifyConfig, model_index: Sequence[Mapping[str, Any]], where: str) -> VerifySpec:
    """The spec a release records: each metric's published value from the card's ``model-index``. Pure.

    ``where`` names the configuration file in errors.
    """
    try:
        check_relative_path(config.results)
    except ChecksumError as exc:
        raise ConfigError(f"{where}: verify.results: {exc}") from exc
    stated = _stated_metrics(model_index)
    claims = tuple(
        MetricClaim(m.name, _published(m, stated, where), m.result or m.name, m.abs, m.rel) for m in config.metrics
    )
    train = TrainSpec(config.train_command, config.train_outputs) if config.train_command is not None else None
    return VerifySpec(config.command, config.results, claims, train)


def check_outputs(spec: VerifySpec, released: Iterable[str], where: str) -> None:
    """Each training output glob matches a file of the release (``released``: its paths)."""
    if spec.train is None:
        return
    paths = sorted(released)
    for pattern in spec.train.outputs:
        if not any(fnmatch.fnmatchcase(path, pattern) for path in paths):
            raise ConfigError(
                f"{where}: verify.train.outputs: {pattern!r} matches no file of the release; list the release "
                'paths training writes (the weights), such as "*.safetensors"'
            )


def _stated_metrics(model_index: Sequence[Mapping[str, Any]]) -> list[tuple[str, frozenset[str], Any]]:
    """(metric type, the dataset's type and name, value) of every metric the card's model-index states."""
    stated = []
    for entry in model_index:
        for result in entry.get("results") or []:
            dataset = result.get("dataset") or {}
            names = frozenset(str(dataset[k]) for k in ("type", "name") if dataset.get(k) is not None)
            stated += [(str(m.get("type")), names, m.get("value")) for m in result.get("metrics") or []]
    return stated


def _published(metric: MetricDeclaration, stated: list[tuple[str, frozenset[str], Any]], where: str) -> float:
    key = f"verify.metrics.{metric.name}"
    found = [
        (names, value)
        for kind, names, value in stated
        if kind == metric.name and (metric.dataset is None or metric.dataset in names)
    ]
    if len(found) > 1:
        datasets = ", ".join(sorted(n for names, _ in found for n in names))
        raise ConfigError(
            f"{where}: {key}: the card's evaluation results state {metric.name} for several datasets ({datasets}); "
            f"say which with {key}.dataset"
        )
    if not found:
        if metric.published is None:
            known = ", ".join(sorted({kind for kind, _, _ in stated})) or "none"
            raise ConfigError(
                f"{where}: {key}: the card's evaluation results state no metric of type {metric.name!r} (they state: "
                f"{known}); add it to card.eval_results, or give {key}.published"
            )
        return metric.published
    value = found[0][1]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: {key}: the card states {metric.name} as {value!r}, not a number")
    if metric.published is not None and metric.published != value:
        raise ConfigError(
            f"{where}: {key}.published is {metric.published:g} but the card states {value:g}: a release publishes "
            "one value; remove published, or correct one of them"
        )
    return float(value)


# --- the checks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricCheck:
    """One metric: the published value, the measured one (None: not in the results), and whether it holds."""

    name: str
    expected: float
    got: float | None
    tolerance: str
    ok: bool
    problem: str | None = None  # why there is no measured value

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "expected": self.expected,
            "got": self.got,
            "tolerance": self.tolerance,
            "ok": self.ok,
        }


def check_metrics(spec: VerifySpec, results: Mapping[str, Any]) -> tuple[MetricCheck, ...]:
    """Every claimed metric against the measured ``results`` (the parsed results file). Pure."""
    checks = []
    for claim in spec.metrics:
        value: Any = results
        for part in claim.result.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if isinstance(value, bool) or not isinstance(value, int | float):
            problem = f"{spec.results} has no number at {claim.result!r}" + ("" if value is None else f" ({value!r})")
            checks.append(MetricCheck(claim.name, claim.published, None, claim.tolerance, False, problem))
            continue
        measured = float(value)
        checks.append(MetricCheck(claim.name, claim.published, measured, claim.tolerance, claim.allows(measured)))
    return tuple(checks)


@dataclass(frozen=True)
class Runtime:
    """Where a release's commands run: the rebuilt environment (a venv or a conda prefix)."""

    prefix: Path
    kind: Literal["venv", "conda"] = "venv"
    timeout: float | None = None  # seconds each command may take; None: no limit

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """``base`` without credentials or our interpreter's settings, the environment's bin first, offline."""
        env = {k: v for k, v in base.items() if not _SECRET_NAME.search(k) and k not in _DROPPED}
        env["PATH"] = os.pathsep.join([str(self.prefix / "bin"), *filter(None, [base.get("PATH")])])
        env["VIRTUAL_ENV" if self.kind == "venv" else "CONDA_PREFIX"] = str(self.prefix)
        env.update(_OFFLINE)
        return env


@dataclass(frozen=True)
class Run:
    """The declared command, run once: its checks, or why it gave none."""

    checks: tuple[MetricCheck, ...] = ()
    failure: str | None = None  # the command failed or wrote no usable results

    @property
    def ok(self) -> bool:
        return self.failure is None and all(c.ok for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "failure": self.failure, "checks": [c.to_json() for c in self.checks]}


def run_checks(spec: VerifySpec, work: Path, runtime: Runtime) -> Run:
    """Run the declared command in ``work`` (a working copy of the release) and check its results."""
    results = work / spec.results
    results.unlink(missing_ok=True)  # a released file of that name is not the command's output
    try:
        _run(spec.command, work, runtime, "run the release's verify command")
    except ProcessError as exc:
        return Run(failure=str(exc))
    try:
        document: Any = json.loads(results.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Run(failure=f"{format_command(spec.command)} wrote no {spec.results}")
    except (ValueError, UnicodeDecodeError) as exc:
        return Run(failure=f"{spec.results}, written by {format_command(spec.command)}, is not JSON: {exc}")
    if not isinstance(document, dict):
        return Run(failure=f"{spec.results} holds {type(document).__name__}, not a JSON object of metrics")
    return Run(check_metrics(spec, document))


@dataclass(frozen=True)
class Retrained:
    """The training command, run once: which outputs it reproduced bit for bit, and the metrics otherwise."""

    identical: tuple[str, ...] = ()
    different: tuple[str, ...] = ()  # written, with other bytes than published
    missing: tuple[str, ...] = ()  # not written
    metrics: Run | None = None  # the verify command on the retrained weights, when they differ
    failure: str | None = None  # the training command failed

    @property
    def held(self) -> Literal["bit-for-bit", "metrics", "neither"]:
        if self.failure is None and not (self.different or self.missing) and self.identical:
            return "bit-for-bit"
        if self.failure is None and not self.missing and self.metrics is not None and self.metrics.ok:
            return "metrics"
        return "neither"

    @property
    def ok(self) -> bool:
        return self.held != "neither"

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "held": self.held,
            "identical": list(self.identical),
            "different": list(self.different),
            "missing": list(self.missing),
            "metrics": None if self.metrics is None else self.metrics.to_json(),
            "failure": self.failure,
        }


def retrain(spec: VerifySpec, release: Sequence[tuple[Path, ManifestEntry]], work: Path, runtime: Runtime) -> Retrained:
    """Retrain in ``work`` (the release without its outputs), then compare the outputs with the manifest."""
    train = spec.train
    if train is None:
        raise ReproduceError("the release declares no training command (verify.train): there is nothing to retrain")
    outputs = [entry for _, entry in release if train.matches(entry.path)]
    working_copy([(path, entry.path) for path, entry in release if not train.matches(entry.path)], work)
    try:
        _run(train.command, work, runtime, "run the release's training command")
    except ProcessError as exc:
        return Retrained(failure=str(exc))
    identical, different, missing = [], [], []
    for entry in outputs:
        written = work / entry.path
        if not written.is_file():
            missing.append(entry.path)
        elif hash_file(written) == (entry.size, entry.sha256):
            identical.append(entry.path)
        else:
            different.append(entry.path)
    result = Retrained(tuple(identical), tuple(different), tuple(missing))
    if different and not missing:
        return Retrained(result.identical, result.different, result.missing, run_checks(spec, work, runtime))
    return result


def working_copy(files: Sequence[tuple[Path, str]], work: Path) -> None:
    """``work`` holding each file at its release path: hard links (copies across file systems), never the originals.

    The release's files are verified downloads: a command that rewrote one in place would change
    them too, so :func:`changed` checks them after it ran.
    """
    for source, path in files:
        try:
            check_relative_path(path)  # the manifest is the release's own: never trusted to stay inside
        except ChecksumError as exc:
            raise ReproduceError(f"the release manifest lists {path!r}: {exc}; nothing was run") from exc
        target = work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)


def fingerprints(files: Sequence[tuple[Path, str]]) -> dict[str, tuple[int, int]]:
    """Size and modification time of each file, by release path: what :func:`changed` compares."""
    return {path: _stat(source) for source, path in files}


def changed(files: Sequence[tuple[Path, str]], before: Mapping[str, tuple[int, int]]) -> list[str]:
    """The release paths whose file is no longer what it was before the commands ran."""
    return [path for source, path in files if _stat(source) != before[path]]


def _stat(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return (-1, -1)
    return (stat.st_size, stat.st_mtime_ns)


def _run(command: Sequence[str], work: Path, runtime: Runtime, what: str) -> None:
    log.info("running %s in %s", format_command(command), work)
    completed = run(
        command,
        what=what,
        cwd=work,
        env=runtime.environment(os.environ),
        replace_env=True,
        timeout=runtime.timeout,
        timeout_hint="Give it more time with --timeout, or look at why it hangs (its working copy is kept).",
    )
    for line in completed.stdout.splitlines()[-20:]:
        log.info("| %s", line)


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"expected a list of strings, got {value!r}")
    return tuple(value)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Proof:
    """What ``reproduce --run`` / ``--retrain`` found: the published weights' metrics, the retrained weights."""

    run: Run | None = None
    retrained: Retrained | None = None
    modified: tuple[str, ...] = ()  # verified files a command rewrote in place

    @property
    def ok(self) -> bool:
        parts = [p.ok for p in (self.run, self.retrained) if p is not None]
        return all(parts) and not self.modified

    def failed_metrics(self) -> tuple[str, ...]:
        """The names of the metrics out of tolerance (or not measured), on either weights."""
        runs = [self.run, self.retrained.metrics if self.retrained else None]
        return tuple(dict.fromkeys(c.name for r in runs if r is not None for c in r.checks if not c.ok))

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checks": [] if self.run is None else [c.to_json() for c in self.run.checks],
            "run": None if self.run is None else self.run.to_json(),
            "retrain": None if self.retrained is None else self.retrained.to_json(),
            "modified": list(self.modified),
        }


def prove(
    spec: VerifySpec,
    release: Sequence[tuple[Path, ManifestEntry]],
    into: Path,
    runtime: Runtime,
    *,
    run_published: bool,
    retrain_weights: bool,
) -> Proof:
    """Run the declared command on the published weights (``into/run``) and/or retrain them (``into/retrain``)."""
    files = [(path, entry.path) for path, entry in release]
    before = fingerprints(files)
    run = None
    if run_published:
        working_copy(files, into / "run")
        run = run_checks(spec, into / "run", runtime)
    retrained = retrain(spec, release, into / "retrain", runtime) if retrain_weights else None
    return Proof(run, retrained, tuple(changed(files, before)))


def table(checks: Sequence[MetricCheck]) -> list[str]:
    """The checks as aligned text rows: metric, published, measured, tolerance, ok."""
    rows = [("metric", "published", "measured", "tolerance", "ok")]
    rows += [
        (c.name, f"{c.expected:g}", "-" if c.got is None else f"{c.got:g}", c.tolerance, "yes" if c.ok else "NO")
        for c in checks
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines += [f"{c.name}: {c.problem}" for c in checks if c.problem]
    return lines
