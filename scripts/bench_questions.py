"""Profile: where a submission's time goes, question by question, in one warm grading process.

    python scripts/bench_questions.py [--isolation bwrap|none] [--repeat 3] [--profile QUESTION]

Grades the shipped samples (alice, bob, ivan) with the default rubric restricted to one question at a
time, after a warm-up submission (so Keras, the zygote and the model server are running, as in a batch
worker), and prints wall and machine-wide CPU seconds per submission for each question, then for the
whole rubric (notebook questions run on a thread beside the model questions, so the whole is less than
the sum), then for the whole rubric with the feedback pages' thumbnails, and with the integrity fingerprints too (as
``mlgrade grade`` does), and with the review previews of flagged screenshots (all that ``mlgrade grade``
does per submission). ``--profile Q`` prints
cProfile's top functions of the grading process for question Q (time spent waiting on the sandbox
shows as lock waits).
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from grader.core.options import GradeOptions  # noqa: E402
from grader.rubric import parse_rubric  # noqa: E402
from grader.score.pipeline import grade_submission  # noqa: E402

SAMPLES = ["alice_complete", "bob_partial", "ivan_colab"]


def machine_cpu() -> float:
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    return (int(fields[0]) + int(fields[1]) + int(fields[2])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--isolation", default="bwrap")
    ap.add_argument("--repeat", type=int, default=1, help="passes over the samples per measurement")
    ap.add_argument("--profile", metavar="QUESTION")
    args = ap.parse_args()

    source = str((ROOT / "rubric.yaml").resolve())
    data = yaml.safe_load((ROOT / "rubric.yaml").read_text())
    subs = [ROOT / "submissions" / f"{s}.zip" for s in SAMPLES]
    plain = GradeOptions(isolation=args.isolation, feedback_images=False)
    with tempfile.TemporaryDirectory() as tmp:
        work = iter(Path(tmp) / f"w{i}" for i in range(10**6))
        full = parse_rubric((ROOT / "rubric.yaml").read_text(), source)
        grade_submission(subs[0], full, next(work), plain)  # warm-up: Keras, zygote, model server

        def measure(rubric, options, label: str) -> None:
            t, c = time.perf_counter(), machine_cpu()
            n = 0
            for _ in range(args.repeat):
                for s in subs:
                    grade_submission(s, rubric, next(work), options)
                    n += 1
            print(f"{label:28s} wall {(time.perf_counter() - t) / n:6.3f} s   CPU {(machine_cpu() - c) / n:6.3f} s")

        print(f"per submission ({', '.join(SAMPLES)}; isolation {args.isolation}):")
        for q in data["questions"]:
            one = copy.deepcopy(data)
            one["questions"] = [q]
            rubric = parse_rubric(yaml.safe_dump(one), source)
            if args.profile == q["id"]:
                prof = cProfile.Profile()
                prof.enable()
                measure(rubric, plain, q["id"])
                prof.disable()
                pstats.Stats(prof).sort_stats("tottime").print_stats(25)
            else:
                measure(rubric, plain, q["id"])
        measure(full, plain, "whole rubric")
        measure(full, GradeOptions(isolation=args.isolation), "whole rubric + thumbnails")
        measure(full, GradeOptions(isolation=args.isolation, integrity=True), "+ integrity fingerprints")
        previews = Path(tmp) / "previews"
        measure(full, GradeOptions(isolation=args.isolation, integrity=True, preview_dir=previews),
                "+ review previews (= grade)")


if __name__ == "__main__":
    main()
