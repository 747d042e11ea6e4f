"""Where outputs live: class files at the top of OUT, each student's files in ``students/<id>/``, and no
student id that is the name of an output (a zip called ``grades.csv.zip`` once took the class's
``grades.csv``, summary and LMS files down for everyone, on every rerun)."""

from __future__ import annotations

import csv
import json
import re

import pytest
from conftest import make_zip

from grader.cli.main import main
from grader.intake.sources import RESERVED_NAMES, discover, is_plain_id, safe_id
from grader.render import formats

RUBRIC = """
name: HW4
questions:
  - {id: a, title: file a, points: 1, checks: [{kind: file_present, file: a.txt}]}
  - {id: b, title: file b, points: 2, checks: [{kind: file_present, file: b.txt}]}
"""

# every name a run writes into OUT (or could: every format, the review's and the store's files)
OUTPUT_NAMES = ["grades.csv", "summary.html", "summary.json", "canvas.csv", "moodle.csv", "blackboard.csv",
                "nbgrader.csv", "integrity.csv", "integrity.json", "overrides.yaml", "class.json", ".mlgrade",
                "students", "feedback.html", "results.json", "report.txt", "classroom.txt", "Grades.CSV",
                "SUMMARY.HTML", "Students"]


def test_every_output_name_is_reserved_and_mapped_to_another_id():
    names = {f.filename.lower() for f in formats()}
    assert names <= RESERVED_NAMES, names - RESERVED_NAMES
    for name in OUTPUT_NAMES:
        sid = safe_id(name)
        assert sid.lower() not in RESERVED_NAMES and is_plain_id(sid), (name, sid)
        assert sid != name and safe_id(sid) == sid
    assert safe_id("grades") == "grades" and safe_id("students2") == "students2"


def test_a_student_named_like_every_output_is_graded_and_every_output_written(tmp_path):
    batch = tmp_path / "batch"
    batch.mkdir()
    full = [("a.txt", b"a"), ("b.txt", b"b")]
    for i, name in enumerate(OUTPUT_NAMES):
        make_zip(batch / f"{name}.zip", full if i % 2 == 0 else full[:1])
    make_zip(batch / "alice.zip", full)
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text(RUBRIC)
    out = tmp_path / "out"
    assert main(["grade", str(batch), "--out", str(out), "--rubric", str(rubric), "--jobs", "2",
                 "--format", "all"]) == 0
    rows = list(csv.reader((out / "grades.csv").open()))
    ids = [r[0] for r in rows[1:]]
    assert len(ids) == len(OUTPUT_NAMES) + 1 and "alice" in ids
    assert not {i.lower() for i in ids} & RESERVED_NAMES
    by_source = {s.path.name: s.student for s in discover([batch])}
    for i, name in enumerate(OUTPUT_NAMES):
        sid = by_source[f"{name}.zip"]
        assert rows[1 + ids.index(sid)][1:] == (["1", "2", "3"] if i % 2 == 0 else ["1", "0", "1"])
    for fmt in formats():
        if fmt.scope == "class":
            assert (out / fmt.filename).is_file(), fmt.filename
    for sid in ids:  # every student's files in their own folder, every class file apart
        for fmt in formats():
            if fmt.scope == "submission":
                assert (out / "students" / sid / fmt.filename).is_file(), (sid, fmt.filename)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [".mlgrade", "students"]
    # the class page links each student's page where it is
    page = (out / "summary.html").read_text()
    links = re.findall(r'href="(students/[^"]+/feedback\.html)"', page)
    assert {link.split("/")[1] for link in links} == set(ids)
    assert all((out / link).is_file() for link in links)
    results = json.loads((out / "students" / "alice" / "results.json").read_text())
    assert results["score"] == 3
    # the instructor's decisions file (a reserved name) works alongside
    grades_id = by_source["grades.csv.zip"]
    assert main(["override", str(out), grades_id, "b", "0", "-m", "by hand"]) == 0
    assert (out / "overrides.yaml").is_file()
    rows = {r[0]: r for r in csv.reader((out / "grades.csv").open())}
    assert rows[grades_id][1:] == ["1", "0", "1"]
    assert "by hand" in (out / "students" / grades_id / "feedback.html").read_text()


@pytest.mark.parametrize("bad", ["..", ".", "a/b", "", "a\\b", "x\x00"])
def test_a_student_folder_is_one_safe_component(tmp_path, bad):
    from grader.render.layout import student_folder

    with pytest.raises(ValueError):
        student_folder(tmp_path, bad)
    assert student_folder(tmp_path, "alice") == tmp_path / "students" / "alice"
