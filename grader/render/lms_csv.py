"""Grade files each LMS imports: ``canvas``, ``moodle``, ``blackboard``, and ``nbgrader``'s export.

Rows are keyed by what the LMS matches on, taken from where each submission came from
(:attr:`ClassReport.origins`, filled from the bulk download's file names): Canvas' user id,
Moodle's participant id, Blackboard's username. A submission that did not come from that
LMS's download is still listed (so nobody silently lacks a grade) with an empty key, which
the LMS reports on import. All cells pass through :func:`grader.core.textsafe.csv_cell`.

- Canvas (Grades > Import): ``Student, ID, SIS User ID, SIS Login ID, Section, <assignment>``
  with a ``Points Possible`` row. Name the assignment column as Canvas does
  (``HW4 (123456)``, with ``--assignment``) to fill an existing assignment; any other
  name creates a new one.
- Moodle (Assignment > Upload grading worksheet): ``Identifier`` (``Participant 12345``),
  ``Full name``, ``Grade``, ``Maximum Grade``, ``Last modified (grade)``, ``Feedback comments``.
- Blackboard (Grade Center > Upload): ``Last Name, First Name, Username,
  <assignment> [Total Pts: N Score]`` (no column id: Blackboard creates the column).
- nbgrader: ``assignment, duedate, timestamp, student_id, last_name, first_name, email,
  raw_score, late_submission_penalty, score, max_score``.
"""

from __future__ import annotations

from typing import Any

from grader.core.results import SubmissionResult
from grader.render import ClassReport, register_format
from grader.render.common import fmt_points
from grader.render.tables import csv_text


def _key(report: ClassReport, r: SubmissionResult, lms: str) -> str:
    o = report.origin(r.student)
    return str(o.get("user", "")) if o.get("lms") == lms else ""


def _full_name(report: ClassReport, r: SubmissionResult) -> str:
    o = report.origin(r.student)
    return str(o.get("full_name") or o.get("name") or r.student)


def _split_name(full: str) -> tuple[str, str]:
    """``"Ana María O'Neil"`` -> ``("O'Neil", "Ana María")``: last word as the last name."""
    parts = full.split()
    if len(parts) < 2:
        return full, ""
    return parts[-1], " ".join(parts[:-1])


def feedback_line(r: SubmissionResult) -> str:
    """One line per question, short enough for an LMS comment box."""
    items = [f"{q.id} {fmt_points(q.score)}/{fmt_points(q.max_score)}"
             + (f" (instructor: {q.review.comment[:200]})" if q.review is not None and q.review.comment else "")
             for q in r.questions]
    text = "; ".join(items) + f"; total {fmt_points(r.total)}/{fmt_points(r.max_total)}"
    if r.errors:
        text += f". Not graded: {r.errors[0][:300]}"
    return text


@register_format("canvas", scope="class", filename="canvas.csv",
                 help="Canvas gradebook import (Student, ID, SIS User ID, SIS Login ID, Section, assignment)")
def canvas_csv(report: ClassReport) -> str:
    head = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", report.assignment]
    rows: list[list[Any]] = [head, ["Points Possible", "", "", "", "", fmt_points(report.rubric.max_total)]]
    for r in report.results:
        rows.append([_full_name(report, r), _key(report, r, "canvas"), "", "", "", fmt_points(r.total)])
    return csv_text(rows)


@register_format("moodle", scope="class", filename="moodle.csv",
                 help="Moodle grading worksheet (Identifier 'Participant N', Grade, Feedback comments)")
def moodle_csv(report: ClassReport) -> str:
    rows: list[list[Any]] = [["Identifier", "Full name", "Grade", "Maximum Grade", "Last modified (grade)",
                              "Feedback comments"]]
    for r in report.results:
        key = _key(report, r, "moodle")
        rows.append([f"Participant {key}" if key else "", _full_name(report, r), fmt_points(r.total),
                     fmt_points(report.rubric.max_total), "-", feedback_line(r)])
    return csv_text(rows)


@register_format("blackboard", scope="class", filename="blackboard.csv",
                 help="Blackboard Grade Center upload (Last Name, First Name, Username, assignment column)")
def blackboard_csv(report: ClassReport) -> str:
    column = f"{report.assignment} [Total Pts: {fmt_points(report.rubric.max_total)} Score]"
    rows: list[list[Any]] = [["Last Name", "First Name", "Username", column]]
    for r in report.results:
        o = report.origin(r.student)
        last, first = _split_name(str(o.get("full_name", ""))) if o.get("full_name") else ("", "")
        rows.append([last, first, _key(report, r, "blackboard"), fmt_points(r.total)])
    return csv_text(rows)


@register_format("nbgrader", scope="class", filename="nbgrader.csv",
                 help="nbgrader's grade export columns (assignment, duedate, timestamp, student_id, ...)")
def nbgrader_csv(report: ClassReport) -> str:
    head = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
            "raw_score", "late_submission_penalty", "score", "max_score"]
    rows: list[list[Any]] = [head]
    for r in report.results:
        o = report.origin(r.student)
        full = str(o.get("full_name") or o.get("name") or "")
        last, first = _split_name(full) if full else ("", "")
        rows.append([report.assignment, str(o.get("deadline", "")), str(o.get("submitted_at", "")), r.student,
                     last, first, str(o.get("email", "")), fmt_points(r.total), "0", fmt_points(r.total),
                     fmt_points(report.rubric.max_total)])
    return csv_text(rows)
