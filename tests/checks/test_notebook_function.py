"""``notebook_function`` and ``notebook_value``: YAML-only questions about a notebook, graded against a reference."""

from __future__ import annotations

import os
import textwrap

import numpy as np
import pytest
from helpers import isolation_modes, notebook_bytes, write_files

from grader.checks.values import compare, draw_dims, materialize
from grader.core.options import GradeOptions
from grader.core.results import Status
from grader.rubric import RubricError, load_rubric, parse_rubric
from grader.score.pipeline import grade_submission

MODES = isolation_modes()

REFS = '''
import numpy as np

def softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)

def cross_entropy_grad(logits, labels):
    p = softmax(logits, axis=1)
    p[np.arange(len(labels)), labels] -= 1
    return p / len(labels)

def loss():
    return 0.1332476222330792
'''

RUBRIC = '''
name: yaml-only
questions:
  - id: softmax
    title: softmax
    points: 6
    files: [work.ipynb]
    checks:
      - kind: notebook_function
        notebook: work.ipynb
        function: softmax
        reference: refs.py:softmax
        cases:
          - args: [{array: [1.0, 2.0, 3.0]}]
          - {args: [{array: [[1, 2], [3, 5]]}], kwargs: {axis: 1}, points: 2}
        hidden:
          count: 3
          points: 3
          dims: {n: [2, 40]}
          args: [{random: {shape: [n, 10], scale: 3}}]
          kwargs: {axis: 1}
  - id: grad
    title: cross-entropy gradient
    points: 2
    files: [work.ipynb]
    checks:
      - kind: notebook_function
        notebook: work.ipynb
        function: ce_grad
        reference: refs.py:cross_entropy_grad
        atol: 1.0e-8
        hidden:
          count: 4
          dims: {n: [1, 30]}
          args:
            - {random: {shape: [n, 5]}}
            - {random: {shape: [n], distribution: integers, low: 0, high: 5, dtype: int64}}
  - id: loss
    title: the loss
    points: 1
    files: [work.ipynb]
    checks:
      - {kind: notebook_value, notebook: work.ipynb, expr: L, reference: "refs.py:loss", atol: 1.0e-6}
'''

GOOD = notebook_bytes(
    "import numpy as np",
    "def softmax(x, axis=-1):\n    e = np.exp(x - np.max(x, axis=axis, keepdims=True))\n"
    "    return e / e.sum(axis=axis, keepdims=True)",
    "def ce_grad(logits, labels):\n    p = softmax(logits, axis=1)\n    p[np.arange(len(labels)), labels] -= 1\n"
    "    return p / len(labels)",
    "L = 0.1332476222330792",
)
# the listed inputs' answers typed in, the loss printed in the handout: no function that works
HARDCODED = notebook_bytes(
    "import numpy as np",
    "def softmax(x, axis=-1):\n    if np.shape(x) == (3,):\n"
    "        return np.array([0.09003057317038046, 0.24472847105479764, 0.6652409557748218])\n"
    "    return np.array([[0.2689414213699951, 0.7310585786300049], [0.11920292202211755, 0.8807970779778823]])",
    "def ce_grad(logits, labels):\n    return np.zeros(np.shape(logits))",
    "L = 0.1332476222330792",
)


def pack(tmp_path, rubric: str = RUBRIC):
    root = tmp_path / "pack"
    root.mkdir(exist_ok=True)
    (root / "refs.py").write_text(textwrap.dedent(REFS))
    (root / "rubric.yaml").write_text(rubric)
    return load_rubric(root / "rubric.yaml")


def grade(tmp_path, rubric, notebook: bytes, iso: str = "none", name: str = "s"):
    src = write_files(tmp_path / name, {"work.ipynb": notebook})
    os.chmod(tmp_path, 0o755)
    return grade_submission(src, rubric, tmp_path / f"w-{name}", GradeOptions(isolation=iso))


@pytest.mark.parametrize("iso", MODES)
def test_a_correct_notebook_scores_full_marks(tmp_path, iso):
    r = grade(tmp_path, pack(tmp_path), GOOD, iso)
    assert [(q.id, q.score) for q in r.questions] == [("softmax", 6), ("grad", 2), ("loss", 1)], \
        [q.reason for q in r.questions]
    assert r.question("softmax").reason == "work.ipynb: softmax: 2/2 listed cases right, 3/3 hidden cases right"


def test_hard_coded_answers_lose_the_hidden_cases(tmp_path):
    r = grade(tmp_path, pack(tmp_path), HARDCODED)
    soft = r.question("softmax")
    assert soft.score == pytest.approx(6 * 3 / 6)  # listed cases 1 + 2 points, hidden 0 of 3
    assert "0/3 hidden cases right" in soft.reason
    assert r.question("grad").score == 0 and r.question("loss").score == 1


def test_hidden_case_reasons_do_not_show_their_inputs(tmp_path):
    """Which hidden cases failed reaches the student; why (a shape, how many values differ) only the
    instructor's notes."""
    r = grade(tmp_path, pack(tmp_path), HARDCODED)
    q = r.question("softmax")
    assert "hidden cases right (not right: hidden case 1" in q.reason
    assert "shape" not in q.reason and "random" not in q.reason and "scale" not in q.reason
    assert any("hidden case 1: shape (2, 2), expected (" in n for n in q.checks[0].instructor_notes)
    grad = r.question("grad")
    assert "values differ" not in grad.reason and "expected" not in grad.reason
    assert any("values differ" in n and "e.g." not in n for n in grad.checks[0].instructor_notes)


@pytest.mark.parametrize(("got", "expected", "said"), [
    (np.array([1.0, 2.5]), np.array([1.0, 2.0]), "1 of 2 values differ"),
    (0.5, 0.25, "a wrong value"),
    ("a", "b", "a different value"),
    ({"W": np.zeros(2)}, {"W": np.ones(2)}, "2 of 2 values differ at ['W']"),
])
def test_compare_for_hidden_cases_shows_no_expected_value(got, expected, said):
    ok, why = compare(got, expected, 1e-7, 1e-9, hidden=True)
    assert not ok and why == said


def test_hidden_inputs_depend_on_the_submission_and_are_reproducible():
    from grader.checks.values import RandomArray  # noqa: F401 - the spec model the rubric validates against

    spec = [{"random": {"shape": ["n", 3]}}]
    a = materialize(spec, np.random.default_rng(1), draw_dims({"n": [2, 9]}, np.random.default_rng(1)))
    b = materialize(spec, np.random.default_rng(1), draw_dims({"n": [2, 9]}, np.random.default_rng(1)))
    c = materialize(spec, np.random.default_rng(2), draw_dims({"n": [2, 9]}, np.random.default_rng(2)))
    np.testing.assert_array_equal(a[0], b[0])
    assert a[0].shape != c[0].shape or not np.array_equal(a[0], c[0])


def test_student_errors_are_the_students_with_the_line(tmp_path):
    broken = GOOD.replace(b"p = softmax(logits, axis=1)", b"p = softmax(logits, axis=labels.shape[3])")
    r = grade(tmp_path, pack(tmp_path), broken)
    grad = r.question("grad")
    assert grad.status is Status.FAILED
    # hidden cases: the type and the place, never the message (it may quote the hidden inputs)
    assert "hidden case 1, 2, 3, 4: your code raised IndexError at In [3], line 2" in grad.reason
    assert "tuple index out of range" not in grad.reason


def test_a_missing_function_or_variable_says_so(tmp_path):
    nb = notebook_bytes("import numpy as np", "def softmax(x, axis=-1):\n    return x")
    r = grade(tmp_path, pack(tmp_path), nb)
    assert "does not define ce_grad" in r.question("grad").reason
    assert "does not define L" in r.question("loss").reason


@pytest.mark.parametrize(("bad", "said"), [
    ("reference: refs.py:softmax", "reference: 'nope.py' not found", ),
    ("reference: refs.py:softmax", "has no function 'nope'"),
    ("{random: {shape: [n, 10], scale: 3}}", "questions[0].checks[0].hidden.args: 'low' must be below"),
])
def test_rubric_mistakes_are_caught_when_it_loads(tmp_path, bad, said):
    replacement = {"reference: 'nope.py' not found": "reference: nope.py:softmax",
                   "has no function 'nope'": "reference: refs.py:nope",
                   "questions[0].checks[0].hidden.args: 'low' must be below":
                       "{random: {shape: [n, 10], distribution: uniform, low: 2, high: 1}}"}[said]
    with pytest.raises(RubricError) as e:
        pack(tmp_path, RUBRIC.replace(bad, replacement, 1))
    assert said.split(": ", 1)[-1] in str(e.value), str(e.value)


def test_notebook_value_needs_exactly_one_source():
    text = "name: x\nquestions:\n  - {id: a, title: a, points: 1, checks: [{kind: notebook_value, notebook: n.ipynb, " \
           "expr: L}]}\n"
    with pytest.raises(RubricError, match="give either 'expected'"):
        parse_rubric(text)


@pytest.mark.parametrize(("got", "expected", "ok", "said"), [
    (np.array([1.0, 2.0]), [1.0, 2.0], True, ""),
    ([1.0, 2.0], np.array([1.0, 2.0]), True, ""),
    (np.array([1.0, 2.0]), np.array([1.0, 2.0, 3.0]), False, "shape (2,), expected (3,)"),
    (np.array([1.0, 2.5]), np.array([1.0, 2.0]), False, "1 of 2 values differ, e.g. [1]: 2.5, expected 2"),
    ({"W": np.eye(2), "b": 0.5}, {"W": np.eye(2), "b": 0.5}, True, ""),
    ({"W": np.eye(2)}, {"W": np.eye(2), "b": 0.5}, False, "missing key 'b'"),
    ((np.eye(2), 1.0), (np.eye(2), 1.5), False, "1 at [1], expected 1.5 (off by 5.00e-01)"),
    ("abc", "abc", True, ""),
    (1.0, "abc", False, "expected 'abc'"),
    (None, np.zeros(2), False, "expected an array of shape (2,), got None"),
    (np.array([np.nan]), np.array([1.0]), False, "NaN"),
    (True, 1.0, True, ""),
    (1, True, False, "expected True"),
])
def test_compare_in_words(got, expected, ok, said):
    result, why = compare(got, expected, rtol=1e-7, atol=1e-9)
    assert result is ok and said in why


def test_a_notebooks_cell_errors_are_said_once_on_the_first_question_that_uses_it(tmp_path):
    rubric = tmp_path / "r"
    rubric.mkdir()
    (rubric / "refs.py").write_text("def double(x):\n    return 2 * x\n\ndef triple(x):\n    return 3 * x\n")
    (rubric / "rubric.yaml").write_text("""
name: once
questions:
  - id: q1
    title: double
    points: 1
    checks:
      - {kind: notebook_function, notebook: nb.ipynb, function: double, reference: refs.py:double,
         cases: [{args: [2]}]}
  - id: q2
    title: triple
    points: 1
    checks:
      - {kind: notebook_function, notebook: nb.ipynb, function: triple, reference: refs.py:triple,
         cases: [{args: [2]}]}
""")
    nb = notebook_bytes("def double(x):\n    return 2 * x", "broken(", "def triple(x):\n    return 3 * x")
    src = write_files(tmp_path / "s", {"nb.ipynb": nb})
    result = grade_submission(src, load_rubric(rubric / "rubric.yaml"), tmp_path / "w", GradeOptions(isolation="none"))
    q1, q2 = result.question("q1").reason, result.question("q2").reason
    assert "SyntaxError" in q1 and "In [2]" in q1
    assert "SyntaxError" not in q2 and "nb.ipynb has cells that failed (see q1)" in q2


def test_a_reference_that_fails_on_the_rubrics_arguments_is_the_assignments_error(tmp_path):
    rubric = tmp_path / "r"
    rubric.mkdir()
    (rubric / "refs.py").write_text("import numpy as np\n\ndef relu(x):\n    return np.maximum(x, 0)\n")
    (rubric / "rubric.yaml").write_text("""
name: badargs
questions:
  - id: q1
    title: relu
    points: 1
    checks:
      - kind: notebook_function
        notebook: nb.ipynb
        function: relu
        reference: refs.py:relu
        hidden: {count: 1, args: [{normal: {shape: [3]}}]}
""")
    src = write_files(tmp_path / "s", {"nb.ipynb": notebook_bytes("import numpy as np\ndef relu(x):\n    return x")})
    q = grade_submission(src, load_rubric(rubric / "rubric.yaml"), tmp_path / "w",
                         GradeOptions(isolation="none")).question("q1")
    assert q.status is Status.ERROR and "the reference refs.py:relu raised TypeError" in q.reason
    assert "problem with the assignment, not with the submission" in q.reason and "please report" not in q.reason
