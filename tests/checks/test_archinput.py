"""Architecture checks on models shaped the way ML Assignment 2 and HW4 students built them: the same
input reached by another shape, padding the handout leaves open, channels_first, and the image size a
weights file's Dense layer implies."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
import uuid
from pathlib import Path

import h5py
import numpy as np
import pytest
from helpers import grade_files
from kerasfiles import course_cnn_layers, write_keras2_model, write_keras2_weights
from modelfiles import h5_bytes

from grader.checks.archinput import implied_image
from reference.architectures import CATS_VS_DOGS_CNN, CATS_VS_DOGS_INPUT

Spec = list[tuple[str, dict]]


def _out(n: int, k: int, s: int, pad: str) -> int:
    return math.ceil(n / s) if pad == "same" else (n - k) // s + 1


def _walk(kind: str, c: dict, shape: tuple[int, ...]) -> tuple[tuple[int, ...], list[tuple[int, ...]]]:
    """Output shape and weight shapes of one layer, as Keras computes them (written apart from the grader's)."""
    first = c.get("data_format") == "channels_first"
    if kind == "Flatten":
        return (math.prod(shape),), []
    if kind == "Reshape":
        t = c["target_shape"]
        return tuple(math.prod(shape) // -math.prod(t) if d == -1 else d for d in t), []
    if kind == "Permute":
        return tuple(shape[d - 1] for d in c["dims"]), []
    if kind == "Dense":
        return (*shape[:-1], c["units"]), [(shape[-1], c["units"]), (c["units"],)]
    if kind in ("Conv2D", "MaxPooling2D"):
        k = c.get("kernel_size") or c["pool_size"]
        s = c.get("strides") or ([1, 1] if kind == "Conv2D" else k)
        ch, (h, w) = (shape[0], shape[1:]) if first else (shape[2], shape[:2])
        h, w = _out(h, k[0], s[0], c.get("padding", "valid")), _out(w, k[1], s[1], c.get("padding", "valid"))
        out_ch = c.get("filters", ch)
        weights = [(k[0], k[1], ch, out_ch), (out_ch,)] if kind == "Conv2D" else []
        return ((out_ch, h, w) if first else (h, w, out_ch)), weights
    return shape, []  # Dropout


def model_file(tmp_path, spec: Spec, input_shape: tuple[int, ...], seed: int = 0) -> bytes:
    """A tf.keras 2.x ``model.save`` file of a Sequential model (an InputLayer, then ``spec``)."""
    rng = np.random.default_rng(seed)
    shape, counts = tuple(input_shape), {}
    layers_cfg = [{"class_name": "InputLayer", "config": {"batch_input_shape": [None, *input_shape],
                                                          "dtype": "float32", "name": "input_1"}}]
    weights = []
    for kind, cfg in spec:
        base = kind.lower().replace("pooling2d", "_pooling2d")  # tf.keras names: max_pooling2d, conv2d_1
        counts[base] = counts.get(base, 0) + 1
        name = base if counts[base] == 1 else f"{base}_{counts[base] - 1}"
        shape, wshapes = _walk(kind, cfg, shape)
        assert all(d > 0 for d in shape), (kind, shape)
        layers_cfg.append({"class_name": kind, "config": {"name": name, **cfg}})
        arrays = [(f"{'kernel' if i == 0 else 'bias'}:0", (rng.standard_normal(ws) * 0.05).astype(np.float32))
                  for i, ws in enumerate(wshapes)]
        weights.append((name, arrays))
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": layers_cfg}}
    return h5_bytes(tmp_path, write_keras2_model, weights, config, keras_version="2.12.0", varlen=True,
                    name=f"{uuid.uuid4().hex}.h5")


def edited(tmp_path, data: bytes, layer: int, key: str, value) -> bytes:
    """``data`` with one key of one layer's config set to ``value`` (what a hand-edited file holds)."""
    p = tmp_path / f"{uuid.uuid4().hex}.h5"
    p.write_bytes(data)
    with h5py.File(p, "a") as f:
        cfg = json.loads(f.attrs["model_config"])
        cfg["config"]["layers"][layer]["config"][key] = value
        f.attrs["model_config"] = json.dumps(cfg)
    return p.read_bytes()


def mlp(depth: int, act: str, flatten: bool = True) -> Spec:
    hidden = [("Dense", {"units": 32, "activation": act}) for _ in range(depth)]
    return [*([("Flatten", {})] if flatten else []), *hidden, ("Dense", {"units": 10, "activation": "softmax"})]


PACK = Path(__file__).resolve().parents[2] / "rubrics" / "ml_assignment2"


def grade_pack(tmp_path, files: dict[str, bytes]):
    """Grade ``files`` with the ML Assignment 2 course pack as it is shipped."""
    return grade_files(tmp_path, files, (PACK / "rubric.yaml").read_text(), base_dir=PACK)


# --------------------------------------------------------------------------- Ex1B: the same MNIST input

@pytest.mark.parametrize(("shape", "prefix"), [
    ((28, 28, 1), [("Flatten", {})]),
    ((1, 28, 28), [("Flatten", {})]),
    ((784,), []),
    ((28, 28, 1), [("Reshape", {"target_shape": [784]})]),
    ((28, 28), [("Reshape", {"target_shape": [-1]})]),
])
def test_ex1b_mlps_on_any_form_of_the_mnist_image_get_full_marks(tmp_path, shape, prefix):
    files = {}
    for depth in (5, 20, 40):
        for act in ("relu", "tanh", "sigmoid"):
            files[f"mlp_{depth}_{act}.h5"] = model_file(tmp_path, prefix + mlp(depth, act, flatten=False), shape)
    q = grade_pack(tmp_path, files).question("ex1b")
    assert q.score == 36, q.reason


def test_ex1b_a_different_image_size_is_still_refused_and_says_what_would_do(tmp_path):
    files = {"mlp_5_relu.h5": model_file(tmp_path, mlp(5, "relu"), (32, 32, 1))}
    q = grade_pack(tmp_path, files).question("ex1b")
    assert q.checks[0].fraction == 0
    assert "mlp_5_relu.h5: input shape (32, 32, 1), expected (28, 28) (or another shape of the same 784 values: " \
           "(28, 28, 1), (1, 28, 28), (784,))" in q.reason, q.reason


def test_ex1b_wrong_activation_in_40_layers_is_said_once_with_the_students_names(tmp_path):
    files = {"mlp_40_sigmoid.h5": model_file(tmp_path, mlp(40, "relu"), (28, 28, 1))}
    q = grade_pack(tmp_path, files).question("ex1b")
    said = [c.reason for c in q.checks if "mlp_40_sigmoid" in c.reason][0]
    assert said == "mlp_40_sigmoid.h5: layers 2-41: expected Dense(32, sigmoid), found Dense(32, relu) " \
                   "(your dense to dense_39)", said


def test_same_input_is_off_unless_the_rubric_says(tmp_path):
    rubric = """
name: t
architectures: [rubrics/ml_assignment2/architectures.yaml]
questions:
  - id: a
    title: a
    points: 1
    checks:
      - {kind: architecture, file: m.h5, architecture: mnist_mlp_5_relu, same_input: false}
"""
    q = grade_files(tmp_path, {"m.h5": model_file(tmp_path, mlp(5, "relu"), (28, 28, 1))}, rubric).question("a")
    assert q.score == 0 and q.reason == "m.h5: input shape (28, 28, 1), expected (28, 28)", q.reason


@pytest.mark.parametrize("target", [[None], ["784"], [-1, -1], [0], list(range(50))])
def test_hostile_reshape_targets_are_not_the_same_input(tmp_path, target):
    files = {"mlp_5_relu.h5": model_file(tmp_path, [("Reshape", {"target_shape": [784]}),
                                                    *mlp(5, "relu", flatten=False)], (28, 28, 1))}
    # the file's config is edited after the weights are written: the grader sees a target it cannot use
    q = grade_pack(tmp_path, {"mlp_5_relu.h5": edited(tmp_path, files["mlp_5_relu.h5"], 1, "target_shape", target)}
                   ).question("ex1b")
    assert q.checks[0].fraction == 0 and q.checks[0].status.value == "failed", q.checks[0].reason
    assert q.checks[0].reason.startswith("mlp_5_relu.h5: the input (28, 28, 1) holds the 784 values expected, but "
                                         "reaches your reshape as (28, 28, 1), expected (784,)")


# --------------------------------------------------------------------------- Ex2: the handout's SVHN topology

def svhn(conv_pad=("valid", "valid", "valid"), pool_pad=("valid", "valid", "valid"), pool=3, fmt=None,
         act="relu") -> Spec:
    extra = {"data_format": fmt} if fmt else {}
    out: Spec = []
    for filters, cp, pp in zip((9, 36, 49), conv_pad, pool_pad, strict=True):
        out.append(("Conv2D", {"filters": filters, "kernel_size": [3, 3], "activation": act, "padding": cp,
                               **extra}))
        out.append(("MaxPooling2D", {"pool_size": [pool, pool], "padding": pp, **extra}))
    return [*out, ("Flatten", {}), ("Dense", {"units": 10, "activation": "softmax"})]


@pytest.mark.parametrize(("conv_pad", "pool_pad"), [
    (("same", "same", "same"), ("valid", "valid", "valid")),    # the file: no padding on the third pool
    (("valid", "valid", "same"), ("valid", "valid", "same")),   # what the old rubric demanded
    (("same", "same", "same"), ("same", "same", "same")),
    (("valid", "valid", "same"), ("valid", "same", "same")),
])
def test_ex2_any_padding_the_handout_allows_gets_full_marks(tmp_path, conv_pad, pool_pad):
    files = {"svhn_cnn.h5": model_file(tmp_path, svhn(conv_pad, pool_pad), (32, 32, 3))}
    q = grade_pack(tmp_path, files).question("ex2")
    assert q.score == 20, q.reason


@pytest.mark.parametrize("strides", [[0, 0], [10**9, 1], [-1, -1], ["a", 1]])
def test_ex2_hostile_strides_are_a_difference_not_a_crash(tmp_path, strides):
    data = model_file(tmp_path, svhn(("same",) * 3), (32, 32, 3))
    q = grade_pack(tmp_path, {"svhn_cnn.h5": edited(tmp_path, data, 2, "strides", strides)}).question("ex2")
    assert q.score == 0 and q.checks[0].status.value == "failed", q.reason
    assert "layer 2: expected MaxPooling2D(3x3), found MaxPooling2D(3x3, stride " in q.reason, q.reason


def test_ex2_conv_activation_is_not_a_rule_the_handout_states(tmp_path):
    files = {"svhn_cnn.h5": model_file(tmp_path, svhn(("same",) * 3, act="tanh"), (32, 32, 3))}
    assert grade_pack(tmp_path, files).question("ex2").score == 20


def test_ex2_what_the_handout_does_state_still_decides(tmp_path):
    files = {"svhn_cnn.h5": model_file(tmp_path, svhn(("same",) * 3, pool=2), (32, 32, 3))}
    q = grade_pack(tmp_path, files).question("ex2")
    assert q.score == 0
    assert "layer 2: expected MaxPooling2D(3x3), found MaxPooling2D(2x2) (your max_pooling2d)" in q.reason, q.reason


def test_ex2_channels_first_on_channels_last_images_is_named(tmp_path):
    files = {"svhn_cnn.h5": model_file(tmp_path, svhn(("same",) * 3, ("same",) * 3, fmt="channels_first"),
                                       (32, 32, 3))}
    q = grade_pack(tmp_path, files).question("ex2")
    assert q.score == 0
    assert q.reason.startswith("svhn_cnn.h5: conv2d, max_pooling2d, conv2d_1 ... use data_format='channels_first', "
                               "which reads the input (32, 32, 3) as 32 channels of 32x3 images"), q.reason
    assert "it reads 32-channel images, the assignment's have 3 channels" in q.reason


def test_ex2_channels_first_on_channels_first_images_is_the_same_model(tmp_path):
    files = {"svhn_cnn.h5": model_file(tmp_path, svhn(("same",) * 3, fmt="channels_first"), (3, 32, 32))}
    q = grade_pack(tmp_path, files).question("ex2")
    assert q.score == 20, q.reason


def test_ex2_channels_first_in_some_layers_only_is_named(tmp_path):
    spec = svhn(("same",) * 3, ("same",) * 3)
    spec[0] = ("Conv2D", {**spec[0][1], "data_format": "channels_first"})
    files = {"svhn_cnn.h5": model_file(tmp_path, spec, (3, 32, 32))}
    q = grade_pack(tmp_path, files).question("ex2")
    assert q.score == 0
    assert q.reason.startswith("svhn_cnn.h5: conv2d read data_format='channels_first' but max_pooling2d, conv2d_1, "
                               "max_pooling2d_1 ... read channels last: use one data_format in every layer"), q.reason


# --------------------------------------------------------------------------- HW4 q1a: the image size the weights imply

CNN_RUBRIC = """
name: t
architectures: [rubrics/hw4/architectures.yaml]
questions:
  - id: q1a
    title: weights
    points: 0.5
    checks:
      - {kind: keras_weights, file: weights.h5, architecture: cats_vs_dogs_cnn}
"""


def cnn_weights(tmp_path, side: int, channels: int = 3) -> bytes:
    """The course CNN's weights as ``save_weights`` writes them after training on side x side images."""
    flat = side
    for _ in range(3):
        flat = (flat - 2) // 2
    rng = np.random.default_rng(1)
    layers = []
    for name, weights in course_cnn_layers(rng):
        fixed = []
        for wn, a in weights:
            if a.shape == (18496, 64):
                a = np.zeros((flat * flat * 64, 64), np.float32)
            elif a.shape == (3, 3, 3, 32):
                a = np.zeros((3, 3, channels, 32), np.float32)
            fixed.append((wn, a))
        layers.append((name, fixed))
    return h5_bytes(tmp_path, write_keras2_weights, layers)


@pytest.mark.parametrize(("side", "said"), [(100, "100x100 images give (as do sides from 94 to 101)"),
                                            (64, "64x64 images give (as do sides from 62 to 69)")])
def test_q1a_names_the_image_size_the_dense_layer_was_built_for(tmp_path, side, said):
    q = grade_files(tmp_path, {"weights.h5": cnn_weights(tmp_path, side)}, CNN_RUBRIC).question("q1a")
    assert q.score == 0
    assert f"are what {said} after the layers before it, not 150x150 (which give 18,496): build and train the " \
           "model on 150x150 images" in q.reason, q.reason


def test_q1a_names_grayscale_training(tmp_path):
    q = grade_files(tmp_path, {"weights.h5": cnn_weights(tmp_path, 150, channels=1)}, CNN_RUBRIC).question("q1a")
    assert q.score == 0
    assert "it reads 1-channel images, the assignment's have 3 channels" in q.reason, q.reason


# --------------------------------------------------------------------------- the same, on files real Keras wrote

KERAS_SCRIPT = """
import os, sys
os.environ["KERAS_BACKEND"] = "jax"
import keras
from keras import layers as L
out = sys.argv[1]
def seq(shape, layers):
    return keras.Sequential([keras.Input(shape), *layers])
seq((28, 28, 1), [L.Flatten(), *[L.Dense(32, activation="relu") for _ in range(5)],
                  L.Dense(10, activation="softmax")]).save(out + "/mlp_5_relu.h5")
def svhn(pool="valid", **kw):
    return [L.Conv2D(9, 3, activation="relu", padding="same", **kw), L.MaxPooling2D(3, padding=pool, **kw),
            L.Conv2D(36, 3, activation="relu", padding="same", **kw), L.MaxPooling2D(3, padding=pool, **kw),
            L.Conv2D(49, 3, activation="relu", padding="same", **kw), L.MaxPooling2D(3, padding="same", **kw),
            L.Flatten(), L.Dense(10, activation="softmax")]
seq((32, 32, 3), svhn()).save(out + "/svhn_cnn.h5")
seq((32, 32, 3), svhn("same", data_format="channels_first")).save(out + "/svhn_cf.h5")
cnn = [L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2),
       L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2), L.Flatten(), L.Dense(64, activation="relu"),
       L.Dropout(0.5), L.Dense(1, activation="sigmoid")]
seq((100, 100, 3), cnn).save_weights(out + "/cats.weights.h5")
"""


@pytest.mark.slow
def test_files_real_keras_wrote(tmp_path):
    subprocess.run([sys.executable, "-c", KERAS_SCRIPT, str(tmp_path)], check=True, capture_output=True, timeout=600,
                   env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KERAS_HOME": str(tmp_path)})
    r = grade_pack(tmp_path / "a", {"mlp_5_relu.h5": (tmp_path / "mlp_5_relu.h5").read_bytes(),
                                    "svhn_cnn.h5": (tmp_path / "svhn_cnn.h5").read_bytes()})
    assert r.question("ex1b").checks[0].fraction == 1, r.question("ex1b").reason
    assert r.question("ex2").score == 20, r.question("ex2").reason
    q = grade_pack(tmp_path / "b", {"svhn_cnn.h5": (tmp_path / "svhn_cf.h5").read_bytes()}).question("ex2")
    assert q.score == 0 and "use data_format='channels_first', which reads the input (32, 32, 3)" in q.reason
    q = grade_files(tmp_path / "c", {"weights.h5": (tmp_path / "cats.weights.h5").read_bytes()},
                    CNN_RUBRIC).question("q1a")
    assert "are what 100x100 images give" in q.reason, q.reason


def test_ex2_model_under_another_name_is_offered_whatever_its_padding(tmp_path):
    files = {"exercise2_a.h5": model_file(tmp_path, svhn(("same",) * 3), (32, 32, 3))}
    q = grade_pack(tmp_path, files).question("ex2")
    assert q.score == 0
    assert "'exercise2_a.h5' holds weights of exactly this architecture (4 layers with weights)" in q.reason, q.reason


def test_implied_image_is_quick_and_silent_on_sizes_no_image_gives():
    start = time.monotonic()
    assert implied_image(CATS_VS_DOGS_CNN, list(CATS_VS_DOGS_INPUT), 8, 2**62) is None
    assert implied_image(CATS_VS_DOGS_CNN, list(CATS_VS_DOGS_INPUT), 8, 18496 + 1) is None
    assert implied_image(CATS_VS_DOGS_CNN, list(CATS_VS_DOGS_INPUT), 8, 18496).startswith("150x150 images give")
    assert implied_image(CATS_VS_DOGS_CNN, list(CATS_VS_DOGS_INPUT), 8, 64 * 17 * 10) == "100x150 (or 150x100) images give"
    assert time.monotonic() - start < 5
