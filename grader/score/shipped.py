"""What the rubric itself ships and expects, so that a missing-file hint offers only the student's own files.

A Classroom repository carries the rubric's build in ``.github/mlgrade/`` and a student may unzip the
student kit beside the work: their test files look like the student's files by name
(``test_backprop.py`` for ``backprop.ipynb``), and must never be offered as the student's. A file already
named as one of the rubric's patterns expects is in its place: renaming it would only break another question.
"""

from __future__ import annotations

from pathlib import Path

from grader.intake.submission import grader_files
from grader.rubric import Rubric
from grader.rubric.kinds import CheckParams

MAX_FILES = 2000  # a rubric's data folder of images is walked this far, no further


_SHIPPED: dict[tuple[str, str, tuple[str, ...]], dict[str, Path]] = {}  # per rubric: a batch walks it once


def rubric_shipped(rubric: Rubric) -> dict[str, Path]:
    """The rubric's own files, by their path relative to its folder (outside it: by name): its YAML files,
    the files its checks name (tests with their helpers, references, data) and its ``student_files``."""
    key = (str(rubric.base_dir), rubric.digest(), tuple(rubric.student_files))
    if key not in _SHIPPED:
        if len(_SHIPPED) >= 8:
            _SHIPPED.clear()
        _SHIPPED[key] = _shipped(rubric)
    return _SHIPPED[key]


def _shipped(rubric: Rubric) -> dict[str, Path]:
    base = rubric.base_dir
    named = [*rubric.asset_files(), *(base / p for p in rubric.student_files)]
    out: dict[str, Path] = {}
    try:
        named += sorted(p for p in base.iterdir() if p.suffix.lower() in (".yaml", ".yml"))
    except OSError:
        pass
    for path in named:
        for f in _walk(path):
            try:
                rel = f.resolve().relative_to(base.resolve()).as_posix()
            except (OSError, ValueError):
                rel = f.name
            out.setdefault(rel, f)
            if len(out) >= MAX_FILES:
                return out
    return out


def _walk(path: Path) -> list[Path]:
    try:
        if path.is_dir():
            found = []
            for f in path.rglob("*"):
                if f.is_file() and "__pycache__" not in f.parts:
                    found.append(f)
                    if len(found) >= MAX_FILES:
                        break
            return found
        return [path] if path.is_file() else []
    except OSError:
        return []


def expected_patterns(rubric: Rubric) -> tuple[str, ...]:
    """The rubric's file patterns that name files (``digits.h5``, ``what1.{jpg,png}``; not ``*.ipynb``, which
    names none): its questions' files and what their checks read."""
    found = [p for q in rubric.questions for p in q.files]
    found += [p for q in rubric.questions for c in q.checks if isinstance(c.params, CheckParams)
              for p in c.params.file_patterns()]
    return tuple(p for p in dict.fromkeys(found) if not any(ch in p for ch in "*?["))


def shipped_in(root: Path, files: list[str], rubric: Rubric) -> frozenset[str]:
    """The submission's files (under ``root``) that are the rubric's; never fails grading."""
    try:
        return grader_files(root, files, rubric_shipped(rubric))
    except Exception:  # only hints use this: a failure here must never cost the student a grade
        return frozenset()
