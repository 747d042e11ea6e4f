"""Integrity end to end: a class graded with ``mlgrade grade`` (fingerprints made in the sandboxed model
server), planted copies in integrity.csv and summary.html, and a late submission compared with
everyone's stored fingerprints without regrading anyone."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import make_zip  # noqa: E402
from integrity_samples import (  # noqa: E402
    BACKPROP_VARIANTS,
    STARTER_CELLS,
    disguise,
    jpeg_bytes,
    notebook_bytes,
    recompressed,
)

from grader.core.options import GradeOptions  # noqa: E402
from grader.rubric import load_rubric  # noqa: E402

RUBRIC = """
name: integrity class
questions:
  - id: files
    title: the notebooks are there
    points: 1
    checks:
      - kind: file_present
        file: backprop.ipynb
  - id: shot
    title: the screenshot
    points: 1
    checks:
      - kind: image
        file: hdfview.png
integrity:
  starter: [handout/xor.ipynb]
"""


def _weights(path: Path, arrays: list[np.ndarray], layout: str, names: str) -> bytes:
    from kerasfiles import write_keras2_weights, write_keras3_weights

    layers = [(f"{names}_{i}", [(f"{names}_{i}/{w}:0", a) for w, a in zip(("kernel", "bias"), pair, strict=True)])
              for i, pair in enumerate(zip(arrays[::2], arrays[1::2], strict=True))]
    if layout == "keras3":
        write_keras3_weights(path, layers)
    else:
        write_keras2_weights(path, layers, keras_version="2.15.0", varlen=True)
    return path.read_bytes()


def _student(tmp: Path, i: int) -> tuple[dict[str, bytes], list[np.ndarray]]:
    from make_submissions import XOR_CODE, hdfview_png, xor_equation
    from synth import draw_animal

    rng = np.random.default_rng(100 + i)
    arrays = [rng.normal(0, 0.1, (784, 64)).astype(np.float32), rng.normal(0, 0.1, 64).astype(np.float32),
              rng.normal(0, 0.1, (64, 10)).astype(np.float32), rng.normal(0, 0.1, 10).astype(np.float32)]
    runs = json.loads((ROOT / "tests" / "data" / "integrity" / "xor_runs.json").read_text())
    w1, w2 = np.array(runs["w1"][i]), np.array(runs["w2"][i]).reshape(4, 1)
    xor_cells = [XOR_CODE, "print(nn.weights1)\nprint(nn.weights2)"]
    files = {
        "weights.h5": _weights(tmp / f"w{i}.h5", arrays, "keras2", f"dense_{i}"),
        "what1.jpg": jpeg_bytes(draw_animal("cat", 500 + i)),
        "hdfview.png": hdfview_png(i),
        "backprop.ipynb": notebook_bytes(STARTER_CELLS + BACKPROP_VARIANTS[i]),
        "xor.ipynb": notebook_bytes(xor_cells, {1: f"{w1}\n{w2}\n"}),
        "xor_equation.txt": xor_equation(w1, w2).encode(),
    }
    return files, arrays


@pytest.mark.slow
def test_planted_copies_are_found_in_a_graded_class_and_a_late_copy_regrades_nobody(tmp_path):
    from make_submissions import XOR_CODE, xor_equation

    from grader.batch.run import grade_batch

    (tmp_path / "handout").mkdir()
    (tmp_path / "handout" / "xor.ipynb").write_bytes(notebook_bytes([XOR_CODE]))
    rubric_path = tmp_path / "rubric.yaml"
    rubric_path.write_text(RUBRIC)
    rubric = load_rubric(rubric_path)
    batch = tmp_path / "batch"
    batch.mkdir()
    own = {}
    for i in range(4):
        files, arrays = _student(tmp_path, i)
        own[i] = (files, arrays)
        make_zip(batch / f"s{i}.zip", sorted(files.items()))
    # the copier: s0's weights re-saved as Keras 3 with other layer names, s1's cat re-encoded smaller,
    # s2's notebook disguised, s3's printed weights in the equation (4 decimals), s0's screenshot file
    runs = json.loads((ROOT / "tests" / "data" / "integrity" / "xor_runs.json").read_text())
    w1, w2 = np.round(np.array(runs["w1"][3]), 4), np.round(np.array(runs["w2"][3]).reshape(4, 1), 4)
    copier = {
        "weights.weights.h5": _weights(tmp_path / "c.weights.h5", own[0][1], "keras3", "mine"),
        "What1.JPG": recompressed(own[1][0]["what1.jpg"]),
        "hdfview.png": own[0][0]["hdfview.png"],
        "backprop.ipynb": notebook_bytes(STARTER_CELLS + disguise(BACKPROP_VARIANTS[2])),
        "xor_equation.txt": xor_equation(w1, w2, digits=4).encode(),
    }
    make_zip(batch / "zed.zip", sorted(copier.items()))
    out = tmp_path / "out"
    options = GradeOptions(isolation="bwrap")
    grade_batch([batch], out, rubric, options, rubric_text=RUBRIC, rubric_source=str(rubric_path), jobs=2)

    rows = list(csv.DictReader((out / "integrity.csv").open()))
    found = {(r["kind"], r["student_a"], r["file_a"], r["student_b"], r["file_b"]) for r in rows}
    # s3's equation holds the same numbers as s3's notebook: the closer of the two is named
    found = {("xor", a, "xor.ipynb, In [2]", b, fb) if k == "xor" and fa == "xor_equation.txt" else (k, a, fa, b, fb)
             for k, a, fa, b, fb in found}
    assert found == {
        ("weights", "s0", "weights.h5", "zed", "weights.weights.h5"),
        ("image", "s1", "what1.jpg", "zed", "What1.JPG"),
        ("screenshot", "s0", "hdfview.png", "zed", "hdfview.png"),
        ("code", "s2", "backprop.ipynb", "zed", "backprop.ipynb"),
        ("xor", "s3", "xor.ipynb, In [2]", "zed", "xor_equation.txt"),
    }, rows
    assert {r["group"] for r in rows} == {"G1"}
    weights = next(r for r in rows if r["kind"] == "weights")
    assert "2 identical of 2 weighted layers" in weights["detail"] and float(weights["similarity"]) == 1.0
    html = (out / "summary.html").read_text()
    assert "Academic integrity" in html and "s0, s1, s2, s3, zed" not in html  # linked, not plain
    record = json.loads((out / ".mlgrade" / "records" / "s0.json").read_text())["result"]
    assert record["integrity"]["models"][0]["format"] == "keras2-weights"
    feedback = (out / "students" / "s0" / "feedback.html").read_text()
    assert "Academic integrity" not in feedback and "zed" not in feedback  # never shown to a student

    # a late submission: s1's backprop, disguised; only it is graded, the others are compared from their records
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / ".mlgrade" / "records").iterdir()}
    make_zip(batch / "late.zip", [("hw.ipynb", notebook_bytes(STARTER_CELLS + disguise(BACKPROP_VARIANTS[1])))])
    grade_batch([batch], out, rubric, options, rubric_text=RUBRIC, rubric_source=str(rubric_path), jobs=2)
    after = {p.name: p.stat().st_mtime_ns for p in (out / ".mlgrade" / "records").iterdir()}
    assert {k for k in after if after[k] != stamps.get(k)} == {"late.json"}
    rows = list(csv.DictReader((out / "integrity.csv").open()))
    late = [r for r in rows if "late" in (r["student_a"], r["student_b"])]
    assert [(r["kind"], r["student_a"], r["file_b"]) for r in late] == [("code", "late", "backprop.ipynb")]
    assert late[0]["group"] == "G1"  # linked through s1 to the copier's group
    assert "late" in (out / "summary.html").read_text()
