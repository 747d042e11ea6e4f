"""LMS bulk downloads graded end to end: staged per student (latest attempt only), graded with the
LMS's ids, and the grade file that LMS imports."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import make_zip

from grader.cli.main import main
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
    assert "'=cmd_3160_207801_hw.zip' in the Canvas download does not follow Canvas's naming" in err
    rows = list(csv.reader((out / "grades.csv").open()))
    assert rows[1:3] == [["doejane_3143", "1", "2", "3"], ["smithbob_3150", "1", "2", "3"]]
    assert len(rows) == 4 and rows[3][0].startswith("unrecognised_")  # the entry that is nobody's: a row
    canvas = list(csv.reader((out / "canvas.csv").open()))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "HW4"]
    assert canvas[1] == ["Points Possible", "", "", "", "", "3"]
    assert canvas[2][:2] == ["doejane", "3143"] and canvas[2][5] == "3"
    assert (out / "summary.html").exists() and (out / "students" / "doejane_3143" / "feedback.html").exists()


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


# --------------------------------------------------------------------------- a file name never names a user
# The LMS writes its own prefix first; everything after it is the student's own file name (and, in a
# Blackboard receipt, text the student typed). A student who imitates another student's prefix in a
# file name, or writes a receipt's "Name:" line, must not change whose grade anything is.

def _grades(out: Path) -> dict[str, list[str]]:
    return {r[0]: r[1:] for r in list(csv.reader((out / "grades.csv").open()))[1:]}


def test_blackboard_a_file_name_imitating_a_later_attempt_does_not_replace_anothers(tmp_path, rubric, capsys):
    bb = tmp_path / "bb"
    bb.mkdir()
    full = hw(tmp_path, "alice.zip", {"a.txt": b"a", "b.txt": b"b"})
    (bb / "HW4_alice_attempt_2026-03-01-10-00-00_hw4.zip").write_bytes(full)
    (bb / "HW4_alice_attempt_2026-03-01-10-00-00.txt").write_text(
        "Name: Alice Smith (alice)\nAssignment: HW4\n\nComments:\nThere are no student comments.\n")
    stamp = "HW4_mallory_attempt_2026-03-01-11-00-00"
    # mallory's own files, named to look like alice's latest attempt and like a receipt
    (bb / f"{stamp}_x_alice_attempt_2099-12-31-23-59-59_hw4.zip").write_bytes(hw(tmp_path, "m.zip", {"z.txt": b"z"}))
    (bb / f"{stamp}_notes_alice_attempt_2099-12-31-23-59-59.txt").write_text("Name: Evil Twin (alice)\n")
    (bb / f"{stamp}_HW4_bob_attempt_2099-12-31-23-59-59.txt").write_text("Name: Made Up (bob)\n")
    # mallory's real receipt, with a comment she typed that imitates the Name line
    (bb / f"{stamp}.txt").write_text("Name: Mal Lory (mallory)\nAssignment: HW4\n\nComments:\n"
                                     "Name: Evil Twin (alice)\n")
    out = tmp_path / "out"
    assert main(["grade", str(bb), "--out", str(out), "--rubric", str(rubric), "--jobs", "1"]) == 0
    grades = _grades(out)
    assert grades["alice"] == ["1", "2", "3"]  # her own (only) attempt, not mallory's "2099" file
    assert set(grades) == {"alice", "mallory"}  # no made-up user "bob" and no second "alice"
    b = {r[2]: r for r in list(csv.reader((out / "blackboard.csv").open()))[1:]}
    assert b["alice"] == ["Smith", "Alice", "alice", "3"]  # her name from her own receipt
    assert b["mallory"][:3] == ["Lory", "Mal", "mallory"]
    origins = json.loads((out / "summary.json").read_text())["sources"]
    assert sorted(origins["mallory"]["files"]) == ["HW4_bob_attempt_2099-12-31-23-59-59.txt",
                                                   "notes_alice_attempt_2099-12-31-23-59-59.txt",
                                                   "x_alice_attempt_2099-12-31-23-59-59_hw4.zip"]


def test_canvas_a_file_name_imitating_anothers_prefix_stays_its_authors(tmp_path, rubric):
    download = make_zip(tmp_path / "submissions.zip", [
        ("doejane_3143_207797_hw4.zip", hw(tmp_path, "j.zip", {"a.txt": b"a", "b.txt": b"b"})),
        # bob's files: names that start like jane's, with a larger attachment id and a LATE marker
        ("smithbob_3150_207990_doejane_3143_999999_hw4.zip", hw(tmp_path, "b.zip", {"z.txt": b"z"})),
        ("smithbob_3150_207991_doejane_LATE_3143_999998_hw4.zip", hw(tmp_path, "b2.zip", {"z.txt": b"z"})),
    ])
    out = tmp_path / "out"
    assert main(["grade", str(download), "--out", str(out), "--rubric", str(rubric), "--jobs", "1"]) == 0
    assert _grades(out) == {"doejane_3143": ["1", "2", "3"], "smithbob_3150": ["0", "0", "0"]}
    canvas = {r[1]: r for r in list(csv.reader((out / "canvas.csv").open()))[2:]}
    assert canvas["3143"][5] == "3" and canvas["3150"][5] == "0"


def test_moodle_a_name_or_file_name_imitating_anothers_prefix_is_never_filed_as_theirs(tmp_path, rubric, capsys):
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "Jane Doe_12345_assignsubmission_file_hw4.zip").write_bytes(
        hw(tmp_path, "j.zip", {"a.txt": b"a", "b.txt": b"b"}))
    # a participant (999) whose profile name imitates jane's prefix
    (flat / "Jane Doe_12345_assignsubmission_file__999_assignsubmission_file_hw4.zip").write_bytes(
        hw(tmp_path, "e.zip", {"z.txt": b"z"}))
    # a file name that imitates jane's prefix
    (flat / "Eve_77_assignsubmission_file_Jane Doe_12345_assignsubmission_file_b.txt").write_text("b")
    (flat / "Eve_77_assignsubmission_file_a.txt").write_text("a")
    out = tmp_path / "out"
    assert main(["grade", str(flat), "--out", str(out), "--rubric", str(rubric), "--jobs", "1"]) == 0
    err = capsys.readouterr().err
    grades = _grades(out)
    assert grades["Jane_Doe_12345"] == ["1", "2", "3"]  # only her own zip
    assert grades["Eve_77"] == ["1", "0", "1"]  # her file named like jane's is nobody's
    assert "names more than one Moodle participant" in err
    # in a download of folders the LMS's own id ends the folder's name: that one is used
    folders = tmp_path / "folders"
    (folders / "Jane Doe_12345_assignsubmission_file_").mkdir(parents=True)
    (folders / "Jane Doe_12345_assignsubmission_file_" / "hw4.zip").write_bytes(
        hw(tmp_path, "j2.zip", {"a.txt": b"a", "b.txt": b"b"}))
    evil = folders / "Jane Doe_12345_assignsubmission_file__999_assignsubmission_file_"
    evil.mkdir()
    (evil / "hw4.zip").write_bytes(hw(tmp_path, "e2.zip", {"z.txt": b"z"}))
    out2 = tmp_path / "out2"
    assert main(["grade", str(folders), "--out", str(out2), "--rubric", str(rubric), "--jobs", "1",
                 "--format", "csv,moodle"]) == 0
    grades = _grades(out2)
    assert grades["Jane_Doe_12345"] == ["1", "2", "3"]
    assert [g for s, g in grades.items() if s.endswith("_999")] == [["0", "0", "0"]]
    m = {r[0]: r for r in list(csv.reader((out2 / "moodle.csv").open()))[1:]}
    assert m["Participant 12345"][2] == "3" and m["Participant 999"][2] == "0"


# --------------------------------------------------------------------------- the downloads as the platforms write them
# Canvas (lib/content_zipper.rb): "<name>[_LATE]_<userid>_<attachmentid>_<display name>", the name being the
# sortable name lowercased with non-word characters removed (underscores stay); with anonymous grading no name
# and "anon_<anonymous id>" instead of the user id ("LATE_anon_..." when late); a text entry is
# "<prefix>_text.html". Moodle (assignfeedback_offline) reads "Last modified (grade)" with strtotime and skips a
# row more than 60 s older than the grade it holds. Blackboard receipts: "Name: Full Name (username)" first.

def _rows(path: Path) -> list[list[str]]:
    return list(csv.reader(path.open(encoding="utf-8")))


def test_canvas_anonymous_download_is_graded_per_student_and_reaches_canvas_csv(tmp_path, rubric, capsys):
    download = make_zip(tmp_path / "submissions.zip", [
        ("anon_aB3dE_207797_hw4.zip", hw(tmp_path, "a.zip", {"a.txt": b"a", "b.txt": b"b"})),
        ("LATE_anon_Xy7Pq_207801_hw4.zip", hw(tmp_path, "b.zip", {"a.txt": b"a"})),
        ("anon_k9MnR_207805_text.html", b"<p>see attached</p>"),  # a text entry: no attachment id
        ("anon_k9MnR_207806_b.txt", b"b"),
    ])
    out = tmp_path / "out"
    assert main(["grade", str(download), "--out", str(out), "--rubric", str(rubric), "--jobs", "1"]) == 0
    assert "a Canvas bulk download, 3 students" in capsys.readouterr().err
    assert _grades(out) == {"anon_aB3dE": ["1", "2", "3"], "anon_Xy7Pq": ["1", "0", "1"], "anon_k9MnR": ["0", "2", "2"]}
    canvas = _rows(out / "canvas.csv")
    body = {r[0].split(" ")[0]: r for r in canvas[2:]}
    assert set(body) == {"anon_aB3dE", "anon_Xy7Pq", "anon_k9MnR"}
    for row in body.values():
        assert row[1] == "" and "Canvas cannot match this row" in row[0] and "SpeedGrader" in row[0]
    assert body["anon_aB3dE"][5] == "3"
    origins = json.loads((out / "summary.json").read_text())["sources"]
    assert origins["anon_Xy7Pq"]["late"] is True and origins["anon_Xy7Pq"]["anonymous_id"] == "Xy7Pq"


def test_canvas_named_download_underscores_late_counters_and_text_entries(tmp_path, rubric):
    download = make_zip(tmp_path / "submissions.zip", [
        ("van_der_berganna_3165_207790_a.txt", b"a"),  # sortable name "van_der_Berg, Anna"
        ("van_der_berganna_3165_207791_b-1.txt", b"b"),  # a re-upload of b.txt: Canvas' counter
        ("oneilmaryann_LATE_3170_207800_hw4-2.zip", hw(tmp_path, "m.zip", {"a.txt": b"a", "b.txt": b"b"})),
        ("li2wei_3171_text.html", b"<p>my answer</p>"),
        ("li2wei_3171_207810_a-1.txt", b"a"),
    ])
    out = tmp_path / "out"
    assert main(["grade", str(download), "--out", str(out), "--rubric", str(rubric), "--jobs", "1"]) == 0
    assert _grades(out) == {"van_der_berganna_3165": ["1", "2", "3"], "oneilmaryann_3170": ["1", "2", "3"],
                            "li2wei_3171": ["1", "0", "1"]}
    canvas = {r[1]: r for r in _rows(out / "canvas.csv")[2:]}
    assert canvas["3165"][0] == "van_der_berganna" and canvas["3165"][5] == "3"
    assert canvas["3170"][5] == "3"
    origins = json.loads((out / "summary.json").read_text())["sources"]
    assert origins["oneilmaryann_3170"]["late"] is True
    assert "text.html" in origins["li2wei_3171"]["files"]


def test_canvas_numbered_file_names_are_distinct_files_not_one_re_upload(tmp_path):
    rubric = tmp_path / "r.yaml"
    rubric.write_text("name: HW\nquestions:\n"
                      "  - {id: p1, title: p1, points: 1, checks: [{kind: file_present, file: part-1.txt}]}\n"
                      "  - {id: p2, title: p2, points: 1, checks: [{kind: file_present, file: part-2.txt}]}\n")
    download = make_zip(tmp_path / "submissions.zip", [
        ("doejane_3143_207797_part-1.txt", b"1"), ("doejane_3143_207798_part-2.txt", b"2")])
    out = tmp_path / "out"
    assert main(["grade", str(download), "--out", str(out), "--rubric", str(rubric), "--jobs", "1"]) == 0
    assert _grades(out) == {"doejane_3143": ["1", "1", "2"]}


def test_every_unrecognised_entry_is_a_row_with_its_reason_and_no_importable_score(tmp_path, rubric, capsys):
    download = make_zip(tmp_path / "submissions.zip", [
        ("doejane_3143_207797_hw4.zip", hw(tmp_path, "j.zip", {"a.txt": b"a", "b.txt": b"b"})),
        ("smithbob_3150_207800_hw4.zip", hw(tmp_path, "b.zip", {"a.txt": b"a"})),
        ("hw4 final (2).zip", hw(tmp_path, "x.zip", {"a.txt": b"a"})),  # renamed by hand after download
        ("notes/readme.txt", b"x"),
        ("__MACOSX/._doejane_3143_207797_hw4.zip", b"junk"),  # the OS's, not an entry of the download
    ])
    out = tmp_path / "out"
    assert main(["grade", str(download), "--out", str(out), "--rubric", str(rubric), "--jobs", "1",
                 "--format", "default,canvas,nbgrader"]) == 0
    grades = _grades(out)
    nobodys = sorted(s for s in grades if s.startswith("unrecognised_"))
    assert len(nobodys) == 2 and len(grades) == 4
    canvas = _rows(out / "canvas.csv")[2:]
    bad = [r for r in canvas if r[0].startswith("(not recognised)")]
    assert len(bad) == 2 and all(r[1] == "" and r[5] == "" for r in bad)  # no key, no score to import
    assert any("'hw4 final (2).zip'" in r[0] and "does not follow Canvas's naming" in r[0] for r in bad)
    assert any("'notes'" in r[0] for r in bad)
    nb = [r for r in _rows(out / "nbgrader.csv")[1:] if r[3].startswith("unrecognised_")]
    assert len(nb) == 2 and all(r[7] == "" and r[9] == "" for r in nb)
    summary = (out / "summary.html").read_text()
    assert "does not follow Canvas" in summary and "hw4 final (2).zip" in summary


def test_moodle_worksheet_updates_grades_on_a_second_upload(tmp_path, rubric):
    from datetime import UTC, datetime

    moodle = tmp_path / "moodle"
    (moodle / "Jane Doe_12345_assignsubmission_file_").mkdir(parents=True)
    (moodle / "Jane Doe_12345_assignsubmission_file_" / "hw4.zip").write_bytes(hw(tmp_path, "j.zip", {"a.txt": b"a"}))
    (moodle / "Nobody's file.zip").write_bytes(b"x")
    out = tmp_path / "m"
    before = datetime.now(UTC).replace(second=0, microsecond=0)
    assert main(["grade", str(moodle), "--out", str(out), "--rubric", str(rubric), "--jobs", "1"]) == 0
    m = _rows(out / "moodle.csv")
    col = m[0].index("Last modified (grade)")
    jane = next(r for r in m[1:] if r[0] == "Participant 12345")
    # what Moodle's importer compares with the grade's time: now, not "-" (which strtotime reads as 0)
    stamp = datetime.strptime(jane[col], "%A, %d %B %Y, %I:%M %p UTC").replace(tzinfo=UTC)
    assert before <= stamp <= datetime.now(UTC)
    assert not jane[col].startswith(("'", "-"))
    nobody = next(r for r in m[1:] if r[0] == "")
    assert nobody[2] == "" and "Nobody's file.zip" in nobody[1]  # Moodle skips it: no id, no grade


@pytest.mark.skipif(shutil.which("php") is None, reason="PHP (the language Moodle runs on) is not installed")
def test_moodle_time_is_read_by_php_strtotime(tmp_path):
    from datetime import UTC, datetime

    from grader.render.lms_csv import moodle_time

    for when in (datetime(2026, 12, 7, 7, 15, tzinfo=UTC), datetime(2027, 2, 28, 0, 5, tzinfo=UTC),
                 datetime(2026, 6, 30, 12, 59, tzinfo=UTC), datetime.now(UTC).replace(second=0, microsecond=0)):
        got = subprocess.run(["php", "-r", "date_default_timezone_set('America/Los_Angeles');"
                              "echo strtotime($argv[1]);", moodle_time(when)],
                             capture_output=True, text=True, check=True, timeout=30).stdout
        assert int(got) == int(when.timestamp()), moodle_time(when)


def test_blackboard_crlf_and_windows_receipts_and_every_field_quoted(tmp_path, rubric):
    bb = tmp_path / "bb"
    bb.mkdir()
    stamp = "2026-03-01-23-59-59"
    receipt = ("Name: Mary Ann O'Neil (mary_ann.oneil)\r\nAssignment: HW 4\r\nDate Submitted: Sunday, 1 March 2026 "
               "23:59:59 o'clock GMT\r\nCurrent Grade: Needs Grading\r\n\r\nSubmission Field:\r\nThere is no student "
               "submission text data for this assignment.\r\n\r\nComments:\r\nThere are no student comments for this "
               "assignment.\r\n\r\nFiles:\r\n\tOriginal filename: hw4.zip\r\n")
    (bb / f"HW_4_mary_ann.oneil_attempt_{stamp}.txt").write_bytes(receipt.encode())
    (bb / f"HW_4_mary_ann.oneil_attempt_{stamp}_hw4.zip").write_bytes(hw(tmp_path, "m.zip", {"a.txt": b"a"}))
    # a receipt saved again on Windows: UTF-16 with a BOM, CRLF
    (bb / f"HW_4_jose.garcia_attempt_{stamp}.txt").write_bytes(
        "Name: José García (jose.garcia)\r\nAssignment: HW 4\r\n".encode("utf-16"))
    (bb / f"HW_4_jose.garcia_attempt_{stamp}_hw4.zip").write_bytes(
        hw(tmp_path, "g.zip", {"a.txt": b"a", "b.txt": b"b"}))
    # no receipt of its own: the assignment's name, from the others' receipts, says where the username starts
    (bb / f"HW_4_li_wei_attempt_{stamp}_hw4.zip").write_bytes(hw(tmp_path, "l.zip", {"b.txt": b"b"}))
    out = tmp_path / "out"
    assert main(["grade", str(bb), "--out", str(out), "--rubric", str(rubric), "--jobs", "1",
                 "--assignment", "HW4 |123456"]) == 0
    b = _rows(out / "blackboard.csv")
    assert b[0] == ["Last Name", "First Name", "Username", "HW4 [Total Pts: 3 Score] |123456"]
    by_user = {r[2]: r for r in b[1:]}
    assert by_user["mary_ann.oneil"] == ["O'Neil", "Mary Ann", "mary_ann.oneil", "1"]
    assert by_user["jose.garcia"] == ["García", "José", "jose.garcia", "3"]
    assert "ann.oneil" not in by_user and "wei" not in by_user
    assert by_user["li_wei"][2:] == ["li_wei", "2"]
    text = (out / "blackboard.csv").read_text(encoding="utf-8")
    for line in text.splitlines():  # Blackboard: every field of a comma-separated file in quotes
        cells = next(csv.reader([line]))
        assert line == ",".join('"' + c.replace('"', '""') + '"' for c in cells)


def test_blackboard_a_username_that_cannot_be_told_is_never_guessed_into_the_file(tmp_path, rubric):
    bb = tmp_path / "bb"
    bb.mkdir()
    # no receipts at all: "HW_4_mary_ann.oneil" could be "ann.oneil" of "HW_4_mary" or "mary_ann.oneil" of "HW_4"
    (bb / "HW_4_mary_ann.oneil_attempt_2026-03-01-23-59-59_hw4.zip").write_bytes(hw(tmp_path, "m.zip", {"a.txt": b"a"}))
    (bb / "HW_4_bob_attempt_2026-03-01-23-59-59_hw4.zip").write_bytes(hw(tmp_path, "b.zip", {"b.txt": b"b"}))
    out = tmp_path / "out"
    assert main(["grade", str(bb), "--out", str(out), "--rubric", str(rubric), "--jobs", "1"]) == 0
    rows = _rows(out / "blackboard.csv")[1:]
    # "HW_4_bob" is as ambiguous ("4_bob" of "HW"): both graded, neither username written, each says why
    assert [r[2] for r in rows] == ["", ""] and all("username unknown" in r[0] for r in rows)
    assert sorted(r[3] for r in rows) == ["1", "2"]
    # one "_" between the assignment and the username: nothing to guess, even without receipts
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "HW4_jdoe_attempt_2026-03-01-23-59-59_hw4.zip").write_bytes(hw(tmp_path, "m2.zip", {"a.txt": b"a"}))
    out2 = tmp_path / "out2"
    assert main(["grade", str(plain), "--out", str(out2), "--rubric", str(rubric), "--jobs", "1"]) == 0
    assert [r[2] for r in _rows(out2 / "blackboard.csv")[1:]] == ["jdoe"]
