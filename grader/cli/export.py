"""``mlgrade export``: what others need — Gradescope's autograder zip, the student kit."""

from __future__ import annotations

import argparse
from pathlib import Path

from grader.cli.common import EXIT_OK, UsageError, add_isolation, add_rubric, must_be_folder, say, writable_file
from grader.execute.isolation import for_command as isolation_for
from grader.platforms.gradescope import export_zip, final_bests_of
from grader.rubric.model import default_rubric_path, load_for_command
from grader.student.kit import KitError, export_student_kit


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("platform", choices=["gradescope", "student-kit"],
                   help="student-kit: what students install to self-check on Windows, macOS/Linux or Colab, "
                        "without the rubric's hidden parts")
    add_rubric(p)
    p.add_argument("--hidden", type=Path, metavar="DIR", help="gradescope: hidden test data to ship in the zip")
    p.add_argument("--samples", type=Path, metavar="DIR",
                   help="student-kit: sample submissions the public tests run on while their reference answers are "
                        "recorded (default: samples/ next to the rubric)")
    p.add_argument("-o", "--output", type=Path, default=None, metavar="ZIP",
                   help="the zip to write (default: autograder.zip, or mlgrade-kit.zip for student-kit)")
    p.add_argument("--install", metavar="SPEC",
                   help="gradescope: what setup.sh pip-installs (default: mlgrade's wheel, built from this "
                        "installation and shipped in the zip)")
    p.add_argument("--keras", action="store_true",
                   help="student-kit: students' installs run model files with Keras and JAX (heavier) instead of "
                        "mlgrade's light numpy engine")
    p.add_argument("--final-from", type=Path, metavar="GRADES",
                   help="gradescope: after the deadline, the class graded as one batch into GRADES: the zip carries "
                        "its class bests, so Gradescope's Regrade All Submissions gives every student the final "
                        "class-relative score")
    p.add_argument("--tensorflow", action="store_true",
                   help="gradescope: install TensorFlow in the image (default: when the rubric requires it)")
    add_isolation(p, "the isolation run_autograder asks for (default: auto)")


def run(args: argparse.Namespace) -> int:
    writable_file("-o/--output", args.output)
    return _student_kit(args) if args.platform == "student-kit" else _gradescope(args)


def _gradescope(args: argparse.Namespace) -> int:
    output = args.output or Path("autograder.zip")
    rubric_file = args.rubric or default_rubric_path()
    rubric = load_for_command(rubric_file)
    must_be_folder("--hidden", args.hidden)
    must_be_folder("--final-from", args.final_from)
    try:
        final = final_bests_of(args.final_from, rubric) if args.final_from else None
        info = export_zip(rubric_file, output, args.hidden, args.install, args.isolation,
                          True if args.tensorflow else None, final)
    except ValueError as e:
        raise UsageError(str(e)) from None
    print(f"wrote {output} for {rubric.name!r}: setup.sh installs {info['install']}"
          + (" with TensorFlow" if info["tensorflow"] else "")
          + (f", {info['hidden_files']} hidden files" if args.hidden else ", no hidden data"))
    if final is not None:
        bests = ", ".join(f"{q} {b:.4f}" for q, b in sorted(final.bests.items()))
        print(f"with the final class bests of {final.students} submissions graded {final.graded_at} ({bests}): in "
              "Gradescope, Configure Autograder, upload this zip, then Manage Submissions > Regrade All Submissions")
    else:
        print("upload it as the autograder of a Gradescope programming assignment (Ubuntu base image)")
    return EXIT_OK


def _student_kit(args: argparse.Namespace) -> int:
    rubric_path = args.rubric or default_rubric_path()
    load_for_command(rubric_path)  # mistakes reported with their key paths, as everywhere
    must_be_folder("--samples", args.samples)
    try:
        kit = export_student_kit(rubric_path, args.output or Path("mlgrade-kit.zip"), args.samples,
                                 isolation_for(args.isolation, "export"), say=say, keras=args.keras)
    except KitError as e:
        raise UsageError(str(e)) from None
    print(f"wrote {kit.path} ({kit.path.stat().st_size / 1e6:.1f} MB): mlgrade's student wheel, the rubric's "
          "student build and a README")
    print_build_report(kit.report)
    if kit.hidden:
        print(f"hidden questions, shown to students as graded by you: {', '.join(kit.hidden)}")
    print("scanned: no reference module, hidden test, hidden data, sample or unlisted file ships, and no shipped "
          "function returns the public tests' right answers")
    return EXIT_OK


def print_build_report(report) -> None:
    """What became of each check in the student build (compiled, copied, partly, graded later)."""
    for r in report:
        if r.state == "copied" and not r.notes:
            continue
        print(f"  {r.question}: {r.check}: {r.state}" + (f" ({'; '.join(r.notes)})" if r.notes else ""))
