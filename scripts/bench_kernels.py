"""nbclient with a stock Jupyter kernel against mlgrade's own runner, on the same notebooks, one run.

Why: nbclient is the standard way to run a notebook; mlgrade runs cells in a kernel forked from a
pre-imported template and talks to it over a pipe. This measures both on N small numpy notebooks
(4 cells: a forward and backward pass), sequentially, wall and CPU (this process and its children),
and one hostile case each: a cell that ignores SIGINT and loops, with a 2 s cell timeout.

    python scripts/bench_kernels.py [N]     # nbclient must be importable (pip install nbclient ipykernel)
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

CELLS = [
    "import numpy as np\nrng = np.random.default_rng(0)",
    "X = rng.normal(size=(64, 8)); W = rng.normal(size=(8, 4))",
    "H = np.tanh(X @ W)\nloss = float((H ** 2).mean())",
    "dW = X.T @ ((1 - H ** 2) * 2 * H / H.size)\nprint(loss, float(abs(dW).sum()))",
]
STUBBORN = ["import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.01)"]


def notebook(cells: list[str], path: Path) -> Path:
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "source": c, "metadata": {}, "outputs": [], "execution_count": None} for c in cells]}))
    return path


def cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def with_nbclient(paths: list[Path], timeout: float = 30) -> list[str]:
    import nbclient
    import nbformat

    out = []
    for p in paths:
        nb = nbformat.read(p, as_version=4)
        try:
            nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                                    interrupt_on_timeout=False).execute()
            out.append("ok")
        except Exception as e:  # noqa: BLE001 - the benchmark records what happened
            out.append(type(e).__name__)
    return out


def with_mlgrade(paths: list[Path], timeout: float = 30) -> list[str]:
    from grader.execute.notebooks import NotebookJob, run_notebook

    return [run_notebook(NotebookJob(notebook=str(p), submission_dir=str(p.parent), cell_timeout=timeout,
                                     notebook_timeout=4 * timeout, isolation="none")).status for p in paths]


def measure(name: str, fn, paths: list[Path], **kw) -> None:
    c0, t0 = cpu(), time.perf_counter()
    got = fn(paths, **kw)
    wall, used = time.perf_counter() - t0, cpu() - c0
    print(f"{name:10s} {len(paths):3d} notebooks  wall {wall:6.2f} s ({wall / len(paths):.3f}/nb)  "
          f"CPU {used:6.2f} s ({used / len(paths):.3f}/nb)  outcomes {sorted(set(got))}", flush=True)


def main(n: int) -> None:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        paths = [notebook(CELLS, Path(tmp) / f"nb{i}.ipynb") for i in range(n)]
        stubborn = [notebook(STUBBORN, Path(tmp) / "stubborn.ipynb")]
        for name, fn in (("mlgrade", with_mlgrade), ("nbclient", with_nbclient)):
            fn(paths[:1])  # warm: imports, the template kernel
            measure(name, fn, paths)
        for name, fn in (("mlgrade", with_mlgrade), ("nbclient", with_nbclient)):
            measure(name + "/stub", fn, stubborn, timeout=2)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
