"""What each model library needs to load a model, read from the files of its folder.

A model folder is laid out by the library that saved it. :func:`read_layout` reads the files that
say which library that was (``config.json``, ``modules.json``, ``model_index.json``,
``adapter_config.json``, ``open_clip_config.json``, the ``.onnx`` graphs) and returns a
:class:`ModelLayout`: the files beside the weights that loading needs, the folders that hold more
of the model (sentence-transformers modules, diffusers components), the Python files that run
when it loads (transformers' ``trust_remote_code``), and the card metadata the files state
(``library_name``, ``base_model``, ``pipeline_tag``). Nothing here loads a model or imports a
library: only JSON, and the ``.onnx`` and ``.gguf`` headers, are read.

:func:`unreleased_files` lists what a configuration leaves out of the model folder, so that a file
a library needs is never dropped silently.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from release.card import CardMetadata
from release.checkpoint import PICKLE_SUFFIXES, SAFETENSORS_SUFFIX, SHARD_INDEX_SUFFIX
from release.checksum import collect_files
from release.config import Config
from release.formats.gguf import read_strings as read_gguf_strings
from release.formats.onnx import external_tensors
from release.schema import load_schema

Library = Literal["transformers", "sentence-transformers", "diffusers", "peft", "gguf", "onnx", "timm", "open_clip"]
WeightKind = Literal["safetensors", "safetensors-index", "pickle", "pickle-index", "other"]

#: Pickled weights (the safety gate's list, without numpy's arrays, which are usually data).
WEIGHT_PICKLE_SUFFIXES = frozenset(PICKLE_SUFFIXES - {".npy", ".npz"})
OTHER_WEIGHT_SUFFIXES = frozenset({".onnx", ".gguf"})

#: Files transformers reads beside the weights: configuration, tokenizer, processor, chat templates.
TRANSFORMERS_FILES = (
    "added_tokens.json",
    "chat_template.jinja",
    "chat_template.json",
    "config.json",
    "feature_extractor_config.json",
    "generation_config.json",
    "image_processor_config.json",
    "merges.txt",
    "preprocessor_config.json",
    "processor_config.json",
    "sentencepiece.bpe.model",
    "special_tokens_map.json",
    "spiece.model",
    "tokenizer.json",
    "tokenizer.model",
    "tokenizer_config.json",
    "video_preprocessor_config.json",
    "vocab.json",
    "vocab.txt",
)
#: Folders of extra chat templates (transformers saves each as additional_chat_templates/<name>.jinja).
TRANSFORMERS_FOLDERS = ("additional_chat_templates",)
SENTENCE_TRANSFORMERS_FILES = (
    "config_sentence_transformers.json",
    "modules.json",
    "sentence_bert_config.json",
    "sentence_xlnet_config.json",
)
#: Files whose folder holds one model laid out in sub-folders (sentence-transformers modules, diffusers components).
LAYOUT_MARKERS = frozenset({"modules.json", "model_index.json"})
PEFT_FILES = ("adapter_config.json",)
OPEN_CLIP_FILES = ("open_clip_config.json",)
#: Files of a model's legal terms, released with it whatever the library.
_LEGAL = re.compile(r"^(LICEN[CS]E|NOTICE|COPYING|USE_POLICY)([._-].*)?$", re.IGNORECASE)
#: A Hub model id as card metadata names it (``base_model``): namespace/name.
_REPO_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,94}/[A-Za-z0-9_][A-Za-z0-9_.-]{0,94}$")
_HUB_URL = re.compile(r"^https://(?:www\.)?huggingface\.co/([^/?#]+/[^/?#]+?)/?$")
_RELATIVE_IMPORT = re.compile(r"^\s*from\s+\.([A-Za-z_][A-Za-z0-9_]*)\s+import\b", re.MULTILINE)

#: transformers' architecture suffixes, and the Hub task each one performs.
_ARCHITECTURE_TASKS = (
    ("ForSequenceClassification", "text-classification"),
    ("ForTokenClassification", "token-classification"),
    ("ForQuestionAnswering", "question-answering"),
    ("ForMaskedLM", "fill-mask"),
    ("ForCausalLM", "text-generation"),
    ("LMHeadModel", "text-generation"),
    ("ForMultipleChoice", "multiple-choice"),
    ("ForImageClassification", "image-classification"),
    ("ForObjectDetection", "object-detection"),
    ("ForSemanticSegmentation", "image-segmentation"),
    ("ForCTC", "automatic-speech-recognition"),
    ("ForSpeechSeq2Seq", "automatic-speech-recognition"),
    ("ForAudioClassification", "audio-classification"),
    ("ForDepthEstimation", "depth-estimation"),
    ("ForImageTextToText", "image-text-to-text"),
)
#: PEFT's task types, and the Hub task each one performs.
_PEFT_TASKS = {
    "SEQ_CLS": "text-classification",
    "TOKEN_CLS": "token-classification",
    "QUESTION_ANS": "question-answering",
    "CAUSAL_LM": "text-generation",
    "FEATURE_EXTRACTION": "feature-extraction",
}
_UNCONDITIONAL_PIPELINES = frozenset(
    {"DDPMPipeline", "DDIMPipeline", "PNDMPipeline", "LDMPipeline", "ScoreSdeVePipeline", "KarrasVePipeline"}
)


@dataclass(frozen=True)
class ModelLayout:
    """What a model folder's files say about how it loads. Paths are POSIX, relative to the folder."""

    libraries: tuple[Library, ...] = ()  # every library the files are laid out for, the one to load with first
    files: tuple[str, ...] = ()  # the files loading needs besides the weights, sorted
    folders: tuple[str, ...] = ()  # sub-folders holding more of the model (modules, components), sorted
    code: tuple[str, ...] = ()  # Python files that run when the model loads (also in files)
    metadata: Mapping[str, str] = field(default_factory=dict)  # library_name, base_model, pipeline_tag

    @property
    def library(self) -> Library | None:
        return self.libraries[0] if self.libraries else None


def read_layout(folder: Path, present: Collection[str] | None = None) -> ModelLayout:
    """The layout of the model in ``folder``, from the files in it (or only those in ``present``).

    ``present`` limits what is read to the files a release ships, so that the card states only what
    the released files say.
    """
    if present is None:
        present = frozenset(relative for relative, _ in collect_files(folder)) if folder.is_dir() else frozenset()
    reader = _Reader(folder, frozenset(present))
    reader.read()
    return reader.layout()


def with_layout(metadata: CardMetadata, folder: Path | None, released: Collection[str]) -> CardMetadata:
    """The card's metadata, with what the released model files state where the card states nothing.

    ``library_name``, ``base_model`` and ``pipeline_tag`` are filled only when the card does not set
    them; a model whose files run code on load (``trust_remote_code``) gets the Hub's ``custom_code``
    tag. ``folder`` is the model folder (None: the release has no model files).
    """
    if folder is None:
        return metadata
    layout = read_layout(folder, frozenset(released))
    merged = dict(metadata.data)
    for key, value in layout.metadata.items():
        merged.setdefault(key, value)
    tags = merged.get("tags", [])
    if layout.code and isinstance(tags, list) and "custom_code" not in tags:
        merged["tags"] = [*tags, "custom_code"]
    if merged == dict(metadata.data):
        return metadata
    return CardMetadata(merged, metadata.source, metadata.yaml_text)


def unreleased_files(
    folder: Path, include: Iterable[str], exclude: Iterable[str] = (), ignore: Collection[Path] = ()
) -> tuple[str, ...]:
    """The files in ``folder`` that ``include``/``exclude`` leave out, as sorted POSIX paths.

    Hidden files and folders (``.git``, ``.hub``, ``.gitattributes``) and ``__pycache__`` are not
    the model's, nor is anything at or under a path of ``ignore`` (the release's own configuration,
    locks and outputs, when the model folder is the project's).
    """
    if not folder.is_dir():
        return ()
    base = folder.resolve()
    ignored = tuple(p.resolve().relative_to(base).as_posix() for p in ignore if p.resolve().is_relative_to(base))
    kept = {relative for relative, _ in collect_files(folder, tuple(include), tuple(exclude))}
    return tuple(
        relative
        for relative, _ in collect_files(folder)
        if relative not in kept
        and not _is_hidden(relative)
        and not any(relative == i or relative.startswith(f"{i}/") for i in ignored)
    )


def unreleased_model_files(config: Config) -> tuple[str, ...]:
    """The files of the configured model folder that the release leaves out, beside the project's own
    files (the configuration, locks, card, outputs and datasets, when the model folder holds them)."""
    model = config.model
    if model is None:
        return ()
    lock, card = config.lock, config.card
    own = (
        config.path,
        config.root / "noxfile.py",
        config.build_dir,
        config.stage_dir,
        lock.requirements_in,
        lock.requirements_txt,
        lock.environment_yml,
        lock.conda_lock,
        lock.generated_environment_yml,
        lock.snapshot,
        card.template,
        card.output,
        card.metadata_file,
        card.eval_results,
        *(d.dir for d in config.datasets),
    )
    return unreleased_files(model.dir, model.include, model.exclude, [p for p in own if p is not None])


class _Reader:
    """One pass over a folder's layout files, collecting what each library needs."""

    def __init__(self, folder: Path, present: frozenset[str]) -> None:
        self.folder = folder
        self.present = present
        self.libraries: list[Library] = []
        self.files: set[str] = set()
        self.folders: set[str] = set()
        self.code: set[str] = set()
        self.metadata: dict[str, str] = {}

    def layout(self) -> ModelLayout:
        return ModelLayout(
            tuple(self.libraries),
            tuple(sorted(self.files | self.code)),
            tuple(sorted(self.folders)),
            tuple(sorted(self.code)),
            {key: value for key, value in sorted(self.metadata.items()) if _valid(key, value)},
        )

    def read(self) -> None:
        self._legal()
        self._peft()
        self._sentence_transformers()
        self._diffusers()
        self._open_clip()
        self._transformers("")
        self._onnx()
        self._gguf()

    def _load(self, relative: str) -> Any:
        """A released JSON file's document; None when it is not released or not JSON."""
        if relative not in self.present:
            return None
        try:
            return json.loads((self.folder / relative).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _json(self, relative: str) -> dict[str, Any] | None:
        document = self._load(relative)
        return document if isinstance(document, dict) else None

    def _found(self, library: Library, **metadata: str | None) -> None:
        if library not in self.libraries:
            self.libraries.append(library)
        for key, value in metadata.items():
            if value is not None:
                self.metadata.setdefault(key, value)

    def _add(self, prefix: str, names: Iterable[str]) -> None:
        self.files.update(p for p in (prefix + name for name in names) if p in self.present)

    def _legal(self) -> None:
        self.files.update(p for p in self.present if "/" not in p and _LEGAL.match(p))

    def _peft(self) -> None:
        config = self._json("adapter_config.json")
        if config is None or "peft_type" not in config:
            return
        self._add("", PEFT_FILES)
        base = config.get("base_model_name_or_path")
        task = _PEFT_TASKS.get(str(config.get("task_type")))
        self._found("peft", library_name="peft", base_model=base if isinstance(base, str) else None, pipeline_tag=task)

    def _sentence_transformers(self) -> None:
        modules = self._load("modules.json")
        if not isinstance(modules, list):
            return
        self._add("", SENTENCE_TRANSFORMERS_FILES)
        for module in (m for m in modules if isinstance(m, dict)):
            path = str(module.get("path", "")).strip("/")
            if path and not path.startswith(".") and ".." not in path.split("/"):
                self._whole_folder(path)
            kind = str(module.get("type", ""))
            if not kind.startswith("sentence_transformers."):  # a custom module: its code is in the repository
                self._code(kind.rsplit(".", 1)[0].replace(".", "/") + ".py")
        self._found("sentence-transformers", library_name="sentence-transformers", pipeline_tag="sentence-similarity")

    def _diffusers(self) -> None:
        index = self._json("model_index.json")
        if index is None or "_class_name" not in index:
            return
        self._add("", ("model_index.json",))
        components = [
            name
            for name, value in index.items()
            if not name.startswith("_") and isinstance(value, list) and len(value) == 2 and None not in value
        ]
        for name in components:
            self._whole_folder(name)
        self._found("diffusers", library_name="diffusers", pipeline_tag=_diffusers_task(index, components))

    def _open_clip(self) -> None:
        if "open_clip_config.json" not in self.present:
            return
        self._add("", OPEN_CLIP_FILES)
        self._found("open_clip", library_name="open_clip", pipeline_tag="zero-shot-image-classification")

    def _transformers(self, prefix: str) -> None:
        """config.json and the tokenizer and processor files (in a folder of the model, with ``prefix``)."""
        self._add(prefix, TRANSFORMERS_FILES)
        self.files.update(p for p in self.present if p.startswith(tuple(f"{prefix}{d}/" for d in TRANSFORMERS_FOLDERS)))
        config = self._json(f"{prefix}config.json")
        for name in ("config.json", "tokenizer_config.json", "preprocessor_config.json", "processor_config.json"):
            self._auto_map_code(prefix, self._json(prefix + name))
        if prefix or config is None:
            return
        if "architecture" in config and ("pretrained_cfg" in config or "num_classes" in config):
            self._found("timm", library_name="timm", pipeline_tag="image-classification")
        elif "architectures" in config or "auto_map" in config or "transformers_version" in config:
            self._found("transformers", library_name="transformers", pipeline_tag=_transformers_task(config))

    def _auto_map_code(self, prefix: str, config: Mapping[str, Any] | None) -> None:
        """The modules an ``auto_map`` names (``"modeling_x.XModel"``): code run with trust_remote_code."""
        auto_map = config.get("auto_map") if config else None
        if not isinstance(auto_map, dict):
            return
        for value in auto_map.values():
            for reference in value if isinstance(value, list) else [value]:
                if isinstance(reference, str) and "--" not in reference and "." in reference:
                    self._code(prefix + reference.rsplit(".", 1)[0].replace(".", "/") + ".py")

    def _code(self, relative: str) -> None:
        """A Python file of the model's, and every module of the folder it imports relatively."""
        if relative in self.code or relative not in self.present:
            return
        self.code.add(relative)
        try:
            text = (self.folder / relative).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return
        for module in _RELATIVE_IMPORT.findall(text):
            self._code(posixpath.join(posixpath.dirname(relative), f"{module}.py"))

    def _whole_folder(self, path: str) -> None:
        """A module or component folder: every file in it is the library's (the weights are chosen apart)."""
        self.folders.add(path)
        self.files.update(
            p for p in self.present if p.startswith(f"{path}/") and not _is_hidden(p) and weight_kind(p) is None
        )
        self._transformers(f"{path}/")

    def _onnx(self) -> None:
        graphs = sorted(p for p in self.present if p.endswith(".onnx"))
        for graph in graphs:
            base = posixpath.dirname(graph)
            for location in onnx_external_data(self.folder / graph):
                relative = posixpath.normpath(posixpath.join(base, location.replace("\\", "/")))
                if relative in self.present:
                    self.files.add(relative)
        if graphs:
            self._found("onnx")

    def _gguf(self) -> None:
        files = sorted(p for p in self.present if p.endswith(".gguf"))
        for name in files:
            url = read_gguf_strings(self.folder / name).get("general.base_model.0.repo_url")
            match = _HUB_URL.match(url or "")
            self._found("gguf", base_model=match.group(1) if match else None)


def weight_kind(name: str) -> WeightKind | None:
    """Whether a file holds weights, and in which format (by its name: the gate reads the bytes)."""
    lower = name.lower()
    if lower.endswith(SHARD_INDEX_SUFFIX):
        return "safetensors-index"
    if lower.endswith(".bin.index.json"):
        return "pickle-index"
    suffix = posixpath.splitext(lower)[1]
    if suffix == SAFETENSORS_SUFFIX:
        return "safetensors"
    if suffix in WEIGHT_PICKLE_SUFFIXES:
        return "pickle"
    if suffix in OTHER_WEIGHT_SUFFIXES:
        return "other"
    return None


def onnx_external_data(path: Path) -> list[str]:
    """The ``location`` of every external-data file an ONNX graph names, in order, without duplicates.

    Read by the safety gate's ONNX reader, which follows the protobuf messages that hold tensors
    and skips the rest; a file it cannot read names none (the gate reports it).
    """
    try:
        with path.open("rb") as handle:
            tensors = external_tensors(handle, os.fstat(handle.fileno()).st_size)
    except Exception:  # unreadable, or not ONNX: the gate's finding names it, the layout has no data files
        return []
    return list(dict.fromkeys(t.location for t in tensors if t.location))


def _transformers_task(config: Mapping[str, Any]) -> str | None:
    architectures = config.get("architectures")
    if not isinstance(architectures, list) or not architectures or not isinstance(architectures[0], str):
        return None
    return next((task for suffix, task in _ARCHITECTURE_TASKS if architectures[0].endswith(suffix)), None)


def _diffusers_task(index: Mapping[str, Any], components: list[str]) -> str | None:
    name = str(index.get("_class_name"))
    if name in _UNCONDITIONAL_PIPELINES:
        return "unconditional-image-generation"
    if any(word in name for word in ("Img2Img", "Inpaint", "InstructPix2Pix", "ImageToImage")):
        return "image-to-image"
    if "Video" in name:
        return "image-to-video" if "Image" in name or "Img" in name else "text-to-video"
    if "Audio" in name:
        return "text-to-audio"
    if name.endswith("Pipeline") and any(c.startswith("text_encoder") for c in components):
        return "text-to-image"
    return None


def _valid(key: str, value: str) -> bool:
    """Only values the Hub's card schema accepts are filled in: a Hub id, a task and a library it knows."""
    definitions = load_schema("modelcard.schema.json")["$defs"]
    if key == "base_model":
        return bool(_REPO_ID.match(value)) and "--" not in value and ".." not in value
    if key == "pipeline_tag":
        return value in definitions["pipelineTag"]["enum"]
    return key == "library_name" and value in definitions["knownLibraries"]["enum"]


def _is_hidden(path: str) -> bool:
    """Hidden (``.git``, ``.gitattributes``), or Python's byte-code cache: never a model's file."""
    return any(part.startswith(".") or part == "__pycache__" for part in path.split("/"))
