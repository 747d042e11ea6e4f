"""``mlgrade validate``: grade an assignment's samples and fail when its tests misjudge one."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.authoring.assignments import validate
from grader.cli.common import EXIT_INVALID, EXIT_OK, UsageError, add_isolation, must_be_folder
from grader.execute.isolation import for_command as isolation_for
from grader.render.common import fmt_points
from grader.rubric.model import load_for_command


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("rubric", type=Path, help="the rubric (its samples are in samples/ next to it)")
    p.add_argument("--samples", type=Path, help="a folder of sample submissions (default: next to the rubric)")
    add_isolation(p, "sandbox for the samples' code (default: bubblewrap when available)")


def run(args: argparse.Namespace) -> int:
    load_for_command(args.rubric)  # rubric mistakes: exit 2 with their key paths
    must_be_folder("--samples", args.samples)
    isolation = isolation_for(args.isolation, "check")
    try:
        verdicts = validate(args.rubric, args.samples, isolation)
    except (FileNotFoundError, ValueError) as e:
        raise UsageError(str(e)) from None
    console = Console()
    table = Table(title=f"mlgrade validate: {args.rubric}", show_lines=True)
    for col in ("sample", "expected", "scores", "verdict"):
        table.add_column(col, overflow="fold")
    for v in verdicts:
        scores = ", ".join(f"{q.id} {fmt_points(q.score)}/{fmt_points(q.max_score)}" for q in v.result.questions)
        scores += f"; total {fmt_points(v.result.total)}/{fmt_points(v.result.max_total)}"
        hidden = [f"{q.id}: {n}" for q in v.result.questions for c in q.checks for n in c.instructor_notes]
        if hidden:  # why hidden parts failed: students never see it, the instructor must
            scores += "\nhidden, for you only: " + "; ".join(hidden[:6]) + (" …" if len(hidden) > 6 else "")
        verdict = Text("ok", style="green") if v.ok else Text("\n".join(v.problems), style="red")
        table.add_row(v.sample, v.expectation, scores, verdict)
    console.print(table)
    bad = [v.sample for v in verdicts if not v.ok]
    if bad:
        console.print(Text(f"validation failed for {', '.join(bad)}", style="bold red"))
        return EXIT_INVALID
    console.print(Text(f"{len(verdicts)} samples graded as expected", style="bold green"))
    return EXIT_OK
