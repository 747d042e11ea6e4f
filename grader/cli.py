"""The ``mlgrade`` command line: the edge where users meet the stages below.

Exit codes: 0 when grading ran (whatever the scores), 2 for a usage or rubric
error, 3 when a Dask cluster (``--scheduler``) cannot grade. Bad student input
never produces a traceback: it becomes a reason in the report.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from grader import __version__

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_CLUSTER = 3  # --scheduler: the cluster cannot grade (unreachable, no usable worker, connection lost)


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
    c.add_argument("--isolation", choices=["auto", "bwrap", "none"], default="auto",
                   help="sandbox for student code (default: bubblewrap when available)")
    c.set_defaults(func=_cmd_check)

    g = sub.add_parser("grade", help="grade a batch: zips, folders of zips, or an LMS bulk download")
    g.add_argument("paths", type=Path, nargs="+", metavar="PATH")
    g.add_argument("--out", type=Path, required=True, metavar="DIR", help="where grades are written")
    g.add_argument("--rubric", type=Path, help="rubric YAML (default: ./rubric.yaml)")
    g.add_argument("--hidden", type=Path, metavar="DIR", help="folder of hidden test data")
    g.add_argument("--force", action="store_true", help="regrade submissions that already have results")
    g.add_argument("--isolation", choices=["auto", "bwrap", "none"], default="auto",
                   help="sandbox for student code; grading without one needs an explicit 'none'")
    g.add_argument("--jobs", type=int, default=None, metavar="N", help="worker processes (default: CPU cores)")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="grade on a Dask cluster (e.g. tcp://HOST:8786) instead of on this machine; "
                        "needs pip install 'mlgrade[distributed]' here and on every worker")
    g.add_argument("--seed", type=int, default=None, help="grading seed (default: fixed, so regrades agree)")
    g.set_defaults(func=_cmd_grade)

    r = sub.add_parser("reference", help="print the expected values computed by the reference implementations")
    r.add_argument("--json", action="store_true", help="machine-readable output")
    r.set_defaults(func=_cmd_reference)
    return p


def resolve_isolation(requested: str, command: str) -> str:
    """``bwrap`` or ``none``; batch grading never falls back to ``none`` silently."""
    from grader.sandbox import IsolationUnavailable, bwrap_problem
    from grader.sandbox import resolve_isolation as resolve

    try:
        mode = resolve(requested)
    except IsolationUnavailable as e:
        raise UsageError(f"--isolation bwrap: {e}") from None
    if mode == "none" and requested == "auto":
        why = bwrap_problem()
        if command == "grade":
            raise UsageError(
                f"refusing to run student code without isolation: {why}. Install bubblewrap, "
                "or pass --isolation none to grade unisolated (only for code you trust)"
            )
        print(f"mlgrade: note: student code runs without isolation here ({why})", file=sys.stderr)
    return mode


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


def _cmd_check(args: argparse.Namespace) -> int:
    from rich.console import Console

    from grader.options import GradeOptions
    from grader.pipeline import grade_submission
    from grader.report import render_terminal, to_gradescope, write_json_atomic

    if not args.submission.exists():
        raise UsageError(f"{args.submission}: no such file or folder")
    rubric = resolve_rubric(args.rubric)
    isolation = resolve_isolation(args.isolation, "check")
    work = Path(tempfile.mkdtemp(prefix="mlgrade-check-"))
    os.chmod(work, 0o755)  # the sandbox user must be able to reach the work folder
    options = GradeOptions(self_check=True, isolation=isolation)
    result = grade_submission(args.submission, rubric, work / "w", options, keep_work=args.keep_work)
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
    if args.scheduler:
        if args.jobs is not None:
            raise UsageError("--jobs is for grading on this machine; with --scheduler every Dask worker grades "
                             "one submission at a time (start more workers for more at once)")
        # The sandbox is the workers' business: each one checks its own bubblewrap, and refuses without it.
        isolation = "none" if args.isolation == "none" else "bwrap"
    else:
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
    from grader.scheduling import ClusterError

    try:
        grade_batch(args.paths, args.out, rubric, options, force=args.force, jobs=args.jobs,
                    rubric_text=rubric_path.read_text(encoding="utf-8"), rubric_source=str(rubric_path),
                    scheduler_address=args.scheduler)
    except ClusterError as e:
        print(f"mlgrade: error: {e}", file=sys.stderr)
        return EXIT_CLUSTER
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
