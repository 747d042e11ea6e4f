"""``kind: pytest``: an instructor's test file graded against sandboxed notebooks (grader/checks/pytest/kind.py).

Markers give points, parametrized cases share them, hidden tests stay hidden in a self-check,
assertion messages become reasons, a bug in the test file is a grader error, and nothing a
notebook does in its kernel (monkeypatching numpy, builtins, json, pytest) passes an assertion.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
from helpers import isolation_modes, notebook_bytes, write_files

from grader.core.options import GradeOptions
from grader.core.results import Status
from grader.rubric import RubricError, load_rubric
from grader.score.pipeline import grade_submission

MODES = isolation_modes()

REFS = '''
import numpy as np

def softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
'''

TESTS = '''
import numpy as np
import pytest


def test_defined(notebook):
    assert notebook.has("softmax"), "define softmax(x, axis=-1)"


@pytest.mark.points(2)
@pytest.mark.parametrize("x", [[1.0, 2.0, 3.0], [0.0, 0.0], [-1.0, 5.0, 2.0, 0.5]])
def test_public(notebook, reference, x):
    got = notebook.call("softmax", np.array(x))
    assert isinstance(got, np.ndarray), f"softmax returned {type(got).__name__}, expected a numpy array"
    np.testing.assert_allclose(got, reference.softmax(np.array(x)), rtol=1e-6)


@pytest.mark.hidden
@pytest.mark.points(3)
@pytest.mark.parametrize("case", range(3))
def test_hidden(notebook, reference, hidden_rng, case):
    x = hidden_rng.normal(0, 4, size=(int(hidden_rng.integers(2, 9)), 7))
    got = notebook.call("softmax", x, axis=1)
    assert isinstance(got, np.ndarray) and got.shape == x.shape
    assert np.allclose(got, reference.softmax(x, axis=1), atol=1e-8), "SECRET-HIDDEN-MESSAGE"


def test_loss(notebook):
    assert notebook.value("L") == pytest.approx(0.1332, abs=1e-6)
'''

GOOD = notebook_bytes(
    "import numpy as np",
    "def softmax(x, axis=-1):\n    e = np.exp(x - np.max(x, axis=axis, keepdims=True))\n"
    "    return e / e.sum(axis=axis, keepdims=True)",
    "L = 0.1332",
)
# Right on the handout's inputs only: the public cases pass, the hidden ones cannot.
HARDCODED = notebook_bytes(
    "import numpy as np",
    "ANSWERS = {(1.0, 2.0, 3.0): [0.09003057317038046, 0.24472847105479764, 0.6652409557748218],\n"
    "           (0.0, 0.0): [0.5, 0.5], (-1.0, 5.0, 2.0, 0.5): [0.002331023959610484, 0.9404021836283157,\n"
    "                                                    0.0468198678095915, 0.010446924602482465]}\n"
    "def softmax(x, axis=-1):\n    return np.array(ANSWERS.get(tuple(np.ravel(x).tolist()), np.zeros(np.shape(x))))",
    "L = 0.1301",
)


def make_pack(root: Path, tests: str = TESTS, refs: str = REFS, points: float = 10, extra: str = "",
              files: tuple = ("softmax.ipynb",), check: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "tests").mkdir(exist_ok=True)
    (root / "tests" / "test_softmax.py").write_text(textwrap.dedent(tests))
    (root / "refs.py").write_text(textwrap.dedent(refs))
    check = check or "        notebook: softmax.ipynb\n        reference: refs.py\n        call_timeout: 5\n"
    (root / "rubric.yaml").write_text(
        "name: softmax\n" + extra + "questions:\n  - id: softmax\n    title: softmax with hidden inputs\n"
        f"    points: {points}\n    files: [{', '.join(files)}]\n    checks:\n      - kind: pytest\n"
        "        tests: tests/test_softmax.py\n" + check)
    return root / "rubric.yaml"


def grade(tmp_path: Path, rubric: Path, notebook: bytes | None, iso: str = "none", self_check: bool = False,
          name: str = "student", extra_files: dict | None = None):
    files = {"softmax.ipynb": notebook} if notebook is not None else {}
    src = write_files(tmp_path / name, {**files, **(extra_files or {})})
    os.chmod(tmp_path, 0o755)
    result = grade_submission(src, load_rubric(rubric), tmp_path / f"work-{name}",
                              GradeOptions(isolation=iso, self_check=self_check))
    return result.questions[0]


def outcomes(q) -> dict[str, tuple[str, float]]:
    return {t["test"].split("::")[-1]: (t["outcome"], t["earned"]) for t in q.checks[0].details["tests"]}


@pytest.mark.parametrize("iso", MODES)
def test_a_correct_notebook_gets_every_point(tmp_path, iso):
    q = grade(tmp_path, make_pack(tmp_path / "pack"), GOOD, iso)
    assert q.score == 10 and q.status is Status.PASSED, q.reason
    assert "hidden tests: 3 of 3 passed (3 of 3 points)" in q.reason


def test_markers_give_points_and_parametrized_cases_share_them(tmp_path):
    # test_defined 1, test_public 2 (3 cases), test_hidden 3 (3 cases), test_loss 1: 7 test points, rubric 10
    wrong_loss = GOOD.replace(b"L = 0.1332", b"L = 0.2")
    q = grade(tmp_path, make_pack(tmp_path / "pack"), wrong_loss)
    assert q.checks[0].fraction == pytest.approx(6 / 7) and q.score == pytest.approx(10 * 6 / 7, abs=1e-4)
    got = outcomes(q)
    assert got["test_public[x0]"] == ("passed", pytest.approx(2 / 3, abs=1e-4)) and got["test_hidden[1]"][1] == 1.0
    assert got["test_loss"] == ("failed", 0.0)
    assert q.reason.startswith("6/7 test points")


def test_hard_coded_answers_lose_the_hidden_cases(tmp_path):
    pack = make_pack(tmp_path / "pack")
    q = grade(tmp_path, pack, HARDCODED)
    got = outcomes(q)
    assert all(got[f"test_public[x{i}]"][0] == "passed" for i in range(3))
    assert all(got[f"test_hidden[{i}]"][0] == "failed" for i in range(3))
    assert q.score == pytest.approx(10 * 3 / 7, abs=1e-4)  # defined + public, nothing hidden, wrong L
    assert "hidden tests: 0 of 3 passed" in q.reason


def test_a_failing_assertion_shows_its_message_without_grader_internals(tmp_path):
    q = grade(tmp_path, make_pack(tmp_path / "pack"), HARDCODED)
    assert "test_loss failed: assert 0.1301 == 0.1332 ± 1.0e-06" in q.reason
    assert "where" not in q.reason and "Notebook" not in q.reason and "grader/" not in q.reason


def test_hidden_tests_in_a_self_check_show_that_they_exist_never_their_inputs_or_assertion(tmp_path):
    q = grade(tmp_path, make_pack(tmp_path / "pack"), HARDCODED, self_check=True)
    assert "hidden tests worth 3 points run only when the class is graded (test_hidden)" in q.reason
    assert all(outcomes(q)[f"test_hidden[{i}]"] == ("not run", 0.0) for i in range(3))
    assert "SECRET" not in q.model_dump_json() and "normal" not in q.reason
    graded = grade(tmp_path, make_pack(tmp_path / "pack"), HARDCODED, name="again")
    # a graded report says whether, never why; the why is the instructor's
    assert "SECRET" not in graded.reason and "SECRET" not in json.dumps(graded.checks[0].details)
    # which hidden cases failed, by number: a case's id is made from its inputs (test_x[800.0-0])
    assert "hidden tests not passed: test_hidden (cases 1, 2, 3 of 3)" in graded.reason
    assert "test_hidden[" not in graded.reason
    assert any("SECRET-HIDDEN-MESSAGE" in n for n in graded.checks[0].instructor_notes)


def test_student_code_errors_name_the_cell_and_line(tmp_path):
    broken = notebook_bytes("import numpy as np", "def softmax(x, axis=-1):\n    e = np.exp(x)\n"
                            "    return e / e.sum(axis=axis, keepdim=True)", "L = 0.1332")
    q = grade(tmp_path, make_pack(tmp_path / "pack"), broken)
    assert "softmax(...) raised TypeError" in q.reason
    assert "at In [2], line 3: `return e / e.sum(axis=axis, keepdim=True)`" in q.reason
    assert q.status is Status.PARTIAL  # the student's failure, not a grader error


BUGGY_TESTS = '''
import pytest

def test_fine(notebook):
    assert notebook.has("softmax")

def test_typo(notebook):
    return notebook.cal("softmax", 1)
'''


def test_a_bug_in_the_test_file_is_a_grader_error_not_the_students_failure(tmp_path):
    q = grade(tmp_path, make_pack(tmp_path / "pack", tests=BUGGY_TESTS), GOOD)
    assert q.status is Status.ERROR and q.checks[0].status is Status.ERROR
    assert "grader error in test_softmax.py" in q.reason and "AttributeError" in q.reason
    assert "test_softmax.py, line 8: return notebook.cal" in q.reason
    assert outcomes(q) == {"test_fine": ("passed", 1.0), "test_typo": ("error", 0.0)}


@pytest.mark.parametrize(("tests", "said"), [
    ("def test_x(notebook)\n    pass\n", "could not be collected"),  # a syntax error
    ("import no_such_module_here\n\ndef test_x():\n    pass\n", "No module named"),
    ("X = 1\n", "holds no tests"),
    ("import pytest\n\n@pytest.mark.points('two')\ndef test_x():\n    pass\n", "points needs a number"),
])
def test_a_test_file_that_cannot_run_is_a_grader_error(tmp_path, tests, said):
    q = grade(tmp_path, make_pack(tmp_path / "pack", tests=tests), GOOD)
    assert q.status is Status.ERROR and said in q.reason, q.reason
    assert "not with the submission" in q.reason


def test_fixture_misuse_is_a_grader_error(tmp_path):
    tests = "def test_x(notebook):\n    pass\n\ndef test_y(reference):\n    pass\n"
    q = grade(tmp_path, make_pack(tmp_path / "pack", tests=tests, check="        call_timeout: 5\n"), GOOD)
    assert q.status is Status.ERROR
    assert "names no notebook" in q.reason and "names no reference module" in q.reason


def test_a_notebook_that_does_not_run_fails_the_tests_that_need_it(tmp_path):
    tests = "def test_file(files):\n    assert files.exists('softmax.ipynb')\n\n" \
            "def test_nb(notebook):\n    assert notebook.has('softmax')\n"
    q = grade(tmp_path, make_pack(tmp_path / "pack", tests=tests), b'{"cells": [')
    assert outcomes(q) == {"test_file": ("passed", 1.0), "test_nb": ("failed", 0.0)}
    assert "not valid notebook JSON" in q.reason and q.status is Status.PARTIAL


STATE_TESTS = '''
import json
import helper

SEEN = []

def test_module_state_is_fresh(notebook, hidden_rng):
    SEEN.append(1)
    helper.CALLS.append(1)
    draws = hidden_rng.integers(0, 10**9, size=3).tolist()
    print(json.dumps(draws))
    assert (len(SEEN), len(helper.CALLS)) == (1, 1)
    assert draws == [], f"draws {draws}"
'''


def test_module_state_does_not_leak_between_submissions_and_hidden_draws_are_reproducible(tmp_path):
    pack = make_pack(tmp_path / "pack", tests=STATE_TESTS)
    (tmp_path / "pack" / "tests" / "helper.py").write_text("CALLS = []\n")
    a1 = grade(tmp_path, pack, GOOD, name="a1")
    a2 = grade(tmp_path, pack, GOOD, name="a2")  # the same bytes: the same student
    b = grade(tmp_path, pack, GOOD.replace(b"L = 0.1332", b"L = 0.1333"), name="b")
    for q in (a1, a2, b):
        assert "assert (len(SEEN)" not in q.reason, q.reason  # each run saw fresh modules
    draws = [q.reason.split("draws")[1] for q in (a1, a2, b)]
    assert draws[0] == draws[1] and draws[0] != draws[2]


# Everything a student could patch in their own kernel to make a comparison look right: numpy's
# comparisons, builtins, a fake pytest, values whose __eq__ is always True...
HOSTILE_PATCHES = notebook_bytes(
    "import numpy as np, builtins, sys, types",
    "np.allclose = lambda *a, **k: True\nnp.testing.assert_allclose = lambda *a, **k: None\n"
    "np.array_equal = lambda *a, **k: True\nbuiltins.abs = lambda x: 0\nbuiltins.round = lambda *a: 0.1332\n"
    "fake = types.ModuleType('pytest')\nfake.approx = lambda *a, **k: type('A', (), {'__eq__': lambda s, o: True})()\n"
    "sys.modules['pytest'] = fake",
    "class Always(float):\n    def __eq__(self, other):\n        return True\n    __hash__ = float.__hash__\n"
    "class Liar(np.ndarray):\n    def __eq__(self, other):\n        return np.ones(np.shape(other), bool)\n"
    "def softmax(x, axis=-1):\n    return np.zeros(np.shape(x)).view(Liar)\n"
    "L = Always(0.0)",
)
# ... or the kernel's own json, to forge what its records say.
HOSTILE_JSON = notebook_bytes(
    "import json, numpy as np\n_dumps = json.dumps\n"
    "def forged(obj, *a, **k):\n"
    "    if isinstance(obj, dict) and obj.get('r') == 'live':\n"
    "        obj = {**obj, 'status': 'ok', 'value': True}\n"
    "    return _dumps(obj, *a, **k)\n"
    "json.dumps = forged",
    "def softmax(x, axis=-1):\n    return x",
)


@pytest.mark.parametrize("iso", MODES)
@pytest.mark.parametrize("hostile", [HOSTILE_PATCHES, HOSTILE_JSON], ids=["patches", "json"])
def test_a_notebook_that_monkeypatches_numpy_builtins_json_or_pytest_cannot_pass(tmp_path, iso, hostile):
    tests = TESTS + '''

def test_equality(notebook):
    assert notebook.value("L") == 0.1332

def test_equal_arrays(notebook):
    x = np.array([1.0, 2.0])
    assert (notebook.call("softmax", x) == np.array([0.26894142, 0.73105858])).all()
'''
    q = grade(tmp_path, make_pack(tmp_path / "pack", tests=tests), hostile, iso)
    got = outcomes(q)
    assert got.pop("test_defined") == ("passed", 1.0)
    assert all(outcome != "passed" for outcome, _ in got.values()), got
    assert q.score == pytest.approx(10 / 9, abs=1e-4)


def test_the_files_fixture_reads_the_submission_read_only(tmp_path):
    tests = '''
def test_answer(files):
    assert files.exists("answer.txt") and "answer.txt" in files.names
    assert files.text("answer.txt").strip() == "42"

def test_too_big(files):
    files.bytes("answer.txt", max_bytes=1)
'''
    pack = make_pack(tmp_path / "pack", tests=tests, files=("answer.txt",), check="        call_timeout: 5\n")
    q = grade(tmp_path, pack, None, extra_files={"answer.txt": b"42\n"})
    assert outcomes(q) == {"test_answer": ("passed", 1.0), "test_too_big": ("failed", 0.0)}
    assert "over the 1-byte limit" in q.reason


def test_a_long_message_reaches_the_student_whole_up_to_the_limit(tmp_path):
    tests = '''
def test_long(files):
    assert False, "numbers " + "1.5e-03; " * 60 + "hint: THE-END"

def test_too_long(files):
    assert False, "x" * 5000
'''
    pack = make_pack(tmp_path / "pack", tests=tests, files=("answer.txt",))
    q = grade(tmp_path, pack, None, extra_files={"answer.txt": b"42\n"})
    messages = {t["test"].split("::")[-1]: t["message"] for t in q.checks[0].details["tests"]}
    assert messages["test_long"].endswith("hint: THE-END")  # a hint at the end of a long line is not cut off
    assert len(messages["test_too_long"]) == 1500 and messages["test_too_long"].endswith("…")


def test_kernels_are_stopped_when_the_submission_is_done(tmp_path):
    tests = '''
import os

def test_pid(notebook):
    os.environ["MLGRADE_TEST_KERNEL_PID"] = str(notebook.value("__import__('os').getpid()"))
'''
    grade(tmp_path, make_pack(tmp_path / "pack", tests=tests), GOOD)
    pid = int(os.environ.pop("MLGRADE_TEST_KERNEL_PID"))
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_rubric_names_files_of_its_own_folder_and_says_which_is_missing(tmp_path):
    pack = make_pack(tmp_path / "pack")
    (tmp_path / "pack" / "refs.py").unlink()
    with pytest.raises(RubricError) as e:
        load_rubric(pack)
    assert "questions[0].checks[0].reference: 'refs.py' not found next to the rubric" in str(e.value)


def test_changing_a_test_file_changes_the_rubric_digest(tmp_path):
    pack = make_pack(tmp_path / "pack")
    before = load_rubric(pack).digest()
    (tmp_path / "pack" / "tests" / "test_softmax.py").write_text(TESTS + "\n# changed\n")
    assert load_rubric(pack).digest() != before


def test_options_cells_and_files_the_tests_use(tmp_path):
    tests = '''
import pytest


def test_options_are_the_rubrics(options):
    assert dict(options) == {"tolerance": 0.5, "mode": "strict"}
    with pytest.raises(TypeError):
        options["mode"] = "lax"  # read-only: one test cannot change what the next one sees


def test_cells_are_read_from_the_file_without_running_it(notebook):
    kinds = [c["cell_type"] for c in notebook.cells]
    assert kinds == ["code", "code", "code"] and "def softmax" in notebook.cells[1]["source"]
    assert not notebook._opened  # reading the file started no kernel


def test_uses_a_file(files):
    assert files.text("answer.txt") == "42"
'''
    check = ("        notebook: softmax.ipynb\n        uses: [answer.txt]\n"
             "        options: {tolerance: 0.5, mode: strict}\n")
    pack = make_pack(tmp_path / "pack", tests=tests, check=check)
    q = grade(tmp_path, pack, GOOD, extra_files={"answer.txt": b"42"})
    assert q.score == 10, q.reason
    missing = grade(tmp_path, pack, GOOD, name="nofile")
    assert "test_uses_a_file failed: missing file: expected 'answer.txt'" in missing.reason


def test_failures_with_one_reason_are_said_once(tmp_path):
    q = grade(tmp_path, make_pack(tmp_path / "pack"), b'{"cells": [')
    assert q.reason.count("not valid notebook JSON") == 1
    assert "test_defined, test_public[x0], test_public[x1], test_public[x2]" in q.reason


def test_a_notebook_under_another_name_is_recognised_by_its_code(tmp_path):
    check = "        notebook: softmax.ipynb\n        reference: refs.py\n        recognise_by: ['def softmax(']\n"
    pack = make_pack(tmp_path / "pack", check=check)
    src = write_files(tmp_path / "renamed", {"my_homework.ipynb": GOOD})
    q = grade_submission(src, load_rubric(pack), tmp_path / "w-renamed", GradeOptions()).questions[0]
    assert q.score == 0 and "'my_homework.ipynb' contains `def softmax`" in q.reason


def test_feedback_data_from_hidden_tests_never_reaches_the_page(tmp_path):
    tests = '''
import pytest


def test_visible(feedback):
    feedback["shown"] = [1, 2]


@pytest.mark.hidden
def test_secret(feedback, hidden_rng):
    feedback["secret_inputs"] = hidden_rng.normal(size=3).tolist()


def test_not_json(feedback):
    feedback["bad"] = object()
'''
    q = grade(tmp_path, make_pack(tmp_path / "pack", tests=tests, check="        call_timeout: 5\n"), GOOD)
    details = q.checks[0].details
    assert details["shown"] == [1, 2] and "secret_inputs" not in details and "bad" not in details
    assert "test_not_json: feedback['bad'] must be JSON data" in q.reason and q.status is Status.ERROR


def test_changing_the_reference_module_changes_the_rubric_digest(tmp_path):
    pack = make_pack(tmp_path / "pack")
    before = load_rubric(pack).digest()
    (tmp_path / "pack" / "refs.py").write_text(REFS + "\n# changed\n")
    assert load_rubric(pack).digest() != before


def test_only_the_instructors_modules_are_imported_afresh_for_each_submission(tmp_path):
    """The default rubric sits in the checkout, beside grader/ and the venv: mlgrade's own modules and the
    environment's stay imported (re-importing and assert-rewriting them cost 0.3 s per submission, and a
    third-party submodule imported twice can break), while the instructor's modules are forgotten."""
    import sys
    import types

    from conftest import ROOT

    from grader.checks.pytest.harness import _rewritten_names, forget_modules

    (tmp_path / "tests").mkdir()
    for name in ("test_a.py", "helpers.py", "other.py"):
        (tmp_path / "tests" / name).write_text("x = 1\n")
    assert _rewritten_names(tmp_path / "tests" / "test_a.py") == ["test_a.py", "helpers.py", "other.py"]

    fakes = {"_mlg_own": ROOT / "grader" / "_mlg_own.py", "_mlg_env": Path(sys.prefix) / "lib" / "_mlg_env.py",
             "_mlg_course": tmp_path / "tests" / "helpers.py", "_mlg_root": ROOT / "rubrics" / "_mlg_root.py"}
    before = set(sys.modules)
    for name, file in fakes.items():
        mod = types.ModuleType(name)
        mod.__file__ = str(file)
        sys.modules[name] = mod
    try:
        forget_modules(before, [ROOT, tmp_path / "tests"])
        assert "_mlg_own" in sys.modules and "_mlg_env" in sys.modules
        assert "_mlg_course" not in sys.modules and "_mlg_root" not in sys.modules
    finally:
        for name in fakes:
            sys.modules.pop(name, None)


@pytest.mark.parametrize("iso", MODES)
def test_lone_surrogates_and_colliding_keys_from_the_kernel_cost_only_that_answer(tmp_path, iso):
    """A notebook that raises with a lone surrogate in its message (which no UTF-8 output can hold), returns
    one, or swaps in its own wire encoder to send dict keys that all share one hash (quadratic to build):
    the record is stored and written as UTF-8, and the grader answers at once."""
    import json
    import time

    from grader.core.files import json_text

    hostile = notebook_bytes(
        "import numpy as np",
        "def softmax(x, axis=-1):\n    raise ValueError('bad \\ud800 value')",
        "L = 'x\\udc80y'",
        "import wire\nM = 2**61 - 1\n_enc = wire.encode\n"
        "def flood(value, where='value'):\n    return {'d': [[1 + i * M, 0] for i in range(150_000)]}\n"
        "wire.encode = flood",
    )
    tests = '''
    def test_call(notebook):
        notebook.call("softmax", [1.0])

    def test_value(notebook):
        assert notebook.value("L") == "x"
    '''
    started = time.monotonic()
    q = grade(tmp_path, make_pack(tmp_path / "pack", tests=tests), hostile, iso)
    assert time.monotonic() - started < 60
    assert q.score == 0 and q.status is not Status.ERROR, q.reason
    text = json_text(q.model_dump(mode="json"))
    text.encode("utf-8")  # what the store writes: no lone surrogate is left anywhere in the record
    assert json.loads(text) == q.model_dump(mode="json")


def test_a_value_of_the_wrong_kind_fails_the_test_it_reached_not_the_grader(tmp_path):
    """softmax returning None makes the instructor's own np.allclose raise TypeError: that is the student's
    failure (with a reason), not a grader error flagged for the instructor and regraded; a test that raises
    before it received anything from the notebook is still the grader's error."""
    tests = '''
    import numpy as np

    def test_value(notebook):
        got = notebook.call("softmax", np.array([1.0, 2.0]))
        assert np.allclose(got, [0.26894142, 0.73105858])

    def test_typo(notebook):
        np.nonexistent_function()
    '''
    returns_none = notebook_bytes("import numpy as np", "def softmax(x, axis=-1):\n    return None")
    q = grade(tmp_path, make_pack(tmp_path / "pack", tests=tests), returns_none)
    got = outcomes(q)
    assert got["test_value"] == ("failed", 0.0)
    assert "the test could not use what your code returned: TypeError" in q.reason
    assert got["test_typo"][0] == "error"


HIDDEN_ONLY_TESTS = '''
import numpy as np
import pytest


@pytest.mark.points(0)
def test_public_shape(notebook):
    assert notebook.call("softmax", np.array([1.0, 2.0])).shape == (2,), "softmax keeps the input's shape"


@pytest.mark.hidden
@pytest.mark.points(3)
def test_hidden_values(notebook, reference, hidden_rng):
    x = hidden_rng.normal(size=5)
    assert np.allclose(notebook.call("softmax", x), reference.softmax(x))
'''


def test_a_self_check_does_not_fail_points_only_hidden_tests_decide(tmp_path):
    """A correct function whose question's points are all hidden is "checked when graded" in a self-check,
    never "0/3 failed"; graded, it gets its points."""
    pack = make_pack(tmp_path / "pack", tests=HIDDEN_ONLY_TESTS, points=3)
    q = grade(tmp_path, pack, GOOD, self_check=True)
    assert q.status is Status.PENDING, (q.status, q.reason)
    assert q.reason.startswith("3 points from hidden tests, checked when the class is graded"), q.reason
    assert "passed: test_public_shape" in q.reason
    graded = grade(tmp_path, pack, GOOD, name="graded")
    assert graded.score == 3 and graded.status is Status.PASSED
    wrong = grade(tmp_path, pack, notebook_bytes("import numpy as np", "def softmax(x):\n    return x[:1]"),
                  self_check=True, name="wrong")
    assert wrong.status is Status.PENDING and "test_public_shape failed: softmax keeps the input's shape" in wrong.reason


DIFF_TESTS = '''
def test_with_message(notebook):
    assert list(notebook.value("xs")) == [3, 4], "xs should be the two largest values, largest first"


def test_without_message(notebook):
    assert list(notebook.value("xs")) == [3, 4]
'''


def test_the_instructors_message_comes_without_pytests_diff(tmp_path):
    """pytest appends "At index 0 diff: 5 != 3 / Left contains one more item" to an assert's message:
    noise for a student when the instructor wrote a message of their own; kept when they did not."""
    pack = make_pack(tmp_path / "pack", tests=DIFF_TESTS, refs="")
    q = grade(tmp_path, pack, notebook_bytes("xs = [5, 4, 1]"))
    assert "test_with_message failed: xs should be the two largest values, largest first;" in q.reason + ";"
    assert "At index" not in q.reason.split("test_without_message")[0]
    assert "contains one more item" not in q.reason.split("test_without_message")[0]
    assert "test_without_message failed: assert [5, 4, 1] == [3, 4]" in q.reason


PARTIAL_TESTS = '''
import numpy as np
import pytest


@pytest.mark.points(4)
def test_loss_and_gradient(notebook, partial):
    assert notebook.value("L") == pytest.approx(0.1332, abs=1e-6), "the loss L is wrong"
    if not np.allclose(notebook.value("g"), [1.0, 2.0]):
        partial(0.25, "the loss is right; the gradient g is not")


@pytest.mark.points(2)
def test_against_hidden_labels(notebook, hidden_data):
    labels = [int(x) for x in hidden_data.read_text("labels.txt").split()]
    assert list(notebook.value("predictions")) == labels, "your predictions on the hidden images are off"
'''


@pytest.mark.parametrize(("gradient", "earned"), [("[1.0, 2.0]", 4.0), ("[0.0, 0.0]", 1.0)])
def test_partial_credit_from_a_test_and_hidden_data_read_by_the_test(tmp_path, gradient, earned):
    pack = make_pack(tmp_path / "pack", tests=PARTIAL_TESTS, refs="", points=6)
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "labels.txt").write_text("3 1 4\n")
    student = notebook_bytes(f"L = 0.1332\ng = {gradient}\npredictions = [3, 1, 4]")
    src = write_files(tmp_path / "s", {"softmax.ipynb": student})
    q = grade_submission(src, load_rubric(pack), tmp_path / "w",
                         GradeOptions(isolation="none", hidden_dir=hidden)).questions[0]
    assert q.score == pytest.approx(earned + 2), q.reason
    if earned < 4:
        assert "test_loss_and_gradient partly: 1 of 4 points (the loss is right; the gradient g is not)" in q.reason
    # a self-check has no hidden data: that test is checked when the class is graded, not failed
    check = grade(tmp_path, pack, student, self_check=True, name="self")
    assert "checked when the class is graded" in check.reason and "test_against_hidden_labels" in check.reason
    # grading without --hidden is the instructor's mistake, said as such
    missing = grade(tmp_path, pack, student, name="nohidden")
    assert missing.status is Status.ERROR and "grade with --hidden DIR" in missing.reason


def test_a_fraction_outside_0_1_is_the_instructors_error(tmp_path):
    tests = "def test_x(partial):\n    partial(1.5)\n"
    q = grade(tmp_path, make_pack(tmp_path / "pack", tests=tests, refs=""), GOOD)
    assert q.status is Status.ERROR and "the fraction must be between 0 and 1" in q.reason


def test_the_self_checks_total_says_what_was_scored_and_what_is_pending(tmp_path):
    from grader.render.terminal import total_line

    pack = make_pack(tmp_path / "pack", tests=HIDDEN_ONLY_TESTS, points=3,
                     extra="")
    src = write_files(tmp_path / "s", {"softmax.ipynb": GOOD})
    result = grade_submission(src, load_rubric(pack), tmp_path / "w", GradeOptions(isolation="none", self_check=True))
    assert total_line(result) == "total 0/3 (scored in this run: 0 of 0; 3 points pending)"
    graded = grade_submission(src, load_rubric(pack), tmp_path / "w2", GradeOptions(isolation="none"))
    assert total_line(graded) == "total 3/3"


def test_failing_tests_come_first_and_whole_and_passing_ones_are_summed_up():
    """Eight failing tests, each with its own message, and nine passing: every failure is named with its
    message before anything else (none cut with an ellipsis); the passing ones are counted."""
    from grader.checks.pytest.harness import TestOutcome, TestRun
    from grader.checks.pytest.kind import score

    failed = [TestOutcome(f"t::test_f[{i}]", f"test_f[{i}]", "test_f", 1, False, "failed", f"case {i}: got {i}")
              for i in range(8)]
    passed = [TestOutcome(f"t::test_p[{i}]", f"test_p[{i}]", "test_p", 1, False, "passed") for i in range(9)]
    reason = score(TestRun(passed[:4] + failed + passed[4:]), "t.py", self_check=True).reason
    parts = reason.split("; ")
    assert parts[0] == "9/17 test points" and parts[-1] == "the other 9 tests passed", reason
    assert parts[1:-1] == [f"test_f[{i}] failed: case {i}: got {i}" for i in range(8)]
    assert "…" not in reason and "more failed" not in reason
    assert score(TestRun(passed[:3]), "t.py", self_check=True).reason == (
        "3/3 test points; passed: test_p[0], test_p[1], test_p[2]")
