"""Gradescope: the autograder zip `mlgrade export gradescope` builds, run as Gradescope runs it
(run_autograder in a temporary /autograder layout), and results.json in Gradescope's schema."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest
from conftest import ROOT, make_zip

from grader.cli.main import main

SCHEMA = json.loads((ROOT / "tests" / "schemas" / "gradescope_results.json").read_text())
MLGRADE = str(Path(sys.executable).parent / "mlgrade")

RUBRIC = """
name: gradescope test
questions:
  - {id: a, title: file a, points: 1, checks: [{kind: file_present, file: a.txt}]}
  - {id: b, title: file b, points: 2, checks: [{kind: file_present, file: b.txt}]}
"""


def build_layout(tmp: Path, rubric: Path, hidden: Path | None = None) -> Path:
    """Export the zip, and unpack it where Gradescope would: <root>/source."""
    zip_path = tmp / "autograder.zip"
    args = ["export", "gradescope", "--rubric", str(rubric), "-o", str(zip_path)]
    assert main(args + (["--hidden", str(hidden)] if hidden else [])) == 0
    root = tmp / "autograder"
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
        assert "setup.sh" in names and "run_autograder" in names and "rubric.yaml" in names
        for info in zf.infolist():
            assert (info.external_attr >> 16) & 0o111 == (0o111 if info.filename in ("setup.sh", "run_autograder")
                                                           else 0), info.filename
        zf.extractall(root / "source")
    for name in ("setup.sh", "run_autograder"):
        os.chmod(root / "source" / name, 0o755)
    (root / "submission").mkdir()
    (root / "results").mkdir()
    return root


def run_autograder(root: Path, mlgrade: str = MLGRADE) -> subprocess.CompletedProcess:
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "MLGRADE": mlgrade}
    return subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True,
                          text=True, timeout=600)


def test_export_and_run_autograder(tmp_path):
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text(RUBRIC)
    hidden = tmp_path / "hidden"
    (hidden / "digits" / "3").mkdir(parents=True)
    (hidden / "digits" / "3" / "x.png").write_bytes(b"png")
    root = build_layout(tmp_path, rubric, hidden)
    source = root / "source"
    assert (source / "hidden" / "digits" / "3" / "x.png").read_bytes() == b"png"
    wheel = source / "mlgrade-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as w:  # mlgrade itself, whatever way it is installed here; never course content
        names = w.namelist()
        assert "grader/cli/main.py" in names and not [n for n in names if n.startswith(("reference/", "rubrics/"))]
    assert not list(source.rglob("__pycache__"))
    setup = (source / "setup.sh").read_text()
    assert "bubblewrap" in setup and '"$root/venv"' in setup
    assert 'pip install -q "$root/source/mlgrade-0.1.0-py3-none-any.whl"' in setup  # never an index that lacks it
    assert "mlgrade==" not in setup
    assert subprocess.run(["bash", "-n", str(source / "setup.sh")]).returncode == 0
    (root / "submission" / "a.txt").write_text("a")
    (root / "submission_metadata.json").write_text(json.dumps({
        "users": [{"email": "ann@uni.edu", "name": "Ann Lee", "id": 7}], "created_at": "2026-03-01T10:00:00Z",
        "assignment": {"due_date": "2026-03-02T00:00:00Z", "title": "HW4"}}))
    res = run_autograder(root)
    assert res.returncode == 0, res.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["score"] == 1 and [t["score"] for t in data["tests"]] == [1, 0]
    assert data["extra_data"]["origin"]["full_name"] == "Ann Lee"
    assert data["extra_data"]["student"] == "ann@uni.edu"


def test_a_zip_upload_and_a_broken_setup_still_give_results(tmp_path):
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text(RUBRIC)
    root = build_layout(tmp_path, rubric)
    make_zip(root / "submission" / "hw.zip", [("hw/a.txt", b"a"), ("hw/b.txt", b"b")])
    assert run_autograder(root).returncode == 0
    assert json.loads((root / "results" / "results.json").read_text())["score"] == 3
    # a rubric that does not load: the student sees that the autograder failed, not a zero for their work
    (root / "source" / "rubric.yaml").write_text("questions: nope")
    assert run_autograder(root).returncode == 0
    data = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["score"] == 0 and "failed on its own side, not because of your work" in data["output"]
    # mlgrade not installed at all: run_autograder still writes a results file
    (root / "results" / "results.json").unlink()
    assert run_autograder(root, mlgrade=str(tmp_path / "missing")).returncode == 0
    data = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(data, SCHEMA)
    assert "failed to start" in data["output"]


def test_tensorflow_when_the_rubric_requires_it_and_an_instructors_own_source(tmp_path):
    from grader.platforms import gradescope

    rubric = tmp_path / "rubric.yaml"
    rubric.write_text(RUBRIC)
    assert gradescope.export_zip(rubric, tmp_path / "a.zip")["tensorflow"] is False
    rubric.write_text("requires: [tensorflow]\n" + RUBRIC)
    info = gradescope.export_zip(rubric, tmp_path / "t.zip")
    with zipfile.ZipFile(tmp_path / "t.zip") as zf:
        assert info["tensorflow"] and "mlgrade-0.1.0-py3-none-any.whl[tensorflow]" in zf.read("setup.sh").decode()
    gradescope.export_zip(rubric, tmp_path / "b.zip", install="mlgrade @ git+https://example.edu/m.git'; rm -rf /")
    with zipfile.ZipFile(tmp_path / "b.zip") as zf:
        assert "pip install -q 'mlgrade @ git+https://example.edu/m.git; rm -rf /'" in zf.read("setup.sh").decode()
        assert not [n for n in zf.namelist() if n.endswith(".whl")]


def test_a_pack_whose_reference_sits_in_a_shared_folder_keeps_its_layout(tmp_path):
    from grader.platforms import gradescope

    info = gradescope.export_zip(ROOT / "rubrics" / "aml_hw4" / "rubric.yaml", tmp_path / "p.zip")
    assert info["rubric"] == "rubrics/aml_hw4/rubric.yaml"
    with zipfile.ZipFile(tmp_path / "p.zip") as zf:
        names = zf.namelist()
        assert {"rubrics/aml_hw4/rubric.yaml", "rubrics/aml_hw4/tests/test_backprop.py", "reference/backprop.py"} <= \
            set(names)
        assert '--rubric "$root/source/rubrics/aml_hw4/rubric.yaml"' in zf.read("run_autograder").decode()


@pytest.mark.slow
def test_sample_submission_in_the_gradescope_layout(tmp_path, samples_dir):
    root = build_layout(tmp_path, ROOT / "rubric.yaml")
    shutil.copy(samples_dir / "alice_complete.zip", root / "submission")
    res = run_autograder(root)
    assert res.returncode == 0, res.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(data, SCHEMA)
    tests = {t["number"]: t for t in data["tests"]}
    assert all(tests[q]["score"] == tests[q]["max_score"] for q in ("q1a", "q1b", "q2", "q3", "q4a", "q4b", "backprop"))
    assert tests["digits"]["name"].endswith("(provisional)") and 30 < tests["digits"]["score"] < 40
    assert data["leaderboard"][0]["name"] == "digits" and data["leaderboard"][0]["order"] == "desc"
    assert data["score"] == pytest.approx(sum(t["score"] for t in data["tests"]))
    assert stat.S_IMODE((root / "results" / "results.json").stat().st_mode) == 0o644
    # after the deadline: the zip carries the class's bests, and Regrade All Submissions gives the final score
    accuracy = data["leaderboard"][0]["value"]
    best = round(min(1.0, accuracy + 0.02), 4)
    (root / "source" / "class_bests.json").write_text(json.dumps(
        {"bests": {"digits": best}, "students": 31, "graded_at": "2026-12-08 09:00 UTC"}))
    assert run_autograder(root).returncode == 0
    final = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(final, SCHEMA)
    digits = {t["number"]: t for t in final["tests"]}["digits"]
    assert digits["name"].endswith("(final)") and f"class best, {best:.4f}, from the 31 submissions" in digits["output"]
    assert digits["score"] == pytest.approx(40 * accuracy / best, abs=1e-3)
    assert digits["score"] > tests["digits"]["score"]
    assert "(provisional)" not in final["output"].splitlines()[0]


def test_without_user_namespaces_auto_runs_with_limits_and_says_so(tmp_path, monkeypatch, capsys):
    from grader.execute.isolation.bubblewrap import BubblewrapBackend

    monkeypatch.setattr(BubblewrapBackend, "problem", lambda self: "bubblewrap failed: No permissions to create new namespace")
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text(RUBRIC)
    root = build_layout(tmp_path, rubric)
    (root / "submission" / "b.txt").write_text("b")
    assert main(["gradescope", "--root", str(root)]) == 0  # no --isolation flag: auto decides
    data = json.loads((root / "results" / "results.json").read_text())
    assert data["score"] == 2
    # root here: the uid backend runs student code as another user; anyone else: limits only
    assert "discarded after this submission" in data["output"]
    assert ("unprivileged user" in data["output"]) == (os.geteuid() == 0)
    # `mlgrade grade` in the same place refuses instead
    assert main(["grade", str(root / "submission"), "--out", str(tmp_path / "g"), "--rubric", str(rubric)]) == 2
    assert "refusing to run student code without isolation" in capsys.readouterr().err


def test_the_autograder_zip_carries_the_rubrics_own_files(tmp_path):
    """A course pack's test files, reference module and helpers travel with its rubric, in place."""
    from grader.platforms.gradescope import export_zip

    out = tmp_path / "autograder.zip"
    export_zip(ROOT / "rubrics" / "mlp_softmax" / "rubric.yaml", out, install="mlgrade")
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
    assert {"rubric.yaml", "tests/test_softmax.py", "refs.py"} <= names
    assert not any("__pycache__" in n for n in names)
