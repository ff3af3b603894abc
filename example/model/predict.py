"""Classify flowers with the released tiny-flowers model (numpy + safetensors only).

    python predict.py 5.1 3.5 1.4 0.2                        # one flower: prints its species
    python predict.py --evaluate test.csv --results out.json  # accuracy on a labelled CSV, as JSON

The second form is the release's verify command: `model-release reproduce --run` runs it in the
rebuilt environment on the released test split and compares the accuracy with the card's.
"""

from __future__ import annotations

import argparse
import csv
import json
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


def evaluate(weights: dict[str, np.ndarray], table: Path, labels: list[str]) -> float:
    """The accuracy on a CSV of the four measurements and a ``species`` column, in float64 like training."""
    with table.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    features = np.array([[float(v) for k, v in row.items() if k != "species"] for row in rows], dtype=np.float64)
    truth = np.array([labels.index(row["species"]) for row in rows])
    as64 = {name: tensor.astype(np.float64) for name, tensor in weights.items()}
    return float(np.mean(predict(as64, features) == truth))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("measurements", nargs="*", type=float, help="sepal length, sepal width, petal length, width")
    parser.add_argument("--evaluate", type=Path, metavar="CSV", help="a labelled CSV to measure the accuracy on")
    parser.add_argument("--results", type=Path, default=Path("results.json"), help="where --evaluate writes")
    args = parser.parse_args()
    labels = json.loads((HERE / "config.json").read_text())["labels"]
    if args.evaluate is None:
        x = np.array([args.measurements[:4]], dtype=np.float32)
        print(labels[int(predict(load(), x)[0])])
        return
    score = evaluate(load(), args.evaluate, labels)
    # Rounded to the 4 places the card states, so the published value is compared exactly.
    args.results.write_text(json.dumps({"accuracy": round(score, 4)}, indent=2) + "\n")
    print(f"accuracy {score:.4f} on {args.evaluate}")


if __name__ == "__main__":
    main()
