"""Where every output lives in ``OUT``: class files at the top, each student's files in ``students/<id>/``.

Student ids come from names students chose; class files (``grades.csv``, ``summary.html``, the LMS
files, ``overrides.yaml``) have fixed names. In one folder the two could meet: a zip called
``grades.csv.zip`` made a student folder ``grades.csv`` and no ``grades.csv`` could be written for
anyone. Apart, they cannot; and ids that read like an output are mapped anyway
(:data:`grader.intake.sources.RESERVED_NAMES`), so a listing or ``mlgrade override OUT grades.csv`` is never
ambiguous. ::

    OUT/grades.csv, summary.html, summary.json, canvas.csv, ...   the class
    OUT/students/<id>/feedback.html, results.json                  one student
    OUT/.mlgrade/                                                  the grader's own state
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

STUDENTS = "students"


def _checked(student: str) -> str:
    """A student id used as a folder name must be one plain path component (ids from
    :mod:`grader.intake.sources` always are; this guards every writer against a record that is not)."""
    if (not student or student in (".", "..") or student.startswith(".")
            or any(c in student for c in "/\\\x00") or len(student) > 255):
        raise ValueError(f"{student!r} is not a student id that can name a folder")
    return student


def student_folder(out: Path, student: str) -> Path:
    """``OUT/students/<id>``: the folder of one student's outputs."""
    return Path(out) / STUDENTS / _checked(student)


def student_file(out: Path, student: str, filename: str) -> Path:
    return student_folder(out, student) / filename


def student_link(student: str, filename: str = "feedback.html") -> str:
    """The link from a class page in ``OUT`` to a student's file (quoted, not yet HTML-escaped); the
    id is quoted as one component, so even an id no writer would accept stays inside ``students/``."""
    return f"{STUDENTS}/{quote(student, safe='._-@+')}/{quote(filename, safe='._-')}"
