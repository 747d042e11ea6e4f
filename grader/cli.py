"""The ``mlgrade`` command line: the edge where users meet the stages below.

Exit codes: 0 when grading ran (whatever the scores), 2 for a usage or rubric
error. Bad student input never produces a traceback: it becomes a reason in
the report.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader import __version__
from grader.isolation import ISOLATION_CHOICES

EXIT_OK = 0
EXIT_USAGE = 2


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
    c.add_argument("--json", type=Path, metavar="FILE", help="also write Gradescope-style results.json here")
    c.add_argument("--keep-work", action="store_true", help="keep the unpacked work folder for inspection")
    c.add_argument("--isolation", choices=ISOLATION_CHOICES, default="auto",
                   help="sandbox for student code (default: bubblewrap when available)")
    c.set_defaults(func=_cmd_check)

    g = sub.add_parser("grade", help="grade a batch: zips, folders of zips, or an LMS bulk download")
    g.add_argument("paths", type=Path, nargs="+", metavar="PATH")
    g.add_argument("--out", type=Path, required=True, metavar="DIR", help="where grades are written")
    g.add_argument("--rubric", type=Path, help="rubric YAML (default: ./rubric.yaml)")
    g.add_argument("--hidden", type=Path, metavar="DIR", help="folder of hidden test data")
    g.add_argument("--force", action="store_true", help="regrade submissions that already have results")
    g.add_argument("--isolation", choices=ISOLATION_CHOICES, default="auto",
                   help="sandbox for student code; grading without one needs an explicit 'none'")
    g.add_argument("--jobs", type=int, default=None, metavar="N", help="worker processes (default: CPU cores)")
    g.add_argument("--seed", type=int, default=None, help="grading seed (default: fixed, so regrades agree)")
    g.set_defaults(func=_cmd_grade)

    ex = sub.add_parser("export", help="build what others need: student-kit (wheel, public rubric, README)")
    ex.add_argument("platform", choices=["student-kit"], metavar="WHAT",
                    help="student-kit: mlgrade as a wheel, the rubric without its hidden parts, and a README with "
                         "the commands for Windows, macOS/Linux and Colab")
    ex.add_argument("--rubric", type=Path, help="rubric YAML (default: ./rubric.yaml)")
    ex.add_argument("-o", "--output", type=Path, default=Path("mlgrade-kit.zip"), metavar="ZIP",
                    help="the zip to write (default: mlgrade-kit.zip)")
    ex.set_defaults(func=_cmd_export_student_kit)

    r = sub.add_parser("reference", help="print the expected values computed by the reference implementations")
    r.add_argument("--json", action="store_true", help="machine-readable output")
    r.set_defaults(func=_cmd_reference)
    return p


def resolve_isolation(requested: str, command: str) -> str:
    """The isolation backend's name; batch grading never falls back to no isolation silently."""
    from grader.isolation import IsolationUnavailable, backend, resolve

    try:
        chosen = resolve(requested)
    except IsolationUnavailable as e:
        raise UsageError(f"--isolation bwrap: {e}") from None
    if not chosen.isolated and requested == "auto" and command == "grade":
        why = backend("bwrap").problem()
        raise UsageError(
            f"refusing to run student code without isolation: {why}. Install bubblewrap, "
            "or pass --isolation none to grade unisolated (only for code you trust)"
        )
    return chosen.name  # a self-check's report says itself that it ran without isolation


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

    from grader.report import render_terminal, to_gradescope, write_json_atomic
    from grader.selfcheck import self_check

    if not args.submission.exists():
        raise UsageError(f"{args.submission}: no such file or folder")
    rubric = resolve_rubric(args.rubric)
    check_requirements(rubric, "check")
    resolve_isolation(args.isolation, "check")
    check = self_check(args.submission, rubric, args.isolation, keep_work=args.keep_work)
    console = Console()
    render_terminal(check.result, console, title=check.title())
    for note in check.notes:  # once, after the table: without the sandbox, provisional, hidden
        console.print(f"note: {note}", markup=False, highlight=False)
    if args.json:
        write_json_atomic(args.json, to_gradescope(check.result))
    return EXIT_OK


def _cmd_grade(args: argparse.Namespace) -> int:
    from grader.batch import grade_batch
    from grader.options import GradeOptions

    rubric = resolve_rubric(args.rubric)
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
    rubric_path = args.rubric or _default_rubric_path()
    grade_batch(args.paths, args.out, rubric, options, force=args.force, jobs=args.jobs,
                rubric_text=rubric_path.read_text(encoding="utf-8"), rubric_source=str(rubric_path))
    return EXIT_OK


def _cmd_export_student_kit(args: argparse.Namespace) -> int:
    from grader.studentkit import KitError, export_student_kit

    rubric_path = args.rubric or _default_rubric_path()
    resolve_rubric(rubric_path)  # mistakes reported with their key paths, as everywhere
    try:
        kit = export_student_kit(rubric_path, args.output)
    except KitError as e:
        raise UsageError(str(e)) from None
    print(f"wrote {kit.path}: {', '.join(Path(f).name for f in kit.files)}")
    if kit.hidden:
        print(f"hidden questions, shown to students as graded by you: {', '.join(kit.hidden)}")
    print("the wheel holds the grader and reference/ (the self-check needs them): students can read them")
    return EXIT_OK


def _cmd_reference(args: argparse.Namespace) -> int:
    import json

    from reference.expected import expected_values

    values = expected_values()
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
