"""How long the class-level integrity step takes for a large class (issue 14: under 10 s for 500).

    python scripts/bench_integrity.py [--students 500] [--repeat 3] [--keep DIR]

Builds stored records of N synthetic students with fingerprints as the grader stores them, then
times, on those records only (median of --repeat runs, wall clock):

1. ``compare``: the integrity comparison alone (:func:`grader.classstep.integrity.compare_class`);
2. ``class step``: reading every record from the store, the class-relative scores, the integrity
   comparison, and writing ``integrity.csv`` and ``summary.html`` (the section included);
3. for reference, every default output (one feedback page per student too).

Each student has the course CNN's weights (5 layers, 1.2 M parameters) and a digit MLP (2 layers),
as per-layer sketches: unrelated unit vectors (what independently trained layers give), exact
hashes their own; 7 photos and 3 screenshots (64-bit hashes drawn at random); two notebooks of
~120 code fingerprints each, from the handout's starter code (declared), idioms many students
share (each in ~5 of them) and their own; the printed and the written XOR weights of a real
independent run (``tests/data/integrity/xor_runs.json``). 5% of the class copies from someone:
the weights re-saved (exact), a photo, a notebook, the XOR weights. The report must find them all.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from grader.classstep.classwide import apply_class_relative, integrity_step  # noqa: E402
from grader.classstep.integrity import compare_class  # noqa: E402
from grader.render import ClassReport, default_formats, write_outputs  # noqa: E402
from grader.rubric import load_rubric  # noqa: E402
from grader.score.codeprint import encode_hashes, fingerprint_cells  # noqa: E402
from grader.score.pipeline import failed_result  # noqa: E402
from grader.score.store import ResultStore  # noqa: E402

CNN = [[[3, 3, 3, 32], [32]], [[3, 3, 32, 32], [32]], [[3, 3, 32, 64], [64]], [[18496, 64], [64]], [[64, 1], [1]]]
MLP = [[[784, 128], [128]], [[128, 10], [10]]]
PHOTOS = ["what1.jpg", "what2.jpg", "trick_cat.jpg", "trick_dog.jpg", "extra1.jpg", "extra2.jpg", "extra3.jpg"]
SHOTS = ["hdfview.png", "classify.png", "misclassify.png"]
STARTER = "import numpy as np\nnp.random.seed(0)\nweights = {'W1': np.random.randn(3, 2), 'b1': np.zeros(3)}\n" * 3


def _sketch(rng: np.random.Generator) -> str:
    v = rng.normal(size=256)
    return base64.b64encode((v / np.linalg.norm(v)).astype("<f4").tobytes()).decode()


def _layers(shapes, rng) -> list[dict]:
    return [{"shapes": s, "size": int(sum(np.prod(x) for x in s)), "exact": rng.bytes(16).hex(), "trivial": False,
             "sketch": _sketch(rng)} for s in shapes]


def synthetic_class(n: int, seed: int = 0) -> dict[str, dict]:
    rng = np.random.default_rng(seed)
    runs = json.loads((HERE.parent / "tests" / "data" / "integrity" / "xor_runs.json").read_text())
    starter = fingerprint_cells([STARTER]).hashes
    idioms = rng.integers(0, 2**63, size=max(200, n * 4), dtype=np.uint64)
    prints: dict[str, dict] = {}
    for i in range(n):
        w1, w2 = runs["w1"][i % len(runs["w1"])], runs["w2"][i % len(runs["w2"])]
        code = []
        for nb in ("backprop.ipynb", "xor.ipynb"):
            own = rng.integers(0, 2**63, size=100, dtype=np.uint64)
            shared = rng.choice(idioms, size=20, replace=False)
            code.append({"file": nb, "prints": encode_hashes(np.unique(np.concatenate([starter, shared, own]))),
                         "tokens": 600, "cells": 8})
        prints[f"student{i:04d}"] = {
            "version": 1, "notes": [],
            "models": [{"file": "weights.h5", "format": "keras2-weights", "layers": _layers(CNN, rng)},
                       {"file": "digits.h5", "format": "keras2-model", "layers": _layers(MLP, rng)}],
            "images": [{"file": f, "phash": rng.bytes(8).hex(), "dhash": rng.bytes(8).hex(),
                        "phash_mirror": rng.bytes(8).hex(), "dhash_mirror": rng.bytes(8).hex(),
                        "pixels": rng.bytes(16).hex(), "width": 640, "height": 480} for f in PHOTOS + SHOTS],
            "code": code,
            "xor": [{"kind": "notebook", "file": "xor.ipynb", "where": "xor.ipynb, In [3]", "w1": w1, "w2": w2,
                     "decimals": 8},
                    {"kind": "equation", "file": "xor_equation.txt", "where": "xor_equation.txt", "w1": w1,
                     "w2": w2, "decimals": 8}],
        }
    names = sorted(prints)
    copiers = names[: max(1, n // 20)]
    for k, c in enumerate(copiers):  # each copies everything from a student of the other half
        src = prints[names[n // 2 + k]]
        prints[c]["models"][0] = json.loads(json.dumps(src["models"][0]))
        prints[c]["images"][0] = {**src["images"][0], "pixels": rng.bytes(16).hex()}  # re-encoded: only phash kept
        prints[c]["code"][0] = {**src["code"][0], "file": "hw.ipynb"}
        prints[c]["xor"] = [{**x, "where": "copied"} for x in src["xor"][1:]]
    return prints


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="write the outputs here and keep them")
    args = ap.parse_args()
    prints = synthetic_class(args.students)
    out = args.keep or Path(tempfile.mkdtemp(prefix="bench-integrity-"))
    (out / "handout").mkdir(parents=True, exist_ok=True)
    (out / "handout" / "starter.py").write_text(STARTER)
    rubric_path = HERE.parent / "rubric.yaml"  # the default rubric, with the starter code written above
    rubric = load_rubric(rubric_path)
    rubric = rubric.model_copy(update={"integrity": rubric.integrity.model_copy(
        update={"starter": [str(out / "handout")]})})
    store = ResultStore(out)
    results = []
    for student, fp in prints.items():
        r = failed_result(student, Path(f"{student}.zip"), rubric, "synthetic")
        r.errors = []
        r.integrity = fp
        r.submission_hash = student
        store.put(student, "key", r)
        results.append(r)
    size = sum(p.stat().st_size for p in store.dir.iterdir())
    print(f"{args.students} students, stored records {size / 1e6:.1f} MB ({size / args.students / 1e3:.0f} KB each)")

    def timed(fn) -> tuple[float, object]:
        times, value = [], None
        for _ in range(args.repeat):
            t = time.perf_counter()
            value = fn()
            times.append(time.perf_counter() - t)
        return statistics.median(times), value

    t_compare, report = timed(lambda: compare_class(results, rubric.integrity, base_dir=out))
    copiers = max(1, args.students // 20)
    kinds = {k: sum(e.kind == k for e in report.pairs) for k in ("weights", "image", "code", "xor")}
    print(f"compare: {t_compare:.2f} s; found {kinds} (planted: {copiers} of each), groups {len(report.groups)}, "
          f"flags {len(report.flags)}")
    assert all(v == copiers for v in kinds.values()), kinds

    def class_step():
        loaded = [store.get(s) for s in prints]
        bests = apply_class_relative(rubric, loaded)
        integrity = integrity_step(rubric, loaded, str(rubric_path))
        rep = ClassReport(rubric, loaded, bests, integrity=integrity)
        write_outputs(out, rep, ["integrity", "summary-html"])
        return rep

    t_step, _ = timed(class_step)
    print(f"class step (load {args.students} records, class-relative, integrity, integrity.csv, summary.html): "
          f"{t_step:.2f} s")
    t = time.perf_counter()
    loaded = [store.get(s) for s in prints]
    rep = ClassReport(rubric, loaded, apply_class_relative(rubric, loaded),
                      integrity=integrity_step(rubric, loaded, str(rubric_path)))
    write_outputs(out, rep, default_formats())
    print(f"every default output (a feedback page per student too): {time.perf_counter() - t:.2f} s")
    import resource

    print(f"peak memory of this whole process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if args.keep is None:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
