"""The grading environment's own failings are named as such, never blamed on the student."""

from __future__ import annotations

from grader.cli import main
from grader.environment import install_hint, missing_module, missing_packages


def test_missing_module_is_recognised_in_cell_errors():
    assert missing_module("ModuleNotFoundError", "No module named 'seaborn'") == "seaborn"
    assert missing_module("ModuleNotFoundError", "No module named 'tensorflow.keras'") == "tensorflow"
    assert missing_module("NameError", "name 'np' is not defined") is None


def test_missing_packages_and_the_command_that_installs_them():
    missing = missing_packages(["json", "surely_not_a_package_xyz", "sklearn", "os; import sys"])
    assert set(missing) == {"surely_not_a_package_xyz", "os; import sys"}
    assert missing["surely_not_a_package_xyz"] == "not installed"
    assert install_hint(["cv2", "seaborn"]).endswith("pip install opencv-python-headless seaborn")


def test_grading_refuses_to_start_without_required_packages(tmp_path, capsys):
    rubric = tmp_path / "r.yaml"
    rubric.write_text("""
name: needs seaborn
requires: [json, surely_not_a_package_xyz]
questions:
  - {id: q, title: t, points: 1, files: [a.txt], checks: [{kind: file_present, file: a.txt}]}
""")
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "a.txt").write_text("x")
    code = main(["grade", str(tmp_path / "s"), "--out", str(tmp_path / "out"), "--rubric", str(rubric),
                 "--isolation", "none"])
    err = capsys.readouterr().err
    assert code == 2 and "surely_not_a_package_xyz: not installed" in err and "pip install" in err
    # a student's self-check goes on, and says what differs
    code = main(["check", str(tmp_path / "s"), "--rubric", str(rubric), "--isolation", "none"])
    captured = capsys.readouterr()
    assert code == 0 and "cells that import them fail here but not when graded" in captured.err
