"""Benchmark a class: N submissions of the full default rubric, graded by `mlgrade grade`.

    python scripts/bench_batch.py [N] [--jobs J] [--isolation bwrap|none]

Each generated submission is a complete HW4 zip (from the shipped samples, so
with real notebooks, weights, images, equation and digit model) made unique by
a note with its student number, so nothing is reused from a previous run.
Prints wall time, submissions per minute, CPU seconds per submission
(machine-wide, from /proc/stat) and the peak memory of each worker's process
tree (the worker, its notebook runner and kernels, its model server).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SAMPLES = ["alice_complete", "bob_partial", "ivan_colab", "frank_buggy", "erin_hardcoded"]


def machine_cpu() -> float:
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    return (int(fields[0]) + int(fields[1]) + int(fields[2])) / os.sysconf("SC_CLK_TCK")


def distinct_digits_model(i: int) -> bytes:
    """A digit MLP with a hidden size of its own (random weights): every student a new architecture."""
    import numpy as np

    sys.path.insert(0, str(HERE))
    from kerasfiles import write_keras2_model

    h = 16 + i
    rng = np.random.default_rng(i)
    layers = [("flatten", []), ("dense", [("kernel:0", rng.normal(0, 0.05, (784, h)).astype("float32")),
                                          ("bias:0", np.zeros(h, "float32"))]),
              ("dense_1", [("kernel:0", rng.normal(0, 0.05, (h, 10)).astype("float32")),
                           ("bias:0", np.zeros(10, "float32"))])]
    cfg = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 28, 28], "name": "in"}},
        {"class_name": "Flatten", "config": {"name": "flatten"}},
        {"class_name": "Dense", "config": {"name": "dense", "units": h, "activation": "relu"}},
        {"class_name": "Dense", "config": {"name": "dense_1", "units": 10, "activation": "softmax"}}]}}
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "digits.h5"
        write_keras2_model(p, layers, cfg, keras_version="2.4.0", varlen=True)
        return p.read_bytes()


def make_class(folder: Path, n: int, distinct: bool = False) -> None:
    for i in range(n):
        src = ROOT / "submissions" / f"{SAMPLES[i % len(SAMPLES)]}.zip"
        with zipfile.ZipFile(src) as zin, zipfile.ZipFile(folder / f"student{i:03d}.zip", "w") as zout:
            for info in zin.infolist():
                if distinct and info.filename.endswith("digits.h5"):
                    zout.writestr(info.filename, distinct_digits_model(i))
                else:
                    zout.writestr(info, zin.read(info))
            zout.writestr("note.txt", f"student {i}\n")


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants, in bytes."""
    import psutil

    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for q in procs:
        try:
            total += q.memory_info().rss
        except psutil.Error:
            pass
    return total


def watch(out: Path, peaks: dict[int, int], stop: threading.Event) -> None:
    import psutil

    while not stop.is_set():
        for p in psutil.process_iter(["pid", "cmdline"]):
            cmd = " ".join(p.info.get("cmdline") or [])
            if "grader.worker" in cmd and str(out) in cmd:
                peaks[p.pid] = max(peaks.get(p.pid, 0), tree_rss(p.pid))
        time.sleep(0.5)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int, nargs="?", default=100)
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    ap.add_argument("--isolation", default="bwrap", choices=["bwrap", "none"])
    ap.add_argument("--distinct-models", action="store_true",
                    help="give every student a digit model of its own architecture (XLA compiles each)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        os.chmod(tmp_path, 0o755)
        klass, out = tmp_path / "class", tmp_path / "out"
        klass.mkdir()
        make_class(klass, args.n, args.distinct_models)
        peaks: dict[int, int] = {}
        stop = threading.Event()
        watcher = threading.Thread(target=watch, args=(out, peaks, stop), daemon=True)
        watcher.start()
        cmd = [sys.executable, "-m", "grader", "grade", str(klass), "--out", str(out), "--jobs", str(args.jobs),
               "--isolation", args.isolation, "--rubric", str(ROOT / "rubric.yaml")]
        c0, t0 = machine_cpu(), time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True)
        wall, cpu = time.perf_counter() - t0, machine_cpu() - c0
        stop.set()
        watcher.join()
        if res.returncode != 0:
            print(res.stderr)
            raise SystemExit(res.returncode)
        print(res.stderr.strip().splitlines()[-1])
    n = args.n
    print(f"submissions: {n}, jobs: {args.jobs}, isolation: {args.isolation}, "
          f"digit models: {'one architecture each' if args.distinct_models else 'shared by the samples'}")
    print(f"wall: {wall:.1f} s ({n / wall * 60:.1f} submissions/min)")
    print(f"CPU: {cpu / n:.2f} s per submission (machine-wide)")
    if peaks:
        print("peak memory per worker (process tree): "
              + ", ".join(f"{v / 2**30:.2f} GiB" for v in sorted(peaks.values(), reverse=True)[: args.jobs]))


if __name__ == "__main__":
    main()
