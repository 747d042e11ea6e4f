"""LMS bulk downloads graded end to end: staged per student (latest attempt only), graded with the
LMS's ids, and the grade file that LMS imports."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from conftest import make_zip

from grader.cli import main
from grader.platforms.lmsdownload import detect, safe_component, stage

RUBRIC = """
name: HW4
questions:
  - {id: a, title: file a, points: 1, checks: [{kind: file_present, file: a.txt}]}
  - {id: b, title: file b, points: 2, checks: [{kind: file_present, file: b.txt}]}
"""


def hw(tmp: Path, name: str, files: dict[str, bytes]) -> bytes:
    return make_zip(tmp / name, list(files.items())).read_bytes()


@pytest.fixture
def rubric(tmp_path):
    p = tmp_path / "rubric.yaml"
    p.write_text(RUBRIC)
    return p


def canvas_download(tmp: Path) -> Path:
    """submissions.zip as Canvas makes it: one file per attachment, named name_userid_attachmentid_file."""
    old = hw(tmp, "old.zip", {"a.txt": b"a"})
    new = hw(tmp, "new.zip", {"a.txt": b"a", "b.txt": b"b"})
    return make_zip(tmp / "submissions.zip", [
        ("doejane_3143_207797_hw4.zip", old),
        ("doejane_LATE_3143_207901_hw4-1.zip", new),  # a late re-upload: the latest attempt
        ("smithbob_3150_207800_a.txt", b"a"),  # loose files, no zip
        ("smithbob_3150_207990_b-1.txt", b"b"),
        ("=cmd_3160_207801_hw.zip", hw(tmp, "x.zip", {"a.txt": b"a"})),  # not Canvas' naming: reported
    ])


def test_canvas_download_graded_with_canvas_ids(tmp_path, rubric, capsys):
    download = canvas_download(tmp_path)
    assert detect(download) == "canvas"
    out = tmp_path / "grades"
    assert main(["grade", str(download), "--out", str(out), "--rubric", str(rubric), "--jobs", "1"]) == 0
    err = capsys.readouterr().err
    assert "a Canvas bulk download, 2 students" in err and "older attempts ignored" in err
    assert "'=cmd_3160_207801_hw.zip' does not follow Canvas's naming" in err
    rows = list(csv.reader((out / "grades.csv").open()))
    assert rows[1:] == [["doejane_3143", "1", "2", "3"], ["smithbob_3150", "1", "2", "3"]]
    canvas = list(csv.reader((out / "canvas.csv").open()))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "HW4"]
    assert canvas[1] == ["Points Possible", "", "", "", "", "3"]
    assert canvas[2][:2] == ["doejane", "3143"] and canvas[2][5] == "3"
    assert (out / "summary.html").exists() and (out / "doejane_3143" / "feedback.html").exists()


def test_moodle_folders_and_blackboard_attempts(tmp_path, rubric, capsys):
    moodle = tmp_path / "moodle"
    (moodle / "Jane Doe_12345_assignsubmission_file_").mkdir(parents=True)
    (moodle / "Jane Doe_12345_assignsubmission_file_" / "hw4.zip").write_bytes(hw(tmp_path, "j.zip", {"a.txt": b"a"}))
    (moodle / "=HYPERLINK(x)_777_assignsubmission_file_").mkdir()
    (moodle / "=HYPERLINK(x)_777_assignsubmission_file_" / "b.txt").write_text("b")
    (moodle / "=HYPERLINK(x)_777_assignsubmission_file_" / "sub").mkdir()
    (moodle / "=HYPERLINK(x)_777_assignsubmission_file_" / "sub" / "a.txt").write_text("a")
    os.symlink("/etc/passwd", moodle / "=HYPERLINK(x)_777_assignsubmission_file_" / "a.txt")
    out = tmp_path / "m"
    assert main(["grade", str(moodle), "--out", str(out), "--rubric", str(rubric), "--jobs", "1",
                 "--format", "csv,moodle,nbgrader"]) == 0
    m = list(csv.reader((out / "moodle.csv").open()))
    assert m[0][:3] == ["Identifier", "Full name", "Grade"]
    by_id = {r[0]: r for r in m[1:]}
    assert by_id["Participant 12345"][1:3] == ["Jane Doe", "1"]
    assert by_id["Participant 777"][1] == "'=HYPERLINK(x)"  # a formula is never a formula in a spreadsheet
    assert by_id["Participant 777"][2] == "3"  # a.txt in a sub-folder; the symlink was not followed
    nb = list(csv.reader((out / "nbgrader.csv").open()))
    assert nb[0] == ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
                     "raw_score", "late_submission_penalty", "score", "max_score"]
    assert ["HW4", "", "", "Jane_Doe_12345", "Doe", "Jane", "", "1", "0", "1", "3"] in nb
    assert not (out / "canvas.csv").exists()

    bb = tmp_path / "bb"
    bb.mkdir()
    for stamp, files in (("2026-03-01-10-00-00", {"a.txt": b"a"}), ("2026-03-02-09-00-00", {"b.txt": b"b"})):
        (bb / f"HW_4_jane_doe_attempt_{stamp}_hw.zip").write_bytes(hw(tmp_path, f"{stamp}.zip", files))
        (bb / f"HW_4_jane_doe_attempt_{stamp}.txt").write_text("Name: Jane Doe (jane_doe)\nAssignment: HW 4\n")
    out = tmp_path / "b"
    assert main(["grade", str(bb), "--out", str(out), "--rubric", str(rubric), "--jobs", "1"]) == 0
    b = list(csv.reader((out / "blackboard.csv").open()))
    assert b == [["Last Name", "First Name", "Username", "HW4 [Total Pts: 3 Score]"], ["Doe", "Jane", "jane_doe", "2"]]


def test_staging_never_uses_entry_names_as_paths(tmp_path):
    download = make_zip(tmp_path / "moodle.zip", [
        ("Eve_1_assignsubmission_file_/../../../escaped.txt", b"x"),
        ("Eve_1_assignsubmission_file_/..\\..\\win.txt", b"y"),
        ("Eve_1_assignsubmission_file_/a.txt", b"a" * 10),
        ("Mal_2_assignsubmission_file_/big.zip", b"z" * 5000),
    ])
    staged = stage(download, tmp_path / "staged", max_entry_bytes=1000)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["moodle.zip", "staged/Eve_1/a.txt", "staged/Eve_1/escaped.txt", "staged/Eve_1/win.txt"]
    assert any("Mal_2: a file could not be taken" in n and "over the limit" in n for n in staged.notes)
    assert safe_component("..") == "file" and safe_component("a/b\x1b") == "a_b_"
