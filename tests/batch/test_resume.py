"""Resuming after kill -9, of the parent or of a worker, at many moments: the grades are identical to an
uninterrupted run, and no grader failure is ever stored as a student's zero."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from grader.execute.isolation import resolve

pytestmark = pytest.mark.slow

STUDENTS = ["alice_complete", "bob_partial", "erin_hardcoded", "frank_buggy", "grace_crash"]


def _rubric(tmp_path: Path) -> Path:
    """The default rubric's notebook and equation questions (no Keras: kills land in notebooks)."""
    data = yaml.safe_load((ROOT / "rubric.yaml").read_text())
    data["questions"] = [q for q in data["questions"] if q["id"] in ("q4a", "q4b", "backprop")]
    for q in data["questions"]:  # the course packs' test files, where they are (this rubric is elsewhere)
        for c in q["checks"]:
            c.update({k: str(ROOT / c[k]) for k in ("tests", "reference") if k in c})
    path = tmp_path / "rubric.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _class(tmp_path: Path) -> Path:
    batch = tmp_path / "class"
    batch.mkdir()
    for s in STUDENTS:
        shutil.copy(ROOT / "submissions" / f"{s}.zip", batch / f"{s}.zip")
    return batch


def _cmd(batch: Path, out: Path, rubric: Path) -> list[str]:
    return [sys.executable, "-m", "grader", "grade", str(batch), "--out", str(out), "--rubric", str(rubric),
            "--isolation", resolve("auto").name, "--jobs", "2"]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _scores(out: Path) -> dict:
    return {s: json.loads((out / "students" / s / "results.json").read_text())["tests"] for s in STUDENTS}


def _no_workers_left(out: Path) -> bool:
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if str(out) in (p / "cmdline").read_bytes().decode(errors="replace"):
                    return False
            except OSError:
                pass
    return True


def test_kill_the_parent_at_many_moments_then_resume(tmp_path):
    batch, rubric = _class(tmp_path), _rubric(tmp_path)
    ref = tmp_path / "ref"
    done = subprocess.run(_cmd(batch, ref, rubric), env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    expected_csv = (ref / "grades.csv").read_bytes()

    out = tmp_path / "out"
    for delay in (0.3, 1.0, 2.0, 3.0, 4.5, 6.0):
        proc = subprocess.Popen(_cmd(batch, out, rubric), env=_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 20
        while not _no_workers_left(out) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _no_workers_left(out), "a worker outlived its killed parent"
    done = subprocess.run(_cmd(batch, out, rubric), env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert (out / "grades.csv").read_bytes() == expected_csv
    assert _scores(out) == _scores(ref)
    assert not any((out / ".mlgrade" / "work").iterdir())


def test_kill_workers_mid_submission(tmp_path):
    batch, rubric = _class(tmp_path), _rubric(tmp_path)
    ref = tmp_path / "ref"
    assert subprocess.run(_cmd(batch, ref, rubric), env=_env(), capture_output=True, timeout=600).returncode == 0

    out = tmp_path / "out"
    proc = subprocess.Popen(_cmd(batch, out, rubric), env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    killed: set[str] = set()
    running = out / ".mlgrade" / "running"
    deadline = time.monotonic() + 300
    while proc.poll() is None and len(killed) < 2 and time.monotonic() < deadline:
        for note in list(running.glob("*")) if running.is_dir() else []:
            if note.name in killed:
                continue
            try:
                pid = int(note.read_text())
            except (OSError, ValueError):
                continue
            time.sleep(0.8 if not killed else 1.6)  # into unpacking, then into a notebook
            try:  # still on that student? (the worker may have moved on, e.g. to the retry of a killed one)
                if int(note.read_text()) != pid:
                    continue
            except (OSError, ValueError):
                continue
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(note.name)
            except ProcessLookupError:
                pass
            break
        time.sleep(0.05)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert killed, "no worker was caught grading"
    assert (out / "grades.csv").read_bytes() == (ref / "grades.csv").read_bytes()
    records = [json.loads((out / ".mlgrade" / "records" / f"{s}.json").read_text())["result"] for s in STUDENTS]
    assert not any(r["grader_fault"] for r in records)
    assert any(r["attempts"] == 2 for r in records), "the submissions in flight were not graded again"
