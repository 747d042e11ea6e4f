"""Live notebook sessions: calls one at a time, each with its own timeout and its own failure, in every backend."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import isolation_modes, notebook_bytes

from grader.execute.notebooks.jobs import NotebookJob
from grader.execute.notebooks.session import (
    MAX_RESTARTS,
    CallTimeout,
    CannotCross,
    NotDefined,
    NotebookDidNotRun,
    NotebookSession,
    StudentCodeError,
    StudentFailure,
)

MODES = isolation_modes()

CELLS = [
    "import numpy as np",
    "def softmax(x, axis=-1):\n    e = np.exp(x - x.max(axis=axis, keepdims=True))\n    return e / e.sum(axis=axis, keepdims=True)",
    "def normalise(x):\n    total = x.sum()\n    return x / total",
    "L = 0.25\ncounter = []\nclass Thing:\n    pass\nthing = Thing()",
    "def add_one():\n    counter.append(1)\n    return len(counter)",
    "def spin():\n    while True:\n        pass",
    "def stubborn():\n    import signal\n    signal.signal(signal.SIGINT, signal.SIG_IGN)\n    while True:\n        pass",
    "def die():\n    import os\n    os._exit(3)",
    "def many():\n    return {'arr': np.eye(2), 'tup': (1, 'a', None), 'f': np.float32(0.5), 'b': True}",
    "class Net:\n    def forward(self, x):\n        return x\nnet = Net()\nimport functools\nnormalize = functools.partial(normalise)\n"
    "def logged(f):\n    @functools.wraps(f)\n    def inner(*a, **k):\n        return f(*a, **k)\n    return inner",
    "@logged\ndef traced(x):\n    return x",
]


def open_session(tmp_path: Path, iso: str, cells=CELLS, **kw) -> NotebookSession:
    sub = tmp_path / "sub"
    sub.mkdir(exist_ok=True)
    os.chmod(tmp_path, 0o755)
    os.chmod(sub, 0o755)
    nb = sub / "nb.ipynb"
    nb.write_bytes(notebook_bytes(*cells) if isinstance(cells, list) else cells)
    os.chmod(nb, 0o644)
    job = NotebookJob(notebook=str(nb), submission_dir=str(sub), isolation=iso, seed=3, cell_timeout=10,
                      notebook_timeout=60)
    return NotebookSession(job, "nb.ipynb", **kw)


@pytest.mark.parametrize("iso", MODES)
def test_calls_values_and_names(tmp_path, iso):
    s = open_session(tmp_path, iso)
    try:
        assert s.run.status == "ok" and not s.run.errors
        x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
        got = s.call("softmax", (x,), {"axis": 1})
        np.testing.assert_allclose(got.sum(axis=1), [1, 1])
        assert s.value("L") == 0.25 and s.value("L * 2") == 0.5
        assert s.has("softmax") and s.has("np.linalg.norm") and not s.has("missing") and not s.has("thing.nope")
        many = s.call("many")
        assert many["tup"] == (1, "a", None) and type(many["f"]) is np.float32 and many["b"] is True
        np.testing.assert_array_equal(many["arr"], np.eye(2))
        assert [s.call("add_one") for _ in range(3)] == [1, 2, 3]  # one kernel, state kept between calls
        # where the student wrote a name, as they see it; "" for what no cell of theirs wrote
        assert s.defined_at("softmax") == "In [2]" and s.defined_at("normalise") == "In [3]"
        assert s.defined_at("Net") == s.defined_at("net.forward") == "In [10]"
        assert s.defined_at("traced") == "In [11]"  # the function the student wrote, not its decorator's cell
        assert s.defined_at("np.linalg.norm") == s.defined_at("thing") == s.defined_at("normalize") == ""
        with pytest.raises(NotDefined):
            s.defined_at("missing")
    finally:
        s.close()


@pytest.mark.parametrize("iso", MODES)
def test_each_failure_is_its_own_and_names_the_students_line(tmp_path, iso):
    s = open_session(tmp_path, iso, call_timeout=2)
    try:
        with pytest.raises(StudentCodeError) as e:
            s.call("normalise", ([1, 2],))  # a list has no .sum()
        assert e.value.ename == "AttributeError"
        assert "In [3], line 2: `total = x.sum()`" in str(e.value)
        with pytest.raises(NotDefined, match="does not define nothing_here"):
            s.call("nothing_here")
        with pytest.raises(NotDefined, match="does not define missing_var"):
            s.value("missing_var")
        with pytest.raises(CannotCross, match="Thing"):
            s.value("thing")
        started = time.monotonic()
        with pytest.raises(CallTimeout, match="did not finish within 2 s"):
            s.call("spin")
        assert time.monotonic() - started < 10
        assert s.value("L") == 0.25  # the same kernel, still well
        assert s.call("add_one") == 1
    finally:
        s.close()


@pytest.mark.parametrize("iso", MODES)
def test_a_call_that_kills_the_kernel_costs_that_call_only(tmp_path, iso):
    s = open_session(tmp_path, iso, call_timeout=2)
    try:
        assert s.call("add_one") == 1
        with pytest.raises(CallTimeout, match="did not stop when interrupted"):
            s.call("stubborn")
        assert s.call("add_one") == 1  # the notebook ran again: a fresh kernel
        with pytest.raises(StudentFailure, match="kernel died while the grader called your code, exit code 3"):
            s.call("die")
        if MAX_RESTARTS >= 2:
            assert s.value("L") == 0.25
        with pytest.raises(StudentFailure):
            s.call("die")
        with pytest.raises(NotebookDidNotRun, match="does not try again"):
            s.value("L")
    finally:
        s.close()


@pytest.mark.parametrize("iso", MODES)
def test_a_notebook_that_does_not_run_fails_every_request_with_its_reason(tmp_path, iso):
    s = open_session(tmp_path, iso, cells=b'{"cells": [')
    with pytest.raises(NotebookDidNotRun, match="not valid notebook JSON"):
        s.call("softmax")
    s = open_session(tmp_path, iso, cells=["import os\nos._exit(9)"])
    with pytest.raises(NotebookDidNotRun, match="kernel died"):
        s.value("1")


@pytest.mark.parametrize("iso", MODES)
def test_arguments_cross_as_data_and_a_student_cannot_change_the_graders_copy(tmp_path, iso):
    cells = ["def mutate(x):\n    x[0] = 99.0\n    return x"]
    s = open_session(tmp_path, iso, cells=cells)
    try:
        x = np.array([1.0, 2.0])
        got = s.call("mutate", (x,))
        assert got[0] == 99.0 and x[0] == 1.0
        with pytest.raises(TypeError, match="cannot be sent"):
            s.call("mutate", (object(),))
    finally:
        s.close()


def test_closed_session_stops_its_kernel(tmp_path):
    s = open_session(tmp_path, "none", cells=["import os\npid = os.getpid()"])
    pid = s.value("pid")
    os.kill(pid, 0)
    s.close()
    time.sleep(0.2)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


PATCHES = {
    "pretty": "import json, functools\njson.dumps = functools.partial(json.dumps, indent=2)",
    "empty": "import json\njson.dumps = lambda *a, **k: '{}'\njson.loads = lambda *a, **k: {}",
    "classes": "import json\njson.JSONEncoder.encode = lambda self, o: '{}'\n"
               "json.JSONEncoder.iterencode = lambda self, o, _one_shot=False: iter(['{}'])\n"
               "json.JSONDecoder.decode = lambda self, s, _w=None: {}",
    "write": "import os\n_w = os.write\nos.write = lambda fd, b: _w(fd, b'x')",
    "builtins": "import builtins, functools\nbuiltins.print = functools.partial(builtins.print, flush=True)",
}


@pytest.mark.parametrize("patch", sorted(PATCHES))
def test_a_student_patching_json_or_os_write_changes_nothing_of_the_grading(tmp_path, patch):
    """An honest student pretty-printing with json (or a hostile one emptying it) has the grade their
    functions earn: the kernel's protocol uses objects captured before any student cell runs."""
    cells = [PATCHES[patch], "import numpy as np\ndef double(x):\n    return 2 * x", "print('after')\nk = 3"]
    s = open_session(tmp_path, "none", cells=cells)
    try:
        assert s.run.status == "ok" and not s.run.errors, (s.run.status, s.run.reason)
        assert [c.status for c in s.run.cells] == ["ok", "ok", "ok"]
        np.testing.assert_array_equal(s.call("double", (np.arange(3),)), [0, 2, 4])
        assert s.value("k") == 3
    finally:
        s.close()
