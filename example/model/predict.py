"""Classify flowers with the released tiny-flowers model (numpy + safetensors only).

python predict.py 5.1 3.5 1.4 0.2
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

HERE = Path(__file__).resolve().parent


def load(folder: Path = HERE) -> dict[str, np.ndarray]:
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    weights: dict[str, np.ndarray] = {}
    for shard in sorted(set(index["weight_map"].values())):
        weights.update(load_file(str(folder / shard)))
    return weights


def predict(weights: dict[str, np.ndarray], features: np.ndarray) -> np.ndarray:
    hidden = np.maximum(features @ weights["layer1.weight"].T + weights["layer1.bias"], 0.0)
    labels: np.ndarray = np.argmax(hidden @ weights["layer2.weight"].T + weights["layer2.bias"], axis=-1)
    return labels


if __name__ == "__main__":
    labels = json.loads((HERE / "config.json").read_text())["labels"]
    x = np.array([[float(v) for v in sys.argv[1:5]]], dtype=np.float32)
    print(labels[int(predict(load(), x)[0])])
