"""Benchmark: time to inspect, load and classify one submission's Keras weights, Keras already imported.

    python scripts/bench_models.py [N] [--isolation bwrap|none]

Uses alice's sample (the course CNN, four images) through the same sandboxed
model server the grader uses; the server's start-up (Keras + JAX import) is
timed separately, once, as it is paid once per worker.
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
    args = ap.parse_args()
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
        staging = server.service.staging
        for _ in range(args.n):
            job = staging.new_dir()  # staged read-only, as model_request does
            files = {n: staging.put_file(job, n, root / n)
                     for n in ("weights.h5", "what1.jpg", "what2.jpg", "trick_cat.jpg", "trick_dog.jpg")}
            w = files["weights.h5"]
            for label, cmd in (
                ("inspect", {"op": "inspect", "path": w}),
                ("load", {"op": "load", "weights": w, "layers": layers, "input_shape": list(CATS_VS_DOGS_INPUT)}),
                ("classify 4 images", {"op": "classify", "weights": w, "layers": layers,
                                       "input_shape": list(CATS_VS_DOGS_INPUT), "size": [150, 150],
                                       "images": [files[n] for n in list(files)[1:]]}),
            ):
                t = time.perf_counter()
                answer = server.service.request(cmd, timeout=120)
                times[label].append(time.perf_counter() - t)
                assert "error" not in answer and "problem" not in answer, answer
            staging.remove(job)
    print(f"model server start-up (Keras + JAX import, once per worker): {startup:.2f} s")
    for label, values in times.items():
        print(f"{label:>20}: median {statistics.median(values) * 1000:.0f} ms, first {values[0] * 1000:.0f} ms, "
              f"max {max(values) * 1000:.0f} ms over {len(values)}")
    total = sum(statistics.median(v) for v in times.values())
    print(f"{'per submission':>20}: {total * 1000:.0f} ms (q1a inspect+load, q2+q3 classify)")


if __name__ == "__main__":
    main()
