"""Small things several formats share: how points are written, what each status is called."""

from __future__ import annotations

from dataclasses import dataclass

from grader.core.results import QuestionResult, Status, SubmissionResult


@dataclass(frozen=True)
class StatusLook:
    """How one status is shown, the same in every format."""

    label: str  # its name in words
    css: str  # the class of the pages' badges and sections
    colour: str  # plots and inline styles (a notebook's output has no stylesheet); readable on white
    terminal: str  # rich's style


LOOK = {
    Status.PASSED: StatusLook("passed", "ok", "#1a7f37", "green"),
    Status.PARTIAL: StatusLook("partial", "part", "#9a6700", "yellow"),
    Status.FAILED: StatusLook("failed", "bad", "#cf222e", "red"),
    Status.PENDING: StatusLook("not graded yet", "pend", "#6e7781", "dim"),
    Status.ERROR: StatusLook("grader error", "err", "#8250df", "magenta"),
}
LABEL = {status: look.label for status, look in LOOK.items()}
# A submission the student's own file kept from being graded (a PDF renamed .zip, nothing handed in):
# the student's fault, so it looks like a failure, never like the grader's error.
NOT_GRADED = StatusLook("not graded", "bad", "#cf222e", "red")


def fmt_points(x: float) -> str:
    """``0.5`` -> ``"0.5"``, ``2.0`` -> ``"2"``, ``1.23456`` -> ``"1.23"``."""
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def could_not_grade(result: SubmissionResult) -> bool:
    """The grader could not finish this submission (unreadable archive, crash, timeout)."""
    return bool(result.errors)


def grader_failed(result: SubmissionResult) -> bool:
    """The grader or the machine, not the student, is why part of this record is missing (a worker that
    died, the grader's own disk, a broken test file): the only case the pages badge as a grader error."""
    return bool(result.grader_fault) or any(q.status is Status.ERROR for q in result.questions)


def submission_look(result: SubmissionResult) -> StatusLook | None:
    """The badge of a whole submission on the class page: a grader error, not graded (the student's file
    could not be graded: their fault, shown as theirs), or none when it was graded."""
    if grader_failed(result):
        return LOOK[Status.ERROR]
    if could_not_grade(result):
        return NOT_GRADED
    return None


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

