"""Benchmark a class: N submissions of the full default rubric, graded by `mlgrade grade`.

    python scripts/bench_batch.py [N] [--jobs J] [--isolation bwrap|none]
    python scripts/bench_batch.py [N] --dask-workers W     # a loopback Dask cluster of W workers
    python scripts/bench_batch.py [N] --scheduler tcp://HOST:8786   # an existing cluster

Each generated submission is a complete HW4 zip (from the shipped samples, so
with real notebooks, weights, images, equation and digit model) made unique by
a note with its student number, so nothing is reused from a previous run.
Prints wall time, submissions per minute, CPU seconds per submission
(machine-wide, from /proc/stat) and the peak memory of each worker's process
tree (the worker, its notebook runner and kernels, its model server). With
``--dask-workers`` the scheduler and workers are started (and their start-up not
timed) before grading, on this machine: the difference from ``--jobs W`` is what
the cluster costs per submission (bytes over TCP, the plugin, the scheduler).
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


OVERHEAD_RUBRIC = """
name: overhead
questions:
  - id: note
    title: the note is there
    points: 1
    files: [note.txt]
    checks:
      - {kind: file_present, file: note.txt}
"""


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


def watch(roots: list[int], samples: list[tuple[float, int, int]], stop: threading.Event) -> None:
    """Every half second, the process-tree memory of each grading worker below ``roots`` (the command, or
    the Dask workers): workers read their configuration from stdin, so they are found by ancestry."""
    import psutil

    while not stop.is_set():
        for root in roots:
            try:
                below = psutil.Process(root).children(recursive=True)
            except psutil.Error:
                continue
            for p in below:
                try:
                    if "grader.batch.worker" in " ".join(p.cmdline()):
                        samples.append((time.perf_counter(), p.pid, tree_rss(p.pid)))
                except psutil.Error:
                    continue
        time.sleep(0.5)


def own_cpu(pids: list[int]) -> float:
    """User + system seconds of these processes themselves (not their children)."""
    import psutil

    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def sample_own_cpu(pid: int, out: list[float]) -> None:
    """The CPU time of ``pid`` itself, last seen before it exits."""
    while True:
        value = own_cpu([pid])
        if not value and out[0]:
            return
        out[0] = max(out[0], value)
        try:
            import psutil

            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except Exception:
            return
        time.sleep(0.2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int, nargs="?", default=100)
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    ap.add_argument("--isolation", default="bwrap", choices=["bwrap", "none"])
    ap.add_argument("--distinct-models", action="store_true",
                    help="give every student a digit model of its own architecture (XLA compiles each)")
    ap.add_argument("--scheduler", metavar="ADDRESS", help="grade on this Dask cluster")
    ap.add_argument("--overhead", action="store_true",
                    help="grade the same zips with a one-file rubric: the time per submission is then what "
                         "scheduling and moving the zip cost")
    ap.add_argument("--dask-workers", type=int, metavar="W",
                    help="start a Dask scheduler and W workers on loopback and grade there")
    args = ap.parse_args()
    cluster: list[subprocess.Popen] = []
    if args.dask_workers:
        args.scheduler = start_cluster(args.dask_workers, cluster)
    args.cluster_pids = [p.pid for p in cluster]
    try:
        run(args)
    finally:
        for p in cluster:
            p.kill()
            p.wait()


def start_cluster(workers: int, procs: list[subprocess.Popen]) -> str:
    """``dask scheduler`` and ``dask worker --nthreads 1 --no-nanny`` processes on 127.0.0.1."""
    import json

    from distributed import Client

    folder = Path(tempfile.mkdtemp(prefix="mlgrade-bench-cluster-"))
    file = folder / "scheduler.json"
    dask = [sys.executable, "-m", "dask"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": folder}
    procs.append(subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                   "--scheduler-file", str(file)], **quiet))
    while not file.exists():
        time.sleep(0.1)
    address = json.loads(file.read_text())["address"]
    for _ in range(workers):
        procs.append(subprocess.Popen([*dask, "worker", address, "--nthreads", "1", "--no-nanny",
                                       "--no-dashboard", "--host", "127.0.0.1"], **quiet))
    with Client(address, set_as_default=False) as client:
        client.wait_for_workers(workers, timeout=120)
    return address


def memory_line(samples: list[tuple[float, int, int]], t0: float, wall: float) -> str:
    """Each worker's peak process-tree memory in the run's first and second half: flat when they match."""
    halves: dict[int, list[int]] = {}
    for at, pid, rss in samples:
        half = halves.setdefault(pid, [0, 0])
        i = int(at - t0 > wall / 2)
        half[i] = max(half[i], rss)
    return "peak memory per worker (process tree), first half -> second half: " + ", ".join(
        f"{a / 2**30:.2f} -> {b / 2**30:.2f} GiB" for a, b in halves.values())


def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        os.chmod(tmp_path, 0o755)
        klass, out = tmp_path / "class", tmp_path / "out"
        klass.mkdir()
        make_class(klass, args.n, args.distinct_models)
        samples: list[tuple[float, int, int]] = []
        stop = threading.Event()
        where = ["--scheduler", args.scheduler] if args.scheduler else ["--jobs", str(args.jobs)]
        rubric = ROOT / "rubric.yaml"
        if args.overhead:
            rubric = tmp_path / "overhead.yaml"
            rubric.write_text(OVERHEAD_RUBRIC)
        cmd = [sys.executable, "-m", "grader", "grade", str(klass), "--out", str(out), *where,
               "--isolation", args.isolation, "--rubric", str(rubric)]
        machinery0 = own_cpu(args.cluster_pids)
        c0, t0 = machine_cpu(), time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        watcher = threading.Thread(target=watch, args=([proc.pid, *args.cluster_pids], samples, stop), daemon=True)
        watcher.start()
        client_cpu = [0.0]
        sampler = threading.Thread(target=sample_own_cpu, args=(proc.pid, client_cpu), daemon=True)
        sampler.start()
        _, err = proc.communicate()
        wall, cpu = time.perf_counter() - t0, machine_cpu() - c0
        machinery = own_cpu(args.cluster_pids) - machinery0
        stop.set()
        watcher.join()
        sampler.join()
        if proc.returncode != 0:
            print(err)
            raise SystemExit(proc.returncode)
        print(" ".join(err.strip().splitlines()[-2:]))
    n = args.n
    where = (f"Dask workers: {args.dask_workers}" if args.dask_workers else f"Dask at {args.scheduler}"
             if args.scheduler else f"jobs: {args.jobs}")
    print(f"submissions: {n}, {where}, isolation: {args.isolation}, rubric: "
          f"{'one file (--overhead)' if args.overhead else 'the default'}, "
          f"digit models: {'one architecture each' if args.distinct_models else 'shared by the samples'}")
    print(f"wall: {wall:.1f} s ({n / wall * 60:.1f} submissions/min)")
    print(f"CPU: {cpu / n:.2f} s per submission (machine-wide)")
    line = f"scheduling CPU per submission: mlgrade grade itself {client_cpu[0] / n * 1000:.0f} ms"
    if args.cluster_pids:
        line += f", Dask scheduler and worker processes (not their grading workers) {machinery / n * 1000:.0f} ms"
    print(line)
    if samples:
        print(memory_line(samples, t0, wall))


if __name__ == "__main__":
    main()
