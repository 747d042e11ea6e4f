"""``gradescope-scores``: the class's final scores as a CSV for Gradescope's score import.

On Gradescope each container grades one student, so a score relative to the class (the digits
question) is provisional there: ``points x accuracy / 1.0``. After the deadline the class is graded
as one batch, where the class best is known and the instructor's decisions are applied; this file
carries those final scores back. One row per student (per submitter of a group submission)::

    Name,SID,Email,Total Score
    Alice Liddell,S1001,alice@uni.edu,49

Gradescope matches a row to its roster by Email (or SID); the name is for the person reading it.
They come from each student's origin (the export's ``submission_metadata.yml``, or Gradescope's
``submission_metadata.json`` in a result graded there); a student graded from elsewhere has neither,
keeps their mlgrade id as the name and is listed first, so the importer's "unmatched" list names them.
"""

from __future__ import annotations

from typing import Any

from grader.core.results import SubmissionResult
from grader.render import ClassReport, register_format
from grader.render.common import fmt_points
from grader.render.tables import csv_text

HEADER = ["Name", "SID", "Email", "Total Score"]


def people(report: ClassReport, r: SubmissionResult) -> list[dict[str, str]]:
    """Who the result belongs to on Gradescope: every submitter of a group, else the origin itself."""
    origin = report.origin(r.student)
    group = origin.get("submitters")
    found = [p for p in group if isinstance(p, dict)] if isinstance(group, list) else []
    return found or [origin]


def rows(report: ClassReport) -> list[list[Any]]:
    out: list[tuple[bool, list[Any]]] = []
    for r in report.results:
        for p in people(report, r):
            email, sid = str(p.get("email", "")), str(p.get("sid", ""))
            name = str(p.get("full_name", "")) or r.student
            out.append((bool(email or sid), [name, sid, email, fmt_points(r.total)]))
    out.sort(key=lambda x: (x[0], x[1][0].casefold(), x[1][2]))  # the rows Gradescope cannot match come first
    return [row for _, row in out]


@register_format("gradescope-scores", scope="class", filename="gradescope_scores.csv",
                 help="final scores for Gradescope's score import (Name, SID, Email, Total Score)")
def gradescope_scores_csv(report: ClassReport) -> str:
    return csv_text([HEADER, *rows(report)])
