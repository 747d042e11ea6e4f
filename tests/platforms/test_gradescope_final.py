"""After the deadline, the final class-relative scores reach Gradescope: `mlgrade export gradescope
--final-from GRADES` puts the batch's class bests into the autograder zip, and Gradescope's Regrade All
Submissions gives every student the score the batch gave them."""

from __future__ import annotations

import json
import zipfile

import pytest
from render_samples import RUBRIC, RUBRIC_TEXT, sample_class, store_class, student

from grader.classstep.classbest import class_best
from grader.cli.main import EXIT_OK, EXIT_USAGE, main
from grader.platforms.gradescope import FinalBests, gradescope_results


def test_a_regrade_with_the_class_bests_gives_the_final_score_and_says_so():
    final = FinalBests({"digits": 0.9871}, 212, "2026-12-08 09:00 UTC")
    data = gradescope_results(student("alice", 0.9437), RUBRIC, {}, "", final)
    digits = next(t for t in data["tests"] if t["number"] == "digits")
    assert digits["score"] == pytest.approx(round(40 * 0.9437 / 0.9871, 4))
    assert digits["name"].endswith("(final)") and "(provisional)" not in data["output"]
    assert "scored against the class best, 0.9871, from the 212 submissions" in digits["output"]
    assert data["score"] == pytest.approx(sum(t["score"] for t in data["tests"]))


def test_a_resubmission_better_than_the_class_best_gets_full_points_never_more():
    data = gradescope_results(student("late", 0.995), RUBRIC, {}, "", FinalBests({"digits": 0.98}, 3, ""))
    assert next(t for t in data["tests"] if t["number"] == "digits")["score"] == 40


@pytest.mark.parametrize("text", ["", "[]", '{"bests": {"digits": "high"}}', '{"bests": {"digits": 7}}'])
def test_an_unusable_class_bests_file_leaves_the_scores_provisional(tmp_path, text):
    path = tmp_path / "class_bests.json"
    path.write_text(text)
    final = FinalBests.read(path)
    assert final is None or final.bests == {}
    data = gradescope_results(student("alice", 0.9437), RUBRIC, {}, "", final)
    assert "(provisional)" in data["output"].splitlines()[0]


def test_export_final_from_a_graded_class_carries_its_bests(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text(RUBRIC_TEXT)
    results = sample_class()
    store_class(tmp_path / "grades", results)
    out = tmp_path / "autograder.zip"
    assert main(["export", "gradescope", "--rubric", str(rubric), "--final-from", str(tmp_path / "grades"),
                 "-o", str(out)]) == EXIT_OK
    said = capsys.readouterr().out
    assert "Regrade All Submissions" in said and "4 submissions" in said
    expected = class_best({r.student: r.question("digits").relative for r in results
                           if r.question("digits").relative is not None}).best
    with zipfile.ZipFile(out) as z:
        carried = json.loads(z.read("class_bests.json"))
    assert carried["bests"] == {"digits": expected} and carried["students"] == 4

    other = tmp_path / "other.yaml"
    other.write_text(RUBRIC_TEXT.replace("points: 40", "points: 50"))
    assert main(["export", "gradescope", "--rubric", str(other), "--final-from", str(tmp_path / "grades"),
                 "-o", str(tmp_path / "x.zip")]) == EXIT_USAGE
    assert "graded with another rubric than this one" in capsys.readouterr().err
    assert main(["export", "gradescope", "--rubric", str(rubric), "--final-from", str(tmp_path / "nothing"),
                 "-o", str(tmp_path / "x.zip")]) == EXIT_USAGE
    assert not (tmp_path / "x.zip").exists()
