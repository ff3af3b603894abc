"""The card metadata schemas (schemas/modelcard.schema.json, schemas/datasetcard.schema.json) and
their generator (schemas/generate.py).

Everything here is offline: the generator's extraction is tested on small fake package files,
the committed schemas are checked to be exactly what the generator makes of the committed
inputs, and the real ``@huggingface/tasks`` package is read only when npm has it cached.
"""

from __future__ import annotations

import copy
import importlib.util
import io
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from release.card_rules import check_card_data

SCHEMAS = Path(__file__).parent.parent / "schemas"
SCHEMA_PATH = SCHEMAS / "modelcard.schema.json"
DATASET_SCHEMA_PATH = SCHEMAS / "datasetcard.schema.json"
LICENSES_PATH = SCHEMAS / "hub-licenses.json"
GENERATOR_PATH = SCHEMAS / "generate.py"

SCHEMA: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
LICENSES: dict[str, Any] = json.loads(LICENSES_PATH.read_text(encoding="utf-8"))
VALIDATOR = Draft202012Validator(SCHEMA)
DATASET_SCHEMA: dict[str, Any] = json.loads(DATASET_SCHEMA_PATH.read_text(encoding="utf-8"))
DATASET_VALIDATOR = Draft202012Validator(DATASET_SCHEMA)
RESULTS_VALIDATOR = Draft202012Validator({"$ref": "#/$defs/evalResultsFile", "$defs": SCHEMA["$defs"]})


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("modelcard_schema_generate", GENERATOR_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


gen = _load_generator()

REALISTIC_CARD = """
language:
- en
license: apache-2.0
library_name: transformers
pipeline_tag: text-classification
tags:
- sentiment
- generated_from_trainer
datasets:
- stanfordnlp/imdb
metrics:
- accuracy
- f1
base_model: distilbert/distilbert-base-uncased
base_model_relation: finetune
widget:
- text: I liked this movie
  example_title: Positive
  output:
  - label: POSITIVE
    score: 0.8
  - label: NEGATIVE
    score: 0.2
inference:
  parameters:
    top_k: 2
co2_eq_emissions:
  emissions: 12.5
  source: Code Carbon
  training_type: fine-tuning
  geographical_location: Quebec, Canada
  hardware_used: 1 A100
thumbnail: https://example.org/thumb.png
model-index:
- name: distilbert-imdb
  results:
  - task:
      type: text-classification
      name: Text Classification
    dataset:
      type: stanfordnlp/imdb
      name: IMDb
      config: plain_text
      split: test
      revision: e6281661ce1c48d982bc483cf8a173c1bbeb5d31
      args:
        trust_remote_code: false
    metrics:
    - type: accuracy
      value: 0.9312
      name: Test accuracy
    - type: f1
      value: 0.93
      args:
        average: macro
      verified: false
    source:
      name: In-house evaluation
      url: https://example.org/eval
"""


def card(**overrides: Any) -> dict[str, Any]:
    """The realistic card, with top-level keys replaced (a value of None removes the key)."""
    data: dict[str, Any] = yaml.safe_load(REALISTIC_CARD)
    for key, value in overrides.items():
        key = key.replace("_dash_", "-")
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def with_model_index(edit: Any) -> dict[str, Any]:
    """The realistic card after ``edit(model_index)`` changed its model-index in place."""
    data = card()
    edit(data["model-index"])
    return data


def _problems(instance: dict[str, Any], kind: str, severity: str) -> list[str]:
    """The errors (what the Hub refuses) or the warnings of the card rules, as ``path: message``."""
    check = check_card_data(instance, kind)
    return [
        f"{'/'.join(map(str, p.path))}: {p.message}" for p in (check.errors if severity == "error" else check.warnings)
    ]


def errors(instance: dict[str, Any]) -> list[str]:
    return _problems(instance, "model", "error")


def assert_warned(instance: dict[str, Any], where: str, kind: str = "model") -> None:
    """The Hub takes the card: no error, and a warning at ``where``."""
    assert _problems(instance, kind, "error") == []
    found = _problems(instance, kind, "warning")
    assert any(w.startswith(where) for w in found), found


def assert_valid(instance: dict[str, Any]) -> None:
    assert errors(instance) == []


def assert_invalid(instance: dict[str, Any], where: str = "") -> None:
    problems = errors(instance)
    assert problems, "expected the instance to be rejected"
    if where:
        assert any(p.startswith(where) for p in problems), problems


# ---------------------------------------------------------------------------------------------
# The schema itself
# ---------------------------------------------------------------------------------------------


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["$id"] == "https://model-release.dev/schemas/modelcard.schema.json"
    assert SCHEMA["title"]
    assert SCHEMA["additionalProperties"] is True


def _properties(node: object, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            yield f"{path}/{name}", sub
        for key, sub in node.items():
            if key != "if":  # a condition's "properties" match values; they declare nothing
                yield from _properties(sub, f"{path}/{key}")
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            yield from _properties(sub, f"{path}/{i}")


@pytest.mark.parametrize("schema", [SCHEMA, DATASET_SCHEMA], ids=["model", "dataset"])
def test_every_property_has_a_description(schema: dict[str, Any]) -> None:
    props = list(_properties(schema))
    assert len(props) > 30
    missing = [path for path, sub in props if not (isinstance(sub, dict) and sub.get("description"))]
    assert missing == []


def test_model_index_objects_are_closed() -> None:
    defs = SCHEMA["$defs"]
    for name in ("modelIndexEntry", "evalResult", "metricValue"):
        assert defs[name]["additionalProperties"] is False
    for part in ("task", "dataset", "source"):
        assert defs["evalResult"]["properties"][part]["additionalProperties"] is False


# ---------------------------------------------------------------------------------------------
# Valid cards
# ---------------------------------------------------------------------------------------------


def test_realistic_card_is_valid() -> None:
    assert_valid(card())


def test_empty_metadata_is_valid() -> None:
    assert_valid({})


def test_unknown_top_level_keys_are_allowed() -> None:
    assert_valid(card(my_custom_field={"anything": [1, 2]}, model_name="x"))


def test_huggingface_hub_model_index_output_is_valid() -> None:
    """The shape huggingface_hub's eval_results_to_model_index writes (every optional key set)."""
    model_index = [
        {
            "name": "m",
            "results": [
                {
                    "task": {"type": "image-classification", "name": "Image Classification"},
                    "dataset": {
                        "name": "Beans",
                        "type": "beans",
                        "config": "default",
                        "split": "validation",
                        "revision": "abc",
                        "args": {"k": 1},
                    },
                    "metrics": [
                        {
                            "type": "accuracy",
                            "value": 0.9,
                            "name": "Accuracy",
                            "config": "default",
                            "args": {"normalize": True},
                            "verified": True,
                            "verifyToken": "eyJ...",
                        }
                    ],
                    "source": {"url": "https://example.org", "name": "Leaderboard"},
                }
            ],
        }
    ]
    assert_valid({"model-index": model_index})


@pytest.mark.parametrize("value", [0.9, 91, "91.2 ± 0.3", True])
def test_metric_value_may_be_any_scalar(value: object) -> None:
    def edit(mi: Any) -> None:
        mi[0]["results"][0]["metrics"][0]["value"] = value

    assert_valid(with_model_index(edit))


@pytest.mark.parametrize(
    "license_fields",
    [
        {"license": "mit"},
        {"license": "cc-by-nc-sa-4.0"},
        {"license": "llama3.1"},
        {"license": "openrail++"},
        {"license": "unknown"},
        {
            "license": "other",
            "license_name": "coqui-public-model-license",
            "license_link": "https://coqui.ai/cpml",
        },
        {"license": "other", "license_name": "my-license-1.0", "license_link": "LICENSE.md"},
    ],
)
def test_known_licenses_are_valid(license_fields: dict[str, str]) -> None:
    data = card(license=None)
    data.update(license_fields)
    assert_valid(data)


@pytest.mark.parametrize("language", ["en", ["en", "fr"], "fra", ["yue"]])
def test_language_codes_are_valid(language: object) -> None:
    assert_valid(card(language=language))


@pytest.mark.parametrize(
    "base_model",
    ["gpt2", "meta-llama/Llama-3.1-8B", ["Endevor/InfinityRP-v1-7B", "l3utterfly/mistral-7b-v0.1-layla-v4"]],
)
def test_base_model_is_a_repo_id_or_a_list(base_model: object) -> None:
    assert_valid(card(base_model=base_model))


@pytest.mark.parametrize("relation", ["adapter", "merge", "quantized", "finetune"])
def test_base_model_relations(relation: str) -> None:
    assert_valid(card(base_model_relation=relation))


def test_unknown_library_name_is_accepted_but_not_known() -> None:
    assert_valid(card(library_name="my-own-library"))
    known = SCHEMA["$defs"]["knownLibraries"]["enum"]
    assert "transformers" in known and "diffusers" in known and "peft" in known
    assert "my-own-library" not in known
    assert "$ref" not in SCHEMA["properties"]["library_name"]


@pytest.mark.parametrize("inference", [False, True, {"parameters": {"temperature": 0.7}}])
def test_inference_is_a_bool_or_a_mapping(inference: object) -> None:
    assert_valid(card(inference=inference))


@pytest.mark.parametrize("co2", [1.2345, 3, {"emissions": 1.2345}])
def test_co2_is_a_number_or_a_mapping(co2: object) -> None:
    assert_valid(card(co2_eq_emissions=co2))


def test_widget_is_permissive() -> None:
    widget = [
        {"src": "sample1.flac", "example_title": "Speech", "output": {"text": "Hello"}},
        {"messages": [{"role": "user", "content": "Hi"}]},
        {"text": "q", "context": "c", "some_future_key": 1},
        {"structured_data": {"a": [1, 2]}},
    ]
    assert_valid(card(widget=widget))


def test_new_version_and_eval_results() -> None:
    assert_valid(card(new_version="l3utterfly/mistral-7b-v0.1-layla-v4", eval_results=[{"anything": "goes"}]))


# ---------------------------------------------------------------------------------------------
# Invalid cards
# ---------------------------------------------------------------------------------------------


def test_license_other_without_license_name_is_a_warning() -> None:
    data = card(license="other", license_link="LICENSE")
    assert_warned(data, "license_name: required key 'license_name' is missing")


def test_license_other_without_license_link_is_a_warning() -> None:
    assert_warned(card(license="other", license_name="my-license"), "license_link: required key")


@pytest.mark.parametrize("license_id", ["apache2", "Apache-2.0", "MIT", "gpl-4.0", "proprietary", ""])
def test_unknown_license_is_rejected(license_id: str) -> None:
    assert_invalid(card(license=license_id), "license")


def test_license_name_that_is_not_a_slug_is_a_warning() -> None:
    assert_warned(card(license="other", license_name="My License!", license_link="LICENSE"), "license_name")


@pytest.mark.parametrize("tag", ["text-clasification", "Text-Classification", "sentiment-analysis", "llm"])
def test_pipeline_tag_outside_the_list_is_a_warning(tag: str) -> None:
    assert_warned(card(pipeline_tag=tag), "pipeline_tag")


@pytest.mark.parametrize("tag", [["text-generation"], 3, {"task": "x"}])
def test_pipeline_tag_that_is_not_text_is_rejected(tag: object) -> None:
    assert_invalid(card(pipeline_tag=tag), "pipeline_tag")


@pytest.mark.parametrize(
    ("language", "where"),
    [("english", "language"), ("EN", "language"), ("e", "language"), (["en", "english"], "language/1")],
)
def test_language_that_is_not_a_code_is_a_warning(language: object, where: str) -> None:
    assert_warned(card(language=language), where)


@pytest.mark.parametrize("language", [["en", "is", "multilingual"], ["code"], "multilingual", [], ["en", "kab"]])
def test_special_language_values_are_valid(language: object) -> None:
    assert_valid(card(language=language))
    assert not any(w.startswith("language") for w in _problems(card(language=language), "model", "warning"))


@pytest.mark.parametrize("language", [3, {"en": "English"}, [["en"]]])
def test_language_that_is_not_text_is_rejected(language: object) -> None:
    assert_invalid(card(language=language), "language")


def test_result_without_metrics_is_rejected() -> None:
    def edit(mi: Any) -> None:
        del mi[0]["results"][0]["metrics"]

    assert_invalid(with_model_index(edit), "model-index/0/results/0")


def test_result_with_empty_metrics_is_a_warning() -> None:
    def edit(mi: Any) -> None:
        mi[0]["results"][0]["metrics"] = []

    assert_warned(with_model_index(edit), "model-index/0/results/0/metrics")


def test_metric_without_value_is_rejected() -> None:
    def edit(mi: Any) -> None:
        del mi[0]["results"][0]["metrics"][1]["value"]

    data = with_model_index(edit)
    assert_invalid(data, "model-index/0/results/0/metrics/1")
    assert any("required key 'value' is missing" in e for e in errors(data))


@pytest.mark.parametrize("value", [None, [1, 2], {"mean": 1}])
def test_metric_value_that_is_not_a_scalar_is_a_warning(value: object) -> None:
    def edit(mi: Any) -> None:
        mi[0]["results"][0]["metrics"][0]["value"] = value

    assert_warned(with_model_index(edit), "model-index/0/results/0/metrics/0/value")


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ((), "metric"),  # a typo of "metrics" in a model-index entry
        ((0,), "dataset_name"),  # unknown key in a result
        ((0, "metrics", 0), "vale"),
        ((0, "dataset"), "subset"),
        ((0, "task"), "label"),
    ],
)
def test_unknown_keys_inside_model_index_are_a_warning(path: tuple[object, ...], key: str) -> None:
    def edit(mi: Any) -> None:
        node = mi[0] if not path else mi[0]["results"]
        for part in path:
            node = node[part]
        node[key] = "x"

    assert_warned(with_model_index(edit), "model-index/0")


@pytest.mark.parametrize(
    ("remove", "where"),
    [
        (("name",), "model-index/0"),
        (("results",), "model-index/0"),
        (("results", 0, "task", "type"), "model-index/0/results/0/task"),
        (("results", 0, "dataset", "type"), "model-index/0/results/0/dataset"),
        (("results", 0, "dataset", "name"), "model-index/0/results/0/dataset"),
        (("results", 0, "metrics", 0, "type"), "model-index/0/results/0/metrics/0"),
        (("results", 0, "source", "url"), "model-index/0/results/0/source"),
    ],
)
def test_required_model_index_keys(remove: tuple[object, ...], where: str) -> None:
    def edit(mi: Any) -> None:
        node = mi[0]
        for part in remove[:-1]:
            node = node[part]
        del node[remove[-1]]

    assert_invalid(with_model_index(edit), where)


def test_empty_model_index_is_a_warning() -> None:
    assert_warned(card(model_dash_index=[]), "model-index")


@pytest.mark.parametrize("model_index", ["foo", {"name": "m"}, [{"name": "m"}], [{"results": []}]])
def test_malformed_model_index_is_rejected(model_index: object) -> None:
    assert_invalid(card(model_dash_index=model_index), "model-index")


def test_result_without_a_dataset_is_a_warning() -> None:
    def edit(mi: Any) -> None:
        del mi[0]["results"][0]["dataset"]

    assert_warned(with_model_index(edit), "model-index/0/results/0/dataset")


def test_metric_verified_must_be_boolean() -> None:
    def edit(mi: Any) -> None:
        mi[0]["results"][0]["metrics"][0]["verified"] = "yes"

    assert_invalid(with_model_index(edit), "model-index/0/results/0/metrics/0/verified")


@pytest.mark.parametrize(
    "base_model",
    ["/workspace/merged", "./local-dir", "org/name/extra", "a--b/c", "x.git", ["ok/model", "bad path"], 3],
)
def test_bad_base_model_is_rejected(base_model: object) -> None:
    assert_invalid(card(base_model=base_model), "base_model")


@pytest.mark.parametrize("datasets", ["stanfordnlp/imdb", ["glue", "stanfordnlp/imdb"], "glue"])
def test_datasets_is_an_id_or_a_list(datasets: object) -> None:
    assert_valid(card(datasets=datasets))


def test_datasets_that_are_not_ids_are_a_warning() -> None:
    assert_warned(card(datasets=["not a dataset"]), "datasets/0")


@pytest.mark.parametrize("datasets", [[3], {"imdb": 1}])
def test_datasets_that_are_not_text_are_rejected(datasets: object) -> None:
    assert_invalid(card(datasets=datasets), "datasets")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("tags", "just-a-string"),
        ("inference", "yes"),
        ("co2_eq_emissions", "12 g"),
        ("widget", {"text": "not a list"}),
        ("extra_gated_fields", ["Name"]),
        ("thumbnail", 3),
    ],
)
def test_wrong_types_are_rejected(key: str, value: object) -> None:
    assert_invalid(card(**{key: value}), key)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("base_model_relation", "distillation"),
        ("metrics", [1]),
        ("new_version", "not a repo id"),
        ("library_name", ""),
        ("base_model", []),
    ],
)
def test_values_the_hub_takes_but_ignores_are_warnings(key: str, value: object) -> None:
    assert_warned(card(**{key: value}), key)


# ---------------------------------------------------------------------------------------------
# The generated enums and their sources
# ---------------------------------------------------------------------------------------------


def test_license_data_file() -> None:
    assert LICENSES["source"] == "https://huggingface.co/docs/hub/repositories-licenses"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", LICENSES["retrieved"])
    ids = [row["id"] for row in LICENSES["licenses"]]
    assert len(ids) == len(set(ids))
    assert all(row["name"] for row in LICENSES["licenses"])
    for expected in ("apache-2.0", "mit", "openrail", "other", "unknown", "cc-by-4.0", "gemma"):
        assert expected in ids


def test_license_enum_is_the_data_file() -> None:
    assert SCHEMA["$defs"]["licenseId"]["enum"] == sorted(row["id"] for row in LICENSES["licenses"])


def test_generated_enums_are_sorted_and_plausible() -> None:
    defs = SCHEMA["$defs"]
    for name in ("pipelineTag", "knownLibraries", "licenseId"):
        values = defs[name]["enum"]
        assert values == sorted(set(values)), name
    assert {"text-generation", "text-classification", "automatic-speech-recognition", "other"} <= set(
        defs["pipelineTag"]["enum"]
    )
    assert len(defs["pipelineTag"]["enum"]) >= 30
    assert len(defs["knownLibraries"]["enum"]) >= 100


def _committed_tasks_version() -> str:
    match = re.search(r"@huggingface/tasks@(\S+?);", SCHEMA["$comment"])
    assert match, SCHEMA["$comment"]
    return match.group(1)


def test_committed_schema_is_what_the_generator_makes_of_its_inputs() -> None:
    """Byte for byte: the committed schema is a fixed point of the generator on the committed inputs."""
    defs = SCHEMA["$defs"]
    inputs = {
        "tasks_version": _committed_tasks_version(),
        "pipeline_tags": list(reversed(defs["pipelineTag"]["enum"])),  # order must not matter
        "libraries": [*reversed(defs["knownLibraries"]["enum"]), "transformers"],  # nor duplicates
        "licenses": LICENSES,
    }
    first = gen.render(gen.update_schema(SCHEMA, **inputs))
    assert first == SCHEMA_PATH.read_text(encoding="utf-8")
    assert gen.render(gen.update_schema(json.loads(first), **inputs)) == first


def test_hub_licenses_file_is_rendered_like_the_generator_renders() -> None:
    assert gen.render(LICENSES) == LICENSES_PATH.read_text(encoding="utf-8")


def test_update_schema_only_touches_enums_and_comment() -> None:
    before = copy.deepcopy(SCHEMA)
    new = gen.update_schema(
        SCHEMA,
        tasks_version="1.2.3",
        pipeline_tags=["b-task", "a-task"],
        libraries=["zlib-lib", "alib"],
        licenses=LICENSES,
    )
    assert before == SCHEMA  # the input is not mutated
    assert new["$defs"]["pipelineTag"]["enum"] == ["a-task", "b-task"]
    assert new["$defs"]["knownLibraries"]["enum"] == ["alib", "zlib-lib"]
    assert "@huggingface/tasks@1.2.3;" in new["$comment"]
    for key in ("pipelineTag", "knownLibraries"):
        new["$defs"][key]["enum"] = SCHEMA["$defs"][key]["enum"]
    new["$comment"] = SCHEMA["$comment"]
    assert new == SCHEMA


def test_update_schema_needs_the_enum_slots() -> None:
    broken = copy.deepcopy(SCHEMA)
    del broken["$defs"]["knownLibraries"]
    with pytest.raises(ValueError, match="knownLibraries"):
        gen.update_schema(broken, tasks_version="1", pipeline_tags=["a"], libraries=["b"], licenses=LICENSES)


def test_implausible_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="unexpected ids"):
        gen.update_schema(
            SCHEMA, tasks_version="1", pipeline_tags=["Text Generation"], libraries=["x"], licenses=LICENSES
        )


# ---------------------------------------------------------------------------------------------
# Extraction from the package's built JavaScript (fake dist text, no network)
# ---------------------------------------------------------------------------------------------

FAKE_PIPELINES_JS = r"""
export const MODALITIES = ["nlp", "cv"];
/// Coarse-grained taxonomy of tasks { not: "a key" }
export const PIPELINE_DATA = {
    "text-classification": {
        name: "Text Classification",
        subtasks: [
            { type: "acceptability-classification", name: "Acceptability {Classification}" },
        ],
        modality: "nlp",
    },
    translation: {
        name: 'It\'s "translation", } really',
        modality: "nlp",
    },
    // "commented-out": { name: "Nope" },
    /* "also-not": {}, */
    "image-to-3d": {
        name: `Image to ${"3D".toLowerCase() + `{nested}`}`,
        hideInModels: true,
    },
    other: { name: "Other", modality: "other", extra: (1 + 2) / 3 },
};
export const PIPELINE_TYPES = Object.keys(PIPELINE_DATA);
"""

FAKE_LIBRARIES_JS = r"""
import * as snippets from "./model-libraries-snippets.js";
export const MODEL_LIBRARIES_UI_ELEMENTS = {
    "adapter-transformers": {
        prettyLabel: "Adapters",
        snippets: snippets.adapters,
        countDownloads: `path:"adapter_config.json"`,
    },
    transformers: {
        prettyLabel: "Transformers",
        repoUrl: "https://github.com/huggingface/transformers",
        filter: true,
    },
    "sentence-transformers": { prettyLabel: "sentence-transformers", filter: true },
};
export const ALL_MODEL_LIBRARY_KEYS = Object.keys(MODEL_LIBRARIES_UI_ELEMENTS);
"""


def test_object_literal_keys_reads_top_level_keys_in_order() -> None:
    keys = gen.object_literal_keys(FAKE_PIPELINES_JS, "PIPELINE_DATA")
    assert keys == ["text-classification", "translation", "image-to-3d", "other"]
    libs = gen.object_literal_keys(FAKE_LIBRARIES_JS, "MODEL_LIBRARIES_UI_ELEMENTS")
    assert libs == ["adapter-transformers", "transformers", "sentence-transformers"]


def test_object_literal_keys_reads_commonjs() -> None:
    source = 'exports.PIPELINE_DATA = { "fill-mask": { name: "Fill-Mask" }, summarization: {} };'
    assert gen.object_literal_keys(source, "PIPELINE_DATA") == ["fill-mask", "summarization"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("export const OTHER = { a: 1 };", "no object literal"),
        ("export const X = { ...base, a: 1 };", "unsupported property syntax"),
        ("export const X = { [key]: 1 };", "unsupported property syntax"),
        ("export const X = { a, b: 1 };", "expected ':'"),
        ("export const X = { a() { return 1; } };", "expected ':'"),
        ('export const X = { a: "unterminated };', "unterminated"),
        ("export const X = { a: 1 };\nexport const X = { b: 2 };", "2 times"),
    ],
)
def test_object_literal_keys_refuses_what_it_cannot_read(source: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        gen.object_literal_keys(source, "X" if "OTHER" not in source else "PIPELINE_DATA")


def test_find_object_keys_picks_the_one_js_file() -> None:
    files = {
        "dist/esm/pipelines.js": FAKE_PIPELINES_JS,
        "dist/esm/pipelines.d.ts": "export declare const PIPELINE_DATA: { ... };",
        "dist/esm/index.js": 'export { PIPELINE_DATA } from "./pipelines.js";',
        "dist/esm/model-libraries.js": FAKE_LIBRARIES_JS,
    }
    path, keys = gen.find_object_keys(files, "PIPELINE_DATA")
    assert path == "dist/esm/pipelines.js"
    assert keys[0] == "text-classification"
    with pytest.raises(ValueError, match="exactly one"):
        gen.find_object_keys({"a.js": FAKE_PIPELINES_JS, "b.js": FAKE_PIPELINES_JS}, "PIPELINE_DATA")


def _fake_tarball(version: str, pipelines: list[str], libraries: list[str], subtasks: list[str] = ()) -> bytes:  # type: ignore[assignment]
    def obj(name: str, keys: list[str]) -> str:
        listed = ", ".join(f'{{ type: "{t}", name: "{t.title()}" }}' for t in subtasks)
        extra = {keys[0]: f", subtasks: [{listed}]"} if subtasks and name == "PIPELINE_DATA" else {}
        body = ",\n".join(f'    "{k}": {{ name: "{k.upper()}", note: `${{"}}"}}`{extra.get(k, "")} }}' for k in keys)
        return f"export const {name} = {{\n{body}\n}};\n"

    members = {
        "package/package.json": json.dumps({"name": "@huggingface/tasks", "version": version}),
        "package/dist/esm/pipelines.js": obj("PIPELINE_DATA", pipelines),
        "package/dist/esm/model-libraries.js": obj("MODEL_LIBRARIES_UI_ELEMENTS", libraries),
        "package/dist/commonjs/pipelines.js": obj("PIPELINE_DATA", pipelines).replace("export const ", "exports."),
        "package/src/pipelines.ts": "export const PIPELINE_DATA = { ignored: {} };",
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_read_tarball_finds_version_and_dist_files() -> None:
    version, files = gen.read_tarball(_fake_tarball("9.9.9", ["a-task"], ["lib"]))
    assert version == "9.9.9"
    assert sorted(files) == [
        "dist/commonjs/pipelines.js",
        "dist/esm/model-libraries.js",
        "dist/esm/pipelines.js",
    ]
    assert sorted(gen.dist_files(files)) == ["dist/esm/model-libraries.js", "dist/esm/pipelines.js"]


def test_generator_command_line_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pipelines = [f"task-{i}" for i in range(12)]
    libraries = [f"lib{i}" for i in range(11)] + ["Some.Lib_x"]
    tarball = tmp_path / "tasks.tgz"
    tarball.write_bytes(_fake_tarball("9.9.9", pipelines, libraries, subtasks=["sub-b", "sub-a"]))
    schema = tmp_path / "modelcard.schema.json"
    schema.write_text(SCHEMA_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    dataset_schema = tmp_path / "datasetcard.schema.json"
    dataset_schema.write_text(DATASET_SCHEMA_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    common = ["--tarball", str(tarball), "--schema", str(schema), "--dataset-schema", str(dataset_schema)]
    common += ["--licenses", str(LICENSES_PATH), "--node-check", "never"]

    assert gen.main([*common, "--check"]) == 1
    assert schema.read_text(encoding="utf-8") == SCHEMA_PATH.read_text(encoding="utf-8")
    assert dataset_schema.read_text(encoding="utf-8") == DATASET_SCHEMA_PATH.read_text(encoding="utf-8")
    assert gen.main(common) == 0
    written = json.loads(schema.read_text(encoding="utf-8"))
    assert written["$defs"]["pipelineTag"]["enum"] == sorted(pipelines)
    assert written["$defs"]["knownLibraries"]["enum"] == sorted(libraries)
    assert "@huggingface/tasks@9.9.9;" in written["$comment"]
    written_dataset = json.loads(dataset_schema.read_text(encoding="utf-8"))
    assert written_dataset["$defs"]["taskCategory"]["enum"] == sorted(pipelines)
    assert written_dataset["$defs"]["knownTaskIds"]["enum"] == ["sub-a", "sub-b"]
    assert "@huggingface/tasks@9.9.9;" in written_dataset["$comment"]
    assert gen.main([*common, "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_too_few_ids_means_the_layout_changed(tmp_path: Path) -> None:
    tarball = tmp_path / "tasks.tgz"
    tarball.write_bytes(_fake_tarball("1.0.0", ["only-one"], [f"lib{i}" for i in range(20)]))
    with pytest.raises(ValueError, match="only 1 keys"):
        gen.extract_from_tarball(tarball, "never")


# ---------------------------------------------------------------------------------------------
# The license table parser
# ---------------------------------------------------------------------------------------------


def _fake_license_page(rows: list[str]) -> str:
    table = "\n".join(rows)
    return f"""# Licenses

| Not | `in-the-region` |

<!-- region licenses -->

| Fullname                      | License identifier (to use in repo card) |
| ----------------------------- | ---------------------------------------- |
{table}

<!-- endregion -->

In case of `license: other` ...
"""


def test_parse_license_table() -> None:
    rows = [f"| License number {i} | `lic-{i}.0` |" for i in range(9)] + [
        "| Do What The F\\*ck You Want To Public License | `wtfpl` |",
        "| Llama 2 Community License Agreement | `llama2` | <!-- license: https://example.org/L.txt -->",
        "| Other | `other` |",
    ]
    parsed = gen.parse_license_table(_fake_license_page(rows))
    assert [r["id"] for r in parsed][-3:] == ["wtfpl", "llama2", "other"]
    assert len(parsed) == 12
    assert parsed[-3]["name"] == "Do What The F*ck You Want To Public License"
    assert parsed[-2] == {
        "id": "llama2",
        "name": "Llama 2 Community License Agreement",
        "link": "https://example.org/L.txt",
    }
    document = gen.licenses_document(parsed, commit="abc", retrieved="2000-01-01")
    assert gen.license_ids(document) == sorted(r["id"] for r in parsed)


def test_parse_license_table_refuses_a_changed_page() -> None:
    with pytest.raises(ValueError, match="region licenses"):
        gen.parse_license_table("| MIT | `mit` |")
    with pytest.raises(ValueError, match="duplicate"):
        gen.parse_license_table(_fake_license_page([f"| L{i} | `lic-{i}` |" for i in range(10)] * 2))
    with pytest.raises(ValueError, match="only 2 license rows"):
        gen.parse_license_table(_fake_license_page(["| MIT | `mit` |", "| Other | `other` |"]))


# ---------------------------------------------------------------------------------------------
# Subtasks: the dataset cards' known task_ids
# ---------------------------------------------------------------------------------------------


def test_pipeline_subtask_types_reads_every_subtask_in_order() -> None:
    source = FAKE_PIPELINES_JS.replace(
        "translation: {",
        "translation: {\n        subtasks: "
        + """[{ name: "x", type: 'tr-sub' }, { type: "acceptability-classification" }],""",
    )
    assert gen.pipeline_subtask_types(source) == [
        "acceptability-classification",
        "tr-sub",
        "acceptability-classification",
    ]


@pytest.mark.parametrize(
    ("subtasks", "message"),
    [
        ("subtasks: base.subtasks,", "expected an array literal"),
        ("subtasks: [{ type: name }],", "not a string literal"),
    ],
)
def test_pipeline_subtask_types_refuses_what_it_cannot_read(subtasks: str, message: str) -> None:
    source = 'export const PIPELINE_DATA = { "fill-mask": { ' + subtasks + ' name: "Fill-Mask" } };'
    with pytest.raises(ValueError, match=message):
        gen.pipeline_subtask_types(source)


# ---------------------------------------------------------------------------------------------
# The dataset-card schema
# ---------------------------------------------------------------------------------------------

REALISTIC_DATASET_CARD = """
annotations_creators:
- crowdsourced
language_creators:
- found
language:
- en
- fr
language_details:
- en-US
- fr-FR
license:
- cc-by-sa-4.0
- mit
multilinguality:
- multilingual
pretty_name: SQuAD-ish
size_categories:
- 10K<n<100K
source_datasets:
- original
- extended|wikipedia
task_categories:
- question-answering
task_ids:
- extractive-qa
- my-own-subtask
paperswithcode_id: squad
tags:
- reading-comprehension
viewer: true
configs:
- config_name: default
  default: true
  data_files:
  - split: train
    path: data/train-*.parquet
  - split: validation
    path:
    - data/validation-0.parquet
    - data/validation-1.parquet
- config_name: raw
  data_dir: raw
  data_files: raw/*.jsonl
  sep: ","
dataset_info:
- config_name: default
  features:
  - name: id
    dtype: string
  - name: answers
    sequence:
    - name: text
      dtype: string
  splits:
  - name: train
    num_bytes: 79317110
    num_examples: 87599
  download_size: 35142551
  dataset_size: 89789763
extra_gated_prompt: Agree to the terms.
extra_gated_fields:
  Name: text
  I agree: checkbox
train-eval-index:
- config: default
  task: question-answering
  task_id: extractive_question_answering
"""


def dataset_card(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(REALISTIC_DATASET_CARD)
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def dataset_errors(instance: dict[str, Any]) -> list[str]:
    return _problems(instance, "dataset", "error")


def test_dataset_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(DATASET_SCHEMA)
    assert DATASET_SCHEMA["$id"] == "https://model-release.dev/schemas/datasetcard.schema.json"
    assert DATASET_SCHEMA["additionalProperties"] is True


def test_realistic_dataset_card_is_valid() -> None:
    assert dataset_errors(dataset_card()) == []
    assert dataset_errors({}) == []


@pytest.mark.parametrize(
    "fields",
    [
        {"license": "apache-2.0", "task_categories": "translation", "size_categories": "n<1K"},
        {"multilinguality": "monolingual", "paperswithcode_id": None},
        {"dataset_info": {"features": {"text": {"dtype": "string"}}, "splits": [{"name": "train"}]}},
        {"license": "other", "license_name": "my-data-license", "license_link": "LICENSE"},
        {"configs": [{"config_name": "default", "data_files": "data/*.csv"}]},
    ],
)
def test_dataset_card_variants_written_by_others_are_valid(fields: dict[str, Any]) -> None:
    assert dataset_errors(dataset_card(**fields)) == []


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"license": ["mit", "not-a-license"]}, "license"),
        ({"license": []}, "license"),
        ({"licenses": ["mit"]}, "licenses"),
        ({"languages": ["en"]}, "languages"),
        ({"configs": [{"data_files": "x"}]}, "configs/0"),
        ({"viewer": "no"}, "viewer"),
        ({"task_categories": [3]}, "task_categories"),
    ],
)
def test_bad_dataset_cards_are_rejected(fields: dict[str, Any], where: str) -> None:
    problems = dataset_errors(dataset_card(**fields))
    assert problems and any(p.startswith(where) for p in problems), problems


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"license": "other"}, "license_name"),
        ({"task_categories": ["not-a-task"]}, "task_categories/0"),
        ({"size_categories": ["n<1k"]}, "size_categories/0"),
        ({"annotations_creators": ["robots"]}, "annotations_creators/0"),
        ({"multilinguality": ["bilingual"]}, "multilinguality/0"),
        ({"configs": [{"config_name": "a", "data_files": [{"split": "train", "path": "x", "extra": 1}]}]}, "configs"),
        ({"dataset_info": {"download_size": -1}}, "dataset_info"),
        ({"language": ["en", "pt-br"]}, "language/1"),
    ],
)
def test_dataset_values_the_hub_takes_are_warnings(fields: dict[str, Any], where: str) -> None:
    assert_warned(dataset_card(**fields), where, "dataset")


def test_dataset_schema_enums_come_from_the_same_sources_as_the_model_schema() -> None:
    defs = DATASET_SCHEMA["$defs"]
    assert defs["taskCategory"]["enum"] == SCHEMA["$defs"]["pipelineTag"]["enum"]
    assert defs["licenseId"]["enum"] == SCHEMA["$defs"]["licenseId"]["enum"]
    task_ids = defs["knownTaskIds"]["enum"]
    assert task_ids == sorted(set(task_ids)) and {"extractive-qa", "multi-class-image-classification"} <= set(task_ids)
    assert _committed_tasks_version() in DATASET_SCHEMA["$comment"]


def test_committed_dataset_schema_is_what_the_generator_makes_of_its_inputs() -> None:
    defs = DATASET_SCHEMA["$defs"]
    inputs = {
        "tasks_version": _committed_tasks_version(),
        "pipeline_tags": list(reversed(defs["taskCategory"]["enum"])),
        "subtask_types": [*defs["knownTaskIds"]["enum"], "extractive-qa"],
        "licenses": LICENSES,
    }
    assert gen.render(gen.update_dataset_schema(DATASET_SCHEMA, **inputs)) == DATASET_SCHEMA_PATH.read_text(
        encoding="utf-8"
    )


# ---------------------------------------------------------------------------------------------
# The evaluation results file model-release reads ($defs/evalResultsFile)
# ---------------------------------------------------------------------------------------------


def _results(**metric: Any) -> dict[str, Any]:
    result = copy.deepcopy(card()["model-index"][0]["results"][0])
    result["metrics"][0].update(metric)
    return {"results": [result]}


@pytest.mark.parametrize("value", [0.9312, 91, -1.5e-3])
def test_results_file_takes_numbers(value: float) -> None:
    assert list(RESULTS_VALIDATOR.iter_errors(_results(value=value))) == []


@pytest.mark.parametrize("value", ["91.2 ± 0.3", "0.9", True, None, [0.9]])
def test_results_file_refuses_non_numeric_values(value: object) -> None:
    paths = {"/".join(map(str, e.absolute_path)) for e in RESULTS_VALIDATOR.iter_errors(_results(value=value))}
    assert "results/0/metrics/0/value" in paths


def test_results_file_benchmark_target() -> None:
    document = _results()
    document["results"][0]["benchmark"] = {"id": "cais/hle", "task_id": "hle", "metric": "accuracy", "notes": "x"}
    assert list(RESULTS_VALIDATOR.iter_errors(document)) == []
    document["results"][0]["benchmark"] = {"id": "hle", "date": "2025-01-01"}
    paths = sorted("/".join(map(str, e.absolute_path)) for e in RESULTS_VALIDATOR.iter_errors(document))
    assert paths == ["results/0/benchmark", "results/0/benchmark/id"]


# ---------------------------------------------------------------------------------------------
# The real package, only when npm has it cached (never downloaded by the tests)
# ---------------------------------------------------------------------------------------------


def _npm_places(dest: Path, cache: str) -> list[str]:
    return ["--pack-destination", str(dest), "--cache", cache, "--logs-dir", str(dest)]


def _cached_tasks_tarball(dest: Path, version: str) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not on PATH")
    cache = os.environ.get("NPM_CONFIG_CACHE") or str(Path(pwd.getpwuid(os.getuid()).pw_dir) / ".npm")
    result = subprocess.run(
        [npm, "pack", f"@huggingface/tasks@{version}", "--offline", "--json", *_npm_places(dest, cache)],
        cwd=dest,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        pytest.skip(f"@huggingface/tasks@{version} is not in the npm cache at {cache} (tests never download it)")
    return dest / str(json.loads(result.stdout)[0]["filename"])


def test_committed_schemas_are_current_for_the_real_package(tmp_path: Path) -> None:
    """With the cached tarball of the committed version: text parse, node cross-check, byte-identical output."""
    tarball = _cached_tasks_tarball(tmp_path, _committed_tasks_version())
    tasks = gen.extract_from_tarball(tarball, "auto")
    assert tasks.version == _committed_tasks_version()
    assert "text-classification" in tasks.pipeline_tags and "extractive-qa" in tasks.subtask_types
    copies = []
    for source in (SCHEMA_PATH, DATASET_SCHEMA_PATH):
        copies.append(tmp_path / source.name)
        copies[-1].write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    arguments = ["--tarball", str(tarball), "--schema", str(copies[0]), "--dataset-schema", str(copies[1])]
    assert gen.main([*arguments, "--licenses", str(LICENSES_PATH), "--check"]) == 0
