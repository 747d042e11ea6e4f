"""The portable path: what Windows, macOS and Colab run, tested here with POSIX made unavailable.

Real Windows and macOS are not available on this machine: the Windows-only branches (job
objects, CTRL_BREAK_EVENT) are checked against stand-ins for pywin32 and ``os.kill``; everything
else runs for real, on the same code path a Windows laptop takes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT
from helpers import bwrap_problem, fresh_env, notebook_bytes

from grader.core import portable
from grader.execute.notebooks import NotebookJob, get_runner

SAMPLES = [(p, ROOT / "rubric.yaml") for p in sorted((ROOT / "submissions").glob("*.zip"))] + [
    (p, ROOT / "rubrics" / f"{p.parent.name}.yaml") for p in sorted((ROOT / "rubrics" / "samples").glob("*/*.zip"))]


def run(tmp_path: Path, *cells: str, **kw):
    sub = tmp_path / f"sub{len(list(tmp_path.glob('sub*')))}"
    sub.mkdir()
    (sub / "nb.ipynb").write_bytes(notebook_bytes(*cells))
    return get_runner().run(NotebookJob(notebook=str(sub / "nb.ipynb"), submission_dir=str(sub), isolation="none",
                                        **kw))


# --------------------------------------------------------------------------- the same scores without POSIX

@pytest.mark.slow
def test_portable_path_without_posix_modules_scores_like_the_sandbox(tmp_path):
    """Every sample submission, checked by `mlgrade check --isolation none` in an environment where
    `resource` does not exist, mlgrade's code may not import fcntl/termios/pty nor call select on pipes,
    and os.fork/os.killpg are gone: the same scores, question by question, as the sandboxed path."""
    if (problem := bwrap_problem()) is not None:  # CI: an error, the comparison must run for real
        pytest.skip(f"bubblewrap: {problem}")
    env_dir = tmp_path / "env"
    python = fresh_env(env_dir, [str(ROOT), "import nonposix"])
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    shutil.copy(ROOT / "tests" / "nonposix.py", site / "nonposix.py")
    (site / "nonposix_root.txt").write_text(str(ROOT))
    probe = subprocess.run([str(python), "-c", "import os, importlib.util\n"
                            "try:\n    import resource; print('resource')\nexcept ImportError: pass\n"
                            "print(hasattr(os, 'fork'), hasattr(os, 'killpg'))\n"
                            "from grader.core.portable import has_rlimits; print(has_rlimits())"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert probe.stdout.split() == ["False", "False", "False"], probe.stdout + probe.stderr

    driver = tmp_path / "driver.py"
    out = tmp_path / "out"
    out.mkdir()
    jobs = [(str(z), str(r), str(out / f"{i}.json")) for i, (z, r) in enumerate(SAMPLES)]
    driver.write_text(
        "import json, sys\nfrom grader.cli.main import main\n"
        f"for sub, rubric, dest in {jobs!r}:\n"
        "    code = main(['check', sub, '--rubric', rubric, '--isolation', 'none', '--json', dest])\n"
        "    assert code == 0, (sub, code)\n")
    res = subprocess.run([str(python), str(driver)], capture_output=True, text=True, cwd=tmp_path, timeout=1500,
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "AssertionError: mlgrade called" not in res.stdout + res.stderr
    with_notebooks = [z for z, _ in SAMPLES if zipfile.is_zipfile(z)
                      and any(n.lower().endswith(".ipynb") for n in zipfile.ZipFile(z).namelist())]
    # said once per report, and only where a notebook ran
    assert res.stdout.count("your notebooks ran without the sandbox") == len(with_notebooks)
    assert "memory is not limited on this computer" in res.stdout  # no resource: said, not hidden

    from grader.render import ClassReport, render_one
    from grader.rubric import load_rubric
    from grader.student.selfcheck import self_check

    for i, (zip_path, rubric_path) in enumerate(SAMPLES):
        portable_scores = {t["number"]: t["score"] for t in json.loads((out / f"{i}.json").read_text())["tests"]}
        rubric = load_rubric(rubric_path)
        sandboxed = self_check(zip_path, rubric, "bwrap", remember=False).result
        # the same report `mlgrade check --json` writes (class-relative questions pending in a self-check)
        page = json.loads(render_one("gradescope", sandboxed, ClassReport(rubric, [sandboxed], self_check=True)))
        assert portable_scores == {t["number"]: t["score"] for t in page["tests"]}, zip_path.name


# --------------------------------------------------------------------------- the supervisor on threads

def test_a_cell_over_its_time_is_interrupted_and_later_cells_run(tmp_path):
    r = run(tmp_path, "import time\nwhile True: time.sleep(0.01)", "x = 42", cell_timeout=2)
    assert [c.status for c in r.cells] == ["timeout", "ok"]
    assert "interrupted" in r.cells[0].evalue


def test_a_cell_ignoring_the_interrupt_is_killed_with_what_it_started(tmp_path):
    import threading
    import time

    pidfile = tmp_path / "child.pid"
    r = run(tmp_path, "import os, signal, subprocess, sys, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                      "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
                      f"open({str(pidfile)!r}, 'w').write(str(p.pid))\n"
                      "while True: pass", cell_timeout=1, notebook_timeout=30)
    assert r.cells[0].status == "timeout" and "ignored the interrupt" in r.cells[0].evalue
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 10
    while portable.pid_alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not portable.pid_alive(child)  # what the cell started went with it
    deadline = time.monotonic() + 10
    while [t for t in threading.enumerate() if t.name.startswith("mlgrade-kernel")] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("mlgrade-kernel")]


def test_a_kernel_flooding_its_record_pipe_is_bounded(tmp_path):
    """200 MB of garbage on the record pipe: dropped in bounded pieces, the cell's own record still counts."""
    r = run(tmp_path, "import os\nfor _ in range(200): os.write(1, b'x' * (1 << 20))\nprint('done')",
            "y = 1", cell_timeout=60)
    assert r.status == "ok", r.reason
    assert [c.status for c in r.cells] == ["ok", "ok"]


def test_no_network_in_a_portable_notebook(tmp_path):
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    hits = []

    def accept():
        try:
            hits.append(srv.accept())
        except OSError:  # closed below, with no connection: what this test wants
            pass

    threading.Thread(target=accept, daemon=True).start()
    r = run(tmp_path, f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)",
            "import urllib.request\nurllib.request.urlopen('http://example.com', timeout=2)")
    srv.close()
    assert [c.status for c in r.cells] == ["error", "error"]
    assert "no network" in r.cells[0].evalue and "no network" in r.cells[1].evalue
    assert hits == []


def test_mlgrade_check_inside_a_graded_notebook_does_nothing(tmp_path):
    """A student left `mlgrade.check()` (and `!mlgrade check`) in the notebook: no recursion, no error."""
    r = run(tmp_path, "import mlgrade\nmlgrade.check('x.zip')\nprint(mlgrade.__version__)", "!mlgrade check x.zip")
    assert [c.status for c in r.cells] == ["ok", "ok"], r.cells
    assert "skipped while mlgrade grades this notebook" in r.stdout_tail


# --------------------------------------------------------------------------- Windows branches, with stand-ins

def test_interrupts_are_ctrl_break_on_windows_and_sigint_elsewhere(monkeypatch):
    sent = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: sent.append((pid, sig)))
    proc = types.SimpleNamespace(pid=4242)
    tree = portable.ProcessTree.__new__(portable.ProcessTree)
    tree.proc, tree.job = proc, None
    tree.interrupt()
    assert sent == [(4242, signal.SIGINT)]
    monkeypatch.setattr(portable, "IS_WINDOWS", True)
    monkeypatch.setattr(signal, "CTRL_BREAK_EVENT", 1, raising=False)
    tree.interrupt()
    assert sent[-1] == (4242, 1)  # os.kill(pid, SIGINT) would TerminateProcess on Windows


def test_windows_job_object_limits_memory_and_processes_and_kills_the_tree(monkeypatch):
    """winjob against a stand-in of pywin32's documented API: the flags, the limits, the assignment."""
    calls = []
    info = {"BasicLimitInformation": {"LimitFlags": 0, "ActiveProcessLimit": 0}, "JobMemoryLimit": 0}
    win32job = types.ModuleType("win32job")
    win32job.JobObjectExtendedLimitInformation = 9
    win32job.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x2000
    win32job.JOB_OBJECT_LIMIT_JOB_MEMORY = 0x200
    win32job.JOB_OBJECT_LIMIT_ACTIVE_PROCESS = 0x8

    class Handle:
        def Close(self):  # noqa: N802 - pywin32's name
            calls.append("close")

    win32job.CreateJobObject = lambda sa, name: calls.append(("create", name)) or "job"
    win32job.QueryInformationJobObject = lambda job, cls: info
    win32job.SetInformationJobObject = lambda job, cls, data: calls.append(("set", cls, json.dumps(data)))
    win32job.AssignProcessToJobObject = lambda job, h: calls.append(("assign", job))
    win32job.TerminateJobObject = lambda job, code: calls.append(("terminate", job))
    win32api = types.ModuleType("win32api")
    win32api.OpenProcess = lambda access, inherit, pid: calls.append(("open", access, pid)) or Handle()
    win32con = types.ModuleType("win32con")
    win32con.PROCESS_SET_QUOTA, win32con.PROCESS_TERMINATE = 0x100, 0x1
    monkeypatch.setitem(sys.modules, "win32job", win32job)
    monkeypatch.setitem(sys.modules, "win32api", win32api)
    monkeypatch.setitem(sys.modules, "win32con", win32con)
    from grader.core import winjob

    job, why = winjob.contain(777, 2 * 1024**3, 64)
    assert job == "job" and why == ""
    assert info["BasicLimitInformation"]["LimitFlags"] == 0x2000 | 0x200 | 0x8
    assert info["JobMemoryLimit"] == 2 * 1024**3 and info["BasicLimitInformation"]["ActiveProcessLimit"] == 64
    assert ("open", 0x101, 777) in calls and ("assign", "job") in calls
    winjob.terminate(job)
    assert ("terminate", "job") in calls


def test_without_pywin32_windows_keeps_time_limits_and_says_memory_is_not_limited(monkeypatch):
    from grader.core import winjob

    monkeypatch.setitem(sys.modules, "win32job", None)
    assert winjob.contain(1, 1024, 1) == (None, "pywin32 is not installed")
    monkeypatch.setattr(portable, "IS_WINDOWS", True)
    assert "not limited" in portable.memory_limit_words(2 * 1024**3)


# --------------------------------------------------------------------------- small portable helpers

def test_on_windows_children_start_from_the_base_interpreter_not_the_venv_redirector(monkeypatch):
    monkeypatch.setattr(sys, "_base_executable", "/base/python", raising=False)
    monkeypatch.setattr(sys, "executable", "/venv/Scripts/python")
    assert portable.python_for_children() == ("/venv/Scripts/python", {})
    monkeypatch.setattr(portable, "IS_WINDOWS", True)
    assert portable.python_for_children() == ("/base/python", {"__PYVENV_LAUNCHER__": "/venv/Scripts/python"})


def test_names_windows_cannot_hold_are_named():
    assert "device name" in portable.windows_name_problem("con.txt")
    assert "device name" in portable.windows_name_problem("NUL")
    assert "character" in portable.windows_name_problem("a:b.png")
    assert "space or a dot" in portable.windows_name_problem("notes.")
    assert portable.windows_name_problem("xor.ipynb") is None


def test_pid_alive_probes_without_signalling():
    assert portable.pid_alive(os.getpid())
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    assert not portable.pid_alive(p.pid)


def test_create_file_never_reuses_a_name(tmp_path):
    fd = portable.create_file(tmp_path / "a")
    os.close(fd)
    with pytest.raises(FileExistsError):
        portable.create_file(tmp_path / "a")


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="process groups are POSIX")
def test_a_reaped_child_is_never_signalled_by_its_old_pid(monkeypatch):
    """Pids wrap (at 32,768 on many machines): once a child is reaped its pid may lead another process's
    group, and kill_tree (as root) would kill that group. It signals the group only while the child is
    unreaped, and `exited` waits for a child without reaping it."""
    from grader.core.portable import exited, kill_tree, popen_kwargs

    sent = []
    real = os.killpg
    monkeypatch.setattr(os, "killpg", lambda pgid, sig: (sent.append(pgid), real(pgid, sig)))
    done = subprocess.Popen([sys.executable, "-c", "pass"], **popen_kwargs())
    assert exited(done, 30) and done.returncode is None  # exited, its pid still its own
    kill_tree(done)
    assert sent == [done.pid] and done.returncode == 0
    kill_tree(done)  # a second close (an exit handler, a replaced helper) long after: nothing is signalled
    reaped = subprocess.Popen([sys.executable, "-c", "pass"], **popen_kwargs())
    reaped.wait()
    kill_tree(reaped)
    assert sent == [done.pid]
