"""Typed result records: one per check, per question, per submission.

Every renderer (terminal, Gradescope ``results.json``, CSV) reads these and
nothing else, so a new output format never needs to know how grading works.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

SCORE_DIGITS = 4  # scores are rounded so that floating noise never changes a grade


class Status(StrEnum):
    PASSED = "passed"  # full marks
    PARTIAL = "partial"  # some marks
    FAILED = "failed"  # no marks, for a reason the student can act on
    PENDING = "pending"  # the check kind is declared but not graded yet
    ERROR = "error"  # the grader itself failed; not the student's fault


def status_for(score: float, max_score: float) -> Status:
    if max_score > 0 and score >= max_score:
        return Status.PASSED
    if score > 0:
        return Status.PARTIAL
    return Status.FAILED


class CheckResult(BaseModel):
    """What one check of a question found. ``fraction`` is in [0, 1]."""

    kind: str
    fraction: float
    status: Status
    reason: str
    weight: float = 1.0
    gate: bool = False
    veto: bool = False
    manual_review: bool = False
    elapsed_s: float = 0.0  # where grading time goes (see scripts/bench_batch.py --profile)
    details: dict[str, Any] = Field(default_factory=dict)
    # Why hidden parts failed (a hidden case's shapes, a hidden test's message): for the instructor's eyes
    # (validate, instructor-notes.csv); no format a student reads renders it.
    instructor_notes: list[str] = Field(default_factory=list)


class Review(BaseModel):
    """The instructor's decision on one question (``DIR/overrides.yaml``), put on the question by the
    class-level step; stored records never carry it, so a regrade re-applies it to the new record."""

    changed: bool  # False: the automatic score was accepted as it is
    automatic: float  # what the grader gave
    comment: str = ""
    by: str = ""
    at: str = ""  # ISO 8601


class QuestionResult(BaseModel):
    id: str
    title: str
    score: float
    max_score: float
    status: Status
    reason: str
    manual_review: bool = False
    # A class-relative question (score = points * metric / class best): the student's raw metric.
    relative: float | None = None
    files: dict[str, str] = Field(default_factory=dict)  # pattern -> matched path
    checks: list[CheckResult] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)
    review: Review | None = None  # the instructor's decision, if any (see grader.classstep.overrides)

    @property
    def awaiting_review(self) -> bool:
        """Flagged for a human look that nobody has given yet."""
        return self.manual_review and self.review is None


class SubmissionResult(BaseModel):
    student: str
    source: str
    total: float
    max_total: float
    questions: list[QuestionResult]
    errors: list[str] = Field(default_factory=list)  # problems with the submission as a whole
    warnings: list[str] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)  # what was found, relative paths
    submission_hash: str = ""
    rubric_hash: str = ""
    grader_version: str = ""
    elapsed_s: float = 0.0
    # Non-empty when the grader, not the submission, is why this record is incomplete (a worker died,
    # the machine ran out of disk): such a record is graded again by the next run, up to a few attempts.
    grader_fault: str = ""
    attempts: int = 1
    # Fingerprints of the submission's weights, images, code and XOR weights, for the class-level
    # integrity step (grader.classstep.integrity); empty outside batch grading. Never shown to the student.
    integrity: dict[str, Any] = Field(default_factory=dict)

    @property
    def provisional(self) -> bool:
        """True when a rerun should try again: the grader failed on part or all of it."""
        return bool(self.grader_fault) or any(q.status is Status.ERROR for q in self.questions)

    @property
    def crashed_checks(self) -> list[str]:
        """``question: kind`` of each check the grader's own code raised in (an internal error, which keeps its
        traceback): worth trying again at once, since a helper that did not start may start the next time; an
        instructor's test that errs (also an error) errs again, and is not in this list."""
        return [f"{q.id}: {c.kind}" for q in self.questions for c in q.checks
                if c.status is Status.ERROR and "traceback" in c.details]

    def question(self, qid: str) -> QuestionResult:
        for q in self.questions:
            if q.id == qid:
                return q
        raise KeyError(qid)


def round_score(x: float) -> float:
    return round(float(x), SCORE_DIGITS) + 0.0  # + 0.0 turns -0.0 into 0.0
