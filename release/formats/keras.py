"""Keras models whose loading runs Python code stored in the file: Lambda layers.

A ``Lambda`` layer stores its function as marshalled Python bytecode (``function`` of its
config: ``{"class_name": "__lambda__", "config": {"code": ...}}`` in Keras 3, a list whose first
item is the code in Keras 2's ``.h5``). Loading the model rebuilds and runs it: Keras 3 refuses
to unless ``safe_mode=False``, Keras 2 and ``.h5`` files run it without asking. The same holds
for a Python lambda given as any other argument (an ``activation``, say). The check reports each
one, naming the layer (inside nested models as ``outer/inner/layer``).

Where the configuration lives:

- ``.keras`` (Keras 3): a zip holding ``config.json``, ``metadata.json`` and
  ``model.weights.h5``; ``config.json`` is the model's ``serialize_keras_object`` JSON.
- ``.h5`` (legacy, HDF5): the root group's ``model_config`` attribute holds the JSON. HDF5 is
  read with h5py when it is installed; without it, an HDF5 file whose first 64 KiB name a
  ``model_config`` attribute is reported as not inspected (a warning), other HDF5 files pass.
  A weights-only ``.h5`` (no ``model_config``) holds no code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from picklescan.relaxed_zipfile import RelaxedZipFile

from release.checkpoint import unreadable
from release.errors import Finding

_LAMBDA = "MR801 keras-lambda"
_CONFIG = "MR802 keras-config"
_UNINSPECTED = "MR803 keras-uninspected"
_MAX_CONFIG = 100 << 20  # bytes of config.json read at most
_HDF5_PROBE = 64 << 10
_LAMBDA_FIX = (
    "Replace the Lambda with a layer subclass registered with @keras.saving.register_keras_serializable "
    "(its code then ships as source, not bytecode in the file), or, if this exact file must ship, allow "
    "it in the gate configuration's allow_pickles with the reason."
)

__all__ = ["check_keras_h5", "check_keras_zip", "lambda_layers"]


def check_keras_zip(release_path: str, path: Path, allowed_reason: str | None = None) -> list[Finding]:
    """Findings for a ``.keras`` zip: its Lambda layers, or a config.json that cannot be read."""
    try:
        with RelaxedZipFile(path, "r") as archive:
            if "config.json" not in archive.namelist():
                return [_config_error(release_path, "holds no config.json")]
            with archive.open("config.json") as member:
                raw = member.read(_MAX_CONFIG + 1)
    except OSError as exc:
        return [unreadable(release_path, exc)]
    except Exception as exc:  # a zip Keras cannot open either
        return [_config_error(release_path, f"is not a zip Keras can open ({type(exc).__name__}: {exc})")]
    if len(raw) > _MAX_CONFIG:
        return [_config_error(release_path, f"has a config.json above {_MAX_CONFIG:,} bytes")]
    return _check_config(release_path, raw, "config.json", allowed_reason)


def check_keras_h5(release_path: str, path: Path, allowed_reason: str | None = None) -> list[Finding]:
    """Findings for an HDF5 file: the Lambda layers of the Keras model in its ``model_config``, if any."""
    try:
        import h5py
    except ImportError:
        if not _names_model_config(path):
            return []  # HDF5 data, not a Keras model: nothing to warn about
        message = "is an HDF5 file (a Keras .h5 model?) and h5py is not installed to look inside it for code"
        fix = "Install h5py where the gate runs (pip install h5py) so that Lambda layers can be found."
        return [Finding(_UNINSPECTED, "warning", release_path, None, message, fix)]
    try:
        with h5py.File(path, "r") as handle:
            config = handle.attrs.get("model_config")
    except OSError as exc:
        return [_config_error(release_path, f"is not an HDF5 file h5py can read ({exc})")]
    if config is None:
        return []  # weights only, or not Keras at all: no code
    raw = config if isinstance(config, bytes) else str(config).encode("utf-8")
    return _check_config(release_path, raw, "model_config", allowed_reason)


def _names_model_config(path: Path) -> bool:
    """Whether the file's first 64 KiB name a ``model_config`` attribute (the root group's attribute
    names are in its object header, which h5py writes right after the superblock)."""
    try:
        with path.open("rb") as handle:
            return b"model_config" in handle.read(_HDF5_PROBE)
    except OSError:
        return True


def lambda_layers(config: Any) -> list[tuple[str, str]]:
    """(layer path, what) for each Lambda layer and Python lambda in a model configuration."""
    return sorted(set(_lambdas(config, ())))


def _check_config(release_path: str, raw: bytes, source: str, allowed_reason: str | None) -> list[Finding]:
    try:
        config = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        return [_config_error(release_path, f"has a {source} that is not JSON ({type(exc).__name__})")]
    findings = []
    for layer, what in lambda_layers(config):
        message = f"{what}: loading the model runs Python bytecode stored in the file"
        if allowed_reason is None:
            findings.append(Finding(_LAMBDA, "error", release_path, layer, message, _LAMBDA_FIX))
        else:
            message += f"; allowed by the configuration: {allowed_reason}"
            fix = "Replace the Lambda layer and remove the allowance once nothing loads this file."
            findings.append(Finding(_LAMBDA, "warning", release_path, layer, message, fix))
    return findings


def _lambdas(node: Any, names: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    if isinstance(node, list):
        for item in node:
            yield from _lambdas(item, names)
        return
    if not isinstance(node, dict):
        return
    class_name = node.get("class_name")
    config = node.get("config")
    name = config.get("name") if isinstance(config, dict) else None
    here = (*names, name) if isinstance(name, str) and isinstance(class_name, str) else names
    if class_name == "Lambda":
        yield "/".join(here) or "(unnamed layer)", "a Lambda layer"
        return
    if class_name == "__lambda__" or node.get("function_type") == "lambda":
        yield "/".join(here) or "(model)", "a Python lambda"
        return
    for value in node.values():
        yield from _lambdas(value, here)


def _config_error(release_path: str, message: str) -> Finding:
    fix = "Save the model again with model.save('NAME.keras') and release that file."
    return Finding(_CONFIG, "error", release_path, None, message, fix)
