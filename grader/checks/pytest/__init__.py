"""``kind: pytest``: an instructor's plain pytest file, run in the grader against the student's sandboxed work.

:mod:`~grader.checks.pytest.kind` is the check; :mod:`~grader.checks.pytest.harness` runs the file with the
fixtures of :mod:`~grader.checks.pytest.fixtures`; a student build replaces the reference with
:mod:`~grader.checks.pytest.recorded` answers, taken by :mod:`~grader.checks.pytest.recording` at export.
Instructors import what they need from :mod:`grader.api`.
"""
