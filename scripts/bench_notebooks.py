"""Benchmark: CPU and wall seconds per backprop notebook, graded the way `mlgrade` grades.

    python scripts/bench_notebooks.py [N] [--isolation bwrap|none]

Builds N sample submissions holding the AML backprop notebook, grades each with
the default rubric's `backprop` question in one process (bubblewrap: one long-lived
zygote, a fresh kernel in fresh namespaces per notebook; none: a fresh Python per
notebook), and reports per-notebook figures: CPU = user+sys of this process and every
process it started (bwrap, zygote, kernels), measured with getrusage after they have
all been reaped, and cross-checked with the machine-wide /proc/stat counters. The
student's code alone (its cells and the grader's three calls, exec'd in this process)
is measured too: the difference is what grading costs beyond the student's own code.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from make_submissions import backprop_notebook, write_zip  # noqa: E402

from grader.core.options import GradeOptions  # noqa: E402
from grader.execute.notebooks import get_runner  # noqa: E402
from grader.rubric import load_rubric  # noqa: E402
from grader.score.pipeline import grade_submission  # noqa: E402


def machine_cpu() -> float:
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    return (int(fields[0]) + int(fields[1]) + int(fields[2])) / os.sysconf("SC_CLK_TCK")


def descendants_cpu() -> float:
    """CPU seconds of every live descendant of this process, with the children each has reaped
    (the zygote reaps each notebook's processes; a killed bwrap's would escape getrusage)."""
    procs = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                fields = (p / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            procs[int(p.name)] = (int(fields[1]), sum(int(f) for f in fields[11:15]))
    mine, total = {os.getpid()}, 0
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _) in procs.items():
            if ppid in mine and pid not in mine:
                mine.add(pid)
                changed = True
    for pid in mine - {os.getpid()}:
        total += procs[pid][1]
    return total / os.sysconf("SC_CLK_TCK")


def student_code_cpu(repeats: int = 20) -> float:
    """CPU seconds of the notebook's own cells plus the grader's three calls, in a plain process."""
    import json

    import numpy as np

    from reference import backprop as ref

    nb = json.loads(backprop_notebook("correct"))
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    problems = [ref.seed0_problem(), *(ref.make_problem(s, n_points=n)[:3] for s, n in ((1, 137), (2, 401)))]
    t = time.process_time()
    for _ in range(repeats):
        ns: dict = {}
        for src in cells:
            exec(compile(src, "<cell>", "exec"), ns)  # noqa: S102 - our own sample notebook
        for w, X, Y in problems:
            ns["back_propagation"](np.asarray(X), np.asarray(Y), w)
    return (time.process_time() - t) / repeats


def _with_first_cell(nb_bytes: bytes, source: str) -> bytes:
    import json

    nb = json.loads(nb_bytes)
    nb["cells"].insert(0, {"cell_type": "code", "execution_count": None, "id": "tf", "metadata": {},
                           "outputs": [], "source": source})
    return json.dumps(nb).encode()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int, nargs="?", default=20)
    ap.add_argument("--isolation", default="bwrap", choices=["bwrap", "none"])
    ap.add_argument("--tensorflow", action="store_true",
                    help="the notebook starts with `import tensorflow as tf` (what that import costs per notebook)")
    args = ap.parse_args()
    rubric = load_rubric(HERE.parent / "rubric.yaml")
    rubric = rubric.model_copy(update={"questions": [q for q in rubric.questions if q.id == "backprop"]})
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        os.chmod(tmp_path, 0o755)
        subs = []
        for i in range(args.n):
            z = tmp_path / f"student{i:03d}.zip"
            nb = backprop_notebook("correct")
            if args.tensorflow:
                nb = _with_first_cell(nb, "import tensorflow as tf\nprint(tf.__version__)")
            write_zip(z, [("backprop.ipynb", nb)])
            subs.append(z)
        options = GradeOptions(isolation=args.isolation)
        # warm-up: start the runner (its start-up is paid once per worker, not per notebook)
        grade_submission(subs[0], rubric, tmp_path / "warm", options)
        r0, c0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        d0 = descendants_cpu()
        m0, t0 = machine_cpu(), time.perf_counter()
        scores = []
        for i, z in enumerate(subs):
            scores.append(grade_submission(z, rubric, tmp_path / f"w{i}", options).total)
        wall = time.perf_counter() - t0
        d1 = descendants_cpu()
        get_runner().close()  # reap the runner so its children's CPU is counted
        r1, c1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        m1 = machine_cpu()
    own = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    kids = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime) + (d1 - d0)
    n = args.n
    tf = ", each importing tensorflow" if args.tensorflow else ""
    print(f"notebooks: {n} (isolation: {args.isolation}{tf}), all scored {set(scores)}")
    print(f"wall s per notebook:            {wall / n:.3f}")
    print(f"CPU s per notebook (rusage):    {(own + kids) / n:.3f}  (grader {own / n:.3f}, sandbox+kernels {kids / n:.3f})")
    print(f"CPU s per notebook (/proc/stat): {(m1 - m0) / n:.3f}  (whole machine)")
    alone = student_code_cpu()
    print(f"student code alone:             {alone:.3f}  -> grading overhead {(own + kids) / n - alone:.3f} CPU s")


if __name__ == "__main__":
    main()
