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


def fmt_points(x: float) -> str:
    """``0.5`` -> ``"0.5"``, ``2.0`` -> ``"2"``, ``1.23456`` -> ``"1.23"``."""
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def could_not_grade(result: SubmissionResult) -> bool:
    """The grader could not finish this submission (unreadable archive, crash, timeout)."""
    return bool(result.errors)


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

