"""The worker started ahead (grader.batch.spawn): it starts its sandbox while the command reads the rubric,
in a slot no other worker gets, and stops it when the rubric has no notebook or the command stops early."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import make_zip
from helpers import NOTEBOOK_VALUE_RUBRIC, bwrap_problem, notebook_bytes

from grader.batch import spawn
from grader.cli.main import EXIT_OK, EXIT_USAGE, main

FILE_RUBRIC = """
name: one file
questions:
  - id: f
    title: a file
    points: 1
    checks:
      - {kind: file_present, file: nb.ipynb}
"""

needs_bwrap = pytest.mark.skipif(bwrap_problem() is not None, reason=str(bwrap_problem()))


def _grade(tmp_path: Path, rubric_text: str, monkeypatch, isolation: str = "bwrap") -> tuple[int, list[str], list]:
    """``mlgrade grade`` of one notebook; its exit code, the timeline's events and the workers it started."""
    made: list[subprocess.Popen] = []
    real = spawn.spawn
    monkeypatch.setattr(spawn, "spawn", lambda: made.append(real()) or made[-1])
    batch = tmp_path / "batch"
    batch.mkdir(exist_ok=True)
    make_zip(batch / "amy.zip", [("nb.ipynb", notebook_bytes("x = 1"))])
    (tmp_path / "rubric.yaml").write_text(rubric_text)
    log = tmp_path / "timeline.txt"
    log.unlink(missing_ok=True)
    monkeypatch.setenv("MLGRADE_TIMELINE", str(log))
    code = main(["grade", str(batch), "--rubric", str(tmp_path / "rubric.yaml"), "--out", str(tmp_path / "out"),
                 "--isolation", isolation, "--jobs", "1"])
    events = [line.split(" ", 2)[1:] for line in log.read_text().splitlines()]
    return code, events, made


@needs_bwrap
def test_the_worker_started_ahead_starts_its_sandbox_before_the_rubric_is_read(tmp_path, monkeypatch):
    code, events, made = _grade(tmp_path, NOTEBOOK_VALUE_RUBRIC, monkeypatch)
    assert code == EXIT_OK and (tmp_path / "out" / "grades.csv").read_text().splitlines()[1] == "amy,1,1"
    names = [e for _, e in events]
    assert names.index("worker told to warm") < names.index("batch: start")
    worker = {pid for pid, e in events if e == "worker: ready"}
    starts = [i for i, (pid, e) in enumerate(events) if e == "zygote: starting" and pid in worker]
    assert len(starts) == 1 and starts[0] < names.index("worker: ready")  # one sandbox, started before the rubric
    assert not any("not needed" in e for e in names)
    assert len(made) == 1 and made[0].wait(timeout=30) == 0 and spawn._IDLE == []


@needs_bwrap
def test_a_rubric_without_notebooks_stops_the_sandbox_started_ahead(tmp_path, monkeypatch):
    code, events, made = _grade(tmp_path, FILE_RUBRIC, monkeypatch)
    assert code == EXIT_OK and (tmp_path / "out" / "grades.csv").read_text().splitlines()[1] == "amy,1,1"
    names = [e for _, e in events]
    assert "worker told to warm" in names and "worker: the sandbox started ahead is not needed: stopped" in names
    assert made[0].wait(timeout=30) == 0


@needs_bwrap
def test_a_command_that_stops_early_ends_the_warming_worker_and_frees_its_slot(tmp_path, monkeypatch):
    code, events, made = _grade(tmp_path, "name: broken\nquestions: 3\n", monkeypatch)
    assert code == EXIT_USAGE
    assert "worker told to warm" in [e for _, e in events]
    assert len(made) == 1 and made[0].poll() == 0  # ended (its sandbox stopped) before the command returned
    assert spawn._IDLE == []


def test_without_a_sandbox_nothing_starts_ahead(tmp_path, monkeypatch):
    code, events, made = _grade(tmp_path, NOTEBOOK_VALUE_RUBRIC, monkeypatch, isolation="none")
    names = [e for _, e in events]
    assert code == EXIT_OK and (tmp_path / "out" / "grades.csv").read_text().splitlines()[1] == "amy,1,1"
    assert "worker told to warm" in names and "zygote: starting" not in names


class _Proc:
    def __init__(self):
        self.stdin = open(os.devnull, "w")  # noqa: SIM115 - closed by spawn

    def poll(self):
        return None

    def wait(self, timeout=None):
        return 0


class _Claim:
    def __init__(self, slot: int):
        self.slot, self.released = slot, False

    def release(self):
        self.released = True


def test_a_worker_warming_one_slot_is_never_handed_to_another(monkeypatch):
    fresh = object()
    monkeypatch.setattr(spawn, "spawn", lambda: fresh)
    warming, claim = _Proc(), _Claim(3)
    monkeypatch.setattr(spawn, "_IDLE", [spawn._Ahead(warming, 3, claim)])
    assert spawn.take(0) is fresh  # slot 0's seat gets a new worker; the one warming slot 3 is ended
    assert warming.stdin.closed and claim.released and spawn._IDLE == []

    same = _Proc()
    monkeypatch.setattr(spawn, "_IDLE", [spawn._Ahead(same, 3, _Claim(3))])
    assert spawn.claimed_ahead()[0].slot == 3  # the pool takes the slot over
    assert spawn.take(3) is same
