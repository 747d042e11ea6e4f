"""The ``mlgrade`` command line: the edge where users meet the stages below.

:data:`COMMANDS` is the one table of commands: each is a module of this package with
``arguments(parser)`` and ``run(args)``. Only the command that runs is imported, so ``mlgrade formats``
does not load what ``mlgrade grade`` needs.

Exit codes: 0 when the command did its work (whatever the scores), 2 for a usage, rubric or environment
error (an ``OSError`` included: one line with the path and what to do), 1 when ``mlgrade validate`` finds a
sample graded against expectations, 3 when a Dask cluster (``--scheduler``) cannot grade, 130 on Ctrl-C.
Bad student input never produces a traceback: it becomes a reason in the report.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from grader import __version__
from grader.cli.common import EXIT_CLUSTER, EXIT_INVALID, EXIT_OK, EXIT_USAGE, os_error_line
from grader.core.errors import UsageError

#: command -> (module under grader.cli, one line of help); the order is `mlgrade --help`'s.
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("check", "self-check one submission (a .zip or a folder)"),
    "grade": ("grade", "grade a batch: zips, folders of zips, an LMS bulk download, or repositories"),
    "formats": ("formats", "list the output formats"),
    "classroom": ("classroom", "grade a repository in a GitHub Classroom workflow (points per question)"),
    "gradescope": ("gradescope", "grade one submission inside Gradescope (the body of run_autograder)"),
    "export": ("export", "build what others need: gradescope (the autograder zip), student-kit (mlgrade as a "
                         "wheel, the public rubric, a README per platform)"),
    "init": ("init", "scaffold a new assignment (init assignment NAME), or write the set-up a platform needs "
                     "(init classroom: the Actions workflow)"),
    "import": ("importing", "write a rubric and pytest files from Otter-Grader tests (import otter TESTS_DIR) or an "
                            "nbgrader source notebook (import nbgrader SOURCE.ipynb)"),
    "validate": ("validate", "grade a rubric's sample submissions; fail if the tests misjudge one"),
    "kinds": ("kinds", "list every check kind, where it comes from and its parameters"),
    "override": ("override", "record your own score for a student's question (kept through regrades)"),
    "review": ("review", "a local page to review every flagged item of a class with the keyboard"),
    "reference": ("reference", "instructors: print the expected values the course's reference implementations "
                               "compute (reference/expected.py next to the rubric)"),
}

__all__ = ["COMMANDS", "EXIT_CLUSTER", "EXIT_INVALID", "EXIT_OK", "EXIT_USAGE", "main"]


def main(argv: list[str] | None = None) -> int:
    _tolerant_output()
    argv = sys.argv[1:] if argv is None else list(argv)
    parser, chosen = _parser(_command_in(argv))
    args = parser.parse_args(argv)
    if chosen is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return chosen.run(args)
    except UsageError as e:
        print(f"mlgrade: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:  # the environment (a path, a permission, a port), never a traceback
        print(f"mlgrade: error: {os_error_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("mlgrade: interrupted", file=sys.stderr)
        return 130


def _command_in(argv: list[str]) -> str | None:
    """The command's name: the first word that is not an option (mlgrade's own options take no value)."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def _parser(command: str | None):
    """The parser, with the arguments of ``command`` only (the others are listed by name and help)."""
    p = argparse.ArgumentParser(
        prog="mlgrade",
        description="Grade machine-learning homework: notebooks, Keras models, images, equations.",
        epilog="exit codes: 0 done (whatever the scores), 1 `validate` found a misjudged sample, 2 a usage, rubric or "
               "environment problem (one line says which), 3 a Dask cluster could not grade, 130 interrupted",
    )
    p.add_argument("--version", action="version", version=f"mlgrade {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    chosen = None
    for name, (module, help) in COMMANDS.items():
        cp = sub.add_parser(name, help=help, description=help)
        if name == command:
            chosen = importlib.import_module(f"grader.cli.{module}")
            chosen.arguments(cp)
    return p, chosen


def _tolerant_output() -> None:
    """A Windows console or a redirected output in a legacy code page cannot encode every character a
    student's file name or output holds: print a replacement character rather than fail."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="replace")  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
