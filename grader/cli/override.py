"""``mlgrade override``: an instructor's own score for a student's question, kept through regrades."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from grader.classstep.classwide import NoClass, apply_class_relative, class_step, stored_class
from grader.classstep.overrides import (
    Override,
    OverridesError,
    clear_override,
    now,
    parse_decision,
    put_override,
    reviewer,
)
from grader.classstep.report import ClassReport
from grader.cli.common import EXIT_OK, UsageError, class_writable, cli_text
from grader.core.textsafe import one_line
from grader.render.common import fmt_points, review_progress
from grader.render.export import export_class


def arguments(o: argparse.ArgumentParser) -> None:
    o.add_argument("out", type=Path, metavar="DIR", help="the graded class (mlgrade grade --out DIR)")
    o.add_argument("student", nargs="?", metavar="STUDENT", help="the student id (as in grades.csv)")
    o.add_argument("question", nargs="?", metavar="QUESTION", help="the question id (as in the rubric)")
    o.add_argument("decision", nargs="?", metavar="SCORE",
                   help="the new score (0.25), a change to the automatic score (+0.5, -1), or 'accept'")
    o.add_argument("-m", "--message", default="", metavar="COMMENT", help="why; the student sees it")
    o.add_argument("--by", default=None, metavar="NAME", help="who decides (default: $MLGRADE_REVIEWER or your login)")
    o.add_argument("--clear", action="store_true", help="remove the decision on STUDENT's QUESTION")
    o.add_argument("--list", action="store_true", help="list every decision and whether it applies")
    o.add_argument("--no-export", action="store_true",
                   help="do not rewrite the grade files now (the next grade, override or review does)")


def run(args: argparse.Namespace) -> int:
    try:
        return _override(args)
    except (NoClass, OverridesError) as e:
        raise UsageError(str(e)) from None


def _override(args: argparse.Namespace) -> int:
    rubric, results, manifest = stored_class(args.out)
    if not args.list:
        class_writable(args.out)
    args.message, args.by = cli_text(args.message) or "", cli_text(args.by)
    if args.list:
        print_decisions(class_step(rubric, results, args.out))
        return EXIT_OK
    if args.student is None or args.question is None:
        if args.student is None and not args.clear and not args.no_export:
            export_class(args.out)  # `mlgrade override DIR`: apply the decisions to the grade files now
            print(f"rewrote the grade files in {args.out} with your decisions")
            return EXIT_OK
        raise UsageError("give STUDENT and QUESTION (and SCORE, or --clear)")
    by_student = {r.student: r for r in results}
    if args.student not in by_student:
        close = difflib.get_close_matches(args.student, list(by_student), n=3)
        raise UsageError(f"no student {args.student!r} in {args.out}"
                         + (f" (did you mean {', '.join(close)}?)" if close else ""))
    ids = [q.id for q in rubric.questions]
    if args.question not in ids:
        raise UsageError(f"no question {args.question!r} in the rubric (questions: {', '.join(ids)})")
    if args.clear:
        if args.decision is not None:
            raise UsageError("--clear takes no SCORE")
        old = clear_override(args.out, args.student, args.question)
        print(f"{args.student} {args.question}: " + (f"removed your decision ({one_line(old.describe())})"
                                                    if old else "there was no decision to remove"))
    else:
        if args.decision is None:
            raise UsageError("give the SCORE (0.25), a change (+0.5, -1) or 'accept'; or --clear")
        try:
            decision = parse_decision(args.decision)
        except ValueError as e:
            raise UsageError(str(e)) from None
        points = next(q.points for q in rubric.questions if q.id == args.question)
        score = decision.get("score")
        if score is not None and not 0 <= score <= points:
            raise UsageError(f"{args.question} is worth {fmt_points(points)} points; got {args.decision}")
        apply_class_relative(rubric, results)  # the automatic score, as the class step gives it
        r = by_student[args.student]
        q = r.question(args.question)
        ov = Override(student=args.student, question=args.question, comment=args.message,
                      by=args.by if args.by is not None else reviewer(), at=now(),
                      submission_hash=r.submission_hash, automatic=q.score, **decision)
        put_override(args.out, ov)
        print(f"{args.student} {args.question}: {fmt_points(q.score)} -> "
              f"{fmt_points(ov.new_score(q.score, q.max_score))} of {fmt_points(q.max_score)}"
              + (f" ({one_line(args.message, 200)})" if args.message else ""))
    if not args.no_export:
        report = export_class(args.out)
        print(f"rewrote the grade files in {args.out} ({', '.join(manifest.formats)})")
        for line in report.overrides.notes() if report.overrides else []:
            print(f"note: {one_line(line)}", file=sys.stderr)
    return EXIT_OK


def print_decisions(report: ClassReport) -> None:
    ov = report.overrides
    if ov is None:  # class_step sets it: a report that did not come from it has no decisions to show
        raise ValueError("the class report did not go through class_step")
    table = Table(title="your decisions")
    for col in ("student", "question", "decision", "automatic", "score", "comment", "state"):
        table.add_column(col, overflow="fold" if col == "comment" else "ellipsis")
    for a in ov.applied:
        o = a.override
        table.add_row(one_line(o.student), o.question, o.describe(), fmt_points(a.automatic), fmt_points(a.score),
                      one_line(o.comment, 120), "applied")
    for st in ov.stale:
        o = st.override
        table.add_row(one_line(o.student), o.question, o.describe(), "", "", one_line(o.comment, 120),
                      "stale: submission changed")
    for o, why in ov.unknown:
        table.add_row(one_line(o.student), o.question, o.describe(), "", "", one_line(o.comment, 120), why)
    Console().print(table)
    reviewed, flagged = review_progress(report.results)
    print(f"{reviewed} of {flagged} flagged items reviewed")
