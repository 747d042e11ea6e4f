"""What a student reads in Gradescope's results.json: it speaks of Gradescope (not of the self-check or the
instructor's sandbox notes), and a provisional class-relative score names the class best it used."""

from __future__ import annotations

import json

from render_samples import RUBRIC, student

from grader.execute.isolation import BACKENDS, backend
from grader.platforms.gradescope import gradescope_results


def test_the_provisional_digits_message_names_the_class_best_it_used():
    data = gradescope_results(student("alice", 0.9437), RUBRIC, {}, "")
    digits = next(t for t in data["tests"] if t["number"] == "digits")
    assert "40 x 0.9437 / 1.0000 = 37.748" in digits["output"]
    assert "a perfect accuracy (1.0000) stands in for it" in digits["output"]


def test_what_the_student_reads_on_gradescope_speaks_of_gradescope(tmp_path):
    data = gradescope_results(student("alice@uni.edu", 0.9437), RUBRIC, {}, "Your code ran with time and memory "
                              "limits in a container discarded after this submission.")
    assert data["stdout_visibility"] == "hidden"  # the autograder's own notes are for the instructor
    first, *rest = data["output"].splitlines()
    assert first.startswith("Autograder score: ") and first.endswith("(provisional)")
    assert "regrades every submission here with the class's best" in data["output"]
    for name in BACKENDS:  # the instructor's and the self-check's wording about the sandbox
        assert backend(name).guarantees not in data["output"], name
    for words in ("self-check", "this computer", "your own work", "batch grading", "mlgrade"):
        assert words not in data["output"]
    json.dumps(data)
