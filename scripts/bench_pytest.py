"""Benchmark: what an instructor's pytest file costs per submission, beyond the student's notebook.

    python scripts/bench_pytest.py [N] [--isolation bwrap|none]

Grades N submissions (the mlp_softmax pack's correct notebook, a comment changed so every
submission is another student) with the pack's two notebook questions (softmax and the
gradient: 2 pytest files, 14 tests, 12 requests into the notebook, plus a notebook_function check
with 4 hidden cases: 16 requests in all), in one process, and splits the time per submission into: running the
cells (the live session's start), the requests into the kernel (each a round trip through the
sandbox's pipes), and everything else of pytest (collection, fixtures, reports, fresh imports).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import make_pack_samples  # noqa: E402

from grader.checks.pytest import harness  # noqa: E402
from grader.core.options import GradeOptions  # noqa: E402
from grader.execute.notebooks import get_runner  # noqa: E402
from grader.execute.notebooks import session as session_mod  # noqa: E402
from grader.rubric import parse_rubric  # noqa: E402
from grader.score.pipeline import grade_submission  # noqa: E402

PACK = HERE.parent / "rubrics" / "mlp_softmax"
TIMES = {"open": 0.0, "requests": 0.0, "count": 0, "pytest": 0.0, "in_pytest": 0.0}
STATE = {"pytest": False}


def timed(name: str, fn):
    """Wrap ``fn`` to add its time to TIMES[name]: requests exclude the session start they may trigger,
    and the requests made inside pytest are counted apart, so pytest's own time is what is left."""

    def wrapper(*args, **kwargs):
        opened = TIMES["open"]
        inside = TIMES["in_pytest"]
        if name == "pytest":
            STATE["pytest"] = True
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent = time.perf_counter() - started
            if name == "requests":
                spent -= TIMES["open"] - opened
                TIMES["count"] += 1
                if STATE["pytest"]:
                    TIMES["in_pytest"] += spent
            elif name == "pytest":
                STATE["pytest"] = False
                spent -= (TIMES["in_pytest"] - inside) + (TIMES["open"] - opened)
            TIMES[name] += spent

    return wrapper


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int, nargs="?", default=20)
    ap.add_argument("--isolation", default="bwrap", choices=["bwrap", "none"])
    args = ap.parse_args()
    text = (PACK / "rubric.yaml").read_text()
    rubric = parse_rubric(text[: text.index("  - id: mlp")], str(PACK / "rubric.yaml"), base_dir=PACK)
    session_mod.NotebookSession._open = timed("open", session_mod.NotebookSession._open)
    session_mod.NotebookSession._request = timed("requests", session_mod.NotebookSession._request)
    harness.pytest.main = timed("pytest", harness.pytest.main)
    options = GradeOptions(isolation=args.isolation)
    cells = make_pack_samples.CORRECT
    with tempfile.TemporaryDirectory() as tmp:
        subs = []
        for i in range(args.n + 1):
            folder = Path(tmp) / f"s{i}"
            folder.mkdir()
            (folder / "mlp.ipynb").write_bytes(make_pack_samples.notebook([f"# student {i}", *cells]))
            subs.append(folder)
        grade_submission(subs[0], rubric, Path(tmp) / "warm", options)  # the zygote's start is not per submission
        for key in TIMES:
            TIMES[key] = 0 if key == "count" else 0.0
        started = time.perf_counter()
        totals = []
        for i, folder in enumerate(subs[1:]):
            result = grade_submission(folder, rubric, Path(tmp) / f"w{i}", options)
            totals.append(result.total)
        wall = time.perf_counter() - started
    get_runner().close()
    n = args.n
    other = TIMES["pytest"]
    print(f"{n} submissions, isolation {args.isolation}, scores {sorted(set(totals))}")
    print(f"  per submission: {wall / n * 1000:.0f} ms wall")
    print(f"  running the cells (session start): {TIMES['open'] / n * 1000:.0f} ms")
    print(f"  {TIMES['count'] / n:.0f} requests into the kernel: {TIMES['requests'] / n * 1000:.0f} ms "
          f"({TIMES['requests'] / max(TIMES['count'], 1) * 1000:.2f} ms each)")
    print(f"  pytest itself (2 files: collection, fixtures, reports, fresh imports; requests and the session "
          f"start excluded): {other / n * 1000:.0f} ms")


if __name__ == "__main__":
    main()
