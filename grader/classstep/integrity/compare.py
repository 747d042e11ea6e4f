"""The class-level integrity step: everyone's stored fingerprints compared, evidence grouped.

Input: the stored records (``SubmissionResult.integrity``, made by :mod:`grader.score.fingerprints`)
and the rubric's ``integrity:`` settings. Output: an :class:`IntegrityReport` of pairs of
students whose files match, each with what matched and how closely, single students flagged
for the handout's own XOR weights or a well-known image, and groups (students linked by any
evidence). Evidence for an instructor to review: no score is changed here.

One module per comparison: :mod:`~grader.classstep.integrity.weights`, :mod:`~grader.classstep.integrity.xorpairs`,
:mod:`~grader.classstep.integrity.images`, :mod:`~grader.classstep.integrity.codepairs`. Their cost follows the class
size, never one submission (:mod:`grader.classstep.integrity.bounds`): each record is held to per-student
caps first, a student is never paired with themself, pairs are counted before they are built,
and what most of a class shares is set aside before its pairs exist.
"""

from __future__ import annotations

from pathlib import Path

from grader.classstep.integrity.codepairs import code_pairs, starter_hashes
from grader.classstep.integrity.images import image_pairs, is_screenshot, known_image_prints
from grader.classstep.integrity.report import Evidence, Group, IntegrityReport, as_rows, group_pairs
from grader.classstep.integrity.weights import weight_pairs
from grader.classstep.integrity.xorpairs import xor_pairs
from grader.rubric.integrity import IntegrityConfig
from grader.score.fingerprint_caps import cap_fingerprints

__all__ = ["Evidence", "Group", "IntegrityReport", "as_rows", "compare_class", "is_screenshot",
           "known_image_prints", "starter_hashes"]


def compare_class(results: list, config: IntegrityConfig | None = None, *, base_dir: Path | None = None,
                  screenshot_patterns: list[str] | None = None) -> IntegrityReport:
    """Compare every stored record's fingerprints. ``base_dir``: where the rubric's ``starter`` and
    ``known_images`` paths are; ``screenshot_patterns``: used when the config names none."""
    config = config or IntegrityConfig()
    report = IntegrityReport()
    prints: dict[str, dict] = {}
    notes: dict[str, list[str]] = {}
    for r in results:
        fp = getattr(r, "integrity", None)
        if isinstance(fp, dict) and fp.get("version") and r.student not in prints:
            prints[r.student], _ = cap_fingerprints(fp)
            notes[r.student] = prints[r.student]["notes"]
    report.compared = len(prints)
    report.submissions = {r.student: r.submission_hash for r in results if r.student in prints}
    missing = sorted(r.student for r in results if r.student not in prints and not getattr(r, "errors", None))
    if missing:
        report.notes.append(f"{len(missing)} graded submission(s) have no fingerprints (graded by an older "
                            f"version?), so they were not compared: {', '.join(missing[:10])}"
                            + (" ..." if len(missing) > 10 else "") + "; grade them again with --force to include them")
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    shots = config.screenshots if config.screenshots is not None else (screenshot_patterns or [])
    report.pairs += weight_pairs(prints, config, report)
    xor, xor_flags = xor_pairs(prints, config, report)
    report.pairs += xor
    report.flags += xor_flags
    img, img_flags = image_pairs(prints, config, shots, base, report)
    report.pairs += img
    report.flags += img_flags
    report.pairs += code_pairs(prints, config, base, report)
    report.pairs.sort(key=lambda e: (e.kind, e.student_a, e.student_b, e.file_a, e.file_b))
    report.flags.sort(key=lambda e: (e.kind, e.student_a, e.file_a, e.file_b))
    report.groups = group_pairs(report.pairs)
    for g in report.groups:
        for e in g.evidence:
            e.group = g.id
    in_group = {s: g.id for g in report.groups for s in g.students}
    for e in report.flags:
        e.group = in_group.get(e.student_a, "")
    for student in sorted(notes):
        report.notes += [f"{student}: {note}" for note in notes[student]]
    return report
