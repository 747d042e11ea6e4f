"""Hints about a submission's model and images (grader/checks/modelhints.py) as a student reads them."""

from __future__ import annotations

import numpy as np
from helpers import grade_files, jpeg_bytes, png_bytes
from kerasfiles import write_keras2_weights
from modelfiles import h5_bytes

from grader.checks.modelhints import swapped_images

RUBRIC = """
name: t
questions:
  - id: q2
    title: your cat (what1) and dog (what2) classify as 0 and 1
    points: 1
    checks:
      - kind: classify_images
        weights: tiny.h5
        input_shape: [4, 4, 3]
        layers:
          - {kind: Flatten}
          - {kind: Dense, units: 1, activation: sigmoid}
        images:
          - {file: "what1.*", expect: 0, label: cat}
          - {file: "what2.*", expect: 1, label: dog}
"""


def _brightness(tmp_path) -> bytes:
    """A 'dog detector' that says 1 for bright pictures: sigmoid(sum(pixels) - 24) after /255 scaling."""
    kernel = np.full((48, 1), 1.0, np.float32)
    dense = [("kernel:0", kernel), ("bias:0", np.array([-24.0], np.float32))]
    return h5_bytes(tmp_path, write_keras2_weights, [("flatten_1", []), ("dense_1", dense)])


def test_a_cat_and_a_dog_handed_in_under_each_others_names_are_said_to_be_swapped(tmp_path):
    dark, bright = jpeg_bytes(), png_bytes(color=(250, 250, 250))
    swapped = {"tiny.h5": _brightness(tmp_path), "what1.png": bright, "what2.jpg": dark}
    q = grade_files(tmp_path / "a", swapped, RUBRIC).question("q2")
    assert q.score == 0, q.reason
    assert ("what1.png and what2.jpg may be swapped: each got the class another of them should get; what1.png should "
            "be your cat (0), what2.jpg should be your dog (1)") in q.reason, q.reason
    right = {"tiny.h5": _brightness(tmp_path), "what1.jpg": dark, "what2.png": bright}
    assert "swapped" not in grade_files(tmp_path / "b", right, RUBRIC).question("q2").reason


def test_one_wrong_image_or_two_in_the_same_class_are_no_swap():
    cat = {"file": "what1.jpg", "label": "cat", "expect": 0}
    dog = {"file": "what2.jpg", "label": "dog", "expect": 1}
    assert swapped_images([{**cat, "predicted": 1, "right": False}, {**dog, "predicted": 1, "right": True}]) == ""
    assert swapped_images([{**cat, "predicted": 1, "right": False}, {**dog, "predicted": 1, "right": False}]) == ""
    assert swapped_images([{**cat, "predicted": 1, "right": False}, {**dog, "problem": "broken image"}]) == ""


DIGITS = """
name: d
questions:
  - {id: digits, title: digits, points: 40, files: [digits.h5], checks: [{kind: digits, model: digits.h5}]}
"""


def test_a_digit_model_at_chance_is_told_what_to_check_and_a_good_one_is_not(tmp_path, samples_dir):
    """An untrained model (random weights) scores about 10 %: the reason says it is chance and what usually
    causes it; the scaling is not blamed when the other scalings were tried and did no better."""
    import zipfile

    from modelfiles import mlp_file

    from grader.core.options import GradeOptions

    untrained = mlp_file(tmp_path, np.random.default_rng(0))
    q = grade_files(tmp_path / "a", {"digits.h5": untrained}, DIGITS, GradeOptions(self_check=True)).question("digits")
    assert q.relative is not None and q.relative < 0.15, q.reason
    assert "that is about chance (guessing gets 10 % with 10 classes)" in q.reason, q.reason
    assert "output k of your model means class k" in q.reason and "model.save after model.fit" in q.reason
    with zipfile.ZipFile(samples_dir / "alice_complete.zip") as zf:
        good = zf.read(next(n for n in zf.namelist() if n.endswith("digits.h5")))
    q = grade_files(tmp_path / "b", {"digits.h5": good}, DIGITS, GradeOptions(self_check=True)).question("digits")
    assert q.relative is not None and q.relative > 0.9 and "chance" not in q.reason, q.reason


def test_chance_hints_say_the_scaling_only_when_it_was_not_ruled_out():
    from grader.checks.modelhints import chance_hint

    assert "scaled as in training" in chance_hint(0.08, 10)
    assert "scaled" not in chance_hint(0.08, 10, "said")
    assert "other input scalings were tried and do no better" in chance_hint(0.08, 10, "ruled out")
    assert "guessing gets 50 % with 2 classes" in chance_hint(0.3, 2)  # worse than guessing: labels swapped?
    assert chance_hint(0.2, 10) == "" and chance_hint(0.6, 2) == "" and chance_hint(0.1, None) == ""
