"""``reproduce REPO[@REV]``: rebuild a published release's environment from its locks, verified."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar, Literal

from release.config import Config
from release.process import format_command
from release.reproduce import ReproduceOptions, ReproduceResult, ReproduceTarget, parse_target, reproduce_release
from release.verify import table
from release.workflow.hub import read_token, reading_hub
from release.workflow.report import JsonObject, text_of


@dataclass(frozen=True)
class ReproduceRequest:
    target: str  # REPO[@REV]
    repo_type: Literal["model", "dataset"] = "model"
    endpoint: str | None = None  # --endpoint, else HF_ENDPOINT; None: the configuration's, else the Hub
    options: ReproduceOptions = field(default_factory=ReproduceOptions)


@dataclass(frozen=True)
class Reproduced:
    """The rebuilt environment; with --run / --retrain, whether the release held to its claims (exit 1 if not)."""

    result: ReproduceResult
    command: ClassVar[str] = "reproduce"

    @property
    def exit_code(self) -> int:
        proof = self.result.proof
        return 1 if proof is not None and not proof.ok else 0

    @property
    def message(self) -> str:
        result = self.result
        lines = [f"reproduced {result.repo_id}@{result.revision} (commit {result.commit}) in {result.dest}"]
        lines.append(f"verified against the release manifest: {', '.join(result.verified)}")
        if result.installed:
            lines.append(
                f"the environment holds {len(result.installed)} distributions, on Python {result.python} "
                f"(installed with {result.installer})"
            )
            lines += result.lock_differences.lines("requirements.txt") or ["the installed set equals the lock"]
        if result.snapshot_differences is not None:
            lines += result.snapshot_differences.lines("environment.json") or ["no differences from environment.json"]
        if result.machine_differences:
            lines.append("the machine differs from the one the release was made on:")
            lines += [f"  {line}" for line in result.machine_differences.lines("environment.json")]
        if result.conda_prefix is not None:
            lines.append(f"conda prefix {result.conda_prefix}: {len(result.conda_packages)} packages")
        if result.weights:
            lines.append(f"downloaded and verified {len(result.weights)} files into {result.dest / 'files'}")
        if result.activate:
            lines.append(f"activate it with: {result.activate}")
        if result.proof is not None:
            lines += proof_lines(result)
        return "\n".join(lines)

    def to_json(self) -> JsonObject:
        return {"command": self.command, **self.result.to_json(), "message": self.message}

    def text(self) -> str:
        return text_of(self.message)


def proof_lines(result: ReproduceResult) -> list[str]:
    """What --run / --retrain found, ending with the verdict that names each metric that failed."""
    proof, spec = result.proof, result.verify
    assert proof is not None and spec is not None
    lines: list[str] = []
    if proof.run is not None:
        lines.append(f"ran {format_command(spec.command)} on the published weights in {result.dest / 'run'}:")
        lines += [f"  {line}" for line in table(proof.run.checks)] if proof.run.checks else []
        lines += [f"  the command failed: {proof.run.failure}"] if proof.run.failure else []
    retrained = proof.retrained
    if retrained is not None and spec.train is not None:
        lines.append(f"retrained with {format_command(spec.train.command)} in {result.dest / 'retrain'}:")
        lines += [f"  the training command failed: {retrained.failure}"] if retrained.failure else []
        lines += [f"  identical to the published file: {path}" for path in retrained.identical]
        lines += [f"  different from the published file: {path}" for path in retrained.different]
        lines += [f"  not written by training: {path}" for path in retrained.missing]
        if retrained.metrics is not None:
            lines.append("  the metrics of the retrained weights:")
            lines += [f"    {line}" for line in table(retrained.metrics.checks)]
            lines += [f"    the command failed: {retrained.metrics.failure}"] if retrained.metrics.failure else []
        lines.append(f"  what held: {_HELD[retrained.held]}")
    lines += [f"rewritten in place by a command (no longer the verified file): {path}" for path in proof.modified]
    failed = proof.failed_metrics()
    if proof.ok:
        lines.append(f"{result.repo_id}@{result.revision} holds to its claims")
    elif failed:
        lines += _what_can_differ(result)
        lines.append(f"REFUSED: {', '.join(failed)} not reproduced within the published tolerance")
    else:
        lines.append(f"REFUSED: {result.repo_id}@{result.revision} could not be proved (see above)")
    return lines


def _what_can_differ(result: ReproduceResult) -> list[str]:
    """Beside a metric mismatch: how this machine and environment differ from the ones the release recorded."""
    if result.machine_differences is None:
        return ["what can make results differ: unknown (the release has no environment.json to compare with)"]
    differences = [*result.machine_differences.lines("environment.json")]
    if result.snapshot_differences is not None:  # its packages: Python and platform are the machine's lines
        differences += replace(result.snapshot_differences, python=None, platform=None).lines("environment.json")
    if not differences:
        return [
            "what can make results differ: nothing recorded does (same Python, platform, CPU, accelerator, "
            "BLAS and packages as environment.json); the command itself may not be deterministic"
        ]
    return ["what can make results differ, compared with environment.json:", *(f"  {d}" for d in differences)]


_HELD = {
    "bit-for-bit": "the weights, bit for bit",
    "metrics": "not the bytes, but every metric within its tolerance",
    "neither": "neither the bytes nor the metrics",
}


def reproduce(request: ReproduceRequest, config: Config | None) -> Reproduced:
    """``config``: the project's, needed for ``endpoint = "local"`` (its ``.hub``) and as the default endpoint."""
    repo_id, revision = parse_target(request.target)
    with reading_hub(request.endpoint, config) as (endpoint, hub_token):
        target = ReproduceTarget(endpoint, repo_id, request.repo_type, revision, hub_token or read_token())
        return Reproduced(reproduce_release(target, request.options))
