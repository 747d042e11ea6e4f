"""``mlgrade gradescope``: the body of Gradescope's ``run_autograder``."""

from __future__ import annotations

import argparse
from pathlib import Path

from grader.cli.common import UsageError, add_isolation, writable_file
from grader.platforms.gradescope import DEFAULT_ROOT, Layout
from grader.platforms.gradescope import run as run_gradescope

PATHS = (("submission", "the student's files"), ("results", "where results.json goes"), ("rubric", "the rubric"),
         ("hidden", "hidden test data"), ("metadata", "submission metadata"))


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", type=Path, default=DEFAULT_ROOT, metavar="DIR",
                   help="Gradescope's folder (default: /autograder): submission/, source/rubric.yaml, "
                        "source/hidden/, results/results.json, submission_metadata.json")
    for name, what in PATHS:
        p.add_argument(f"--{name}", type=Path, metavar="PATH", help=f"{what} (default: under --root)")
    add_isolation(p, "sandbox for student code (auto: bubblewrap where the container allows it, else limits only)")


def run(args: argparse.Namespace) -> int:
    layout = Layout.under(args.root)
    for name, _ in PATHS:
        if getattr(args, name) is not None:
            setattr(layout, name, getattr(args, name))
    if not layout.submission.exists():
        raise UsageError(f"{layout.submission}: no such folder (is this Gradescope? pass --root or --submission)")
    writable_file("--results", layout.results)
    return run_gradescope(layout, args.isolation)
