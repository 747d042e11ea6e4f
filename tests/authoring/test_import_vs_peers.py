"""``mlgrade import`` against the real tools: the converted rubric gives the points Otter and nbgrader give.

Otter-Grader and nbgrader are installed from PyPI into a venv of their own (or ``MLGRADE_PEER_VENV``
names one that has ``otter-grader nbgrader numpy ipykernel``). The same assignment
(:mod:`peer_assignment`) is built with each tool's own commands (``otter assign``, ``nbgrader
generate_assignment``), answered by four students, graded by the tool (``otter run``, ``nbgrader
autograde`` + ``export``) and by mlgrade from the converted tests. Honest students get the same
points per question; the student who patched ``np.allclose`` in their kernel fools the tools, not mlgrade.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from grader.cli.main import EXIT_OK, main

sys.path.insert(0, str(Path(__file__).parent))
import peer_assignment as pa  # noqa: E402

pytestmark = pytest.mark.slow
HONEST = ["right", "wrong_normalize", "wrong_values"]


@pytest.fixture(scope="module")
def peers(tmp_path_factory) -> dict[str, str]:
    """PATH and a private HOME for the tools' venv."""
    given = os.environ.get("MLGRADE_PEER_VENV")
    if given:
        bindir = Path(given) / "bin"
    else:
        where = tmp_path_factory.mktemp("peers") / "venv"
        venv.create(where, with_pip=True)
        bindir = where / "bin"
        subprocess.run([str(bindir / "pip"), "install", "-q", "otter-grader", "nbgrader", "numpy", "ipykernel"],
                       check=True, timeout=900)
    home = tmp_path_factory.mktemp("peerhome")
    return {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(home), "JUPYTER_CONFIG_DIR": str(home / ".jupyter"),
            "IPYTHONDIR": str(home / ".ipython"), "MPLCONFIGDIR": str(home / ".mpl"),
            "JUPYTER_DATA_DIR": str(home / ".local/share/jupyter"), "LANG": "C.UTF-8"}


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{cmd}: {done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _mlgrade(rubric: Path, subs: Path, out: Path) -> dict[str, dict[str, float]]:
    assert main(["grade", str(subs), "--rubric", str(rubric), "--out", str(out)]) == EXIT_OK
    with open(out / "grades.csv", newline="") as f:
        return {row["student"]: {k: float(v) for k, v in row.items() if k not in ("student",) and v != ""}
                for row in csv.DictReader(f)}


def test_otter_and_mlgrade_give_the_same_points(peers, tmp_path, capsys):
    master = tmp_path / "otter"
    master.mkdir()
    pa.otter_master(master / "hw.ipynb")
    _run(["otter", "assign", "hw.ipynb", "dist"], master, peers)
    zips = list((master / "dist/autograder").glob("*.zip"))
    with zipfile.ZipFile(zips[0]) as z:
        z.extractall(master / "dist/autograder/ag")
    otter_points: dict[str, dict[str, float]] = {}
    subs = tmp_path / "subs"
    for student in pa.STUDENTS:
        nb = pa.fill(master / "dist/student/hw.ipynb", student, subs / student / "hw.ipynb")
        out = tmp_path / "otter-out" / student
        out.mkdir(parents=True)
        _run(["otter", "run", "-a", str(zips[0]), "-o", str(out), str(nb)], tmp_path, peers)
        results = json.loads((out / "results.json").read_text())
        otter_points[student] = {t["name"]: t["score"] for t in results["tests"] if "score" in t}

    assert main(["import", "otter", str(master / "dist/autograder/ag/tests"), "--notebook", "hw.ipynb",
                 "--out", str(tmp_path / "converted")]) == EXIT_OK
    assert "converted 5 Otter-Grader tests (2 hidden) into 2 questions worth 5 points" in capsys.readouterr().out
    ours = _mlgrade(tmp_path / "converted/rubric.yaml", subs, tmp_path / "grades")
    for student in HONEST:
        assert {q: ours[student][q] for q in ("q1", "q2")} == otter_points[student], student
    assert otter_points["right"] == {"q1": 3.0, "q2": 2.0}
    assert otter_points["wrong_normalize"]["q1"] < 3 and otter_points["wrong_values"]["q2"] == 0
    # the cheat's np.allclose fooled Otter, which compares in the student's kernel
    assert otter_points["cheat"]["q2"] == 2.0 and ours["cheat"]["q2"] < 2.0
    assert otter_points["cheat"]["q1"] == 3.0 and ours["cheat"]["q1"] < 3.0


def test_nbgrader_and_mlgrade_give_the_same_points(peers, tmp_path, capsys):
    course = tmp_path / "course"
    (course / "source/hw").mkdir(parents=True)
    source = pa.nbgrader_source(course / "source/hw/hw.ipynb")
    _run(["nbgrader", "generate_assignment", "hw", "--force"], course, peers)
    subs = tmp_path / "subs"
    for student in pa.STUDENTS:
        nb = pa.fill(course / "release/hw/hw.ipynb", student, course / "submitted" / student / "hw/hw.ipynb")
        (subs / student).mkdir(parents=True)
        (subs / student / "hw.ipynb").write_bytes(nb.read_bytes())
    _run(["nbgrader", "autograde", "hw", "--force"], course, peers)
    _run(["nbgrader", "export", "--to", str(tmp_path / "nbgrader.csv")], course, peers)
    with open(tmp_path / "nbgrader.csv", newline="") as f:
        theirs = {row["student_id"]: float(row["raw_score"]) for row in csv.DictReader(f)}

    assert main(["import", "nbgrader", str(source), "--out", str(tmp_path / "converted")]) == EXIT_OK
    out = capsys.readouterr().out
    assert "converted 5 nbgrader tests (1 hidden) into 5 questions worth 7 points" in out
    assert "cell 3 (answers): graded by hand" not in out  # an autograded answer cell is the student's code
    ours = _mlgrade(tmp_path / "converted/rubric.yaml", subs, tmp_path / "grades")
    for student in HONEST:
        assert ours[student]["total"] == pytest.approx(theirs[student]), student
    assert theirs["right"] == 7 and theirs["wrong_values"] < 7 and theirs["wrong_normalize"] < 7
    assert theirs["cheat"] == 7 and ours["cheat"]["total"] < 3  # fooled nbgrader, not mlgrade
