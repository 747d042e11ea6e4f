"""Review and override from any folder: class.json records the rubric by absolute path and digest, loads it
from anywhere, and refuses in one line (the file, what changed) when the rubric changed since grading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import make_zip

from grader.cli.main import main
from grader.score.store import class_file

RUBRIC = """
name: anywhere
architectures: [nets/arch.yaml]
questions:
  - {id: a, title: file a, points: 1, checks: [{kind: file_present, file: a.txt}]}
  - {id: b, title: file b, points: 2, checks: [{kind: file_present, file: b.txt}]}
"""
ARCH = """
tiny:
  input_shape: [4]
  layers:
    - {kind: Dense, units: 1, activation: sigmoid}
"""


@pytest.fixture
def graded(tmp_path, monkeypatch):
    """A class graded the usual way: from the course folder, with a relative --rubric and --out."""
    course = tmp_path / "course"
    (course / "nets").mkdir(parents=True)
    (course / "rubric.yaml").write_text(RUBRIC)
    (course / "nets" / "arch.yaml").write_text(ARCH)
    subs = course / "subs"
    subs.mkdir()
    make_zip(subs / "amy.zip", [("a.txt", b"a"), ("b.txt", b"b")])
    make_zip(subs / "ben.zip", [("a.txt", b"a")])
    monkeypatch.chdir(course)
    assert main(["grade", "subs", "--out", "grades", "--rubric", "rubric.yaml", "--isolation", "none",
                 "--jobs", "1", "--format", "csv"]) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return course


def test_class_json_records_the_rubric_by_absolute_path_and_digest(graded):
    data = json.loads(class_file(graded / "grades").read_text())
    assert Path(data["rubric_source"]).is_absolute()
    assert Path(data["rubric_source"]) == (graded / "rubric.yaml").resolve()
    assert data["rubric_digest"] and "nets/arch.yaml" in data["rubric_files"]


def test_override_and_the_review_queue_work_from_another_folder(graded, capsys):
    from grader.review.queue import ReviewClass

    out = graded / "grades"
    assert main(["override", str(out), "ben", "b", "1.5", "-m", "b.txt came by mail"]) == 0
    assert "1.5" in (out / "grades.csv").read_text()
    assert main(["override", str(out), "--list"]) == 0
    assert ReviewClass(out, by="ta").rubric.name == "anywhere"
    assert "no longer loads" not in capsys.readouterr().err


def test_an_old_class_file_with_a_relative_path_still_loads(graded):
    cf = class_file(graded / "grades")
    data = json.loads(cf.read_text())
    data["rubric_source"] = "rubric.yaml"
    for key in ("rubric_digest", "rubric_files"):
        del data[key]
    cf.write_text(json.dumps(data))
    assert main(["override", str(graded / "grades"), "amy", "a", "accept"]) == 0


def test_a_changed_file_of_the_rubric_is_refused_naming_it(graded, capsys):
    (graded / "nets" / "arch.yaml").write_text(ARCH.replace("units: 1", "units: 2"))
    assert main(["override", str(graded / "grades"), "amy", "a", "accept"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert str((graded / "rubric.yaml").resolve()) in err and "nets/arch.yaml changed" in err
    assert main(["review", str(graded / "grades"), "--no-browser"]) == 2
    assert "nets/arch.yaml changed" in capsys.readouterr().err


def test_an_edited_rubric_is_refused_and_a_comment_is_not_a_change(graded, capsys):
    rubric = graded / "rubric.yaml"
    rubric.write_text("# points checked again\n" + RUBRIC)
    assert main(["override", str(graded / "grades"), "amy", "a", "accept"]) == 0
    rubric.write_text(RUBRIC.replace("points: 2", "points: 3"))
    assert main(["override", str(graded / "grades"), "amy", "a", "accept"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "rubric.yaml itself was edited" in err


def test_a_rubric_that_is_gone_is_named(graded, capsys):
    (graded / "nets" / "arch.yaml").unlink()
    (graded / "rubric.yaml").unlink()
    assert main(["override", str(graded / "grades"), "--list"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str((graded / "rubric.yaml").resolve()) in err
