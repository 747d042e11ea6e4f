"""The class report: what the class-level step hands every output format."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from grader.core.results import SubmissionResult
from grader.rubric import Rubric

if TYPE_CHECKING:
    from grader.classstep.overrides import OverrideReport


@dataclass
class ClassReport:
    """What every renderer reads: the rubric, the records (sorted by student) and class facts.

    ``bests``: the class best per class-relative question. ``origins``: where each student's
    submission came from (LMS ids and names, the repository and commit graded), by student.
    ``self_check``: a student's own run, where class-relative scores are provisional.
    ``overrides``: what the class-level step did with the instructor's decisions (set by
    :func:`grader.classstep.classwide.class_step`, the only way a class report reaches an output folder).
    """

    rubric: Rubric
    results: list[SubmissionResult]
    bests: dict[str, float | None] = field(default_factory=dict)
    origins: dict[str, dict[str, Any]] = field(default_factory=dict)
    self_check: bool = False
    assignment: str = ""  # the assignment's name in the LMS gradebook (default: the rubric's name)
    integrity: Any = None  # the class-level integrity report (grader.classstep.integrity.IntegrityReport), batch only
    overrides: OverrideReport | None = None

    def __post_init__(self) -> None:
        self.results = sorted(self.results, key=lambda r: r.student)
        self.assignment = self.assignment or self.rubric.name

    def origin(self, student: str) -> dict[str, Any]:
        return self.origins.get(student, {})
