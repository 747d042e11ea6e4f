"""Small things several formats share: how points are written, what each status is called."""

from __future__ import annotations

from grader.core.results import QuestionResult, Status, SubmissionResult

LABEL = {
    Status.PASSED: "passed",
    Status.PARTIAL: "partial",
    Status.FAILED: "failed",
    Status.PENDING: "not graded yet",
    Status.ERROR: "grader error",
}


def fmt_points(x: float) -> str:
    """``0.5`` -> ``"0.5"``, ``2.0`` -> ``"2"``, ``1.23456`` -> ``"1.23"``."""
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def could_not_grade(result: SubmissionResult) -> bool:
    """The grader could not finish this submission (unreadable archive, crash, timeout)."""
    return bool(result.errors)


def needs_review(result: SubmissionResult) -> list[QuestionResult]:
    """The flagged questions nobody has decided on yet."""
    return [q for q in result.questions if q.awaiting_review]


def review_progress(results: list[SubmissionResult]) -> tuple[int, int]:
    """``(reviewed, flagged)`` over the class: how far the instructor's manual review has got."""
    flagged = [q for r in results for q in r.questions if q.manual_review]
    return sum(q.review is not None for q in flagged), len(flagged)


def decision_text(q: QuestionResult) -> str:
    """The instructor's decision in words: ``your instructor changed 0.5 to 0.25: <comment>``."""
    rv = q.review
    if rv is None:
        return ""
    if rv.changed:
        text = f"your instructor changed the score from {fmt_points(rv.automatic)} to {fmt_points(q.score)}"
    else:
        text = f"your instructor reviewed this and kept the score ({fmt_points(q.score)})"
    return text + (f": {rv.comment}" if rv.comment else "")


def grader_errors(result: SubmissionResult) -> list[QuestionResult]:
    return [q for q in result.questions if q.status is Status.ERROR]
