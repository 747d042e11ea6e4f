"""``--jobs N`` grading worker processes on this machine.

Each worker has a sandbox slot of its own, claimed with a lock (:mod:`grader.execute.slots`) so that a
second batch or a Dask worker on this machine never shares its uids, and stores its records
itself. The pool enforces the wall clock per submission, replaces a worker that dies or hangs,
and gives every attempt a fresh, unguessable work folder under ``OUT/.mlgrade/work``.
``OUT/.mlgrade/running/<student>`` names the pid of the worker busy with that student.
"""

from __future__ import annotations

import secrets
import select
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from grader.batch import spawn
from grader.batch.scheduling import Attempt, AttemptEnd
from grader.batch.worker import WorkerProcess, died_reason, timeout_reason
from grader.execute.slots import SlotClaim, claim_slots


@dataclass
class _Seat:
    claim: SlotClaim
    worker: WorkerProcess
    attempt: Attempt | None = None
    workdir: Path | None = None
    deadline: float = 0.0


class LocalPool:
    def __init__(self, jobs: int, config: dict, out: Path, timeout: float):
        self.out = out
        self.timeout = timeout
        self.work_root = out / ".mlgrade" / "work"
        self.running = out / ".mlgrade" / "running"
        self.seats: list[_Seat] = []
        ahead = spawn.claimed_ahead()  # the worker started ahead already warms its sandbox in this slot
        for extra in ahead[jobs:]:
            extra.release()
        for claim in ahead[:jobs] + claim_slots(jobs - len(ahead[:jobs])):
            cfg = {**config, "out": str(out), "options": {**config["options"], "sandbox_slot": claim.slot}}
            self.seats.append(_Seat(claim, WorkerProcess(cfg)))

    def describe(self) -> str:
        return f"{len(self.seats)} local worker{'s' if len(self.seats) != 1 else ''}"

    def free(self) -> int:
        return sum(seat.attempt is None for seat in self.seats)

    def busy(self) -> int:
        return len(self.seats) - self.free()

    def submit(self, attempt: Attempt) -> None:
        seat = next(seat for seat in self.seats if seat.attempt is None)
        seat.worker.start()
        # A fresh, unguessable folder per attempt: nothing of a killed attempt is reused.
        seat.workdir = self.work_root.resolve() / f"{attempt.source.student}-{secrets.token_hex(6)}"
        seat.attempt, seat.deadline = attempt, time.monotonic() + self.timeout
        # who is grading what, for an instructor looking at a stuck batch (and for tests)
        self.running.mkdir(parents=True, exist_ok=True)
        (self.running / attempt.source.student).write_text(f"{seat.worker.pid}\n")
        seat.worker.send({"student": attempt.source.student, "source": str(attempt.source.path.resolve()),
                          "key": attempt.key, "workdir": str(seat.workdir), "attempt": attempt.number})

    def wait(self, seconds: float) -> list[AttemptEnd]:
        busy = {seat.worker.stdout: (seat, seat.attempt) for seat in self.seats if seat.attempt is not None}
        ready, _, _ = select.select(list(busy), [], [], seconds)
        outcomes = []
        for stream in ready:  # a worker that died reads as the end of its output
            seat, attempt = busy[stream]
            answer = seat.worker.read_answer()
            if answer is None:
                code = seat.worker.exit_code()
                seat.worker.kill()
                outcomes.append(self._done(seat, AttemptEnd(attempt, fault=died_reason(code))))
            else:
                outcomes.append(self._done(seat, AttemptEnd(attempt, total=float(answer.get("total", 0.0)),
                                                            crashed=answer.get("crashed") is True)))
        now = time.monotonic()
        for seat in self.seats:
            if seat.attempt is not None and now > seat.deadline:
                seat.worker.kill()
                outcomes.append(self._done(seat, AttemptEnd(seat.attempt, fault=timeout_reason(self.timeout))))
        return outcomes

    def _done(self, seat: _Seat, outcome: AttemptEnd) -> AttemptEnd:
        assert seat.attempt is not None and seat.workdir is not None
        shutil.rmtree(seat.workdir, ignore_errors=True)
        (self.running / seat.attempt.source.student).unlink(missing_ok=True)
        seat.attempt = seat.workdir = None
        return outcome

    def release(self) -> None:
        for seat in self.seats:  # each worker stops its sandboxes and exits, while the class step runs
            seat.worker.close_input()

    def close(self) -> None:
        spawn.discard()  # a worker started ahead for a batch that needed none
        self.release()
        for seat in self.seats:
            seat.worker.close()
            seat.claim.release()
