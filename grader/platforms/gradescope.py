"""Gradescope: ``mlgrade gradescope`` (the body of ``run_autograder``) and ``mlgrade export gradescope``.

Gradescope unpacks the autograder zip to ``/autograder/source``, runs ``setup.sh`` once to build
the image, then for every submission starts a fresh container (as root) with the student's
files in ``/autograder/submission`` and runs ``run_autograder``, which must leave
``/autograder/results/results.json``. Paths are overridable (``--root``), so tests build that
layout in a temporary folder.

Isolation there: the container is thrown away after one submission, so nothing a student does
reaches the next student whatever the sandbox. Inside it, ``--isolation auto`` uses bubblewrap
when user namespaces work (then the hidden data and the grader are out of the student code's
sight, as everywhere else) and otherwise runs student code with resource limits only, says so
in the results, and does not refuse (``mlgrade grade`` refuses). Without namespaces the
student's code runs as root in that container: it can read the hidden data shipped in the zip
and could overwrite its own ``results.json``; for stakes where that matters, keep hidden data
out of the Gradescope zip and grade with ``mlgrade grade`` after the deadline.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import tempfile
import traceback
import zipfile
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from grader import __version__
from grader.checks.model_accuracy import provisional_formula
from grader.core import textsafe
from grader.core.errors import UsageError
from grader.core.files import write_json_atomic
from grader.core.options import GradeOptions
from grader.execute.isolation import backend
from grader.execute.isolation import for_command as isolation_for
from grader.intake.lms import plain_id
from grader.render.classroom import relative_questions
from grader.render.common import fmt_points
from grader.render.gradescope import to_gradescope
from grader.rubric import load_rubric
from grader.rubric.model import load_for_command
from grader.score.pipeline import grade_submission
from grader.student.wheel import build_wheel

DEFAULT_ROOT = Path("/autograder")


@dataclass
class Layout:
    submission: Path
    results: Path
    rubric: Path
    hidden: Path | None
    metadata: Path

    @classmethod
    def under(cls, root: Path) -> Layout:
        hidden = root / "source" / "hidden"
        return cls(root / "submission", root / "results" / "results.json", root / "source" / "rubric.yaml",
                   hidden if hidden.is_dir() else None, root / "submission_metadata.json")


def read_metadata(path: Path) -> dict[str, Any]:
    """Who submitted and when, from ``submission_metadata.json`` (what is there; nothing is required)."""
    try:
        if path.stat().st_size > 1024**2:
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    origin: dict[str, Any] = {}
    users = data.get("users")
    if isinstance(users, list) and users and isinstance(users[0], dict):
        u = users[0]
        origin.update({k: str(u[src]) for k, src in (("full_name", "name"), ("email", "email"), ("sid", "sid"),
                                                                 ("user", "id"))
                       if u.get(src) is not None})
    if data.get("created_at"):
        origin["submitted_at"] = str(data["created_at"])
    assignment = data.get("assignment")
    if isinstance(assignment, dict) and assignment.get("due_date"):
        origin["deadline"] = str(assignment["due_date"])
    return origin


# Written into the autograder zip next to the rubric by `mlgrade export gradescope --final-from GRADES`: the
# class bests of the class graded after the deadline, so that "Regrade All Submissions" gives final scores.
CLASS_BESTS = "class_bests.json"
MAX_CLASS_BESTS_BYTES = 1024**2


@dataclass(frozen=True)
class FinalBests:
    """The class best of each class-relative question, from the class the instructor graded as one batch."""

    bests: dict[str, float]
    students: int
    graded_at: str

    def to_json(self) -> str:
        return json.dumps({"bests": self.bests, "students": self.students, "graded_at": self.graded_at},
                          indent=1, sort_keys=True)

    @classmethod
    def read(cls, path: Path) -> FinalBests | None:
        """The file the zip carries (root's alone in the container), or None when there is none or it is unusable."""
        try:
            if path.stat().st_size > MAX_CLASS_BESTS_BYTES:
                return None
            data = json.loads(path.read_text(encoding="utf-8"))
            bests = {str(k): float(v) for k, v in data["bests"].items() if 0 < float(v) <= 1}
            return cls(bests, int(data.get("students", 0)), str(data.get("graded_at", "")))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None


def apply_final_bests(result, rubric, final: FinalBests) -> list[str]:
    """Rescale ``result``'s class-relative questions against ``final``'s class bests, in place, as the batch
    did; returns the questions now final. A score is never above full points (a better resubmission)."""
    from grader.classstep.classwide import rescale_to_best  # deferred: only a zip with final bests needs it
    from grader.core.results import round_score  # deferred: with it

    done = []
    points = {q.id: q.points for q in rubric.questions}
    for q in result.questions:
        if q.id in final.bests and q.relative is not None:
            rescale_to_best(q, points[q.id], final.bests[q.id])
            done.append(q.id)
    result.total = round_score(sum(q.score for q in result.questions))
    return done


def gradescope_results(result, rubric, origin: dict[str, Any], isolation_note: str,
                       final: FinalBests | None = None) -> dict[str, Any]:
    """``results.json`` for one container, worded for the student reading it on Gradescope: class-relative
    questions give their provisional arithmetic with the class best it used (or, in a zip carrying the class's
    final bests, their final score against them), and their metric feeds Gradescope's leaderboard. The
    autograder's own stdout (notes for the instructor) stays hidden."""
    finals = apply_final_bests(result, rubric, final) if final is not None else []
    data = to_gradescope(result, origin)
    relative = relative_questions(rubric)
    leaderboard = []
    provisional = []
    for test, q in zip(data["tests"], result.questions, strict=True):
        if q.id in finals and final is not None:
            test["name"] += " (final)"
            test["output"] = (f"Final: scored against the class best, {final.bests[q.id]:.4f}, from the "
                              f"{final.students} submissions your instructor graded together after the deadline. "
                              + test["output"])
            if q.relative is not None:
                leaderboard.append({"name": q.id, "value": q.relative, "order": "desc"})
        elif q.id in relative:
            provisional.append(q.id)
            test["name"] += " (provisional)"
            test["output"] = _provisional_words(q) + test["output"]
            if q.relative is not None:
                leaderboard.append({"name": q.id, "value": q.relative, "order": "desc"})
    if leaderboard:
        data["leaderboard"] = leaderboard
    data["output"] = student_output(result, provisional, isolation_note)
    data["stdout_visibility"] = "hidden"
    return data


def _provisional_words(q) -> str:
    if q.relative is None:
        return ("Provisional: this question is scored relative to the best in the class, known when your instructor "
                "grades the whole class after the deadline. ")
    return (f"Provisional: {provisional_formula(q.max_score, q.relative, q.score)}. Your instructor grades the whole "
            "class after the deadline and replaces this score with the final one, which for the same accuracy is "
            "never lower. ")


def student_output(result, provisional: list[str], isolation_note: str) -> str:
    """The results' top-level text: what a student reads first on Gradescope, about their submission there."""
    safe = textsafe.terminal
    lines = [f"Autograder score: {fmt_points(result.total)}/{fmt_points(result.max_total)}"
             + (" (provisional)" if provisional else "")]
    if provisional:
        lines.append(f"{', '.join(provisional)} {'is' if len(provisional) == 1 else 'are'} scored relative to the "
                     "best in the class: the score here is provisional until your instructor grades the whole class "
                     "after the deadline and regrades every submission here with the class's best.")
    lines += [f"Problem: {safe(e)}" for e in result.errors] + [f"Note: {safe(w)}" for w in result.warnings]
    if isolation_note:
        lines.append(isolation_note)
    return "\n".join(lines)


# What the results' output tells the student about where their code ran on Gradescope (the sandbox says
# nothing). Never the self-check's or the instructor's wording: this is read by the student, about this run.
STUDENT_NOTES = {
    "uid": "Your code ran as an unprivileged user, with time and memory limits, in a container discarded after "
           "this submission.",
    "none": "Your code ran with time and memory limits in a container discarded after this submission.",
}


def _keep_private(layout: Layout) -> None:
    """Where student code runs as another user (or as us), the autograder's own folders are root's alone: the
    rubric's folder (tests, references), the hidden data and the results. Only folders this process owns."""
    for folder in {layout.rubric.parent, layout.results.parent, *([layout.hidden] if layout.hidden else [])}:
        try:
            if folder.is_dir() and folder.stat().st_uid == os.geteuid():
                os.chmod(folder, 0o700)
        except OSError:
            continue


def failure_results(why: str) -> dict[str, Any]:
    """What Gradescope shows when the grader itself failed: not the student's fault."""
    return {"score": 0.0, "output": "The autograder failed on its own side, not because of your work: "
            f"{why}\nYour instructor can see this message and will regrade.", "output_format": "text", "tests": [],
            "stdout_visibility": "hidden"}


def run(layout: Layout, isolation_requested: str = "auto") -> int:
    """Grade ``layout.submission`` and write ``layout.results``; a results file is written whatever happens."""
    try:
        rubric = load_for_command(layout.rubric)
        isolation = isolation_for(isolation_requested, "gradescope")

        if not backend(isolation).isolated:
            _keep_private(layout)
        note = STUDENT_NOTES.get(isolation, "")
        origin = read_metadata(layout.metadata)
        work = Path(tempfile.mkdtemp(prefix="mlgrade-gs-"))
        os.chmod(work, 0o755)
        options = GradeOptions(hidden_dir=layout.hidden, isolation=isolation, feedback_images=False)
        student = origin.get("email") or origin.get("full_name") or "submission"

        result = grade_submission(layout.submission, rubric, work / "w", options, student=plain_id(student))
        shutil.rmtree(work, ignore_errors=True)
        final = FinalBests.read(layout.rubric.parent / CLASS_BESTS)
        data = gradescope_results(result, rubric, origin, note, final)
    except UsageError as e:
        data = failure_results(str(e))
    except Exception as e:  # Gradescope must always get a results file
        tb = "".join(traceback.format_exception(type(e), e, e.__traceback__, limit=-4))
        print(tb, file=sys.stderr)
        data = failure_results(f"{type(e).__name__}: {e}")
    write_json_atomic(layout.results, data)
    return 0


# --------------------------------------------------------------------------- export

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu).
# Written by `mlgrade export gradescope` (mlgrade {version}): it installs mlgrade from the wheel in
# this zip, never from an index (mlgrade is not published on one).
set -euo pipefail
root="${{AUTOGRADER_ROOT:-/autograder}}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# bubblewrap is the sandbox; where the container gives no user namespaces, mlgrade runs student code as
# an unprivileged user instead (the container is discarded after each submission).
apt-get install -y -qq --no-install-recommends python3 python3-venv bubblewrap ca-certificates
PY=""
for v in python3.13 python3.12 python3.11; do
  if command -v "$v" >/dev/null && "$v" -m venv --help >/dev/null 2>&1; then PY="$v"; break; fi
done
if [ -z "$PY" ]; then  # Ubuntu 22.04 ships 3.10; mlgrade needs 3.11 (in universe)
  apt-get install -y -qq --no-install-recommends python3.11 python3.11-venv
  PY=python3.11
fi
"$PY" -m venv "$root/venv"
"$root/venv/bin/python" -m pip install -q --upgrade pip
"$root/venv/bin/python" -m pip install -q "$root/source/{wheel}{extras}"
# student code runs as another user: it must read the interpreter and the packages, and nothing of source/
chmod o+rx "$root"
chmod -R o+rX "$root/venv"
chmod 700 "$root/source"
"$root/venv/bin/mlgrade" --version
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission. Written by `mlgrade export gradescope` (mlgrade {version}).
root="${{AUTOGRADER_ROOT:-/autograder}}"
mlgrade="${{MLGRADE:-$root/venv/bin/mlgrade}}"
mkdir -p "$root/results"
chmod 700 "$root/source" "$root/results" 2>/dev/null  # the rubric, references, hidden data: root's alone
"$mlgrade" gradescope --root "$root" --rubric "$root/source/{rubric}" {isolation}
status=$?
if [ ! -s "$root/results/results.json" ]; then  # mlgrade did not even start: say so, in Gradescope's format
  msg="The autograder failed to start (exit $status); this is not about your work."
  printf '{{"score": 0, "output": "%s", "tests": []}}\\n' "$msg" > "$root/results/results.json"
fi
exit 0
"""


def _add_tree(zf: zipfile.ZipFile, folder: Path, prefix: str) -> int:
    n = 0
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if p.is_symlink() or not p.is_file() or "__pycache__" in rel.parts or p.suffix == ".pyc":
            continue
        _add_file(zf, p, f"{prefix}/{rel.as_posix()}")
        n += 1
    return n


def _add_file(zf: zipfile.ZipFile, path: Path, name: str, mode: int = 0o644) -> None:
    _add_bytes(zf, name, path.read_bytes(), mode)


def _add_bytes(zf: zipfile.ZipFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.create_system = 3
    info.compress_type = zipfile.ZIP_STORED if name.endswith(".whl") else zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def needs_tensorflow(rubric) -> bool:
    """The rubric's notebooks import TensorFlow (its ``requires:``): the image gets mlgrade's tensorflow extra."""
    return any(r.split("[")[0].strip().lower().replace("_", "-") in ("tensorflow", "tensorflow-cpu", "tf")
               for r in rubric.requires)


def export_zip(rubric_file: Path, out: Path, hidden: Path | None = None, install: str | None = None,
               isolation: str = "auto", tensorflow: bool | None = None,
               final: FinalBests | None = None) -> dict[str, Any]:
    """Build the autograder zip: mlgrade's wheel (built from this installation, whatever way it was installed),
    the rubric with every file it reads, laid out as around the rubric here, and the hidden data.
    ``install``: a pip requirement setup.sh installs instead of the wheel (the instructor's own index)."""
    rubric = load_rubric(rubric_file)
    folder, files = rubric.portable_layout()
    rubric_rel = f"{folder}/rubric.yaml" if folder else "rubric.yaml"
    tensorflow = needs_tensorflow(rubric) if tensorflow is None else tensorflow
    wheel_name, wheel = build_wheel(student=False)
    bests_rel = f"{folder}/{CLASS_BESTS}" if folder else CLASS_BESTS
    reserved = {"setup.sh", "run_autograder", wheel_name, rubric_rel, bests_rel}
    clash = [rel for _, rel in files if rel in reserved or rel.split("/")[0] == "hidden"]
    if clash:
        raise ValueError(f"the rubric's files {', '.join(clash)} would collide with the autograder's own names")
    extras = "[tensorflow]" if tensorflow else ""
    if install is not None:
        spec = "'" + install.replace("'", "") + "'"
        setup = SETUP_SH.replace('"$root/source/{wheel}{extras}"', "{spec}").format(
            version=__version__, spec=spec)
    else:
        spec = f"{wheel_name}{extras} (in the zip)"
        setup = SETUP_SH.format(version=__version__, wheel=wheel_name, extras=extras)
    iso = "" if isolation == "auto" else f"--isolation {isolation}"
    hidden_files = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    try:
        with zipfile.ZipFile(tmp, "w") as zf:
            _add_bytes(zf, "setup.sh", setup.encode(), 0o755)
            _add_bytes(zf, "run_autograder", RUN_AUTOGRADER.format(version=__version__, isolation=iso,
                                                                    rubric=rubric_rel).encode(), 0o755)
            if install is None:
                _add_bytes(zf, wheel_name, wheel)
            _add_file(zf, rubric_file, rubric_rel)
            for path, rel in files:  # test files, reference modules, plugins, data sets
                _add_file(zf, path, rel)
            if hidden is not None:
                hidden_files = _add_tree(zf, hidden, "hidden")
            if final is not None:
                _add_bytes(zf, bests_rel, final.to_json().encode())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return {"install": spec, "hidden_files": hidden_files, "tensorflow": tensorflow, "rubric": rubric_rel,
            "final": final}


def final_bests_of(grades: Path, rubric) -> FinalBests:
    """The class bests of the class graded into ``grades`` with this very rubric; ValueError otherwise."""
    from datetime import datetime

    from grader.classstep.classwide import NoClass, apply_class_relative, stored_class  # deferred: export only
    from grader.score.store import class_file  # deferred: export only

    try:
        graded_with, results, _ = stored_class(grades)
    except NoClass as e:
        raise ValueError(str(e)) from None
    if graded_with.digest() != rubric.digest():
        raise ValueError(f"{grades} was graded with another rubric than this one: grade the class with it first")
    bests = {q: b for q, b in apply_class_relative(rubric, results).items() if b}
    if not bests:
        raise ValueError(f"{grades}: no class-relative question has an accuracy in this class")
    stamp = datetime.fromtimestamp(class_file(grades).stat().st_mtime, UTC)
    return FinalBests(bests, len(results), stamp.strftime("%Y-%m-%d %H:%M UTC"))
