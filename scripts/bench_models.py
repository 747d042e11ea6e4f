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

from grader.models import get_model_server  # noqa: E402


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


def bench_digits(args) -> None:
    """The whole digits check per model file, after a warm-up that pays the data loading once."""
    from grader.options import GradeOptions
    from grader.pipeline import grade_submission
    from grader.rubric import parse_rubric

    rubric = parse_rubric(DIGITS_RUBRIC)
    opts = GradeOptions(isolation=args.isolation)
    with tempfile.TemporaryDirectory() as tmp:
        def grade(data: bytes, k: str) -> float:
            sub = Path(tmp) / k / "sub"
            sub.mkdir(parents=True)
            (sub / "digits.h5").write_bytes(data)
            r = grade_submission(sub, rubric, Path(tmp) / k / "work", opts)
            q = r.question("digits")
            assert q.relative is not None, q.reason
            return q.checks[0].elapsed_s

        grade((HERE / "data" / "digits_mlp784.h5").read_bytes(), "warmup")
        for name in ("cnn", "mlp784", "mlp2d"):
            data = (HERE / "data" / f"digits_{name}.h5").read_bytes()
            times = [grade(data, f"{name}{i}") for i in range(args.n)]
            print(f"{'digits ' + name:>20}: median {statistics.median(times) * 1000:.0f} ms, first "
                  f"{times[0] * 1000:.0f} ms, max {max(times) * 1000:.0f} ms over {len(times)}")


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
        times: dict[str, list[float]] = {"inspect": [], "load": [], "classify 4 images": []}
        for _ in range(args.n):
            job = server.new_job_dir()
            files = {n: job / n for n in ("weights.h5", "what1.jpg", "what2.jpg", "trick_cat.jpg", "trick_dog.jpg")}
            for name, dst in files.items():
                dst.write_bytes((root / name).read_bytes())
            w = str(files["weights.h5"])
            for label, cmd in (
                ("inspect", {"op": "inspect", "path": w}),
                ("load", {"op": "load", "weights": w, "layers": layers, "input_shape": list(CATS_VS_DOGS_INPUT)}),
                ("classify 4 images", {"op": "classify", "weights": w, "layers": layers,
                                       "input_shape": list(CATS_VS_DOGS_INPUT), "size": [150, 150],
                                       "images": [str(files[n]) for n in list(files)[1:]]}),
            ):
                t = time.perf_counter()
                answer = server.request(cmd, timeout=120)
                times[label].append(time.perf_counter() - t)
                assert "error" not in answer and "problem" not in answer, answer
    print(f"model server start-up (Keras + JAX import, once per worker): {startup:.2f} s")
    for label, values in times.items():
        print(f"{label:>20}: median {statistics.median(values) * 1000:.0f} ms, first {values[0] * 1000:.0f} ms, "
              f"max {max(values) * 1000:.0f} ms over {len(values)}")
    total = sum(statistics.median(v) for v in times.values())
    print(f"{'per submission':>20}: {total * 1000:.0f} ms (q1a inspect+load, q2+q3 classify)")


if __name__ == "__main__":
    main()
