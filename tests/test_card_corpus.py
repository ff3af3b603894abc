"""The card corpus (tests/card_corpus/): cards shaped like published ones pass, and what the Hub refuses fails.

Every card is checked both ways: offline (``check_card_data``, what ``card validate`` uses) and
through the Hub emulator's ``/api/validate-yaml``, called by huggingface_hub's own ``RepoCard.validate``
(HF_ENDPOINT points at the session's emulator). The two must agree: no errors for any card of the
corpus; and for each change the Hub refuses (a license id outside its table, a malformed model-index,
a local path as base_model, ...), an error naming the field, from both.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx2 as httpx
import pytest
import yaml
from conftest import RunningHub
from huggingface_hub import CommitOperationAdd, HfApi, RepoCard

from release.card import check_card_file
from release.card_rules import EMPTY_METADATA, check_card_data

CORPUS = Path(__file__).parent / "card_corpus"


def corpus(kind: str) -> list[Path]:
    return sorted((CORPUS / kind).glob("*.yaml"))


def load(kind: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((CORPUS / kind / f"{name}.yaml").read_text(encoding="utf-8"))
    return data


def readme(data: dict[str, Any]) -> str:
    """A README.md holding ``data`` as its front matter."""
    front = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return f"---\n{front}---\n\n# A card\n"


@pytest.fixture
def endpoint(hub: RunningHub) -> Iterator[str]:
    """The session's emulator, which huggingface_hub's RepoCard.validate calls (HF_ENDPOINT)."""
    yield hub.url


def test_the_corpus_has_many_kinds_of_cards() -> None:
    assert len(corpus("model")) >= 12 and len(corpus("dataset")) >= 5
    text = "\n".join(path.read_text(encoding="utf-8") for path in corpus("model"))
    for field in (
        "extra_gated_fields",
        "base_model_relation: merge",
        "base_model_relation: adapter",
        "base_model_relation: quantized",
        "new_version",
        "messages:",
        "source:",
        "co2_eq_emissions",
        "language_bcp47",
        "library_name: peft",
        "library_name: sentence-transformers",
        "- gguf",
        "pipeline_tag: automatic-speech-recognition",
        "pipeline_tag: image-classification",
        "- multilingual",
        "- code",
    ):
        assert field in text, field
    datasets = "\n".join(path.read_text(encoding="utf-8") for path in corpus("dataset"))
    for field in ("configs:", "config_name", "language_bcp47", "extra_gated_fields", "dataset_info"):
        assert field in datasets, field


@pytest.mark.parametrize(
    ("kind", "path"),
    [(kind, path) for kind in ("model", "dataset") for path in corpus(kind)],
    ids=lambda value: value.stem if isinstance(value, Path) else value,
)
def test_every_corpus_card_validates_offline_and_on_the_emulator(
    endpoint: str, kind: str, path: Path, tmp_path: Path
) -> None:
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    check = check_card_data(data, kind)
    assert check.errors == (), [str(p) for p in check.errors]
    card = tmp_path / "README.md"
    card.write_text(f"---\n{text}---\n\n# A card\n", encoding="utf-8")
    assert check_card_file(card, kind).errors == ()  # what `card validate --repo-type KIND README.md` runs
    RepoCard(readme(data)).validate(repo_type=kind)  # raises ValueError on a 400


#: Changes the Hub refuses: (repo type, corpus card, JSON path to set, the value or DELETE, the field
#: the error must name).
DELETE = object()
REFUSED: list[tuple[str, str, tuple[str | int, ...], object, str]] = [
    ("model", "llm-gated-chat", ("license",), "asdf", "license"),
    ("model", "translation-bcp47", ("license",), ["cc-by-4.0", "cc-by-5.0"], "license[1]"),
    ("model", "llm-leaderboard", ("model-index",), "foo", "model-index"),
    ("model", "llm-leaderboard", ("model-index", 0, "name"), DELETE, "model-index[0].name"),
    ("model", "speech-asr", ("model-index", 0, "results", 0, "metrics"), DELETE, "model-index[0].results[0].metrics"),
    ("model", "code-model", ("model-index", 0, "results", 1, "dataset", "config"), 3, "dataset.config"),
    ("model", "vision-classifier", ("model-index", 0, "results", 0, "metrics", 0, "value"), DELETE, "metrics[0].value"),
    ("model", "llm-leaderboard", ("model-index", 0, "results", 0, "source", "url"), DELETE, "source.url"),
    ("model", "peft-adapter", ("base_model",), "/home/me/checkpoints/base", "base_model"),
    ("model", "llm-leaderboard", ("base_model", 1), "quarry ml/Quarry 7B", "base_model[1]"),
    ("model", "legacy-fill-mask", ("widget",), {"text": "Paris is the [MASK] of France."}, "widget"),
    ("model", "llm-chat-widget", ("pipeline_tag",), ["image-text-to-text"], "pipeline_tag"),
    ("model", "llm-gated-chat", ("extra_gated_fields",), ["First Name", "Country"], "extra_gated_fields"),
    ("model", "vision-classifier", ("datasets",), {"imagenet-1k": True}, "datasets"),
    ("model", "sentence-embeddings", ("tags",), "sentence-transformers", "tags"),
    ("model", "vision-classifier", ("co2_eq_emissions",), "4.5 kg", "co2_eq_emissions"),
    ("dataset", "extractive-qa", ("license",), "cc-by-sa-5.0", "license"),
    ("dataset", "legacy-translation", ("licenses",), ["unknown"], "licenses"),
    ("dataset", "multilingual-speech", ("configs", 0, "config_name"), DELETE, "configs[0].config_name"),
    ("dataset", "instruction-sft", ("configs", 1, "data_files", 0, "path"), DELETE, "configs[1].data_files[0].path"),
    ("dataset", "code-gated", ("viewer",), "no", "viewer"),
    ("dataset", "image-classification", ("language",), 3, "language"),
]


def mutated(kind: str, name: str, path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    data = copy.deepcopy(load(kind, name))
    node: Any = data
    for part in path[:-1]:
        node = node[part]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


@pytest.mark.parametrize(("kind", "name", "path", "value", "field"), REFUSED, ids=[f"{c[1]}-{c[4]}" for c in REFUSED])
def test_a_change_the_hub_refuses_fails_naming_the_field_both_ways(
    endpoint: str, kind: str, name: str, path: tuple[str | int, ...], value: object, field: str
) -> None:
    data = mutated(kind, name, path, value)
    offline = check_card_data(data, kind)
    assert any(problem.where().endswith(field) for problem in offline.errors), [str(p) for p in offline.errors]
    with pytest.raises(ValueError) as refused:
        RepoCard(readme(data)).validate(repo_type=kind)
    # RepoCard.validate asks for text/plain, and the Hub answers "- Error: ..." lines
    assert str(refused.value) == "".join(f"- Error: {problem}\n" for problem in offline.errors)  # the same rules
    assert field in str(refused.value)
    answer = httpx.post(f"{endpoint}/api/validate-yaml", json={"content": readme(data), "repoType": kind})
    assert answer.status_code == 400  # HfApi's own check (create_commit) reads JSON
    assert [e["message"] for e in answer.json()["errors"]] == [str(problem) for problem in offline.errors]


@pytest.mark.parametrize(
    ("kind", "name", "path", "value", "field", "fix"),
    [
        ("model", "llm-chat-widget", ("pipeline_tag",), "text2text-generation", "pipeline_tag", "official list"),
        ("model", "speech-asr", ("language", 0), "en-US", "language[0]", "language_bcp47"),
        ("model", "sentence-embeddings", ("language", 1), "zh-Hant", "language[1]", "language_bcp47"),
        ("dataset", "legacy-translation", ("language", 0), "pt-br", "language[0]", "language_bcp47"),
        ("model", "gguf-quant", ("license_link",), DELETE, "license_link", "license_link"),
        ("dataset", "extractive-qa", ("size_categories", 0), "10k<n<100k", "size_categories[0]", "10K<n<100K"),
    ],
)
def test_a_value_the_hub_takes_is_a_warning_both_ways(
    endpoint: str, kind: str, name: str, path: tuple[str | int, ...], value: object, field: str, fix: str
) -> None:
    data = mutated(kind, name, path, value)
    offline = check_card_data(data, kind)
    assert offline.errors == ()
    [warning] = [str(p) for p in offline.warnings if p.where() == field]
    assert fix in warning
    answer = httpx.post(f"{endpoint}/api/validate-yaml", json={"content": readme(data), "repoType": kind})
    assert answer.status_code == 200
    assert warning in [w["message"] for w in answer.json()["warnings"]]
    RepoCard(readme(data)).validate(repo_type=kind)


def test_a_card_without_metadata_gets_the_hubs_warning_and_is_committed(hub: RunningHub, endpoint: str) -> None:
    """huggingface_hub turns the emulator's warnings into a UserWarning and commits the card."""
    api = HfApi(token=hub.token)
    repo_id = api.create_repo(f"alice/corpus-{uuid4().hex[:10]}").repo_id
    with pytest.warns(UserWarning, match=EMPTY_METADATA):
        api.create_commit(
            repo_id,
            [CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=b"A card without metadata\n")],
            commit_message="card",
        )
    assert "README.md" in api.list_repo_files(repo_id)


def test_a_refused_card_is_not_committed(hub: RunningHub, endpoint: str) -> None:
    """The client checks README.md with validate-yaml before it uploads anything: nothing is written."""
    api = HfApi(token=hub.token)
    repo_id = api.create_repo(f"alice/corpus-{uuid4().hex[:10]}").repo_id
    before = api.list_repo_commits(repo_id)
    data = mutated("model", "llm-leaderboard", ("license",), "apache2")
    with pytest.raises(ValueError, match=r"(?s)Invalid metadata in README\.md.*license.*apache-2\.0"):
        api.create_commit(
            repo_id,
            [
                CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=readme(data).encode()),
                CommitOperationAdd(path_in_repo="weights.bin", path_or_fileobj=b"\0" * 64),
            ],
            commit_message="refused card",
        )
    assert api.list_repo_commits(repo_id) == before
    assert "weights.bin" not in api.list_repo_files(repo_id)
