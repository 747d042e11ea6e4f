"""The command line as users meet it: exit codes, messages, files written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from conftest import ROOT, make_zip

from grader.cli.main import main

SCHEMA = json.loads((ROOT / "tests" / "schemas" / "gradescope_results.json").read_text())


def test_check_prints_a_table_and_exits_0(samples_dir, capsys):
    assert main(["check", str(samples_dir / "bob_partial.zip"), "--rubric", str(ROOT / "rubric.yaml")]) == 0
    out = capsys.readouterr().out
    assert "q1b" in out and "missing file: expected 'hdfview.png'" in out
    assert "total" in out


FAST_SAMPLES = ["alice_complete", "bob_partial", "carol_broken", "dave_not_a_zip"]


@pytest.mark.slow  # over 10 s
def test_check_json_validates_against_gradescope_schema(samples_dir, tmp_path):
    for sample in (samples_dir / f"{s}.zip" for s in FAST_SAMPLES):
        out = tmp_path / f"{sample.stem}.json"
        assert main(["check", str(sample), "--rubric", str(ROOT / "rubric.yaml"), "--json", str(out)]) == 0
        data = json.loads(out.read_text())
        jsonschema.validate(data, SCHEMA)
        assert [t["number"] for t in data["tests"]] == ["q1a", "q1b", "q2", "q3", "q4a", "q4b", "backprop", "digits"]
        assert data["score"] == pytest.approx(sum(t["score"] for t in data["tests"]))


def test_check_on_a_non_zip_still_exits_0_with_a_reason(samples_dir, capsys):
    assert main(["check", str(samples_dir / "dave_not_a_zip.zip"), "--rubric", str(ROOT / "rubric.yaml")]) == 0
    assert "is a PDF document, not a zip" in capsys.readouterr().out


def test_check_missing_path_is_a_usage_error(capsys, tmp_path):
    assert main(["check", str(tmp_path / "nope.zip"), "--rubric", str(ROOT / "rubric.yaml")]) == 2
    assert "nope.zip: no such file or folder" in capsys.readouterr().err


def test_check_with_a_bad_rubric_exits_2_with_the_key_path(tmp_path, capsys):
    bad = tmp_path / "r.yaml"
    bad.write_text("name: x\nquestions:\n  - id: a\n    title: A\n    points: two\n    checks: [{kind: file_present, file: a}]\n")
    sub = make_zip(tmp_path / "s.zip", [("a", b"a")])
    assert main(["check", str(sub), "--rubric", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "questions[0].points: expected a number, got 'two'" in err
    assert "Traceback" not in err


def test_usage_errors_exit_2():
    with pytest.raises(SystemExit) as e:
        main(["check"])
    assert e.value.code == 2
    assert main([]) == 2


def test_check_cleans_its_work_folder(samples_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    main(["check", str(samples_dir / "alice_complete.zip"), "--rubric", str(ROOT / "rubric.yaml")])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # over 10 s
def test_grade_writes_csv_results_and_summary_deterministically(samples_dir, tmp_path):
    import shutil

    batch = tmp_path / "batch"
    batch.mkdir()
    for s in FAST_SAMPLES:
        shutil.copy(samples_dir / f"{s}.zip", batch)
    out1, out2 = tmp_path / "g1", tmp_path / "g2"
    for out in (out1, out2):
        assert main(["grade", str(batch), "--out", str(out), "--rubric", str(ROOT / "rubric.yaml")]) == 0
    csv1 = (out1 / "grades.csv").read_bytes()
    assert csv1 == (out2 / "grades.csv").read_bytes()
    lines = csv1.decode().splitlines()
    assert lines[0] == "student,q1a,q1b,q2,q3,q4a,q4b,backprop,digits,total"
    assert lines[1].startswith("alice_complete,0.5,0.5,1,2,1,1,3,40,")  # the only digit model: the class best
    assert [ln.split(",")[0] for ln in lines[1:]] == ["alice_complete", "bob_partial", "carol_broken", "dave_not_a_zip"]
    for student in ("alice_complete", "bob_partial", "carol_broken", "dave_not_a_zip"):
        jsonschema.validate(json.loads((out1 / "students" / student / "results.json").read_text()), SCHEMA)
    summary = json.loads((out1 / "summary.json").read_text())
    assert summary["students"] == 4
    assert summary["errors"]["dave_not_a_zip"][0].endswith("not a zip; submit one .zip file")
    assert not (out1 / ".work").exists()


def test_console_script_runs(samples_dir):
    exe = Path(sys.executable).parent / "mlgrade"
    res = subprocess.run(
        [str(exe), "check", str(samples_dir / "carol_broken.zip"), "--rubric", str(ROOT / "rubric.yaml")],
        capture_output=True, text=True, timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    assert "symbolic link" in res.stdout


# -- mlgrade override -----------------------------------------------------------------------------


@pytest.fixture
def graded_class(tmp_path):
    """A class as `mlgrade grade` leaves it (records, class file, outputs), without grading anything."""
    from render_samples import sample_class, store_class

    from grader.render.export import export_class

    out = tmp_path / "grades"
    store_class(out, sample_class(), formats=["csv", "summary", "html", "gradescope"])
    export_class(out)
    return out


def csv_row(out: Path, student: str) -> dict[str, str]:
    import csv

    return next(r for r in csv.DictReader((out / "grades.csv").open()) if r["student"] == student)


def test_override_sets_changes_accepts_and_clears(graded_class, capsys, monkeypatch):
    from grader.classstep.overrides import load_overrides

    out = graded_class
    monkeypatch.setenv("MLGRADE_REVIEWER", "prof")
    assert main(["override", str(out), "amy", "q2", "0.25", "-m", "wrong screenshot"]) == 0
    printed = capsys.readouterr().out
    assert "amy q2: 0.5 -> 0.25 of 1 (wrong screenshot)" in printed and "rewrote the grade files" in printed
    assert csv_row(out, "amy")["q2"] == "0.25"
    (ov,) = load_overrides(out)
    assert (ov.score, ov.comment, ov.by, ov.submission_hash, ov.automatic) == (0.25, "wrong screenshot", "prof", "def",
                                                                               0.5)
    assert ov.at[:2] == "20"
    assert main(["override", str(out), "ben", "backprop", "+0.5", "-m", "regrade: the sign was right"]) == 0
    assert csv_row(out, "ben")["backprop"] == "1.5"
    assert main(["override", str(out), "ben", "arch", "-1"]) == 0  # a negative change is not an option
    assert csv_row(out, "ben")["arch"] == "0"
    assert main(["override", str(out), "eve", "q2", "accept", "--by", "ta"]) == 0
    assert {o.student: o.by for o in load_overrides(out)}["eve"] == "ta"
    page = (out / "students" / "amy" / "feedback.html").read_text()
    assert "your instructor changed the score from 0.5 to 0.25: wrong screenshot" in page
    capsys.readouterr()
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["override", str(out), "--list"]) == 0
    listed = capsys.readouterr().out
    assert "wrong screenshot" in listed and "applied" in listed and "1 of 1 flagged items reviewed" in listed
    assert main(["override", str(out), "amy", "q2", "--clear"]) == 0
    assert "removed your decision (set to 0.25)" in capsys.readouterr().out
    assert csv_row(out, "amy")["q2"] == "0.5"
    assert main(["override", str(out), "amy", "q2", "--clear"]) == 0
    assert "there was no decision to remove" in capsys.readouterr().out


def test_override_no_export_then_export(graded_class, capsys):
    out = graded_class
    assert main(["override", str(out), "amy", "q4a", "0", "-m", "copied", "--no-export"]) == 0
    assert csv_row(out, "amy")["q4a"] == "1"  # not yet
    assert main(["override", str(out)]) == 0
    assert csv_row(out, "amy")["q4a"] == "0"


@pytest.mark.parametrize("args, message", [
    (["zed", "q2", "1"], "no student 'zed'"),
    (["am", "q2", "1"], "did you mean amy"),
    (["amy", "q9", "1"], "no question 'q9' in the rubric (questions: q2, q4a, backprop, arch, digits)"),
    (["amy", "q2", "2"], "q2 is worth 1 points; got 2"),
    (["amy", "q2", "lots"], "expected a score (0.25), a change to the automatic score (+0.5, -1) or 'accept'"),
    (["amy", "q2"], "give the SCORE"),
    (["amy", "q2", "1", "--clear"], "--clear takes no SCORE"),
    (["amy"], "give STUDENT and QUESTION"),
])
def test_override_mistakes_are_usage_errors(graded_class, capsys, args, message):
    from grader.classstep.overrides import overrides_path

    assert main(["override", str(graded_class), *args]) == 2
    assert message in capsys.readouterr().err
    assert not overrides_path(graded_class).exists()


def test_override_needs_a_graded_class_and_a_sane_file(tmp_path, graded_class, capsys):
    assert main(["override", str(tmp_path / "nothing"), "amy", "q2", "1"]) == 2
    assert "no graded class here (run `mlgrade grade ... --out" in capsys.readouterr().err
    (graded_class / "overrides.yaml").write_text("overrides:\n  - {student: amy, question: q2, score: lots}\n")
    assert main(["override", str(graded_class), "ben", "q2", "1"]) == 2
    err = capsys.readouterr().err
    assert "overrides.yaml: overrides[0].score: expected a number, got 'lots'" in err
    assert "lots" in (graded_class / "overrides.yaml").read_text()  # never overwritten


def test_grade_refuses_to_export_with_a_broken_overrides_file(samples_dir, tmp_path, capsys):
    import shutil

    batch = tmp_path / "batch"
    batch.mkdir()
    shutil.copy(samples_dir / "dave_not_a_zip.zip", batch)
    out = tmp_path / "g"
    out.mkdir()
    (out / "overrides.yaml").write_text("overrides: [\n")
    assert main(["grade", str(batch), "--out", str(out), "--rubric", str(ROOT / "rubric.yaml")]) == 2
    err = capsys.readouterr().err
    assert "overrides.yaml: not valid YAML" in err and "the grades are stored; fix the file" in err
    assert not (out / "grades.csv").exists()
    (out / "overrides.yaml").write_text("overrides:\n  - {student: dave_not_a_zip, question: q1a, score: 0.5, "
                                        "comment: sent by mail}\n")
    assert main(["grade", str(batch), "--out", str(out), "--rubric", str(ROOT / "rubric.yaml")]) == 0
    assert "graded 0, reused 1" in capsys.readouterr().err
    assert csv_row(out, "dave_not_a_zip")["q1a"] == "0.5"


def _help(capsys, *argv: str) -> str:
    from grader.cli.main import main

    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    return capsys.readouterr().out


def test_mlgrade_help_shows_the_students_command_first_and_the_instructors_apart(capsys):
    from grader.cli.main import COMMANDS, GROUPS

    text = _help(capsys)
    students, rest = text.split("for students:\n")[1].split("for instructors:\n")
    assert [line.split()[0] for line in students.strip().splitlines()] == ["check"]  # one command, one line
    assert "check your homework before you hand it in" in students
    assert {c.group for c in COMMANDS.values()} <= set(GROUPS)
    listed = [line.split()[0] for line in rest.split("positional arguments")[0].splitlines()
              if line.startswith("  ") and not line.startswith("    ")]
    assert sorted(listed) == sorted(n for n, c in COMMANDS.items() if c.group != "student")


def test_mlgrade_check_help_is_for_a_student(capsys):
    text = " ".join(_help(capsys, "check").split())
    assert text.split("positional arguments")[0].count(".") == 1  # one plain sentence says what it does
    assert "mlgrade formats" not in text  # the instructors' table of 16 formats is not a student's business
    assert "html (a web page) or gradescope" in text
    assert "--isolation {auto,bwrap,uid,none} where your notebooks run: auto (default) uses the grader's sandbox" in text
    assert "--keep-work keep the folder your submission was unpacked into" in text


def test_mlgrade_check_refuses_a_class_format_and_names_the_ones_it_has(tmp_path, capsys):
    from grader.cli.main import main

    assert main(["check", str(tmp_path), "--format", "canvas"]) == 2
    err = capsys.readouterr().err
    assert "--format canvas: a file for a whole class, made by mlgrade grade; for your submission: " in err
    assert "html" in err.split("for your submission:")[1] and "csv" not in err.split("for your submission:")[1]
