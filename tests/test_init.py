"""``model-release init``: adopting model-release in a model project, through the real CLI.

Projects are made in temporary folders with real safetensors weights and data files; their declared
dependencies come from the tests' wheelhouse, so locking runs the real resolver offline.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from project import run_cli
from safetensors.numpy import save_file
from wheelhouse import Wheelhouse

from release.config import load_config
from release.hub.server import HubServer, Token
from release.scaffold import (
    CARD_OUTPUT,
    WeightsFolder,
    choose_model,
    install_spec,
    plan_scaffold,
    scan_project,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
SCAFFOLD = [
    "release.toml",
    "requirements.in",
    "noxfile.py",
    "templates/README.md.j2",
    ".github/workflows/release.yml",
    ".github/workflows/release-checks.yml",
    ".gitignore",
]


def _offline(wheelhouse: Wheelhouse) -> dict[str, str]:
    """pip's variables, which the lock honours: resolve from the wheelhouse alone."""
    return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheelhouse.directory)}


def _make_project(root: Path, *, dependencies: tuple[str, ...] = ("tinypkg>=1.0",)) -> Path:
    """A small training project: safetensors weights with their config, a data folder, a pyproject."""
    (root / "model").mkdir(parents=True)
    weights = {"dense.weight": np.arange(12, dtype=np.float32).reshape(3, 4), "dense.bias": np.ones(3, np.float32)}
    save_file(weights, str(root / "model" / "model.safetensors"))
    (root / "model" / "config.json").write_text('{"hidden_size": 4}\n')
    (root / "data").mkdir()
    (root / "data" / "train.csv").write_text("x,y\n1,0\n2,1\n")
    (root / "data" / "test.csv").write_text("x,y\n3,1\n")
    (root / "train.py").write_text("print('training')\n")
    deps = ", ".join(json.dumps(d) for d in dependencies)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "flower-net"\nversion = "0.3.0"\ndescription = "Tells flowers apart."\n'
        f'license = "MIT"\ndependencies = [{deps}]\n'
    )
    return root


def _tree(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root`` with its bytes and modification time."""
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def adopted(tmp_path: Path, wheelhouse: Wheelhouse) -> tuple[Path, dict[str, Any]]:
    root = _make_project(tmp_path / "flower-net")
    result = run_cli("init", "--json", cwd=root, env=_offline(wheelhouse))
    assert result.returncode == 0, result.stderr
    return root, json.loads(result.stdout)


def test_init_adopts_a_project_and_its_dry_run_passes(
    adopted: tuple[Path, dict[str, Any]], wheelhouse: Wheelhouse
) -> None:
    root, document = adopted
    assert document["ok"] is True and document["command"] == "init"
    assert document["created"] == SCAFFOLD and document["kept"] == []
    assert document["locked"] == ["requirements.txt"] and document["rendered"] == [CARD_OUTPUT]
    assert document["install_spec"] == str(REPO_ROOT)
    detected = document["detected"]
    assert detected["model"]["dir"] == "model" and detected["model"]["include"] == ["*.safetensors", "config.json"]
    assert detected["datasets"] == [{"name": "data", "dir": "data", "files": 2, "bytes": 20}]
    assert detected["requirements_from"] == "pyproject.toml [project].dependencies"
    dry_run = document["dry_run"]
    assert dry_run["outcome"] == "publish"
    added = sorted(f["path"] for f in dry_run["plan"]["added"])
    assert {"model.safetensors", "config.json", "datasets/data.sha256", "README.md", "requirements.txt"} <= set(added)
    assert any("nox -s release" in step for step in document["next_steps"])

    config = load_config(root / "release.toml")
    assert config.repo_id == "your-username/flower-net" and config.version == "0.3.0"
    assert config.endpoint == "local" and config.lock.resolver == "uv"
    assert config.model is not None and config.model.dir == root / "model"
    assert [(d.name, d.dir, d.include_data) for d in config.datasets] == [("data", root / "data", False)]
    assert config.card.metadata == {"license": "mit"} and config.card.output == root / CARD_OUTPUT
    assert config.card.template == root / "templates" / "README.md.j2"
    assert (root / "templates" / "README.md.j2").read_text() == (REPO_ROOT / "templates" / "README.md.j2").read_text()
    assert (root / "requirements.in").read_text().splitlines()[-1] == "tinypkg>=1.0"
    lock = (root / "requirements.txt").read_text()
    assert "tinypkg==1.0" in lock and "tinydep==1.1" in lock and "--hash=sha256:" in lock
    noxfile = (root / "noxfile.py").read_text()
    assert f'MODEL_RELEASE = os.environ.get("MODEL_RELEASE_SPEC") or {json.dumps(str(REPO_ROOT))}' in noxfile
    compile(noxfile, "noxfile.py", "exec")
    assert 'python-version: "3.11"' in (root / ".github/workflows/release.yml").read_text()

    # What the scaffolded workflows run: the release's dry run, the lock and card checks.
    dry = run_cli("release", "--dry-run", "--json", cwd=root, env=_offline(wheelhouse))
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["plan"] == dry_run["plan"]
    assert run_cli("lock", "--check", cwd=root).returncode == 0
    card = run_cli("card", "--check", cwd=root)
    assert card.returncode == 0, card.stdout + card.stderr


def test_a_second_init_changes_nothing(adopted: tuple[Path, dict[str, Any]], wheelhouse: Wheelhouse) -> None:
    root, _first = adopted
    for path in root.rglob("*"):  # back-date every file: a rewrite, even of the same bytes, shows in the mtimes
        if path.is_file():
            os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    before = _tree(root)
    again = run_cli("init", "--json", cwd=root, env=_offline(wheelhouse))
    assert again.returncode == 0, again.stderr
    document = json.loads(again.stdout)
    assert document["created"] == [] and document["kept"] == SCAFFOLD
    assert document["locked"] == [] and "rendered" not in document
    assert _tree(root) == before
    text = run_cli("init", cwd=root, env=_offline(wheelhouse))
    assert "  kept     release.toml (it exists: left as it was)" in text.stdout
    assert _tree(root) == before


def test_init_never_overwrites_and_names_what_it_kept(tmp_path: Path) -> None:
    root = tmp_path / "legacy"
    (root / "checkpoints").mkdir(parents=True)
    (root / "checkpoints" / "model.pt").write_bytes(pickle.dumps({"weight": [1.0, 2.0]}))
    mine = {"noxfile.py": "# my own sessions\n", ".gitignore": "*.log\n", "requirements.txt": "tinypkg==1.0\n"}
    for name, text in mine.items():
        (root / name).write_text(text)
    before = {name: (root / name).stat().st_mtime_ns for name in mine}
    result = run_cli("init", "--json", str(root), cwd=tmp_path)
    assert result.returncode == 1  # the dry run cannot pass: requirements.txt is not a lock
    document = json.loads(result.stdout)
    assert document["kept"] == ["noxfile.py", ".gitignore"]
    assert "release.toml" in document["created"] and "requirements.in" in document["created"]
    for name, text in mine.items():
        assert (root / name).read_text() == text and (root / name).stat().st_mtime_ns == before[name]
    assert document["locked"] == []  # requirements.txt exists: it is not replaced by a lock
    assert document["error"]["step"] == "dry run" and document["error"]["type"] == "StaleLockError"
    assert (root / "requirements.in").read_text().splitlines()[-1] == "tinypkg==1.0"
    assert document["detected"]["model"]["include"] == ["*.pt"]
    assert document["detected"]["requirements_from"] == "requirements.txt"
    steps = "\n".join(document["next_steps"])
    assert ".gitignore" in steps and "noxfile.py was kept" in steps
    human = run_cli("init", str(root), cwd=tmp_path)
    assert "requirements.txt is not a model-release lock and was kept" in human.stdout
    assert "The dry run failed: StaleLockError" in human.stdout


def test_init_needs_an_existing_folder(tmp_path: Path) -> None:
    result = run_cli("init", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert result.returncode == 2
    assert "UsageError" in result.stderr and "is not a folder" in result.stderr
    assert not (tmp_path / "nowhere").exists()


def test_the_scan_prefers_safetensors_and_skips_what_is_not_the_project(tmp_path: Path) -> None:
    root = tmp_path / "project"
    for folder in ("checkpoints", "exported/model", ".venv/lib", "venv", "wandb/run-1", "example/data"):
        (root / folder).mkdir(parents=True)
    (root / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    for folder in ("checkpoints", ".venv/lib", "venv", "wandb/run-1"):
        (root / folder / "big.safetensors").write_bytes(b"x" * 5000)  # ignored, or less safe
    (root / "checkpoints" / "big.safetensors").unlink()
    (root / "checkpoints" / "epoch-9.ckpt").write_bytes(b"x" * 9000)
    for shard in ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"):
        (root / "exported" / "model" / shard).write_bytes(b"x" * 100)
    (root / "exported" / "model" / "model.safetensors.index.json").write_text("{}")
    (root / "exported" / "model" / "tokenizer.json").write_text("{}")
    (root / "example" / "data" / "rows.csv").write_text("a\n")
    scan = scan_project(root)
    assert [f.dir for f in scan.weights] == ["exported/model", "checkpoints"]
    model = choose_model(scan.weights)
    assert model is not None and model.dir == "exported/model"
    assert model.include == ("*.safetensors", "*.safetensors.index.json", "tokenizer.json")
    assert model.notes == ("weights also in: checkpoints/ (change dir to release another)",)
    assert [(d.dir, d.name, d.files) for d in scan.datasets] == [("example/data", "example-data", 1)]
    assert scan.name == "project" and scan.version == "0.1.0" and scan.requirements_source is None


def test_pickles_beside_safetensors_are_left_out() -> None:
    folder = WeightsFolder(
        ".",
        (("model.safetensors", "safetensors", 10), ("pytorch_model.bin", "pickle", 10)),
        ("config.json",),
    )
    model = choose_model([folder])
    assert model is not None and model.include == ("*.safetensors", "config.json")
    assert model.notes == ("left out, as safer weights are released: pytorch_model.bin",)
    assert choose_model([]) is None


def test_the_plan_fills_a_given_repo_id_and_leaves_model_commented_without_weights(tmp_path: Path) -> None:
    scan = scan_project(tmp_path)
    plan = plan_scaffold(scan, spec="model-release==0.1.0", python="3.12", repo_id="flower-lab/net")
    files = {f.path: f.text for f in plan.files}
    assert list(files) == SCAFFOLD
    config = files["release.toml"]
    assert 'repo_id = "flower-lab/net"\n' in config and "# [model]\n" in config and "[[datasets]]" not in config
    assert '"model-release==0.1.0"' in files["noxfile.py"] and 'PYTHON = "3.12"' in files["noxfile.py"]
    assert 'python-version: "3.12"' in files[".github/workflows/release-checks.yml"]


def test_the_install_spec_is_this_checkout_unless_the_environment_names_one() -> None:
    assert install_spec({}) == str(REPO_ROOT)
    spec = "model-release @ git+https://example.org/model-release@v0.1.0"
    assert install_spec({"MODEL_RELEASE_SPEC": spec}) == spec


@pytest.mark.slow
def test_a_project_made_by_init_releases_with_nox(adopted: tuple[Path, dict[str, Any]], wheelhouse: Wheelhouse) -> None:
    """`nox -s release` of the scaffolded noxfile, in this environment (--no-venv): the session's steps
    run as written; only the install of model-release, which would need the package index, is skipped."""
    root, _document = adopted
    bin_dir = str(Path(sys.executable).parent)
    env = {**_offline(wheelhouse), "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    nox = [sys.executable, "-m", "nox", "--no-venv", "--no-install", "--non-interactive"]
    result = subprocess.run(
        [*nox, "-s", "release", "--", "--json"],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()  # nox passes the log (stderr) on to stdout too: the JSON is last
    document = json.loads("\n".join(lines[lines.index("{") :]))
    assert document["tag"] == "v0.3.0" and document["repo_id"] == "your-username/flower-net"
    with HubServer(root / ".hub", [Token("reader", "hf_reader_token")]) as hub:
        from huggingface_hub import HfApi

        refs = HfApi(endpoint=hub.url, token="hf_reader_token").list_repo_refs("your-username/flower-net")
    assert [(t.name, t.target_commit) for t in refs.tags] == [("v0.3.0", document["commit"])]
    check = subprocess.run(
        [*nox, "-s", "check"], cwd=root, capture_output=True, text=True, env={**os.environ, **env}, timeout=300
    )
    assert check.returncode == 0, check.stderr
