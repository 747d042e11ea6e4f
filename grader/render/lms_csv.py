"""Grade files each LMS imports: ``canvas``, ``moodle``, ``blackboard``, and ``nbgrader``'s export.

Rows are keyed by what the LMS matches on, taken from where each submission came from
(:attr:`ClassReport.origins`, filled from the bulk download's file names): Canvas' user id,
Moodle's participant id, Blackboard's username. A submission that did not come from that
LMS's download is still listed (so nobody silently lacks a grade) with an empty key, which
the LMS reports on import. An entry of the download that was nobody's (its name did not follow
the LMS's naming) is a row with an empty key, *no* score, and the reason where a name goes, so it
is seen and never imported as a zero. All cells pass through :func:`grader.core.textsafe.csv_cell`.

- Canvas (Grades > Import): ``Student, ID, SIS User ID, SIS Login ID, Section, <assignment>``
  with a ``Points Possible`` row. Name the assignment column as Canvas does
  (``HW4 (123456)``, with ``--assignment``) to fill an existing assignment; any other
  name creates a new one. Canvas matches a row on ID, then the SIS ids, then the name; an
  anonymous download holds none of them (and Canvas refuses imported grades for an anonymous
  assignment until its grades are posted), so those rows say so where the name goes.
- Moodle (Assignment > Upload grading worksheet): ``Identifier`` (``Participant 12345``),
  ``Full name``, ``Grade``, ``Maximum Grade``, ``Last modified (grade)``, ``Feedback comments``.
  Moodle skips a row whose "Last modified (grade)" is more than a minute older than the grade it
  holds, unless the override box is ticked; the column holds the time the file was written, in
  Moodle's own date format with ``UTC`` (PHP's ``strtotime`` reads it), so a second upload updates
  grades while a grade edited in Moodle after the file was written is still protected.
- Blackboard (Grade Center > Work Offline > Upload): ``Last Name, First Name, Username,
  <assignment> [Total Pts: N Score]``, every field quoted as Blackboard's documentation asks of
  comma-separated files. ``--assignment "HW4 |123456"`` (the column id from a Grade Center
  download) fills that column; without an id Blackboard creates a new (text) column.
- nbgrader: ``assignment, duedate, timestamp, student_id, last_name, first_name, email,
  raw_score, late_submission_penalty, score, max_score``: the columns of ``nbgrader export``, for
  the scripts and spreadsheets built on them. nbgrader itself has no grade import.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from typing import Any

from grader.core import textsafe
from grader.core.results import SubmissionResult
from grader.render import ClassReport, register_format
from grader.render.common import fmt_points
from grader.render.tables import csv_text

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_BLACKBOARD_ID = re.compile(r"(.*?)\s*\|\s*(\d{1,20})\s*")


def _key(report: ClassReport, r: SubmissionResult, lms: str) -> str:
    o = report.origin(r.student)
    return str(o.get("user", "")) if o.get("lms") == lms else ""


def _unrecognised(report: ClassReport, r: SubmissionResult) -> str:
    """The reason, for a row that stands for an entry of the download that is nobody's; else ""."""
    o = report.origin(r.student)
    return str(o.get("reason") or "not recognised") if o.get("unrecognised") else ""


def _score(report: ClassReport, r: SubmissionResult) -> str:
    return "" if _unrecognised(report, r) else fmt_points(r.total)


def _full_name(report: ClassReport, r: SubmissionResult) -> str:
    o = report.origin(r.student)
    if o.get("unrecognised"):
        return f"(not recognised) {_unrecognised(report, r)}"
    return str(o.get("full_name") or o.get("name") or r.student)


def _split_name(full: str) -> tuple[str, str]:
    """``"Ana María O'Neil"`` -> ``("O'Neil", "Ana María")``: last word as the last name."""
    parts = full.split()
    if len(parts) < 2:
        return full, ""
    return parts[-1], " ".join(parts[:-1])


def moodle_time(now: datetime | None = None) -> str:
    """``Monday, 7 December 2026, 7:15 AM UTC``: Moodle's worksheet date format, in English whatever
    the locale (PHP reads a wrong weekday as "next Tuesday"), in UTC so the server's zone is moot."""
    t = (now or datetime.now(UTC)).astimezone(UTC)
    hour = t.hour % 12 or 12
    return (f"{_DAYS[t.weekday()]}, {t.day} {_MONTHS[t.month - 1]} {t.year}, {hour}:{t.minute:02d} "
            f"{'AM' if t.hour < 12 else 'PM'} UTC")


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
        o = report.origin(r.student)
        name = _full_name(report, r)
        if o.get("lms") == "canvas" and o.get("anonymous_id"):
            name = (f"anon_{o['anonymous_id']} (anonymous grading: Canvas cannot match this row; enter the score "
                    "in SpeedGrader, or post grades, download the submissions again and grade them again)")
        rows.append([name, _key(report, r, "canvas"), "", "", "", _score(report, r)])
    return csv_text(rows)


@register_format("moodle", scope="class", filename="moodle.csv",
                 help="Moodle grading worksheet (Identifier 'Participant N', Grade, Feedback comments)")
def moodle_csv(report: ClassReport) -> str:
    rows: list[list[Any]] = [["Identifier", "Full name", "Grade", "Maximum Grade", "Last modified (grade)",
                              "Feedback comments"]]
    written = moodle_time()
    for r in report.results:
        key = _key(report, r, "moodle")
        why = _unrecognised(report, r)
        rows.append([f"Participant {key}" if key else "", _full_name(report, r), _score(report, r),
                     fmt_points(report.rubric.max_total), written, why or feedback_line(r)])
    return csv_text(rows)


def blackboard_column(report: ClassReport) -> str:
    """``HW4 [Total Pts: 3 Score]``; with a Grade Center column id (``--assignment "HW4 |123456"``, or a
    downloaded header as it is) the id goes last, where Blackboard's own download puts it."""
    m = _BLACKBOARD_ID.fullmatch(report.assignment)
    if m and "[Total Pts:" in m.group(1):
        return report.assignment
    name, column_id = (m.group(1), m.group(2)) if m else (report.assignment, "")
    return f"{name} [Total Pts: {fmt_points(report.rubric.max_total)} Score]" + (f" |{column_id}" if column_id else "")


def _quoted_csv(rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL)
    for row in rows:
        w.writerow([textsafe.csv_cell(c) if isinstance(c, str) else c for c in row])
    return buf.getvalue()


@register_format("blackboard", scope="class", filename="blackboard.csv",
                 help="Blackboard Grade Center upload (Last Name, First Name, Username, assignment column)")
def blackboard_csv(report: ClassReport) -> str:
    rows: list[list[Any]] = [["Last Name", "First Name", "Username", blackboard_column(report)]]
    for r in report.results:
        o = report.origin(r.student)
        last, first = _split_name(str(o.get("full_name", ""))) if o.get("full_name") else ("", "")
        if o.get("unrecognised"):
            last, first = _full_name(report, r), ""
        elif o.get("username_guess"):
            last, first = (f"(username unknown: {r.student}) the download has no receipt for "
                           f"'{o['username_guess']}' and the name could split elsewhere; find the username "
                           "in the Grade Center"), ""
        rows.append([last, first, _key(report, r, "blackboard"), _score(report, r)])
    return _quoted_csv(rows)


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
                     last, first, str(o.get("email", "")), _score(report, r), "0", _score(report, r),
                     fmt_points(report.rubric.max_total)])
    return csv_text(rows)
