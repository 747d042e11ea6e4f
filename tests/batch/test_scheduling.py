"""The batch driver against the Scheduler interface: what it stores for each way an attempt can end.

A fake scheduler stands in for the local pool and the Dask one, so every path is exercised without
processes: records handed back are stored, a grader failure is retried once in the run and then stored
as a grader fault (never as the student's zero), and tries the scheduler made on its own count."""

from __future__ import annotations

import json

import pytest
from conftest import make_zip

from grader.batch import run as batch
from grader.batch.scheduling import Attempt, AttemptEnd
from grader.core.options import GradeOptions
from grader.rubric import parse_rubric
from grader.score.pipeline import failed_result

RUBRIC = """
name: one file
questions:
  - id: a
    title: a file
    points: 2
    files: [a.txt]
    checks:
      - {kind: file_present, file: a.txt}
"""


class FakeScheduler:
    """Ends each attempt as ``script[student]`` says, one entry per attempt."""

    def __init__(self, script: dict[str, list], rubric):
        self.script = script
        self.rubric = rubric
        self.out: list[Attempt] = []
        self.seen: list[tuple[str, int]] = []
        self.closed = False
        self.ends: list[str] = []

    def describe(self) -> str:
        return "a fake"

    def free(self) -> int:
        return 2 - len(self.out)

    def busy(self) -> int:
        return len(self.out)

    def submit(self, attempt: Attempt) -> None:
        self.out.append(attempt)
        self.seen.append((attempt.source.student, attempt.number))

    def wait(self, seconds: float) -> list[AttemptEnd]:
        ended = []
        for attempt in self.out:
            how = self.script[attempt.source.student].pop(0)
            if how == "graded":
                record = failed_result(attempt.source.student, attempt.source.path, self.rubric, "stand-in")
                record.questions[0].score = record.total = 1.5
                ended.append(AttemptEnd(attempt, record=record, total=1.5))
            else:
                fault, tries = how
                ended.append(AttemptEnd(attempt, fault=fault, tries=tries))
        self.out = []
        return ended

    def release(self) -> None:
        self.ends.append("release")

    def close(self) -> None:
        self.closed = True
        self.ends.append("close")


@pytest.fixture
def run(tmp_path, monkeypatch):
    batch_dir = tmp_path / "class"
    batch_dir.mkdir()
    for s in ("amy", "ben", "cal"):
        make_zip(batch_dir / f"{s}.zip", [("a.txt", b"x")])
    rubric = parse_rubric(RUBRIC)
    made: list[FakeScheduler] = []

    def go(script: dict[str, list]):
        from grader.batch.scheduling import cluster

        made.clear()

        def fake(*args, **kw):
            made.append(FakeScheduler(script, rubric))
            return made[-1]

        monkeypatch.setattr(cluster, "DaskScheduler", fake)
        results = batch.grade_batch([batch_dir], tmp_path / "out", rubric, GradeOptions(), rubric_text=RUBRIC,
                                    scheduler_address="fake://")
        return {r.student: r for r in results}, (made[0] if made else None)

    return go, tmp_path / "out"


def test_records_handed_back_are_stored_and_faults_retried_once(run):
    go, out = run
    results, sched = go({"amy": ["graded"], "ben": [("the worker died", 1), "graded"],
                         "cal": [("the worker died", 1), ("took too long", 1)]})
    assert sched.closed
    assert sched.ends == ["release", "close"]  # released when the last answer came, closed after the outputs
    assert results["amy"].total == 1.5 and results["ben"].total == 1.5  # what the scheduler handed back
    assert ("ben", 2) in sched.seen and ("cal", 2) in sched.seen  # the second try is attempt 2
    cal = results["cal"]
    assert cal.grader_fault == "took too long" and cal.attempts == 2 and cal.provisional
    assert all(q.status.value == "error" for q in cal.questions)  # not the student's zero
    stored = json.loads((out / ".mlgrade" / "records" / "cal.json").read_text())["result"]
    assert stored["grader_fault"] == "took too long"


def test_tries_the_scheduler_made_itself_use_up_the_retry(run):
    go, _ = run
    results, sched = go({"amy": ["graded"], "ben": ["graded"], "cal": [("workers died 2 times", 2)]})
    assert [n for s, n in sched.seen if s == "cal"] == [1]  # no second submission
    assert results["cal"].attempts == 2 and results["cal"].grader_fault == "workers died 2 times"


def test_the_next_run_tries_a_grader_fault_again_until_the_limit(run):
    go, _ = run
    go({"amy": ["graded"], "ben": ["graded"], "cal": [("died", 1), ("died", 1)]})
    results, sched = go({"cal": [("died", 1), ("died", 1)]})  # amy and ben are reused
    assert [n for s, n in sched.seen] == [3, 4]
    assert results["cal"].attempts == 4 and results["cal"].grader_fault
    results, sched = go({})  # attempts >= MAX_ATTEMPTS: kept, nothing is tried again
    assert sched is None and results["cal"].attempts == 4
