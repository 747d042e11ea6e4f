"""``gradescope``: Gradescope's ``results.json`` (one ``tests[]`` entry per question).

Schema: ``../shared/notes/formats.md``. Output is declared as plain text, and student text is
stripped of control characters, so nothing a student wrote is rendered as HTML or ANSI.
"""

from __future__ import annotations

from typing import Any

from grader.core import textsafe
from grader.core.files import json_text
from grader.core.results import Status, SubmissionResult
from grader.render import ClassReport, register_format
from grader.render.common import decision_text, fmt_points


def to_gradescope(result: SubmissionResult, origin: dict[str, Any] | None = None) -> dict[str, Any]:
    safe = textsafe.terminal
    tests = []
    for q in result.questions:
        output = safe(q.reason)
        if q.status is Status.PENDING:
            output = "Not graded yet. " + output
        if q.review is not None:
            output += "\n" + safe(decision_text(q))
        elif q.manual_review:
            output += "\n(flagged for manual review)"
        tests.append(
            {
                "name": f"{q.id}: {safe(q.title)}",
                "number": q.id,
                "score": q.score,
                "max_score": q.max_score,
                "status": "passed" if q.max_score > 0 and q.score >= q.max_score else "failed",
                "output": output,
                "output_format": "text",
            }
        )
    lines = [f"{safe(result.student)}: {fmt_points(result.total)}/{fmt_points(result.max_total)}"]
    lines += [f"error: {safe(e)}" for e in result.errors] + [f"note: {safe(w)}" for w in result.warnings]
    extra: dict[str, Any] = {
        "student": result.student,
        "grader_version": result.grader_version,
        "rubric_hash": result.rubric_hash,
        "submission_hash": result.submission_hash,
    }
    if origin:
        extra["origin"] = origin
    return {
        "score": result.total,
        "execution_time": result.elapsed_s,
        "output": "\n".join(lines),
        "output_format": "text",
        "test_output_format": "text",
        "tests": tests,
        "extra_data": extra,
    }


@register_format("gradescope", scope="submission", filename="results.json", default=True,
                 help="Gradescope's results.json, one test per question")
def render_gradescope(result: SubmissionResult, report: ClassReport) -> str:
    return json_text(to_gradescope(result, report.origin(result.student)))
