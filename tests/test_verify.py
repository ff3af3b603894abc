"""A release proves itself: [verify] recorded by stage, then `reproduce --run` and `--retrain` hold it to it.

The projects here are small and real: a lock of the test wheelhouse (so the rebuilt venv installs
offline), weights written by a `train.py`, and an `evaluate.py` that measures them, both stdlib only.
Each is released with the command line to its own embedded Hub, then reproduced from there.
"""

from __future__ import annotations

import json
import math
import os
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from project import run_cli
from wheelhouse import Wheelhouse

from release.checksum import ManifestEntry
from release.config import MetricDeclaration, VerifyConfig, parse_config
from release.errors import ConfigError, ReproduceError, StageError
from release.lock.pip import PipIndex, lock_requirements
from release.stage import ReleaseManifest
from release.verify import MetricClaim, Runtime, TrainSpec, VerifySpec, check_metrics, declare, working_copy

# Training writes 64 bytes from the seed (plus 8 random ones with --noise, which the evaluation
# never reads); the evaluation's "accuracy" is a function of those 64 bytes.
TRAIN = """\
import argparse, hashlib, os, pathlib
parser = argparse.ArgumentParser()
parser.add_argument("--out", default=".")
parser.add_argument("--noise", action="store_true")
args = parser.parse_args()
seed = pathlib.Path("data/seed.txt").read_bytes()
weights = hashlib.sha256(seed).digest() + hashlib.sha256(seed + b"2").digest()
pathlib.Path(args.out, "weights.bin").write_bytes(weights + (os.urandom(8) if args.noise else b""))
"""

EVALUATE = """\
import json, os, pathlib, sys
weights = pathlib.Path("weights.bin").read_bytes()[:64]
accuracy = round(sum(weights) % 1000 / 1000, 3)
import tinypkg  # from the rebuilt environment
report = {
    "scores": {"accuracy": accuracy},
    "loss": 0.25,
    "offline": os.environ.get("HF_HUB_OFFLINE"),
    "secrets": sorted(k for k in os.environ if "TOKEN" in k or "SECRET" in k),
    "prefix": sys.prefix,
    "tinypkg": tinypkg.__version__,
}
pathlib.Path("results.json").write_text(json.dumps(report))
"""


def measured_accuracy(seed: bytes = b"seed-1") -> float:
    """What EVALUATE measures on what TRAIN writes from ``seed``."""
    import hashlib

    weights = hashlib.sha256(seed).digest() + hashlib.sha256(seed + b"2").digest()
    return round(sum(weights) % 1000 / 1000, 3)


def make_project(
    root: Path,
    wheelhouse: Wheelhouse,
    *,
    published: float | None = None,
    verify: str | None = None,
    evaluate: str = EVALUATE,
) -> Path:
    """A project whose release declares [verify], its weights trained, released by nothing yet."""
    (root / "model" / "data").mkdir(parents=True)
    model = root / "model"
    (model / "data" / "seed.txt").write_bytes(b"seed-1")
    (model / "train.py").write_text(TRAIN, encoding="utf-8")
    (model / "evaluate.py").write_text(evaluate, encoding="utf-8")
    subprocess.run([sys.executable, "train.py"], cwd=model, check=True)
    (root / "requirements.in").write_text("tinypkg\n", encoding="utf-8")
    index = PipIndex(no_index=True, find_links=(str(wheelhouse.directory),))
    lock_requirements(root / "requirements.in", root / "requirements.txt", index)
    value = measured_accuracy() if published is None else published
    results = {
        "results": [
            {
                "task": {"type": "text-classification"},
                "dataset": {"type": "seeds", "name": "Seeds"},
                "metrics": [{"type": "accuracy", "value": value}],
            }
        ]
    }
    (root / "eval_results.json").write_text(json.dumps(results), encoding="utf-8")
    (root / "release.toml").write_text(
        f"""\
repo_id = "tests/proof"
version = "1.0.0"
endpoint = "local"

[model]
dir = "model"

[lock]
no_index = true
find_links = [{json.dumps(str(wheelhouse.directory))}]

[card]
metadata = {{ license = "mit" }}
eval_results = "eval_results.json"

{verify if verify is not None else DEFAULT_VERIFY}
""",
        encoding="utf-8",
    )
    return root


DEFAULT_VERIFY = """\
[verify]
command = ["python", "evaluate.py"]
results = "results.json"
metrics.accuracy = { result = "scores.accuracy" }
train.command = "python train.py --out ."
train.outputs = ["weights.bin"]
"""


def reproduce(project: Path, wheelhouse: Wheelhouse, *flags: str, env: dict[str, str] | None = None) -> Any:
    result = run_cli(
        "--json",
        "reproduce",
        "tests/proof",
        "--endpoint=local",
        "--no-index",
        "--find-links",
        str(wheelhouse.directory),
        "--dest",
        str(project / "reproduced"),
        *flags,
        cwd=project,
        env=env,
    )
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


def release(project: Path) -> None:
    result = run_cli("release", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr


# --- end to end ---------------------------------------------------------------------------------


def test_run_measures_the_published_metric_and_retrain_rebuilds_the_weights_bit_for_bit(
    tmp_path: Path, wheelhouse: Wheelhouse
) -> None:
    project = make_project(tmp_path / "p", wheelhouse)
    release(project)
    manifest = json.loads(next((project / "dist").glob("proof-1.0.0/release-manifest.json")).read_text())
    assert manifest["verify"]["metrics"] == [
        {"name": "accuracy", "published": measured_accuracy(), "result": "scores.accuracy", "abs": 0.0, "rel": 0.0}
    ]
    card = next((project / "dist").glob("proof-1.0.0/README.md")).read_text()
    assert f"| accuracy | {measured_accuracy()} | exact |" in card

    code, report = reproduce(project, wheelhouse, "--run", "--retrain", env={"HF_TOKEN": "hf_x", "MY_SECRET": "s"})

    assert code == 0 and report["ok"], report["message"]
    assert report["checks"] == [
        {
            "name": "accuracy",
            "expected": measured_accuracy(),
            "got": measured_accuracy(),
            "tolerance": "exact",
            "ok": True,
        }
    ]
    assert report["retrain"]["held"] == "bit-for-bit"
    assert report["retrain"]["identical"] == ["weights.bin"]
    measured = json.loads((project / "reproduced" / "run" / "results.json").read_text())
    assert measured["offline"] == "1"
    assert measured["secrets"] == [], "the release's command saw this process's credentials"
    prefix = Path(measured["prefix"])  # the venv, while it was built beside its destination
    assert prefix.name == "venv" and prefix.parent.name.startswith(".reproduced.building-")
    assert measured["tinypkg"] == "1.0"
    assert "accuracy  " in report["message"] and "holds to its claims" in report["message"]


def test_a_published_value_the_weights_do_not_reach_is_refused_naming_the_metric(
    tmp_path: Path, wheelhouse: Wheelhouse
) -> None:
    claimed = round(measured_accuracy() + 0.05, 3)
    project = make_project(tmp_path / "p", wheelhouse, published=claimed)
    release(project)

    code, report = reproduce(project, wheelhouse, "--run")

    assert code == 1 and not report["ok"]
    [check] = report["checks"]
    assert check == {
        "name": "accuracy",
        "expected": claimed,
        "got": measured_accuracy(),
        "tolerance": "exact",
        "ok": False,
    }
    assert "REFUSED: accuracy not reproduced" in report["message"]
    assert "what can make results differ: unknown (the release has no environment.json" in report["message"]
    assert (project / "reproduced" / "venv").is_dir(), "the rebuilt environment is kept for inspection"


def test_a_mismatch_is_shown_beside_how_the_machine_differs_from_the_recorded_one(
    tmp_path: Path, wheelhouse: Wheelhouse
) -> None:
    project = make_project(tmp_path / "p", wheelhouse, published=0.001)
    recorded = {
        "format": "model-release.environment/1",
        "python": {"implementation": "CPython", "version": "3.11.0"},
        "platform": {"system": "Linux", "machine": "x86_64", "release": "", "libc": None},
        "distributions": [{"name": "tinypkg", "version": "1.0"}, {"name": "tinydep", "version": "1.1"}],
        "machine": {"cpu": "Imaginary CPU 9000", "accelerator": "cuda", "gpus": ["A100"], "cuda": "12.4"},
    }
    (project / "environment.json").write_text(json.dumps(recorded), encoding="utf-8")
    release(project)

    code, report = reproduce(project, wheelhouse, "--run")

    assert code == 1
    message = report["message"]
    beside = message[message.index("what can make results differ") : message.index("REFUSED: accuracy")]
    assert "Imaginary CPU 9000" in beside and "cuda" in beside and "3.11.0" in beside, beside
    assert {d["what"] for d in report["machine_differences"]} >= {"CPU", "accelerator", "Python"}


def test_tolerances_absolute_and_relative(tmp_path: Path, wheelhouse: Wheelhouse) -> None:
    claimed = round(measured_accuracy() + 0.004, 3)
    verify = DEFAULT_VERIFY.replace('{ result = "scores.accuracy" }', '{ result = "scores.accuracy", abs = 0.005 }')
    verify += "metrics.loss = { published = 0.24, rel = 0.01 }\n"  # 0.25 is 4% off: out
    project = make_project(tmp_path / "p", wheelhouse, published=claimed, verify=verify)
    release(project)

    code, report = reproduce(project, wheelhouse, "--run")

    assert code == 1
    assert {c["name"]: (c["ok"], c["tolerance"]) for c in report["checks"]} == {
        "accuracy": (True, "±0.005"),
        "loss": (False, "±1%"),
    }
    assert "REFUSED: loss not reproduced" in report["message"]


def test_retrained_weights_that_differ_fall_back_to_the_metrics(tmp_path: Path, wheelhouse: Wheelhouse) -> None:
    verify = DEFAULT_VERIFY.replace("python train.py --out .", "python train.py --out . --noise")
    project = make_project(tmp_path / "p", wheelhouse, verify=verify)
    release(project)

    code, report = reproduce(project, wheelhouse, "--retrain")

    assert code == 0, report["message"]
    retrain = report["retrain"]
    assert retrain["held"] == "metrics" and retrain["different"] == ["weights.bin"]
    assert retrain["metrics"]["checks"][0]["ok"]
    assert "not the bytes, but every metric within its tolerance" in report["message"]
    assert report["run"] is None, "--retrain alone does not run the published weights"


def test_a_failing_command_is_reported_with_its_output_and_exits_1(tmp_path: Path, wheelhouse: Wheelhouse) -> None:
    project = make_project(tmp_path / "p", wheelhouse, evaluate="raise SystemExit('the evaluation broke here')\n")
    release(project)

    code, report = reproduce(project, wheelhouse, "--run")

    assert code == 1
    assert "the evaluation broke here" in report["run"]["failure"]
    assert "could not be proved" in report["message"]


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc to see the command's child is gone")
def test_a_command_that_never_finishes_is_stopped_by_the_timeout(tmp_path: Path, wheelhouse: Wheelhouse) -> None:
    # It starts a child that holds its output pipes, then waits forever: the timeout must stop both.
    hangs = (
        "import pathlib, subprocess, sys, threading\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import threading; threading.Event().wait()'])\n"
        "pathlib.Path('../child.pid').write_text(str(child.pid))\n"
        "threading.Event().wait()  # nothing ever sets it\n"
    )
    project = make_project(tmp_path / "p", wheelhouse, evaluate=hangs)
    release(project)

    code, report = reproduce(project, wheelhouse, "--run", "--timeout", "1")

    assert code == 1
    assert "Gave up after 1 s trying to run the release's verify command" in report["run"]["failure"]
    assert "--timeout" in report["run"]["failure"]
    child = int((project / "reproduced" / "child.pid").read_text())
    assert _gone(child), "the command's own child outlived the timeout"


def _gone(pid: int, deadline: float = 30.0) -> bool:
    """Whether ``pid`` exits within ``deadline`` seconds: waits on its pidfd, which becomes readable then."""
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([handle], [], [], deadline)
    finally:
        os.close(handle)
    return bool(readable)


def test_a_command_that_rewrites_a_verified_file_is_caught(tmp_path: Path, wheelhouse: Wheelhouse) -> None:
    rewrite = EVALUATE + "open('weights.bin', 'r+b').write(b'x')\n"  # in place: the hard link's target too
    project = make_project(tmp_path / "p", wheelhouse, evaluate=rewrite)
    release(project)

    code, report = reproduce(project, wheelhouse, "--run")

    assert code == 1
    assert report["modified"] == ["weights.bin"]
    assert report["checks"][0]["ok"], "the metric itself held"


def test_a_release_that_declares_nothing_is_refused_before_anything_is_built(
    tmp_path: Path, wheelhouse: Wheelhouse
) -> None:
    project = make_project(tmp_path / "p", wheelhouse, verify="")
    release(project)

    result = run_cli(
        "reproduce", "tests/proof", "--endpoint=local", "--run", "--dest", str(project / "reproduced"), cwd=project
    )

    assert result.returncode == 1
    assert "declares no way to prove itself" in result.stderr and "[verify]" in result.stderr
    assert not (project / "reproduced").exists()


def test_retrain_without_a_training_command_is_refused(tmp_path: Path, wheelhouse: Wheelhouse) -> None:
    verify = "\n".join(line for line in DEFAULT_VERIFY.splitlines() if not line.startswith("train."))
    project = make_project(tmp_path / "p", wheelhouse, verify=verify)
    release(project)

    result = run_cli(
        "reproduce", "tests/proof", "--endpoint=local", "--retrain", "--dest", str(project / "reproduced"), cwd=project
    )

    assert result.returncode == 1
    assert "declares no training command (verify.train" in result.stderr
    assert not (project / "reproduced").exists()


# --- what stage records, and bad declarations ---------------------------------------------------------


@pytest.mark.parametrize(
    ("verify", "named"),
    [
        (DEFAULT_VERIFY.replace("metrics.accuracy", "metrics.f1"), "verify.metrics.f1: the card's evaluation results"),
        (DEFAULT_VERIFY.replace('["weights.bin"]', '["*.pt"]'), "verify.train.outputs: '*.pt' matches no file"),
        (DEFAULT_VERIFY.replace('results = "results.json"', 'results = "../out.json"'), "verify.results"),
        (
            DEFAULT_VERIFY.replace('{ result = "scores.accuracy" }', "{ published = 0.1 }"),
            "verify.metrics.accuracy.published is 0.1 but the card states",
        ),
        (
            DEFAULT_VERIFY.replace('"python train.py --out ."', '"python \'train.py"'),
            "verify.train.command cannot be split",
        ),
        (DEFAULT_VERIFY.replace("metrics.accuracy = ", "metrics.accuracy.tolerance = "), "verify.metrics.accuracy"),
    ],
)
def test_a_bad_declaration_stops_the_release_naming_the_field(
    tmp_path: Path, wheelhouse: Wheelhouse, verify: str, named: str
) -> None:
    project = make_project(tmp_path / "p", wheelhouse, verify=verify)

    result = run_cli("release", cwd=project)

    assert result.returncode == 2, result.stdout + result.stderr
    assert named in result.stderr
    assert not (project / ".hub").exists() and not (project / "dist").exists()


def test_the_manifest_records_the_declaration_and_reads_it_back() -> None:
    spec = VerifySpec(
        ("python", "eval.py"),
        "out/results.json",
        (MetricClaim("accuracy", 0.9, "test.accuracy", abs=0.01), MetricClaim("f1", 0.5, "f1", rel=0.02)),
        TrainSpec(("python", "train.py"), ("*.safetensors",)),
    )
    manifest = ReleaseManifest("a/b", "model", "1.0.0", (ManifestEntry("x", 1, "0" * 64),), verify=spec)

    assert ReleaseManifest.from_json(manifest.to_json(), "m").verify == spec
    without = ReleaseManifest("a/b", "model", "1.0.0", (ManifestEntry("x", 1, "0" * 64),))
    assert "verify" not in json.loads(without.to_json()), "a release without [verify] keeps its bytes"


@pytest.mark.parametrize(
    "verify",
    [
        {"command": "python eval.py", "results": "r.json", "metrics": []},
        {
            "command": ["python"],
            "results": "../r.json",
            "metrics": [{"name": "a", "published": 1, "result": "a", "abs": 0, "rel": 0}],
        },
        {
            "command": ["python"],
            "results": "r.json",
            "metrics": [{"name": "a", "published": "1", "result": "a", "abs": 0, "rel": 0}],
        },
    ],
)
def test_a_malformed_recorded_declaration_is_refused(verify: dict[str, Any]) -> None:
    document = json.loads(ReleaseManifest("a/b", "model", "1.0.0", ()).to_json())
    document["verify"] = verify
    with pytest.raises(StageError, match="malformed"):
        ReleaseManifest.from_json(json.dumps(document), "release-manifest.json")


# --- the pure parts ---------------------------------------------------------------------------


def test_tolerances() -> None:
    exact = MetricClaim("a", 0.8222, "a")
    assert exact.allows(0.8222) and not exact.allows(0.82222) and exact.tolerance == "exact"
    absolute = MetricClaim("a", 0.5, "a", abs=0.01)
    assert absolute.allows(0.509) and not absolute.allows(0.52) and absolute.tolerance == "±0.01"
    relative = MetricClaim("a", 200.0, "a", rel=0.01)
    assert relative.allows(201.9) and not relative.allows(203) and relative.tolerance == "±1%"
    either = MetricClaim("a", 0.0, "a", abs=0.1, rel=0.5)
    assert either.allows(0.1) and either.tolerance == "±0.1 or ±50%"
    assert not either.allows(math.nan) and not either.allows(math.inf)


def test_check_metrics_reads_dotted_paths_and_names_what_is_missing() -> None:
    spec = VerifySpec(
        ("x",),
        "r.json",
        (MetricClaim("acc", 0.5, "test.acc"), MetricClaim("f1", 0.5, "f1"), MetricClaim("loss", 1.0, "loss")),
    )
    checks = check_metrics(spec, {"test": {"acc": 0.5}, "loss": "low"})
    assert [(c.name, c.got, c.ok) for c in checks] == [("acc", 0.5, True), ("f1", None, False), ("loss", None, False)]
    assert checks[1].problem == "r.json has no number at 'f1'"
    assert checks[2].problem == "r.json has no number at 'loss' ('low')"


def _model_index(*metrics: tuple[str, str, object]) -> list[dict[str, Any]]:
    results = [
        {
            "task": {"type": "t"},
            "dataset": {"type": dataset, "name": dataset.title()},
            "metrics": [{"type": kind, "value": value}],
        }
        for dataset, kind, value in metrics
    ]
    return [{"name": "m", "results": results}]


def test_declare_takes_the_published_value_from_the_card() -> None:
    config = VerifyConfig(("x",), "r.json", (MetricDeclaration("accuracy", abs=0.01, dataset="b"),))
    index = _model_index(("a", "accuracy", 0.7), ("b", "accuracy", 0.9))
    [claim] = declare(config, index, "release.toml").metrics
    assert (claim.published, claim.result, claim.abs) == (0.9, "accuracy", 0.01)


@pytest.mark.parametrize(
    ("metrics", "index", "message"),
    [
        (
            (MetricDeclaration("accuracy"),),
            _model_index(("a", "accuracy", 0.7), ("b", "accuracy", 0.9)),
            "several datasets (A, B, a, b)",
        ),
        (
            (MetricDeclaration("accuracy"),),
            _model_index(("a", "f1", 0.7)),
            "state no metric of type 'accuracy' (they state: f1)",
        ),
        ((MetricDeclaration("accuracy"),), _model_index(("a", "accuracy", "high")), "as 'high', not a number"),
    ],
)
def test_declare_names_the_metric_it_cannot_resolve(
    metrics: tuple[MetricDeclaration, ...], index: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(ConfigError, match=r"verify\.metrics\.accuracy") as error:
        declare(VerifyConfig(("x",), "r.json", metrics), index, "release.toml")
    assert message in str(error.value)


def test_the_commands_environment_has_the_runtime_first_is_offline_and_holds_no_credentials(tmp_path: Path) -> None:
    base = {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "HF_TOKEN": "hf_x",
        "HUGGING_FACE_HUB_TOKEN": "hf_y",
        "AWS_SECRET_ACCESS_KEY": "k",
        "GITHUB_TOKEN": "g",
        "PYTHONPATH": "/elsewhere",
        "VIRTUAL_ENV": "/our/venv",
    }
    env = Runtime(tmp_path / "venv").environment(base)
    assert env == {
        "PATH": f"{tmp_path / 'venv' / 'bin'}:/usr/bin",
        "HOME": "/home/u",
        "VIRTUAL_ENV": str(tmp_path / "venv"),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    conda = Runtime(tmp_path / "conda", "conda").environment({"PATH": "/usr/bin"})
    assert conda["CONDA_PREFIX"] == str(tmp_path / "conda") and "VIRTUAL_ENV" not in conda


def test_a_verify_command_string_is_split_as_a_shell_would(tmp_path: Path) -> None:
    data = {
        "repo_id": "a/b",
        "version": "1.0.0",
        "verify": {
            "command": "python eval.py --name 'two words'",
            "results": "r.json",
            "metrics": {"accuracy": {"rel": 0.01}},
            "train": {"command": ["python", "train.py"], "outputs": ["*.bin"]},
        },
    }
    verify = parse_config(data, tmp_path / "release.toml", env={}).verify
    assert verify is not None
    assert verify.command == ("python", "eval.py", "--name", "two words")
    assert verify.metrics == (MetricDeclaration("accuracy", rel=0.01),)
    assert (verify.train_command, verify.train_outputs) == (("python", "train.py"), ("*.bin",))


def test_a_working_copy_never_leaves_its_folder(tmp_path: Path) -> None:
    source = tmp_path / "weights.bin"
    source.write_bytes(b"w")
    working_copy([(source, "model/weights.bin")], tmp_path / "work")
    assert (tmp_path / "work" / "model" / "weights.bin").read_bytes() == b"w"
    with pytest.raises(ReproduceError, match=r"lists '\.\./escape\.bin'"):
        working_copy([(source, "../escape.bin")], tmp_path / "work2")
    assert not (tmp_path / "escape.bin").exists()
