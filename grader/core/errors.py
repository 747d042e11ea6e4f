"""Whose fault it is: the exceptions every stage raises and every command tells apart.

- :class:`SubmissionProblem`: the student's work is unusable for a check; the message is shown as is.
- :class:`InstructorError`: a mistake in the rubric's own Python (a test file, a reference module): a
  grader error, never the student's.
- :class:`UsageError`: the command line or the environment is wrong; the command exits 2 with one line.
"""

from __future__ import annotations


class SubmissionProblem(Exception):
    """Raised by a check when the student's file is unusable; the message is shown as is."""


class InstructorError(Exception):
    """A mistake in the rubric's own Python (a test file, a reference module): a grader error, never the
    student's."""


class UsageError(Exception):
    """A mistake on the command line or in the environment: said in one line, exit code 2."""
