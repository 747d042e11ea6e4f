"""The ``mlgrade`` command line: the edge where users meet the stages below.

Exit codes: 0 when grading ran (whatever the scores), 2 for a usage or rubric
error. Bad student input never produces a traceback: it becomes a reason in
the report.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from grader import __version__

EXIT_OK = 0
EXIT_USAGE = 2


class UsageError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
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
    c.set_defaults(func=_cmd_check)

    g = sub.add_parser("grade", help="grade a batch: zips, folders of zips, or an LMS bulk download")
    g.add_argument("paths", type=Path, nargs="+", metavar="PATH")
    g.add_argument("--out", type=Path, required=True, metavar="DIR", help="where grades are written")
    g.add_argument("--rubric", type=Path, help="rubric YAML (default: ./rubric.yaml)")
    g.add_argument("--hidden", type=Path, metavar="DIR", help="folder of hidden test data")
    g.add_argument("--force", action="store_true", help="regrade submissions that already have results")
    g.set_defaults(func=_cmd_grade)
    return p


def resolve_rubric(path: Path | None):
    """Load the rubric named on the command line, or the default one."""
    from grader.rubric import RubricError, load_rubric

    if path is None:
        candidates = [Path("rubric.yaml"), Path(__file__).resolve().parent.parent / "rubric.yaml"]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            raise UsageError("no rubric.yaml here; pass --rubric FILE (your instructor provides it)")
    try:
        return load_rubric(path)
    except RubricError as e:
        raise UsageError(f"the rubric cannot be used:\n{e}") from None


def _cmd_check(args: argparse.Namespace) -> int:
    from rich.console import Console

    from grader.options import GradeOptions
    from grader.pipeline import grade_submission
    from grader.report import render_terminal, to_gradescope, write_json_atomic

    if not args.submission.exists():
        raise UsageError(f"{args.submission}: no such file or folder")
    rubric = resolve_rubric(args.rubric)
    work = Path(tempfile.mkdtemp(prefix="mlgrade-check-"))
    result = grade_submission(
        args.submission, rubric, work / "w", GradeOptions(self_check=True), keep_work=args.keep_work
    )
    if not args.keep_work:
        work.rmdir() if work.exists() and not any(work.iterdir()) else None
    render_terminal(result, Console(), title=f"mlgrade check: {args.submission} ({rubric.name})")
    if args.keep_work:
        print(f"work folder kept: {work / 'w'}")
    if args.json:
        write_json_atomic(args.json, to_gradescope(result))
    return EXIT_OK


def _cmd_grade(args: argparse.Namespace) -> int:
    from grader.batch import grade_batch
    from grader.options import GradeOptions

    rubric = resolve_rubric(args.rubric)
    for p in args.paths:
        if not p.exists():
            raise UsageError(f"{p}: no such file or folder")
    if args.hidden is not None and not args.hidden.is_dir():
        raise UsageError(f"--hidden {args.hidden}: not a folder")
    options = GradeOptions(hidden_dir=args.hidden.resolve() if args.hidden else None)
    grade_batch(args.paths, args.out, rubric, options, force=args.force)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
