"""A self-check remembers question results, keyed by everything that decides them."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from conftest import ROOT, make_zip

from grader.rubric import load_rubric
from grader.student.selfcheck import self_check

pytestmark = pytest.mark.slow


def _alice(tmp_path: Path, name: str, **replace: bytes) -> Path:
    with zipfile.ZipFile(ROOT / "submissions" / "alice_complete.zip") as zf:
        files = {i.filename.rsplit("/", 1)[-1]: zf.read(i) for i in zf.infolist() if not i.is_dir()}
    files.pop(".DS_Store", None)
    files.update(replace)
    return make_zip(tmp_path / name, sorted(files.items()))


def _scores(check) -> dict:
    return {q.id: (q.score, q.reason) for q in check.result.questions}


def test_unchanged_questions_are_reused_and_changed_ones_graded_again(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    rubric = load_rubric(ROOT / "rubric.yaml")
    first = self_check(_alice(tmp_path, "a.zip"), rubric)
    assert not any(q.details.get("reused") for q in first.result.questions)

    # the same files again: every question is reused, and no model or notebook work happens at all
    import grader.execute.modelserver
    import grader.execute.notebooks.executor

    def boom(*a, **k):
        raise AssertionError("graded again although nothing changed")

    with monkeypatch.context() as m:
        m.setattr(grader.execute.modelserver, "model_request", boom)
        m.setattr(grader.execute.notebooks.executor, "run_notebook", boom)
        again = self_check(_alice(tmp_path, "b.zip"), rubric)
    assert _scores(again) == _scores(first)
    assert all(q.details.get("reused") for q in again.result.questions)
    assert any("did not change since your last check" in n for n in again.notes)

    # a changed hand-value file: q4b is graded again, the model questions are not
    changed = self_check(_alice(tmp_path, "c.zip", **{"xor_hand.txt": b"001: 0.5\n011: 0.5\n101: 0.5\n111: 0.5\n"}),
                         rubric)
    reused = {q.id for q in changed.result.questions if q.details.get("reused")}
    assert "q4b" not in reused and {"q1a", "q2", "q3", "digits"} <= reused
    assert changed.result.question("q4b").score < first.result.question("q4b").score
    # notebooks read every file of the submission: any change grades them again
    assert "backprop" not in reused and "q4a" not in reused

    # --no-cache grades everything
    fresh = self_check(_alice(tmp_path, "d.zip"), rubric, remember=False)
    assert not any(q.details.get("reused") for q in fresh.result.questions)
    assert _scores(fresh) == _scores(first)
