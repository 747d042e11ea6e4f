"""Small things several formats share: how points are written, what each status is called."""

from __future__ import annotations

from grader.results import QuestionResult, Status, SubmissionResult

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
    return [q for q in result.questions if q.manual_review]


def grader_errors(result: SubmissionResult) -> list[QuestionResult]:
    return [q for q in result.questions if q.status is Status.ERROR]
