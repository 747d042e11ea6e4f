"""Content hints for a missing file: asked only of the check whose own file is missing, offering only the
student's files that are not already named as the rubric expects, never the grader's own."""

from __future__ import annotations

import pytest
from conftest import ROOT
from helpers import grade_files

from grader.intake.submission import pattern_matches
from grader.rubric.kinds import CheckContext, CheckParams, Outcome, check_kind


class _ImageItem(CheckParams):
    file: str


class _LookalikeParams(CheckParams):
    model: str
    images: list[_ImageItem] = []

    def suggest_files(self, ctx: CheckContext, pattern: str) -> list[str]:
        # like keras_models: every other model file of the submission "fits" the missing one
        return [f"'{f}' looks like the model" for f in ctx.submission.files
                if f.endswith(".h5") and not pattern_matches(pattern, f)]


@check_kind("_test_lookalike", _LookalikeParams)
def _lookalike(ctx, p):
    """Passes when its files are there."""
    return Outcome(1.0, "ok")


RUBRIC = """
name: hints
questions:
  - id: model
    title: the model
    points: 1
    files: [model.h5]
    checks: [{kind: _test_lookalike, model: model.h5}]
  - id: classify
    title: your images through the model
    points: 1
    files: [what1.jpg, what2.jpg]
    checks:
      - {kind: _test_lookalike, model: model.h5, images: [{file: what1.jpg}, {file: what2.jpg}]}
  - id: digits
    title: digits
    points: 1
    files: [digits.h5]
    checks: [{kind: _test_lookalike, model: digits.h5}]
"""


def test_a_missing_image_is_not_told_to_rename_the_model_that_is_named_right(tmp_path):
    r = grade_files(tmp_path, {"model.h5": b"m", "What 1.jpg": b"i", "what2.jpg": b"i", "digits.h5": b"d"}, RUBRIC)
    reason = r.question("classify").reason
    assert "found 'What 1.jpg' — rename it" in reason
    assert "looks like the model" not in reason, reason


def test_a_missing_model_is_offered_only_the_students_unclaimed_model_files(tmp_path):
    files = {"cnn_final.h5": b"m", "digits.h5": b"d", ".github/mlgrade/reference_model.h5": b"r",
             "mlgrade-kit/public_model.h5": b"p"}
    reason = grade_files(tmp_path, files, RUBRIC).question("model").reason
    assert "'cnn_final.h5' looks like the model — rename it if that is the one" in reason, reason
    assert "digits.h5" not in reason and "reference_model" not in reason and "public_model" not in reason


def test_the_rubrics_own_test_files_in_a_classroom_repository_are_never_offered(tmp_path):
    """A Classroom repository holds the rubric's build in .github/mlgrade/: its test_backprop.py is not the
    student's backprop.ipynb, nor is a copy of the rubric's test file the student left beside the work."""
    test_file = (ROOT / "rubrics" / "aml_hw4" / "tests" / "test_backprop.py").read_bytes()
    files = {".github/mlgrade/rubrics/aml_hw4/tests/test_backprop.py": test_file,
             "hw4/rubrics/aml_hw4/tests/test_backprop.py": b"# the student build's version\n",
             "test_backprop.py": test_file, "xor.ipynb": b"{}"}
    reason = grade_files(tmp_path, files, (ROOT / "rubric.yaml").read_text()).question("backprop").reason
    assert "rename" not in reason and "test_backprop" not in reason, reason


@pytest.mark.slow
def test_bob_is_not_told_to_rename_weights_h5_that_is_named_right(tmp_path):
    """bob's What 1.jpeg for what1.jpg: q2's reason offers that file, not his weights.h5 (inspected for real)."""
    import zipfile

    with zipfile.ZipFile(ROOT / "submissions" / "bob_partial.zip") as zf:
        files = {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()}
    r = grade_files(tmp_path, files, (ROOT / "rubric.yaml").read_text())
    q2 = r.question("q2").reason
    assert "found 'What 1.jpeg' — rename it if that is the one" in q2
    assert "holds weights" not in q2, q2
