"""The ``mlgrade`` command line: the edge where users meet the stages below.

Exit codes: 0 when grading ran (whatever the scores), 2 for a usage or rubric
error, 1 when ``mlgrade validate`` finds a sample graded against expectations, 3 when a
Dask cluster (``--scheduler``) cannot grade. Bad student input never produces a
traceback: it becomes a reason in the report.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from grader import __version__
from grader.isolation import ISOLATION_CHOICES

EXIT_OK = 0
EXIT_INVALID = 1  # mlgrade validate: a sample was not graded as expected
EXIT_USAGE = 2
EXIT_CLUSTER = 3  # --scheduler: the cluster cannot grade (unreachable, no usable worker, connection lost)


class UsageError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    _tolerant_output()
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.func(args)
    except UsageError as e:
        print(f"mlgrade: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("mlgrade: interrupted", file=sys.stderr)
        return 130


def _tolerant_output() -> None:
    """A Windows console or a redirected output in a legacy code page cannot encode every character a
    student's file name or output holds: print a replacement character rather than fail."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="replace")  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            pass


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mlgrade",
        description="Grade machine-learning homework: notebooks, Keras models, images, equations.",
    )
    p.add_argument("--version", action="version", version=f"mlgrade {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    c = sub.add_parser("check", help="self-check one submission (a .zip or a folder)")
    c.add_argument("submission", type=Path, help="the .zip you will hand in, or its folder")
    c.add_argument("--rubric", type=Path, help="rubric YAML (default: ./rubric.yaml)")
    c.add_argument("--format", default="terminal", metavar="NAME",
                   help="output format (default: terminal; `mlgrade formats` lists them)")
    c.add_argument("-o", "--output", type=Path, metavar="FILE",
                   help="write the --format output to FILE (the readable report still goes to the terminal)")
    c.add_argument("--json", type=Path, metavar="FILE", help="also write Gradescope-style results.json here")
    c.add_argument("--html", type=Path, metavar="FILE", help="also write a self-contained feedback page here")
    c.add_argument("--keep-work", action="store_true", help="keep the unpacked work folder for inspection")
    c.add_argument("--no-cache", action="store_true",
                   help="grade every question again (by default, questions whose files did not change since "
                   "your last check reuse their results)")
    c.add_argument("--isolation", choices=ISOLATION_CHOICES, default="auto",
                   help="sandbox for student code (default: bubblewrap when available)")
    c.set_defaults(func=_cmd_check)

    g = sub.add_parser("grade", help="grade a batch: zips, folders of zips, an LMS bulk download, or repositories")
    g.add_argument("paths", type=Path, nargs="*", metavar="PATH",
                   help="zips, folders of zips, an LMS bulk download, or a folder of git clones")
    g.add_argument("--out", type=Path, required=True, metavar="DIR", help="where grades are written")
    g.add_argument("--rubric", type=Path, help="rubric YAML (default: ./rubric.yaml)")
    g.add_argument("--hidden", type=Path, metavar="DIR", help="folder of hidden test data")
    g.add_argument("--force", action="store_true", help="regrade submissions that already have results")
    g.add_argument("--isolation", choices=ISOLATION_CHOICES, default="auto",
                   help="sandbox for student code; grading without one needs an explicit 'none'")
    g.add_argument("--jobs", type=int, default=None, metavar="N", help="worker processes (default: CPU cores)")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="grade on a Dask cluster (e.g. tcp://HOST:8786) instead of on this machine; "
                        "needs pip install 'mlgrade[distributed]' here and on every worker")
    g.add_argument("--seed", type=int, default=None, help="grading seed (default: fixed, so regrades agree)")
    g.add_argument("--format", action="append", metavar="NAMES",
                   help="output formats to write, comma-separated ('default' = the usual set, 'all'); "
                        "`mlgrade formats` lists them")
    g.add_argument("--assignment", default="", metavar="NAME",
                   help="the assignment's column name in LMS grade files (default: the rubric's name)")
    gh = g.add_argument_group("GitHub Classroom repositories")
    gh.add_argument("--roster", type=Path, metavar="CSV", help="Classroom roster export: one repository per student")
    gh.add_argument("--org", metavar="ORG",
                    help="the organisation holding the repositories (alone: every PREFIX-<username> repository "
                         "in it, listed with gh or $GITHUB_TOKEN)")
    gh.add_argument("--repo-prefix", metavar="PREFIX",
                    help="the assignment's repository prefix (repositories are PREFIX-<username>)")
    gh.add_argument("--repo-url", default=None, metavar="TEMPLATE",
                    help="clone URL template (default: https://github.com/{org}/{repo}.git)")
    gh.add_argument("--deadline", metavar="WHEN",
                    help="grade each repository's last commit before this time (ISO 8601; local time "
                         "unless it has an offset)")
    gh.add_argument("--git-timeout", type=float, default=300.0, metavar="SECONDS",
                    help="seconds of git per student repository (fetch and copy); a remote that does not "
                         "answer costs that student only (default: 300)")
    g.set_defaults(func=_cmd_grade)

    f = sub.add_parser("formats", help="list the output formats")
    f.set_defaults(func=_cmd_formats)

    cl = sub.add_parser("classroom", help="grade a repository in a GitHub Classroom workflow (points per question)")
    cl.add_argument("path", type=Path, nargs="?", default=Path("."), metavar="PATH",
                    help="the repository (its last commit is graded), a folder or a .zip (default: .)")
    cl.add_argument("--rubric", type=Path, help="rubric YAML (default: ./rubric.yaml)")
    cl.add_argument("--output", type=Path, metavar="FILE",
                    help="where the runner outputs go (default: $GITHUB_OUTPUT; printed when unset)")
    cl.add_argument("--html", type=Path, metavar="FILE", help="also write the feedback page here")
    cl.add_argument("--json", type=Path, metavar="FILE", help="also write Gradescope-style results.json here")
    cl.add_argument("--isolation", choices=ISOLATION_CHOICES, default="auto",
                    help="sandbox for student code (default: bubblewrap when available)")
    cl.set_defaults(func=_cmd_classroom)

    gs = sub.add_parser("gradescope", help="grade one submission inside Gradescope (the body of run_autograder)")
    gs.add_argument("--root", type=Path, default=Path("/autograder"), metavar="DIR",
                    help="Gradescope's folder (default: /autograder): submission/, source/rubric.yaml, "
                         "source/hidden/, results/results.json, submission_metadata.json")
    for name, what in (("submission", "the student's files"), ("results", "where results.json goes"),
                       ("rubric", "the rubric"), ("hidden", "hidden test data"), ("metadata", "submission metadata")):
        gs.add_argument(f"--{name}", type=Path, metavar="PATH", help=f"{what} (default: under --root)")
    gs.add_argument("--isolation", choices=ISOLATION_CHOICES, default="auto",
                    help="sandbox for student code (auto: bubblewrap where the container allows it, else limits only)")
    gs.set_defaults(func=_cmd_gradescope)

    ex = sub.add_parser("export", help="build what others need: gradescope (the autograder zip), student-kit "
                                       "(mlgrade as a wheel, the public rubric, a README per platform)")
    ex.add_argument("platform", choices=["gradescope", "student-kit"],
                    help="student-kit: what students install to self-check on Windows, macOS/Linux or Colab, "
                         "without the rubric's hidden parts")
    ex.add_argument("--rubric", type=Path, help="rubric YAML (default: ./rubric.yaml)")
    ex.add_argument("--hidden", type=Path, metavar="DIR", help="gradescope: hidden test data to ship in the zip")
    ex.add_argument("--samples", type=Path, metavar="DIR",
                    help="student-kit: sample submissions the public tests run on while their reference answers are "
                         "recorded (default: samples/ next to the rubric)")
    ex.add_argument("-o", "--output", type=Path, default=None, metavar="ZIP",
                    help="the zip to write (default: autograder.zip, or mlgrade-kit.zip for student-kit)")
    ex.add_argument("--install", metavar="SPEC",
                    help="gradescope: what setup.sh pip-installs (default: mlgrade's wheel, built from this "
                         "installation and shipped in the zip)")
    ex.add_argument("--keras", action="store_true",
                    help="student-kit: students' installs run model files with Keras and JAX (heavier) instead of "
                         "mlgrade's light numpy engine")
    ex.add_argument("--tensorflow", action="store_true",
                    help="gradescope: install TensorFlow in the image (default: when the rubric requires it)")
    ex.add_argument("--isolation", choices=ISOLATION_CHOICES, default="auto",
                    help="the isolation run_autograder asks for (default: auto)")
    ex.set_defaults(func=_cmd_export)

    ini = sub.add_parser("init", help="scaffold a new assignment (init assignment NAME), or write the set-up a "
                                      "platform needs (init classroom: the Actions workflow)")
    ini.add_argument("what", choices=["assignment", "classroom"],
                     help="assignment: a folder with a rubric, tests, reference and samples; classroom: the workflow")
    ini.add_argument("name", nargs="?", help="init assignment: the assignment's name (letters, digits, '_')")
    ini.add_argument("--dir", type=Path, help="init assignment: where to create it (default: ./NAME)")
    ini.add_argument("--rubric", type=Path, help="init classroom: rubric YAML (default: ./rubric.yaml)")
    ini.add_argument("--repo", type=Path, default=Path("."), metavar="DIR",
                     help="init classroom: the template repository to write .github/workflows/classroom.yml into "
                          "(default: .)")
    ini.add_argument("--install", metavar="SPEC",
                     help="init classroom: what the workflow pip-installs (default: mlgrade's student wheel, written "
                          "into .github/mlgrade/ of the template)")
    ini.add_argument("--keras", action="store_true",
                     help="init classroom: the workflow runs model files with Keras and JAX instead of mlgrade's "
                          "light numpy engine")
    ini.add_argument("--samples", type=Path, metavar="DIR",
                     help="init classroom: sample submissions the public tests run on while their reference answers "
                          "are recorded (default: samples/ next to the rubric)")
    ini.add_argument("--python", default="3.11", metavar="VERSION",
                     help="init classroom: Python version in the workflow")
    ini.add_argument("--force", action="store_true", help="init classroom: replace an existing workflow")
    ini.set_defaults(func=_cmd_init)

    v = sub.add_parser("validate", help="grade a rubric's sample submissions; fail if the tests misjudge one")
    v.add_argument("rubric", type=Path, help="the rubric (its samples are in samples/ next to it)")
    v.add_argument("--samples", type=Path, help="a folder of sample submissions (default: next to the rubric)")
    v.add_argument("--isolation", choices=ISOLATION_CHOICES, default="auto",
                   help="sandbox for the samples' code (default: bubblewrap when available)")
    v.set_defaults(func=_cmd_validate)

    k = sub.add_parser("kinds", help="list every check kind, where it comes from and its parameters")
    k.add_argument("--rubric", type=Path, help="also load this rubric's plugins")
    k.add_argument("--json", action="store_true", help="machine-readable output")
    k.add_argument("kind", nargs="?", help="show one kind only")
    k.set_defaults(func=_cmd_kinds)

    o = sub.add_parser("override", help="record your own score for a student's question (kept through regrades)")
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
    o.set_defaults(func=_cmd_override)

    rv = sub.add_parser("review", help="a local page to review every flagged item of a class with the keyboard")
    rv.add_argument("out", type=Path, metavar="DIR", help="the graded class (mlgrade grade --out DIR)")
    rv.add_argument("--port", type=int, default=0, metavar="N", help="port on 127.0.0.1 (default: any free one)")
    rv.add_argument("--by", default=None, metavar="NAME", help="who decides (default: $MLGRADE_REVIEWER or your login)")
    rv.add_argument("--no-browser", action="store_true", help="only print the address; do not open a browser")
    rv.set_defaults(func=_cmd_review)

    r = sub.add_parser("reference", help="instructors: print the expected values the course's reference "
                                         "implementations compute (reference/expected.py next to the rubric)")
    r.add_argument("--rubric", type=Path, help="rubric YAML (default: ./rubric.yaml)")
    r.add_argument("--json", action="store_true", help="machine-readable output")
    r.set_defaults(func=_cmd_reference)
    return p


def resolve_isolation(requested: str, command: str) -> str:
    """The isolation backend's name; batch grading never falls back to no isolation silently."""
    from grader.isolation import IsolationUnavailable, backend, resolve

    try:
        # Gradescope runs as root where user namespaces are refused: student code then runs as another user
        chosen = resolve(requested, ("uid", "none") if command == "gradescope" else ("none",))
    except IsolationUnavailable as e:
        raise UsageError(f"--isolation {requested}: {e}") from None
    if not chosen.isolated and requested == "auto":
        why = backend("bwrap").problem()
        if command == "grade":
            raise UsageError(
                f"refusing to run student code without isolation: {why}. Install bubblewrap, "
                "or pass --isolation none to grade unisolated (only for code you trust)"
            )
        if command != "check":  # a self-check's report says it itself, once, in plain words
            print(f"mlgrade: note: {chosen.guarantees} ({why})", file=sys.stderr)
    elif command != "check" and (gap := chosen.unbounded()):  # a sandbox without every bound says which
        print(f"mlgrade: note: {gap}", file=sys.stderr)
    return chosen.name


def _default_rubric_path() -> Path:
    candidates = [Path("rubric.yaml"), Path(__file__).resolve().parent.parent / "rubric.yaml"]
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        raise UsageError("no rubric.yaml here; pass --rubric FILE (your instructor provides it)")
    return path


def resolve_rubric(path: Path | None):
    """Load the rubric named on the command line, or the default one."""
    from grader.rubric import RubricError, load_rubric

    path = path or _default_rubric_path()
    try:
        return load_rubric(path)
    except RubricError as e:
        raise UsageError(f"the rubric cannot be used:\n{e}") from None


def check_requirements(rubric, command: str) -> None:
    """The packages the rubric ``requires`` must import here: grading refuses to start without them (every
    notebook that needs one would fail for the environment's reasons); a self-check says so and goes on."""
    if not rubric.requires:
        return
    from grader.environment import install_hint, missing_packages

    missing = missing_packages(rubric.requires)
    if not missing:
        return
    listed = "; ".join(f"{m}: {why}" for m, why in missing.items())
    hint = install_hint(missing)
    if command == "grade":
        raise UsageError(f"the rubric requires packages this environment lacks ({listed})"
                         + (f"; install them with: {hint}" if hint else ""))
    print(f"mlgrade: note: the grading environment has {', '.join(missing)}, this one does not ({listed}); "
          "cells that import them fail here but not when graded", file=sys.stderr)


def _cmd_check(args: argparse.Namespace) -> int:
    from rich.console import Console

    from grader.render import ClassReport, UnknownFormat, get_format, render_one
    from grader.render.files import write_bytes_atomic
    from grader.render.terminal import print_result
    from grader.selfcheck import self_check

    if not args.submission.exists():
        raise UsageError(f"{args.submission}: no such file or folder")
    try:
        fmt = get_format(args.format)
    except UnknownFormat as e:
        raise UsageError(str(e)) from None
    rubric = resolve_rubric(args.rubric)
    check_requirements(rubric, "check")
    resolve_isolation(args.isolation, "check")
    # thumbnails of the student's images only when a page will show them
    pictures = args.html is not None or fmt.name == "html"
    with _progress_line(f"checking {args.submission.name}"):
        check = self_check(args.submission, rubric, args.isolation, keep_work=args.keep_work,
                           feedback_images=pictures, remember=not args.no_cache)
    result = check.result
    report = ClassReport(rubric, [result], self_check=True)
    if fmt.name == "terminal" or args.output is not None:
        console = Console()
        print_result(result, console, title=check.title())
        for note in check.notes:  # once, after the table: without the sandbox, provisional, hidden
            console.print(f"note: {note}", markup=False, highlight=False)
    if fmt.name != "terminal" or args.output is not None:
        data = render_one(fmt.name, result, report)
        if args.output is not None:
            write_bytes_atomic(args.output, data.encode("utf-8") if isinstance(data, str) else data)
        else:
            sys.stdout.buffer.write(data.encode("utf-8") if isinstance(data, str) else data)
            sys.stdout.flush()
    for path, name in ((args.json, "gradescope"), (args.html, "html")):
        if path is not None:
            data = render_one(name, result, report)
            write_bytes_atomic(path, data.encode("utf-8") if isinstance(data, str) else data)
    return EXIT_OK


@contextmanager
def _progress_line(first: str):
    """A status line on the terminal while one submission is graded (what runs now, for how long); silent
    when stderr is not a terminal, so logs and pipes get the report only."""
    import time

    from rich.console import Console

    from grader import progress

    console = Console(stderr=True)
    if not console.is_terminal:
        yield
        return
    import threading

    from rich.markup import escape

    started = time.monotonic()
    now = [first]
    done = threading.Event()
    with console.status(escape(first)) as status:
        def tick() -> None:  # the seconds go on while one step waits (a cold model server, a long cell)
            while not done.wait(0.5):
                status.update(f"{escape(now[0])}  [dim]({time.monotonic() - started:.0f} s)[/dim]")

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            with progress.listening(lambda text: now.__setitem__(0, text)):
                yield
        finally:
            done.set()
            ticker.join()


def _cmd_grade(args: argparse.Namespace) -> int:
    from grader.batch import grade_batch
    from grader.options import GradeOptions

    rubric = resolve_rubric(args.rubric)
    if not args.paths and args.roster is None and args.org is None:
        raise UsageError("give the submissions to grade (PATH...), a Classroom --roster, or --org and --repo-prefix")
    if args.scheduler:
        if args.jobs is not None:
            raise UsageError("--jobs is for grading on this machine; with --scheduler every Dask worker grades "
                             "one submission at a time (start more workers for more at once)")
        from grader.isolation import AUTO_ORDER

        # The sandbox and the packages the rubric requires are the workers' business: each one checks its own
        # and grades nothing without them ("auto" is the strongest sandbox there, never a silent fallback).
        isolation = AUTO_ORDER[0] if args.isolation == "auto" else args.isolation
    else:
        check_requirements(rubric, "grade")
        isolation = resolve_isolation(args.isolation, "grade")
    for p in args.paths:
        if not p.exists():
            raise UsageError(f"{p}: no such file or folder")
    if args.hidden is not None and not args.hidden.is_dir():
        raise UsageError(f"--hidden {args.hidden}: not a folder")
    if args.hidden is not None and not (args.hidden / "digits").is_dir():
        print(f"mlgrade: note: {args.hidden} has no digits/<label>/ folder; the digits question uses the "
              "bundled hidden set", file=sys.stderr)
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    kw = {"seed": args.seed} if args.seed is not None else {}
    options = GradeOptions(hidden_dir=args.hidden.resolve() if args.hidden else None, isolation=isolation, **kw)
    paths, origins, missing = _repositories(args, rubric)
    paths, lms_origins, lms_formats = _lms_downloads(paths, args.out, rubric)
    origins.update(lms_origins)
    formats = _format_list(args.format if args.format else ["default", *lms_formats])
    rubric_path = args.rubric or _default_rubric_path()
    from grader.overrides import OverridesError
    from grader.scheduling import ClusterError

    try:
        grade_batch(paths, args.out, rubric, options, force=args.force, jobs=args.jobs,
                    rubric_text=rubric_path.read_text(encoding="utf-8"), rubric_source=str(rubric_path),
                    formats=formats, assignment=args.assignment, origins=origins, missing=missing,
                    scheduler_address=args.scheduler)
    except ClusterError as e:
        print(f"mlgrade: error: {e}", file=sys.stderr)
        return EXIT_CLUSTER
    except OverridesError as e:
        raise UsageError(f"{e}\nthe grades are stored; fix the file and run the same command again (nothing is "
                         "graded twice)") from None
    finally:
        from grader.platforms.repos import remove_snapshots

        remove_snapshots(args.out / ".mlgrade" / "repos")
    return EXIT_OK


def _cmd_override(args: argparse.Namespace) -> int:
    from grader.classwide import NoClass, apply_class_relative, class_step, export_class, stored_class
    from grader.overrides import (
        Override,
        OverridesError,
        clear_override,
        now,
        parse_decision,
        put_override,
        reviewer,
    )
    from grader.render.common import fmt_points
    from grader.textsafe import one_line

    try:
        rubric, results, manifest = stored_class(args.out)
        if args.list:
            report = class_step(rubric, results, args.out)
            _print_decisions(report)
            return EXIT_OK
        if args.student is None or args.question is None:
            if args.student is None and not args.clear and not args.no_export:
                export_class(args.out)  # `mlgrade override DIR`: apply the decisions to the grade files now
                print(f"rewrote the grade files in {args.out} with your decisions")
                return EXIT_OK
            raise UsageError("give STUDENT and QUESTION (and SCORE, or --clear)")
        by_student = {r.student: r for r in results}
        if args.student not in by_student:
            import difflib

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
            for note in report.overrides.notes() if report.overrides else []:
                print(f"note: {one_line(note)}", file=sys.stderr)
    except (NoClass, OverridesError) as e:
        raise UsageError(str(e)) from None
    return EXIT_OK


def _print_decisions(report) -> None:
    from rich.console import Console
    from rich.table import Table

    from grader.render.common import fmt_points, review_progress
    from grader.textsafe import one_line

    ov = report.overrides
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


def _cmd_review(args: argparse.Namespace) -> int:
    from grader.classwide import NoClass
    from grader.overrides import OverridesError
    from grader.review.server import serve

    try:
        serve(args.out, port=args.port, by=args.by, open_browser=not args.no_browser)
    except (NoClass, OverridesError) as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise UsageError(f"cannot serve on 127.0.0.1:{args.port}: {e.strerror or e}") from None
    return EXIT_OK


def _lms_downloads(paths: list[Path], out: Path, rubric) -> tuple[list[Path], dict, list[str]]:
    """Canvas, Moodle and Blackboard bulk downloads become a staged folder of submissions, one per
    student (latest attempt), with the LMS's ids kept for its grade file."""
    from grader.platforms import lmsdownload

    result, origins, formats = [], {}, []
    for i, p in enumerate(paths):
        lms = lmsdownload.detect(p)
        if lms is None:
            result.append(p)
            continue
        try:
            staged = lmsdownload.stage(p, out / ".mlgrade" / "lms" / f"{i}-{lms}", rubric.limits.max_archive_bytes)
        except (lmsdownload.LmsDownloadError, OSError) as e:
            raise UsageError(str(e)) from None
        print(f"mlgrade: {p}: a {lms.title()} bulk download, {len(staged.origins)} students", file=sys.stderr)
        for note in staged.notes[:20]:
            print(f"  {note}", file=sys.stderr)
        result.append(staged.folder)
        origins.update(staged.origins)
        if lmsdownload.LMS_FORMAT[lms] not in formats:
            formats.append(lmsdownload.LMS_FORMAT[lms])
    return result, origins, formats


def _repositories(args: argparse.Namespace, rubric) -> tuple[list[Path], dict, dict]:
    """Classroom repositories (a roster, or folders of clones) become zips of the commit to grade."""
    from grader.platforms import repos

    clone_folders = [p for p in args.paths if repos.is_clone_folder(p)]
    by_org = args.roster is None and args.org is not None
    if args.roster is None and not clone_folders and not by_org:
        if args.deadline:
            raise UsageError("--deadline applies to repositories: give a --roster, or a folder of git clones")
        return list(args.paths), {}, {}
    try:
        deadline = repos.parse_deadline(args.deadline) if args.deadline else None
        found: list[repos.StudentRepo] = []
        if args.roster is not None:
            found += repos.roster_repos(repos.read_roster(args.roster), args.org or "", args.repo_prefix or "",
                                        args.repo_url or repos.GITHUB_URL)
        elif by_org:
            found += repos.org_repos(args.org, args.repo_prefix or "", args.repo_url or repos.GITHUB_URL)
        for folder in clone_folders:
            found += repos.folder_repos(folder, args.repo_prefix or "")
        if deadline is not None:
            print(f"mlgrade: grading the last commit before {repos.deadline_utc(deadline)}", file=sys.stderr)
        if not args.git_timeout > 0:
            raise UsageError("--git-timeout must be a positive number of seconds")
        prepared = repos.prepare(found, deadline, args.out / ".mlgrade" / "repos",
                                 log=lambda m: print(f"  {m}", file=sys.stderr), limits=rubric.limits,
                                 timeout=args.git_timeout)
    except (repos.RepoError, OSError) as e:
        raise UsageError(str(e)) from None
    others = [p for p in args.paths if p not in clone_folders]
    return [*others, *prepared.zips], prepared.origins, prepared.missing


def _format_list(values: list[str] | None) -> list[str]:
    from grader.render import UnknownFormat, parse_format_list

    try:
        return parse_format_list(values)
    except UnknownFormat as e:
        raise UsageError(str(e)) from None


def _cmd_classroom(args: argparse.Namespace) -> int:
    from rich.console import Console

    from grader.platforms.classroom import classroom_points, grade_repository, stop_commands_token, write_github_files
    from grader.render import ClassReport, render_one
    from grader.render.classroom import relative_questions
    from grader.render.common import fmt_points
    from grader.render.files import write_bytes_atomic
    from grader.render.terminal import print_result

    if not args.path.exists():
        raise UsageError(f"{args.path}: no such file or folder")
    rubric = resolve_rubric(args.rubric)
    isolation = resolve_isolation(args.isolation, "classroom")
    run = grade_repository(args.path, rubric, isolation, feedback_images=args.html is not None)
    output = args.output or (Path(os.environ["GITHUB_OUTPUT"]) if os.environ.get("GITHUB_OUTPUT") else None)
    summary = Path(os.environ["GITHUB_STEP_SUMMARY"]) if os.environ.get("GITHUB_STEP_SUMMARY") else None
    write_github_files(run, rubric, output, summary)
    # Nothing the student wrote may act as a workflow command while the report is printed.
    token = stop_commands_token()
    print(f"::stop-commands::{token}", flush=True)
    what = f"commit {run.commit[:12]}" if run.commit else str(args.path)
    print_result(run.result, Console(), title=f"mlgrade classroom: {what} ({rubric.name})")
    got, out_of = classroom_points(run)
    pending = [q.id for q in rubric.questions if q.hidden or q.id in relative_questions(rubric)]
    print(f"Classroom points: {fmt_points(got)}/{fmt_points(out_of)}"
          + (f"; pending the instructor's grading: {', '.join(pending)}" if pending else ""))
    if run.commit:
        print("graded the last commit; changes that are not committed and pushed are not graded")
    if output is None:
        print("\n$GITHUB_OUTPUT is not set (not running in GitHub Actions); the runner outputs would be:")
        for rid in run.runners:
            print(f"  {rid}=<base64, {len(str(run.runners[rid]))} characters of JSON>")
    print(f"::{token}::", flush=True)
    for path, name in ((args.html, "html"), (args.json, "gradescope")):
        if path is not None:
            data = render_one(name, run.result, ClassReport(rubric, [run.result], self_check=True))
            write_bytes_atomic(path, data.encode("utf-8") if isinstance(data, str) else data)
    return EXIT_OK


def _cmd_gradescope(args: argparse.Namespace) -> int:
    from grader.platforms.gradescope import Layout, run

    layout = Layout.under(args.root)
    for name in ("submission", "results", "rubric", "hidden", "metadata"):
        if getattr(args, name) is not None:
            setattr(layout, name, getattr(args, name))
    if not layout.submission.exists():
        raise UsageError(f"{layout.submission}: no such folder (is this Gradescope? pass --root or --submission)")
    return run(layout, args.isolation)


def _cmd_export(args: argparse.Namespace) -> int:
    if args.platform == "student-kit":
        return _cmd_export_student_kit(args)
    from grader.platforms.gradescope import export_zip

    args.output = args.output or Path("autograder.zip")
    rubric_file = args.rubric or _default_rubric_path()
    rubric = resolve_rubric(rubric_file)
    if args.hidden is not None and not args.hidden.is_dir():
        raise UsageError(f"--hidden {args.hidden}: not a folder")
    try:
        info = export_zip(rubric_file, args.output, args.hidden, args.install, args.isolation,
                          True if args.tensorflow else None)
    except ValueError as e:
        raise UsageError(str(e)) from None
    print(f"wrote {args.output} for {rubric.name!r}: setup.sh installs {info['install']}"
          + (" with TensorFlow" if info["tensorflow"] else "")
          + (f", {info['hidden_files']} hidden files" if args.hidden else ", no hidden data"))
    print("upload it as the autograder of a Gradescope programming assignment (Ubuntu base image)")
    return EXIT_OK


def _cmd_init_classroom(args: argparse.Namespace) -> int:
    from grader.platforms.classroom import write_workflow

    rubric_file = args.rubric or _default_rubric_path()
    rubric = resolve_rubric(rubric_file)
    if not args.repo.is_dir():
        raise UsageError(f"--repo {args.repo}: not a folder")
    if args.samples is not None and not args.samples.is_dir():
        raise UsageError(f"--samples {args.samples}: not a folder")
    try:
        workflow, used = write_workflow(args.repo, rubric, rubric_file, args.install, args.force, args.python,
                                        args.samples, resolve_isolation("auto", "export"),
                                        say=lambda m: print(m, flush=True), keras=args.keras)
    except (FileExistsError, ValueError) as e:
        raise UsageError(str(e)) from None
    print(f"wrote {workflow} and {used.parent} (the rubric's student build and mlgrade's student wheel, scanned: no "
          "reference, hidden test or hidden data); commit them to the assignment's template repository")
    hidden = [q.id for q in rubric.questions if q.hidden]
    if hidden:
        print(f"hidden questions, pending in the students' workflow: {', '.join(hidden)}")
    return EXIT_OK


def _cmd_formats(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from grader.render import formats

    table = Table(title="mlgrade output formats (--format)")
    for col in ("name", "per", "file", "default", "what"):
        table.add_column(col, overflow="fold" if col == "what" else "ellipsis", no_wrap=col != "what")
    for f in formats():
        where = f"<student>/{f.filename}" if f.scope == "submission" else f.filename
        table.add_row(f.name, f.scope, where, "yes" if f.default else "", f.help)
    Console().print(table)
    return EXIT_OK


def _cmd_init(args: argparse.Namespace) -> int:
    if args.what == "classroom":
        return _cmd_init_classroom(args)
    if not args.name:
        raise UsageError("init assignment needs a NAME: mlgrade init assignment NAME")
    return _cmd_init_assignment(args)


def _cmd_init_assignment(args: argparse.Namespace) -> int:
    from grader.authoring import scaffold

    folder = args.dir or Path(args.name)
    try:
        written = scaffold(folder, args.name)
    except (ValueError, FileExistsError) as e:
        raise UsageError(str(e)) from None
    print(f"created {folder}/ with {len(written)} files:")
    for path in written:
        print(f"  {path}")
    print(f"next: edit them, then run `mlgrade validate {folder / 'rubric.yaml'}`")
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from grader.authoring import validate
    from grader.report import fmt_points

    resolve_rubric(args.rubric)  # rubric mistakes: exit 2 with their key paths
    isolation = resolve_isolation(args.isolation, "check")
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
        verdict = Text("ok", style="green") if v.ok else Text("\n".join(v.problems), style="red")
        table.add_row(v.sample, v.expectation, scores, verdict)
    console.print(table)
    bad = [v.sample for v in verdicts if not v.ok]
    if bad:
        console.print(Text(f"validation failed for {', '.join(bad)}", style="bold red"))
        return EXIT_INVALID
    console.print(Text(f"{len(verdicts)} samples graded as expected", style="bold green"))
    return EXIT_OK


def _cmd_kinds(args: argparse.Namespace) -> int:
    import json

    from grader.registry import PLUGIN_PROBLEMS, all_kinds, describe_params

    if args.rubric is not None:
        resolve_rubric(args.rubric)  # loads its plugins
    kinds = [k for k in all_kinds() if args.kind in (None, k.name)]
    if args.kind and not kinds:
        raise UsageError(f"no check kind {args.kind!r} (known: {', '.join(k.name for k in all_kinds())})")
    listed = [{"kind": k.name, "origin": k.origin, "summary": k.summary,
               "status": "pending" if k.run is None else "ready", "notebooks": k.uses_notebooks,
               "parameters": describe_params(k.params) if k.run is not None else []} for k in kinds]
    if args.json:
        print(json.dumps({"kinds": listed, "plugin_problems": PLUGIN_PROBLEMS}, indent=2))
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for entry in listed:
        table = Table(title=f"[bold]{entry['kind']}[/bold] ({entry['origin']}): {entry['summary']}",
                      title_justify="left", show_edge=False)
        for col in ("parameter", "type", "default"):
            table.add_column(col, overflow="fold")
        for name, typ, default in _param_rows(entry["parameters"]):
            table.add_row(name, typ, default)
        console.print(table)
        console.print()
    for problem in PLUGIN_PROBLEMS:
        print(f"mlgrade: note: a plugin did not load: {problem}", file=sys.stderr)
    return EXIT_OK


def _param_rows(params: list[dict], prefix: str = "") -> list[tuple[str, str, str]]:
    """Rows of ``mlgrade kinds``' table: nested parameters as ``cases[].args``."""
    import json

    out = []
    for p in params:
        default = "(required)" if p["required"] else json.dumps(p["default"])
        out.append((prefix + p["name"], p["type"], default if len(default) <= 40 else default[:37] + "..."))
        out += _param_rows(p.get("fields", []), prefix + p["name"] + ("[]." if p["type"].startswith("list") else "."))
    return out


def _cmd_export_student_kit(args: argparse.Namespace) -> int:
    from grader.student.kit import KitError, export_student_kit

    rubric_path = args.rubric or _default_rubric_path()
    resolve_rubric(rubric_path)  # mistakes reported with their key paths, as everywhere
    if args.samples is not None and not args.samples.is_dir():
        raise UsageError(f"--samples {args.samples}: not a folder")
    try:
        kit = export_student_kit(rubric_path, args.output or Path("mlgrade-kit.zip"), args.samples,
                                 resolve_isolation(args.isolation, "export"), say=lambda m: print(m, flush=True),
                                 keras=args.keras)
    except KitError as e:
        raise UsageError(str(e)) from None
    print(f"wrote {kit.path} ({kit.path.stat().st_size / 1e6:.1f} MB): mlgrade's student wheel, the rubric's "
          "student build and a README")
    _print_build_report(kit.report)
    if kit.hidden:
        print(f"hidden questions, shown to students as graded by you: {', '.join(kit.hidden)}")
    print("scanned: no reference module, hidden test, hidden data, sample or unlisted file ships, and no shipped "
          "function returns the public tests' right answers")
    return EXIT_OK


def _print_build_report(report) -> None:
    """What became of each check in the student build (compiled, copied, partly, graded later)."""
    for r in report:
        if r.state == "copied" and not r.notes:
            continue
        print(f"  {r.question}: {r.check}: {r.state}" + (f" ({'; '.join(r.notes)})" if r.notes else ""))


def _course_expected_values(rubric: Path | None) -> dict:
    """``expected_values()`` of ``reference/expected.py`` in the rubric's folder: the instructor's course, never
    mlgrade itself (a student's install holds no reference implementation)."""
    from grader.instructor import InstructorError, load_module

    folder = (rubric or _default_rubric_path()).resolve().parent
    script = folder / "reference" / "expected.py"
    if not script.is_file():
        raise UsageError(f"no reference/expected.py next to the rubric in {folder}: `mlgrade reference` prints what a "
                         "course's reference implementations compute (an instructor's tool; pass --rubric)")
    sys.path.insert(0, str(folder))  # `from reference import backprop` inside the course's own script
    try:
        return load_module(script).expected_values()
    except (InstructorError, AttributeError) as e:
        raise UsageError(f"{script}: {e}") from None
    finally:
        sys.path.remove(str(folder))


def _cmd_reference(args: argparse.Namespace) -> int:
    import json

    values = _course_expected_values(args.rubric)
    if args.json:
        print(json.dumps(values, indent=2))
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    table = Table(title="mlgrade reference: expected values", show_lines=False)
    table.add_column("group", no_wrap=True)
    table.add_column("value", no_wrap=True)
    table.add_column("expected", overflow="fold")
    for group, items in values.items():
        for key, val in items.items():
            table.add_row(group, key, json.dumps(val))
            group = ""
    Console().print(table)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
