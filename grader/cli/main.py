"""The ``mlgrade`` command line: the edge where users meet the stages below.

:data:`COMMANDS` is the one table of commands: each is a module of this package with
``arguments(parser)`` and ``run(args)``, listed by ``mlgrade --help`` under its group, a student's first.
Only the command that runs is imported, so ``mlgrade formats`` does not load what ``mlgrade grade`` needs.

Exit codes: 0 when the command did its work (whatever the scores), 2 for a usage, rubric or environment
error (an ``OSError`` included: one line with the path and what to do), 1 when ``mlgrade validate`` finds a
sample graded against expectations, 3 when a Dask cluster (``--scheduler``) cannot grade, 130 on Ctrl-C.
Bad student input never produces a traceback: it becomes a reason in the report.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from typing import NamedTuple

from grader import __version__
from grader.cli.common import EXIT_CLUSTER, EXIT_INVALID, EXIT_OK, EXIT_USAGE, os_error_line
from grader.core.errors import UsageError
from grader.core.portable import exit_after_cleanups
from grader.core.timeline import mark


class Command(NamedTuple):
    module: str  # under grader.cli
    help: str  # one line, for `mlgrade --help` and the command's own --help
    group: str  # which heading of `mlgrade --help` it is listed under: one of GROUPS
    # "module:function" under grader, called with the arguments before the command's module is imported, to
    # start what the command will wait for; it returns the clean-up for what was not used (or None).
    early: str = ""
    # "module:function" under grader, called with the arguments before anything else: an exit code when it
    # answered the command from what an identical earlier one kept (or None: run the command).
    replay: str = ""


#: What `mlgrade --help` shows first: a student needs one command, and must find it without reading the others.
GROUPS = {"student": "for students", "instructor": "for instructors", "platform": "inside a grading platform"}

#: The one table of commands; the order is `mlgrade --help`'s within each group.
COMMANDS: dict[str, Command] = {
    "check": Command("check", "check your homework before you hand it in, graded as your instructor will grade it",
                     "student", replay="student.replay:replay"),
    "grade": Command("grade", "grade a batch: zips, folders of zips, an LMS bulk download, or repositories",
                     "instructor", early="batch.spawn:before_grade"),
    "validate": Command("validate", "grade a rubric's sample submissions; fail if the tests misjudge one",
                        "instructor"),
    "review": Command("review", "a local page to review every flagged item of a class with the keyboard",
                      "instructor"),
    "override": Command("override", "record your own score for a student's question (kept through regrades)",
                        "instructor"),
    "export": Command("export", "build what others need: gradescope (the autograder zip), student-kit (mlgrade as "
                                "a wheel, the public rubric, a README per platform)", "instructor"),
    "init": Command("init", "scaffold a new assignment (init assignment NAME), or write the set-up a platform "
                            "needs (init classroom: the Actions workflow)", "instructor"),
    "import": Command("importing", "write a rubric and pytest files from Otter-Grader tests (import otter TESTS_DIR) "
                                   "or an nbgrader source notebook (import nbgrader SOURCE.ipynb)", "instructor"),
    "reference": Command("reference", "print the expected values the course's reference implementations compute "
                                      "(reference/expected.py next to the rubric)", "instructor"),
    "formats": Command("formats", "list the output formats of mlgrade grade", "instructor"),
    "kinds": Command("kinds", "list every check kind, where it comes from and its parameters", "instructor"),
    "classroom": Command("classroom", "grade a repository in a GitHub Classroom workflow (points per question)",
                         "platform"),
    "gradescope": Command("gradescope", "grade one submission inside Gradescope (the body of run_autograder)",
                          "platform"),
}

__all__ = ["COMMANDS", "GROUPS", "Command", "EXIT_CLUSTER", "EXIT_INVALID", "EXIT_OK", "EXIT_USAGE", "main"]


def main(argv: list[str] | None = None) -> int:
    _tolerant_output()
    argv = sys.argv[1:] if argv is None else list(argv)
    command = _command_in(argv)
    if command is not None and COMMANDS[command].replay:
        module, _, function = COMMANDS[command].replay.partition(":")
        answered = getattr(importlib.import_module(f"grader.{module}"), function)(argv)
        if answered is not None:
            mark(f"cli: {command} replayed")
            return answered
    early = _early(command, argv)
    try:
        return _main(argv, command)
    finally:
        if early is not None:
            early()


def _early(command: str | None, argv: list[str]) -> Callable[[], None] | None:
    """What the command starts ahead (its ``early`` hook), before its own imports; its clean-up."""
    if command is None or not COMMANDS[command].early:
        return None
    module, _, function = COMMANDS[command].early.partition(":")
    return getattr(importlib.import_module(f"grader.{module}"), function)(argv)


def _main(argv: list[str], command: str | None) -> int:
    parser, chosen = _parser(command)
    args = parser.parse_args(argv)
    if chosen is None:
        parser.print_help()
        return EXIT_USAGE
    mark(f"cli: {command} parsed")
    args.argv = argv  # the command's own words, for a command that keeps its answer (its ``replay``)
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


def entry() -> None:
    """The ``mlgrade`` command: :func:`main`, then an exit that skips module teardown."""
    exit_after_cleanups(main())


def _command_in(argv: list[str]) -> str | None:
    """The command's name: the first word that is not an option (mlgrade's own options take no value)."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def _parser(command: str | None):
    """The parser, with the arguments of ``command`` only (the others are listed by name and help, by group)."""
    p = argparse.ArgumentParser(
        prog="mlgrade",
        description="Grade machine-learning homework: notebooks, Keras models, images, equations.\n\n"
                    + command_list(),
        epilog="exit codes: 0 done (whatever the scores), 1 `validate` found a misjudged sample, 2 a usage, rubric or "
               "environment problem (one line says which), 3 a Dask cluster could not grade, 130 interrupted",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"mlgrade {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", help="one of the commands above; "
                           "`mlgrade COMMAND --help` says more")
    chosen = None
    for name, cmd in COMMANDS.items():
        cp = sub.add_parser(name, description=cmd.help[0].upper() + cmd.help[1:] + ".")
        if name == command:
            chosen = importlib.import_module(f"grader.cli.{cmd.module}")
            chosen.arguments(cp)
    return p, chosen


def command_list(width: int = 100) -> str:
    """The commands under their groups' headings, the student's first, each with its one line of help."""
    import textwrap

    pad = max(map(len, COMMANDS)) + 4
    lines = []
    for group, heading in GROUPS.items():
        lines.append(f"{heading}:")
        for name, cmd in COMMANDS.items():
            if cmd.group == group:
                lines += textwrap.wrap(cmd.help, width, initial_indent=f"  {name:<{pad - 2}}",
                                       subsequent_indent=" " * pad)
        lines.append("")
    return "\n".join(lines).rstrip()


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
