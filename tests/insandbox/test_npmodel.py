"""The numpy inference engine (``npmodel``) against Keras on JAX: every layer it supports and every activation
on random weights and inputs, the model files students hand in through the model server's ``predict``, the
course CNN through ``classify``, refusals, and a whole self-check, each with both engines.

Keras runs in a subprocess (the test process never imports it, as the grader never does)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from engines import REALMODELS, Server, compare, default_sources, digits, model_file

from grader.insandbox import npmodel
from grader.insandbox.kbuild import BuildProblem, set_graph_weights
from grader.insandbox.kgraph import SAFE_ACTIVATIONS

TOLERANCE = 1e-4  # of the output's largest magnitude


def L(cls: str, **config) -> dict:
    return {"class_name": cls, "config": config}


ACTIVATIONS = sorted(a for a in SAFE_ACTIVATIONS if a)

# name -> (layers, input shape): Sequential layer lists, built as a rubric's architecture is
SEQ: dict[str, tuple[list[dict], list[int]]] = {
    **{f"dense_{a}": ([L("Dense", units=12, activation=a)], [7]) for a in ACTIVATIONS},
    **{f"activation_{a}": ([L("Activation", activation=a)], [5, 7]) for a in ACTIVATIONS},
    "dense_3d_no_bias": ([L("Dense", units=6, use_bias=False)], [4, 5]),
    "conv2d_valid": ([L("Conv2D", filters=4, kernel_size=[3, 3], activation="relu")], [9, 9, 3]),
    "conv2d_same_strides": ([L("Conv2D", filters=5, kernel_size=3, strides=2, padding="same")], [9, 10, 3]),
    "conv2d_valid_strides": ([L("Conv2D", filters=3, kernel_size=[4, 3], strides=[2, 3])], [11, 10, 2]),
    "conv2d_dilation_same": ([L("Conv2D", filters=4, kernel_size=3, dilation_rate=2, padding="same")], [9, 9, 2]),
    "conv2d_dilation_valid": ([L("Conv2D", filters=4, kernel_size=[2, 3], dilation_rate=[2, 1])], [9, 8, 2]),
    "conv2d_groups": ([L("Conv2D", filters=6, kernel_size=3, groups=2, activation="relu")], [8, 8, 4]),
    "conv2d_no_bias": ([L("Conv2D", filters=4, kernel_size=1, use_bias=False, activation="tanh")], [6, 6, 5]),
    "conv2d_channels_first": ([L("Conv2D", filters=4, kernel_size=3, strides=2, padding="same",
                                 data_format="channels_first")], [3, 9, 9]),
    "conv2d_cf_flatten_dense": ([L("Conv2D", filters=4, kernel_size=3, data_format="channels_first"),
                                 L("Flatten", data_format="channels_first"), L("Dense", units=5)], [2, 7, 6]),
    "conv1d_valid": ([L("Conv1D", filters=4, kernel_size=3)], [12, 3]),
    "conv1d_same_strides": ([L("Conv1D", filters=4, kernel_size=[4], strides=[3], padding="same")], [13, 3]),
    "conv1d_causal_dilation": ([L("Conv1D", filters=4, kernel_size=3, dilation_rate=2, padding="causal")], [12, 2]),
    "conv1d_channels_first": ([L("Conv1D", filters=4, kernel_size=3, data_format="channels_first")], [3, 12]),
    "depthwise_same_strides": ([L("DepthwiseConv2D", kernel_size=3, depth_multiplier=2, strides=2,
                                  padding="same")], [9, 9, 3]),
    "depthwise_dilation": ([L("DepthwiseConv2D", kernel_size=[3, 2], dilation_rate=2, activation="relu")],
                           [9, 9, 3]),
    "depthwise_channels_first": ([L("DepthwiseConv2D", kernel_size=3, data_format="channels_first")], [3, 7, 7]),
    "separable_same": ([L("SeparableConv2D", filters=5, kernel_size=3, depth_multiplier=2, padding="same")],
                       [8, 8, 3]),
    "separable_strides": ([L("SeparableConv2D", filters=4, kernel_size=[3, 3], strides=2, use_bias=False)],
                          [9, 9, 2]),
    "separable_dilation": ([L("SeparableConv2D", filters=3, kernel_size=2, dilation_rate=[1, 2], padding="same")],
                           [7, 8, 2]),
    "separable_channels_first": ([L("SeparableConv2D", filters=4, kernel_size=3, data_format="channels_first")],
                                 [2, 7, 7]),
    "maxpool2d_default": ([L("MaxPooling2D")], [9, 9, 3]),
    "maxpool2d_same_strides": ([L("MaxPooling2D", pool_size=3, strides=2, padding="same")], [9, 10, 3]),
    "maxpool2d_channels_first": ([L("MaxPool2D", pool_size=[2, 3], data_format="channels_first")], [3, 8, 9]),
    "avgpool2d_same": ([L("AveragePooling2D", pool_size=3, strides=2, padding="same")], [9, 10, 2]),
    "avgpool2d_valid": ([L("AveragePooling2D", pool_size=[2, 3], strides=[1, 2])], [7, 9, 2]),
    "avgpool2d_channels_first": ([L("AvgPool2D", pool_size=2, padding="same", data_format="channels_first")],
                                 [2, 7, 7]),
    "maxpool1d_same": ([L("MaxPooling1D", pool_size=3, strides=2, padding="same")], [11, 3]),
    "avgpool1d_same": ([L("AveragePooling1D", pool_size=[3], strides=[2], padding="same")], [11, 3]),
    "avgpool1d_valid": ([L("AvgPool1D", pool_size=2)], [11, 3]),
    "maxpool1d_channels_first": ([L("MaxPool1D", pool_size=2, data_format="channels_first")], [3, 11]),
    "global_avg2d": ([L("GlobalAveragePooling2D")], [5, 6, 3]),
    "global_max2d_keepdims": ([L("GlobalMaxPooling2D", keepdims=True)], [5, 6, 3]),
    "global_avg2d_channels_first": ([L("GlobalAveragePooling2D", data_format="channels_first")], [3, 5, 6]),
    "global_avg1d": ([L("GlobalAveragePooling1D")], [7, 3]),
    "global_max1d_cf_keepdims": ([L("GlobalMaxPooling1D", data_format="channels_first", keepdims=True)], [3, 7]),
    "flatten_reshape_permute": ([L("Flatten"), L("Reshape", target_shape=[6, -1]), L("Permute", dims=[2, 1])],
                                [4, 3, 2]),
    "repeat_vector": ([L("RepeatVector", n=3)], [5]),
    "zeropad_int": ([L("ZeroPadding2D", padding=2)], [4, 5, 2]),
    "zeropad_pair": ([L("ZeroPadding2D", padding=[1, 2])], [4, 5, 2]),
    "zeropad_pairs_cf": ([L("ZeroPadding2D", padding=[[1, 0], [2, 3]], data_format="channels_first")], [2, 4, 5]),
    "cropping": ([L("Cropping2D", cropping=[[1, 0], [2, 1]])], [6, 7, 2]),
    "cropping_cf": ([L("Cropping2D", cropping=1, data_format="channels_first")], [2, 6, 7]),
    "upsampling": ([L("UpSampling2D", size=[2, 3])], [3, 4, 2]),
    "upsampling_cf": ([L("UpSampling2D", size=2, data_format="channels_first")], [2, 3, 4]),
    "inference_identities": ([L("Dropout", rate=0.5), L("GaussianNoise", stddev=1.0), L("GaussianDropout", rate=0.3),
                              L("AlphaDropout", rate=0.3), L("SpatialDropout2D", rate=0.5), L("RandomFlip"),
                              L("RandomRotation", factor=0.3), L("RandomZoom", height_factor=0.2),
                              L("RandomTranslation", height_factor=0.1, width_factor=0.1),
                              L("RandomContrast", factor=0.5), L("Conv2D", filters=2, kernel_size=1)], [5, 5, 3]),
    "relu6": ([L("ReLU", max_value=6.0)], [20]),
    "relu_max_slope": ([L("ReLU", max_value=2.5, negative_slope=0.1)], [20]),
    "relu_threshold_slope": ([L("ReLU", threshold=0.5, negative_slope=0.2)], [20]),
    "relu_threshold_max": ([L("ReLU", threshold=0.5, max_value=3.0)], [20]),
    "relu_leaky_only": ([L("ReLU", negative_slope=0.3)], [20]),
    "thresholded_relu": ([L("ThresholdedReLU", theta=0.7)], [20]),
    "leaky_relu_keras2_alpha": ([L("LeakyReLU", alpha=0.1)], [20]),
    "leaky_relu_keras3": ([L("LeakyReLU", negative_slope=0.05)], [20]),
    "leaky_relu_default": ([L("LeakyReLU")], [20]),
    "prelu": ([L("PReLU")], [4, 5]),
    "prelu_shared": ([L("PReLU", shared_axes=[1, 2])], [5, 5, 3]),
    "elu": ([L("ELU", alpha=0.5)], [20]),
    "softmax_axis1": ([L("Softmax", axis=1)], [4, 5]),
    "softmax_last": ([L("Softmax")], [4, 5]),
    "batchnorm": ([L("BatchNormalization")], [6, 6, 3]),
    "batchnorm_axis1_eps": ([L("BatchNormalization", axis=1, epsilon=0.01)], [3, 6, 6]),
    "batchnorm_keras2_axis_list": ([L("BatchNormalization", axis=[3], center=False)], [4, 4, 3]),
    "batchnorm_no_scale": ([L("BatchNormalization", scale=False)], [5]),
    "layernorm": ([L("LayerNormalization")], [4, 6]),
    "layernorm_axis1_plain": ([L("LayerNormalization", axis=1, center=False, scale=False, epsilon=1e-5)], [4, 6]),
    "rescaling": ([L("Rescaling", scale=1 / 127.5, offset=-1.0), L("Dense", units=3)], [8]),
    "normalization_config_scalar": ([L("Normalization", mean=3.0, variance=2.0)], [5]),
    "normalization_config_channels": ([L("Normalization", mean=[1.0, -2.0, 0.5], variance=[4.0, 0.25, 1.0])],
                                      [4, 3]),
    "normalization_adapted": ([L("Normalization", axis=-1)], [6, 3]),
    "normalization_adapted_axis1": ([L("Normalization", axis=[1])], [3, 4, 4]),
    "normalization_invert": ([L("Normalization", axis=-1, invert=True)], [5]),
    "embedding": ([L("Embedding", input_dim=10, output_dim=4)], [6]),
}


def graph(specs: list[dict], calls: list[tuple[int, list[int]]], shape: list[int]) -> tuple[list[dict], dict]:
    """Layers named as in a file and a graph as kgraph reads one: node 0 is the input, then ``(layer, inputs)``."""
    specs = [{**s, "name": f"l{i}"} for i, s in enumerate(specs)]
    nodes = [{"layer": -1, "inputs": [], "name": "in", "shape": shape}] + [
        {"layer": li, "inputs": ins} for li, ins in calls]
    return specs, {"inputs": [0], "outputs": [len(nodes) - 1], "nodes": nodes}


def _merge(cls: str, **config) -> tuple[list[dict], dict]:
    return graph([L("Dense", units=6, activation="tanh"), L("Dense", units=6), L("Dense", units=6),
                  L(cls, **config), L("Dense", units=3)], [(0, [0]), (1, [0]), (2, [0]), (3, [1, 2, 3]), (4, [4])]
                 if cls != "Subtract" else [(0, [0]), (1, [0]), (3, [1, 2]), (4, [3])], [7])


GRAPH: dict[str, tuple[tuple[list[dict], dict], list[int]]] = {
    **{f"merge_{c.lower()}": (_merge(c), [7]) for c in ("Add", "Subtract", "Multiply", "Average", "Maximum",
                                                        "Minimum")},
    "merge_concatenate": (graph([L("Dense", units=6), L("Dense", units=4), L("Concatenate"), L("Dense", units=3)],
                                [(0, [0]), (1, [0]), (2, [1, 2]), (3, [3])], [7]), [7]),
    "merge_concatenate_axis1": (graph([L("Conv1D", filters=3, kernel_size=2), L("Conv1D", filters=3, kernel_size=4),
                                       L("Concatenate", axis=1), L("Flatten"), L("Dense", units=3)],
                                      [(0, [0]), (1, [0]), (2, [1, 2]), (3, [3]), (4, [4])], [9, 2]), [9, 2]),
    "shared_layer": (graph([L("Dense", units=8, activation="relu"), L("Dense", units=8, activation="tanh"),
                            L("Dropout", rate=0.5), L("Dense", units=3)],
                           [(0, [0]), (1, [1]), (2, [2]), (1, [3]), (3, [4])], [5]), [5]),
}

# Malformed configs and weights: both engines must refuse them with the same words.
BAD_SEQ: dict[str, tuple[list[dict], list[int], list[list] | None]] = {
    "dense_without_units": ([L("Dense")], [4], None),
    "conv_on_a_vector": ([L("Conv2D", filters=2, kernel_size=3)], [4], None),
    "reshape_wrong_size": ([L("Reshape", target_shape=[5, 5])], [4, 3], None),
    "wrong_kernel_shape": ([L("Dense", units=3)], [4], [[np.zeros((4, 5), np.float32), np.zeros(5, np.float32)]]),
    "missing_weights": ([L("Dense", units=3), L("Dense", units=2)], [4],
                        [[np.zeros((4, 3), np.float32), np.zeros(3, np.float32)]]),
}


def _random_weights(layers, rng) -> dict[int, list[np.ndarray]]:
    """Weights for each weight-bearing layer (by position in ``layers``); variances positive."""
    out = {}
    for i, layer in enumerate(layers):
        if not layer.weights:
            continue
        positive = layer.class_name in ("BatchNormalization", "Normalization")
        out[i] = [rng.integers(1, 9, w.shape).astype(w.dtype) if w.dtype.kind == "i" else
                  (rng.uniform(0.3, 1.7, w.shape) if positive else rng.normal(0, 0.5, w.shape)).astype(w.dtype)
                  for w in layer.weights]
    return out


def _inputs(name: str, shape: list[int], rng) -> np.ndarray:
    if name == "embedding":
        return rng.integers(-12, 12, (6, *shape)).astype(np.float32)  # out of range too: NaN in both
    return rng.normal(0, 2, (6, *shape)).astype(np.float32)


def _cases(rng) -> list[dict]:
    """Every case with its weights and inputs, and the numpy engine's output (or its refusal)."""
    cases = []
    for name, (layers, shape) in SEQ.items():
        model = npmodel.build_model(layers, shape)
        arrays = list(_random_weights(model.layers, rng).values())
        npmodel.set_weights(model, arrays)
        x = _inputs(name, shape, rng)
        cases.append({"name": name, "kind": "seq", "layers": layers, "shape": shape, "arrays": arrays, "x": x,
                      "numpy": model(x, training=False), "batch": None})
    for name, ((specs, g), shape) in GRAPH.items():
        model, built = npmodel.build_graph(specs, g, [shape])
        arrays = [[] for _ in specs]
        for li, layer in built.items():
            arrays[li] = _random_weights([layer], rng).get(0, [])
        set_graph_weights(built, specs, arrays)
        x = _inputs(name, shape, rng)
        cases.append({"name": name, "kind": "graph", "layers": specs, "graph": g, "shape": shape, "arrays": arrays,
                      "x": x, "numpy": model(x, training=False), "batch": _batch_size(model),
                      "macs": _multiply_adds(model)})
    for name, (layers, shape, arrays) in BAD_SEQ.items():
        try:
            model = npmodel.build_model(layers, shape)
            npmodel.set_weights(model, arrays or [])
            said = "built"
        except BuildProblem as e:
            said = str(e)
        cases.append({"name": name, "kind": "bad", "layers": layers, "shape": shape, "arrays": arrays or [],
                      "x": np.zeros((1, *shape), np.float32), "numpy": said})
    return cases


def _server():
    """The model server's module, whose limits read a model's shapes: here the numpy model's propagated ones."""
    sys.path.insert(0, str(ROOT / "grader" / "insandbox"))
    import model_server

    return model_server


def _batch_size(model) -> int:
    """The server's own activation-memory limit."""
    return _server()._batch_size(model)


def _multiply_adds(model) -> int:
    """The server's compute estimate (what refuses a model too costly to run)."""
    return _server().multiply_adds(model)


KERAS_RUNNER = r"""
import json, os, sys
os.environ.update(KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
sys.path.insert(0, sys.argv[3])
import numpy as np
import kbuild, model_server
cases = json.load(open(sys.argv[1]))
data = np.load(sys.argv[2])
out, said = {}, {}
for c in cases:
    n = c["name"]
    arrays = [[data[f"{n}|{i}|{j}"] for j in range(k)] for i, k in enumerate(c["counts"])]
    x = data[f"{n}|x"]
    try:
        if c["kind"] == "graph":
            m, built = kbuild.build_graph(c["layers"], c["graph"], [c["shape"]], arrays)
            kbuild.set_graph_weights(built, c["layers"], arrays)
            said[n + "|batch"] = model_server._batch_size(m)
            said[n + "|macs"] = model_server.multiply_adds(m)
        else:
            m = kbuild.build_model(c["layers"], c["shape"])
            kbuild.set_weights(m, arrays)
        out[n] = np.asarray(m(x, training=False))
        said[n] = "built"
    except kbuild.BuildProblem as e:
        said[n] = str(e)
np.savez(sys.argv[4], **out)
json.dump(said, open(sys.argv[5], "w"))
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Each case's numpy output and Keras' (from one Keras subprocess for all cases)."""
    tmp = tmp_path_factory.mktemp("npmodel")
    cases = _cases(np.random.default_rng(20260101))
    arrays = {}
    meta = []
    for c in cases:
        arrays[f"{c['name']}|x"] = c["x"]
        for i, values in enumerate(c["arrays"]):
            for j, v in enumerate(values):
                arrays[f"{c['name']}|{i}|{j}"] = v
        meta.append({k: c[k] for k in ("name", "kind", "layers", "shape") if k in c}
                    | {"graph": c.get("graph"), "counts": [len(v) for v in c["arrays"]]})
    (tmp / "cases.json").write_text(json.dumps(meta))
    np.savez(tmp / "data.npz", **arrays)
    env = {**os.environ, "MLGRADE_MODEL_ENGINE": "keras"}
    subprocess.run([sys.executable, "-c", KERAS_RUNNER, str(tmp / "cases.json"), str(tmp / "data.npz"),
                    str(ROOT / "grader" / "insandbox"), str(tmp / "out.npz"), str(tmp / "said.json")],
                   check=True, env=env, cwd=ROOT, timeout=900)
    keras_out = dict(np.load(tmp / "out.npz"))
    said = json.loads((tmp / "said.json").read_text())
    return {c["name"]: (c, keras_out.get(c["name"]), said[c["name"]], said.get(c["name"] + "|batch"),
                        said.get(c["name"] + "|macs")) for c in cases}


def _close(name: str, ours: np.ndarray, theirs: np.ndarray) -> None:
    assert ours.shape == theirs.shape, (name, ours.shape, theirs.shape)
    assert ours.dtype == np.float32, (name, ours.dtype)
    assert np.array_equal(np.isnan(ours), np.isnan(theirs)), name
    ok = ~np.isnan(theirs)
    scale = max(float(np.max(np.abs(theirs[ok]), initial=0.0)), 1e-6)
    diff = float(np.max(np.abs(ours[ok] - theirs[ok]), initial=0.0))
    assert diff <= TOLERANCE * scale, f"{name}: max |numpy - keras| = {diff:.3g} for outputs up to {scale:.3g}"


@pytest.mark.slow  # over 10 s
@pytest.mark.parametrize("name", [*SEQ, *GRAPH])
def test_layer_matches_keras(results, name):
    case, keras_y, said, keras_batch, keras_macs = results[name]
    assert said == "built", said
    _close(name, case["numpy"], keras_y)
    if case["batch"] is not None:  # the activation-memory limit sees the same layer outputs (the server builds
        assert case["batch"] == keras_batch  # every model file as a graph; a Keras Sequential's nodes repeat)
        assert case["macs"] == keras_macs  # ... and the compute limit the same multiply-adds


def _chain(layers: list[dict], shape: list[int]) -> tuple[list[dict], dict]:
    return graph(layers, [(i, [i]) for i in range(len(layers))], shape)


# name -> (layers and graph, multiply-adds per image counted by hand, whether the numpy engine runs it)
COUNTS: dict[str, tuple[tuple[list[dict], dict], int, bool]] = {
    "dense": (_chain([L("Flatten"), L("Dense", units=10)], [28, 28, 1]), 784 * 10, True),
    "dense_on_a_sequence": (_chain([L("Dense", units=6)], [4, 5]), 4 * 5 * 6, True),  # once per position
    "conv2d": (_chain([L("Conv2D", filters=8, kernel_size=3)], [10, 10, 2]), 8 * 8 * (3 * 3 * 2 * 8), True),
    "conv2d_channels_first": (_chain([L("Conv2D", filters=4, kernel_size=3, strides=2, padding="same",
                                        data_format="channels_first")], [3, 9, 9]), 5 * 5 * (3 * 3 * 3 * 4), True),
    "depthwise": (_chain([L("DepthwiseConv2D", kernel_size=3, depth_multiplier=2)], [7, 7, 3]),
                  5 * 5 * (3 * 3 * 3 * 2), True),
    "separable": (_chain([L("SeparableConv2D", filters=5, kernel_size=3, depth_multiplier=2, padding="same")],
                         [8, 8, 3]), 8 * 8 * (3 * 3 * 3 * 2 + 6 * 5), True),
    "embedding": (_chain([L("Embedding", input_dim=50, output_dim=4), L("Flatten"), L("Dense", units=2)], [6]),
                  24 * 2, True),
    "prelu_is_elementwise": (_chain([L("Conv2D", filters=4, kernel_size=3), L("PReLU")], [8, 8, 1]),
                             6 * 6 * (3 * 3 * 4), True),
    # weightless, but each output reads its whole window: a 27x27 window at stride 1 costs as a convolution
    "max_pool_stride_1": (_chain([L("MaxPooling2D", pool_size=27, strides=1, padding="same")], [28, 28, 2]),
                          28 * 28 * 2 * 27 * 27 * 100, True),
    "average_pool_1d": (_chain([L("AveragePooling1D", pool_size=3)], [12, 4]), 4 * 4 * 3 * 100, True),
    "global_pool": (_chain([L("GlobalMaxPooling2D")], [5, 5, 3]), 0, True),
    # Keras only: a step costs 1,000 beyond the kernels (input 3 + recurrent 8 units, 4 gates; biases not counted)
    "lstm": (_chain([L("LSTM", units=8)], [5, 3]), (3 * 32 + 8 * 32 + 1000) * 5, False),
    "gru_reset_after": (_chain([L("GRU", units=4, reset_after=True)], [5, 3]), (3 * 12 + 4 * 12 + 1000) * 5, False),
    "lstm_shared": (graph([L("LSTM", units=3, return_sequences=True), L("Flatten"), L("Dense", units=2)],
                          [(0, [0]), (0, [1]), (1, [2]), (2, [3])], [5, 3]),
                    (3 * 12 + 3 * 12 + 1000) * 5 * 2 + 15 * 2, False),
    "bilinear_upsampling": (_chain([L("UpSampling2D", size=2, interpolation="bilinear")], [4, 4, 2]),
                            8 * 8 * 2 * (4 + 4), False),
}

KERAS_COUNTER = r"""
import json, os, sys
os.environ.update(KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
sys.path.insert(0, sys.argv[1])
import kbuild, model_server
out = {}
for name, (specs, g, shape) in json.loads(sys.argv[2]).items():
    model, _ = kbuild.build_graph(specs, g, [shape], None)
    out[name] = model_server.multiply_adds(model)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def keras_counts() -> dict[str, int]:
    """The counts on the models the server builds with Keras for ``predict`` (a graph), from one subprocess."""
    cases = {name: [specs, g, g["nodes"][0]["shape"]] for name, ((specs, g), _, _) in COUNTS.items()}
    done = subprocess.run([sys.executable, "-c", KERAS_COUNTER, str(ROOT / "grader" / "insandbox"), json.dumps(cases)],
                          capture_output=True, text=True, env={**os.environ, "MLGRADE_MODEL_ENGINE": "keras"},
                          cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("name", COUNTS)
def test_multiply_adds_are_counted_as_by_hand_on_both_engines(name, keras_counts):
    (specs, g), want, numpy_runs = COUNTS[name]
    assert keras_counts[name] == want
    if numpy_runs:
        model, _ = npmodel.build_graph(specs, g, [g["nodes"][0]["shape"]])
        assert _multiply_adds(model) == want


@pytest.mark.parametrize("name", BAD_SEQ)
def test_malformed_models_are_refused_in_keras_words(results, name):
    case, _, said, _, _ = results[name]
    ours = case["numpy"]
    assert said != "built" and ours != "built", (ours, said)
    if "cannot be built: " in said:  # the reason after it is Keras' own text
        ours, said = ours.split("cannot be built: ")[0], said.split("cannot be built: ")[0]
    assert ours == said


def test_every_activation_is_covered():
    from grader.insandbox.npact import ACTIVATIONS as NUMPY_ACTIVATIONS

    assert set(NUMPY_ACTIVATIONS) == set(ACTIVATIONS)
    for a in ACTIVATIONS:
        assert f"dense_{a}" in SEQ and f"activation_{a}" in SEQ


def test_noise_and_augmentation_layers_are_identities():
    x = np.random.default_rng(0).normal(size=(3, 5, 5, 3)).astype(np.float32)
    model = npmodel.build_model(SEQ["inference_identities"][0][:-1], [5, 5, 3])
    assert np.array_equal(model(x), x)


@pytest.mark.parametrize(("layer", "said"), [
    (L("LSTM", units=4), "this model uses LSTM, which the light self-check cannot run: install Keras "
                         "(pip install 'keras>=3' jax) to check it here; grading runs it"),
    (L("GRU", units=4), "this model uses GRU, which the light self-check cannot run"),
    (L("SimpleRNN", units=4), "this model uses SimpleRNN, which the light self-check cannot run"),
    (L("Conv2DTranspose", filters=2, kernel_size=3), "this model uses Conv2DTranspose, which the light"),
    (L("UpSampling2D", size=2, interpolation="bilinear"), "UpSampling2D with 'bilinear' interpolation, which the "
                                                          "light self-check cannot run: install Keras"),
    (L("Conv3D", filters=2, kernel_size=3), "layer type Conv3D is not supported by the grader"),
])
def test_unsupported_layers_say_what_to_do(layer, said):
    with pytest.raises(BuildProblem) as e:
        npmodel.build_model([L("Reshape", target_shape=[4, 4, 1]), layer], [16])
    assert said in str(e.value)


def test_a_weight_of_the_wrong_shape_names_the_layer_in_a_file_graph():
    specs, g = GRAPH["shared_layer"][0]
    model, built = npmodel.build_graph(specs, g, [[5]])
    arrays = [[np.zeros((5, 8), np.float32), np.zeros(8, np.float32)],
              [np.zeros((8, 8), np.float32), np.zeros(9, np.float32)], [], [np.zeros((8, 3), np.float32),
                                                                             np.zeros(3, np.float32)]]
    with pytest.raises(BuildProblem, match=r"layer 'l1' \(Dense\) expects shapes \[\(8, 8\), \(8,\)\], the file "
                                           r"has \[\(8, 8\), \(9,\)\]"):
        set_graph_weights(built, specs, arrays)
    with pytest.raises(BuildProblem, match=r"layer 'l0' \(Dense\): its first weight would have shape \(5, 8\) on "
                                           r"its input of shape \(5,\), the file has \(6, 8\)"):
        npmodel.build_graph(specs, g, [[5]], [[np.zeros((6, 8), np.float32)], [], [], []])


# --------------------------------------------------------------------------- through the model server

@pytest.fixture(scope="module")
def servers():
    keras, light = Server("keras"), Server("light")
    yield keras, light
    keras.close()
    light.close()


@pytest.fixture(scope="module")
def digit_data(tmp_path_factory):
    """Every public digit (what the numpy engine scores in a student's self-check) and a quarter of the hidden
    ones: 3,500 images per file (all 11,000 cost the slow lane two more minutes of CPU on 42 real files).
    The grading path's accuracy on every hidden digit is test_realmodels.py's."""
    return digits(tmp_path_factory.mktemp("digits"), every=4)


def _check_same(name: str, r: dict) -> dict:
    """Both engines answer alike: the same refusal, or outputs within tolerance and the same classes."""
    if "max_diff" not in r:
        for key in ("problem", "error"):
            assert r["keras"].get(key) == r["numpy"].get(key), (name, r["keras"], r["numpy"])
        assert "problem" in r["keras"], (name, r["keras"])
        return r
    assert r["numpy"]["shape"] == r["keras"]["shape"] and r["numpy"]["input_shape"] == r["keras"]["input_shape"]
    assert r["numpy"]["alternatives"] == r["keras"]["alternatives"], name
    assert r["max_diff"] <= TOLERANCE * r["scale"], (name, r)
    assert r["same_argmax"] >= 0.999, (name, r)
    assert abs(r["acc_keras"] - r["acc_numpy"]) <= 0.001, (name, r)
    return r


@pytest.mark.parametrize("name", ["k3_func_cnn.h5", "k2_shared.h5", "k3_two_outputs.h5"])
def test_predict_gives_keras_outputs_on_the_digits(servers, digit_data, tmp_path, name):
    _check_same(name, compare(ROOT / "tests" / "data" / "models" / name, *digit_data, *servers, tmp_path))


@pytest.mark.slow
@pytest.mark.parametrize("source", default_sources(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_model_file_predicts_as_keras_does(servers, digit_data, tmp_path, source):
    if REALMODELS in source.parents:
        assert not str(source).startswith(str(ROOT)), "real models are read from shared/, never copied in"
    path = model_file(source, tmp_path / "file")
    _check_same(source.name, compare(path, *digit_data, *servers, tmp_path / "out"))


def test_the_real_models_are_there():
    assert REALMODELS.is_dir() and len(list(REALMODELS.glob("*/*.zip"))) >= 40, REALMODELS


def _course_cnn(tmp_path: Path) -> tuple[dict, Path]:
    import yaml
    from kerasfiles import course_cnn_layers, write_keras2_weights

    spec = yaml.safe_load((ROOT / "rubrics" / "hw4" / "architectures.yaml").read_text())["cats_vs_dogs_cnn"]
    layers = [{"class_name": s["kind"], "config": {k: v for k, v in s.items() if k != "kind"}}
              for s in spec["layers"]]
    weights = tmp_path / "weights.h5"
    write_keras2_weights(weights, course_cnn_layers(np.random.default_rng(7), scale=0.08))
    return {"weights": str(weights), "layers": layers, "input_shape": spec["input_shape"]}, weights


def test_course_cnn_loads_and_classifies_as_keras_does(servers, tmp_path):
    import zipfile

    base, _ = _course_cnn(tmp_path)
    with zipfile.ZipFile(ROOT / "submissions" / "alice_complete.zip") as zf:
        zf.extractall(tmp_path / "alice")
    images = sorted(str(p) for p in (tmp_path / "alice").rglob("*.jpg"))
    images.append(str(tmp_path / "not_an_image.jpg"))
    Path(images[-1]).write_bytes(b"hello")
    answers = {}
    for server in servers:
        load = server.request({"op": "load", **base})
        got = server.request({"op": "classify", **base, "images": images, "size": [150, 150], "scale": 255})
        assert "outputs" in got, got
        answers[server.engine] = (load, got)
    (kl, kc), (nl, nc) = answers["keras"], answers["light"]
    assert {k: kl[k] for k in ("params", "finite")} == {k: nl[k] for k in ("params", "finite")}
    assert kl["params"] == 1_212_513
    assert kc["images"] == nc["images"] and "problem" in nc["images"][-1]
    k = np.array([o for o in kc["outputs"] if o is not None], np.float64)
    n = np.array([o for o in nc["outputs"] if o is not None], np.float64)
    assert len(k) >= 4 and np.max(np.abs(k - n)) <= TOLERANCE * max(1e-6, float(np.max(np.abs(k))))


def test_the_light_server_never_imports_keras_jax_or_scipy(tmp_path, digit_data):
    """With Keras and JAX unimportable and no engine forced, the server picks numpy and every op that does
    not need image hashes works."""
    from helpers import png_bytes

    base, weights = _course_cnn(tmp_path)
    png = tmp_path / "cat.png"
    png.write_bytes(png_bytes((40, 30)))
    model = ROOT / "tests" / "data" / "models" / "k3_func_cnn.h5"
    light = Server("light")
    try:
        answers = [
            light.request({"op": "inspect", "path": str(model)}),
            light.request({"op": "image", "path": str(png), "label": "cat.png", "max_pixels": 10**6,
                           "max_bytes": 10**6, "formats": ["PNG"]}),
            light.request({"op": "thumbnails", "images": [str(png)]}),
            light.request({"op": "fingerprint", "models": [str(weights)]}),
            light.request({"op": "load", **base}),
            light.request({"op": "classify", **base, "images": [str(png)], "size": [150, 150]}),
            light.request({"op": "predict", "model": str(model), "inputs": str(digit_data[0]),
                           "out": str(tmp_path / "y.npy"), "feed": {"shape": [28, 28, 1], "channels": 1},
                           "divide": 255.0}),
        ]
    finally:
        modules = light.close()
    for a in answers:
        assert "error" not in a and "problem" not in a, a
    assert answers[1]["width"] == 40 and answers[2]["thumbnails"][0]["width"] == 40
    assert answers[3]["models"][0]["layers"] and answers[6]["shape"] == [len(digit_data[1]), 10]
    assert "npmodel" in modules and "h5py" in modules
    loaded = {m.split(".")[0] for m in modules}
    assert not loaded & {"keras", "jax", "jaxlib", "tensorflow", "scipy"}, loaded & {"keras", "jax", "scipy"}


def test_too_large_activations_are_refused_by_the_numpy_engine(servers, tmp_path, digit_data):
    from kerasfiles import write_keras2_model

    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"name": "in", "batch_input_shape": [None, 28, 28, 1]}},
        {"class_name": "UpSampling2D", "config": {"name": "up", "size": [400, 400]}},
        {"class_name": "GlobalAveragePooling2D", "config": {"name": "gap"}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 10}}]}}
    path = tmp_path / "big.h5"
    write_keras2_model(path, [("up", []), ("gap", []), ("dense", [("kernel", np.zeros((1, 10), np.float32)),
                                                                  ("bias", np.zeros(10, np.float32))])], config)
    r = _check_same("big.h5", compare(path, *digit_data, *servers, tmp_path / "out"))
    assert "MB of numbers per image, over the limit of 67 MB" in r["numpy"]["problem"]


def test_an_unknown_engine_is_refused():
    env = {**os.environ, "MLGRADE_MODEL_ENGINE": "torch"}
    p = subprocess.run([sys.executable, str(ROOT / "grader" / "insandbox" / "model_server.py")], input="",
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode != 0 and "expected one of keras, numpy" in p.stderr


@pytest.mark.slow
def test_a_whole_self_check_scores_the_same_with_either_engine(tmp_path):
    scores = {}
    for engine in ("keras", "numpy"):
        out = tmp_path / f"{engine}.json"
        env = {**os.environ, "MLGRADE_MODEL_ENGINE": engine, "XDG_CACHE_HOME": str(tmp_path / f"cache-{engine}")}
        p = subprocess.run([sys.executable, "-m", "grader", "check", "submissions/alice_complete.zip", "--no-cache",
                            "--json", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
        assert out.is_file(), p.stdout[-2000:] + p.stderr[-2000:]
        data = json.loads(out.read_text())
        scores[engine] = {t.get("name", str(i)): (t.get("score"), t.get("max_score"))
                          for i, t in enumerate(data.get("tests", []))}
    assert scores["keras"] == scores["numpy"] and scores["keras"], scores
    assert sum(s for s, _ in scores["keras"].values() if s) > 0


def test_a_channels_first_digit_model_predicts_as_keras_does(servers, digit_data, tmp_path):
    """(1, 28, 28) inputs, a channels_first convolution, pooling and Flatten: graded (it was refused before)."""
    from kerasfiles import write_keras2_model

    rng = np.random.default_rng(3)
    cf = {"data_format": "channels_first"}
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Conv2D", "config": {"name": "c", "filters": 4, "kernel_size": [3, 3], "activation": "relu",
                                            "batch_input_shape": [None, 1, 28, 28], **cf}},
        {"class_name": "MaxPooling2D", "config": {"name": "p", "pool_size": [2, 2], **cf}},
        {"class_name": "Flatten", "config": {"name": "f", **cf}},
        {"class_name": "Dense", "config": {"name": "d", "units": 10, "activation": "softmax"}}]}}
    path = tmp_path / "cf.h5"
    write_keras2_model(path, [("c", [("kernel:0", rng.normal(0, 0.5, (3, 3, 1, 4)).astype(np.float32)),
                                     ("bias:0", np.zeros(4, np.float32))]), ("p", []), ("f", []),
                              ("d", [("kernel:0", rng.normal(0, 0.1, (676, 10)).astype(np.float32)),
                                     ("bias:0", np.zeros(10, np.float32))])], config)
    r = _check_same("cf.h5", compare(path, *digit_data, *servers, tmp_path / "out"))
    assert r["keras"]["input_shape"] == [1, 28, 28] and r["shape"] == [len(digit_data[1]), 10]
