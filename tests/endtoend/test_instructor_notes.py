"""One rule for hidden parts, whatever the kind: why a hidden case or test failed (its inputs' shapes, its
message) reaches the instructor — validate, instructor-notes.csv — and never a file a student reads."""

from __future__ import annotations

import csv
import textwrap

from conftest import make_zip
from helpers import notebook_bytes

from grader.cli.main import main

RUBRIC = """
name: hid
questions:
  - id: relu
    title: relu with hidden inputs
    points: 4
    checks:
      - kind: notebook_function
        notebook: relu.ipynb
        function: relu
        reference: refs.py:relu
        cases:
          - args: [{array: [-1.0, 2.0]}]
        hidden:
          count: 2
          args: [{random: {shape: [6, 6, 3], distribution: normal}}]
  - id: soft
    title: tests with a hidden one
    points: 2
    checks:
      - kind: pytest
        tests: tests/test_soft.py
        notebook: relu.ipynb
"""
TESTS = '''
import numpy as np
import pytest


def test_public(notebook):
    assert notebook.has("relu")


@pytest.mark.hidden
def test_hidden(notebook, hidden_rng):
    x = hidden_rng.normal(size=(6, 6, 3))
    assert np.shape(notebook.call("relu", x)) == x.shape, "HIDDEN-REASON-7319"
'''
# right on the listed case (a 1-d input), wrong on the hidden (6, 6, 3) ones
STUDENT = notebook_bytes("import numpy as np\ndef relu(x):\n    return np.maximum(np.ravel(x), 0)[:2]")


def test_hidden_reasons_go_to_the_instructor_and_nowhere_a_student_reads(tmp_path, capsys):
    course = tmp_path / "course"
    (course / "tests").mkdir(parents=True)
    (course / "rubric.yaml").write_text(RUBRIC)
    (course / "refs.py").write_text("import numpy as np\n\ndef relu(x):\n    return np.maximum(x, 0)\n")
    (course / "tests" / "test_soft.py").write_text(textwrap.dedent(TESTS))
    subs = tmp_path / "subs"
    subs.mkdir()
    make_zip(subs / "ann.zip", [("relu.ipynb", STUDENT)])
    out = tmp_path / "out"
    assert main(["grade", str(subs), "--out", str(out), "--rubric", str(course / "rubric.yaml"),
                 "--isolation", "none"]) == 0
    with open(out / "instructor-notes.csv", newline="") as f:
        notes = list(csv.DictReader(f))
    text = " ".join(r["note"] for r in notes)
    assert {r["student"] for r in notes} == {"ann"} and {r["question"] for r in notes} == {"relu", "soft"}
    assert "HIDDEN-REASON-7319" in text and "(6, 6, 3)" in text
    for path in (out / "students").rglob("*"):
        if path.is_file():
            body = path.read_text(errors="replace")
            assert "HIDDEN-REASON-7319" not in body and "(6, 6, 3)" not in body, path
    page = (out / "students" / "ann" / "feedback.html").read_text()
    assert "0/2 hidden cases right (not right: hidden case 1, 2)" in page
    assert "hidden tests not passed: test_hidden" in page


def test_validate_shows_the_instructor_why_hidden_parts_failed(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")
    course = tmp_path / "course"
    (course / "tests").mkdir(parents=True)
    (course / "rubric.yaml").write_text(RUBRIC)
    (course / "refs.py").write_text("import numpy as np\n\ndef relu(x):\n    return np.maximum(x, 0)\n")
    (course / "tests" / "test_soft.py").write_text(textwrap.dedent(TESTS))
    (course / "samples" / "wrong").mkdir(parents=True)
    (course / "samples" / "wrong" / "relu.ipynb").write_bytes(STUDENT)
    assert main(["validate", str(course / "rubric.yaml"), "--isolation", "none"]) == 0
    out = capsys.readouterr().out
    assert "hidden, for you only: relu: hidden case 1: shape (2,), expected (6, 6, 3)" in out
