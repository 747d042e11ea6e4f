"""``graded_by_instructor``: what a student's self-check shows where a question's checks are hidden.

The student kit (``mlgrade export student-kit``) replaces the checks of every ``hidden: true``
question with this one, so the rubric a student holds names the question, its points and its
files, and nothing of how it is graded. It never scores: the question is pending.

.. code-block:: yaml

    - id: digits
      title: digit classifier accuracy on hidden digits
      points: 40
      files: [digits.h5]
      hidden: true
      checks:
        - kind: graded_by_instructor
"""

from __future__ import annotations

from grader.rubric.kinds import CheckContext, CheckParams, Outcome, check_kind

REASON = "graded by your instructor with hidden tests after the deadline"  # as the self-check and Classroom say


class GradedByInstructorParams(CheckParams):
    note: str = ""  # shown to the student after the reason


@check_kind("graded_by_instructor", GradedByInstructorParams)
def graded_by_instructor(ctx: CheckContext, p: GradedByInstructorParams) -> Outcome:
    """Pending for the student: graded only in the instructor's run."""
    found = [ctx.submission.rel(hit) for pattern in ctx.question.files
             if (hit := ctx.submission.find_one(pattern)) is not None]
    reason = REASON + (f" ({', '.join(found)} found)" if found else "") + (f"; {p.note}" if p.note else "")
    return Outcome(0.0, reason, pending=True)
