"""``model(...)`` in an instructor's pytest file: ``.predict`` and ``.evaluate`` run the student's model file in
the sandboxed model server on the test's own inputs, fed as given (README: "Grade your own assignment")."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from helpers import grade_files
from kerasfiles import write_keras2_model

from grader.core.options import GradeOptions
from grader.execute.isolation import backend

DATA = Path(__file__).resolve().parents[1] / "data" / "models"

TESTS = '''
import numpy as np
from grader.checks.digitsdata import mnist_public

def test_outputs_one_row_of_ten_per_image(model):
    x = mnist_public().images[:50, :, :, None] / 255.0
    y = model("digits.h5").predict(x)
    assert y.shape == (50, 10), y.shape

def test_reads_most_public_digits(model):
    digits = mnist_public()
    got = model("digits.h5").evaluate(digits.images[:, :, :, None] / 255.0, digits.labels)["accuracy"]
    assert got >= 0.8, f"accuracy {got:.3f} on the public digits, at least 0.8 expected"
'''


def _grade(tmp_path: Path, data: bytes):
    (tmp_path / "pack" / "tests").mkdir(parents=True)
    (tmp_path / "pack" / "tests" / "test_model.py").write_text(textwrap.dedent(TESTS))
    rubric = ("name: m\nquestions:\n  - id: net\n    title: the digit model\n    points: 2\n    files: [digits.h5]\n"
              "    checks:\n      - kind: pytest\n        tests: tests/test_model.py\n        uses: [digits.h5]\n")
    options = GradeOptions(isolation="bwrap" if backend("bwrap").problem() is None else "none")
    return grade_files(tmp_path / "g", {"digits.h5": data}, rubric, options, base_dir=tmp_path / "pack").question("net")


def test_predict_and_evaluate_run_the_students_model(tmp_path):
    q = _grade(tmp_path, (DATA / "k3_func_cnn.h5").read_bytes())
    assert q.score == 2, q.reason


def test_a_model_that_predicts_nothing_useful_fails_the_instructors_assertion(tmp_path):
    cfg = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"name": "in", "batch_shape": [None, 28, 28, 1]}},
        {"class_name": "Flatten", "config": {"name": "flatten"}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 10, "activation": "softmax"}}]}}
    path = tmp_path / "zero.h5"
    write_keras2_model(path, [("flatten", []), ("dense", [("kernel", np.zeros((784, 10), np.float32)),
                                                           ("bias", np.zeros(10, np.float32))])],
                       cfg, keras_version="3.8.0", varlen=True)
    q = _grade(tmp_path, path.read_bytes())
    assert q.score == 1, q.reason  # the shape test passes, the accuracy one fails with its message
    assert "at least 0.8 expected" in q.reason, q.reason
