"""Course packs in rubrics/: each validates on its samples, every sample keeps the score it had before the
homework-specific checks moved out of grader/ (tests/data/sample_scores.json), and a pack written only
outside grader/ is graded end to end by ``mlgrade check`` and ``mlgrade grade``."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

from grader.cli.main import EXIT_OK, main

PACK = ROOT / "rubrics" / "mlp_softmax"
PACKS = ["hw4", "aml_hw4", "ml_assignment2", "mlp_softmax"]


def test_grader_holds_no_homework_specific_kind():
    from grader.rubric.kinds import all_kinds

    builtin = {k.name for k in all_kinds() if k.origin == "built-in"}
    assert not builtin & {"notebook_backprop", "xor_notebook", "xor_equation", "xor_hand"}
    checks = {p.stem for p in (ROOT / "grader" / "checks").glob("*.py")}
    assert not checks & {"backprop", "xor_notebook", "xor_equation"}


@pytest.mark.slow
def test_every_sample_keeps_its_score_per_question():
    """Before/after: the scores every sample had with the built-in homework kinds, now with the packs."""
    import sample_scores

    before = json.loads((ROOT / "tests" / "data" / "sample_scores.json").read_text())
    after = sample_scores.scores("bwrap" if os.environ.get("MLGRADE_REQUIRE_BWRAP") == "1" else "none")
    assert after == before


@pytest.mark.slow
@pytest.mark.parametrize("pack", PACKS)
def test_validate_passes_on_each_course_pack(pack, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")
    assert main(["validate", str(ROOT / "rubrics" / pack / "rubric.yaml")]) == EXIT_OK, capsys.readouterr().out


def test_the_pack_lives_outside_the_package():
    files = {p.relative_to(PACK).as_posix() for p in PACK.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert {"rubric.yaml", "refs.py", "tests/test_softmax.py", "tests/test_gradient.py", "tests/test_mlp.py",
            "samples/correct.zip", "samples/wrong.zip"} <= files


def test_pack_samples_are_what_the_script_builds(tmp_path):
    import make_pack_samples

    fresh = make_pack_samples.build(tmp_path)
    for path in fresh:
        assert path.read_bytes() == (PACK / "samples" / path.name).read_bytes(), \
            f"{path.name} differs; run scripts/make_pack_samples.py"


@pytest.mark.slow
def test_validate_shows_the_new_packs_scores(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")
    assert main(["validate", str(PACK / "rubric.yaml"), "--isolation", "none"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "softmax 4/4, gradient 3/3, mlp 5/5; total 12/12" in out and "2 samples graded as expected" in out


@pytest.mark.slow
def test_check_and_grade_end_to_end_from_the_command_line(tmp_path):
    env_cmd = [sys.executable, "-m", "grader"]
    check = subprocess.run([*env_cmd, "check", str(PACK / "samples" / "wrong.zip"), "--rubric",
                            str(PACK / "rubric.yaml"), "--json", str(tmp_path / "wrong.json")],
                           capture_output=True, text=True, timeout=600, cwd=tmp_path,
                           env={**os.environ, "COLUMNS": "200"})
    assert check.returncode == 0, check.stderr[-2000:]
    report = json.loads((tmp_path / "wrong.json").read_text())
    by_id = {t["number"]: t for t in report["tests"]}
    assert "hidden tests worth 2 points run only when the class is graded" in by_id["softmax"]["output"]
    assert "test_handout_example failed: Not equal to tolerance" in by_id["gradient"]["output"]
    batch = tmp_path / "class"
    batch.mkdir()
    for name in ("correct", "wrong"):
        (batch / f"{name}.zip").write_bytes((PACK / "samples" / f"{name}.zip").read_bytes())
    grade = subprocess.run([*env_cmd, "grade", str(batch), "--rubric", str(PACK / "rubric.yaml"), "--out",
                            str(tmp_path / "out"), "--jobs", "2"], capture_output=True, text=True, timeout=900,
                           cwd=tmp_path)
    assert grade.returncode == 0, grade.stderr[-2000:]
    rows = {r["student"]: r for r in csv.DictReader((tmp_path / "out" / "grades.csv").open())}
    assert (rows["correct"]["softmax"], rows["correct"]["gradient"], rows["correct"]["mlp"], rows["correct"]["total"]) \
        == ("4", "3", "5", "12")
    assert rows["wrong"]["total"] == "4" and rows["wrong"]["gradient"] == "0"
    wrong = json.loads((tmp_path / "out" / "students" / "wrong" / "results.json").read_text())
    softmax = next(t for t in wrong["tests"] if t["number"] == "softmax")["output"]
    assert "hidden tests: 0 of 4 passed (0 of 2 points)" in softmax and "overflows" not in softmax


def test_a_copy_of_the_default_rubric_made_elsewhere_finds_mlgrades_own_packs(tmp_path):
    """Instructors (and ../shared/bench/side_by_side.sh) copy questions of the default rubric into a rubric of
    their own in another folder: its rubrics/... files are then mlgrade's own course packs. A file that is
    missing everywhere is still an error naming the rubric's folder."""
    import yaml

    from grader.core.options import GradeOptions
    from grader.rubric import RubricError, load_rubric
    from grader.score.pipeline import grade_submission

    data = yaml.safe_load((ROOT / "rubric.yaml").read_text())
    data["questions"] = [q for q in data["questions"] if q["id"] == "backprop"]
    (tmp_path / "rubric.yaml").write_text(yaml.safe_dump(data))
    rubric = load_rubric(tmp_path / "rubric.yaml")
    result = grade_submission(ROOT / "submissions" / "alice_complete.zip", rubric, tmp_path / "w",
                              GradeOptions(isolation="none"))
    assert result.question("backprop").score == 3, result.question("backprop").reason

    data["questions"][0]["checks"][0]["tests"] = "rubrics/aml_hw4/tests/test_nothing_here.py"
    (tmp_path / "rubric.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(RubricError, match=f"not found next to the rubric \\(looked for {tmp_path}"):
        load_rubric(tmp_path / "rubric.yaml")
