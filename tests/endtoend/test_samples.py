"""The shipped sample submissions are reproducible from the script and grade as described."""

from __future__ import annotations

import hashlib

import make_submissions
import pytest
from conftest import ROOT

from grader.score.pipeline import grade_submission


def _digest(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_builder_is_deterministic(tmp_path):
    a = make_submissions.build(tmp_path / "a")
    b = make_submissions.build(tmp_path / "b")
    assert [_digest(p) for p in a] == [_digest(p) for p in b]


@pytest.mark.slow
def test_committed_samples_grade_like_freshly_built_ones(tmp_path, default_rubric):
    """The committed samples are what the script builds here, byte for byte, or grade the same (a library
    version can change a model file's bytes): only samples whose bytes differ are graded, both copies."""
    fresh = {p.name: p for p in make_submissions.build(tmp_path / "fresh")}
    for name, path in fresh.items():
        committed = ROOT / "submissions" / name
        assert committed.exists(), f"{name} is not committed; run scripts/make_submissions.py"
        if _digest(committed) == _digest(path):
            continue  # the same bytes: the same grades (test_batch grades one batch twice to the same bytes)
        r1 = grade_submission(committed, default_rubric, tmp_path / "w1" / name)
        r2 = grade_submission(path, default_rubric, tmp_path / "w2" / name)
        assert [(q.id, q.score, q.status) for q in r1.questions] == [(q.id, q.score, q.status) for q in r2.questions]


@pytest.mark.parametrize(("rubric", "good", "bad"), [("ml_assignment2", 56, 24), ("aml_hw4", 5, 1.5)])
def test_other_assignment_rubrics_grade_their_samples(tmp_path, rubric, good, bad):
    from grader.rubric import load_rubric

    r = load_rubric(ROOT / "rubrics" / rubric / "rubric.yaml")
    folder = ROOT / "rubrics" / rubric / "samples"
    assert grade_submission(folder / "good.zip", r, tmp_path / "g").total == good
    assert grade_submission(folder / "bad.zip", r, tmp_path / "b").total == bad
