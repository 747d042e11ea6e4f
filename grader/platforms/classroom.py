"""GitHub Classroom: ``mlgrade classroom`` in a student's workflow, ``mlgrade init classroom``.

Two modes, because nothing in a student's repository is secret (the student can edit the
workflow and print anything it can read):

- the student's workflow runs the public checks: per-question points reach Classroom through
  the grading reporter, and questions marked ``hidden: true`` in the rubric (or scored
  relative to the class) show as pending;
- the instructor grades every student repository with the hidden tests and data on their own
  machine: ``mlgrade grade --roster ... --deadline ...`` (:mod:`grader.platforms.repos`).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from grader import __version__
from grader.core.options import GradeOptions
from grader.core.results import SubmissionResult
from grader.intake.sources import student_id
from grader.render.classroom import classroom_results, github_output, job_summary, points, runner_ids
from grader.rubric import Rubric
from grader.score.hidden import hidden_ids, public_rubric, with_hidden_pending
from grader.score.pipeline import grade_submission
from grader.student.compile import BuildError, compile_student_build
from grader.student.kit import leak_message, models_engine
from grader.student.leaks import scan
from grader.student.wheel import WheelError, build_wheel

WORKFLOW_PATH = Path(".github") / "workflows" / "classroom.yml"
# what may appear inside the workflow's single-quoted strings without quoting problems
_SAFE_PATH = re.compile(r"[A-Za-z0-9._/-]{1,200}")
_SAFE_SPEC = re.compile(r"[A-Za-z0-9._\-=<>~!@:/+\[\],]{1,300}")
BUILD_FOLDER = Path(".github") / "mlgrade"  # the rubric's student build and mlgrade's student wheel
RUBRIC_COPY = BUILD_FOLDER / "rubric.yaml"
_PYTHON = re.compile(r"3\.(1[1-9]|[2-9][0-9])")


@dataclass
class ClassroomRun:
    result: SubmissionResult
    runners: dict[str, dict]
    commit: str = ""  # the commit graded, when the path was a git work tree


def head_snapshot(repo: Path, dest_zip: Path) -> str | None:
    """The committed files of ``repo``'s HEAD as a zip (what Classroom sees); the commit, or None
    when ``repo`` is not a git work tree or git is missing."""
    if not (repo / ".git").exists() or shutil.which("git") is None:
        return None
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "HEAD^{commit}"], env=env,
                             capture_output=True, text=True, timeout=60, check=True).stdout.strip()
        subprocess.run(["git", "-C", str(repo), "archive", "--format=zip", "-o", str(dest_zip), sha], env=env,
                       capture_output=True, timeout=600, check=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
        return None
    return sha


def grade_repository(path: Path, rubric: Rubric, isolation: str, feedback_images: bool = True) -> ClassroomRun:
    """Grade ``path`` (a work tree: its HEAD commit; a folder or zip: as it is) with the public checks."""
    work = Path(tempfile.mkdtemp(prefix="mlgrade-classroom-"))
    os.chmod(work, 0o755)
    try:
        source, commit = path, ""
        if path.is_dir():
            snap = work / "snapshot.zip"
            commit = head_snapshot(path, snap) or ""
            if commit:
                source = snap
        student = os.environ.get("GITHUB_ACTOR") or student_id(path.resolve())
        result = grade_submission(source, public_rubric(rubric), work / "w", GradeOptions(
            self_check=True, isolation=isolation, feedback_images=feedback_images), student=student)
        result = with_hidden_pending(result, rubric)
        result.source = str(path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ClassroomRun(result, classroom_results(result, rubric, hidden_ids(rubric)), commit)


def write_github_files(run: ClassroomRun, rubric: Rubric, output: Path | None, step_summary: Path | None) -> None:
    """Append the runner outputs to ``$GITHUB_OUTPUT`` and a Markdown report to ``$GITHUB_STEP_SUMMARY``."""
    if output is not None:
        with open(output, "a", encoding="utf-8") as f:
            f.write(github_output(run.runners))
    if step_summary is not None:
        with open(step_summary, "a", encoding="utf-8") as f:
            f.write(job_summary(run.result, run.runners, rubric))


def stop_commands_token() -> str:
    """A fresh token for ``::stop-commands::``: while it is active, the Actions runner treats no
    printed line as a workflow command, so nothing a student wrote can set outputs or masks."""
    return secrets.token_hex(16)


def classroom_points(run: ClassroomRun) -> tuple[float, float]:
    return points(run.runners)


# --------------------------------------------------------------------------- init classroom

def workflow_yaml(rubric: Rubric, rubric_path: str, install: str, python: str = "3.11") -> str:
    """The Actions workflow Classroom runs on every push: mlgrade, then GitHub's reporter."""
    ids = runner_ids(rubric)
    runners = list(ids.values())
    env = "\n".join(f"          {r.upper()}_RESULTS: \"${{{{ steps.grade.outputs.{r} }}}}\"" for r in runners)
    hidden = [q.id for q in rubric.questions if q.hidden]
    note = (f"# Questions {', '.join(hidden)} are hidden: they show as pending here and are graded in the "
            "instructor's run.\n") if hidden else ""
    return f"""# GitHub Classroom autograding with mlgrade {__version__} (written by `mlgrade init classroom`).
# Points per question reach Classroom through GitHub's grading reporter (one runner per question).
# This workflow runs only the public checks: anything in this repository, this file included, is
# visible to the student. Hidden tests and data are graded by the instructor with `mlgrade grade`.
{note}name: Autograding Tests
'on': [push, repository_dispatch]
permissions:
  checks: write
  actions: read
  contents: read
jobs:
  run-autograding-tests:
    runs-on: ubuntu-latest
    if: github.actor != 'github-classroom[bot]'
    timeout-minutes: 30
    steps:
      - name: Check out the submission
        uses: actions/checkout@v4
      - name: Set up Python
        uses: actions/setup-python@v5
        with:
          python-version: '{python}'
          cache: pip
          cache-dependency-path: .github/workflows/classroom.yml
      - name: Install bubblewrap (the sandbox for student code)
        run: |
          sudo apt-get update -qq && sudo apt-get install -y -qq bubblewrap
          # Ubuntu 24.04 restricts unprivileged user namespaces, which bubblewrap needs
          sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 || true
      - name: Install mlgrade {__version__} (its student wheel, committed in .github/mlgrade)
        run: python -m pip install '{install}'
      - name: Grade
        id: grade
        run: mlgrade classroom . --rubric '{rubric_path}' --html feedback.html
      - name: Keep the feedback page
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: mlgrade-feedback
          path: feedback.html
          if-no-files-found: ignore
      - name: Autograding Reporter
        uses: classroom-resources/autograding-grading-reporter@v1
        env:
{env}
        with:
          runners: {",".join(runners)}
"""


def write_workflow(repo: Path, rubric: Rubric, rubric_file: Path, install: str | None, force: bool = False,
                   python: str = "3.11", samples: Path | None = None, isolation: str = "auto",
                   say=lambda _: None, keras: bool = False) -> tuple[Path, Path]:
    """Write the template repository's workflow and ``.github/mlgrade/``: the rubric's student build (never its
    references, hidden tests or data: every student's repository is a copy of the template) and mlgrade's
    student wheel, which the workflow installs. Returns ``(workflow, rubric path used)``."""
    repo = repo.resolve()
    target = repo / WORKFLOW_PATH
    folder = repo / BUILD_FOLDER
    if (target.exists() or folder.exists()) and not force:
        raise FileExistsError(f"{target if target.exists() else folder} exists; pass --force to replace it")
    if install is not None and not _SAFE_SPEC.fullmatch(install):
        raise ValueError(f"--install {install!r}: expected a pip requirement (letters, digits, ._-=<>~!@:/+[],)")
    if not _PYTHON.fullmatch(python):
        raise ValueError(f"--python {python!r}: expected a Python version such as 3.11 or 3.12")
    with tempfile.TemporaryDirectory(prefix="mlgrade-classroom-") as tmp:
        try:
            build = compile_student_build(rubric_file, Path(tmp) / "build", samples, isolation, say)
            wheel_name, wheel = build_wheel(student=True, models=models_engine(build, keras))
        except (BuildError, WheelError) as e:
            raise ValueError(str(e)) from None
        staged = Path(tmp) / "template"
        for rel in build.files:  # what the build wrote, and nothing a run left beside it
            (staged / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(build.folder / rel, staged / rel)
        (staged / wheel_name).write_bytes(wheel)
        leaks = scan([staged], build.secrets)
        if leaks:
            raise ValueError(leak_message("template", leaks))
        if folder.exists():
            shutil.rmtree(folder)
        shutil.copytree(staged, folder)
    used = folder / "rubric.yaml"
    spec = install or f"{BUILD_FOLDER.as_posix()}/{wheel_name}"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(workflow_yaml(rubric, (BUILD_FOLDER / "rubric.yaml").as_posix(), spec, python),
                      encoding="utf-8")
    return target, used
