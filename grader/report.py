"""Stage 5: render result records — terminal table and Gradescope ``results.json``."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.results import Status, SubmissionResult

_STYLE = {
    Status.PASSED: "green",
    Status.PARTIAL: "yellow",
    Status.FAILED: "red",
    Status.PENDING: "dim",
    Status.ERROR: "magenta",
}
_LABEL = {
    Status.PASSED: "passed",
    Status.PARTIAL: "partial",
    Status.FAILED: "failed",
    Status.PENDING: "not graded yet",
    Status.ERROR: "grader error",
}


def fmt_points(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def render_terminal(result: SubmissionResult, console: Console | None = None, title: str = "") -> None:
    console = console or Console()
    head = title or f"mlgrade: {result.student}"
    console.print(Text(head, style="bold"))
    if result.errors:
        for e in result.errors:
            console.print(Text("error: ", style="bold red") + Text(e))
    for w in result.warnings:
        console.print(Text("note: ", style="yellow") + Text(w))
    table = Table(show_lines=True, expand=False)
    table.add_column("id", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("question and reason", overflow="fold", ratio=1)
    for q in result.questions:
        status = Text(_LABEL[q.status], style=_STYLE[q.status])
        if q.manual_review:
            status.append("\n+ review", style="cyan")
        table.add_row(
            q.id,
            f"{fmt_points(q.score)}/{fmt_points(q.max_score)}",
            status,
            Text(q.title, style="bold") + Text("\n" + q.reason),
        )
    console.print(table)
    console.print(
        Text(f"total {fmt_points(result.total)}/{fmt_points(result.max_total)}", style="bold")
    )
    pending = [q.id for q in result.questions if q.status is Status.PENDING]
    if pending:
        console.print(Text(f"not graded yet by this version: {', '.join(pending)}", style="dim"))
    review = [q.id for q in result.questions if q.manual_review]
    if review:
        console.print(Text(f"flagged for manual review by the instructor: {', '.join(review)}", style="dim"))


def to_gradescope(result: SubmissionResult) -> dict[str, Any]:
    """Gradescope's ``results.json`` schema: ``score`` plus one ``tests[]`` entry per question."""
    tests = []
    for q in result.questions:
        output = q.reason
        if q.status is Status.PENDING:
            output = "Not graded yet. " + output
        if q.manual_review:
            output += "\n(flagged for manual review)"
        tests.append(
            {
                "name": f"{q.id}: {q.title}",
                "number": q.id,
                "score": q.score,
                "max_score": q.max_score,
                "status": "passed" if q.max_score > 0 and q.score >= q.max_score else "failed",
                "output": output,
            }
        )
    lines = [f"{result.student}: {fmt_points(result.total)}/{fmt_points(result.max_total)}"]
    lines += [f"error: {e}" for e in result.errors] + [f"note: {w}" for w in result.warnings]
    return {
        "score": result.total,
        "execution_time": result.elapsed_s,
        "output": "\n".join(lines),
        "tests": tests,
        "extra_data": {
            "student": result.student,
            "grader_version": result.grader_version,
            "rubric_hash": result.rubric_hash,
            "submission_hash": result.submission_hash,
        },
    }


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that a reader (or a crash) never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
