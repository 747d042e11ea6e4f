"""Batch grading: the class-relative step, resuming, determinism, and workers that die or hang."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, make_zip
from helpers import NOTEBOOK_VALUE_RUBRIC, notebook_bytes
from kerasfiles import write_keras2_model

from grader.batch.run import grade_batch
from grader.checks.digitsdata import mnist_hidden, preprocess_photo
from grader.classstep.classwide import apply_class_relative
from grader.core.options import GradeOptions
from grader.core.results import QuestionResult, Status, SubmissionResult
from grader.intake.sources import discover
from grader.rubric import parse_rubric

DIGITS_RUBRIC = """
name: digits only
questions:
  - id: digits
    title: digits
    points: 40
    files: [digits.h5]
    checks:
      - {kind: digits, model: digits.h5}
"""


def constant_model(path: Path, k: int, input_shape=(28, 28)) -> bytes:
    """A model that answers digit ``k`` whatever it sees: its accuracy is the share of k's."""
    kernel = np.zeros((784, 10), np.float32)
    bias = np.zeros(10, np.float32)
    bias[k] = 10.0
    cfg = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, *input_shape], "name": "in"}},
        {"class_name": "Flatten", "config": {"name": "flatten"}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 10, "activation": "softmax"}}]}}
    write_keras2_model(path, [("flatten", []), ("dense", [("kernel:0", kernel), ("bias:0", bias)])], cfg,
                       keras_version="2.4.0", varlen=True)
    return path.read_bytes()


def result(student: str, acc: float | None, points: float = 40) -> SubmissionResult:
    q = QuestionResult(id="digits", title="d", score=points * (acc or 0), max_score=points, status=Status.PARTIAL,
                       reason="r", relative=acc)
    return SubmissionResult(student=student, source="-", total=q.score, max_total=points, questions=[q])


def scores(results):
    return {r.student: r.question("digits").score for r in results}


def test_class_relative_scores_ties_and_failures():
    rubric = parse_rubric(DIGITS_RUBRIC)
    rs = [result("a", 0.9), result("b", 0.6), result("c", None), result("d", 0.9)]
    bests = apply_class_relative(rubric, rs)
    assert bests == {"digits": 0.9}
    assert scores(rs) == {"a": 40, "b": pytest.approx(26.6667, abs=1e-4), "c": 0, "d": 40}
    assert "class best 0.9000: 40 x 0.6000 / 0.9000" in rs[1].question("digits").reason
    assert rs[0].total == 40


def test_best_of_zero_and_single_student():
    rubric = parse_rubric(DIGITS_RUBRIC)
    rs = [result("a", 0.0), result("b", 0.0)]
    apply_class_relative(rubric, rs)
    assert scores(rs) == {"a": 0, "b": 0} and "best accuracy in the class is 0" in rs[0].question("digits").reason
    one = [result("solo", 0.42)]
    apply_class_relative(rubric, one)
    assert scores(one) == {"solo": 40}


def test_a_late_submission_rescales_everyone_without_rerunning():
    rubric = parse_rubric(DIGITS_RUBRIC)
    stored = [result("a", 0.8), result("b", 0.4)]
    first = [r.model_copy(deep=True) for r in stored]
    apply_class_relative(rubric, first)
    assert scores(first) == {"a": 40, "b": 20}
    late = [r.model_copy(deep=True) for r in [*stored, result("late", 0.96)]]  # (a perfect 1.0 would be an
    apply_class_relative(rubric, late)  # outlier far above the class: flagged, not the best, see test_classbest)
    assert scores(late) == {"a": pytest.approx(33.3333), "b": pytest.approx(16.6667), "late": 40}


def test_staff_photos_are_inverted_and_resized(tmp_path):
    from PIL import Image

    digit = mnist_hidden().images[0]
    photo = Image.fromarray((255 - digit).astype(np.uint8)).resize((112, 112))  # dark ink on white paper
    photo.save(tmp_path / "p.png")
    arr = preprocess_photo(tmp_path / "p.png", "p.png")
    assert arr.shape == (28, 28)
    assert arr[0, 0] < 30 and arr.max() > 200  # white digit on black, like MNIST
    assert np.corrcoef(arr.ravel(), digit.ravel())[0, 1] > 0.9


def test_lms_bulk_download_layout(tmp_path):
    (tmp_path / "Alice Smith_123_assignsubmission_file_").mkdir()
    make_zip(tmp_path / "Alice Smith_123_assignsubmission_file_" / "hw.zip", [("a", b"a")])
    make_zip(tmp_path / "bob.zip", [("a", b"a")])
    found = discover([tmp_path])
    assert [s.path.name for s in found] == ["bob.zip", "hw.zip"]
    assert found[0].student == "bob"
    assert found[1].student.startswith("Alice_Smith_123_assignsubmission_file-")  # a space: never a plain id


@pytest.fixture
def digits_class(tmp_path):
    """Three students with models of known accuracy and one broken file."""
    batch = tmp_path / "class"
    batch.mkdir()
    for student, k, shape in (("amy", 1, (28, 28)), ("ben", 7, (784,)), ("cal", 3, (28, 28, 1))):
        make_zip(batch / f"{student}.zip", [("digits.h5", constant_model(tmp_path / f"{student}.h5", k, shape))])
    make_zip(batch / "dan.zip", [("digits.h5", b"\x89PNG not a model")])
    labels = mnist_hidden().labels
    expected_acc = {s: float(np.mean(labels == k)) for s, k in (("amy", 1), ("ben", 7), ("cal", 3))}
    return batch, expected_acc


def run_grade(batch: Path, out: Path, rubric_text: str, **kw):
    return grade_batch([batch], out, parse_rubric(rubric_text), GradeOptions(isolation=kw.pop("isolation", "none")),
                       rubric_text=rubric_text, jobs=kw.pop("jobs", 2), **kw)


@pytest.mark.slow  # over 10 s
def test_batch_scores_digits_relative_to_the_class_best(tmp_path, digits_class):
    batch, acc = digits_class
    out = tmp_path / "out"
    results = {r.student: r for r in run_grade(batch, out, DIGITS_RUBRIC)}
    best = max(acc.values())
    for s, a in acc.items():
        assert results[s].question("digits").relative == pytest.approx(a, abs=1e-6)
        assert results[s].question("digits").score == pytest.approx(40 * a / best, abs=1e-3)
    assert results["dan"].question("digits").score == 0
    assert "is a PNG image" in results["dan"].question("digits").reason
    summary = json.loads((out / "summary.json").read_text())
    assert summary["questions"]["digits"]["class_relative"]["class_best"] == pytest.approx(best, abs=1e-6)
    assert summary["questions"]["digits"]["class_relative"]["students"]["dan"] is None
    csv1 = (out / "grades.csv").read_bytes()
    # the same batch again: nothing regraded, byte-identical grades
    results2 = run_grade(batch, out, DIGITS_RUBRIC)
    assert (out / "grades.csv").read_bytes() == csv1
    assert [r.total for r in results2] == [r.total for r in results.values()]
    # graded from scratch elsewhere: still byte-identical
    run_grade(batch, tmp_path / "out2", DIGITS_RUBRIC)
    assert (tmp_path / "out2" / "grades.csv").read_bytes() == csv1


@pytest.mark.slow  # over 10 s
def test_late_submission_grades_only_itself_and_rescales_the_rest(tmp_path, digits_class, capsys):
    batch, acc = digits_class
    out = tmp_path / "out"
    run_grade(batch, out, DIGITS_RUBRIC)
    capsys.readouterr()
    labels = mnist_hidden().labels
    best_digit = int(np.bincount(labels).argmax())
    make_zip(batch / "zoe.zip", [("digits.h5", constant_model(tmp_path / "zoe.h5", best_digit))])
    results = {r.student: r for r in run_grade(batch, out, DIGITS_RUBRIC)}
    assert "graded 1, reused 4 stored results" in capsys.readouterr().err
    new_best = float(np.mean(labels == best_digit))
    assert results["zoe"].question("digits").score == 40
    assert results["amy"].question("digits").score == pytest.approx(40 * acc["amy"] / new_best, abs=1e-3)


SLOW_RUBRIC = """
name: slow
questions:
  - id: nb
    title: notebook
    points: 1
    files: [nb.ipynb]
    checks:
      - {kind: notebook_value, notebook: nb.ipynb, expr: "1", expected: 1, cell_timeout: 60, notebook_timeout: 90}
"""


def slow_class(tmp_path: Path, n_fast: int = 3, sleep: int = 30) -> Path:
    batch = tmp_path / "class"
    batch.mkdir()
    make_zip(batch / "aa_slow.zip", [("nb.ipynb", notebook_bytes(f"import time\ntime.sleep({sleep})"))])
    for i in range(n_fast):
        make_zip(batch / f"fast{i}.zip", [("nb.ipynb", notebook_bytes(f"x = {i}"))])
    return batch


@pytest.mark.slow  # over 10 s
def test_a_hanging_submission_costs_only_itself(tmp_path, capsys):
    batch = slow_class(tmp_path)
    t = time.monotonic()
    results = {r.student: r for r in run_grade(batch, tmp_path / "out", SLOW_RUBRIC, timeout=8)}
    assert time.monotonic() - t < 60
    assert "took longer than 8 s and was stopped" in results["aa_slow"].errors[0]
    # the clock ran out twice (tried again once): a grader-side failure, not the student's zero
    assert results["aa_slow"].grader_fault and results["aa_slow"].attempts == 2
    assert all(q.status is Status.ERROR for q in results["aa_slow"].questions)
    assert all(not results[f"fast{i}"].errors for i in range(3))


@pytest.mark.slow
def test_killed_worker_and_killed_parent(tmp_path):
    """kill -9 a worker mid-submission: the submission is graded again and the batch finishes; kill -9
    the parent: nothing is left running, and the rerun grades only what was not stored."""
    batch = slow_class(tmp_path, n_fast=6, sleep=25)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "grader", "grade", str(batch), "--out", str(out), "--rubric", "RUBRIC",
           "--isolation", "none", "--jobs", "2"]
    (tmp_path / "slow.yaml").write_text(SLOW_RUBRIC)
    cmd[cmd.index("RUBRIC")] = str(tmp_path / "slow.yaml")
    parent = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    worker = _wait_for_worker_grading(parent.pid, "aa_slow", out)
    os.kill(worker, signal.SIGKILL)
    _, err = parent.communicate(timeout=300)
    assert parent.returncode == 0, err
    record = json.loads((out / ".mlgrade" / "records" / "aa_slow.json").read_text())
    assert record["result"]["errors"] == [] and record["result"]["attempts"] == 2  # tried again, graded
    assert all((out / ".mlgrade" / "records" / f"fast{i}.json").exists() for i in range(6))

    # now kill the parent itself mid-batch
    out2 = tmp_path / "out2"
    cmd2 = [c if c != str(out) else str(out2) for c in cmd]
    parent = subprocess.Popen(cmd2, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for_worker_grading(parent.pid, "aa_slow", out2)
    deadline = time.monotonic() + 120
    while len(list((out2 / ".mlgrade" / "records").glob("fast*.json"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    time.sleep(2)
    assert _workers_of(out2) == [], "workers outlived the parent"
    stored = {p.stem for p in (out2 / ".mlgrade" / "records").glob("*.json")}
    assert "aa_slow" not in stored
    res = subprocess.run(cmd2, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert f"graded {7 - len(stored)}, reused {len(stored)} stored results" in res.stderr.replace("\n", " ")


def _workers_of(out: Path) -> list[int]:
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cmdline = (p / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if "grader.batch.worker" in cmdline and str(out) in cmdline:
                pids.append(int(p.name))
    return pids


def _wait_for_worker_grading(parent_pid: int, student: str, out: Path) -> int:
    """The pid of the worker busy with ``student``, from the batch's own 'running' notes."""
    note = out / ".mlgrade" / "running" / student
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if note.exists() and note.read_text().strip():
            time.sleep(1)  # let it get into the notebook
            return int(note.read_text())
        time.sleep(0.1)
    raise AssertionError("the worker never started on the slow submission")


def test_staff_photos_from_hidden_dir_are_the_test_set(tmp_path):
    """--hidden DIR/digits/<label>/*.png: dark ink on white paper, any size; the score uses only these."""
    from PIL import Image

    hidden = tmp_path / "hidden"
    data = mnist_hidden()
    labels = []
    for i in range(30):
        label = int(data.labels[i])
        folder = hidden / "digits" / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        photo = Image.fromarray((255 - data.images[i]).astype(np.uint8)).resize((90, 90))
        photo.convert("RGB").save(folder / f"staff{i}.jpg")
        labels.append(label)
    batch = tmp_path / "class"
    batch.mkdir()
    make_zip(batch / "amy.zip", [("digits.h5", constant_model(tmp_path / "amy.h5", 1))])
    make_zip(batch / "ben.zip", [("digits.h5", constant_model(tmp_path / "ben.h5", 7))])
    rubric = parse_rubric(DIGITS_RUBRIC)
    results = {r.student: r for r in grade_batch(
        [batch], tmp_path / "out", rubric, GradeOptions(isolation="none", hidden_dir=hidden),
        rubric_text=DIGITS_RUBRIC, jobs=1)}
    acc = {"amy": labels.count(1) / 30, "ben": labels.count(7) / 30}
    for s, a in acc.items():
        assert results[s].question("digits").relative == pytest.approx(a, abs=1e-6)
        assert "staff" in results[s].question("digits").reason
    best = max(acc.values())
    assert results["amy"].question("digits").score == pytest.approx(40 * acc["amy"] / best, abs=1e-3)


@pytest.mark.slow
def test_workers_killed_for_their_time_leave_no_private_folders(tmp_path, monkeypatch):
    """A worker stopped for its time is killed with its services: the batch removes their private folders
    when it ends (the next service start would, but there may be none)."""
    import tempfile

    from grader.execute.isolation import resolve
    from grader.execute.isolation.staging import PREFIX

    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir(mode=0o755)
    os.chmod(tmp_path, 0o755)
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    batch = slow_class(tmp_path)
    results = {r.student: r for r in run_grade(batch, tmp_path / "out", SLOW_RUBRIC, timeout=8,
                                               isolation=resolve("auto").name)}
    assert results["aa_slow"].grader_fault
    left = [p.name for p in private_tmp.iterdir() if p.name.startswith(PREFIX)]
    assert left == [], left


TIMELINE_RUBRIC = NOTEBOOK_VALUE_RUBRIC


def test_a_timeline_shows_each_stage_of_a_run_from_the_processes_that_did_it(tmp_path, monkeypatch):
    """``MLGRADE_TIMELINE`` (scripts/bench_small.py --timeline): the driver's and the worker's stages, in order."""
    batch = tmp_path / "batch"
    batch.mkdir()
    make_zip(batch / "amy.zip", [("nb.ipynb", notebook_bytes("x = 1"))])
    log = tmp_path / "timeline.txt"
    monkeypatch.setenv("MLGRADE_TIMELINE", str(log))
    (result,) = run_grade(batch, tmp_path / "out", TIMELINE_RUBRIC, jobs=1)
    assert result.total == 1
    lines = [line.split(" ", 2) for line in log.read_text().splitlines()]
    events = [e for _, _, e in lines]
    driver, worker = str(os.getpid()), {p for _, p, e in lines if e.startswith("worker:")}
    assert len(worker) == 1 and driver not in worker
    order = ["batch: start", "worker spawned", "worker: imported", "worker: ready", "worker: task amy", "unpacked",
             "notebook nb.ipynb: opening", "notebook nb.ipynb: cells run", "questions graded",
             "worker: answered amy", "graded", "class step", "class step and outputs written", "workers stopped"]
    assert [e for e in events if e in order] == order
    assert [float(t) for t, _, _ in lines] == sorted(float(t) for t, _, _ in lines)
    monkeypatch.delenv("MLGRADE_TIMELINE")
    before = log.read_text()
    run_grade(batch, tmp_path / "out2", TIMELINE_RUBRIC, jobs=1)
    assert log.read_text() == before  # off unless asked


def test_the_grade_command_starts_its_worker_first_and_ends_one_it_did_not_use(tmp_path, monkeypatch):
    """A worker imports while the command does (grader.batch.spawn): it is the one that grades; a command that
    stops early (a usage error) ends the worker it started."""
    from grader.batch import spawn
    from grader.cli.main import EXIT_OK, EXIT_USAGE, main

    made: list = []
    real = spawn.spawn
    monkeypatch.setattr(spawn, "spawn", lambda: made.append(real()) or made[-1])
    batch = tmp_path / "batch"
    batch.mkdir()
    make_zip(batch / "amy.zip", [("nb.ipynb", notebook_bytes("x = 1"))])
    (tmp_path / "rubric.yaml").write_text(TIMELINE_RUBRIC)
    log = tmp_path / "timeline.txt"
    monkeypatch.setenv("MLGRADE_TIMELINE", str(log))
    assert main(["grade", str(batch), "--rubric", str(tmp_path / "rubric.yaml"), "--out", str(tmp_path / "out"),
                 "--isolation", "none", "--jobs", "1"]) == EXIT_OK
    events = [line.split(" ", 2)[2] for line in log.read_text().splitlines()]
    assert events[0] == "worker spawned" and events.count("worker spawned") == 1 and len(made) == 1
    assert "worker: task amy" in events and (tmp_path / "out" / "grades.csv").read_text().splitlines()[1] == "amy,1,1"
    assert made[0].wait(timeout=30) == 0

    made.clear()
    assert main(["grade", str(tmp_path / "nowhere"), "--rubric", str(tmp_path / "rubric.yaml"),
                 "--out", str(tmp_path / "out2"), "--isolation", "none"]) == EXIT_USAGE
    assert len(made) == 1 and made[0].wait(timeout=30) == 0  # its input ended: it exits without grading
    assert spawn._IDLE == []


CRASH_ONCE = '''
from pathlib import Path
from grader.api import CheckContext, CheckParams, Outcome, check_kind


class Params(CheckParams):
    file: str


@check_kind("starved_helper", Params)
def starved_helper(ctx: CheckContext, p: Params) -> Outcome:
    """Stands for a helper that did not start on a starved machine: the check raises in the grader's code."""
    path, rel = ctx.submission.require(p.file)
    word = path.read_text().strip()
    tried = Path({marks!r}) / word
    tries = int(tried.read_text()) + 1 if tried.exists() else 1
    tried.write_text(str(tries))
    if word == "always" or tries == 1:
        raise RuntimeError("the model server did not start (the helper process stopped answering)")
    return Outcome(1.0, f"{{rel}}: read")
'''


def test_a_check_that_crashes_in_the_grader_is_graded_again_in_the_same_run(tmp_path, capsys):
    """A red-team notebook starved a batch's other worker: its model server did not start, a check raised, and that
    student's questions were stored as errors with 0. Such a submission is graded once more at once; one that
    crashes twice keeps its record (every other question graded), is said in the summary, and the next run grades
    it again."""
    marks = tmp_path / "marks"
    marks.mkdir()
    course = tmp_path / "course"
    course.mkdir()
    (course / "kinds.py").write_text(CRASH_ONCE.format(marks=str(marks)))
    rubric_text = ("name: crash\nplugins: [kinds.py]\nquestions:\n"
                   "  - {id: helper, title: a helper, points: 2, files: [w.txt], checks: [{kind: starved_helper, file: w.txt}]}\n"
                   "  - {id: present, title: present, points: 1, files: [w.txt], checks: [{kind: file_present, file: w.txt}]}\n")
    (course / "rubric.yaml").write_text(rubric_text)
    batch = tmp_path / "batch"
    batch.mkdir()
    make_zip(batch / "amy.zip", [("w.txt", b"once")])
    make_zip(batch / "bob.zip", [("w.txt", b"always")])
    out = tmp_path / "out"
    rubric = parse_rubric(rubric_text, str(course / "rubric.yaml"))
    kw = dict(rubric_text=rubric_text, rubric_source=str(course / "rubric.yaml"), jobs=1)
    amy, bob = grade_batch([batch], out, rubric, GradeOptions(isolation="none"), **kw)
    assert (amy.total, amy.questions[0].status) == (3, Status.PASSED) and (marks / "once").read_text() == "2"
    assert (bob.total, bob.questions[0].status, bob.questions[1].score) == (1, Status.ERROR, 1)
    assert "internal error in check 'starved_helper'" in bob.questions[0].reason
    assert (marks / "always").read_text() == "2"
    said = capsys.readouterr().err.replace("\n", " ")
    assert "1 with a check that failed in the grader itself" in said
    grade_batch([batch], out, rubric, GradeOptions(isolation="none"), **kw)  # bob again, amy reused
    assert (marks / "once").read_text() == "2" and (marks / "always").read_text() == "4"
