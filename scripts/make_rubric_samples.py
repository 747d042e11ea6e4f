"""Sample submissions for the course packs in ``rubrics/``: for each, one that passes and one that fails.

    python scripts/make_rubric_samples.py

Models are written by Keras 3 itself (``model.save('x.h5')``, the legacy H5 full-model
layout), seeded, untrained: the architecture checks look at layers, not accuracy.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from make_submissions import backprop_notebook, write_zip  # noqa: E402

RUBRICS = HERE.parent / "rubrics"  # each course pack's samples/


def save(layers, input_shape, path: Path, seed: int) -> bytes:
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input(input_shape), *layers])
    model.save(path)
    keras.backend.clear_session()
    return path.read_bytes()


def mlp(depth: int, act: str, units: int = 32, output_act: str = "softmax"):
    import keras

    L = keras.layers
    return [L.Flatten()] + [L.Dense(units, activation=act) for _ in range(depth)] + [L.Dense(10, activation=output_act)]


def svhn(pool: int = 3):
    import keras

    L = keras.layers
    return [L.Conv2D(9, 3, activation="relu"), L.MaxPooling2D(pool), L.Conv2D(36, 3, activation="relu"),
            L.MaxPooling2D(pool), L.Conv2D(49, 3, activation="relu", padding="same"),
            L.MaxPooling2D(pool, padding="same"), L.Flatten(), L.Dense(10, activation="softmax")]


def cifar(first: int = 128):
    import keras

    L = keras.layers
    return [L.Dense(first, activation="relu"), L.Dense(64, activation="relu"), L.Dense(10, activation="softmax")]


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    try:
        for folder in ("ml_assignment2", "aml_hw4"):
            (RUBRICS / folder / "samples").mkdir(parents=True, exist_ok=True)
        good, bad = [], []
        for depth in (5, 20, 40):
            for act in ("relu", "tanh", "sigmoid"):
                name = f"mlp_{depth}_{act}.h5"
                good.append((name, save(mlp(depth, act), (28, 28), tmp / name, depth)))
                if (depth, act) == (20, "tanh"):
                    bad.append((name, save(mlp(depth, act, units=31), (28, 28), tmp / ("b" + name), depth)))
                elif (depth, act) == (40, "sigmoid"):
                    bad.append((name, save(mlp(depth, "relu"), (28, 28), tmp / ("b" + name), depth)))
                elif (depth, act) != (5, "sigmoid"):  # left out of the bad submission
                    bad.append((name, good[-1][1]))
        good.append(("svhn_cnn.h5", save(svhn(3), (32, 32, 3), tmp / "svhn.h5", 7)))
        bad.append(("svhn_cnn.h5", save(svhn(2), (32, 32, 3), tmp / "bsvhn.h5", 7)))
        write_zip(RUBRICS / "ml_assignment2" / "samples" / "good.zip", good)
        write_zip(RUBRICS / "ml_assignment2" / "samples" / "bad.zip", bad)

        write_zip(RUBRICS / "aml_hw4" / "samples" / "good.zip", [("backprop.ipynb", backprop_notebook("correct")),
                                                  ("cifar_mlp.h5", save(cifar(), (3072,), tmp / "c.h5", 3))])
        write_zip(RUBRICS / "aml_hw4" / "samples" / "bad.zip", [("backprop.ipynb", backprop_notebook("buggy")),
                                                 ("cifar_mlp.h5", save(cifar(256), (3072,), tmp / "bc.h5", 3))])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for p in sorted(RUBRICS.glob("*/samples/*.zip")):
        print(p, p.stat().st_size)


if __name__ == "__main__":
    main()
