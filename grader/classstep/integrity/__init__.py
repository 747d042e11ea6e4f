"""Academic-integrity evidence across a class (issue 14): evidence for an instructor, never a penalty.

Two halves, like the digits' class-relative scores:

- at grading time, :func:`grader.score.fingerprints.collect` stores compact fingerprints of each
  submission in its record: weights per layer and image hashes (made in the sandboxed model
  server), normalised code fingerprints and the XOR weights a notebook printed or an equation
  wrote (made here, with bounded parsers);
- in the class-level step, :func:`class_integrity` compares everyone's stored fingerprints
  (:mod:`grader.classstep.integrity.compare`) under the rubric's ``integrity:`` settings
  (:class:`IntegrityConfig`); the report is written as ``integrity.csv`` and a section of
  ``summary.html`` (:mod:`grader.render.integrity`). A late submission is compared with
  everyone's stored fingerprints without regrading anyone.
"""

from __future__ import annotations

from pathlib import Path

from grader.classstep.integrity.compare import Evidence, Group, IntegrityReport, as_rows, compare_class
from grader.rubric.integrity import IntegrityConfig

__all__ = ["Evidence", "Group", "IntegrityConfig", "IntegrityReport", "as_rows", "class_integrity",
           "compare_class", "screenshot_patterns"]


def screenshot_patterns(rubric) -> list[str]:
    """The files of the rubric's ``image`` checks: screenshots, whose layout every student shares."""
    out: list[str] = []
    for q in rubric.questions:
        for c in q.checks:
            if c.kind == "image" and isinstance(getattr(c.params, "file", None), str):
                out.append(c.params.file)
    return list(dict.fromkeys(out))


def class_integrity(rubric, results: list, base_dir: Path | None = None) -> IntegrityReport | None:
    """The class's integrity report under the rubric's settings (None when the rubric turns it off)."""
    config = getattr(rubric, "integrity", None) or IntegrityConfig()
    if not config.enabled:
        return None
    base = base_dir if base_dir is not None else getattr(rubric, "base_dir", None)
    return compare_class(results, config, base_dir=base, screenshot_patterns=screenshot_patterns(rubric))
