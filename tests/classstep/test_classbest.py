"""The class best is robust to an outlier (issue 25, finding 6): a model that memorised the scored digits
(public: MNIST's test split since issue 24) scores 1.0000 and must not lower everyone's ``40 x accuracy / class best``."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from helpers import grade_files
from kerasfiles import write_keras2_model

from grader.classstep.classbest import class_best
from grader.classstep.classwide import apply_class_relative
from grader.core.options import GradeOptions
from grader.core.results import Status, SubmissionResult
from grader.execute.isolation import backend
from grader.rubric import parse_rubric

# the sample class's digits accuracies on MNIST's test split (`mlgrade grade submissions`; README, "Digits")
SAMPLE = {"alice": 0.9423, "ivan": 0.8960, "bob": 0.8042}


def test_an_honest_class_is_scored_against_its_best():
    assert class_best(SAMPLE).best == 0.9423 and not class_best(SAMPLE).outliers
    many = {f"s{i:02d}": 0.97 - 0.004 * i for i in range(30)}  # a realistic spread: nobody far ahead
    assert class_best(many).best == pytest.approx(0.97) and not class_best(many).outliers


def test_a_perfect_score_far_above_the_rest_does_not_set_the_best():
    found = class_best({**SAMPLE, "mallory": 1.0})
    assert found.best == 0.9423 and found.outliers == {"mallory": 1.0}
    assert "far above the rest" in found.why("mallory") and found.why("alice") == ""


def test_near_ties_at_the_top_and_tiny_classes_stay_as_the_handout_says():
    assert not class_best({"a": 0.999, "b": 0.995, "c": 0.99}).outliers  # within a point: a tie
    assert not class_best({"a": 0.97, "b": 0.90, "c": 0.85}).outliers  # far ahead but not near-perfect, 3 students
    assert not class_best({"a": 0.9}).outliers


def test_in_a_class_of_ten_five_points_ahead_is_an_outlier_and_a_group_is_caught_together():
    ten = {f"s{i}": 0.80 - 0.01 * i for i in range(9)} | {"top": 0.88}
    assert class_best(ten).outliers == {"top": 0.88} and class_best(ten).best == pytest.approx(0.80)
    twenty = {f"s{i:02d}": 0.90 - 0.005 * i for i in range(18)} | {"m1": 1.0, "m2": 1.0}
    found = class_best(twenty)
    assert set(found.outliers) == {"m1", "m2"} and found.best == pytest.approx(0.90)


# --------------------------------------------------------------------------- a real memorising model

def memorising_model(path: Path, beta: float = 20.0) -> None:
    """A 1-nearest-neighbour over the scored digits (MNIST's test split: public, every student can download
    it), in allowed layers only and without training: Dense(10000, softmax) scores -beta/2 x squared distance
    to each stored digit, Dense(10) adds up each label's share."""
    from grader.checks.digitsdata import mnist_hidden

    hidden = mnist_hidden()
    x, y = hidden.images.reshape(len(hidden.labels), -1), hidden.labels
    w = (x / 255.0).astype(np.float32).T  # (784, 10000)
    b = (-0.5 * np.sum(w * w, axis=0)).astype(np.float32)
    onehot = np.eye(10, dtype=np.float32)[y.astype(int)]
    dense = {"name": "dense", "units": int(w.shape[1]), "activation": "softmax", "use_bias": True}
    out = {"name": "dense_1", "units": 10, "activation": "linear", "use_bias": True}
    config = {"class_name": "Sequential", "config": {"name": "nn1", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 28, 28], "dtype": "float32",
                                                "name": "input_1"}},
        {"class_name": "Flatten", "config": {"name": "flatten", "data_format": "channels_last"}},
        {"class_name": "Dense", "config": dense}, {"class_name": "Dense", "config": out}]}}
    write_keras2_model(path, [("flatten", []), ("dense", [("kernel:0", beta * w), ("bias:0", beta * b)]),
                              ("dense_1", [("kernel:0", onehot), ("bias:0", np.zeros(10, np.float32))])],
                       config, keras_version="2.15.0", varlen=True)


def _sample_model(student: str) -> bytes:
    with zipfile.ZipFile(ROOT / "submissions" / f"{student}.zip") as z:
        name = next(n for n in z.namelist() if n.endswith("digits.h5"))
        return z.read(name)


@pytest.mark.slow
def test_a_memorised_public_set_does_not_lower_the_sample_class(tmp_path):
    """The sample class's three digit models and a memorising one, graded by the real digits check: the
    memoriser scores 1.0000 on the hidden digits and is flagged; alice keeps 40 (not 40 x 0.9423 = 37.69)."""
    memorising_model(tmp_path / "nn1.h5")
    files = {"mallory.h5": (tmp_path / "nn1.h5").read_bytes()}
    files |= {f"{s}.h5": _sample_model(s) for s in ("alice_complete", "bob_partial", "ivan_colab")}
    names = sorted(files)
    rubric_yaml = "name: t\nquestions:\n" + "".join(
        f"  - {{id: q{i}, title: {n}, points: 40, checks: [{{kind: digits, model: {json.dumps(n)}}}]}}\n"
        for i, n in enumerate(names))
    isolation = "bwrap" if backend("bwrap").problem() is None else "none"
    graded = grade_files(tmp_path / "g", files, rubric_yaml, GradeOptions(isolation=isolation))
    rubric = parse_rubric("name: t\nquestions:\n  - {id: digits, title: d, points: 40, checks: "
                          "[{kind: digits, model: digits.h5}]}\n")
    results = []
    for i, n in enumerate(names):
        q = graded.question(f"q{i}").model_copy(update={"id": "digits"})
        results.append(SubmissionResult(student=n.removesuffix(".h5"), source="-", total=0, max_total=40,
                                        questions=[q]))
    assert results[names.index("mallory.h5")].questions[0].relative == 1.0  # memorised: every hidden digit right
    bests = apply_class_relative(rubric, results)
    by = {r.student: r.questions[0] for r in results}
    assert bests["digits"] == pytest.approx(by["alice_complete"].relative)
    assert by["alice_complete"].score == 40 and by["mallory"].score == 40
    assert by["mallory"].manual_review and "far above the rest" in by["mallory"].reason
    assert not by["alice_complete"].manual_review and by["bob_partial"].status is Status.PARTIAL


def test_no_score_is_ever_below_the_handouts_formula():
    """Setting an outlier aside only lowers the best: whatever the class, everyone scores at least
    points x accuracy / the plain maximum, and nobody more than the points."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=40))
    def check(accs):
        metrics = {f"s{i:02d}": a for i, a in enumerate(accs)}
        found, top = class_best(metrics), max(accs)
        for s, a in metrics.items():
            plain = 40 * a / top if top > 0 else 0.0
            robust = 40.0 if s in found.outliers else (40 * min(a, found.best) / found.best if found.best else 0.0)
            assert plain - 1e-9 <= robust <= 40 + 1e-9

    check()
