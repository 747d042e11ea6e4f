"""``classroom``: what GitHub Classroom's grading reporter reads, one runner per question.

Each runner's result is base64 of ``{"version": 1, "status", "max_score", "tests": [...]}``
(the ``classroom-resources/autograding-*`` runners' format, ``../shared/notes/formats.md``),
written to ``$GITHUB_OUTPUT`` as ``<runner>=<base64>`` on one line. The reporter adds each
runner's ``max_score`` to the maximum and its tests' ``score`` to the points, and fails the
job when a runner's status is ``fail`` or ``error``; so every runner says ``pass`` and the
score carries the partial credit. Questions graded only in the instructor's run (hidden, or
scored relative to the class) are reported with ``max_score`` 0 and a test saying they are
pending, so Classroom's points are those the student's workflow can actually award.

Runner ids are the question ids reduced to lower-case letters and digits (the reporter
upper-cases them into ``<RUNNER>_RESULTS`` variables and accepts nothing else).

Student text reaches the Actions log through the reporter: every line that would start with
``::`` (a workflow command such as ``::add-mask::`` or ``::error``) is defanged.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from grader.core import textsafe
from grader.core.results import QuestionResult, Status, SubmissionResult
from grader.render import ClassReport, register_format
from grader.render.common import fmt_points
from grader.rubric import Rubric
from grader.rubric.kinds import get_kind

MAX_MESSAGE = 4000
_COMMAND_LINE = re.compile(r"^(\s*):(?=:)", re.M)


def runner_ids(rubric: Rubric) -> dict[str, str]:
    """Question id -> runner id: letters and digits only, lower case, unique."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for q in rubric.questions:
        base = re.sub(r"[^a-z0-9]", "", q.id.lower()) or "q"
        rid, n = base, 2
        while rid in used:
            rid, n = f"{base}{n}", n + 1
        used.add(rid)
        out[q.id] = rid
    return out


def actions_log_text(text: object, limit: int = MAX_MESSAGE) -> str:
    """Student text for the Actions log: no control characters, no line the runner reads as a command."""
    s = textsafe.terminal(text)
    if len(s) > limit:
        s = s[: limit - 1] + "\N{HORIZONTAL ELLIPSIS}"
    return _COMMAND_LINE.sub(r"\1: ", s)


def relative_questions(rubric: Rubric) -> set[str]:
    """Questions scored relative to the class (their check kind says so)."""
    return {q.id for q in rubric.questions
            if any((k := get_kind(c.kind)) is not None and k.class_relative for c in q.checks)}


def pending_reason(q: QuestionResult, hidden: set[str], relative: set[str]) -> str | None:
    """Why a student's own run cannot score ``q`` (None when it can)."""
    if q.id in hidden:
        return "pending: graded by your instructor with hidden tests after the deadline"
    if q.id in relative or q.relative is not None:
        return ("pending: scored relative to the best in the class when your instructor grades the class; "
                + q.reason)
    if q.status is Status.PENDING:
        return "pending: " + q.reason
    return None


def runner_result(q: QuestionResult, pending: str | None) -> dict[str, Any]:
    name = f"{q.id}: {actions_log_text(q.title, 200)}"
    max_score: float
    if pending is not None:
        test = {"name": f"{name} (pending)", "status": "pass", "score": 0, "message": actions_log_text(pending)}
        max_score = 0
    else:
        status = "error" if q.status is Status.ERROR else "pass" if q.status is Status.PASSED else "fail"
        message = q.reason + ("\n(flagged for manual review by your instructor)" if q.manual_review else "")
        test = {"name": name, "status": status, "score": q.score, "message": actions_log_text(message)}
        max_score = q.max_score
    test.update(test_code="", filename="", line_no=0, duration=0)
    return {"version": 1, "status": "pass", "max_score": max_score, "tests": [test]}


def classroom_results(result: SubmissionResult, rubric: Rubric, hidden: set[str] | None = None
                      ) -> dict[str, dict[str, Any]]:
    """Runner id -> the runner's result, for every question of the rubric, in rubric order. Questions
    in ``hidden`` (or missing from ``result``) and class-relative ones are pending."""
    ids = runner_ids(rubric)
    by_id = {q.id: q for q in result.questions}
    hidden = set(hidden or ()) | {q.id for q in rubric.questions if q.hidden or q.id not in by_id}
    relative = relative_questions(rubric)
    out = {}
    for rq in rubric.questions:
        q = by_id.get(rq.id) or QuestionResult(id=rq.id, title=rq.title, score=0.0, max_score=rq.points,
                                               status=Status.PENDING, reason="not graded in this run")
        out[ids[rq.id]] = runner_result(q, pending_reason(q, hidden, relative))
    return out


def points(runners: dict[str, dict[str, Any]]) -> tuple[float, float]:
    """``(points, maximum)`` as the reporter adds them up."""
    total = maximum = 0.0
    for r in runners.values():
        if r["max_score"]:
            maximum += r["max_score"]
            total += sum(t["score"] for t in r["tests"])
    return total, maximum


def encode(result: dict[str, Any]) -> str:
    """One line of base64, no wrapping (``$GITHUB_OUTPUT`` is line-based)."""
    return base64.b64encode(json.dumps(result, ensure_ascii=False).encode("utf-8")).decode("ascii")


def github_output(runners: dict[str, dict[str, Any]]) -> str:
    return "".join(f"{rid}={encode(r)}\n" for rid, r in runners.items())


def job_summary(result: SubmissionResult, runners: dict[str, dict[str, Any]], rubric: Rubric) -> str:
    """Markdown for ``$GITHUB_STEP_SUMMARY``: the page a student opens from the workflow run."""
    md = textsafe.markdown
    total, maximum = points(runners)
    ids = runner_ids(rubric)
    lines = [f"### mlgrade: {md(rubric.name)}", "",
             f"**{fmt_points(total)} / {fmt_points(maximum)}** points from this workflow", "",
             "| question | score | why |", "| --- | --- | --- |"]
    for q in result.questions:
        r = runners.get(ids.get(q.id, ""))
        if r is None:
            continue
        t = r["tests"][0]
        score = "pending" if r["max_score"] == 0 and "(pending)" in t["name"] else \
            f"{fmt_points(q.score)} / {fmt_points(q.max_score)}"
        lines.append(f"| {md(q.id)}: {md(q.title)} | {score} | {md(t['message'])} |")
    for e in result.errors:
        lines.append(f"\n**error:** {md(e)}")
    return "\n".join(lines) + "\n"


@register_format("classroom", scope="submission", filename="classroom.txt",
                 help="GitHub Classroom runner outputs (<runner>=<base64> lines, as written to $GITHUB_OUTPUT)")
def render_classroom(result: SubmissionResult, report: ClassReport) -> str:
    return github_output(classroom_results(result, report.rubric))
