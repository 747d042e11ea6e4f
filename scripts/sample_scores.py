"""Every sample submission's score per question, with the rubric it belongs to: the record that moving
homework-specific checks into course packs changes no grade.

    python scripts/sample_scores.py            # prints the scores as JSON
    python scripts/sample_scores.py --write    # writes tests/data/sample_scores.json

Samples: ``submissions/*.zip`` with ``rubric.yaml``, and each course pack's samples in ``rubrics/``.
Graded as the class would be (not a self-check), each assignment's samples as one class. The file
was written before the homework-specific kinds moved into the packs; it changes only when a
grading decision changes on purpose.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from grader.authoring.assignments import expectations, samples_of  # noqa: E402
from grader.classstep.classwide import apply_class_relative  # noqa: E402
from grader.core.options import GradeOptions  # noqa: E402
from grader.execute.isolation import resolve  # noqa: E402
from grader.rubric import load_rubric  # noqa: E402
from grader.score.pipeline import grade_submission  # noqa: E402

OUT = ROOT / "tests" / "data" / "sample_scores.json"


def sample_sets() -> list[tuple[str, Path, list[Path]]]:
    """``(name, rubric, samples)``: the default rubric's class, then every course pack's samples (as
    ``mlgrade validate`` finds them: the samples folder and the paths its expected.yaml lists)."""
    sets = [("default", ROOT / "rubric.yaml", sorted((ROOT / "submissions").glob("*.zip")))]
    for rubric in sorted((ROOT / "rubrics").glob("*/rubric.yaml")):
        folder = samples_of(rubric)
        if folder is None:
            continue
        samples = sorted(p for p in folder.iterdir() if p.suffix == ".zip" or p.is_dir())
        samples += [(folder / spec.path).resolve() for spec in expectations(folder).values() if spec.path is not None]
        sets.append((rubric.parent.name, rubric, samples))
    return sets


def scores(isolation: str, only: str | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """``{assignment: {sample: {question: score}}}``, each assignment's samples graded as one class."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    options = GradeOptions(isolation=isolation)
    with tempfile.TemporaryDirectory() as tmp:
        for name, rubric_path, samples in sample_sets():
            if only is not None and only != name:
                continue
            rubric = load_rubric(rubric_path)
            results = [grade_submission(s, rubric, Path(tmp) / name / s.name, options,
                                        student=s.name.removesuffix(".zip")) for s in samples]
            apply_class_relative(rubric, results)
            out[name] = {r.student: {q.id: q.score for q in r.questions} for r in results}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--isolation", default="auto")
    args = ap.parse_args()
    data = scores(resolve(args.isolation).name)
    text = json.dumps(data, indent=1, sort_keys=True) + "\n"
    if args.write:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(text)
        print(f"wrote {OUT}")
    else:
        print(text)


if __name__ == "__main__":
    main()
