"""A class-relative question in a self-check, in words: the student's own accuracy, and what it can score.

The score of such a question is ``points x your accuracy / the best accuracy in the class``, and the best is
known only when the whole class is graded. A number such as "39.44/40 partial" in a self-check reads as a
lost 0.56 point; what a student can act on is their accuracy and the range their score will fall in::

    >>> sentence(40, 0.986)[:57]
    'Your accuracy on the public digits in this kit: 98.60 %. '

The question is shown as not graded yet (its points pending), never as a partial score.
"""

from __future__ import annotations

from grader.core.results import QuestionResult, Status, SubmissionResult, round_score
from grader.render.common import fmt_points


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def sentence(points: float, accuracy: float, best: float | None = None) -> str:
    """What the student reads first: their accuracy, how the score is made, what it would be."""
    least = round_score(points * accuracy)
    text = (f"Your accuracy on the public digits in this kit: {_pct(accuracy)}. Your score will be "
            f"{fmt_points(points)} x your accuracy / the best accuracy in the class, known only when the whole class "
            f"is graded: {fmt_points(points)} if yours is the best, at least {fmt_points(least)} whatever the best.")
    if best is not None and best > 0:
        now = round_score(points * min(1.0, accuracy / best))
        text += f" Against the best so far ({_pct(best)}) it would be {fmt_points(now)} of {fmt_points(points)}."
    return text + " The class is scored on other digits than these, so your accuracy there may differ a little."


def in_words(result: SubmissionResult, bests: dict[str, float] | None = None) -> SubmissionResult:
    """``result`` with each class-relative question that has an accuracy said in words and left pending."""
    questions = [_pending(q, (bests or {}).get(q.id)) if q.relative is not None else q for q in result.questions]
    if questions == result.questions:
        return result
    total = round_score(sum(q.score for q in questions))
    return result.model_copy(update={"questions": questions, "total": total})


def _pending(q: QuestionResult, best: float | None) -> QuestionResult:
    assert q.relative is not None
    reason = sentence(q.max_score, q.relative, best) + " Details: " + q.reason
    return q.model_copy(update={"score": 0.0, "status": Status.PENDING, "reason": reason})
