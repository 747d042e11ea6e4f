"""The grader's cgroups: where they go, what they bound, that every sandbox process is in one, that
none outlives its notebook or its grader, and what is said where there are none (issue 25.3)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from helpers import bwrap_problem, notebook_bytes, run_live

from grader.execute.isolation import backend, cgroups
from grader.execute.isolation.cgroups import Bounds, CgroupTree, _Leg
from grader.execute.notebooks import NotebookJob

BWRAP_PROBLEM = bwrap_problem()
TREE = cgroups.tree() if BWRAP_PROBLEM is None else "no bubblewrap"
needs_cgroups = pytest.mark.skipif(isinstance(TREE, str), reason=f"cgroups: {TREE}")


def run(tmp_path: Path, *cells: str, values=(), **kw):
    """The cells in a live session (closed on return): ``(run, {name: value})`` for ``values``."""
    sub = tmp_path / f"sub{len(list(tmp_path.glob('sub*')))}"
    sub.mkdir()
    (sub / "nb.ipynb").write_bytes(notebook_bytes(*cells))
    return run_live(NotebookJob(notebook=str(sub / "nb.ipynb"), submission_dir=str(sub), isolation="bwrap", **kw),
                    *values)


def cgroup_of(pid: int | str, controller: str = "memory") -> str:
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:  # a process that has just exited
        return ""
    for line in text.splitlines():
        _hid, controllers, path = line.split(":", 2)
        if controller in controllers.split(",") or (not controllers and controller == ""):
            return path
    return ""


@needs_cgroups
def test_every_process_of_a_notebook_is_in_the_notebooks_own_cgroup(tmp_path):
    cells = ["import subprocess\n"
             "mine = open('/proc/self/cgroup').read()\n"
             "child = subprocess.run(['cat', '/proc/self/cgroup'], capture_output=True, text=True).stdout\n"
             "same = int(mine == child)\n"
             "lines = mine.splitlines()\n"
             "memory = [ln for ln in lines if ':memory:' in ln] or [ln for ln in lines if ln.startswith('0::')]\n"
             "named = int('/nb-' in memory[0])"]
    r, got = run(tmp_path, *cells, values=["same", "named"])
    assert got == {"same": 1, "named": 1}, r.stdout_tail
    zygote = backend("bwrap")._zygotes[0]
    assert zygote.cgroup is not None and zygote.cgroup.bounds.memory_bytes == 1 << 30
    for pid in zygote.cgroup.pids():  # the zygote's bubblewrap and the zygote: all in the zygote's cgroup
        assert "/kernels-0-" in cgroup_of(pid), cgroup_of(pid)


@needs_cgroups
def test_a_notebooks_processes_in_sessions_of_their_own_compete_for_the_processors_as_one(tmp_path):
    """A red-team notebook forked 70 busy processes, each after setsid() (which escapes the kernel's per-session
    fairness), and another student's model server, starved, failed to start: every process a notebook starts is
    in the notebook's own cgroup of the cpu controller too, where the machine has one (CI and here: cgroup v1)."""
    mounts = cgroups._mounts()
    if not any((t == "cgroup" and "cpu" in opts) or (t == "cgroup2" and "cpu" in (Path(p) / "cgroup.controllers")
                                                     .read_text().split()) for p, _, t, opts in mounts):
        pytest.skip("no cpu controller on this machine")
    cells = ["import os\n"
             "r, w = os.pipe()\n"
             "pid = os.fork()\n"
             "if pid == 0:\n"
             "    os.setsid()\n"
             "    os.write(w, open('/proc/self/cgroup').read().encode())\n"
             "    os._exit(0)\n"
             "os.waitpid(pid, 0)\n"
             "lines = os.read(r, 65536).decode().splitlines()\n"
             "cpu = [ln for ln in lines if 'cpu' in ln.split(':')[1].split(',')] or [ln for ln in lines if ln.startswith('0::')]\n"
             "named = int(len(cpu) == 1 and '/nb-' in cpu[0])"]
    r, got = run(tmp_path, *cells, values=["named"])
    assert got == {"named": 1}, r.stdout_tail
    zygote = backend("bwrap")._zygotes[0]
    for pid in zygote.cgroup.pids():
        assert "/kernels-0-" in cgroup_of(pid, "cpu"), cgroup_of(pid, "cpu")


@needs_cgroups
def test_the_model_server_runs_in_its_own_bounded_cgroup():
    from grader.execute.modelserver import MODEL_MEMORY, MODEL_TMP, close_model_server, get_model_server

    server = get_model_server("bwrap", 0)
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit() and "/models-0-" in cgroup_of(p)]
        assert server.service.pid in {int(p) for p in pids}
        assert any(b"model_server.py" in Path(f"/proc/{p}/cmdline").read_bytes() for p in pids if p != "self")
        path = next(leg.path for root in TREE.roots for leg in [root] if "memory" in leg.controllers)
        limits = [p for p in path.iterdir() if p.name.startswith("models-0-")]
        assert len(limits) == 1
        limit = (limits[0] / ("memory.max" if (limits[0] / "memory.max").exists() else "memory.limit_in_bytes"))
        assert int(limit.read_text()) == MODEL_MEMORY + MODEL_TMP
    finally:
        close_model_server()
    assert not [p for root in TREE.roots for p in root.path.iterdir() if p.name.startswith("models-")]


@needs_cgroups
def test_a_live_session_stopped_by_its_memory_bound_says_so_and_leaves_no_cgroup(tmp_path):
    from grader.execute.notebooks.session import NotebookSession, StudentFailure

    sub = tmp_path / "live"
    sub.mkdir()
    (sub / "nb.ipynb").write_bytes(notebook_bytes(
        "import os, mmap\ndef hoard():\n    fds = []\n    for i in range(12):\n"
        "        fd = os.memfd_create('m')\n        os.ftruncate(fd, 255 << 20)\n"
        "        m = mmap.mmap(fd, 255 << 20)\n        m.write(b'x' * (255 << 20))\n        m.close()\n"
        "        fds.append(fd)\n    return len(fds)"))
    job = NotebookJob(notebook=str(sub / "nb.ipynb"), submission_dir=str(sub), isolation="bwrap",
                      memory_bytes=1 << 30, scratch_bytes=128 << 20)
    s = NotebookSession(job, "nb.ipynb")
    try:
        with pytest.raises(StudentFailure, match="held more than 1.12 GiB of memory in all"):
            s.call("hoard", timeout=60)
    finally:
        s.close()
    assert not [p for root in TREE.roots for p in root.path.iterdir() if p.name.startswith("nb-")]


@needs_cgroups
def test_trees_of_dead_graders_are_swept_and_live_ones_kept():
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    ns = cgroups._pid_namespace()
    stale = [root.path.parent / f"mlgrade-{dead.pid}-{ns}-0123456789ab" for root in TREE.roots]
    other_ns = [root.path.parent / f"mlgrade-{dead.pid}-1-0123456789ab" for root in TREE.roots]
    for path in stale + other_ns:
        path.mkdir()
        (path / "nb-0123456789ab").mkdir()
    try:
        fresh = CgroupTree([_Leg(root.path.parent, root.version, root.controllers) for root in TREE.roots])
        fresh.close()
        assert not any(p.exists() for p in stale)
        assert all(p.exists() for p in other_ns)  # a pid of another PID namespace says nothing here
        assert all(root.path.exists() for root in TREE.roots)  # this process's own tree, alive, is kept
    finally:
        for path in other_ns:
            for child in path.iterdir():
                if child.is_dir():
                    child.rmdir()
            path.rmdir()


def test_v2_limits_are_written_where_the_kernel_reads_them(tmp_path):
    """cgroup v2 (CI and this machine mount v1): the files a v2 cgroup is bounded through."""
    leg = _Leg(tmp_path, 2, frozenset({"memory", "pids"}))
    for name in ("memory.max", "memory.swap.max", "memory.oom.group", "pids.max", "cgroup.subtree_control"):
        (tmp_path / name).write_text("")
    cgroups._limit(leg, Bounds(3 << 30, 256))
    cgroups._enable(tmp_path, leg.controllers)
    got = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert got == {"memory.max": str(3 << 30), "memory.swap.max": "0", "memory.oom.group": "1", "pids.max": "256",
                   "cgroup.subtree_control": "+memory +pids"}


def test_without_cgroups_the_sandbox_still_runs_and_says_what_is_not_bounded(tmp_path):
    if BWRAP_PROBLEM is not None:
        pytest.skip(f"bubblewrap: {BWRAP_PROBLEM}")
    code = ("import sys; sys.path.insert(0, sys.argv[1])\n"
            "from pathlib import Path\nfrom helpers import notebook_bytes\n"
            "from grader.execute.isolation import backend\nfrom grader.execute.notebooks import NotebookJob, get_runner\n"
            "sub = Path(sys.argv[2]); sub.mkdir()\n(sub / 'nb.ipynb').write_bytes(notebook_bytes('print(6 * 7)'))\n"
            "r = get_runner().run(NotebookJob(notebook=str(sub / 'nb.ipynb'), submission_dir=str(sub), isolation='bwrap'))\n"
            "print(r.status, r.stdout_tail.strip())\nprint(backend('bwrap').unbounded())\n")
    done = subprocess.run([sys.executable, "-c", code, str(ROOT / "tests"), str(tmp_path / "sub")],
                          env={**os.environ, "MLGRADE_NO_CGROUPS": "1", "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    status, said = done.stdout.strip().splitlines()[-2:]
    assert status == "ok 42"
    assert said.startswith("no memory cgroup here (cgroups were turned off") and "memfd" in said, said
    assert "not bounded" in said


def test_grading_says_what_is_not_bounded_when_it_starts(monkeypatch, capsys):
    from grader.execute.isolation import for_command as isolation_for

    if BWRAP_PROBLEM is not None:
        pytest.skip(f"bubblewrap: {BWRAP_PROBLEM}")
    monkeypatch.setattr(cgroups, "_TREE", "no memory cgroup controller is mounted")
    assert isolation_for("bwrap", "grade") == "bwrap"
    assert "mlgrade: note: no memory cgroup here (no memory cgroup controller is mounted)" in capsys.readouterr().err


@needs_cgroups
def test_closing_a_tree_kills_what_is_left_in_it_at_once():
    """A process still in one of the tree's cgroups at exit is killed, not waited for (a worker's exit
    waited 1 s for its zygote this way)."""
    import time

    tree = CgroupTree([_Leg(root.path.parent, root.version, root.controllers) for root in TREE.roots])
    cg = tree.new("kernels", Bounds(512 * 1024**2, 64))
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        for leg in cg.legs:
            (leg.path / "cgroup.procs").write_text(f"{sleeper.pid}\n")
        started = time.monotonic()
        tree.close()
        took = time.monotonic() - started
        assert sleeper.wait(timeout=5) == -9
        assert took < 1.0  # the old close waited 1 s before killing
        assert not any(leg.path.exists() for leg in cg.legs)
    finally:
        sleeper.kill()
