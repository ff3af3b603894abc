"""The machine section of environment.json: probed in real interpreters, compared, and reported by reproduce."""

from __future__ import annotations

import json
import os
import platform
import stat
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import RunningHub
from wheelhouse import Wheelhouse

from release.checksum import build_manifest
from release.cli import main
from release.errors import LockError
from release.lock.pip import PipIndex, lock_requirements
from release.lock.snapshot import write_snapshot
from release.machine import (
    Library,
    Machine,
    MachineDifference,
    Platform,
    ThreadPool,
    machine_differences,
    machine_of,
    probe_machine,
)
from release.publish import publish_release
from release.publish_plan import PublishTarget
from release.stage import SourceInfo, apply_stages, plan_stage

SECTION_KEYS = {"cpu", "accelerator", "gpus", "cuda", "gpu_driver", "blas", "lapack", "blas_runtime"}

RECORDED = Machine(
    python="3.11.7",
    platform=Platform("Linux", "x86_64", "glibc 2.36"),
    cpu="AMD EPYC 7763 64-Core Processor",
    accelerator="cuda",
    gpus=("NVIDIA A100-SXM4-80GB",),
    cuda="12.1",
    blas=Library("scipy-openblas", "0.3.27"),
    lapack=Library("scipy-openblas", "0.3.27"),
)


# --- the probe, in real interpreters --------------------------------------------------------------


def test_the_probe_of_this_interpreter_gives_a_well_formed_machine() -> None:
    machine = probe_machine(sys.executable)
    assert machine.python == platform.python_version()
    assert machine.platform is not None and machine.platform.system == platform.system()
    assert machine.platform.machine == platform.machine()
    assert machine.cpu is None or (isinstance(machine.cpu, str) and machine.cpu.strip() == machine.cpu)
    assert machine.accelerator in ("cpu", "cuda", "mps")
    assert isinstance(machine.gpus, tuple) and all(isinstance(name, str) and name for name in machine.gpus)
    # numpy is installed here: the BLAS and LAPACK it was built with are named
    assert machine.blas is not None and machine.blas.name and machine.lapack is not None and machine.lapack.name
    assert probe_machine(sys.executable) == machine  # the same machine and environment: the same description


def test_the_snapshot_holds_the_machine_section_without_paths(tmp_path: Path) -> None:
    write_snapshot(tmp_path / "environment.json", sys.executable, None)
    text = (tmp_path / "environment.json").read_text(encoding="utf-8")
    document = json.loads(text)
    section = document["machine"]
    assert set(section) == SECTION_KEYS
    assert section["accelerator"] in ("cpu", "cuda", "mps") and isinstance(section["gpus"], list)
    assert set(section["blas"]) == {"name", "version"} and isinstance(section["blas"]["name"], str)
    assert set(section["lapack"]) == {"name", "version"}
    assert machine_of(document) == probe_machine(sys.executable)  # what is written reads back as probed
    for path in (sys.prefix, sys.base_prefix, str(tmp_path), os.path.expanduser("~")):
        assert path not in text
    assert platform.node() not in text


def _fake_nvidia_smi(folder: Path, script: str) -> None:
    folder.mkdir()
    program = folder / "nvidia-smi"
    program.write_text(f"#!/bin/sh\n{script}\n", encoding="utf-8")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)


@pytest.mark.skipif(sys.platform == "win32", reason="a shell script stands in for nvidia-smi")
def test_without_torch_the_gpus_come_from_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Not a mock of our code: a stand-in for the NVIDIA tool on a machine without GPUs, answering its real query.
    if _has_torch():
        pytest.skip("torch is installed here: the GPUs come from torch")
    query = '[ "$1" = "--query-gpu=name,driver_version" ] && [ "$2" = "--format=csv,noheader" ] || exit 2'
    _fake_nvidia_smi(
        tmp_path / "bin", f"{query}\nprintf 'NVIDIA H100 80GB HBM3, 550.54.15\\nNVIDIA H100 80GB HBM3, 550.54.15\\n'"
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    machine = probe_machine(sys.executable)
    assert machine.gpus == ("NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3")
    assert machine.gpu_driver == "550.54.15" and machine.accelerator == "cpu" and machine.cuda is None


@pytest.mark.skipif(sys.platform == "win32", reason="a shell script stands in for nvidia-smi")
def test_a_failing_part_of_the_probe_is_unknown_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if _has_torch():
        pytest.skip("torch is installed here: nvidia-smi is not asked")
    _fake_nvidia_smi(tmp_path / "bin", "echo 'NVIDIA-SMI has failed' >&2\nexit 9")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    machine = probe_machine(sys.executable)
    assert machine.gpus is None and machine.gpu_driver is None  # unknown
    assert machine.python == platform.python_version() and machine.blas is not None  # the rest is there


def test_a_torch_that_fails_to_import_leaves_the_accelerator_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "site" / "torch"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('libtorch_cuda.so: cannot open shared object file')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "site"))
    machine = probe_machine(sys.executable)
    assert (machine.accelerator, machine.gpus, machine.cuda) == (None, None, None)
    assert machine.python == platform.python_version() and machine.blas is not None


def test_a_missing_interpreter_is_named() -> None:
    with pytest.raises(LockError, match="/no/such/python"):
        probe_machine("/no/such/python")


def _has_torch() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


# --- reading environment.json ---------------------------------------------------------------------


def test_a_file_without_the_machine_section_gives_python_and_platform() -> None:
    older = {
        "format": "model-release.environment/1",
        "python": {"implementation": "CPython", "version": "3.11.7"},
        "platform": {"system": "Linux", "release": "6.1", "machine": "x86_64", "libc": "glibc 2.36"},
        "torch": None,
    }
    assert machine_of(older) == Machine(python="3.11.7", platform=Platform("Linux", "x86_64", "glibc 2.36"))
    assert machine_of({}) == Machine()


def test_the_section_reads_back_and_wrong_types_are_unknown() -> None:
    runtime = ThreadPool("blas", "openblas", "0.3.27", "pthreads", "Zen", 8)
    machine = replace(RECORDED, gpu_driver="550.54.15", blas_runtime=(runtime,))
    document = {
        "python": {"version": "3.11.7"},
        "platform": {"system": "Linux", "machine": "x86_64", "libc": "glibc 2.36"},
    }
    assert machine_of({**document, "machine": json.loads(json.dumps(machine.section()))}) == machine
    garbled = {"cpu": 7.5, "accelerator": "tpu", "gpus": "A100", "cuda": True, "blas": ["openblas"], "blas_runtime": {}}
    read = machine_of({**document, "machine": garbled})
    assert read == Machine(python="3.11.7", platform=Platform("Linux", "x86_64", "glibc 2.36"))


# --- the comparison (pure) ------------------------------------------------------------------------


def test_the_same_machine_has_no_differences() -> None:
    assert list(machine_differences(RECORDED, RECORDED)) == []
    assert machine_differences(RECORDED, RECORDED).lines() == []


def test_every_kind_of_difference_in_order() -> None:
    here = Machine(
        python="3.11.9",
        platform=Platform("Darwin", "arm64", None),
        cpu="Apple M2",
        accelerator="mps",
        gpus=(),
        cuda=None,
        blas=Library("accelerate", None),
        lapack=Library("accelerate", None),
    )
    differences = machine_differences(RECORDED, here)
    assert list(differences) == [
        MachineDifference("Python", "3.11.7", "3.11.9"),
        MachineDifference("platform", "Linux x86_64", "Darwin arm64"),  # libc: only when both record one
        MachineDifference("CPU", "AMD EPYC 7763 64-Core Processor", "Apple M2"),
        MachineDifference("accelerator", "cuda", "mps"),
        MachineDifference("GPU", "NVIDIA A100-SXM4-80GB", "none"),
        MachineDifference("BLAS", "scipy-openblas 0.3.27", "accelerate"),
    ]
    assert differences.to_json()[0] == {"what": "Python", "recorded": "3.11.7", "here": "3.11.9"}
    assert differences.lines()[4] == "GPU: none here, NVIDIA A100-SXM4-80GB in environment.json"


def test_cuda_libc_and_lapack_are_compared_when_both_sides_know_them() -> None:
    here = replace(
        RECORDED, cuda="12.4", platform=Platform("Linux", "x86_64", "glibc 2.31"), lapack=Library("mkl", "2024.1")
    )
    assert machine_differences(RECORDED, here).to_json() == [
        {"what": "platform", "recorded": "Linux x86_64 glibc 2.36", "here": "Linux x86_64 glibc 2.31"},
        {"what": "CUDA", "recorded": "12.1", "here": "12.4"},
        {
            "what": "BLAS",
            "recorded": "scipy-openblas 0.3.27",
            "here": "scipy-openblas 0.3.27, LAPACK mkl 2024.1",
        },
    ]


def test_what_one_side_does_not_know_is_not_a_difference() -> None:
    older = Machine(python="3.11.7", platform=Platform("Linux", "x86_64", "glibc 2.36"))
    assert list(machine_differences(older, RECORDED)) == []  # an environment.json from before the machine section
    unknown = replace(RECORDED, cpu=None, gpus=None, blas=None, accelerator=None)
    assert list(machine_differences(RECORDED, unknown)) == []


def test_the_blas_runtime_is_compared_when_both_record_it() -> None:
    zen = ThreadPool("blas", "openblas", "0.3.27", "pthreads", "Zen", 8)
    haswell = replace(zen, architecture="Haswell", num_threads=2)
    recorded, here = replace(RECORDED, blas_runtime=(zen,)), replace(RECORDED, blas_runtime=(haswell,))
    assert machine_differences(recorded, here).lines() == [
        "BLAS: scipy-openblas 0.3.27 (at run time: openblas 0.3.27 Haswell pthreads, 2 threads) here, "
        "scipy-openblas 0.3.27 (at run time: openblas 0.3.27 Zen pthreads, 8 threads) in environment.json"
    ]
    assert list(machine_differences(recorded, RECORDED)) == []  # no runtime view here: only the build compared


# --- reproduce reports them -----------------------------------------------------------------------


def _release_made_elsewhere(hub: RunningHub, tmp_path: Path, wheelhouse: Wheelhouse, repo: str) -> None:
    """A release whose environment.json records another machine: a GPU box with another CPU."""
    work = tmp_path / "work"
    (work / "model").mkdir(parents=True)
    (work / "requirements.in").write_text("tinypkg\n", encoding="utf-8")
    lock = work / "requirements.txt"
    lock_requirements(work / "requirements.in", lock, PipIndex(no_index=True, find_links=(str(wheelhouse.directory),)))
    snapshot: dict[str, Any] = {
        "format": "model-release.environment/1",
        "python": {"implementation": "CPython", "version": platform.python_version()},
        "platform": {"system": platform.system(), "machine": platform.machine(), "release": "", "libc": None},
        "distributions": [{"name": "tinypkg", "version": "1.0"}, {"name": "tinydep", "version": "1.1"}],
        "torch": None,
        "machine": {**replace(RECORDED, cpu="Imaginary CPU 9000 (model-release tests)").section(), "blas": None},
        "drift": {"lock": "requirements.txt", "different": [], "missing": []},
    }
    (work / "environment.json").write_text(json.dumps(snapshot), encoding="utf-8")
    (work / "model" / "config.json").write_text(f'{{"repo": "{repo}"}}\n', encoding="utf-8")
    plan = plan_stage(
        dest=work / "dist",
        repo_id=repo,
        repo_type="model",
        version="1.0",
        card=f"---\nlicense: mit\n---\n# {repo}\n",
        model=(build_manifest(work / "model"), work / "model"),
        datasets=[],
        locks={"requirements.txt": lock, "environment.json": work / "environment.json"},
        source=SourceInfo("c" * 40, False),
    )
    apply_stages([plan])
    publish_release(plan.dest, plan.manifest, PublishTarget(hub.url, repo, "model", hub.token))


def test_reproduce_names_how_the_machine_differs(
    hub: RunningHub, tmp_path: Path, wheelhouse: Wheelhouse, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = "alice/machine-elsewhere"
    _release_made_elsewhere(hub, tmp_path, wheelhouse, repo)
    argv = ["reproduce", repo, "--endpoint", hub.url, "--no-index", "--find-links", str(wheelhouse.directory)]
    assert main([*argv, "--dest", str(tmp_path / "json"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    by_what = {d["what"]: d for d in summary["machine_differences"]}
    here = probe_machine(sys.executable)
    assert by_what["CPU"] == {"what": "CPU", "recorded": "Imaginary CPU 9000 (model-release tests)", "here": here.cpu}
    assert by_what["accelerator"]["recorded"] == "cuda" and by_what["accelerator"]["here"] == "cpu"  # no torch
    assert by_what["GPU"]["recorded"] == "NVIDIA A100-SXM4-80GB"
    assert "Python" not in by_what and "platform" not in by_what  # the same interpreter, libc not recorded
    assert "BLAS" not in by_what  # recorded as unknown, and the rebuilt venv has no numpy
    assert main([*argv, "--dest", str(tmp_path / "text")]) == 0
    out = capsys.readouterr().out
    assert "the machine differs from the one the release was made on:\n" in out
    assert f"  CPU: {here.cpu} here, Imaginary CPU 9000 (model-release tests) in environment.json\n" in out
