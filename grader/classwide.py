"""The class-level step: run after every submission is graded, on stored records only.

A question whose check reports ``class_relative`` (the digits accuracy) is scored
``points * metric / best metric in the class``. Nothing is re-run: adding a late
submission or regrading one just runs this again over the stored records.
"""

from __future__ import annotations

from grader.results import QuestionResult, SubmissionResult, round_score, status_for
from grader.rubric import Rubric


def integrity_step(rubric: Rubric, results: list[SubmissionResult], rubric_source: str | None = None):
    """Academic-integrity evidence across the class (:mod:`grader.integrity`), from the stored
    fingerprints; the rubric's ``starter`` and ``known_images`` are next to ``rubric_source``."""
    from pathlib import Path

    from grader.integrity import class_integrity

    base = None
    if rubric_source and Path(rubric_source).is_file():
        base = Path(rubric_source).resolve().parent
    return class_integrity(rubric, results, base)


def class_best(results: list[SubmissionResult], qid: str) -> float | None:
    metrics = [q.relative for r in results for q in r.questions if q.id == qid and q.relative is not None]
    return max(metrics) if metrics else None


def apply_class_relative(rubric: Rubric, results: list[SubmissionResult]) -> dict[str, float | None]:
    """Rescale every class-relative question in place; returns the class best per such question."""
    bests: dict[str, float | None] = {}
    for question in rubric.questions:
        best = class_best(results, question.id)
        if best is None and not any(
            q.id == question.id and "class_relative" in _details(q) for r in results for q in r.questions
        ):
            continue
        bests[question.id] = best
        for r in results:
            for q in r.questions:
                if q.id == question.id:
                    _rescale(q, question.points, best)
    for r in results:
        r.total = round_score(sum(q.score for q in r.questions))
    return bests


def _details(q: QuestionResult) -> dict:
    return {k: v for c in q.checks for k, v in c.details.items()}


def _rescale(q: QuestionResult, points: float, best: float | None) -> None:
    if q.relative is None:
        return  # no model or no accuracy: the score stays what the check gave (zero), with its reason
    if not best or best <= 0:
        q.score = 0.0
        q.reason += "; the best accuracy in the class is 0, so nobody scores here"
    else:
        q.score = round_score(points * q.relative / best)
        q.reason += f"; class best {best:.4f}: {points:g} x {q.relative:.4f} / {best:.4f} = {q.score:g}"
    q.status = status_for(q.score, q.max_score)
