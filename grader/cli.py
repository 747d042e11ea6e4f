"""The ``mlgrade`` command line: the edge where users meet the stages below.

Exit codes: 0 when grading ran (whatever the scores), 2 for a usage or rubric
error, 1 when ``mlgrade validate`` finds a sample graded against expectations.
Bad student input never produces a traceback: it becomes a reason in the report.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from grader import __version__
from grader.isolation import ISOLATION_CHOICES

EXIT_OK = 0
EXIT_INVALID = 1  # mlgrade validate: a sample was not graded as expected
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

    i = sub.add_parser("init", help="scaffold a new assignment: rubric, tests, reference, samples")
    i.add_argument("what", choices=["assignment"], help="what to create")
    i.add_argument("name", help="the assignment's name (letters, digits, '_')")
    i.add_argument("--dir", type=Path, help="where to create it (default: ./NAME)")
    i.set_defaults(func=_cmd_init)

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
    if not chosen.isolated and requested == "auto":
        why = backend("bwrap").problem()
        if command == "grade":
            raise UsageError(
                f"refusing to run student code without isolation: {why}. Install bubblewrap, "
                "or pass --isolation none to grade unisolated (only for code you trust)"
            )
        print(f"mlgrade: note: {chosen.guarantees} ({why})", file=sys.stderr)
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

    from grader.options import GradeOptions
    from grader.pipeline import grade_submission
    from grader.report import render_terminal, to_gradescope, write_json_atomic

    if not args.submission.exists():
        raise UsageError(f"{args.submission}: no such file or folder")
    rubric = resolve_rubric(args.rubric)
    check_requirements(rubric, "check")
    isolation = resolve_isolation(args.isolation, "check")
    work = Path(tempfile.mkdtemp(prefix="mlgrade-check-"))  # private: sandboxes get staged copies
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


def _cmd_init(args: argparse.Namespace) -> int:
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
