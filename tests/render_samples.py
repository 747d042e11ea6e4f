"""Result records for renderer tests: a class with every kind of detail the pages draw, and hostile text."""

from __future__ import annotations

import base64
import io

from PIL import Image

from grader.core.results import CheckResult, QuestionResult, Status, SubmissionResult
from grader.rubric import parse_rubric

HOSTILE = '<img src=x onerror=alert(1)>\x1b[2J=HYPERLINK("http://evil")\n::add-mask::x <script>alert(2)</script>'

RUBRIC_TEXT = """
name: "Render test <b>HW</b>"
questions:
  - {id: q2, title: classify, points: 1, checks: [{kind: file_present, file: a}]}
  - {id: q4a, title: equation, points: 1, checks: [{kind: file_present, file: a}]}
  - {id: backprop, title: notebook, points: 3, checks: [{kind: file_present, file: a}]}
  - {id: arch, title: architecture, points: 1, checks: [{kind: file_present, file: a}]}
  - {id: digits, title: digits, points: 40, checks: [{kind: digits, model: d.h5}]}
"""
RUBRIC = parse_rubric(RUBRIC_TEXT)


def png_b64(color=(200, 60, 40), size=(64, 48)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


EQUATION = ["call", "sigmoid", ["bin", "+", ["bin", "*", ["num", "2.5"], ["call", "sigmoid", [
    "bin", "-", ["bin", "*", ["num", "7.19"], ["var", 1]], ["var", 2]]]], ["neg", ["bin", "/", ["num", "1"], [
        "bin", "+", ["num", "1"], ["call", "exp", ["neg", ["var", 3]]]]]]]]


def student(name: str, digits_acc: float | None, total_scale: float = 1.0, reason: str = "fine",
            review: bool = False, errors: list[str] | None = None) -> SubmissionResult:
    items = [{"file": "what1.jpg", "label": "cat", "expect": 0, "predicted": 0, "p": 0.02, "p_of": 1, "right": True,
              "thumbnail": png_b64()},
             {"file": "what2.jpg", "label": "dog", "expect": 1, "predicted": 0, "p": 0.31, "p_of": 1, "right": False,
              "thumbnail": png_b64((40, 90, 200))}]
    qs = [
        QuestionResult(id="q2", title="classify", score=0.5 * total_scale, max_score=1, status=Status.PARTIAL,
                       reason=reason, manual_review=review, files={"what1.{jpg,png}": "what1.jpg"},
                       checks=[CheckResult(kind="classify_images", fraction=0.5, status=Status.PARTIAL, reason=reason,
                                           details={"items": items})]),
        QuestionResult(id="q4a", title="equation", score=1, max_score=1, status=Status.PASSED, reason="all 16 numbers",
                       checks=[CheckResult(kind="xor_equation", fraction=1, status=Status.PASSED, reason="ok",
                                           details={"equation_tree": EQUATION, "source": "xor_equation.txt",
                                                    "outputs": [0.0077, 0.9947, 0.9917, 0.0069]})]),
        QuestionResult(id="backprop", title="notebook", score=1, max_score=3, status=Status.PARTIAL,
                       reason="seed-0 loss correct; errors while running", checks=[CheckResult(
                           kind="notebook_backprop", fraction=1 / 3, status=Status.PARTIAL, reason="r",
                           details={"notebook_errors": [{"notebook": "backprop.ipynb", "cell": "In [8]",
                                                         "source": "gradients = back_propagation(X, Y)\n" + reason,
                                                         "ename": "ValueError", "evalue": "shapes (3,) and (2,)",
                                                         "traceback": "Traceback ...\nValueError: shapes " + reason}]})]),
        QuestionResult(id="arch", title="architecture", score=0, max_score=1, status=Status.FAILED,
                       reason="layer 2: expected Dense(64, relu), found Dense(128)", checks=[CheckResult(
                           kind="architecture", fraction=0, status=Status.FAILED, reason="r", details={"layers": [
                               {"n": 1, "expected": "Flatten", "found": "Flatten", "expected_params": 0,
                                "found_params": 0, "same": True},
                               {"n": 2, "expected": "Dense(64, relu)", "found": "Dense(128, relu)",
                                "expected_params": 50240, "found_params": 100480, "same": False}]})]),
    ]
    if digits_acc is None:
        qs.append(QuestionResult(id="digits", title="digits", score=0, max_score=40, status=Status.FAILED,
                                 reason="missing file: expected 'digits.h5'"))
    else:
        qs.append(QuestionResult(id="digits", title="digits", score=round(40 * digits_acc, 4), max_score=40,
                                 status=Status.PARTIAL, reason="accuracy", relative=digits_acc, checks=[CheckResult(
                                     kind="digits", fraction=digits_acc, status=Status.PARTIAL, reason="acc",
                                     details={"class_relative": digits_acc, "accuracy": {"mnist": digits_acc}})]))
    total = round(sum(q.score for q in qs), 4)
    return SubmissionResult(student=name, source=f"{name}.zip", total=total, max_total=46, questions=qs,
                            errors=errors or [], warnings=[reason] if reason != "fine" else [],
                            grader_version="0.1.0", rubric_hash="abc", submission_hash="def")


def sample_class() -> list[SubmissionResult]:
    return [student("amy", 0.95, review=True), student("ben", 0.81), student("cal", None, errors=[
        "cal.zip: is a PDF document, not a zip; submit one .zip file"]), student("eve", 0.5, reason=HOSTILE)]


def store_class(out, results: list[SubmissionResult], rubric_text: str = RUBRIC_TEXT,
                formats: list[str] | None = None) -> None:
    """Put ``results`` into ``out`` as if ``mlgrade grade`` had graded them: records and the class file."""
    from grader.render import default_formats
    from grader.score.store import ClassManifest, ResultStore, save_class

    store = ResultStore(out)
    keys = {}
    for r in results:
        keys[r.student] = f"key-{r.student}"
        store.put(r.student, keys[r.student], r)
    save_class(out, ClassManifest(keys=keys, sources={r.student: r.source for r in results}, rubric_text=rubric_text,
                                  formats=formats or default_formats()))
