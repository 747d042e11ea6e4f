"""Hidden questions where students grade themselves (the self-check, Classroom): never run there, shown as
pending with what they are worth, so a student sees they exist and not how they are checked."""

from __future__ import annotations

from grader.core.results import QuestionResult, Status, SubmissionResult
from grader.rubric import Rubric


def public_rubric(rubric: Rubric) -> Rubric:
    """The rubric without its hidden questions (those are reported as pending, never run)."""
    return rubric.model_copy(update={"questions": [q for q in rubric.questions if not q.hidden]})


def hidden_ids(rubric: Rubric) -> set[str]:
    return {q.id for q in rubric.questions if q.hidden}


HIDDEN_REASON = "graded by your instructor with hidden tests after the deadline"


def with_hidden_pending(result: SubmissionResult, rubric: Rubric) -> SubmissionResult:
    """``result`` (graded with :func:`public_rubric`) with the hidden questions back in rubric order,
    as pending: a student sees they exist and what they are worth, not how they are checked."""
    have = {q.id: q for q in result.questions}
    questions = [have.get(q.id) or QuestionResult(id=q.id, title=q.title, score=0.0, max_score=q.points,
                                                  status=Status.PENDING, reason=HIDDEN_REASON)
                 for q in rubric.questions]
    return result.model_copy(update={"questions": questions, "max_total": rubric.max_total})
