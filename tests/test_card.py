from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from real_cards import GGUF_CARD, SENTENCE_TRANSFORMERS_CARD, SENTENCE_TRANSFORMERS_DATASETS, paragraphs

from release.card import (
    CardMetadata,
    EvalResultsFile,
    card_body,
    check_card_file,
    check_metadata,
    eval_results_files,
    load_eval_results,
    load_metadata,
    read_card,
    render_card,
    split_front_matter,
    validate_metadata,
    with_eval_results,
    with_published_datasets,
)
from release.errors import CardError, CardValidationError

REPO_ROOT = Path(__file__).resolve().parent.parent

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
    "lock_files": [{"path": "requirements.txt", "size": 5, "sha256": "cd" * 32}],
    "eval_results": [],
    "eval_results_files": [],
    "environment": {
        "lock_file": "requirements.txt",
        "has_pip_lock": True,
        "requirements": [("numpy", "2.0.0")],
        "resolved_for": "with pip-tools for CPython 3.11 on linux x86_64",
        "conda_lock": None,
        "environment_yml": None,
        "snapshot": "environment.json",
        "python": "CPython 3.11.7",
        "platform": "Linux x86_64",
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
    check = check_metadata(metadata)
    # The Hub takes a pipeline tag outside its list (with a warning); a wrong license or a metric
    # without its value it refuses.
    [pipeline_tag] = [w for w in check.warnings if "pipeline_tag" in w]
    assert pipeline_tag.startswith(f"{card}:3: pipeline_tag: ")
    assert "did you mean 'text-classification'?" in pipeline_tag
    with pytest.raises(CardValidationError) as info:
        validate_metadata(metadata)
    problems = {p.path: p for p in info.value.problems}
    assert set(problems) == {"license", "model-index[0].results[0].metrics[0].value"}
    assert problems["license"].source == f"{card}:1"
    assert "not-a-license" in problems["license"].message
    assert problems["model-index[0].results[0].metrics[0].value"].source == f"{card}:10"
    assert "nothing was rendered or uploaded" in str(info.value)


def test_license_other_without_a_name_and_a_link_is_a_warning() -> None:
    """The Hub takes license: other alone; it only has no name or link to show."""
    metadata = CardMetadata({"license": "other"}, "release.toml [card.metadata]")
    warnings = validate_metadata(metadata)
    assert any("license_name" in w and "license_link" in w for w in warnings), warnings
    ok = CardMetadata({"license": "other", "license_name": "my-license", "license_link": "LICENSE"}, "inline")
    assert not any("license_name" in w for w in validate_metadata(ok))


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


@pytest.mark.parametrize(
    "reach",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ repo_id.__class__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{% set _ = metadata.update({'license': 'x'}) %}{{ metadata }}",  # the values it is given stay as they are
    ],
)
def test_a_template_that_reaches_for_python_internals_is_a_card_error_naming_its_line(
    tmp_path: Path, reach: str
) -> None:
    template = tmp_path / "card.md.j2"
    template.write_text(f"# {{{{ repo_name }}}}\n\n{reach}\n")
    with pytest.raises(CardError, match=r"card\.md\.j2:3: .*unsafe"):
        render_card({}, {**CONTEXT, "metadata": {"license": "mit"}}, template)


def test_card_inputs_that_are_not_utf8_are_card_errors_naming_the_file_and_byte(tmp_path: Path) -> None:
    metadata, results, card = tmp_path / "card.yaml", tmp_path / "eval_results.json", tmp_path / "README.md"
    metadata.write_bytes(b"license: mit\ntags: [caf\xe9]\n")
    results.write_bytes(b'{"results": ["\xff"]}')
    card.write_bytes(b"---\nlicense: mit\n---\n\xfe\n")
    with pytest.raises(CardError, match=rf"{re.escape(str(metadata))}: .*byte 0xe9 in position 23"):
        load_metadata(None, metadata, "release.toml")
    with pytest.raises(CardError, match=rf"{re.escape(str(results))}: .*byte 0xff in position 14"):
        load_eval_results(results)
    with pytest.raises(CardError, match=rf"{re.escape(str(card))}: .*byte 0xfe in position 21"):
        check_card_file(card)


def _alias_bomb(levels: int = 7) -> str:
    """Front matter of a few hundred bytes whose aliases expand nine-fold per level (9**7: 4.8 million values)."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "license: mit\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("metadata", "limit"),
    [
        (_alias_bomb(), "more than 100,000 values once its aliases are expanded"),
        ("base: &b {k: v}\n" + "".join(f"k{i}: *b\n" for i in range(101)), "more than 100 aliases"),
        ("license: mit\nnotes: '" + "x" * (1 << 20) + "'\n", "more than 1,048,576"),
        ("license: mit\ndeep: " + "[" * 20_000 + "]" * 20_000 + "\n", "nests values too deeply"),
    ],
)
def test_card_metadata_beyond_the_yaml_limits_is_refused_naming_the_file_and_limit(
    tmp_path: Path, metadata: str, limit: str
) -> None:
    file, card = tmp_path / "card.yaml", tmp_path / "README.md"
    file.write_text(metadata)
    card.write_text(f"---\n{metadata}---\n# A card\n")
    with pytest.raises(CardError, match=rf"{re.escape(str(file))}: the card metadata is refused: .*{re.escape(limit)}"):
        load_metadata(None, file, "release.toml")
    with pytest.raises(CardError, match=re.escape(limit)):
        check_card_file(card)
    result = subprocess.run(
        [sys.executable, "-m", "release", "card", "validate", str(card)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"CardError: {card}: the card metadata is refused" in result.stderr


def test_a_few_aliases_are_read_and_the_card_is_written_without_any() -> None:
    metadata = read_card("---\nlicense: mit\nbase: &b [en, fr]\nlanguage: *b\n---\nbody\n", "README.md").data
    assert metadata["language"] == ["en", "fr"]
    shared = ["en", "fr"]
    text = render_card({"license": "mit", "language": shared, "tags": shared}, CONTEXT)
    front, _ = split_front_matter(text, "README.md")
    assert front is not None and "&" not in front and "*" not in front
    assert yaml.safe_load(front) == {"license": "mit", "language": ["en", "fr"], "tags": ["en", "fr"]}


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
    readme.write_text("---\nlicense: apache-2.0\nlanguage: english\nmodel-index: foo\n---\n# A card\n")
    check = check_card_file(readme)
    [problem] = check.errors
    assert problem.path == "model-index"
    assert problem.source == f"{readme}:4"
    [language] = [w for w in check.warnings if "language" in w]
    assert language.startswith(f"{readme}:3: language: 'english' is not an ISO 639 code")


def test_card_without_front_matter_or_with_broken_yaml(tmp_path: Path) -> None:
    plain = tmp_path / "plain.md"
    plain.write_text("# nothing\n")
    empty = check_card_file(plain)  # the Hub takes it, with this warning
    assert empty.errors == () and empty.warnings == (f"{plain}: empty or missing yaml metadata in repo card",)
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


# --- the template: what a release explains, and the same bytes every time --------------------------

MODEL_INDEX_RESULTS = [
    {
        "task": {"type": "text-classification", "name": "Text Classification"},
        "dataset": {"type": "stanfordnlp/imdb", "name": "IMDb", "config": "plain_text", "split": "test"},
        "metrics": [
            {"type": "accuracy", "value": 0.9312, "name": "Test accuracy"},
            {"type": "f1", "value": 93, "args": {"average": "macro"}},
        ],
    },
    {
        "task": {"type": "text-classification"},
        "dataset": {"type": "cais/hle", "name": "HLE", "split": "test", "revision": "abc123"},
        "metrics": [{"type": "accuracy", "value": 20.9}],
        "source": {"url": "https://example.org/eval", "name": "Eval logs"},
    },
]

MODEL_INDEX_RESULTS_TYPED: list[dict[str, Any]] = MODEL_INDEX_RESULTS


def _full_context(**environment: object) -> dict[str, object]:
    metadata = {
        "license": "mit",
        "pipeline_tag": "text-classification",
        "model-index": [{"name": "m", "results": MODEL_INDEX_RESULTS}],
    }
    return {
        **CONTEXT,
        "metadata": metadata,
        "content": {"citation": "@misc{m, title={M}}", "summary": "A model."},
        "eval_results": MODEL_INDEX_RESULTS,
        "eval_results_files": [".eval_results/cais__hle.yaml"],
        "environment": {**CONTEXT["environment"], **environment},  # type: ignore[dict-item]
    }


def test_rendering_is_byte_for_byte_deterministic_and_dateless() -> None:
    context = _full_context(conda_lock="conda-lock.yml")
    metadata = context["metadata"]
    assert isinstance(metadata, dict)
    first = render_card(metadata, context)
    assert render_card(dict(metadata), dict(context)) == first
    assert not re.search(r"\b(19|20)\d\d-\d\d-\d\d\b", first), "a date leaked into the card"


def test_card_documents_files_environment_reproduction_citation_and_license() -> None:
    context = _full_context(conda_lock="conda-lock.yml")
    metadata = context["metadata"]
    assert isinstance(metadata, dict)
    _, body = split_front_matter(render_card(metadata, context), "README.md")
    assert f"| `model.safetensors` | 10 | `{'ab' * 32}` |" in body
    assert f"| `requirements.txt` | 5 | `{'cd' * 32}` |" in body
    assert "Trained with CPython 3.11.7 on Linux x86_64" in body
    assert "| numpy | 2.0.0 |" in body
    assert "nox -s reproduce -- alice/m@v1.0" in body
    assert "pip install --require-hashes -r requirements.txt" in body
    assert "conda-lock install -n m conda-lock.yml" in body
    assert "| Text Classification | IMDb | test | f1 | 93 |" in body
    assert "`.eval_results/cais__hle.yaml`" in body
    assert "## Citation\n\n```\n@misc{m, title={M}}\n```" in body
    assert "## License\n\n`mit`" in body
    no_conda = render_card(metadata, _full_context(conda_lock=None))
    assert "conda-lock install" not in no_conda


def test_custom_license_section_names_the_license_and_links_it() -> None:
    metadata = {"license": "other", "license_name": "my-license", "license_link": "LICENSE.md"}
    text = render_card(metadata, {**CONTEXT, "metadata": metadata})
    assert "## License\n\nmy-license: see [LICENSE.md](LICENSE.md)." in text


def test_rendered_card_round_trips_through_huggingface_hub(tmp_path: Path) -> None:
    """The real client parses the card, and its model-index parser gives back the same numbers."""
    from huggingface_hub import ModelCard, ModelCardData, metadata_load
    from huggingface_hub.repocard_data import model_index_to_eval_results

    context = _full_context()
    metadata = context["metadata"]
    assert isinstance(metadata, dict)
    readme = tmp_path / "README.md"
    readme.write_text(render_card(metadata, context), encoding="utf-8")
    card = ModelCard.load(readme)
    data = card.data
    assert isinstance(data, ModelCardData)
    assert data.license == "mit" and data.pipeline_tag == "text-classification"
    loaded = metadata_load(readme)
    assert loaded is not None
    name, results = model_index_to_eval_results(loaded["model-index"])
    assert name == "m"
    parsed = [(r.dataset_type, r.dataset_split, r.metric_type, r.metric_value) for r in results]
    expected = [
        (result["dataset"]["type"], result["dataset"]["split"], metric["type"], metric["value"])
        for result in MODEL_INDEX_RESULTS_TYPED
        for metric in result["metrics"]
    ]
    assert parsed == expected
    assert data.eval_results is not None
    assert [(r.metric_type, r.metric_value) for r in data.eval_results] == [(e[2], e[3]) for e in expected]
    assert results[0].dataset_config == "plain_text" and results[2].source_url == "https://example.org/eval"


# --- every schema rule: a card breaking it, whose problem names the field, its line and its severity -----
#
# An error is a value the Hub refuses; a warning one it takes (docs/card-rules.md gives the evidence).

# (repo type, YAML front matter, the field's JSON path, the line of the value in the YAML, a message
# fragment, "error" or "warning")
CARD_PROBLEMS: list[tuple[str, str, str, int, str, str]] = [
    ("model", "license: mitt\n", "license", 1, "did you mean 'mit'?", "error"),
    ("model", "license:\n- mit\n- apache2\n", "license[1]", 3, "did you mean 'apache-2.0'?", "error"),
    ("model", "tags: [a]\nlicense: other\n", "license_name", 2, "license: other needs license_name", "warning"),
    (
        "model",
        "license: other\nlicense_name: My License\nlicense_link: LICENSE\n",
        "license_name",
        2,
        "slug",
        "warning",
    ),
    (
        "model",
        "license: other\nlicense_name: my-license\nlicense_link: ''\n",
        "license_link",
        3,
        "must not be empty",
        "warning",
    ),
    ("model", "license_details: 3\n", "license_details", 1, "must be a string", "error"),
    ("model", "language: english\n", "language", 1, "not an ISO 639 code", "warning"),
    ("model", "language:\n- en\n- EN\n", "language[1]", 3, "lowercase", "warning"),
    ("model", "language: en-US\n", "language", 1, "put 'en-US' in language_bcp47", "warning"),
    ("model", "language: {en: 1}\n", "language", 1, "must be a string or a list", "error"),
    ("model", "language_bcp47: en-US\n", "language_bcp47", 1, "must be a list", "error"),
    ("model", "language_bcp47:\n- en US\n", "language_bcp47[0]", 2, "BCP-47", "warning"),
    ("model", "language_details: 3\n", "language_details", 1, "must be a string or a list", "error"),
    ("model", "library_name: ''\n", "library_name", 1, "must not be empty", "warning"),
    ("model", "library_name: [transformers]\n", "library_name", 1, "must be a string", "error"),
    ("model", "tags: nlp\n", "tags", 1, "must be a list", "error"),
    ("model", "datasets:\n- not a dataset\n", "datasets[0]", 2, "repository id", "warning"),
    ("model", "datasets: {imdb: 1}\n", "datasets", 1, "must be a string or a list", "error"),
    ("model", "buckets:\n- ../up\n", "buckets[0]", 2, "bucket ids", "warning"),
    ("model", "metrics:\n- 1\n", "metrics[0]", 2, "must be a string", "warning"),
    ("model", "base_model: ./local-dir\n", "base_model", 1, "not valid", "error"),
    ("model", "base_model_relation: distillation\n", "base_model_relation", 1, "the Hub infers", "warning"),
    (
        "model",
        "pipeline_tag: text-clasification\n",
        "pipeline_tag",
        1,
        "did you mean 'text-classification'?",
        "warning",
    ),
    ("model", "pipeline_tag: [text-generation]\n", "pipeline_tag", 1, "must be a string", "error"),
    ("model", "model-index: foo\n", "model-index", 1, "must be a list", "error"),
    ("model", "model-index: []\n", "model-index", 1, "must not be an empty list", "warning"),
    ("model", "model-index:\n- results: []\n", "model-index[0].name", 2, "required key 'name'", "error"),
    ("model", "model-index:\n- name: m\n  results: []\n", "model-index[0].results", 3, "empty list", "warning"),
    (
        "model",
        "model-index:\n- name: m\n  results:\n  - task: {type: t, label: x}\n    dataset: {type: d, name: D}\n"
        "    metrics: [{type: acc, value: 1}]\n",
        "model-index[0].results[0].task.label",
        4,
        "unknown key 'label'",
        "warning",
    ),
    (
        "model",
        "model-index:\n- name: m\n  results:\n  - task: {type: t}\n    metrics: [{type: acc, value: 1}]\n",
        "model-index[0].results[0].dataset",
        4,
        "required key 'dataset'",
        "warning",
    ),
    (
        "model",
        "model-index:\n- name: m\n  results:\n  - dataset: {type: d, name: D}\n    metrics: [{type: acc, value: 1}]\n",
        "model-index[0].results[0].task",
        4,
        "required key 'task'",
        "error",
    ),
    (
        "model",
        "model-index:\n- name: m\n  results:\n  - task: {type: t}\n    dataset: {type: d}\n"
        "    metrics: [{type: acc, value: 1}]\n",
        "model-index[0].results[0].dataset.name",
        5,
        "required key 'name'",
        "error",
    ),
    (
        "model",
        "model-index:\n- name: m\n  results:\n  - task: {type: t}\n    dataset: {type: d, name: D, config: 3}\n"
        "    metrics: [{type: acc, value: 1}]\n",
        "model-index[0].results[0].dataset.config",
        5,
        "must be a string",
        "error",
    ),
    (
        "model",
        "model-index:\n- name: m\n  results:\n  - task: {type: t}\n    dataset: {type: d, name: D, args: 3}\n"
        "    metrics: [{type: acc, value: 1}]\n",
        "model-index[0].results[0].dataset.args",
        5,
        "must be a table/mapping or a string",
        "error",
    ),
    (
        "model",
        "model-index:\n- name: m\n  results:\n  - task: {type: t}\n    dataset: {type: d, name: D}\n"
        "    metrics:\n    - type: acc\n      value: 1\n      verified: yes please\n",
        "model-index[0].results[0].metrics[0].verified",
        9,
        "must be true or false",
        "error",
    ),
    (
        "model",
        "model-index:\n- name: m\n  results:\n  - task: {type: t}\n    dataset: {type: d, name: D}\n"
        "    metrics: [{type: acc}]\n",
        "model-index[0].results[0].metrics[0].value",
        6,
        "required key 'value'",
        "error",
    ),
    (
        "model",
        "model-index:\n- name: m\n  results:\n  - task: {type: t}\n    dataset: {type: d, name: D}\n"
        "    metrics: [{type: acc, value: [1]}]\n",
        "model-index[0].results[0].metrics[0].value",
        6,
        "must be a string or a number or true or false",
        "warning",
    ),
    (
        "model",
        "model-index:\n- name: m\n  results:\n  - task: {type: t}\n    dataset: {type: d, name: D}\n"
        "    metrics: [{type: acc, value: 1}]\n    source: {name: Leaderboard}\n",
        "model-index[0].results[0].source.url",
        7,
        "required key 'url'",
        "error",
    ),
    ("model", "widget:\n  text: hi\n", "widget", 1, "must be a list", "error"),
    ("model", "widget:\n- text: [hi]\n", "widget[0].text", 2, "must be a string", "error"),
    ("model", "inference: yes please\n", "inference", 1, "must be true or false or a table/mapping", "error"),
    ("model", "new_version: not a repo\n", "new_version", 1, "newer model's repository id", "warning"),
    ("model", "thumbnail: ''\n", "thumbnail", 1, "must not be empty", "warning"),
    ("model", "thumbnail: 3\n", "thumbnail", 1, "must be a string or null", "error"),
    ("model", "co2_eq_emissions: 12 g\n", "co2_eq_emissions", 1, "must be a number or a table/mapping", "error"),
    ("model", "co2_eq_emissions:\n  emissions: lots\n", "co2_eq_emissions.emissions", 2, "must be a number", "error"),
    ("model", "extra_gated_prompt: 3\n", "extra_gated_prompt", 1, "must be a string", "error"),
    ("model", "extra_gated_fields: [Name]\n", "extra_gated_fields", 1, "must be a table/mapping", "error"),
    ("model", "extra_gated_heading: [x]\n", "extra_gated_heading", 1, "must be a string", "error"),
    ("model", "extra_gated_description: [x]\n", "extra_gated_description", 1, "must be a string", "error"),
    ("model", "extra_gated_button_content: [x]\n", "extra_gated_button_content", 1, "must be a string", "error"),
    ("dataset", "license: mitt\n", "license", 1, "did you mean 'mit'?", "error"),
    ("dataset", "license:\n- mit\n- apache2\n", "license[1]", 3, "did you mean 'apache-2.0'?", "error"),
    ("dataset", "license: 3\n", "license", 1, "one license identifier, or a non-empty list of them", "error"),
    ("dataset", "licenses: [mit]\n", "licenses", 1, "rename it to license", "error"),
    ("dataset", "pretty_name: X\nlicense: [other]\n", "license_link", 2, "license: other needs", "warning"),
    ("dataset", "license: other\nlicense_name: Mine!\nlicense_link: L\n", "license_name", 2, "slug", "warning"),
    (
        "dataset",
        "license: other\nlicense_name: mine\nlicense_link: ''\n",
        "license_link",
        3,
        "must not be empty",
        "warning",
    ),
    ("dataset", "license_details: 3\n", "license_details", 1, "must be a string", "error"),
    ("dataset", "language: English\n", "language", 1, "not an ISO 639 code", "warning"),
    ("dataset", "language: 3\n", "language", 1, "must be a string or a list", "error"),
    ("dataset", "languages: [en]\n", "languages", 1, "rename it to language", "error"),
    ("dataset", "language_bcp47: [3]\n", "language_bcp47[0]", 1, "must be a string", "error"),
    ("dataset", "language_details: 3\n", "language_details", 1, "must be a string or a list", "error"),
    ("dataset", "pretty_name: ''\n", "pretty_name", 1, "must not be empty", "warning"),
    ("dataset", "tags: [3]\n", "tags[0]", 1, "must be a string", "error"),
    (
        "dataset",
        "annotations_creators:\n- crowd-sourced\n",
        "annotations_creators[0]",
        2,
        "did you mean 'crowdsourced'",
        "warning",
    ),
    ("dataset", "language_creators: found\n", "language_creators", 1, "must be a list", "error"),
    ("dataset", "multilinguality: multi-lingual\n", "multilinguality", 1, "did you mean 'multilingual'", "warning"),
    ("dataset", "size_categories:\n- n<1k\n", "size_categories[0]", 2, "did you mean 'n<1K'?", "warning"),
    ("dataset", "source_datasets:\n- ''\n", "source_datasets[0]", 2, "must not be empty", "warning"),
    ("dataset", "task_categories:\n- text-clasification\n", "task_categories[0]", 2, "did you mean", "warning"),
    ("dataset", "task_ids: extractive-qa\n", "task_ids", 1, "must be a list", "error"),
    ("dataset", "task_ids: [my-own-task]\n", "task_ids[0]", 1, "subtask ids", "warning"),
    ("dataset", "paperswithcode_id: 3\n", "paperswithcode_id", 1, "must be a string or null", "error"),
    (
        "dataset",
        "configs:\n- data_files: train.csv\n",
        "configs[0].config_name",
        2,
        "required key 'config_name'",
        "error",
    ),
    (
        "dataset",
        "configs:\n- config_name: default\n  data_files:\n  - split: train\n",
        "configs[0].data_files[0].path",
        4,
        "required key 'path'",
        "error",
    ),
    (
        "dataset",
        "configs:\n- config_name: default\n  data_files: 3\n",
        "configs[0].data_files",
        3,
        "a path or glob",
        "error",
    ),
    (
        "dataset",
        "configs:\n- config_name: a\n  default: first\n",
        "configs[0].default",
        3,
        "must be true or false",
        "warning",
    ),
    (
        "dataset",
        "dataset_info:\n  splits:\n  - name: train\n    num_examples: -1\n",
        "dataset_info.splits[0].num_examples",
        4,
        "below the minimum",
        "warning",
    ),
    ("dataset", "dataset_info: big\n", "dataset_info", 1, "one dataset_info mapping, or a list of them", "warning"),
    ("dataset", "viewer: off please\n", "viewer", 1, "must be true or false", "error"),
    ("dataset", "extra_gated_prompt: 3\n", "extra_gated_prompt", 1, "must be a string", "error"),
    ("dataset", "extra_gated_fields: [Name]\n", "extra_gated_fields", 1, "must be a table/mapping", "error"),
    ("dataset", "extra_gated_heading: [x]\n", "extra_gated_heading", 1, "must be a string", "error"),
    ("dataset", "extra_gated_description: [x]\n", "extra_gated_description", 1, "must be a string", "error"),
    ("dataset", "extra_gated_button_content: [x]\n", "extra_gated_button_content", 1, "must be a string", "error"),
    ("dataset", "train-eval-index: {}\n", "train-eval-index", 1, "must be a list", "warning"),
    ("dataset", "thumbnail: ''\n", "thumbnail", 1, "must not be empty", "warning"),
]


@pytest.mark.parametrize(
    ("repo_type", "front", "field", "line", "fragment", "severity"),
    CARD_PROBLEMS,
    ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(CARD_PROBLEMS)],
)
def test_card_problem_names_the_field_line_and_severity(
    tmp_path: Path, repo_type: str, front: str, field: str, line: int, fragment: str, severity: str
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"---\n{front}---\n# A card\n")
    check = check_card_file(readme, repo_type)
    errors = {p.path: p for p in check.errors}
    if severity == "error":
        assert field in errors, [str(p) for p in check.errors]
        assert errors[field].source == f"{readme}:{line + 1}"  # + the opening '---'
        assert fragment in errors[field].message
        return
    assert check.errors == (), [str(p) for p in check.errors]
    prefix = f"{readme}:{line + 1}: {field}: "
    found = [w for w in check.warnings if w.startswith(prefix)]
    assert found and fragment in found[0], check.warnings


def _constrained_properties(schema_name: str) -> set[str]:
    schema = json.loads((REPO_ROOT / "schemas" / schema_name).read_text(encoding="utf-8"))
    rules = {"type", "enum", "$ref", "pattern", "minLength", "items", "anyOf"}
    return {name for name, sub in schema["properties"].items() if rules & set(sub)}


@pytest.mark.parametrize(
    ("repo_type", "schema_name"), [("model", "modelcard.schema.json"), ("dataset", "datasetcard.schema.json")]
)
def test_every_checked_top_level_field_has_an_invalid_card_test(repo_type: str, schema_name: str) -> None:
    covered = {re.split(r"[.\[]", field)[0] for kind, _, field, _, _, _ in CARD_PROBLEMS if kind == repo_type}
    assert _constrained_properties(schema_name) - covered == set()


def test_dataset_card_validates_against_the_dataset_schema() -> None:
    metadata = CardMetadata(
        {
            "license": ["cc-by-4.0", "mit"],
            "language": ["en", "fr"],
            "task_categories": ["question-answering"],
            "task_ids": ["extractive-qa", "my-own-task"],
            "size_categories": ["10K<n<100K"],
            "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "data/*.parquet"}]}],
        },
        "inline",
    )
    [warning] = validate_metadata(metadata, "dataset")
    assert warning.startswith('inline: task_ids[1]: "my-own-task" is not a known value')
    assert "the Hub's filters know only the subtask ids of its tasks" in warning
    validate_metadata(metadata, "model")  # a model card's license may be a list too
    with pytest.raises(CardValidationError, match="problem\\(s\\) in the model card metadata") as info:
        validate_metadata(CardMetadata({**metadata.data, "license": ["mit", "mitt"]}, "inline"), "model")
    assert [p.path for p in info.value.problems] == ["license[1]"]


def test_non_numeric_model_index_value_in_a_card_is_a_warning_naming_it(tmp_path: Path) -> None:
    """The Hub and huggingface_hub accept any scalar ("20.0 ± 1.2") in a card written by others."""
    readme = tmp_path / "README.md"
    readme.write_text(
        "---\nlicense: mit\nmodel-index:\n- name: m\n  results:\n  - task: {type: t}\n"
        "    dataset: {type: d, name: D}\n    metrics:\n    - type: acc\n      value: 91.2 ± 0.3\n---\n"
    )
    check = check_card_file(readme)
    assert check.errors == ()
    [warning] = [w for w in check.warnings if "not a number" in w]
    assert warning.startswith(f'{readme}:10: model-index[0].results[0].metrics[0].value: "91.2 ± 0.3"')


def test_cli_card_validate_repo_type_dataset(tmp_path: Path) -> None:
    card = tmp_path / "README.md"
    card.write_text("---\nlicense: mit\nsize_categories:\n- n<1K\ntask_categories:\n- translation\n---\n")
    run = [sys.executable, "-m", "release", "card", "validate"]
    assert subprocess.run([*run, "--repo-type", "dataset", str(card)], capture_output=True).returncode == 0
    failed = subprocess.run([*run, str(card)], capture_output=True, text=True)  # not a model card's keys? still ok
    assert failed.returncode == 0
    card.write_text("---\nsize_categories:\n- 1k<n<10k\n---\n")
    warned = subprocess.run([*run, "--repo-type", "dataset", str(card)], capture_output=True, text=True)
    assert warned.returncode == 0  # the Hub takes a size bucket outside its list
    assert f"{card}:3: size_categories[0]" in warned.stdout and "did you mean '1K<n<10K'?" in warned.stdout
    card.write_text("---\nlicenses:\n- mit\n---\n")
    bad = subprocess.run([*run, "--repo-type", "dataset", str(card)], capture_output=True, text=True)
    assert bad.returncode == 1
    assert f"{card}:2: licenses" in bad.stdout and "rename it to license" in bad.stdout


# --- the results file: numbers only, every problem named with file, JSON path and value ------------


def _results_file(tmp_path: Path, results: object) -> Path:
    path = tmp_path / "eval_results.json"
    path.write_text(json.dumps({"results": results}, indent=2, ensure_ascii=False) + "\n")
    return path


@pytest.mark.parametrize(("value", "shown"), [("91.2 ± 0.3", '"91.2 ± 0.3"'), (True, "boolean true"), (None, "null")])
def test_non_numeric_metric_value_in_the_results_file_is_an_error_naming_it(
    tmp_path: Path, value: object, shown: str
) -> None:
    results = [
        {**MODEL_INDEX_RESULTS[0], "metrics": [{"type": "accuracy", "value": 0.5}, {"type": "f1", "value": value}]}
    ]
    path = _results_file(tmp_path, results)
    with pytest.raises(CardValidationError) as info:
        load_eval_results(path)
    [problem] = info.value.problems
    assert problem.path == "results[0].metrics[1].value"
    line = next(
        i
        for i, text in enumerate(path.read_text().splitlines(), 1)
        if '"value": ' + json.dumps(value, ensure_ascii=False) in text
    )
    assert problem.source == f"{path}:{line}"
    assert problem.message == f"must be a number, got {shown}"
    assert "in the evaluation results file" in str(info.value) and "nothing was rendered" in str(info.value)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_metric_values_are_refused(tmp_path: Path, constant: str) -> None:
    path = tmp_path / "eval_results.json"
    path.write_text(json.dumps({"results": MODEL_INDEX_RESULTS}).replace("0.9312", constant))
    with pytest.raises(CardError, match=f"{path}: {constant} is not a number JSON allows"):
        load_eval_results(path)


def test_results_file_shape_problems_are_all_reported(tmp_path: Path) -> None:
    path = _results_file(tmp_path, [{"task": {"type": "t"}, "dataset": {"type": "d"}, "metrics": [], "extra": 1}])
    with pytest.raises(CardValidationError) as info:
        load_eval_results(path)
    assert sorted(p.path for p in info.value.problems) == [
        "results[0].dataset.name",
        "results[0].extra",
        "results[0].metrics",
    ]


# --- .eval_results/ files (the Hub's newer evaluation results) -----------------------------------


def test_eval_results_files_are_what_huggingface_hub_reads() -> None:
    from huggingface_hub import parse_eval_result_entries

    results = [
        {**MODEL_INDEX_RESULTS[0], "benchmark": {"metric": "f1", "notes": "no-tools"}},
        MODEL_INDEX_RESULTS[1],
        {**MODEL_INDEX_RESULTS[1], "benchmark": {"task_id": "hle", "revision": "def456"}},
    ]
    files = eval_results_files(EvalResultsFile(Path("r.json"), tuple(results), ""))
    assert sorted(files) == [".eval_results/cais__hle.yaml", ".eval_results/stanfordnlp__imdb.yaml"]
    imdb = parse_eval_result_entries(yaml.safe_load(files[".eval_results/stanfordnlp__imdb.yaml"]))
    assert [(e.dataset_id, e.task_id, e.value, e.notes) for e in imdb] == [
        ("stanfordnlp/imdb", "plain_text", 93, "no-tools")
    ]
    hle = parse_eval_result_entries(yaml.safe_load(files[".eval_results/cais__hle.yaml"]))
    assert [(e.task_id, e.dataset_revision, e.value, e.source_url) for e in hle] == [
        ("default", "abc123", 20.9, "https://example.org/eval"),
        ("hle", "def456", 20.9, "https://example.org/eval"),
    ]
    assert all(e.date is None for e in imdb + hle)  # the Hub dates them by their commit: same bytes every run


def test_eval_results_need_a_hub_benchmark_id_and_a_known_metric(tmp_path: Path) -> None:
    results = [
        {
            "task": {"type": "t"},
            "dataset": {"type": "tiny-flowers", "name": "T"},
            "metrics": [{"type": "acc", "value": 1}],
        },
        {**MODEL_INDEX_RESULTS[1], "benchmark": {"metric": "f1"}},
    ]
    path = _results_file(tmp_path, results)
    with pytest.raises(CardValidationError) as info:
        eval_results_files(load_eval_results(path))
    first, second = info.value.problems
    assert first.path == "results[0].dataset.type" and '"tiny-flowers" is not a Hub dataset id' in first.message
    assert first.source.startswith(f"{path}:")
    assert second.path == "results[1].benchmark.metric" and "(accuracy)" in second.message


# --- the card command: render, check, and ship .eval_results/ --------------------------------------

RELEASE_TOML = """repo_id = "alice/tiny"
version = "1.0"
endpoint = "local"

[model]
dir = "model"

[card]
metadata = "card.yaml"
eval_results = "results.json"
output = "README.md"
eval_results_dir = true
"""


@pytest.fixture
def card_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "model").mkdir(parents=True)
    (project / "model" / "weights.bin").write_bytes(bytes(range(64)))
    (project / "card.yaml").write_text("license: mit\npipeline_tag: text-classification\n")
    results = [MODEL_INDEX_RESULTS[0], {**MODEL_INDEX_RESULTS[1], "benchmark": {"task_id": "hle"}}]
    (project / "results.json").write_text(json.dumps({"results": results}, indent=2) + "\n")
    (project / "release.toml").write_text(RELEASE_TOML)
    return project


def _card_cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "release", "card", *args], cwd=project, capture_output=True, text=True, timeout=120
    )


def test_card_check_via_the_cli_both_ways(card_project: Path) -> None:
    readme = card_project / "README.md"
    missing = _card_cli(card_project, "--check")
    assert missing.returncode == 1 and f"{readme}: does not exist" in missing.stdout
    assert not readme.exists()  # --check writes nothing

    rendered = _card_cli(card_project)
    assert rendered.returncode == 0, rendered.stderr
    assert sorted(p.name for p in (card_project / ".eval_results").iterdir()) == [
        "cais__hle.yaml",
        "stanfordnlp__imdb.yaml",
    ]
    ok = _card_cli(card_project, "--check")
    assert ok.returncode == 0 and "is what the card renders" in ok.stdout

    readme.write_text(readme.read_text().replace("value: 0.9312", "value: 0.95"))
    drifted = _card_cli(card_project, "--check")
    assert drifted.returncode == 1
    assert f"{readme}: differs from what would be rendered" in drifted.stdout
    assert "-      value: 0.95\n+      value: 0.9312" in drifted.stdout
    assert "model-release card" in drifted.stdout

    _card_cli(card_project)
    stale = card_project / ".eval_results" / "old__benchmark.yaml"
    stale.write_text("- dataset: {id: old/benchmark, task_id: default}\n  value: 1\n")
    result = _card_cli(card_project, "--check", "--json")
    assert result.returncode == 1
    assert [(d["path"], d["state"]) for d in json.loads(result.stdout)["drift"]] == [(str(stale), "stale")]
    _card_cli(card_project)
    assert not stale.exists()
    assert _card_cli(card_project, "--check").returncode == 0


def test_stage_ships_the_eval_results_files(card_project: Path) -> None:
    from release.card_stage import build_card
    from release.checksum_stage import compute_checksums
    from release.config import load_config
    from release.pipeline import plan_release_tree
    from release.stage import SourceInfo

    config = load_config(cwd=card_project)
    checksums = compute_checksums(config)
    plan = plan_release_tree(config, checksums, build_card(config, checksums), SourceInfo())
    shipped = {f.path: f for f in plan.files}
    hle = shipped[".eval_results/cais__hle.yaml"]
    assert isinstance(hle.origin, bytes)
    assert yaml.safe_load(hle.origin) == [
        {
            "dataset": {"id": "cais/hle", "task_id": "hle", "revision": "abc123"},
            "value": 20.9,
            "source": {"url": "https://example.org/eval", "name": "Eval logs"},
        }
    ]
    assert ".eval_results/stanfordnlp__imdb.yaml" in {e.path for e in plan.manifest.files}


def test_a_dataset_repo_is_checked_against_the_dataset_schema(tmp_path: Path) -> None:
    project = tmp_path / "data-project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "train.csv").write_text("a,b\n1,2\n")
    (project / "card.yaml").write_text("license: cc-by-4.0\nlicenses:\n- cc-by-4.0\n")
    (project / "release.toml").write_text(
        'repo_id = "alice/tiny-data"\nrepo_type = "dataset"\nversion = "1.0"\nendpoint = "local"\n\n'
        '[[datasets]]\nname = "tiny"\ndir = "data"\ninclude_data = true\n\n[card]\nmetadata = "card.yaml"\n'
    )
    refused = _card_cli(project)
    assert refused.returncode == 1
    assert f"{project / 'card.yaml'}:2: licenses" in refused.stderr
    assert "problem(s) in the dataset card metadata" in refused.stderr and "rename it to license" in refused.stderr
    (project / "card.yaml").write_text(
        "license: cc-by-4.0\nsize_categories:\n- n<1K\ntask_categories:\n- translation\n"
    )
    rendered = _card_cli(project)
    assert rendered.returncode == 0, rendered.stderr
    text = (project / "build" / "README.md").read_text()
    assert "## Dataset details" in text and "--repo-type dataset" in text and "model-index" not in text
    assert "| Tasks | translation |" in text


def test_card_leaves_a_hand_written_eval_results_folder_alone(card_project: Path) -> None:
    config = card_project / "release.toml"
    config.write_text(config.read_text().replace("eval_results_dir = true", "eval_results_dir = false"))
    own = card_project / ".eval_results" / "mine.yaml"
    own.parent.mkdir()
    own.write_text("- dataset: {id: me/bench, task_id: default}\n  value: 1\n")
    assert _card_cli(card_project).returncode == 0
    assert own.is_file() and _card_cli(card_project, "--check").returncode == 0


def test_results_on_a_published_dataset_name_its_repository_at_its_tag() -> None:
    results = [
        {
            "task": {"type": "tabular-classification"},
            "dataset": {"type": "flowers", "name": "Flowers", "split": "test"},
        },
        {"task": {"type": "tabular-classification"}, "dataset": {"type": "flowers", "revision": "abc1234"}},
        {"task": {"type": "tabular-classification"}, "dataset": {"type": "org/other", "name": "Other"}},
    ]
    linked = with_published_datasets(results, {"flowers": ("alice/flowers-data", "v2.0")})
    assert [r["dataset"] for r in linked] == [
        {"type": "alice/flowers-data", "name": "Flowers", "split": "test", "revision": "v2.0"},
        {"type": "alice/flowers-data", "revision": "abc1234"},  # a revision the results name is kept
        {"type": "org/other", "name": "Other"},  # not published by this release: unchanged
    ]
    assert results[0]["dataset"]["type"] == "flowers"  # the input is not modified


# --- adopting a card: card.metadata names a README.md ---------------------------------------------


def test_a_markdown_card_gives_its_front_matter_as_metadata_and_keeps_its_body(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(SENTENCE_TRANSFORMERS_CARD)
    metadata = load_metadata(None, readme, "release.toml")
    assert metadata.data["license"] == "apache-2.0" and metadata.data["language"] == "en"
    assert metadata.data["datasets"] == list(SENTENCE_TRANSFORMERS_DATASETS)
    assert metadata.data["pipeline_tag"] == "sentence-similarity"
    assert metadata.body is not None and metadata.body.lstrip().startswith("# tiny-sentence-encoder\n")
    assert validate_metadata(metadata) == (f"{readme}: no evaluation results (model-index); set card.eval_results",)

    context = {**CONTEXT, "metadata": dict(metadata.data), "body": card_body(metadata)}
    text = render_card(metadata.data, context)
    front, body = split_front_matter(text, "README.md")
    assert front is not None and yaml.safe_load(front) == yaml.safe_load(SENTENCE_TRANSFORMERS_CARD.split("---")[1])
    for paragraph in paragraphs(SENTENCE_TRANSFORMERS_CARD):
        assert paragraph in body
    assert body.lstrip().startswith("# tiny-sentence-encoder\n")  # the author's body first: no second title
    assert [line for line in body.splitlines() if line.startswith("# ")] == ["# tiny-sentence-encoder"]
    assert "\n## Release\n" in body
    assert body.index("## Release") > body.index("#### Training data")
    assert "No license given" not in body and "_No description given" not in body
    assert "`model.safetensors` | 10 |" in body and "nox -s reproduce -- alice/m@v1.0" in body


def test_a_gguf_card_keeps_base_model_and_quantized_by(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(GGUF_CARD)
    metadata = load_metadata(None, readme, "release.toml")
    validate_metadata(metadata)
    text = render_card(metadata.data, {**CONTEXT, "metadata": dict(metadata.data), "body": card_body(metadata)})
    front, body = split_front_matter(text, "README.md")
    assert front is not None and yaml.safe_load(front) == yaml.safe_load(GGUF_CARD.split("---")[1])
    assert list(yaml.safe_load(front))[:2] == ["quantized_by", "pipeline_tag"]  # the author's order
    assert all(paragraph in body for paragraph in paragraphs(GGUF_CARD))
    assert "| Base model | meta-llama/Llama-3.2-1B-Instruct |" in body


def test_a_markdown_card_without_front_matter_is_a_clear_error(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# My model\n\nNo metadata here.\n")
    with pytest.raises(CardError) as info:
        load_metadata(None, readme, "release.toml")
    message = str(info.value)
    assert str(readme) in message and "card.metadata" in message
    assert "no YAML front matter" in message and "'---'" in message


def test_a_card_in_a_yaml_file_gets_the_front_matter_hint_not_a_yaml_stream_error(tmp_path: Path) -> None:
    card = tmp_path / "card.yaml"
    card.write_text(SENTENCE_TRANSFORMERS_CARD)
    with pytest.raises(CardError) as info:
        load_metadata(None, card, "release.toml")
    message = str(info.value)
    assert "expected a single document" not in message
    assert str(card) in message and "front matter" in message and ".md" in message


def test_invalid_front_matter_of_an_adopted_card_names_the_readme_line_and_the_fix(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("\n---\nlicense: apache2\npipeline_tag: sentence-similarity\nmodel-index: foo\n---\n# M\n")
    with pytest.raises(CardValidationError) as info:
        validate_metadata(load_metadata(None, readme, "release.toml"))
    problems = {p.path: p for p in info.value.problems}
    assert set(problems) == {"license", "model-index"}  # every invalid field, none dropped
    assert problems["license"].source == f"{readme}:3" and problems["model-index"].source == f"{readme}:5"
    assert "did you mean 'apache-2.0'?" in problems["license"].message
    assert f"in the front matter of {readme}" in str(info.value)


def test_a_template_that_drops_the_adopted_body_is_an_error(tmp_path: Path) -> None:
    template = tmp_path / "README.md.j2"
    template.write_text("# {{ repo_name }}\n")
    metadata = read_card(GGUF_CARD, "README.md")
    with pytest.raises(CardError, match=r"does not show the body of the adopted card.*\{\{ body \}\}"):
        render_card(metadata.data, {**CONTEXT, "body": card_body(metadata)}, template)
    assert render_card({}, {**CONTEXT, "body": None}, template).endswith("# m\n")  # nothing adopted: as before


def test_eval_results_merge_into_the_model_index_an_adopted_card_has() -> None:
    theirs: dict[str, Any] = {
        "task": {"type": "sentence-similarity"},
        "dataset": {"type": "mteb/stsb", "name": "STSB"},
        "metrics": [{"type": "cos_sim_spearman", "value": 82.0}],
    }
    ours = MODEL_INDEX_RESULTS[0]
    adopted = CardMetadata(
        {"license": "mit", "model-index": [{"name": "m", "results": [theirs]}]}, "README.md", body=""
    )
    merged = with_eval_results(adopted, [ours], "m")
    assert merged.data["model-index"] == [{"name": "m", "results": [theirs, ours]}]
    assert merged.body == "" and list(merged.data) == ["license", "model-index"]
    other = CardMetadata({"model-index": [{"name": "upstream", "results": [theirs]}]}, "README.md")
    assert with_eval_results(other, [ours], "m").data["model-index"] == [
        {"name": "upstream", "results": [theirs]},
        {"name": "m", "results": [ours]},
    ]
    assert with_eval_results(merged, [ours], "m") is merged  # already there: nothing added twice


def test_a_release_adopting_a_readme_merges_its_results_into_the_cards_own_model_index(card_project: Path) -> None:
    from release.card_stage import build_card
    from release.checksum_stage import compute_checksums
    from release.config import load_config

    theirs = {
        "task": {"type": "text-classification"},
        "dataset": {"type": "glue", "name": "SST-2", "config": "sst2", "split": "validation"},
        "metrics": [{"type": "accuracy", "value": 0.91}],
    }
    front = yaml.safe_dump({"license": "mit", "model-index": [{"name": "tiny", "results": [theirs]}]}, sort_keys=False)
    (card_project / "card.md").write_text(f"---\n{front}---\n\n# tiny\n\nThe author's words.\n")
    toml = card_project / "release.toml"
    toml.write_text(RELEASE_TOML.replace('metadata = "card.yaml"', 'metadata = "card.md"'))
    config = load_config(cwd=card_project)
    card = build_card(config, compute_checksums(config))
    [entry] = card.metadata.data["model-index"]
    assert entry["name"] == "tiny" and entry["results"][0] == theirs and len(entry["results"]) == 3
    assert card.text.split("\n---\n", 1)[1].startswith("\n# tiny\n\nThe author's words.\n\n## Release\n")

    toml.write_text(RELEASE_TOML.replace('metadata = "card.yaml"', 'metadata = "README.md"'))
    (card_project / "README.md").write_text(f"---\n{front}---\n\n# tiny\n")
    with pytest.raises(CardError, match=r"card\.metadata and card\.output .* are the same file.*MODEL_CARD\.md"):
        build_card(load_config(cwd=card_project), compute_checksums(config))


def test_a_dataset_card_adopted_from_markdown_keeps_its_text_first() -> None:
    card = "---\nlicense: cc-by-4.0\npretty_name: Flowers\n---\n# Flowers\n\nPhotos of flowers.\n"
    metadata = read_card(card, "d.md")
    context = {
        "repo_id": "alice/flowers",
        "repo_name": "flowers",
        "repo_type": "dataset",
        "version": "1.0",
        "tag": "v1.0",
        "metadata": dict(metadata.data),
        "body": card_body(metadata),
        "content": {},
        "dataset": {
            "name": "flowers",
            "file_count": 1,
            "total_size": 3,
            "data_dir": "data",
            "manifest": "data.json",
            "checksums": "data.sha256",
            "files": [{"path": "a.csv", "size": 3, "sha256": "ab" * 32}],
        },
    }
    text = render_card(metadata.data, context, default_template="dataset-README.md.j2")
    body = text.split("\n---\n", 1)[1]
    assert body.startswith("\n# Flowers\n\nPhotos of flowers.\n\n## Release\n")
    assert "_No description given" not in body and "### Files" in body and "| Files | 1 (3 bytes) |" in body


@pytest.mark.parametrize("schema_name", ["modelcard.schema.json", "datasetcard.schema.json"])
def test_every_card_field_has_its_rule_and_evidence_in_the_docs(schema_name: str) -> None:
    """docs/card-rules.md sorts every field's rules into error, warning or none, with the evidence."""
    schema = json.loads((REPO_ROOT / "schemas" / schema_name).read_text(encoding="utf-8"))
    docs = (REPO_ROOT / "docs" / "card-rules.md").read_text(encoding="utf-8")
    heading = "## Model cards" if schema_name.startswith("model") else "## Dataset cards"
    section = docs.split(heading, 1)[1].split("\n## ", 1)[0]
    assert {name for name in schema["properties"] if f"`{name}`" not in section} == set()
