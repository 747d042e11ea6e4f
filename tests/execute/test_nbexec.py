"""Notebook execution: limits, errors, determinism, Colab shims, probes — in every isolation mode."""

from __future__ import annotations

import base64
import io
import os
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import isolation_modes, notebook_bytes

from grader.checks.notebooks import cell_errors, load_probe
from grader.execute.notebooks import NotebookJob, NotebookRun, ProbeSpec, get_runner

MODES = isolation_modes()


def run(tmp_path: Path, isolation: str, *cells: str, probe: ProbeSpec | None = None, files=None, **limits):
    sub = tmp_path / "sub"
    sub.mkdir(exist_ok=True)
    os.chmod(tmp_path, 0o755)
    os.chmod(sub, 0o755)
    for name, data in (files or {}).items():
        (sub / name).write_bytes(data)
        os.chmod(sub / name, 0o644)
    nb = sub / "nb.ipynb"
    nb.write_bytes(notebook_bytes(*cells))
    job = NotebookJob(notebook=str(nb), submission_dir=str(sub), isolation=isolation, probe=probe,
                      seed=limits.pop("seed", 7), **limits)
    return get_runner().run(job)


@pytest.mark.parametrize("iso", MODES)
def test_errors_do_not_stop_later_cells(tmp_path, iso):
    r = run(tmp_path, iso, "x = 1", "raise ValueError('boom')", "y = x + 1", probe=ProbeSpec(values={"y": ["y"]}))
    assert r.status == "ok"
    assert [(c.index, c.status, c.ename) for c in r.cells] == [(0, "ok", ""), (1, "error", "ValueError"), (2, "ok", "")]
    assert load_probe(r)["y"].value == 2


@pytest.mark.parametrize("iso", MODES)
def test_injected_seed_makes_runs_deterministic(tmp_path, iso):
    cells = ["import numpy as np, random", "a = np.random.rand(3)", "b = random.random()"]
    probe = ProbeSpec(values={"a": ["a"], "b": ["b"]})
    r1 = run(tmp_path, iso, *cells, probe=probe, seed=123)
    r2 = run(tmp_path, iso, *cells, probe=probe, seed=123)
    r3 = run(tmp_path, iso, *cells, probe=probe, seed=124)
    a1, a2, a3 = (load_probe(r)["a"].value for r in (r1, r2, r3))
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(a1, np.random.RandomState(123).rand(3))
    assert not np.array_equal(a1, a3)
    assert load_probe(r1)["b"].value == load_probe(r2)["b"].value


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
    r = run(tmp_path, iso, "while True:\n    pass", "z = 5", probe=ProbeSpec(values={"z": ["z"]}), cell_timeout=2)
    assert time.monotonic() - t < 15
    assert r.cells[0].status == "timeout" and "longer than 2 s" in r.cells[0].evalue
    assert r.cells[1].status == "ok" and load_probe(r)["z"].value == 5


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
    r = run(tmp_path, iso, "import numpy as np\ntry:\n    a = np.ones(5 * 10**9)\n    got = 0\nexcept MemoryError:\n    got = 1",
            probe=ProbeSpec(values={"got": ["got"]}), memory_bytes=1536 * 1024**2)
    assert r.status == "ok"
    assert load_probe(r)["got"].value == 1


@pytest.mark.parametrize("iso", MODES)
def test_a_50_million_character_line_is_cut_not_hung(tmp_path, iso):
    t = time.monotonic()
    r = run(tmp_path, iso, "print('x' * 50_000_000)", "done = 1", probe=ProbeSpec(values={"done": ["done"]}),
            output_chars=10_000)
    assert time.monotonic() - t < 30
    assert r.status == "ok" and load_probe(r)["done"].value == 1
    assert len(r.stdout_tail) <= 2000


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
    r = run(tmp_path, iso, *cells, files={"data.txt": b"1,2,3\n"}, probe=ProbeSpec(values={"found": ["found"]}))
    assert time.monotonic() - t < 20  # no 8-second pip retries
    assert r.status == "ok"
    assert [c.status for c in r.cells] == ["ok"] * len(cells), r.cells
    assert load_probe(r)["found"].value == 1


@pytest.mark.parametrize("iso", MODES)
def test_kernel_writes_do_not_change_the_submission(tmp_path, iso):
    r = run(tmp_path, iso, "open('data.txt', 'w').write('changed')\nimport os\nos.remove('data.txt')",
            files={"data.txt": b"original"})
    assert r.cells[0].status == "ok"
    assert (tmp_path / "sub" / "data.txt").read_bytes() == b"original"


@pytest.mark.parametrize("iso", MODES)
def test_probe_reads_names_and_calls_functions(tmp_path, iso):
    x = tmp_path / "x.npy"
    np.save(x, np.arange(6.0).reshape(3, 2))
    cells = [
        "import numpy as np\nclass NN:\n    pass\nnn = NN()\nnn.w = np.eye(2)\nlabel = 'text'",
        "def double(a, d):\n    return {'a': a * 2, 'k': d['k'] + 1}, 3.5",
        "def broken(a):\n    raise KeyError('nope')",
    ]
    probe = ProbeSpec(
        values={"w": ["missing_name", "nn.w"], "label": ["label"], "absent": ["nothing_here"]},
        calls=[
            {"key": "d", "function": "double", "args": [{"npy": "x.npy"}, {"dict": {"k": {"float": 1.5}}}]},
            {"key": "b", "function": "broken", "args": [{"npy": "x.npy"}]},
            {"key": "u", "function": "undefined_fn", "args": []},
        ],
        inputs={"x.npy": str(x)},
    )
    got = load_probe(run(tmp_path, iso, *cells, probe=probe))
    np.testing.assert_array_equal(got["w"].value, np.eye(2))
    assert got["w@name"].name == "nn.w"
    assert got["label"].kind == "error" and "could not convert" in got["label"].error
    assert got["absent"].kind == "error" and "nothing_here" in got["absent"].error
    assert got["d"].kind == "seq"
    np.testing.assert_array_equal(got["d.0.a"].value, np.arange(6.0).reshape(3, 2) * 2)
    assert got["d.0.k"].value == 2.5 and got["d.1"].value == 3.5
    assert got["b"].kind == "error" and "KeyError" in got["b"].error
    assert got["u"].kind == "error" and "undefined_fn" in got["u"].error


def test_probe_values_are_loaded_without_pickle():
    """A kernel that sends a pickled object array where a number is expected gets nothing back."""
    buf = io.BytesIO()
    np.save(buf, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    evil = base64.b64encode(buf.getvalue()).decode()
    probe = {"manifest": {"v": {"kind": "array", "file": "a"}, "w": {"kind": "array", "file": "../../etc/passwd"},
                          "x": {"kind": "array", "file": "b"}, "s": {"kind": "seq", "length": 10**12}},
             "arrays": {"a": evil, "b": "not base64!"}}
    got = load_probe(NotebookRun("ok", probe_status="ok", probe=probe))
    assert got["v"].value is None and "unreadable" in got["v"].error
    assert got["w"].value is None and "missing" in got["w"].error
    assert got["x"].value is None and "unreadable" in got["x"].error
    assert got["s"].keys == []


@pytest.mark.parametrize("iso", MODES)
def test_forged_records_from_student_code_are_ignored(tmp_path, iso):
    """Student code can write to the kernel's record pipe; nothing it writes there is taken as the
    grader's probe, another cell's result, or read beyond the size bound."""
    cells = [
        "import os, json\n"
        "fds = [int(f) for f in os.listdir('/proc/self/fd')]\n"
        "fake = {'r': 'probe', 'select': None, 'status': 'ok', 'manifest': {'y': {'kind': 'array', 'file': 'values-1.npy'}},"
        " 'arrays': {}}\n"
        "for fd in fds:\n"
        "    for rec in (fake, {'r': 'cell', 'i': 1, 'status': 'ok'}):\n"
        "        try:\n"
        "            os.write(fd, (json.dumps(rec) + '\\n').encode())\n"
        "        except OSError:\n"
        "            pass\n"
        "    try:\n"
        "        os.write(fd, b'x' * (1 << 20))\n"
        "    except OSError:\n"
        "        pass",
        "raise ValueError('real error')",
        "y = 2",
    ]
    r = run(tmp_path, iso, *cells, probe=ProbeSpec(values={"y": ["y"]}))
    assert r.status == "ok", r.reason
    assert [c.status for c in r.cells] == ["ok", "error", "ok"]
    assert load_probe(r)["y"].value == 2


def test_a_heavy_import_gets_the_environments_time_on_top_of_the_cell_timeout():
    from grader.execute.notebooks.executor import IMPORT_ALLOWANCE_S, import_allowance

    assert import_allowance("import tensorflow as tf\nimport numpy as np") == IMPORT_ALLOWANCE_S
    assert import_allowance("from tensorflow.keras import layers") == IMPORT_ALLOWANCE_S
    assert import_allowance("import numpy as np\nx = 1") == 0
    assert import_allowance("# import tensorflow\nprint('import tensorflow')") == 0
