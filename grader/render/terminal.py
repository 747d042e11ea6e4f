"""``terminal``: the table a student or instructor reads in a terminal (``mlgrade check``).

Every string that came from a submission goes through :func:`grader.core.textsafe.terminal`, so a
file name or an exception message cannot move the cursor, clear the screen or hide text.
"""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.core import textsafe
from grader.core.results import Status, SubmissionResult
from grader.render import ClassReport, register_format
from grader.render.common import LABEL, LOOK, decision_text, fmt_points, review_progress


def print_result(result: SubmissionResult, console: Console | None = None, title: str = "") -> None:
    """The report, in colour where ``console`` supports it."""
    console = console or Console()
    safe = textsafe.terminal
    console.print(Text(safe(title or f"mlgrade: {result.student}"), style="bold"))
    for e in result.errors:
        console.print(Text("error: ", style="bold red") + Text(safe(e)))
    for w in result.warnings:
        console.print(Text("note: ", style="yellow") + Text(safe(w)))
    table = Table(show_lines=True, expand=False)
    table.add_column("id", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("question and reason", overflow="fold", ratio=1)
    for q in result.questions:
        status = Text(LABEL[q.status], style=LOOK[q.status].terminal)
        if q.review is not None:
            status.append("\n+ reviewed", style="cyan")
        elif q.manual_review:
            status.append("\n+ review", style="cyan")
        text = Text(safe(q.title), style="bold") + Text("\n" + safe(q.reason))
        if q.review is not None:
            text += Text("\n" + safe(decision_text(q)), style="cyan")
        table.add_row(q.id, f"{fmt_points(q.score)}/{fmt_points(q.max_score)}", status, text)
    console.print(table)
    console.print(Text(total_line(result), style="bold"))
    pending = [q.id for q in result.questions if q.status is Status.PENDING]
    if pending:
        console.print(Text(f"pending, not scored in this run: {', '.join(pending)} (the reasons say why)", style="dim"))
    review = [q.id for q in result.questions if q.awaiting_review]
    if review:
        console.print(Text(f"flagged for manual review by the instructor: {', '.join(review)}", style="dim"))


def total_line(result: SubmissionResult) -> str:
    """``total 2.5/10``, and when some questions are pending (hidden, or graded later), what the run could
    score: a self-check's public part is not mistaken for a failing grade."""
    later = sum(q.max_score for q in result.questions if q.status is Status.PENDING)
    line = f"total {fmt_points(result.total)}/{fmt_points(result.max_total)}"
    if later > 0:
        line += (f" (scored in this run: {fmt_points(result.total)} of {fmt_points(result.max_total - later)}; "
                 f"{fmt_points(later)} points pending)")
    return line


@register_format("terminal", scope="submission", filename="report.txt",
                 help="the readable table mlgrade check prints (plain text in a file)")
def render_terminal_text(result: SubmissionResult, report: ClassReport) -> str:
    buf = io.StringIO()
    print_result(result, Console(file=buf, width=110, color_system=None, force_terminal=False))
    return buf.getvalue()


def print_class_summary(console: Console, report: ClassReport, graded: int, reused: int, unfinished: int,
                        wall_s: float, crashed: int = 0) -> None:
    """The table that closes ``mlgrade grade``: per question, and what the run did (``crashed``: submissions
    graded with a check the grader's own code failed in, twice)."""
    import statistics

    results = report.results
    table = Table(title=textsafe.one_line(f"{report.rubric.name}: {len(results)} submissions"))
    for col in ("question", "max", "mean", "min", "max scored", "full marks"):
        table.add_column(col, justify="left" if col == "question" else "right")
    for q in report.rubric.questions:
        scores = [r.question(q.id).score for r in results]
        full = sum(r.question(q.id).status is Status.PASSED for r in results)
        table.add_row(q.id, fmt_points(q.points), f"{statistics.fmean(scores):.2f}" if scores else "-",
                      fmt_points(min(scores, default=0)), fmt_points(max(scores, default=0)), str(full))
    console.print(table)
    rate = graded / wall_s * 60 if wall_s else 0.0
    line = (f"graded {graded}, reused {reused} stored results, {unfinished} could not be "
            f"finished; {wall_s:.1f} s ({rate:.1f} submissions/min)")
    if crashed:
        line += (f"; {crashed} with a check that failed in the grader itself, its question an error, not a "
                 "score (the same command grades them again)")
    for qid, best in report.bests.items():
        line += f"; class best for {qid}: {best:.4f}" if best is not None else f"; no valid result for {qid}"
    console.print(line)
    print_review_status(console, report)


def print_review_status(console: Console, report: ClassReport) -> None:
    """How far manual review has got, and every decision of the instructor's that was not applied."""
    reviewed, flagged = review_progress(report.results)
    applied = len(report.overrides.applied) if report.overrides else 0
    folder = textsafe.one_line(report.overrides.folder) if report.overrides and report.overrides.folder else "DIR"
    if flagged or applied:
        console.print(f"manual review: {reviewed} of {flagged} flagged items reviewed; {applied} decisions of yours "
                      "applied" + (f" (`mlgrade review {folder}` to go on)" if reviewed < flagged else ""))
    for note in report.overrides.notes() if report.overrides else []:
        console.print(Text(textsafe.one_line(note), style="yellow"))
