"""Class-level tables: ``csv`` (grades.csv) and ``summary`` (summary.json).

Both are byte-identical when the same batch is graded twice: rows sorted by student, numbers
written the same way, no timestamps. Student-controlled strings in CSV cells pass through
:func:`grader.core.textsafe.csv_cell`, so a spreadsheet never runs them as formulas.
"""

from __future__ import annotations

import csv
import io
import statistics
from typing import Any

from grader.core import textsafe
from grader.core.files import json_text
from grader.core.results import Status
from grader.render import ClassReport, register_format
from grader.render.common import could_not_grade, fmt_points, review_progress


def csv_text(rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for row in rows:
        w.writerow([textsafe.csv_cell(c) if isinstance(c, str) else c for c in row])
    return buf.getvalue()


@register_format("csv", scope="class", filename="grades.csv", default=True,
                 help="student, one column per question id, total")
def grades_csv(report: ClassReport) -> str:
    ids = [q.id for q in report.rubric.questions]
    rows: list[list[Any]] = [["student", *ids, "total"]]
    for r in report.results:
        scores = {q.id: q.score for q in r.questions}
        rows.append([r.student, *(fmt_points(scores.get(i, 0.0)) for i in ids), fmt_points(r.total)])
    return csv_text(rows)


def summary(report: ClassReport) -> dict[str, Any]:
    """Per-question statistics, class-relative metrics and the class best, who to look at."""
    results, rubric, bests = report.results, report.rubric, report.bests
    per_q = {}
    for q in rubric.questions:
        qs = [r.question(q.id) for r in results]
        scores = [x.score for x in qs]
        entry: dict[str, Any] = {
            "title": q.title,
            "max_score": q.points,
            "mean": round(statistics.fmean(scores), 4) if scores else 0.0,
            "min": min(scores, default=0.0),
            "max": max(scores, default=0.0),
            "passed": sum(x.status is Status.PASSED for x in qs),
            "failed": sum(x.status is Status.FAILED for x in qs),
            "grader_errors": sum(x.status is Status.ERROR for x in qs),
        }
        if q.id in bests:
            entry["class_relative"] = {
                "class_best": bests[q.id],
                "students": {r.student: r.question(q.id).relative for r in results},
            }
        per_q[q.id] = entry
    totals = [r.total for r in results]
    out: dict[str, Any] = {
        "rubric": rubric.name,
        "rubric_hash": rubric.digest(),
        "students": len(results),
        "max_total": rubric.max_total,
        "mean_total": round(statistics.fmean(totals), 4) if totals else 0.0,
        "questions": per_q,
        "errors": {r.student: r.errors for r in results if could_not_grade(r)},
        # flagged for a human look and not reviewed yet (`mlgrade review`)
        "manual_review": {r.student: [q.id for q in r.questions if q.awaiting_review]
                          for r in results if any(q.awaiting_review for q in r.questions)},
        "review": review_summary(report),
    }
    if report.origins:
        out["sources"] = {s: report.origins[s] for s in sorted(report.origins)}
    return out


def review_summary(report: ClassReport) -> dict[str, Any]:
    """Manual review so far: counts, the instructor's decisions as applied, and those that were not."""
    reviewed, flagged = review_progress(report.results)
    decisions = {}
    for r in report.results:
        mine = {q.id: {"score": q.score, "automatic": q.review.automatic, "changed": q.review.changed,
                       "comment": q.review.comment, "by": q.review.by, "at": q.review.at}
                for q in r.questions if q.review is not None}
        if mine:
            decisions[r.student] = mine
    ov = report.overrides
    return {
        "flagged": flagged,
        "reviewed": reviewed,
        "unreviewed": flagged - reviewed,
        "decisions": decisions,
        "stale": [{"student": s.override.student, "question": s.override.question, "decided_at": s.override.at,
                   "submission_then": s.override.submission_hash, "submission_now": s.current_hash}
                  for s in (ov.stale if ov else [])],
        "not_applied": [{"student": o.student, "question": o.question, "why": why}
                        for o, why in (ov.unknown if ov else [])],
    }


@register_format("summary", scope="class", filename="summary.json", default=True,
                 help="per-question statistics, class-relative metrics, errors and review flags (JSON)")
def summary_json(report: ClassReport) -> str:
    return json_text(summary(report))


@register_format("instructor-notes", scope="class", filename="instructor-notes.csv", default=True,
                 help="why hidden cases and tests failed, per student and question: the instructor's eyes only")
def instructor_notes_csv(report: ClassReport) -> str:
    rows: list[list[Any]] = [["student", "question", "note"]]
    for r in report.results:
        for q in r.questions:
            for c in q.checks:
                rows += [[r.student, q.id, note] for note in c.instructor_notes]
    return csv_text(rows)
