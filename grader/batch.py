"""``mlgrade grade``: grade many submissions and write the class's grade files.

Outputs in ``--out DIR``:
- ``grades.csv``: student, one column per question id, total (sorted, byte-stable);
- ``<student>/results.json``: Gradescope schema; ``<student>/record.json``: the full record;
- ``summary.json``: per-question statistics.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import statistics
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from grader.options import GradeOptions
from grader.pipeline import grade_submission, student_id
from grader.report import fmt_points, to_gradescope, write_json_atomic
from grader.results import Status, SubmissionResult
from grader.rubric import Rubric


@dataclass(frozen=True)
class Source:
    student: str
    path: Path


def discover(paths: list[Path]) -> list[Source]:
    """Zips and folders of zips, or an LMS bulk download (a folder per student holding one zip)."""
    found: list[Source] = []
    for path in paths:
        if path.is_file():
            found.append(Source(student_id(path), path))
            continue
        children = sorted(path.iterdir(), key=lambda c: c.name)
        zips = [c for c in children if c.is_file() and c.suffix.lower() == ".zip"]
        dirs = [c for c in children if c.is_dir() and not c.name.startswith(".")]
        if not zips and not dirs:
            found.append(Source(student_id(path), path))  # the folder itself is one submission
            continue
        found += [Source(student_id(z), z) for z in zips]
        for d in dirs:
            inner = sorted(c for c in d.iterdir() if c.is_file() and c.suffix.lower() == ".zip")
            found.append(Source(student_id(d), inner[0] if len(inner) == 1 else d))
    # Two files with the same stem must not overwrite each other's grades.
    seen: dict[str, int] = {}
    unique = []
    for s in found:
        n = seen.get(s.student, 0) + 1
        seen[s.student] = n
        unique.append(s if n == 1 else Source(f"{s.student}-{n}", s.path))
    return unique


def grade_batch(
    paths: list[Path], out: Path, rubric: Rubric, options: GradeOptions, force: bool = False,
    console: Console | None = None,
) -> list[SubmissionResult]:
    console = console or Console(stderr=True)
    out.mkdir(parents=True, exist_ok=True)
    work_root = out / ".work"
    sources = discover(paths)
    results: list[SubmissionResult] = []
    for i, src in enumerate(sources, 1):
        work = work_root / f"{src.student}-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        result = grade_submission(src.path, rubric, work, options, student=src.student)
        write_json_atomic(out / src.student / "results.json", to_gradescope(result))
        write_json_atomic(out / src.student / "record.json", result.model_dump(mode="json"))
        results.append(result)
        console.print(f"[{i}/{len(sources)}] {src.student}: {fmt_points(result.total)}/{fmt_points(result.max_total)}")
    shutil.rmtree(work_root, ignore_errors=True)
    write_class_files(out, rubric, results)
    return results


def grades_csv(rubric: Rubric, results: list[SubmissionResult]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    ids = [q.id for q in rubric.questions]
    w.writerow(["student", *ids, "total"])
    for r in sorted(results, key=lambda r: r.student):
        scores = {q.id: q.score for q in r.questions}
        w.writerow([r.student, *(fmt_points(scores.get(i, 0.0)) for i in ids), fmt_points(r.total)])
    return buf.getvalue()


def summary(rubric: Rubric, results: list[SubmissionResult]) -> dict:
    per_q = {}
    for q in rubric.questions:
        scores = [r.question(q.id).score for r in results]
        statuses = [r.question(q.id).status for r in results]
        per_q[q.id] = {
            "title": q.title,
            "max_score": q.points,
            "mean": round(statistics.fmean(scores), 4) if scores else 0.0,
            "min": min(scores, default=0.0),
            "max": max(scores, default=0.0),
            "passed": sum(s is Status.PASSED for s in statuses),
            "not_graded_yet": sum(s is Status.PENDING for s in statuses),
        }
    totals = [r.total for r in results]
    return {
        "rubric": rubric.name,
        "rubric_hash": rubric.digest(),
        "students": len(results),
        "max_total": rubric.max_total,
        "mean_total": round(statistics.fmean(totals), 4) if totals else 0.0,
        "questions": per_q,
        "errors": {r.student: r.errors for r in sorted(results, key=lambda r: r.student) if r.errors},
    }


def write_class_files(out: Path, rubric: Rubric, results: list[SubmissionResult]) -> None:
    tmp = out / ".grades.csv.tmp"
    tmp.write_text(grades_csv(rubric, results), encoding="utf-8")
    os.replace(tmp, out / "grades.csv")
    write_json_atomic(out / "summary.json", summary(rubric, results))
