"""``mlgrade init``: scaffold an instructor's assignment, or write a Classroom template's set-up."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from grader.authoring.assignments import scaffold
from grader.cli.common import EXIT_OK, UsageError, must_be_folder, say, writable_folder
from grader.execute.isolation import for_command as isolation_for
from grader.platforms.classroom import write_workflow
from grader.rubric.model import default_rubric_path, load_for_command


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", choices=["assignment", "classroom"],
                   help="assignment: a folder with a rubric, tests, reference and samples; classroom: the workflow")
    p.add_argument("name", nargs="?", help="init assignment: the assignment's name (letters, digits, '_')")
    p.add_argument("--dir", type=Path, help="init assignment: where to create it (default: ./NAME)")
    p.add_argument("--rubric", type=Path, help="init classroom: rubric YAML (default: ./rubric.yaml)")
    p.add_argument("--repo", type=Path, default=Path("."), metavar="DIR",
                   help="init classroom: the template repository to write .github/workflows/classroom.yml into "
                        "(default: .)")
    p.add_argument("--install", metavar="SPEC",
                   help="init classroom: what the workflow pip-installs (default: mlgrade's student wheel, written "
                        "into .github/mlgrade/ of the template)")
    p.add_argument("--keras", action="store_true",
                   help="init classroom: the workflow runs model files with Keras and JAX instead of mlgrade's "
                        "light numpy engine")
    p.add_argument("--samples", type=Path, metavar="DIR",
                   help="init classroom: sample submissions the public tests run on while their reference answers "
                        "are recorded (default: samples/ next to the rubric)")
    p.add_argument("--python", default="3.11", metavar="VERSION", help="init classroom: Python version in the workflow")
    p.add_argument("--force", action="store_true", help="init classroom: replace an existing workflow")


def run(args: argparse.Namespace) -> int:
    if args.what == "classroom":
        return _classroom(args)
    if not args.name:
        raise UsageError("init assignment needs a NAME: mlgrade init assignment NAME")
    return _assignment(args)


def _assignment(args: argparse.Namespace) -> int:
    folder = args.dir or Path(args.name)
    writable_folder("--dir", folder)
    try:
        written = scaffold(folder, args.name)
    except (ValueError, FileExistsError) as e:
        raise UsageError(str(e)) from None
    print(f"created {folder}/ with {len(written)} files:")
    for path in written:
        print(f"  {path}")
    print(f"next: edit them, then run `mlgrade validate {folder / 'rubric.yaml'}`")
    return EXIT_OK


def _classroom(args: argparse.Namespace) -> int:
    rubric_file = args.rubric or default_rubric_path()
    rubric = load_for_command(rubric_file)
    must_be_folder("--repo", args.repo)
    must_be_folder("--samples", args.samples)
    if not re.fullmatch(r"3\.\d{1,2}(\.\d{1,3})?|3\.\d{1,2}\.x|3\.x", args.python):
        raise UsageError(f"--python {args.python}: not a Python version actions/setup-python takes (e.g. 3.11, "
                         "3.12); mlgrade needs 3.11 or later")
    writable_folder("--repo", args.repo / ".github")
    try:
        workflow, used = write_workflow(args.repo, rubric, rubric_file, args.install, args.force, args.python,
                                        args.samples, isolation_for("auto", "export"), say=say, keras=args.keras)
    except (FileExistsError, ValueError) as e:
        raise UsageError(str(e)) from None
    print(f"wrote {workflow} and {used.parent} (the rubric's student build and mlgrade's student wheel, scanned: no "
          "reference, hidden test or hidden data); commit them to the assignment's template repository")
    hidden = [q.id for q in rubric.questions if q.hidden]
    if hidden:
        print(f"hidden questions, pending in the students' workflow: {', '.join(hidden)}")
    return EXIT_OK
