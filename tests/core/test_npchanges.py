"""Code written for the course's NumPy 1.x that fails on the grader's NumPy 2.x is an environment difference:
said as such to the student, flagged for the instructor, never listed as the student's own error."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from grader.core.environment import environment_failures
from grader.core.npchanges import NUMPY2, numpy_change
from grader.execute.notebooks.jobs import CellReport

# NumPy 1.x code that was right for the course; each raises on the NumPy installed here (errors taken from it).
NUMPY1_CODE = {
    "np.float_": "np.zeros(3, dtype=np.float_)",
    "np.Inf": "best = np.Inf",
    "np.NaN": "x = np.NaN",
    "np.float": "y = np.array([1, 2], dtype=np.float)",
    "np.product": "n = np.product([2, 3])",
    "np.in1d": "m = np.in1d([1, 2], [2])",
    "newshape": "z = np.reshape(np.arange(4), newshape=(2, 2))",
    "copy=False": "a = np.array([1, 2], copy=False).reshape(2)",
    "np.asfarray": "f = np.asfarray([1, 2])",
}


def _error(code: str) -> tuple[str, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            exec(code, {"np": np})
        except Exception as e:
            return type(e).__name__, str(e)
    pytest.skip(f"this NumPy ({np.__version__}) still runs {code!r}")


@pytest.mark.parametrize("name", sorted(NUMPY1_CODE))
def test_numpy1_code_failing_here_is_recognised_with_what_changed(name):
    ename, evalue = _error(NUMPY1_CODE[name])
    change = numpy_change(ename, evalue)
    assert change is not None, (ename, evalue)
    assert name.split("=")[0].removeprefix("np.") in change
    assert change.count("`") % 2 == 0, change  # whole sentences: no name cut in half


@pytest.mark.parametrize(("ename", "evalue"), [
    ("AttributeError", "module 'numpy' has no attribute 'arrays'"),  # the student's typo
    ("TypeError", "fit() got an unexpected keyword argument 'newshape'"),  # not NumPy's reshape
    ("AttributeError", "'list' object has no attribute 'reshape'"),
    ("ValueError", "operands could not be broadcast together with shapes (3,) (4,)"),
])
def test_the_students_own_errors_stay_theirs(ename, evalue):
    assert numpy_change(ename, evalue) is None


def test_cells_using_what_a_numpy_change_lost_are_the_environments_too():
    ename, evalue = _error(NUMPY1_CODE["newshape"])
    cells = [CellReport(1, "error", ename, evalue, code_index=2),
             CellReport(2, "error", "NameError", "name 'z' is not defined", code_index=3),
             CellReport(3, "error", "NameError", "name 'q' is not defined", code_index=4)]
    env, own = environment_failures(cells, {1: NUMPY1_CODE["newshape"]})
    assert [c.index for c in env[NUMPY2]] == [1, 2] and [c.index for c in own] == [3]


def test_a_backprop_notebook_written_for_numpy1_is_told_it_is_the_environment(tmp_path):
    """The AML backprop notebook with `np.reshape(..., newshape=...)` in back_propagation and `np.float_` in a
    later cell: the reason says environment difference, the instructor is told, the question is flagged."""
    import yaml
    from conftest import ROOT
    from helpers import grade_files, notebook_bytes
    from make_submissions import BACKPROP_CELLS

    data = yaml.safe_load((ROOT / "rubric.yaml").read_text())
    data["questions"] = [q for q in data["questions"] if q["id"] == "backprop"]
    cells = list(BACKPROP_CELLS)
    i = next(k for k, c in enumerate(cells) if c.startswith("def back_propagation"))
    cells[i] = cells[i].replace("dLdZ2.reshape(-1,1)", "np.reshape(dLdZ2, newshape=(-1, 1))")
    cells.append("scale = np.float_(1.0)\nprint(scale)")
    q = grade_files(tmp_path, {"backprop.ipynb": notebook_bytes(*cells)}, yaml.safe_dump(data)).question("backprop")
    assert q.score < q.max_score  # what the code would have computed is not known here
    assert "an environment difference, not your mistake" in q.reason, q.reason
    assert "newshape" in q.reason and "NumPy 1.x" in q.reason
    assert "errors while running" not in q.reason, q.reason  # none of these is listed as the student's error
    assert q.manual_review
    notes = [n for c in q.checks for n in c.instructor_notes]
    assert any("NumPy" in n and "newshape" in n and "np.float_" in n for n in notes), notes
    changes = [ch for c in q.checks for ch in c.details.get("environment_changes", [])]
    assert any("newshape" in ch for ch in changes) and any("np.float_" in ch for ch in changes)
