"""The grading environment's own failings are named as such, never blamed on the student."""

from __future__ import annotations

import pytest

from grader.cli.main import main
from grader.core.environment import install_hint, missing_module, missing_packages


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


def test_a_missing_package_is_the_environments_failing_not_the_students(tmp_path):
    """A full-marks backprop notebook that also imports seaborn: full marks, and the reason says the
    environment lacks seaborn, naming the cells as the student sees them, not as 'errors'."""
    import yaml
    from conftest import ROOT
    from helpers import grade_files, notebook_bytes
    from make_submissions import BACKPROP_CELLS

    data = yaml.safe_load((ROOT / "rubric.yaml").read_text())
    data["questions"] = [q for q in data["questions"] if q["id"] == "backprop"]
    cells = ["import seaborn as sns\nimport matplotlib.pyplot as plt", *BACKPROP_CELLS,
             "sns.histplot([1, 2, 3])\nplt.show()"]
    q = grade_files(tmp_path, {"backprop.ipynb": notebook_bytes(*cells)}, yaml.safe_dump(data)).question("backprop")
    assert q.score == 3, q.reason
    assert "the grading environment lacks the package 'seaborn'" in q.reason
    assert "In [1] (`import seaborn as sns`)" in q.reason and "In [9] (`sns.histplot" in q.reason
    assert "errors while running" not in q.reason  # nothing here is the student's mistake
    assert q.checks[0].details["missing_packages"] == ["seaborn"]


def test_a_students_own_missing_module_is_not_blamed_on_the_environment():
    from grader.core.environment import environment_failures
    from grader.execute.notebooks.jobs import CellReport

    cells = [CellReport(0, "error", "ModuleNotFoundError", "No module named 'my_utils'", code_index=1),
             CellReport(1, "error", "ModuleNotFoundError", "No module named 'seaborn'", code_index=2),
             CellReport(2, "error", "NameError", "name 'sns' is not defined", code_index=3),
             CellReport(3, "error", "NameError", "name 'foo' is not defined", code_index=4)]
    env, own = environment_failures(cells, {1: "import seaborn as sns"})
    assert list(env) == ["seaborn"] and [c.index for c in env["seaborn"]] == [1, 2]
    assert [c.index for c in own] == [0, 3]


def test_a_download_is_the_offline_environments_failing_and_its_names_too():
    from grader.core.environment import NETWORK, environment_failures
    from grader.execute.notebooks.jobs import CellReport

    cells = [CellReport(2, "error", "Exception", "URL fetch failure on https://www.cs.toronto.edu/...: None -- "
                        "[Errno -3] Temporary failure in name resolution", code_index=2),
             CellReport(3, "error", "NameError", "name 'x_train' is not defined", code_index=3)]
    src = {2: "from tensorflow.keras.datasets import cifar10\n(x_train, y_train), (x_test, y_test) = cifar10.load_data()"}
    env, own = environment_failures(cells, src)
    assert [c.index for c in env[NETWORK]] == [2, 3] and own == []


@pytest.mark.slow
def test_tensorflow_first_then_numpy_backprop_gets_full_marks(tmp_path):
    """Real AML HW4 notebooks start with TensorFlow imports; numpy must not be lost with them, and the
    CIFAR-10 part (a download, offline here) is not the student's mistake."""
    import yaml
    from conftest import ROOT
    from helpers import grade_files, notebook_bytes
    from make_submissions import BACKPROP_CELLS

    data = yaml.safe_load((ROOT / "rubric.yaml").read_text())
    data["questions"] = [q for q in data["questions"] if q["id"] == "backprop"]
    cells = ["import tensorflow as tf\nfrom tensorflow import keras\nimport numpy as np", *BACKPROP_CELLS,
             "(x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()",
             "model = keras.Sequential([keras.layers.Input((3072,)), keras.layers.Dense(128, activation='relu'),\n"
             "    keras.layers.Dense(64, activation='relu'), keras.layers.Dense(10, activation='softmax')])\n"
             "print(model.count_params())\nmodel.fit(x_train.reshape(-1, 3072), y_train, epochs=1)"]
    q = grade_files(tmp_path, {"backprop.ipynb": notebook_bytes(*cells)}, yaml.safe_dump(data)).question("backprop")
    assert q.score == 3, q.reason
    assert "tried to reach the network" in q.reason and "errors while running" not in q.reason, q.reason
