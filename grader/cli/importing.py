"""``mlgrade import otter|nbgrader``: another tool's tests as a rubric and pytest files mlgrade grades with."""

from __future__ import annotations

import argparse
from pathlib import Path

from grader.authoring.converting import Conversion, ConversionError, write_conversion
from grader.authoring.from_nbgrader import convert_nbgrader
from grader.authoring.from_otter import convert_otter
from grader.cli.common import EXIT_OK, UsageError


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("tool", choices=["otter", "nbgrader"],
                   help="otter: a folder of Otter test files (tests/q1.py ...); nbgrader: the assignment's source "
                        "notebook (with its autograder test cells)")
    p.add_argument("source", type=Path, help="the tests folder (otter) or the source notebook (nbgrader)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="where to write rubric.yaml and tests/ (default: ./NAME-mlgrade)")
    p.add_argument("--notebook", metavar="FILE",
                   help="the notebook students hand in (otter: required unless the tests folder's parent holds "
                        "exactly one; nbgrader: default the source notebook's name)")
    p.add_argument("--name", help="the assignment's name (default: the source's folder)")
    p.add_argument("--force", action="store_true", help="replace files an earlier import wrote")


def run(args: argparse.Namespace) -> int:
    conv = _otter(args) if args.tool == "otter" else _nbgrader(args)
    out = args.out or Path(f"{conv.name}-mlgrade")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    try:
        written = write_conversion(conv, out, args.force)
    except (ConversionError, FileExistsError) as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise UsageError(f"cannot write {out}: {e.strerror or e}") from None
    _report(conv, written, out)
    return EXIT_OK


def _otter(args: argparse.Namespace) -> Conversion:
    tests: Path = args.source
    if not tests.is_dir():
        raise UsageError(f"{tests} is not a folder of Otter test files (tests/q1.py ...)")
    notebook, notebook_file = args.notebook, None
    if notebook is None:
        found = sorted(tests.resolve().parent.glob("*.ipynb"))
        if len(found) != 1:
            raise UsageError("which notebook do students hand in? add --notebook FILE "
                             f"({len(found)} notebooks next to {tests})")
        notebook, notebook_file = found[0].name, found[0]
    elif (tests.resolve().parent / notebook).is_file():
        notebook_file = tests.resolve().parent / notebook
    try:
        return convert_otter(tests, notebook, args.name, notebook_file)
    except ConversionError as e:
        raise UsageError(str(e)) from None


def _nbgrader(args: argparse.Namespace) -> Conversion:
    source: Path = args.source
    if not source.is_file():
        raise UsageError(f"{source} is not a notebook: give nbgrader's source notebook (source/ASSIGNMENT/NAME.ipynb)")
    try:
        return convert_nbgrader(source, args.notebook, args.name)
    except (ConversionError, OSError) as e:
        raise UsageError(str(e)) from None


def _report(conv: Conversion, written: list[Path], out: Path) -> None:
    converted = [q for q in conv.questions if q.tests]
    total = sum(q.points for q in converted)
    tests = sum(len(q.tests) for q in converted)
    hidden = sum(t.hidden for q in converted for t in q.tests)
    print(f"converted {tests} {conv.tool} tests ({hidden} hidden) into {len(converted)} questions worth "
          f"{total:g} points:")
    for path in written:
        print(f"  {path}")
    if conv.not_converted:
        print(f"not converted ({len(conv.not_converted)}), listed at the top of the rubric too:")
        for item in conv.not_converted:
            print(f"  {item}")
    print(f"next: grade a few submissions you graded with {conv.tool} and compare: "
          f"mlgrade grade SUBMISSIONS/ --rubric {out / 'rubric.yaml'} --out grades")
