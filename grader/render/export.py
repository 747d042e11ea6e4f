"""Write a graded class's outputs again from its stored records: the class-level step, then every format."""

from __future__ import annotations

from pathlib import Path

from grader.classstep.classwide import EXPORT_LOCK, class_step, stored_class
from grader.classstep.report import ClassReport
from grader.core.files import locked
from grader.render import write_outputs


def export_class(out: Path, formats: list[str] | None = None) -> ClassReport:
    """Score the stored class again (class-relative, overrides) and rewrite its outputs."""
    with locked(Path(out) / EXPORT_LOCK):
        rubric, results, manifest = stored_class(out)
        report = class_step(rubric, results, out, origins=manifest.origins, assignment=manifest.assignment,
                            rubric_source=manifest.rubric_source)
        write_outputs(out, report, formats if formats is not None else manifest.formats)
    return report
