"""Benchmark: what the feedback pages cost: thumbnails during grading, rendering, record size.

    python scripts/bench_outputs.py [N] [--isolation bwrap|none] [--class-size 300]

Grades alice's sample N times with and without thumbnails (``GradeOptions.feedback_images``),
in one process so the model server stays warm as in a batch worker, and reports the difference
per submission; then renders every output format for a class of ``--class-size`` copies of
the record and reports the time per format and the size of a stored record.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from grader.classstep.classwide import apply_class_relative  # noqa: E402
from grader.core.options import GradeOptions  # noqa: E402
from grader.render import ClassReport, formats  # noqa: E402
from grader.rubric import load_rubric  # noqa: E402
from grader.score.pipeline import grade_submission  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int, nargs="?", default=5)
    ap.add_argument("--isolation", default="bwrap", choices=["bwrap", "none"])
    ap.add_argument("--class-size", type=int, default=300)
    args = ap.parse_args()
    rubric = load_rubric(HERE.parent / "rubric.yaml")
    sample = HERE.parent / "submissions" / "alice_complete.zip"
    times: dict[bool, list[float]] = {True: [], False: []}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        grade_submission(sample, rubric, Path(tmp) / "warm", GradeOptions(isolation=args.isolation))  # start servers
        for i in range(args.n):
            for pictures in (False, True):
                t = time.perf_counter()
                results[pictures] = grade_submission(sample, rubric, Path(tmp) / f"w{i}{pictures}", GradeOptions(
                    isolation=args.isolation, feedback_images=pictures))
                times[pictures].append(time.perf_counter() - t)
    with_, without = statistics.median(times[True]), statistics.median(times[False])
    print(f"grading alice_complete, median of {args.n}: {without:.2f} s without thumbnails, {with_:.2f} s with "
          f"({1000 * (with_ - without):+.0f} ms per submission)")
    for pictures, r in results.items():
        print(f"stored record {'with' if pictures else 'without'} thumbnails: {len(r.model_dump_json()) / 1024:.0f} KiB")
    klass = [results[True].model_copy(update={"student": f"s{i:04d}"}, deep=True) for i in range(args.class_size)]
    for i, r in enumerate(klass):
        r.question("digits").relative = 0.5 + 0.45 * (i % 97) / 97
    rep = ClassReport(rubric, klass, apply_class_relative(rubric, klass))
    for fmt in formats():
        t = time.perf_counter()
        if fmt.scope == "class":
            size = len(fmt.render(rep))
            per = ""
        else:
            size = sum(len(fmt.render(r, rep)) for r in rep.results)
            per = f" ({1000 * (time.perf_counter() - t) / len(klass):.1f} ms per student)"
        print(f"{fmt.name:13s} {time.perf_counter() - t:6.2f} s for {len(klass)} students{per}, "
              f"{size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
