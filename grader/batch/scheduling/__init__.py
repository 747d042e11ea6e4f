"""Where submissions are graded: one small interface, two implementations.

The batch driver (:func:`grader.batch.run.grade_batch`) decides *what* to grade, retries what the
grader failed on, stores records and shows progress; a :class:`Scheduler` only runs attempts
somewhere and reports how each ended:

- :class:`grader.batch.scheduling.local.LocalPool`: ``--jobs`` grading worker processes on this machine;
- :class:`grader.batch.scheduling.cluster.DaskScheduler`: one grading worker per Dask worker of a
  cluster (``--scheduler tcp://HOST:8786``; needs ``pip install 'mlgrade[distributed]'``).

Both grade with the same :mod:`grader.batch.worker` process, so they compute the same records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from grader.core.results import SubmissionResult
from grader.intake.sources import Source


@dataclass(frozen=True)
class Attempt:
    """One try at grading one submission."""

    source: Source
    key: str  # the store key its record is filed under
    number: int  # 1 for the first try ever, counting earlier runs


@dataclass
class AttemptEnd:
    """How an attempt ended: graded, or failed for the grader's reasons (``fault``)."""

    attempt: Attempt
    # The record, when the scheduler hands it back; None when the grading worker stored it itself.
    record: SubmissionResult | None = None
    total: float = 0.0
    fault: str = ""  # why the grader (a worker that died, the clock), not the student, failed on it
    # How many times the scheduler ran it: more than 1 when it retried on its own (Dask reruns a
    # task whose worker died); these count against the driver's retries.
    tries: int = 1
    # Graded, but a check crashed in the grader's own code (SubmissionResult.crashed_checks): tried again once.
    crashed: bool = False


class ClusterError(RuntimeError):
    """A cluster cannot grade this batch (unreachable, no usable worker, connection lost); the message
    says what to do."""


class Scheduler(Protocol):
    def describe(self) -> str:
        """Where grading happens, for the progress line ("2 local workers", "Dask: 3 workers")."""

    def free(self) -> int:
        """How many more attempts it takes now."""

    def busy(self) -> int:
        """Attempts handed over and not reported yet."""

    def submit(self, attempt: Attempt) -> None: ...

    def wait(self, seconds: float) -> list[AttemptEnd]:
        """Attempts that ended, waiting at most ``seconds`` for the first."""

    def release(self) -> None:
        """No more attempts: let what it started begin stopping, while the class step runs (:meth:`close`
        still waits for it)."""

    def close(self) -> None:
        """Stop everything it started; attempts not reported are abandoned (a rerun grades them)."""
