"""The backprop course pack (rubrics/aml_hw4/tests/test_backprop.py) end to end, as the default rubric uses it:
each kind of notebook students hand in gets its score and reason."""

from __future__ import annotations

import importlib.util
import json

import pytest
from conftest import ROOT
from helpers import grade_files, notebook_bytes
from make_submissions import BACKPROP_CELLS, backprop_notebook

from grader.rubric import load_rubric


@pytest.fixture(scope="module")
def rubric_yaml() -> str:
    """The default rubric's backprop question alone, exactly as configured there."""
    import yaml

    data = yaml.safe_load((ROOT / "rubric.yaml").read_text())
    data["questions"] = [q for q in data["questions"] if q["id"] == "backprop"]
    return yaml.safe_dump(data)


def grade(tmp_path, rubric_yaml, nb: bytes):
    return grade_files(tmp_path, {"backprop.ipynb": nb}, rubric_yaml).question("backprop")


def test_the_default_rubric_uses_the_course_packs_tests():
    q = next(q for q in load_rubric(ROOT / "rubric.yaml").questions if q.id == "backprop")
    assert q.points == 3 and q.checks[0].kind == "pytest"
    assert q.checks[0].params.tests == "rubrics/aml_hw4/tests/test_backprop.py"


def test_correct_notebook_gets_full_marks(tmp_path, rubric_yaml):
    q = grade(tmp_path, rubric_yaml, backprop_notebook("correct"))
    assert q.score == 3, q.reason
    assert q.reason == "3/3 test points; all 7 tests passed"
    assert [t["outcome"] for t in q.checks[0].details["tests"]] == ["passed"] * 7


def test_hard_coded_answers_lose_the_hidden_part(tmp_path, rubric_yaml):
    q = grade(tmp_path, rubric_yaml, backprop_notebook("hardcoded"))
    assert q.score == 2, q.reason
    assert "test_hidden_data[137] failed: hidden data" in q.reason and "expected" in q.reason and "off by" in q.reason
    assert q.reason.count("hint: your function returns the handout's results whatever it is given") == 1


def test_a_function_that_reads_the_notebooks_globals_is_told_so(tmp_path, rubric_yaml):
    cells = list(BACKPROP_CELLS)
    cells[4] = cells[4].replace("def back_propagation(X, Y_T, weights):", "def back_propagation(X_in, Y_in, w_in):")
    cells.insert(5, "Y_T = Y")
    q = grade(tmp_path, rubric_yaml, notebook_bytes(*cells))
    assert q.score == 2, q.reason
    assert "compute from its arguments X, Y_T and weights" in q.reason


def test_missing_sigmoid_derivative_loses_the_gradient_parts(tmp_path, rubric_yaml):
    q = grade(tmp_path, rubric_yaml, backprop_notebook("buggy"))
    assert q.score == 1.5, q.reason
    assert "test_seed0_gradient[W1] failed: seed-0 gradient dW1 off by" in q.reason and "db1 off by" in q.reason
    assert "test_hidden_data[137] failed" in q.reason and "test_hidden_data[401] failed" in q.reason


HIDDEN_STEP = "    dLdZ1 = np.multiply(dLdH, (sigmoid(Z1)*(1-sigmoid(Z1))))\n"
OUTPUT_STEP = "    dLdZ2 = np.multiply(dLdY, (sigmoid(Z2)*(1-sigmoid(Z2))))\n"


def _mistake(*edits: tuple[str, str]) -> bytes:
    cells = list(BACKPROP_CELLS)
    for old, new in edits:
        assert old in cells[4]
        cells[4] = cells[4].replace(old, new)
    return notebook_bytes(*cells)


MISTAKE_CASES = [
    ([(HIDDEN_STEP, "    dLdZ1 = dLdH\n")], "your dW1 and db1 equal the gradients without the hidden sigmoid's derivative"),
    ([(OUTPUT_STEP, "    dLdZ2 = dLdY\n")], "without the output sigmoid's derivative: dL/dZ2 is dL/dY * Y * (1 - Y)"),
    ([(OUTPUT_STEP, "    dLdZ2 = dLdY * Z2 * (1 - Z2)\n"), (HIDDEN_STEP, "    dLdZ1 = dLdH * Z1 * (1 - Z1)\n")],
     "your gradients use Z * (1 - Z) as the sigmoid's derivative"),
    ([("dLdY = 1/N_points * (Y - Y_T)", "dLdY = (Y - Y_T)")], "your gradients are N times too large"),
    ([(HIDDEN_STEP, "    dLdZ1 = np.multiply(dLdH, sigmoid(Z1))\n")],
     "the output layer's gradients (dW2, db2) are right and the hidden layer's are not"),
    # the bug handed in: db1 summed from dL/dH; dW1 is right, so dL/dZ1 is, and only db1 is to blame
    ([("dLdb1 = np.dot(ones.T, dLdZ1)", "dLdb1 = np.dot(ones.T, dLdH)")], "db1 alone is off: your dW1 is right"),
    ([("dLdW1 = np.dot(X.T, dLdZ1)", "dLdW1 = np.dot(X.T, dLdH)")], "dW1 alone is off: your db1 is right"),
    ([("dLdb2 = np.dot(ones.T, dLdZ2)", "dLdb2 = np.dot(ones.T, dLdY)")], "db2 alone is off: your dW2 is right"),
    ([("dLdW2 = np.dot(H.T, dLdZ2)", "dLdW2 = np.dot(H.T, dLdY)")], "dW2 alone is off: your db2 is right"),
]


@pytest.mark.parametrize("edits, hint", MISTAKE_CASES)
def test_a_common_mistake_is_named_once_with_the_cell_to_fix(tmp_path, rubric_yaml, edits, hint):
    """What the wrong numbers equal names the mistake, once for the notebook, with the cell where the
    function is (In [5]: the helper numbers cells from 1)."""
    q = grade(tmp_path, rubric_yaml, _mistake(*edits))
    assert q.score < 3, q.reason
    assert q.reason.count("hint:") == 1 and q.reason.count(hint) == 1, q.reason
    assert f"{hint}" in q.reason.split("(back_propagation is in In [5])")[0], q.reason


def test_every_hint_rule_of_the_pack_has_a_wrong_notebook_above():
    """Each rule of backprop_checks (a usual mistake, a layer's gradients) is tried on a notebook with that mistake."""
    spec = importlib.util.spec_from_file_location("backprop_checks", ROOT / "rubrics/aml_hw4/tests/backprop_checks.py")
    assert spec is not None and spec.loader is not None
    bc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bc)
    tried = [hint for _, hint in MISTAKE_CASES]
    rules = [h for _, h in bc.MISTAKES] + list(bc.LAYER_HINTS.values())
    assert all(sum(rule.startswith(t) or t in rule for t in tried) == 1 for rule in rules), rules


def test_a_right_answer_and_an_unrecognised_mistake_get_no_hint(tmp_path, rubric_yaml):
    assert "hint:" not in grade(tmp_path / "a", rubric_yaml, backprop_notebook("correct")).reason
    odd = grade(tmp_path / "b", rubric_yaml, _mistake(("dLdW2 = np.dot(H.T, dLdZ2)", "dLdW2 = 2 * np.dot(H.T, dLdZ2)"),
                                                      ("dLdW1 = np.dot(X.T, dLdZ1)", "dLdW1 = 2 * np.dot(X.T, dLdZ1)")))
    assert "dW2 off by" in odd.reason and "hint:" not in odd.reason
    # a gradient under another name is said to be missing, not blamed on the maths of the hidden layer
    renamed = grade(tmp_path / "c", rubric_yaml, _mistake(("'W1': dLdW1", "'weights1': dLdW1")))
    assert "dW1 missing" in renamed.reason and "hint:" not in renamed.reason, renamed.reason


def test_crashing_notebook_scores_zero_with_the_reason(tmp_path, rubric_yaml):
    q = grade(tmp_path, rubric_yaml, backprop_notebook("crash"))
    assert q.score == 0
    assert "the kernel died while running In [7] (`import os, signal`)" in q.reason
    assert q.reason.count("the kernel died") == 1  # said once for every test it failed


@pytest.mark.slow
def test_never_returning_function_scores_zero_with_the_reason(tmp_path, rubric_yaml):
    import yaml

    limit = yaml.safe_load(rubric_yaml)["questions"][0]["checks"][0]["call_timeout"]
    q = grade(tmp_path, rubric_yaml, backprop_notebook("loop"))
    assert q.score == 0
    assert f"did not finish within {limit:g} s and was interrupted" in q.reason


def test_colab_notebook_is_graded_like_any_other(tmp_path, rubric_yaml):
    q = grade(tmp_path, rubric_yaml, backprop_notebook("colab"))
    assert q.score == 3, q.reason


def test_invalid_notebook_json(tmp_path, rubric_yaml):
    q = grade(tmp_path, rubric_yaml, b'{"cells": [ {"cell_type": "code"')
    assert q.score == 0 and "failed: backprop.ipynb: is not valid notebook JSON" in q.reason


def test_handout_style_hard_coded_1000_fails_hidden_sizes(tmp_path, rubric_yaml):
    cells = [c.replace("np.ones((N_points))", "np.ones((1000))") for c in BACKPROP_CELLS]
    q = grade(tmp_path, rubric_yaml, notebook_bytes(*cells))
    assert q.score == 2, q.reason
    assert "test_hidden_data[137] failed" in q.reason and "test_hidden_data[401] failed" in q.reason
    # the reason says how the hidden problems differ and what the error suggests
    assert "N = 137 points instead of 1000" in q.reason and "N = 401 points instead of 1000" in q.reason, q.reason
    assert "your code seems to assume 1000 points" in q.reason, q.reason


def test_loss_first_return_order_and_other_key_names_are_accepted(tmp_path, rubric_yaml):
    cells = list(BACKPROP_CELLS)
    cells[4] = cells[4].replace(
        "gradients = {'W1': dLdW1, 'b1': dLdb1, 'W2': dLdW2, 'b2': dLdb2}\n    return gradients, L",
        "return L, {'dW1': dLdW1.T, 'db1': dLdb1, 'dW2': dLdW2, 'db2': dLdb2}",
    )
    assert cells[4] != BACKPROP_CELLS[4]
    q = grade(tmp_path, rubric_yaml, notebook_bytes(*cells))
    assert q.score == 3, q.reason


def test_variables_are_used_when_the_function_is_missing(tmp_path, rubric_yaml):
    cells = list(BACKPROP_CELLS)
    cells[4] = cells[4].replace("def back_propagation(", "def backprop_renamed(")
    cells[5] = cells[5].replace("back_propagation(", "backprop_renamed(")
    q = grade(tmp_path, rubric_yaml, notebook_bytes(*cells))
    assert q.score == 2, q.reason
    assert "test_seed0_loss" in q.reason.split("; ")[-1]  # passed (said last), from the variables ...
    assert "does not define back_propagation" in q.reason  # ... while the hidden problems need the function


def test_ignoring_the_biases_is_caught_by_the_hidden_problems(tmp_path, rubric_yaml):
    # The seed-0 problem has zero biases, so only the hidden data can tell.
    cells = [c.replace(" + weights['b1']", "").replace(" + weights['b2']", "") for c in BACKPROP_CELLS]
    q = grade(tmp_path, rubric_yaml, notebook_bytes(*cells))
    assert q.score == 2, q.reason
    assert "non-zero biases b1 and b2" in q.reason and "your results equal a network without biases" in q.reason


def test_nan_gradients_are_wrong(tmp_path, rubric_yaml):
    cells = list(BACKPROP_CELLS)
    cells[4] = cells[4].replace("dLdb2 = np.dot(ones.T, dLdZ2)", "dLdb2 = np.nan")
    q = grade(tmp_path, rubric_yaml, notebook_bytes(*cells))
    assert 0 < q.score < 3
    assert "db2 contains NaN" in q.reason


def test_monkeypatched_numpy_cannot_fake_the_comparison(tmp_path, rubric_yaml):
    """A notebook that patches numpy's comparison and JSON so everything 'matches' still fails:
    the grader compares in its own process, with its own numpy, on values it loads itself."""
    cells = [
        "import numpy as np, json\nnp.allclose = lambda *a, **k: True\nnp.isclose = lambda *a, **k: True\n"
        "json.dump = lambda obj, f, **k: f.write('{\"seed0\": {\"kind\": \"passed\"}}')",
        "def back_propagation(X, Y_T, weights):\n    return {'W1': 0, 'b1': 0, 'W2': 0, 'b2': 0}, 0.0",
    ]
    q = grade(tmp_path, rubric_yaml, notebook_bytes(*cells))
    assert q.score == 0, q.reason


def test_results_are_deterministic(tmp_path, rubric_yaml):
    a = grade(tmp_path / "a", rubric_yaml, backprop_notebook("buggy"))
    b = grade(tmp_path / "b", rubric_yaml, backprop_notebook("buggy"))
    assert (a.score, a.reason) == (b.score, b.reason)
    assert json.dumps(a.checks[0].details, sort_keys=True) == json.dumps(b.checks[0].details, sort_keys=True)
