"""``model_accuracy``: a student's Keras model scored on the instructor's data (thresholds, relative, as is)."""

from __future__ import annotations

import hashlib
import os
import shutil

import numpy as np
import pytest
from conftest import ROOT

from grader.checks.model_accuracy import DataSet, Labelled, fraction_for, joined_inputs
from grader.classstep.classwide import apply_class_relative
from grader.core.options import GradeOptions
from grader.core.results import Status
from grader.rubric import RubricError, load_rubric
from grader.score.pipeline import grade_submission

MODELS = ROOT / "scripts" / "data"


def rubric(tmp_path, check: str):
    (tmp_path / "pack").mkdir(exist_ok=True)
    path = tmp_path / "pack" / "rubric.yaml"
    path.write_text("name: acc\nquestions:\n  - id: mlp\n    title: mlp\n    points: 10\n    files: [mlp.h5]\n"
                    "    checks:\n      - kind: model_accuracy\n        model: mlp.h5\n" + check)
    return load_rubric(path)


def grade(tmp_path, r, model_file, name="s", **options):
    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(model_file, folder / "mlp.h5")
    os.chmod(tmp_path, 0o755)
    return grade_submission(folder, r, tmp_path / f"w-{name}", GradeOptions(**options))


def test_thresholds_pick_the_highest_level_met():
    levels = {0.9: 1.0, 0.8: 0.5, 0.5: 0.25}
    assert [fraction_for(a, levels) for a in (0.95, 0.9, 0.85, 0.6, 0.4)] == [1.0, 1.0, 0.5, 0.25, 0.0]
    assert fraction_for(0.42, None) == 0.42


@pytest.mark.parametrize(("spec", "said"), [
    ({}, "give exactly one of"),
    ({"npz": "a.npz", "package": "mnist-public"}, "give exactly one of"),
    ({"package": "imagenet"}, "Input should be 'mnist-test'"),
])
def test_a_data_set_names_one_source(spec, said):
    with pytest.raises(ValueError, match=said):
        DataSet.model_validate(spec)


def test_rubric_mistakes_are_caught_when_it_loads(tmp_path):
    with pytest.raises(RubricError, match="'missing.npz' not found next to the rubric"):
        rubric(tmp_path, "        data: {npz: missing.npz}\n")
    with pytest.raises(RubricError, match="thresholds' or 'relative: true', not both"):
        rubric(tmp_path, "        data: {package: mnist-public}\n        relative: true\n        thresholds: {0.9: 1}\n")


@pytest.mark.slow
def test_scores_by_thresholds_on_an_npz_next_to_the_rubric_and_on_bundled_sets(tmp_path):
    from grader.checks import digitsdata

    d = digitsdata.mnist_hidden()
    (tmp_path / "pack").mkdir()
    np.savez(tmp_path / "pack" / "test.npz", images=d.images[:500], labels=d.labels[:500])
    r = rubric(tmp_path, "        data: {npz: test.npz, x: images, y: labels, name: course-test}\n"
                         "        also: [{package: sklearn-digits}]\n        scale: 255\n"
                         "        thresholds: {0.85: 1.0, 0.5: 0.5}\n")
    good = grade(tmp_path, r, MODELS / "digits_mlp2d.h5", "good").questions[0]
    assert good.score == 10 and "course-test 8" in good.reason and "sklearn-digits" in good.reason, good.reason
    weak = grade(tmp_path, r, MODELS / "digits_mlp784.h5", "weak").questions[0]
    assert weak.score == 5 and weak.status is Status.PARTIAL, weak.reason


@pytest.mark.slow
def test_relative_scoring_goes_through_the_class_step_and_hidden_data_waits_for_the_class(tmp_path):
    from grader.checks import digitsdata

    hidden = tmp_path / "hidden"
    hidden.mkdir()
    d = digitsdata.mnist_hidden()
    np.savez(hidden / "secret.npz", x=d.images[:300], y=d.labels[:300])
    r = rubric(tmp_path, "        data: {npz: 'hidden:secret.npz'}\n        scale: 255\n        relative: true\n")
    a = grade(tmp_path, r, MODELS / "digits_mlp2d.h5", "a", hidden_dir=hidden)
    b = grade(tmp_path, r, MODELS / "digits_mlp784.h5", "b", hidden_dir=hidden)
    apply_class_relative(r, [a, b])
    assert a.questions[0].score == 10 and 0 < b.questions[0].score < 10
    assert b.questions[0].score == pytest.approx(10 * b.questions[0].relative / a.questions[0].relative, abs=1e-3)
    own = grade(tmp_path, r, MODELS / "digits_mlp2d.h5", "self", self_check=True).questions[0]
    assert own.status is Status.PENDING and "when the class is graded" in own.reason


@pytest.mark.slow
def test_models_that_cannot_be_scored_say_why(tmp_path):
    r = rubric(tmp_path, "        data: {package: sklearn-iris}\n")
    q = grade(tmp_path, r, MODELS / "digits_mlp784.h5", "shape").questions[0]
    assert q.status is Status.FAILED and "the model takes inputs of shape (784,); this data set's are (4,)" in q.reason
    from kerasfiles import write_keras2_weights

    weights = tmp_path / "weights.h5"
    write_keras2_weights(weights, [("dense_1", [("kernel:0", np.zeros((784, 32), np.float32)),
                                                ("bias:0", np.zeros(32, np.float32))])])
    q = grade(tmp_path, rubric(tmp_path, "        data: {package: mnist-public}\n"), weights, "w").questions[0]
    assert q.status is Status.FAILED and "holds weights only" in q.reason


DIGITS_AS_KIND = """
name: d
questions:
  - {id: digits, title: digits, points: 40, files: [digits.h5], checks: [{kind: digits, model: digits.h5}]}
"""
DIGITS_AS_MODEL_ACCURACY = """
name: d
questions:
  - id: digits
    title: digits
    points: 40
    files: [digits.h5]
    checks: [{kind: model_accuracy, model: digits.h5, data: {package: digits}, scale: 255, relative: true}]
"""


@pytest.mark.slow
@pytest.mark.parametrize("self_check", [False, True])
def test_digits_is_an_instance_of_model_accuracy_with_identical_scores(tmp_path, samples_dir, self_check):
    """The digit classifier question written on the generic kind scores every sample as the digits kind does."""
    from grader.rubric import parse_rubric

    samples = [samples_dir / f"{s}.zip" for s in ("alice_complete", "bob_partial", "carol_broken", "ivan_colab")]
    scored = {}
    for name, text in (("digits", DIGITS_AS_KIND), ("model_accuracy", DIGITS_AS_MODEL_ACCURACY)):
        r = parse_rubric(text)
        results = [grade_submission(s, r, tmp_path / name / s.stem, GradeOptions(self_check=self_check))
                   for s in samples]
        apply_class_relative(r, results)
        scored[name] = [(q.score, q.relative, q.checks[0].details.get("accuracy")) for res in results
                        for q in res.questions]
    assert scored["digits"] == scored["model_accuracy"]
    assert scored["digits"][0][0] > 0  # alice's model is scored, not refused


def test_the_evaluation_inputs_are_joined_and_hashed_once_per_process_for_the_same_arrays():
    a = Labelled("a", np.arange(8, dtype=np.float32).reshape(2, 2, 2), np.array([0, 1]))
    b = Labelled("b", np.ones((1, 2, 2), np.float32), np.array([1]))
    x, digest = joined_inputs([a, b])
    assert x.shape == (3, 2, 2) and digest == hashlib.sha256(x.tobytes()).hexdigest()[:16]
    again, same = joined_inputs([a, b])
    assert again is x and same == digest  # the second student's check reuses the first one's
    # other arrays with other contents (a set loaded again from the instructor's file) are joined afresh
    c = Labelled("b", np.zeros((1, 2, 2), np.float32), np.array([1]))
    y, other = joined_inputs([a, c])
    assert y is not x and other != digest and float(y[2].sum()) == 0.0
