"""The command line as users meet it: exit codes, messages, files written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from conftest import ROOT, make_zip

from grader.cli import main

SCHEMA = json.loads((ROOT / "tests" / "schemas" / "gradescope_results.json").read_text())


def test_check_prints_a_table_and_exits_0(samples_dir, capsys):
    assert main(["check", str(samples_dir / "bob_partial.zip"), "--rubric", str(ROOT / "rubric.yaml")]) == 0
    out = capsys.readouterr().out
    assert "q1b" in out and "missing file: expected 'hdfview.png'" in out
    assert "total" in out


FAST_SAMPLES = ["alice_complete", "bob_partial", "carol_broken", "dave_not_a_zip"]


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
        jsonschema.validate(json.loads((out1 / student / "results.json").read_text()), SCHEMA)
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
