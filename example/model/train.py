"""Train the example model: a tiny two-layer classifier for the tiny-flowers dataset.

Deterministic by construction, so every run writes byte-identical files on any platform: the
first layer is a fixed projection with dyadic weights over standardised inputs, the second a
nearest-centroid read-out; all arithmetic is plain IEEE double (no libm, no BLAS), rounded once
to float32. Writes the weights as a sharded safetensors checkpoint with its
``model.safetensors.index.json``, and the test accuracy as evaluation results. It ships in the
release, so ``model-release reproduce --retrain`` can run it there and compare the weights it
writes with the published ones, bit for bit.

    python example/model/train.py           # in the project: example/data -> example/model, example/eval_results.json
    python train.py --data datasets/tiny-flowers --out .   # in a downloaded release (its verify.train.command)
    python example/model/train.py --single DIR   # the same weights as one model.safetensors in DIR
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent  # example/: its data/ and eval_results.json, when run in the project
HIDDEN = 16
LABELS = ("setosa", "versicolor", "virginica")
Matrix = list[list[float]]


def read_rows(path: Path) -> tuple[Matrix, list[int]]:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    features = [[float(v) for k, v in row.items() if k != "species"] for row in rows]
    return features, [LABELS.index(row["species"]) for row in rows]


def train(features: Matrix, labels: list[int]) -> dict[str, np.ndarray]:
    n, width = len(features), len(features[0])
    mean = [sum(row[j] for row in features) / n for j in range(width)]
    std = [math.sqrt(sum((row[j] - mean[j]) ** 2 for row in features) / n) for j in range(width)]
    projection = [[((7 * i + 13 * j) % 17 - 8) / 8 for j in range(width)] for i in range(HIDDEN)]
    offset = [((5 * i) % 9 - 4) / 4 for i in range(HIDDEN)]
    # Fold the standardisation into layer 1: W' = W / std, b' = b - W' . mean.
    w1 = [[projection[i][j] / std[j] for j in range(width)] for i in range(HIDDEN)]
    b1 = [offset[i] - sum(w1[i][j] * mean[j] for j in range(width)) for i in range(HIDDEN)]
    w1, b1 = _float32(w1), _float32([b1])[0]
    hidden = [_layer(row, w1, b1, relu=True) for row in features]
    centroids = []
    for k in range(len(LABELS)):
        members = [h for h, label in zip(hidden, labels, strict=True) if label == k]
        centroids.append([sum(h[i] for h in members) / len(members) for i in range(HIDDEN)])
    w2 = _float32(centroids)
    b2 = _float32([[-0.5 * sum(c * c for c in row) for row in w2]])[0]
    return {
        "layer1.weight": np.array(w1, dtype=np.float32),
        "layer1.bias": np.array(b1, dtype=np.float32),
        "layer2.weight": np.array(w2, dtype=np.float32),
        "layer2.bias": np.array(b2, dtype=np.float32),
    }


def accuracy(weights: dict[str, np.ndarray], features: Matrix, labels: list[int]) -> float:
    w1, b1 = weights["layer1.weight"].tolist(), weights["layer1.bias"].tolist()
    w2, b2 = weights["layer2.weight"].tolist(), weights["layer2.bias"].tolist()
    correct = 0
    for row, label in zip(features, labels, strict=True):
        logits = _layer(_layer(row, w1, b1, relu=True), w2, b2, relu=False)
        correct += logits.index(max(logits)) == label
    return correct / len(labels)


def save_sharded(weights: dict[str, np.ndarray], out: Path) -> None:
    shards = {
        "model-00001-of-00002.safetensors": ["layer1.weight", "layer1.bias"],
        "model-00002-of-00002.safetensors": ["layer2.weight", "layer2.bias"],
    }
    weight_map = {}
    for filename, names in shards.items():
        _save(out / filename, {name: weights[name] for name in names})
        weight_map.update(dict.fromkeys(names, filename))
    index = {
        "metadata": {"total_size": sum(int(w.nbytes) for w in weights.values())},
        "weight_map": dict(sorted(weight_map.items())),
    }
    _write(out / "model.safetensors.index.json", json.dumps(index, indent=2) + "\n")


def _save(path: Path, tensors: dict[str, np.ndarray]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata={"format": "np"})
    tmp.chmod(0o644)
    os.replace(tmp, path)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _layer(x: list[float], weight: Matrix, bias: list[float], *, relu: bool) -> list[float]:
    out = [sum(w * v for w, v in zip(row, x, strict=True)) + b for row, b in zip(weight, bias, strict=True)]
    return [max(0.0, v) for v in out] if relu else out


def _float32(matrix: Matrix) -> Matrix:
    rounded: Matrix = np.array(matrix, dtype=np.float32).astype(np.float64).tolist()
    return rounded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="the folder of train.csv and test.csv (default: example/data)")
    parser.add_argument("--out", type=Path, help="where the checkpoint goes (default: this folder)")
    parser.add_argument(
        "--eval-results", type=Path, help="the results file (default, in the project only: example/eval_results.json)"
    )
    parser.add_argument("--single", metavar="DIR", help="write one model.safetensors into DIR instead")
    args = parser.parse_args()
    in_project = args.data is None and args.out is None
    data = args.data or PROJECT / "data"
    weights = train(*read_rows(data / "train.csv"))
    if args.single:
        out = Path(args.single)
        out.mkdir(parents=True, exist_ok=True)
        _save(out / "model.safetensors", weights)
        print(f"wrote {out / 'model.safetensors'}")
        return
    out = args.out or HERE
    save_sharded(weights, out)
    score = accuracy(weights, *read_rows(data / "test.csv"))
    eval_results = args.eval_results or (PROJECT / "eval_results.json" if in_project else None)
    if eval_results is not None:
        _write(eval_results, json.dumps(evaluation(score), indent=2) + "\n")
    print(f"wrote the sharded checkpoint to {out}; test accuracy {score:.4f}")


def evaluation(score: float) -> dict[str, list[dict[str, object]]]:
    """The card's evaluation results: the test accuracy, rounded to the 4 places the card states."""
    return {
        "results": [
            {
                "task": {"type": "tabular-classification", "name": "Species classification"},
                "dataset": {"type": "tiny-flowers", "name": "tiny-flowers", "split": "test"},
                "metrics": [{"type": "accuracy", "value": round(score, 4), "name": "Test accuracy"}],
            }
        ]
    }


if __name__ == "__main__":
    main()
