"""The class-level step: run after every submission is graded, on stored records only.

:func:`class_step` is the one road from stored records to every export: first a question whose
check reports ``class_relative`` (the digits accuracy) is scored ``points * metric / best metric
in the class`` (an accuracy far above the rest is flagged for review and does not set the best:
:mod:`grader.classstep.classbest`); then the instructor's decisions in ``DIR/overrides.yaml`` are applied
(:mod:`grader.classstep.overrides`). Nothing is re-run: adding a late submission, regrading one or
changing a decision just runs this again over the stored records (:func:`export_class`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grader.classstep.classbest import ClassBest
from grader.classstep.classbest import class_best as outlier_free_best
from grader.classstep.gradedrubric import RubricChanged, graded_rubric
from grader.classstep.integrity import class_integrity
from grader.classstep.overrides import apply_overrides, load_overrides
from grader.classstep.report import ClassReport
from grader.core.results import QuestionResult, SubmissionResult, round_score, status_for
from grader.rubric import Rubric
from grader.score.pipeline import failed_result
from grader.score.store import ClassManifest, ResultStore, load_class

EXPORT_LOCK = Path(".mlgrade") / "export.lock"


class NoClass(Exception):
    """Nothing was graded into this folder (or its records are gone)."""


def class_step(rubric: Rubric, results: list[SubmissionResult], out: Path | None, *,
               origins: dict[str, dict[str, Any]] | None = None, assignment: str = "",
               self_check: bool = False, rubric_source: str | None = None) -> ClassReport:
    """Class-relative scores, then the decisions in ``out/overrides.yaml`` (none when ``out`` is None),
    in place on ``results`` (fresh from the store), then the integrity evidence (never a score); the
    report every renderer reads."""
    bests = apply_class_relative(rubric, results)
    folder = Path(out).resolve() if out is not None else None
    decisions = load_overrides(folder) if folder is not None else []
    outcome = apply_overrides(rubric, results, decisions, folder=folder)
    integrity = None if self_check else integrity_step(rubric, results, rubric_source)
    return ClassReport(rubric, results, bests, origins=origins or {}, assignment=assignment, self_check=self_check,
                       overrides=outcome, integrity=integrity)


def class_results(store: ResultStore, keys: dict[str, str], sources: dict[str, str], rubric: Rubric,
                  missing: dict[str, str] | None = None) -> list[SubmissionResult]:
    """The stored record of every student (a stand-in row with the reason where none is stored), plus a row
    of zeros for each student who had nothing to grade."""
    results = []
    for student, key in keys.items():
        r = store.get(student, key)
        if r is None:  # should not happen: every task ends with a stored record
            r = failed_result(student, Path(sources.get(student, "-")), rubric, "no result was stored for this "
                              "submission", grader_fault=True)  # the grader lost it: not the student's fault
        results.append(r)
    taken = {r.student.casefold() for r in results}
    for student, why in sorted((missing or {}).items()):
        name = student if student.casefold() not in taken else f"{student}-missing"
        taken.add(name.casefold())
        results.append(failed_result(name, Path("-"), rubric, why))
    return results


def stored_class(out: Path) -> tuple[Rubric, list[SubmissionResult], ClassManifest]:
    """The class last graded into ``out``, from its stored records (nothing is graded)."""
    manifest = load_class(out)
    if manifest is None:
        raise NoClass(f"{out}: no graded class here (run `mlgrade grade ... --out {out}` first)")
    try:
        rubric, path = graded_rubric(out, manifest)
    except RubricChanged as e:
        raise NoClass(str(e)) from None
    manifest.rubric_source = str(path)  # found again from this folder: what the integrity step reads beside it
    results = class_results(ResultStore(out), manifest.keys, manifest.sources, rubric, manifest.missing)
    return rubric, results, manifest


def integrity_step(rubric: Rubric, results: list[SubmissionResult], rubric_source: str | None = None):
    """Academic-integrity evidence across the class (:mod:`grader.classstep.integrity`), from the stored
    fingerprints; the rubric's ``starter`` and ``known_images`` are next to ``rubric_source``."""
    from pathlib import Path


    base = None
    if rubric_source and Path(rubric_source).is_file():
        base = Path(rubric_source).resolve().parent
    return class_integrity(rubric, results, base)


def class_best(results: list[SubmissionResult], qid: str) -> float | None:
    """The best ``qid`` is scored against: the highest accuracy not far above the rest (see ``classbest``)."""
    return robust_best(results, qid).best


def robust_best(results: list[SubmissionResult], qid: str) -> ClassBest:
    metrics: dict[str, float] = {}
    for r in results:
        for q in r.questions:
            if q.id == qid and q.relative is not None:
                metrics[r.student] = max(q.relative, metrics.get(r.student, q.relative))
    return outlier_free_best(metrics)


def apply_class_relative(rubric: Rubric, results: list[SubmissionResult]) -> dict[str, float | None]:
    """Rescale every class-relative question in place; returns the class best per such question. An accuracy
    far above the rest of the class is flagged for review and scores full points without setting the best."""
    bests: dict[str, float | None] = {}
    for question in rubric.questions:
        found = robust_best(results, question.id)
        if found.best is None and not any(
            q.id == question.id and "class_relative" in _details(q) for r in results for q in r.questions
        ):
            continue
        bests[question.id] = found.best
        for r in results:
            for q in r.questions:
                if q.id == question.id:
                    _rescale(q, question.points, found.best, found.why(r.student))
    for r in results:
        r.total = round_score(sum(q.score for q in r.questions))
    return bests


def _details(q: QuestionResult) -> dict:
    return {k: v for c in q.checks for k, v in c.details.items()}


def rescale_to_best(q: QuestionResult, points: float, best: float) -> None:
    """``q``'s score against a class best known from elsewhere (a Gradescope regrade after the deadline)."""
    _rescale(q, points, best)


def _rescale(q: QuestionResult, points: float, best: float | None, outlier: str = "") -> None:
    if q.relative is None:
        return  # no model or no accuracy: the score stays what the check gave (zero), with its reason
    if not best or best <= 0:
        q.score = 0.0
        q.reason += "; the best accuracy in the class is 0, so nobody scores here"
    elif outlier:
        q.score = round_score(points)
        q.reason += f"; {outlier}"
        q.manual_review = True
    else:
        q.score = round_score(points * min(q.relative, best) / best)
        q.reason += f"; class best {best:.4f}: {points:g} x {q.relative:.4f} / {best:.4f} = {q.score:g}"
    q.status = status_for(q.score, q.max_score)
