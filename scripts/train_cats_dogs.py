"""Train the course's cats-vs-dogs CNN on seeded synthetic pictures, for the sample submissions.

    python scripts/train_cats_dogs.py     # writes scripts/data/cats_dogs_cnn.npz (about a minute on 2 cores)

The pictures come from ``synth.draw_animal``: cats have pointy ears, dogs floppy
ones, so the trained weights classify ``what1``/``what2`` right and the trick
pictures (a floppy-eared cat, a pointy-eared dog) wrong, as HW4 Q2/Q3 want.
Images are resized to 150x150 with nearest-neighbour and scaled by 1/255,
exactly as the grader (and the course's classify.ipynb) does.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from synth import draw_animal  # noqa: E402

OUT = HERE / "data" / "cats_dogs_cnn.npz"


def as_input(im: Image.Image) -> np.ndarray:
    """JPEG round trip, then what the grader does: nearest resize to 150x150, /255."""
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    im = Image.open(io.BytesIO(buf.getvalue())).convert("RGB").resize((150, 150), Image.NEAREST)
    return np.asarray(im, dtype=np.float32) / 255.0


def dataset(n: int, seed: int):
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for i in range(n):
        kind = "cat" if i % 2 == 0 else "dog"
        size = int(rng.integers(150, 260))
        xs.append(as_input(draw_animal(kind, seed * 100_000 + i, size=size)))
        ys.append(0.0 if kind == "cat" else 1.0)
    return np.stack(xs), np.array(ys, dtype=np.float32)


def train(seed: int = 2026, n: int = 600, epochs: int = 8):
    import keras

    from reference.architectures import CATS_VS_DOGS_CNN, CATS_VS_DOGS_INPUT

    keras.utils.set_random_seed(seed)
    L = keras.layers
    layers = []
    for spec in CATS_VS_DOGS_CNN:
        kw = {k: v for k, v in spec.items() if k != "kind"}
        if spec["kind"] == "Conv2D":
            layers.append(L.Conv2D(kw["filters"], tuple(kw["kernel_size"]), activation=kw["activation"]))
        elif spec["kind"] == "MaxPooling2D":
            layers.append(L.MaxPooling2D(tuple(kw["pool_size"])))
        elif spec["kind"] == "Flatten":
            layers.append(L.Flatten())
        elif spec["kind"] == "Dense":
            layers.append(L.Dense(kw["units"], activation=kw["activation"]))
        elif spec["kind"] == "Dropout":
            layers.append(L.Dropout(kw["rate"]))
    model = keras.Sequential([keras.Input(CATS_VS_DOGS_INPUT), *layers])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", metrics=["accuracy"])
    x, y = dataset(n, seed)
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=2, shuffle=True)
    vx, vy = dataset(200, seed + 1)
    acc = float(np.mean((model.predict(vx, verbose=0).ravel() > 0.5) == vy))
    print(f"held-out accuracy on synthetic pictures: {acc:.3f}")
    return model, acc


def main() -> None:
    model, acc = train()
    weights = [w.astype(np.float32) for w in model.get_weights()]
    OUT.parent.mkdir(exist_ok=True)
    np.savez_compressed(OUT, *weights, accuracy=np.float32(acc))
    print(f"wrote {OUT} ({OUT.stat().st_size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
