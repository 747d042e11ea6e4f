"""Keras model files: every layout students hand in, read safely; architecture differences in words;
the student's weights classifying the student's images."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import h5py
import numpy as np
import pytest
from conftest import ROOT
from helpers import grade_files, huge_png_header, jpeg_bytes, png_bytes
from kerasfiles import course_cnn_layers, write_keras2_model, write_keras2_weights, write_keras3_weights
from modelfiles import h5_bytes, mlp_file

from grader.insandbox.h5read import H5Problem, read_h5

CNN_RUBRIC = """
name: t
architectures: [rubrics/hw4/architectures.yaml]
questions:
  - id: q1a
    title: weights
    points: 0.5
    checks:
      - kind: keras_weights
        file: "{weights.h5,weights.weights.h5}"
        architecture: cats_vs_dogs_cnn
"""


def grade_weights(tmp_path, data: bytes, name="weights.h5"):
    return grade_files(tmp_path, {name: data}, CNN_RUBRIC).question("q1a")


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(0)


def test_keras2_layout_loads(tmp_path, rng):
    q = grade_weights(tmp_path, h5_bytes(tmp_path, write_keras2_weights, course_cnn_layers(rng)))
    assert q.score == 0.5, q.reason
    assert "Keras 2.2.4" in q.reason and "1,212,513 parameters" in q.reason


def test_tf_keras_24_layout_with_variable_length_names_loads(tmp_path, rng):
    layers = course_cnn_layers(rng, tf_names=True, activation_layers=False)
    data = h5_bytes(tmp_path, write_keras2_weights, layers, keras_version="2.4.0", varlen=True)
    q = grade_weights(tmp_path, data)
    assert q.score == 0.5, q.reason


def test_chunked_layer_names_are_read(tmp_path, rng):
    p = tmp_path / "chunked.h5"
    write_keras2_weights(p, course_cnn_layers(rng))
    with h5py.File(p, "a") as f:
        names = f.attrs["layer_names"]
        del f.attrs["layer_names"]
        f.attrs["layer_names0"] = names[:7]
        f.attrs["layer_names1"] = names[7:]
    info, _ = read_h5(str(p))
    assert len(info.layers) == 15 and info.layers[0].class_name == "Conv2D"
    assert grade_weights(tmp_path, p.read_bytes()).score == 0.5


def test_keras3_weights_file_loads(tmp_path, rng):
    layers = [(n, w) for n, w in course_cnn_layers(rng, tf_names=True, activation_layers=False) if w]
    data = h5_bytes(tmp_path, write_keras3_weights, layers)
    q = grade_weights(tmp_path, data, name="weights.weights.h5")
    assert q.score == 0.5, q.reason
    assert "Keras 3 .weights.h5" in q.reason


def test_wrong_dense_size_is_named(tmp_path, rng):
    q = grade_weights(tmp_path, h5_bytes(tmp_path, write_keras2_weights, course_cnn_layers(rng, dense1=128)))
    assert q.score == 0
    assert "layer 8: expected Dense(64, relu), found Dense(128)" in q.reason
    assert "total parameters 2,396,385, expected 1,212,513" in q.reason


def test_missing_conv_layer_is_named(tmp_path, rng):
    layers = [layer for layer in course_cnn_layers(rng) if layer[0] != "conv2d_3"]
    q = grade_weights(tmp_path, h5_bytes(tmp_path, write_keras2_weights, layers))
    assert q.score == 0
    assert "missing layer 5: expected Conv2D(64, 3x3, relu)" in q.reason


def test_right_layers_wrong_input_size_is_caught(tmp_path, rng):
    layers = course_cnn_layers(rng)
    layers = [(n, [(wn, a[:10368] if a.shape == (18496, 64) else a) for wn, a in w]) for n, w in layers]
    q = grade_weights(tmp_path, h5_bytes(tmp_path, write_keras2_weights, layers))
    assert q.score == 0
    assert "parameters, expected" in q.reason


def test_truncated_file(tmp_path, rng):
    data = h5_bytes(tmp_path, write_keras2_weights, course_cnn_layers(rng))
    q = grade_weights(tmp_path, data[: len(data) // 3])
    assert q.score == 0
    assert q.reason.startswith("weights.h5: ") and ("truncated" in q.reason or "damaged" in q.reason)


def test_png_renamed_h5(tmp_path):
    q = grade_weights(tmp_path, png_bytes())
    assert q.reason == "weights.h5: is a PNG image, not an HDF5 (.h5) file"


def test_hdf5_that_is_not_keras(tmp_path):
    p = tmp_path / "x.h5"
    with h5py.File(p, "w") as f:
        f["data"] = np.arange(3)
    q = grade_weights(tmp_path, p.read_bytes())
    assert "not a Keras model or weights file" in q.reason


# --------------------------------------------------------------------------- full models and safety

MLP_RUBRIC = """
name: t
questions:
  - id: arch
    title: arch
    points: 1
    checks:
      - kind: architecture
        file: model.h5
        full_model: true
        input_shape: [784]
        layers:
          - {kind: Dense, units: 32, activation: relu}
          - {kind: Dense, units: 10, activation: softmax}
"""


@pytest.mark.parametrize(("keras2", "input_layer"), [(True, False), (False, True)])
def test_full_model_architecture_passes(tmp_path, rng, keras2, input_layer):
    data = mlp_file(tmp_path, rng, keras2=keras2, input_layer=input_layer)
    q = grade_files(tmp_path, {"model.h5": data}, MLP_RUBRIC).question("arch")
    assert q.score == 1, q.reason
    assert "25,450 parameters" in q.reason


def test_full_model_wrong_activation_and_units(tmp_path, rng):
    data = mlp_file(tmp_path, rng, units=(64, 10), acts=("tanh", "softmax"))
    q = grade_files(tmp_path, {"model.h5": data}, MLP_RUBRIC).question("arch")
    assert q.score == 0
    assert "layer 1: expected Dense(32, relu), found Dense(64, tanh)" in q.reason
    assert "total parameters 50,890, expected 25,450" in q.reason


def test_weights_only_file_where_a_full_model_is_required(tmp_path, rng):
    data = h5_bytes(tmp_path, write_keras2_weights, [("dense_1", [("kernel:0", np.zeros((784, 32), np.float32))])])
    q = grade_files(tmp_path, {"model.h5": data}, MLP_RUBRIC).question("arch")
    assert "holds weights only" in q.reason


def test_lambda_layer_is_refused_before_keras_runs_it(tmp_path, rng):
    """A real Keras-2-style Lambda layer whose marshalled code would create a marker file."""
    marker = tmp_path / f"pwned-{uuid.uuid4().hex}"
    import base64
    import marshal

    def payload(x):
        open(str(marker), "w").write("pwned")  # noqa: SIM115
        return x

    code = base64.b64encode(marshal.dumps(payload.__code__)).decode()
    lam = {"class_name": "Lambda", "config": {"name": "lambda_1", "function": [code, None, None],
                                             "function_type": "lambda", "output_shape": None, "arguments": {}}}
    data = mlp_file(tmp_path, rng, extra=[lam])
    r = grade_files(tmp_path, {"model.h5": data}, MLP_RUBRIC)
    q = r.question("arch")
    assert q.score == 0
    assert "model contains 'function'" in q.reason or "Lambda layer" in q.reason
    assert not marker.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"class_name": "MyCustomLayer", "config": {"name": "custom_1"}}, "is not a built-in Keras layer"),
        ({"class_name": "Dense", "module": "evil.layers", "config": {"name": "d", "units": 1}}, "not Keras"),
        ({"class_name": "Activation", "config": {"name": "a", "activation": "lecun"}},
         "activation 'lecun' is not a built-in Keras activation"),
        ({"class_name": "Dense", "config": {"name": "d", "units": 1,
                                            "activation": {"class_name": "function", "config": "x"}}},
         "custom activation object"),
    ],
)
def test_custom_classes_are_refused(tmp_path, rng, extra, message):
    data = mlp_file(tmp_path, rng, extra=[extra])
    q = grade_files(tmp_path, {"model.h5": data}, MLP_RUBRIC).question("arch")
    assert q.score == 0 and message in q.reason


@pytest.mark.slow
def test_keras3_saved_files_are_read(tmp_path):
    """Files written by Keras 3 itself: legacy .h5 full model and .weights.h5."""
    script = f"""
import os, sys
os.environ["KERAS_BACKEND"] = "jax"
import keras
m = keras.Sequential([keras.Input((784,)), keras.layers.Dense(32, activation="relu"),
                      keras.layers.Dense(10, activation="softmax")])
m.save(r"{tmp_path}/model.h5")
m.save_weights(r"{tmp_path}/m.weights.h5")
"""
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, timeout=300,
                   env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KERAS_HOME": str(tmp_path)})
    q = grade_files(tmp_path / "g1", {"model.h5": (tmp_path / "model.h5").read_bytes()}, MLP_RUBRIC).question("arch")
    assert q.score == 1, q.reason
    info, _ = read_h5(str(tmp_path / "m.weights.h5"))
    assert info.format == "keras3-weights"
    assert [layer.weights[0][1] for layer in info.layers] == [(784, 32), (32, 10)]


def test_read_h5_refuses_lambda_directly(tmp_path):
    p = tmp_path / "m.h5"
    cfg = {"class_name": "Sequential", "config": [{"class_name": "Lambda", "config": {"name": "l"}}]}
    write_keras2_model(p, [], cfg)
    with pytest.raises(H5Problem, match="Lambda layer"):
        read_h5(str(p))


# --------------------------------------------------------------------------- classification

TINY_RUBRIC = """
name: t
questions:
  - id: q2
    title: classify
    points: 1
    checks:
      - kind: classify_images
        weights: tiny.h5
        input_shape: [4, 4, 3]
        layers:
          - {kind: Flatten}
          - {kind: Dense, units: 1, activation: sigmoid}
        images:
          - {file: "bright.*", expect: 1, label: bright}
          - {file: "dark.*", expect: 0, label: dark}
"""


def tiny_weights(tmp_path, sign=1.0) -> bytes:
    """A 'brightness detector': sigmoid(sum(pixels) - 24) after /255 scaling."""
    kernel = np.full((48, 1), sign, np.float32)
    bias = np.array([-24.0 * sign], np.float32)
    return h5_bytes(tmp_path, write_keras2_weights, [("flatten_1", []), ("dense_1", [("kernel:0", kernel),
                                                                                   ("bias:0", bias)])])


def test_classification_uses_the_students_weights(tmp_path):
    files = {"tiny.h5": tiny_weights(tmp_path), "bright.png": png_bytes(color=(250, 250, 250)),
             "dark.jpg": jpeg_bytes()}
    q = grade_files(tmp_path, files, TINY_RUBRIC).question("q2")
    assert q.score == 1, q.reason
    assert "bright.png (bright): p = 1.000 -> 1, expected 1 (right)" in q.reason


def test_inverted_weights_get_no_credit_and_half_credit_is_possible(tmp_path):
    files = {"tiny.h5": tiny_weights(tmp_path, sign=-1.0), "bright.png": png_bytes(color=(250, 250, 250)),
             "dark.jpg": jpeg_bytes()}
    q = grade_files(tmp_path, files, TINY_RUBRIC).question("q2")
    assert q.score == 0
    files["dark.jpg"] = png_bytes(color=(250, 250, 250))
    q = grade_files(tmp_path / "b", files, TINY_RUBRIC).question("q2")
    assert q.score == 0.5


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (lambda: png_bytes(size=(400, 300))[:300], "broken image"),
        (huge_png_header, "30000x30000 pixels"),
        (lambda: b"%PDF-1.4 not an image", "cannot be read as an image (a PDF document)"),
    ],
)
def test_broken_images_fail_only_themselves(tmp_path, image, message):
    files = {"tiny.h5": tiny_weights(tmp_path), "bright.png": image(), "dark.jpg": jpeg_bytes()}
    q = grade_files(tmp_path, files, TINY_RUBRIC).question("q2")
    assert q.score == 0.5, q.reason
    assert message in q.reason


@pytest.mark.parametrize("mode", ["L", "CMYK", "RGBA", "P"])
def test_image_modes_are_converted(tmp_path, mode):
    import io

    from PIL import Image

    im = Image.new("RGB", (32, 32), (250, 250, 250)).convert(mode)
    buf = io.BytesIO()
    im.save(buf, "JPEG" if mode == "CMYK" else "PNG")
    files = {"tiny.h5": tiny_weights(tmp_path), "bright.png": buf.getvalue(), "dark.jpg": jpeg_bytes()}
    q = grade_files(tmp_path, files, TINY_RUBRIC).question("q2")
    assert q.score == 1, q.reason


def test_exif_orientation_is_applied():
    import io

    from PIL import Image

    from grader.insandbox.safeimage import to_rgb

    im = Image.new("RGB", (40, 20), (0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif.tobytes())
    assert to_rgb(Image.open(io.BytesIO(buf.getvalue()))).size == (20, 40)


def test_sample_submission_grades_q1_q2_q3(samples_dir, default_rubric, tmp_path):
    from grader.score.pipeline import grade_submission

    r = grade_submission(samples_dir / "alice_complete.zip", default_rubric, tmp_path / "w")
    assert r.question("q1a").score == 0.5, r.question("q1a").reason
    assert r.question("q2").score == 1, r.question("q2").reason
    assert r.question("q3").score == 2, r.question("q3").reason
    carol = grade_submission(samples_dir / "carol_broken.zip", default_rubric, tmp_path / "c")
    assert carol.question("q1a").score == 0 and "is a PNG image" in carol.question("q1a").reason


def test_rubric_architecture_errors():
    from grader.rubric import RubricError, parse_rubric

    with pytest.raises(RubricError, match="unknown architecture 'cats_and_dogs'"):
        parse_rubric(CNN_RUBRIC.replace("cats_vs_dogs_cnn", "cats_and_dogs"), base_dir=ROOT)
    with pytest.raises(RubricError, match="did you mean 'cats_vs_dogs_cnn'"):
        parse_rubric(CNN_RUBRIC.replace("architecture: cats_vs_dogs_cnn", "architecture: cats_vs_dog_cnn"),
                     base_dir=ROOT)
    with pytest.raises(RubricError, match="the rubric defines: none"):
        parse_rubric(CNN_RUBRIC.replace("architectures: [rubrics/hw4/architectures.yaml]\n", ""), base_dir=ROOT)
    with pytest.raises(RubricError, match=r"architectures\[0\].*not found"):
        parse_rubric(CNN_RUBRIC.replace("rubrics/hw4/architectures.yaml", "nowhere.yaml"), base_dir=ROOT)
    with pytest.raises(RubricError, match="'layers' needs 'input_shape'"):
        parse_rubric(TINY_RUBRIC.replace("        input_shape: [4, 4, 3]\n", ""))


def test_config_json_is_never_given_to_keras():
    """The model server builds models from its own layer list; no Keras deserializer is reachable."""
    src = (ROOT / "grader" / "insandbox").glob("*.py")
    text = "\n".join(p.read_text() for p in src)
    for forbidden in ("model_from_json", "load_model(", "deserialize(", "safe_mode", "tf_keras", "from_config("):
        assert forbidden not in text, forbidden
    assert json.loads("[]") == []


@pytest.mark.slow  # over 10 s
def test_a_grown_model_server_is_replaced_between_requests(tmp_path, monkeypatch):
    """Past the memory limit the server is retired after answering: the answer's files are still
    read, and the next request gets a fresh server with the same results."""
    import grader.execute.modelserver as models

    monkeypatch.setattr(models, "RESTART_ABOVE", 1)
    files = {"tiny.h5": tiny_weights(tmp_path), "bright.png": png_bytes(color=(250, 250, 250)),
             "dark.jpg": jpeg_bytes()}
    q1 = grade_files(tmp_path / "a", files, TINY_RUBRIC).question("q2")
    first = models._SERVER
    q2 = grade_files(tmp_path / "b", files, TINY_RUBRIC).question("q2")
    assert q1.score == q2.score == 1
    assert models._SERVER is not first and first.retiring and not first.alive()


# --------------------------------------------------------------------------- real files of both Keras majors

MODELS = ROOT / "tests" / "data" / "models"

FUNC_CNN_RUBRIC = """
name: t
questions:
  - id: w
    title: weights
    points: 1
    checks:
      - kind: keras_weights
        file: "{weights,model}.{h5,weights.h5}"
        input_shape: [28, 28, 1]
        layers:
          - {kind: Conv2D, filters: 8, kernel_size: [3, 3], activation: relu}
          - {kind: MaxPooling2D, pool_size: [2, 2]}
          - {kind: Conv2D, filters: 16, kernel_size: [3, 3], activation: relu}
          - {kind: MaxPooling2D, pool_size: [2, 2]}
          - {kind: Flatten}
          - {kind: Dense, units: 10, activation: softmax}
  - id: arch
    title: architecture
    points: 1
    checks:
      - kind: architecture
        file: "{weights,model}.{h5,weights.h5}"
        full_model: true
        input_shape: [28, 28, 1]
        layers:
          - {kind: Conv2D, filters: 8, kernel_size: [3, 3], activation: relu}
          - {kind: MaxPooling2D, pool_size: [2, 2]}
          - {kind: Conv2D, filters: 16, kernel_size: [3, 3], activation: relu}
          - {kind: MaxPooling2D, pool_size: [2, 2]}
          - {kind: Flatten}
          - {kind: Dense, units: 10, activation: softmax}
"""


@pytest.mark.parametrize("name", ["k2_func_cnn.h5", "k3_func_cnn.h5"])
def test_functional_full_models_pass_weights_and_architecture(tmp_path, name):
    r = grade_files(tmp_path, {"model.h5": (MODELS / name).read_bytes()}, FUNC_CNN_RUBRIC)
    assert r.question("w").score == 1, r.question("w").reason
    assert "full model file (model.save" in r.question("w").reason and "5,258 parameters" in r.question("w").reason
    assert r.question("arch").score == 1, r.question("arch").reason


def test_keras3_weights_file_of_a_functional_model_loads(tmp_path):
    r = grade_files(tmp_path, {"weights.weights.h5": (MODELS / "k3_func_cnn.weights.h5").read_bytes()},
                    FUNC_CNN_RUBRIC)
    assert r.question("w").score == 1, r.question("w").reason
    assert "holds weights only" in r.question("arch").reason


def test_branched_model_against_a_chain_says_what_differs(tmp_path):
    r = grade_files(tmp_path, {"model.h5": (MODELS / "k2_func_branch.h5").read_bytes()}, FUNC_CNN_RUBRIC)
    q = r.question("arch")
    assert q.score == 0
    assert "extra layer" in q.reason and "Add" in q.reason and "Concatenate" in q.reason, q.reason
    assert q.reason.startswith("model.h5: the model is not one chain of layers (it has branches merged by Add, "
                               "Concatenate), the assignment's is; ")


def test_tf_keras_215_save_weights_loads_by_order(tmp_path):
    rubric = """
name: t
questions:
  - id: w
    title: weights
    points: 1
    checks:
      - kind: keras_weights
        file: weights.h5
        input_shape: [28, 28]
        layers:
          - {kind: Flatten}
          - {kind: Dense, units: 48, activation: relu}
          - {kind: Dense, units: 10, activation: softmax}
"""
    q = grade_files(tmp_path, {"weights.h5": (MODELS / "k2_seq_mlp_weights.h5").read_bytes()}, rubric).question("w")
    assert q.score == 1 and "Keras 2.15.0" in q.reason and "38,170 parameters" in q.reason, q.reason


def test_classify_images_input_scaling_reaches_the_model(tmp_path):
    files = {"tiny.h5": tiny_weights(tmp_path), "bright.png": png_bytes(color=(250, 250, 250)),
             "dark.jpg": jpeg_bytes()}
    raw = TINY_RUBRIC.replace("        images:", "        input_scaling: raw\n        images:")
    q = grade_files(tmp_path, files, raw).question("q2")
    assert q.score == 0.5 and "dark.jpg (dark): p = 1.000 -> 1, expected 0 (wrong)" in q.reason, q.reason


def tampered(tmp_path, name: str, edit) -> bytes:
    p = tmp_path / name
    p.write_bytes((MODELS / name).read_bytes())
    with h5py.File(p, "a") as f:
        edit(f)
    return p.read_bytes()


DIGITS_RUBRIC = """
name: t
questions:
  - id: digits
    title: digits
    points: 40
    checks:
      - {kind: digits, model: digits.h5}
"""


def test_weight_shapes_of_a_full_model_are_checked_layer_by_layer(tmp_path):
    def wrong_kernel(f):  # caught before the layer is built: its kernel would be (400, 10)
        g = f["model_weights/dense/dense"]
        del g["kernel"]
        g["kernel"] = np.zeros((399, 10), np.float32)

    def wrong_bias(f):  # caught when the weights are set
        g = f["model_weights/dense/dense"]
        del g["bias"]
        g["bias"] = np.zeros(11, np.float32)

    q = grade_files(tmp_path / "k", {"digits.h5": tampered(tmp_path, "k3_func_cnn.h5", wrong_kernel)},
                    DIGITS_RUBRIC).question("digits")
    assert q.score == 0
    assert ("layer 'dense' (Dense): its first weight would have shape (400, 10) on its input of shape (400,), "
            "the file has (399, 10)") in q.reason, q.reason
    q = grade_files(tmp_path / "b", {"digits.h5": tampered(tmp_path, "k3_func_cnn.h5", wrong_bias)},
                    DIGITS_RUBRIC).question("digits")
    assert q.score == 0
    assert "layer 'dense' (Dense) expects shapes [(400, 10), (10,)], the file has [(400, 10), (11,)]" in q.reason


def test_a_layer_without_its_weights_is_named(tmp_path):
    def drop(f):
        g = f["model_weights/conv2d_1"]
        del g["conv2d_1"]
        g.attrs["weight_names"] = np.array([], dtype=np.float64)

    data = tampered(tmp_path, "k3_func_cnn.h5", drop)
    q = grade_files(tmp_path / "g", {"digits.h5": data}, DIGITS_RUBRIC).question("digits")
    assert "layer 'conv2d_1' (Conv2D) has no weights in the file" in q.reason, q.reason
