"""``mlgrade import otter|nbgrader``: what is converted, what is listed as not, and how converted tests grade.

The comparison with the real tools is in test_import_vs_peers.py (slow, installs them from PyPI)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from grader.authoring.converting import free_names
from grader.authoring.from_nbgrader import convert_nbgrader
from grader.authoring.from_otter import convert_otter, resolve_points
from grader.checks.pytest.doctests import run_doctest
from grader.cli.main import EXIT_OK, EXIT_USAGE, main
from grader.rubric.model import load_rubric
from tests.helpers import notebook_bytes

sys.path.insert(0, str(Path(__file__).parent))
import peer_assignment as pa  # noqa: E402

OK_FILE = """OK_FORMAT = True
test = {'name': 'q1', 'points': [1, 2], 'suites': [{'cases': [
    {'code': '>>> square(3)\\n9', 'hidden': False},
    {'code': '>>> v = normalize(np.array([3.0, 4.0]))\\n>>> [round(float(x), 3) for x in v]\\n[0.6, 0.8]'}],
  'scored': True, 'setup': '', 'teardown': '', 'type': 'doctest'}]}
"""
EXCEPTION_FILE = '''from otter.test_files import test_case
OK_FORMAT = False
name = "q2"
points = 3

@test_case(points=2, hidden=False)
def test_answer(answer):
    """the answer"""
    assert answer == 42, f"answer is {answer}"

@test_case(hidden=True)
def test_scaled(scaled, np):
    assert np.allclose(scaled, 2 * np.arange(5))

@test_case(points=0)
def test_everything(env):
    assert "answer" in env
'''


@pytest.mark.parametrize("total, given, expected", [
    (None, [None, None], [0.5, 0.5]),  # no points anywhere: the file is worth 1
    (3, [None, None, None], [1, 1, 1]),
    (4, [2, None, None], [2, 1, 1]),  # the cases without points share what is left
    ([1, 2], [None, None], [1, 2]),
    (None, [2, None], [2, 0]),  # some cases have points, no total: the others are worth nothing
])
def test_points_resolve_as_otter_documents(total, given, expected):
    assert resolve_points(total, given) == expected


@pytest.mark.parametrize("total, given, why", [
    (1, [2, None], "more than the file's 1"), ([1], [None, None], "lists 1 values for 2 cases"),
    ("three", [None], "not a number")])
def test_points_otter_would_refuse_are_refused(total, given, why):
    with pytest.raises(ValueError, match=why):
        resolve_points(total, given)


@pytest.fixture
def otter_dir(tmp_path) -> Path:
    tests = tmp_path / "hw" / "tests"
    tests.mkdir(parents=True)
    (tests / "q1.py").write_text(OK_FILE)
    (tests / "q2.py").write_text(EXCEPTION_FILE)
    (tests / "__init__.py").write_text("")
    (tests / "q3.py").write_text("test = {'name': 'q3', 'suites': [{'cases': [], 'setup': 'x = 1'}]}\n")
    return tests


def test_otter_both_formats_convert_with_their_points_and_hidden_flags(otter_dir):
    conv = convert_otter(otter_dir, "hw.ipynb")
    q1, q2 = conv.questions
    assert [(t.points, t.hidden) for t in q1.tests] == [(1, False), (2, True)]  # OK format: hidden unless said
    assert [(t.points, t.hidden) for t in q2.tests] == [(2, False), (1, True)]  # the rest of 3 for the open case
    assert "scaled = notebook.bind('scaled')" in q2.tests[1].body and "np = notebook" not in q2.tests[1].body
    problems = [str(n) for n in conv.not_converted]
    assert any("tests/q2.py, line 16" in p and "env" in p for p in problems)
    assert any("tests/q3.py" in p and "setup" in p for p in problems)


def test_every_case_of_an_ok_file_becomes_a_test_whatever_names_it_reads(tmp_path):
    """Three cases, the last reading one name: as otter assign writes them (a regression: the case names
    were lost to the last case's names)."""
    tests = tmp_path / "tests"
    tests.mkdir()
    cases = ["'>>> square(3) == 9\\nTrue', 'hidden': False", "'>>> bool(np.allclose(normalize(x), y))\\nTrue'",
             "'>>> answer == 42\\nTrue'"]
    (tests / "q1.py").write_text("OK_FORMAT = True\ntest = {'name': 'q1', 'points': 3, 'suites': [{'cases': [" +
                                 ", ".join("{'code': " + c + "}" for c in cases) + "], 'type': 'doctest'}]}\n")
    (q1,) = convert_otter(tests, "hw.ipynb").questions
    assert [(t.name, t.points, t.hidden) for t in q1.tests] == [
        ("test_q1_1", 1, False), ("test_q1_2", 1, True), ("test_q1_3", 1, True)]


def test_the_written_rubric_loads_and_lists_what_was_not_converted(otter_dir, tmp_path, capsys):
    out = tmp_path / "converted"
    assert main(["import", "otter", str(otter_dir), "--notebook", "hw.ipynb", "--out", str(out)]) == EXIT_OK
    said = capsys.readouterr().out
    assert "converted 4 Otter-Grader tests (2 hidden) into 2 questions worth 6 points" in said
    assert "not converted (2)" in said and "tests/q2.py, line 16" in said
    rubric = load_rubric(out / "rubric.yaml")
    assert [(q.id, q.points) for q in rubric.questions] == [("q1", 3), ("q2", 3)]
    assert "#   tests/q2.py, line 16" in (out / "rubric.yaml").read_text()
    assert main(["import", "otter", str(otter_dir), "--notebook", "hw.ipynb", "--out", str(out)]) == EXIT_USAGE
    assert "exists; choose another --out or add --force" in capsys.readouterr().err
    assert main(["import", "otter", str(otter_dir), "--out", str(out), "--force"]) == EXIT_USAGE
    assert "which notebook do students hand in? add --notebook" in capsys.readouterr().err


def test_converted_tests_grade_in_the_grader_and_a_patched_numpy_fools_nothing(otter_dir, tmp_path):
    out = tmp_path / "converted"
    assert main(["import", "otter", str(otter_dir), "--notebook", "hw.ipynb", "--out", str(out)]) == EXIT_OK
    subs = tmp_path / "subs"
    for student, cells in {
        "right": [pa.SETUP, pa.SOLUTIONS["square"], pa.SOLUTIONS["normalize"], pa.SOLUTIONS["values"]],
        "cheat": [pa.SETUP, "def square(x):\n    return 10", "def normalize(v):\n    return v",
                  "answer = 41\nscaled = 0\nnp.allclose = lambda *a, **k: True\n"
                  "import builtins\nbuiltins.AssertionError = type('X', (Exception,), {})"],
    }.items():
        (subs / student).mkdir(parents=True)
        (subs / student / "hw.ipynb").write_bytes(notebook_bytes(*cells))
    assert main(["grade", str(subs), "--rubric", str(out / "rubric.yaml"), "--out", str(tmp_path / "g"),
                 "--isolation", "none"]) == EXIT_OK
    rows = (tmp_path / "g/grades.csv").read_text().splitlines()
    assert rows[1:] == ["cheat,0,0,0", "right,3,3,6"]
    notes = (tmp_path / "g/instructor-notes.csv").read_text()
    assert "Expected:\n    [0.6, 0.8]\nGot:\n    [3.0, 4.0]" in notes  # the hidden doctest's reason, for you only


def test_run_doctest_says_what_was_expected_and_got():
    run_doctest(">>> f(2)\n4\n", {"f": lambda x: x * 2})
    with pytest.raises(AssertionError) as e:
        run_doctest(">>> f(2)\n5\n", {"f": lambda x: x * 2}, "q1 - 1")
    assert "Failed example:\n    f(2)\nExpected:\n    5\nGot:\n    4" in str(e.value)
    assert "****" not in str(e.value) and 'File "' not in str(e.value)


def test_free_names_are_the_ones_read_before_being_bound():
    assert free_names("y = f(x)\nz = y + w\nfor i in range(3):\n    t = [j for j in q]\n"
                      "def g(a):\n    return a + k\n") == ["f", "x", "w", "q", "k"]


def test_nbgrader_cells_convert_with_hidden_tests_helpers_and_partial_credit(tmp_path):
    source = pa.nbgrader_source(tmp_path / "hw.ipynb")
    nb = json.loads(source.read_text())
    nb["cells"].append({"cell_type": "code", "execution_count": None, "outputs": [], "source": "%timeit square(2)\n",
                        "metadata": {"nbgrader": {"grade": True, "solution": False, "grade_id": "t_magic",
                                                  "points": 1, "schema_version": 3, "locked": True}}})
    nb["cells"].append({"cell_type": "markdown", "source": "Explain.", "metadata": {"nbgrader": {
        "grade": True, "solution": True, "grade_id": "essay", "points": 3, "schema_version": 3}}})
    source.write_text(json.dumps(nb))
    conv = convert_nbgrader(source)
    by_id = {q.id: q.tests[0] for q in conv.questions}
    assert {k: (t.points, t.hidden) for k, t in by_id.items()} == {
        "test_square": (1, False), "test_normalize": (2, True), "test_normalize_again": (1, False),
        "test_answer": (1, False), "test_scaled": (2, False)}
    assert "def _unit(v):" in by_id["test_normalize_again"].body  # defined by an earlier test cell
    assert "_nbgrader_partial_credit(_cell_result, 2, partial)" in by_id["test_scaled"].body
    assert "np = notebook" not in by_id["test_scaled"].body and "scaled = notebook.bind('scaled')" in by_id[
        "test_scaled"].body
    listed = [str(n) for n in conv.not_converted]
    assert listed == ["hw.ipynb, cell 9 (t_magic), line 1: an IPython magic or shell command",
                      "hw.ipynb, cell 10 (essay): graded by hand: review it with `mlgrade review` and `mlgrade override`"]


def test_nbgrader_refuses_what_is_not_a_notebook(tmp_path, capsys):
    bad = tmp_path / "hw.ipynb"
    bad.write_text("{not json")
    assert main(["import", "nbgrader", str(bad), "--out", str(tmp_path / "o")]) == EXIT_USAGE
    assert "not a notebook" in capsys.readouterr().err
    assert main(["import", "nbgrader", str(tmp_path / "missing.ipynb")]) == EXIT_USAGE
    empty = tmp_path / "empty.ipynb"
    empty.write_bytes(notebook_bytes("x = 1"))
    assert main(["import", "nbgrader", str(empty), "--out", str(tmp_path / "o")]) == EXIT_USAGE
    assert "nothing to convert: no nbgrader test was found" in capsys.readouterr().err
