"""``mlgrade classroom``: grade the repository a GitHub Classroom workflow runs in, and answer in the
runner's protocol (outputs, job summary, points) without letting the student's text act as a command."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.console import Console

from grader.cli.common import EXIT_OK, UsageError, add_isolation, add_rubric, writable_file, write_output
from grader.execute.isolation import for_command as isolation_for
from grader.platforms.classroom import classroom_points, grade_repository, stop_commands_token, write_github_files
from grader.render import ClassReport, render_one
from grader.render.classroom import relative_questions
from grader.render.common import fmt_points
from grader.render.terminal import print_result
from grader.rubric.model import load_for_command


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", type=Path, nargs="?", default=Path("."), metavar="PATH",
                   help="the repository (its last commit is graded), a folder or a .zip (default: .)")
    add_rubric(p)
    p.add_argument("--output", type=Path, metavar="FILE",
                   help="where the runner outputs go (default: $GITHUB_OUTPUT; printed when unset)")
    p.add_argument("--html", type=Path, metavar="FILE", help="also write the feedback page here")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write Gradescope-style results.json here")
    add_isolation(p, "sandbox for student code (default: bubblewrap when available)")


def run(args: argparse.Namespace) -> int:
    if not args.path.exists():
        raise UsageError(f"{args.path}: no such file or folder")
    github_output = Path(os.environ["GITHUB_OUTPUT"]) if os.environ.get("GITHUB_OUTPUT") else None
    for option, path in (("--output", args.output or github_output), ("--html", args.html), ("--json", args.json)):
        writable_file(option if path is not github_output else "$GITHUB_OUTPUT", path)
    rubric = load_for_command(args.rubric)
    isolation = isolation_for(args.isolation, "classroom")
    graded = grade_repository(args.path, rubric, isolation, feedback_images=args.html is not None)
    output = args.output or (Path(os.environ["GITHUB_OUTPUT"]) if os.environ.get("GITHUB_OUTPUT") else None)
    summary = Path(os.environ["GITHUB_STEP_SUMMARY"]) if os.environ.get("GITHUB_STEP_SUMMARY") else None
    write_github_files(graded, rubric, output, summary)
    # Nothing the student wrote may act as a workflow command while the report is printed.
    token = stop_commands_token()
    print(f"::stop-commands::{token}", flush=True)
    what = f"commit {graded.commit[:12]}" if graded.commit else str(args.path)
    print_result(graded.result, Console(), title=f"mlgrade classroom: {what} ({rubric.name})")
    got, out_of = classroom_points(graded)
    pending = [q.id for q in rubric.questions if q.hidden or q.id in relative_questions(rubric)]
    print(f"Classroom points: {fmt_points(got)}/{fmt_points(out_of)}"
          + (f"; pending the instructor's grading: {', '.join(pending)}" if pending else ""))
    if graded.commit:
        print("graded the last commit; changes that are not committed and pushed are not graded")
    if output is None:
        print("\n$GITHUB_OUTPUT is not set (not running in GitHub Actions); the runner outputs would be:")
        for rid in graded.runners:
            print(f"  {rid}=<base64, {len(str(graded.runners[rid]))} characters of JSON>")
    print(f"::{token}::", flush=True)
    for path, name in ((args.html, "html"), (args.json, "gradescope")):
        if path is not None:
            write_output(path, render_one(name, graded.result, ClassReport(rubric, [graded.result], self_check=True)))
    return EXIT_OK
