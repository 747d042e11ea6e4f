"""Train the sample digit classifiers (ML Assignment 2, Ex3) on the *public* MNIST sample only.

    python scripts/train_digits.py      # writes scripts/data/digits_*.h5 (seconds)

The grader scores on the 4,000 hidden MNIST digits and never on these 1,000,
so the samples' accuracies are honest. Three input layouts students use:
(28, 28, 1) CNN, (784,) MLP, (28, 28) MLP; different sizes give different accuracies.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


from grader.checks.digitsdata import mnist_public  # noqa: E402

OUT = HERE / "data"


def main() -> None:
    import keras

    L = keras.layers
    data = mnist_public()
    x = data.images / 255.0
    y = keras.utils.to_categorical(data.labels, 10)
    models = {
        "cnn": ((28, 28, 1), [L.Conv2D(16, 3, activation="relu"), L.MaxPooling2D(2), L.Conv2D(32, 3, activation="relu"),
                              L.MaxPooling2D(2), L.Flatten(), L.Dense(64, activation="relu"), L.Dropout(0.3),
                              L.Dense(10, activation="softmax")], 12),
        "mlp784": ((784,), [L.Dense(32, activation="sigmoid"), L.Dense(10, activation="softmax")], 6),
        "mlp2d": ((28, 28), [L.Flatten(), L.Dense(128, activation="relu"), L.Dense(10, activation="softmax")], 15),
    }
    for name, (shape, layers, epochs) in models.items():
        keras.utils.set_random_seed(7)
        model = keras.Sequential([keras.Input(shape), *layers])
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
        model.fit(x.reshape((-1, *shape)), y, epochs=epochs, batch_size=32, verbose=0)
        path = OUT / f"digits_{name}.h5"
        model.save(path)
        print(path, path.stat().st_size)
        keras.backend.clear_session()


if __name__ == "__main__":
    main()
