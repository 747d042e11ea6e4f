"""Benchmark: time to inspect, load and classify one submission's Keras weights, and to grade one
digit classifier (the ``digits`` check), Keras already imported.

    python scripts/bench_models.py [N] [--isolation bwrap|none] [--digits-only]

Uses alice's sample (the course CNN, four images) through the same sandboxed
model server the grader uses; the server's start-up (Keras + JAX import) is
timed separately, once, as it is paid once per worker. The digits part grades the
three sample digit models (scripts/data/digits_*.h5) through the whole check
(inspect, rebuild, 5,797 digits, the other scalings on a sample), each N times; the
first time includes compiling that architecture's operations, as a new student's costs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from grader.execute.modelserver import get_model_server  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int, nargs="?", default=10)
    ap.add_argument("--isolation", default="bwrap", choices=["bwrap", "none"])
    ap.add_argument("--digits-only", action="store_true")
    args = ap.parse_args()
    if not args.digits_only:
        bench_weights(args)
    bench_digits(args)


DIGITS_RUBRIC = """
name: bench
questions:
  - id: digits
    title: digits
    points: 40
    checks:
      - {kind: digits, model: digits.h5}
"""


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` and every descendant: the model server runs
    under bwrap, so its Python is a grandchild. CPU time, unlike wall time, does not depend on what
    else the machine is doing."""
    import os

    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(d)] = int(fields[1])
        ticks[int(d)] = int(fields[11]) + int(fields[12])
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += ticks.get(p, 0)
        todo += [c for c, pp in parents.items() if pp == p]
    return total / os.sysconf("SC_CLK_TCK")


def report(label: str, wall: list[float], cpu: list[float]) -> None:
    print(f"{label:>22}: wall median {statistics.median(wall) * 1000:.0f} ms (first {wall[0] * 1000:.0f}), "
          f"CPU median {statistics.median(cpu) * 1000:.0f} ms (first {cpu[0] * 1000:.0f}) over {len(wall)}")


def bench_digits(args) -> None:
    """The whole digits check per model file (grader and model server CPU), after a warm-up that pays
    the data loading once."""
    from grader.core.options import GradeOptions
    from grader.execute.modelserver import get_model_server
    from grader.rubric import parse_rubric
    from grader.score.pipeline import grade_submission

    rubric = parse_rubric(DIGITS_RUBRIC)
    opts = GradeOptions(isolation=args.isolation)
    with tempfile.TemporaryDirectory() as tmp:
        def grade(data: bytes, k: str) -> tuple[float, float]:
            sub = Path(tmp) / k / "sub"
            sub.mkdir(parents=True)
            (sub / "digits.h5").write_bytes(data)
            server = get_model_server(args.isolation, slot=0)
            cpu0, own0, t = tree_cpu(server.service.proc.pid), time.process_time(), time.perf_counter()
            r = grade_submission(sub, rubric, Path(tmp) / k / "work", opts)
            wall = time.perf_counter() - t
            cpu = tree_cpu(server.service.proc.pid) - cpu0 + time.process_time() - own0
            q = r.question("digits")
            assert q.relative is not None, q.reason
            return wall, cpu

        grade((HERE / "data" / "digits_mlp784.h5").read_bytes(), "warmup")
        for name in ("cnn", "mlp784", "mlp2d"):
            data = (HERE / "data" / f"digits_{name}.h5").read_bytes()
            runs = [grade(data, f"{name}{i}") for i in range(args.n)]
            report(f"digits {name}", [w for w, _ in runs], [c for _, c in runs])


def distinct_copy(src: Path, dst: Path, i: int) -> None:
    """The same weights in a file with other bytes, as each student's is (the server caches by bytes)."""
    import h5py

    dst.write_bytes(src.read_bytes())
    with h5py.File(dst, "a") as f:
        f.attrs["bench_copy"] = i


def bench_weights(args) -> None:
    from reference.architectures import CATS_VS_DOGS_CNN, CATS_VS_DOGS_INPUT

    layers = [{"class_name": s["kind"], "config": {k: v for k, v in s.items() if k != "kind"}} for s in CATS_VS_DOGS_CNN]
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(HERE.parent / "submissions" / "alice_complete.zip") as zf:
            zf.extractall(tmp)
        root = Path(tmp) / "HW4_alice"
        t = time.perf_counter()
        server = get_model_server(args.isolation, slot=0)
        startup = time.perf_counter() - t
        labels = ("inspect", "load (a new file)", "classify 4 images")
        wall: dict[str, list[float]] = {k: [] for k in labels}
        cpu: dict[str, list[float]] = {k: [] for k in labels}
        staging = server.service.staging
        pid = server.service.proc.pid
        for i in range(args.n):
            job = staging.new_dir()  # staged read-only, as model_request does
            distinct_copy(root / "weights.h5", Path(tmp) / f"weights-{i}.h5", i)
            files = {n: staging.put_file(job, n, Path(tmp) / f"weights-{i}.h5" if n == "weights.h5" else root / n)
                     for n in ("weights.h5", "what1.jpg", "what2.jpg", "trick_cat.jpg", "trick_dog.jpg")}
            w = files["weights.h5"]
            for label, cmd in zip(labels, (
                {"op": "inspect", "path": w},
                {"op": "load", "weights": w, "layers": layers, "input_shape": list(CATS_VS_DOGS_INPUT)},
                {"op": "classify", "weights": w, "layers": layers, "input_shape": list(CATS_VS_DOGS_INPUT),
                 "size": [150, 150], "images": [files[n] for n in list(files)[1:]]},
            ), strict=True):
                c, t = tree_cpu(pid), time.perf_counter()
                answer = server.service.request(cmd, timeout=120)
                wall[label].append(time.perf_counter() - t)
                cpu[label].append(tree_cpu(pid) - c)
                assert "error" not in answer and "problem" not in answer, answer
            staging.remove(job)
    print(f"model server start-up (Keras + JAX import, once per worker): {startup:.2f} s")
    for label in labels:
        report(label, wall[label], cpu[label])
    total = sum(statistics.median(v) for v in cpu.values())
    print(f"{'per submission':>22}: CPU {total * 1000:.0f} ms (q1a inspect+load, q2+q3 classify)")


if __name__ == "__main__":
    main()
