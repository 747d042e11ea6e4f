"""How check outcomes become marks: required files, weights, gates, pending kinds, grader bugs."""

from __future__ import annotations

import pytest
from conftest import ROOT
from helpers import grade_files, png_bytes

from grader.rubric.kinds import _KINDS, CheckParams, Outcome, check_kind, declare_pending


class _BoomParams(CheckParams):
    pass


@check_kind("_test_boom", _BoomParams)
def _boom(ctx, p):
    """Always raises: a stand-in for a grader bug."""
    raise ZeroDivisionError("oops")


class _FracParams(CheckParams):
    fraction: float


@check_kind("_test_fraction", _FracParams)
def _fraction(ctx, p):
    """Returns a fixed fraction."""
    return Outcome(p.fraction, f"gave {p.fraction}")


def rubric(checks: str, files: str = "[]", points: float = 4) -> str:
    return f"""
name: t
questions:
  - id: q
    title: Q
    points: {points}
    files: {files}
    checks:
{checks}
  - id: other
    title: still graded
    points: 1
    checks:
      - kind: file_present
        file: a.txt
"""


def test_weighted_mean_of_fractions(tmp_path):
    r = grade_files(tmp_path, {"a.txt": b"a"}, rubric(
        "      - {kind: _test_fraction, fraction: 1.0, weight: 3}\n"
        "      - {kind: _test_fraction, fraction: 0.0, weight: 1}\n"))
    q = r.question("q")
    assert q.score == 3.0 and q.status == "partial"
    assert r.total == 4.0


def test_failed_gate_zeroes_the_question(tmp_path):
    r = grade_files(tmp_path, {"a.txt": b"a"}, rubric(
        "      - {kind: _test_fraction, fraction: 1.0}\n"
        "      - {kind: _test_fraction, fraction: 0.5, gate: true, weight: 0}\n"))
    assert r.question("q").score == 0.0 and r.question("q").status == "failed"


def test_veto_zeroes_the_question_only_when_the_check_scores_zero(tmp_path):
    r = grade_files(tmp_path, {"a.txt": b"a"}, rubric(
        "      - {kind: _test_fraction, fraction: 1.0}\n"
        "      - {kind: _test_fraction, fraction: 0.0, veto: true}\n"))
    assert r.question("q").score == 0.0
    r = grade_files(tmp_path / "b", {"a.txt": b"a"}, rubric(
        "      - {kind: _test_fraction, fraction: 1.0}\n"
        "      - {kind: _test_fraction, fraction: 0.5, veto: true}\n"))
    assert r.question("q").score == 3.0


def test_passed_gate_with_zero_weight_does_not_dilute(tmp_path):
    r = grade_files(tmp_path, {"a.txt": b"a"}, rubric(
        "      - {kind: _test_fraction, fraction: 0.5}\n"
        "      - {kind: _test_fraction, fraction: 1.0, gate: true, weight: 0}\n"))
    assert r.question("q").score == 2.0


def test_missing_required_file_zeroes_the_question_and_names_it(tmp_path):
    r = grade_files(tmp_path, {"a.txt": b"a"}, rubric("      - {kind: _test_fraction, fraction: 1.0}\n",
                                                       files="['shot.{png,jpg}']"))
    q = r.question("q")
    assert q.score == 0
    assert q.reason == "missing file: expected 'shot.png' or 'shot.jpg' (any folder, any letter case)"
    assert r.question("other").score == 1


declare_pending("_test_planned", "a kind that is declared but not built")


def test_pending_kind_reports_not_graded_yet(tmp_path):
    r = grade_files(tmp_path, {"a.txt": b"a", "s.png": png_bytes()}, rubric(
        "      - {kind: image, file: s.png}\n"
        "      - {kind: _test_planned, anything: goes}\n"))
    q = r.question("q")
    assert q.status == "pending" and q.score == 0
    assert q.reason.startswith("not graded yet (_test_planned is not built yet)")
    assert "s.png: PNG" in q.reason


def test_grader_bug_is_an_error_not_the_students_fault_and_the_rest_goes_on(tmp_path):
    r = grade_files(tmp_path, {"a.txt": b"a"}, rubric("      - {kind: _test_boom}\n"))
    q = r.question("q")
    assert q.status == "error" and q.score == 0
    assert "internal error in check '_test_boom' (ZeroDivisionError: oops)" in q.reason
    assert "ZeroDivisionError" in q.checks[0].details["traceback"]
    assert r.question("other").score == 1


def test_refused_submission_gets_zero_everywhere_with_the_reason(tmp_path):
    from grader.rubric import parse_rubric
    from grader.score.pipeline import grade_submission

    bad = tmp_path / "x.zip"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot a zip")
    r = grade_submission(bad, parse_rubric(rubric("      - {kind: _test_fraction, fraction: 1}\n")), tmp_path / "w")
    assert r.total == 0 and r.errors == ["x.zip: is a PNG image, not a zip; submit one .zip file"]
    assert all("could not be unpacked" in q.reason for q in r.questions)
    assert not (tmp_path / "w").exists()  # the work folder is cleaned up


def test_registry_refuses_a_second_implementation():
    import pytest

    with pytest.raises(ValueError, match="registered twice"):
        check_kind("_test_fraction", _FracParams)(lambda c, p: Outcome.passed("x"))
    assert "_test_fraction" in _KINDS


def test_a_missing_file_names_every_file_of_the_question_at_once(tmp_path, default_rubric):
    from helpers import grade_files

    r = grade_files(tmp_path / "a", {"xor_equation.txt": b"Y = 1"}, (ROOT / "rubric.yaml").read_text())
    q4a = r.question("q4a")
    assert "missing file: expected 'xor.ipynb'" in q4a.reason
    assert "this question also uses: found 'xor_equation.txt'" in q4a.reason
    r = grade_files(tmp_path / "b", {"other.txt": b"x"}, (ROOT / "rubric.yaml").read_text())
    assert "also missing 'xor_equation.txt'" in r.question("q4a").reason


def test_a_notebook_under_another_name_is_recognised_by_its_code(tmp_path):
    from helpers import grade_files, notebook_bytes
    from make_submissions import BACKPROP_CELLS

    r = grade_files(tmp_path, {"HW4_part1_final.ipynb": notebook_bytes(*BACKPROP_CELLS)},
                    (ROOT / "rubric.yaml").read_text())
    reason = r.question("backprop").reason
    assert "'HW4_part1_final.ipynb' contains `def back_propagation`" in reason, reason
    assert "rename it if that is the one" in reason


@pytest.mark.slow
def test_model_files_under_other_names_are_recognised_by_their_architecture(tmp_path):
    """weights.h5 and digits.h5 handed in as cnn_final.h5 and mnist_model.h5: each missing-file reason
    points at the file whose content fits (inspected in the sandboxed model server)."""
    import zipfile

    from helpers import grade_files

    with zipfile.ZipFile(ROOT / "submissions" / "alice_complete.zip") as zf:
        files = {i.filename.rsplit("/", 1)[-1]: zf.read(i) for i in zf.infolist() if not i.is_dir()}
    renamed = {"cnn_final.h5": files["weights.h5"], "mnist_model.h5": files["digits.h5"]}
    r = grade_files(tmp_path, renamed, (ROOT / "rubric.yaml").read_text())
    q1a, digits = r.question("q1a").reason, r.question("digits").reason
    assert "'cnn_final.h5' holds weights of exactly this architecture" in q1a, q1a
    assert "mnist_model.h5" not in q1a
    assert "'mnist_model.h5' holds a whole model for 28x28x1 inputs with 10 outputs" in digits, digits
