"""``mlgrade reference``: an instructor's tool — the values the course's own reference implementations compute
(``reference/expected.py`` next to the rubric; a student's install holds none)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from grader.cli.common import EXIT_OK, UsageError, add_rubric
from grader.rubric.instructor import InstructorError, load_module
from grader.rubric.model import default_rubric_path


def arguments(p: argparse.ArgumentParser) -> None:
    add_rubric(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    values = course_expected_values(args.rubric)
    if args.json:
        print(json.dumps(values, indent=2))
        return EXIT_OK
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


def course_expected_values(rubric: Path | None) -> dict:
    """``expected_values()`` of ``reference/expected.py`` in the rubric's folder: the instructor's course, never
    mlgrade itself."""
    folder = (rubric or default_rubric_path()).resolve().parent
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
