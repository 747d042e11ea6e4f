"""``mlgrade check``: a student's self-check of one submission."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from grader.cli.common import (
    EXIT_OK,
    UsageError,
    add_isolation,
    add_rubric,
    progress_line,
    writable_file,
    write_output,
)
from grader.core.environment import check_requirements
from grader.execute.isolation import for_command as isolation_for
from grader.render import ClassReport, UnknownFormat, formats, get_format, render_one
from grader.render.terminal import print_result
from grader.rubric.model import LOCAL_RUBRIC, default_rubric_path, load_for_command
from grader.student import replay
from grader.student.selfcheck import self_check


def arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = ("Example: mlgrade check my_hw4.zip --rubric mlgrade-kit/rubric.yaml. It prints each question's "
                "score and why; fix what it names, zip again, and check again.")
    p.add_argument("submission", type=Path, help="the .zip you will hand in, or its folder")
    add_rubric(p, "the rubric from your instructor's kit (default: rubric.yaml in this folder)")
    p.add_argument("--format", default="terminal", metavar="NAME",
                   help="print the report in another form instead of the table: html (a web page) or gradescope "
                   "(JSON, as Gradescope shows it); default: terminal (the table)")
    p.add_argument("-o", "--output", type=Path, metavar="FILE",
                   help="write the --format output to FILE (the table still goes to the terminal)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the report as Gradescope's results.json here")
    p.add_argument("--html", type=Path, metavar="FILE",
                   help="also write a web page with your images, your equation and the errors here")
    p.add_argument("--keep-work", action="store_true",
                   help="keep the folder your submission was unpacked into and your notebooks ran in (its path "
                   "is printed at the end), to look at what the grader saw")
    p.add_argument("--no-cache", action="store_true",
                   help="grade every question again (by default, questions whose files did not change since "
                   "your last check reuse their results)")
    add_isolation(p, "where your notebooks run: auto (default) uses the grader's sandbox when this computer has "
                  "it (Linux with bubblewrap) and otherwise runs them as you, which changes nothing for a check "
                  "of your own code; bwrap insists on the sandbox; uid runs them as another user (grading servers, "
                  "as root); none never uses it")


def run(args: argparse.Namespace) -> int:
    if not args.submission.exists():
        raise UsageError(f"{args.submission}: no such file or folder")
    try:
        fmt = get_format(args.format)
    except UnknownFormat as e:
        raise UsageError(str(e)) from None
    if fmt.scope != "submission":  # a class's grade file says nothing about one submission
        ones = ", ".join(f.name for f in formats() if f.scope == "submission")
        raise UsageError(f"--format {fmt.name}: a file for a whole class, made by mlgrade grade; for your "
                         f"submission: {ones}")
    for option, path in (("-o/--output", args.output), ("--json", args.json), ("--html", args.html)):
        writable_file(option, path)
    rubric = load_for_command(args.rubric)
    check_requirements(rubric.requires, "check")
    isolation_for(args.isolation, "check")
    # thumbnails of the student's images only when a page will show them
    pictures = args.html is not None or fmt.name == "html"
    recorder = None
    if (fmt.name == "terminal" and args.output is None and args.json is None and args.html is None
            and not args.keep_work and not args.no_cache and getattr(args, "argv", None) is not None):
        rubric_path = args.rubric or default_rubric_path()
        # what the check reads: the submission, the rubric and its files, and which rubric.yaml is the default
        inputs = [args.submission, rubric_path, *rubric.asset_files(), *([LOCAL_RUBRIC] if args.rubric is None
                                                                         else [])]
        recorder = replay.Recorder(args.argv, inputs)
    with progress_line(f"checking {args.submission.name}"):
        check = self_check(args.submission, rubric, args.isolation, keep_work=args.keep_work,
                           feedback_images=pictures, remember=not args.no_cache)
    result = check.result
    report = ClassReport(rubric, [result], self_check=True)
    if fmt.name == "terminal" or args.output is not None:
        tee = replay.Tee(sys.stdout) if recorder is not None else None
        console = Console(file=tee)  # type: ignore[arg-type]  # a stream as rich uses one: write, isatty, fileno
        print_result(result, console, title=check.title())
        for note in check.notes:  # once, after the table: without the sandbox, provisional, hidden
            if note != check.reuse_note:
                console.print(f"note: {note}", markup=False, highlight=False)
        if recorder is not None and tee is not None:
            recorder.keep(tee.text())  # the question cache's note is replaced by the replay's own
        if check.reuse_note:
            console.print(f"note: {check.reuse_note}", markup=False, highlight=False)
    if fmt.name != "terminal" or args.output is not None:
        data = render_one(fmt.name, result, report)
        if args.output is not None:
            write_output(args.output, data)
        else:
            sys.stdout.buffer.write(data.encode("utf-8") if isinstance(data, str) else data)
            sys.stdout.flush()
    for path, name in ((args.json, "gradescope"), (args.html, "html")):
        if path is not None:
            write_output(path, render_one(name, result, report))
    return EXIT_OK
