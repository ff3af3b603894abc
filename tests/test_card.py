from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from release.card import (
    CardMetadata,
    check_card_file,
    load_metadata,
    render_card,
    split_front_matter,
    validate_metadata,
    with_eval_results,
)
from release.errors import CardError, CardValidationError

CONTEXT = {
    "repo_id": "alice/m",
    "repo_name": "m",
    "repo_type": "model",
    "version": "1.0",
    "tag": "v1.0",
    "metadata": {},
    "content": {},
    "model_files": [{"path": "model.safetensors", "size": 10, "sha256": "ab" * 32}],
    "datasets": [],
    "eval_results": [],
    "environment": {
        "lock_file": "requirements.txt",
        "requirements": [],
        "resolved_for": None,
        "conda_lock": None,
    },
}


def test_every_problem_is_reported_with_path_file_and_line(tmp_path: Path) -> None:
    card = tmp_path / "card.yaml"
    card.write_text(
        "license: not-a-license\n"
        "language: [en]\n"
        "pipeline_tag: text-clasification\n"
        "model-index:\n"
        "  - name: m\n"
        "    results:\n"
        "      - task: {type: text-classification}\n"
        "        dataset: {type: imdb, name: IMDB}\n"
        "        metrics:\n"
        "          - type: accuracy\n"
    )
    metadata = load_metadata(None, card, "release.toml")
    with pytest.raises(CardValidationError) as info:
        validate_metadata(metadata)
    problems = {p.path: p for p in info.value.problems}
    assert set(problems) == {"license", "pipeline_tag", "model-index[0].results[0].metrics[0].value"}
    assert problems["license"].source == f"{card}:1"
    assert "not-a-license" in problems["license"].message
    assert "did you mean 'text-classification'?" in problems["pipeline_tag"].message
    assert problems["model-index[0].results[0].metrics[0].value"].source == f"{card}:10"
    assert "nothing was rendered or uploaded" in str(info.value)


def test_license_other_needs_a_name_and_a_link() -> None:
    metadata = CardMetadata({"license": "other"}, "release.toml [card.metadata]")
    with pytest.raises(CardValidationError, match="license_name"):
        validate_metadata(metadata)
    ok = CardMetadata({"license": "other", "license_name": "my-license", "license_link": "LICENSE"}, "inline")
    validate_metadata(ok)


def test_warnings_do_not_block(caplog: pytest.LogCaptureFixture) -> None:
    warnings = validate_metadata(CardMetadata({"library_name": "my-own-lib"}, "inline"))
    assert any("no license" in w for w in warnings)
    assert any("my-own-lib" in w for w in warnings)
    assert any("no evaluation results" in w for w in warnings)


def test_eval_results_fill_model_index_unless_present() -> None:
    results = [
        {
            "task": {"type": "text-classification"},
            "dataset": {"type": "d", "name": "D"},
            "metrics": [{"type": "accuracy", "value": 0.5}],
        }
    ]
    filled = with_eval_results(CardMetadata({"license": "mit"}, "x"), results, "m")
    assert filled.data["model-index"] == [{"name": "m", "results": results}]
    kept = CardMetadata({"model-index": [{"name": "mine", "results": results}]}, "x")
    assert with_eval_results(kept, results, "m") is kept


def test_front_matter_is_emitted_from_the_data_and_parses_back() -> None:
    metadata = {"license": "mit", "tags": ["a: tricky", "#hash"], "language": ["en"]}
    text = render_card(metadata, {**CONTEXT, "metadata": metadata})
    front, body = split_front_matter(text, "README.md")
    assert front is not None and yaml.safe_load(front) == metadata
    assert "`alice/m`" in body and "model.safetensors" in body


def test_undefined_template_variable_is_an_error_naming_the_template(tmp_path: Path) -> None:
    template = tmp_path / "card.md.j2"
    template.write_text("# {{ repo_name }}\n\n{{ no_such_variable }}\n")
    with pytest.raises(CardError, match=r"card\.md\.j2:3.*no_such_variable"):
        render_card({}, CONTEXT, template)


def test_user_template_folder_overrides_and_can_include_its_own_parts(tmp_path: Path) -> None:
    (tmp_path / "part.j2").write_text("custom part for {{ repo_id }}\n")
    (tmp_path / "README.md.j2").write_text("{% include 'part.j2' %}")
    text = render_card({"license": "mit"}, CONTEXT, tmp_path / "README.md.j2")
    assert text.endswith("custom part for alice/m\n")


def test_missing_template_is_named(tmp_path: Path) -> None:
    with pytest.raises(CardError, match="does not exist"):
        render_card({}, CONTEXT, tmp_path / "nope.j2")


def test_check_card_file_on_a_card_written_by_someone_else(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("---\nlicense: apache-2.0\nlanguage: english\n---\n# A card\n")
    check = check_card_file(readme)
    [problem] = check.errors
    assert problem.path == "language"
    assert problem.source == f"{readme}:3"


def test_card_without_front_matter_or_with_broken_yaml(tmp_path: Path) -> None:
    plain = tmp_path / "plain.md"
    plain.write_text("# nothing\n")
    assert "no YAML metadata" in check_card_file(plain).errors[0].message
    broken = tmp_path / "broken.md"
    broken.write_text("---\nlicense: [mit\n---\n")
    [problem] = check_card_file(broken).errors
    assert "not valid YAML" in problem.message


def test_cli_card_validate_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.md"
    good.write_text("---\nlicense: mit\n---\n")
    bad = tmp_path / "bad.md"
    bad.write_text("---\nlicense: mitt\n---\n")
    run = [sys.executable, "-m", "release", "card", "validate"]
    assert subprocess.run([*run, str(good)], capture_output=True).returncode == 0
    failed = subprocess.run([*run, str(good), str(bad)], capture_output=True, text=True)
    assert failed.returncode == 1
    assert f"{bad}:2: license" in failed.stdout and "did you mean 'mit'?" in failed.stdout
