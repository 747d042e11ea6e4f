"""Gradescope after the deadline: the final class-relative scores go back as a CSV for Gradescope's score
import; Gradescope's Export Submissions is graded one student per submission folder, with name, SID and email."""

from __future__ import annotations

import csv
import io
import zipfile

from conftest import make_zip
from render_samples import RUBRIC, sample_class, store_class

from grader.cli.main import main
from grader.platforms.gradescope import gradescope_results
from grader.platforms.gradescope_export import read_metadata
from grader.render.export import export_class
from grader.score.store import load_class, save_class

# As Gradescope writes it: Ruby symbols as keys, a Ruby-tagged score, a group submission, a hostile name.
METADATA = """\
submission_101:
  :submitters:
  - :name: Alice Liddell
    :sid: S1001
    :email: alice@uni.edu
  :created_at: 2026-03-01 23:10:04.123456000 -08:00
  :score: !ruby/object:BigDecimal 18:0.3E1
submission_102:
  :submitters:
  - :name: "=HYPERLINK(\\"http://x\\")"
    :sid: S1002
    :email: bob@uni.edu
  - :name: Carol Kim
    :sid: S1003
    :email: carol@uni.edu
  :created_at: 2026-03-01 23:59:59.000000000 -08:00
submission_103:
  :submitters: []
"""
RUBRIC_TEXT = """
name: gs scores
questions:
  - {id: a, title: file a, points: 1, checks: [{kind: file_present, file: a.txt}]}
  - {id: b, title: file b, points: 2, checks: [{kind: file_present, file: b.txt}]}
"""


def export(tmp_path):
    """The export zip unzipped where the instructor put it: downloads/assignment_4242_export/..."""
    root = tmp_path / "downloads" / "assignment_4242_export"
    (root / "submission_101").mkdir(parents=True)
    (root / "submission_101" / "a.txt").write_text("a")
    (root / "submission_101" / "b.txt").write_text("b")
    (root / "submission_102").mkdir()
    make_zip(root / "submission_102" / "hw.zip", [("a.txt", b"a")])
    (root / "submission_103").mkdir()
    (root / "submission_103" / "notes.md").write_text("nothing")
    (root / "submission_metadata.yml").write_text(METADATA)
    return tmp_path / "downloads"


def rows(path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_the_final_class_relative_score_reaches_the_gradescope_csv(tmp_path):
    """amy is the class best: 40/40 on digits in the batch, 40 x 0.95 on Gradescope."""
    out = tmp_path / "grades"
    results = sample_class()
    provisional = gradescope_results(results[0], RUBRIC, {}, "")["score"]
    store_class(out, results, formats=["csv", "gradescope-scores"])
    manifest = load_class(out)
    manifest.origins = {"amy": {"full_name": "Amy Lee", "sid": "S1", "email": "amy@uni.edu"},
                        "ben": {"full_name": "Ben Ode", "email": "ben@uni.edu"}}
    save_class(out, manifest)
    report = export_class(out)
    amy = next(r for r in report.results if r.student == "amy")
    assert amy.question("digits").score == 40 and amy.total > provisional
    got = {r["Email"]: r for r in rows(out / "gradescope_scores.csv")}
    assert list(rows(out / "gradescope_scores.csv")[0]) == ["Name", "SID", "Email", "Total Score"]
    assert float(got["amy@uni.edu"]["Total Score"]) == amy.total
    assert got["amy@uni.edu"]["SID"] == "S1" and got["amy@uni.edu"]["Name"] == "Amy Lee"
    grades = {r["student"]: r["total"] for r in rows(out / "grades.csv")}
    assert got["ben@uni.edu"]["Total Score"] == grades["ben"]
    unmatched = rows(out / "gradescope_scores.csv")[0]  # no email, no SID: first, by their mlgrade id
    assert unmatched["Email"] == unmatched["SID"] == "" and unmatched["Name"] in ("cal", "eve")


def test_the_export_is_graded_one_student_per_submission_with_email_and_sid(tmp_path):
    downloads = export(tmp_path)
    (tmp_path / "rubric.yaml").write_text(RUBRIC_TEXT)
    out = tmp_path / "grades"
    assert main(["grade", str(downloads), "--out", str(out), "--rubric", str(tmp_path / "rubric.yaml"),
                 "--isolation", "none", "--jobs", "1"]) == 0
    got = rows(out / "gradescope_scores.csv")
    by_email = {r["Email"]: r for r in got}
    assert by_email["alice@uni.edu"] == {"Name": "Alice Liddell", "SID": "S1001", "Email": "alice@uni.edu",
                                         "Total Score": "3"}
    assert by_email["bob@uni.edu"]["Total Score"] == by_email["carol@uni.edu"]["Total Score"] == "1"  # a group
    assert by_email["bob@uni.edu"]["Name"].startswith("'=")  # a spreadsheet keeps it text
    assert got[0]["Name"] == "submission_103" and got[0]["Email"] == ""  # nobody to match: named, first
    graded = {r["student"] for r in rows(out / "grades.csv")}
    assert graded == {"submission_101", "submission_102", "submission_103"}


def test_the_export_zip_as_downloaded_is_refused_with_what_to_do(tmp_path, capsys):
    downloads = export(tmp_path)
    zpath = tmp_path / "submissions.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in sorted(downloads.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(downloads).as_posix())
    (tmp_path / "rubric.yaml").write_text(RUBRIC_TEXT)
    assert main(["grade", str(zpath), "--out", str(tmp_path / "g"), "--rubric", str(tmp_path / "rubric.yaml"),
                 "--isolation", "none"]) == 2
    assert "Export Submissions zip; unzip it" in capsys.readouterr().err


def test_metadata_is_read_as_data(tmp_path):
    (tmp_path / "submission_metadata.yml").write_text(
        "submission_1:\n  :submitters:\n  - :name: !!python/object/apply:os.system [echo hi]\n"
        "    :email: [not, a, string]\n    :sid: \"S\\x1b[31m9\"\n")
    people = read_metadata(tmp_path)["submission_1"]
    assert people[0].name == people[0].email == ""  # a tag builds nothing; a list is no name
    assert "\x1b" not in people[0].sid and people[0].sid.startswith("S")
