"""Notebook execution: limits, errors, determinism, Colab shims, forged records — in every isolation mode."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import isolation_modes, notebook_bytes, run_live

from grader.checks.notebooks import cell_errors
from grader.execute.notebooks import NotebookJob, get_runner
from grader.execute.notebooks.session import NotebookSession, StudentFailure

MODES = isolation_modes()


def job(tmp_path: Path, isolation: str, *cells: str, files=None, **limits) -> NotebookJob:
    sub = tmp_path / "sub"
    sub.mkdir(exist_ok=True)
    os.chmod(tmp_path, 0o755)
    os.chmod(sub, 0o755)
    for name, data in (files or {}).items():
        (sub / name).write_bytes(data)
        os.chmod(sub / name, 0o644)
    nb = sub / "nb.ipynb"
    nb.write_bytes(notebook_bytes(*cells))
    return NotebookJob(notebook=str(nb), submission_dir=str(sub), isolation=isolation, seed=limits.pop("seed", 7),
                       **limits)


def run(tmp_path: Path, isolation: str, *cells: str, files=None, **limits):
    """The cells run once, the kernel ended with them."""
    return get_runner().run(job(tmp_path, isolation, *cells, files=files, **limits))


def live(tmp_path: Path, isolation: str, *cells: str, values=(), files=None, **limits):
    """The cells in a live session, as grading runs them: ``(run, {name: value})``, the session closed."""
    return run_live(job(tmp_path, isolation, *cells, files=files, **limits), *values)


@pytest.mark.parametrize("iso", MODES)
def test_errors_do_not_stop_later_cells(tmp_path, iso):
    r, got = live(tmp_path, iso, "x = 1", "raise ValueError('boom')", "y = x + 1", values=["y"])
    assert r.status == "ok"
    assert [(c.index, c.status, c.ename) for c in r.cells] == [(0, "ok", ""), (1, "error", "ValueError"), (2, "ok", "")]
    assert got == {"y": 2}


@pytest.mark.parametrize("iso", MODES)
def test_injected_seed_makes_runs_deterministic(tmp_path, iso):
    cells = ["import numpy as np, random", "a = np.random.rand(3)", "b = random.random()"]
    (_, g1), (_, g2), (_, g3) = (live(tmp_path, iso, *cells, values=["a", "b"], seed=seed) for seed in (123, 123, 124))
    np.testing.assert_array_equal(g1["a"], g2["a"])
    np.testing.assert_array_equal(g1["a"], np.random.RandomState(123).rand(3))
    assert not np.array_equal(g1["a"], g3["a"])
    assert g1["b"] == g2["b"] and g1["b"] != g3["b"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"cells": [', "is not valid notebook JSON (Expecting value at line 1, column 12)"),
        (b"[1, 2]", "is JSON but not a Jupyter notebook"),
        (b"\xff\xfe\x00", "is not a notebook (not UTF-8 text)"),
        (b"", "is not valid notebook JSON"),
    ],
)
def test_unreadable_notebooks_say_why(tmp_path, content, expected):
    nb = tmp_path / "bad.ipynb"
    nb.write_bytes(content)
    job = NotebookJob(notebook=str(nb), submission_dir=str(tmp_path))
    r = get_runner().run(job)
    assert r.status == "invalid"
    assert r.reason.startswith("bad.ipynb: ") and expected in r.reason


@pytest.mark.parametrize("iso", MODES)
def test_cell_timeout_interrupts_and_goes_on(tmp_path, iso):
    t = time.monotonic()
    r, got = live(tmp_path, iso, "while True:\n    pass", "z = 5", values=["z"], cell_timeout=2)
    assert time.monotonic() - t < 15
    assert r.cells[0].status == "timeout" and "longer than 2 s" in r.cells[0].evalue
    assert r.cells[1].status == "ok" and got == {"z": 5}


@pytest.mark.slow
@pytest.mark.parametrize("iso", MODES)
def test_cell_ignoring_sigint_is_stopped(tmp_path, iso):
    cells = ["import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass", "after = 1"]
    t = time.monotonic()
    r = run(tmp_path, iso, *cells, cell_timeout=2, notebook_timeout=60)
    assert r.status == "timeout" and "did not stop when interrupted" in r.reason
    assert r.cells[0].status == "timeout" and r.cells[1].status == "not_run"
    assert time.monotonic() - t < 15  # 2 s, then 5 s of grace: not the notebook's 60 s
    # the next notebook runs normally
    assert run(tmp_path, iso, "ok = 1").status == "ok"


@pytest.mark.slow
@pytest.mark.parametrize("iso", MODES)
def test_the_notebook_wall_clock_stops_a_notebook_of_slow_cells(tmp_path, iso):
    cells = ["import time\ntime.sleep(3)"] * 5
    t = time.monotonic()
    r = run(tmp_path, iso, *cells, cell_timeout=10, notebook_timeout=8.5)  # two cells fit with room to start
    assert r.status == "timeout" and "did not finish within 8.5 s" in r.reason
    assert time.monotonic() - t < 14
    assert [c.status for c in r.cells][:2] == ["ok", "ok"] and r.cells[-1].status == "not_run"


@pytest.mark.parametrize("iso", MODES)
def test_kernel_death_is_reported_with_the_cell_as_the_student_sees_it(tmp_path, iso):
    r = run(tmp_path, iso, "x = 1", "import os\nos._exit(3)", "y = 2")
    assert r.status == "kernel_died"
    assert "the kernel died while running In [2] (`import os`), exit code 3" in r.reason
    assert r.cells[2].status == "not_run"


@pytest.mark.parametrize("iso", MODES)
def test_cells_are_named_as_the_student_sees_them(tmp_path, iso):
    sub = tmp_path / "sub"
    sub.mkdir()
    import json

    nb = json.loads(notebook_bytes("# a comment\n\nloss = 1 / 0", "ok = 1", "undefined_name"))
    nb["cells"].insert(0, {"cell_type": "markdown", "metadata": {}, "source": "# Title", "id": "m0"})
    nb["cells"][1]["execution_count"] = 8  # the student ran it as In [8]
    nb["cells"][3]["execution_count"] = None  # never run: named by its position among code cells
    (sub / "nb.ipynb").write_text(json.dumps(nb))
    r = get_runner().run(NotebookJob(notebook=str(sub / "nb.ipynb"), submission_dir=str(sub), isolation=iso))
    assert [c.index for c in r.cells] == [1, 2, 3]
    text = cell_errors(r)
    assert "In [8] (`# a comment`): ZeroDivisionError: division by zero" in text
    assert "code cell 3 (`undefined_name`): NameError" in text
    assert "cell 2" not in text


@pytest.mark.parametrize("iso", MODES)
def test_memory_limit_gives_memory_error_not_a_dead_machine(tmp_path, iso):
    r, got = live(tmp_path, iso, "import numpy as np\ntry:\n    a = np.ones(5 * 10**9)\n    got = 0\nexcept MemoryError:\n    got = 1",
                  values=["got"], memory_bytes=1536 * 1024**2)
    assert r.status == "ok"
    assert got == {"got": 1}


@pytest.mark.parametrize("iso", MODES)
def test_a_50_million_character_line_is_cut_not_hung(tmp_path, iso):
    t = time.monotonic()
    r, got = live(tmp_path, iso, "print('x' * 50_000_000)", "done = 1", values=["done"], output_chars=10_000)
    assert time.monotonic() - t < 30
    assert r.status == "ok" and got == {"done": 1}
    assert 0 < len(r.stdout_tail) <= 10_000  # a live session keeps the whole output budget, and no more


@pytest.mark.parametrize("iso", MODES)
def test_colab_notebooks_run(tmp_path, iso):
    cells = [
        "from google.colab import drive\ndrive.mount('/content/drive')",
        "from google.colab import files\nuploaded = files.upload()",
        "!pip install tensorflow==1.15",
        "%pip install numpy",
        "%tensorflow_version 2.x",
        "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 2, 3]); plt.show()",
        "import os\nfound = int(os.path.exists('data.txt'))",
    ]
    t = time.monotonic()
    r, got = live(tmp_path, iso, *cells, files={"data.txt": b"1,2,3\n"}, values=["found"])
    assert time.monotonic() - t < 20  # no 8-second pip retries
    assert r.status == "ok"
    assert [c.status for c in r.cells] == ["ok"] * len(cells), r.cells
    assert got == {"found": 1}


@pytest.mark.parametrize("iso", MODES)
def test_kernel_writes_do_not_change_the_submission(tmp_path, iso):
    r = run(tmp_path, iso, "open('data.txt', 'w').write('changed')\nimport os\nos.remove('data.txt')",
            files={"data.txt": b"original"})
    assert r.cells[0].status == "ok"
    assert (tmp_path / "sub" / "data.txt").read_bytes() == b"original"


FORGE_VALUES = r"""
import base64, io, sys
import numpy as np

class Boom:
    def __reduce__(self):  # what unpickling would run: in the grader's process, where the marker is
        return (exec, ("open(%r, 'w').write('unpickled')" % MARKER,))

def npy(arr, **kw):
    buf = io.BytesIO()
    np.save(buf, arr, **kw)
    return base64.b64encode(buf.getvalue()).decode()

header = io.BytesIO()
np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**14,)})
FORGED = {
    "pickle": {"nd": npy(np.array([Boom()], dtype=object), allow_pickle=True)},
    "object": {"np": npy(np.array(Boom(), dtype=object), allow_pickle=True)},
    "base64": {"nd": "not base64!"},
    "huge": {"nd": base64.b64encode(header.getvalue() + bytes(64)).decode()},
    "tag": {"pickle": "anything"},
}
_wire = sys.modules["wire"]  # the kernel's own encoder, replaced for one answer: forge's own

def forge(kind):
    real = _wire.encode
    def once(value, where="value"):
        _wire.encode = real
        return FORGED[kind]
    _wire.encode = once
    return 0

y = 2
"""


@pytest.mark.parametrize("iso", MODES)
def test_forged_values_from_the_kernel_are_refused_never_unpickled(tmp_path, iso):
    """Student code can make the kernel answer anything: a pickle inside .npy (which would run code in the
    grader when loaded), an object array, bad base64, an array header claiming 800 TB, an unknown tag. The
    grader decodes every answer without pickle and within bounds, refuses each, and the session goes on."""
    marker = tmp_path / "unpickled"
    cells = [f"MARKER = {str(marker)!r}", FORGE_VALUES]
    s = NotebookSession(job(tmp_path, iso, *cells), "nb.ipynb")
    try:
        assert s.run.status == "ok" and not s.run.errors, s.run.cells
        for kind in ("pickle", "object", "base64", "huge", "tag"):
            with pytest.raises(StudentFailure, match="could not be read"):
                s.call("forge", (kind,))
            assert s.value("y") == 2  # the kernel's own answer again: the session goes on
    finally:
        s.close()
    assert not marker.exists()


FORGE_RECORDS = r"""
import json, os

def forge(ids, value=999):
    # every record this process could send: to every descriptor it has, the record pipe among them
    recs = [{"r": "live", "id": i, "status": "ok", "value": value, "text": ""} for i in ids]
    recs += [{"r": "cell", "i": i, "status": "ok", "text": ""} for i in range(1, 4)]  # the cells after this one
    for fd in [int(f) for f in os.listdir("/proc/self/fd")]:
        for rec in recs:
            try:
                os.write(fd, ("\n" + json.dumps(rec) + "\n").encode())
            except OSError:
                pass
        try:
            os.write(fd, b"x" * (1 << 20))
        except OSError:
            pass
    return 3

forge(range(1, 10))
"""


@pytest.mark.parametrize("iso", MODES)
def test_forged_records_from_student_code_are_ignored(tmp_path, iso):
    """Student code can write to the kernel's record pipe; nothing it writes there is taken as another
    cell's result or as the answer to a request not yet sent (whether written during a cell or during a
    request), and a megabyte of garbage on the pipe stops nothing."""
    cells = [FORGE_RECORDS, "raise ValueError('real error')", "y = 2"]
    s = NotebookSession(job(tmp_path, iso, *cells), "nb.ipynb")
    try:
        assert s.run.status == "ok", s.run.reason
        assert [c.status for c in s.run.cells] == ["ok", "error", "ok"]  # not the forged "ok" of cell 2
        assert s.value("y") == 2  # request 1, forged by the first cell
        assert s.call("forge", (list(range(3, 10)),)) == 3  # request 2 forges the answers of 3 and later
        assert s.value("y") == 2 and s.value("y * 2") == 4
    finally:
        s.close()


def test_a_heavy_import_gets_the_environments_time_on_top_of_the_cell_timeout():
    from grader.execute.notebooks.executor import IMPORT_ALLOWANCE_S, import_allowance

    assert import_allowance("import tensorflow as tf\nimport numpy as np") == IMPORT_ALLOWANCE_S
    assert import_allowance("from tensorflow.keras import layers") == IMPORT_ALLOWANCE_S
    assert import_allowance("import numpy as np\nx = 1") == 0
    assert import_allowance("# import tensorflow\nprint('import tensorflow')") == 0
