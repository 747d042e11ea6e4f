"""The isolation backends: what a notebook can write, what survives it, the staging, the service clock.

Every sandbox claim of SECURITY.md that is not about one hostile submission is tested here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT
from helpers import NOTEBOOK_VALUE_RUBRIC, bwrap_problem, notebook_bytes, run_live

from grader.execute.isolation import ROLE_KERNELS, backend, resolve, sandbox_uid
from grader.execute.isolation.service import ServiceError, ServiceProcess
from grader.execute.isolation.staging import Staging
from grader.execute.notebooks import NotebookJob

BWRAP_PROBLEM = bwrap_problem()  # with MLGRADE_REQUIRE_BWRAP=1 (CI) a broken sandbox raises
needs_bwrap = pytest.mark.skipif(BWRAP_PROBLEM is not None, reason=f"bubblewrap: {BWRAP_PROBLEM}")


def run(tmp_path: Path, *cells: str, iso: str = "bwrap", files=None, values=(), **kw):
    """The cells run in a live session, as grading runs them: ``(run, {name: value})`` for ``values``, read
    from the notebook's namespace; the session is closed (its kernel and all it started are gone) on return."""
    sub = tmp_path / f"sub{len(list(tmp_path.glob('sub*')))}"
    sub.mkdir()
    for name, data in (files or {}).items():
        (sub / name).write_bytes(data)
    (sub / "nb.ipynb").write_bytes(notebook_bytes(*cells))
    return run_live(NotebookJob(notebook=str(sub / "nb.ipynb"), submission_dir=str(sub), isolation=iso, **kw),
                    *values)


# --------------------------------------------------------------------------- interface

def test_one_backend_object_per_name_with_its_guarantees():
    assert backend("none").name == "none" and not backend("none").isolated
    assert backend("bwrap").name == "bwrap" and backend("bwrap").isolated
    assert "without isolation" in backend("none").guarantees and "bubblewrap" in backend("bwrap").guarantees
    assert resolve("none") is backend("none")
    with pytest.raises(ValueError):
        backend("docker")


def test_no_module_compares_the_isolation_string():
    """The backend owns its guarantees: no `== "bwrap"` decisions spread over the code."""
    offenders = []
    for path in (ROOT / "grader").rglob("*.py"):
        text = path.read_text()
        for needle in ('== "bwrap"', "!= \"bwrap\"", "== 'bwrap'", 'isolation == "none"'):
            if needle in text:
                offenders.append(f"{path.relative_to(ROOT)}: {needle}")
    assert offenders == []


def test_a_service_that_stops_answering_is_killed_at_its_deadline(tmp_path):
    script = "import sys, time\nsys.stdin.readline(); print('{}', flush=True)\nsys.stdin.readline(); time.sleep(600)"
    svc = ServiceProcess([sys.executable, "-c", script], Staging(), env=None, uid=None, startup_timeout=10)
    t = time.monotonic()
    with pytest.raises(ServiceError, match="stopped answering"):
        svc.request({"op": "x"}, timeout=1)
    assert time.monotonic() - t < 5
    assert not svc.alive()


def test_a_service_sending_half_a_line_forever_is_not_waited_for():
    script = ("import sys, time\nsys.stdin.readline(); print('{}', flush=True)\n"
              "sys.stdin.readline(); sys.stdout.write('{\"a\": '); sys.stdout.flush(); time.sleep(600)")
    svc = ServiceProcess([sys.executable, "-c", script], Staging(), env=None, uid=None, startup_timeout=10)
    with pytest.raises(ServiceError):
        svc.request({"op": "x"}, timeout=1)
    assert not svc.alive()


def test_staging_names_are_unpredictable_and_private(tmp_path):
    st = Staging()
    try:
        a, b = st.new_dir(), st.new_dir()
        assert len(a.host.name) == 32 and a.host.name != b.host.name
        assert oct(st.private.stat().st_mode & 0o777) == "0o700"
        assert oct(st.root.stat().st_mode & 0o777) == "0o711"  # enterable by the sandbox, not listable
        src = tmp_path / "f.txt"
        src.write_text("x")
        link = tmp_path / "link"
        link.symlink_to("/etc/passwd")
        (tmp_path / "d").mkdir()
        tree = st.put_tree(tmp_path, owner=None)
        assert (tree.host / "f.txt").read_text() == "x"
        assert not (tree.host / "link").exists()  # symlinks are never staged, never followed
    finally:
        st.close()
    assert not st.private.exists()


# --------------------------------------------------------------------------- the bubblewrap sandbox

WRITABLE_SCAN = r"""
import os, stat
allowed = ('/tmp', '/dev/shm', '/content', '/work')
devices = {'/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty', '/dev/ptmx', '/dev/pts/ptmx'}
unexpected, writable = [], set()
for root, dirs, files in os.walk('/'):
    dirs[:] = [d for d in dirs if os.path.join(root, d) not in ('/proc', '/sys')]
    try:
        fd = os.open(os.path.join(root, '.mlgrade-w'), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
        os.unlink(os.path.join(root, '.mlgrade-w'))
        ok = True
    except OSError:
        ok = False
    if ok:
        top = next((a for a in allowed if root == a or root.startswith(a + '/')), None)
        (writable.add(top) if top else unexpected.append(root))
    for f in files:
        p = os.path.join(root, f)
        try:
            st = os.lstat(p)
        except OSError:
            continue
        if stat.S_ISLNK(st.st_mode):
            continue
        if os.access(p, os.W_OK) and not any(p.startswith(a + '/') for a in allowed) and p not in devices:
            try:
                os.close(os.open(p, os.O_WRONLY | os.O_NONBLOCK))
                unexpected.append(p)
            except OSError:
                pass
print('WRITABLE', sorted(writable), 'UNEXPECTED', unexpected[:20])
n_unexpected = len(unexpected)
n_writable = len(writable)
"""


@needs_bwrap
def test_the_only_writable_places_in_a_notebook_are_its_own_scratch(tmp_path):
    r, got = run(tmp_path, WRITABLE_SCAN, values=["n_unexpected", "n_writable"], cell_timeout=120,
                 notebook_timeout=180)
    assert got["n_unexpected"] == 0 and got["n_writable"] == 4, r.stdout_tail
    assert "WRITABLE ['/content', '/dev/shm', '/tmp', '/work']" in r.stdout_tail


LEAVE_BEHIND = r"""
import ctypes, os, socket, subprocess, sys
for d in ('/tmp', '/dev/shm', '/content', '/work', '.', '/', '/etc', '/dev', '/mlgrade', '/mlgrade/python', '/usr'):
    try:
        open(os.path.join(d, 'left.txt'), 'w').write('secret')
    except OSError:
        pass
os.makedirs('/etc/ipython', exist_ok=True) if os.access('/etc', os.W_OK) else None
os.mkfifo('/tmp/fifo')
s = socket.socket(socket.AF_UNIX); s.bind('/tmp/sock'); s.listen()
a = socket.socket(socket.AF_UNIX); a.bind('\0mlgrade-left'); a.listen()
libc = ctypes.CDLL(None, use_errno=True)
shm_ok = libc.shmget(0x4d4c47, 4096, 0o1666) != -1
rt = ctypes.CDLL('librt.so.1', use_errno=True)
rt.mq_open.restype = ctypes.c_int
mq_ok = rt.mq_open(b'/mlgrade-left', os.O_CREAT | os.O_RDWR, 0o666, None) != -1
daemon = ("import socket, time; s = socket.socket(socket.AF_UNIX); s.bind('\\0mlgrade-daemon'); s.listen(); "
          "open('/tmp/daemon-alive', 'w'); time.sleep(300)")
subprocess.Popen([sys.executable, '-c', daemon], start_new_session=True)
subprocess.Popen(['sleep', '300'], start_new_session=True)
import time
for _ in range(150):  # the daemon's Python is up within seconds, even on a slow machine
    if os.path.exists('/tmp/daemon-alive'):
        break
    time.sleep(0.1)
made = int(shm_ok) + int(mq_ok) + int(os.path.exists('/tmp/daemon-alive'))
"""

LOOK_FOR_LEFTOVERS = r"""
import ctypes, os, socket
found = []
for d in ('/tmp', '/dev/shm', '/content', '/work', '.', '/', '/etc', '/dev', '/mlgrade', '/mlgrade/python', '/usr'):
    if os.path.exists(os.path.join(d, 'left.txt')):
        found.append(d + '/left.txt')
for p in ('/tmp/fifo', '/tmp/sock', '/tmp/daemon-alive', '/etc/ipython'):
    if os.path.lexists(p):
        found.append(p)
for name in ('\0mlgrade-left', '\0mlgrade-daemon'):
    c = socket.socket(socket.AF_UNIX)
    try:
        c.connect(name); found.append(repr(name))
    except OSError:
        pass
libc = ctypes.CDLL(None, use_errno=True)
if libc.shmget(0x4d4c47, 0, 0) != -1:
    found.append('sysv shm')
rt = ctypes.CDLL('librt.so.1', use_errno=True)
if rt.mq_open(b'/mlgrade-left', os.O_RDONLY, 0, None) != -1:
    found.append('posix mq')
for pid in (p for p in os.listdir('/proc') if p.isdigit()):
    try:
        cmd = open(f'/proc/{pid}/cmdline', 'rb').read()
    except OSError:
        continue
    if b'sleep' in cmd or b'mlgrade-daemon' in cmd:
        found.append(f'process {cmd[:40]!r}')
print('FOUND', found)
n_found = len(found)
"""


@needs_bwrap
def test_nothing_a_student_leaves_reaches_the_next_student(tmp_path):
    """Files anywhere, fifos, unix sockets (path and abstract), SysV and POSIX IPC, setsid daemons."""
    before, got = run(tmp_path, LOOK_FOR_LEFTOVERS, values=["n_found"])
    assert got["n_found"] == 0, before.stdout_tail
    attacker, got = run(tmp_path, LEAVE_BEHIND, values=["made"])
    assert got["made"] == 3, attacker.stdout_tail  # they all existed while the attacker's session was open
    after, got = run(tmp_path, LOOK_FOR_LEFTOVERS, values=["n_found"])
    assert got["n_found"] == 0, after.stdout_tail
    uid = sandbox_uid(0, ROLE_KERNELS)
    ps = subprocess.run(["ps", "-o", "pid=,args=", "-u", str(uid)], capture_output=True, text=True).stdout
    assert "sleep 300" not in ps and "mlgrade-daemon" not in ps


@needs_bwrap
def test_a_notebook_cannot_reach_the_zygote_or_the_grader(tmp_path):
    cells = [
        "import os, signal\n"
        "pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
        "n_pids = len(pids)\n"
        "try:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n    pass",
        "me = os.getpid()\n"
        "caps = [l.split()[1] for l in open('/proc/self/status') if l.startswith(('CapEff', 'CapBnd', 'CapPrm'))]\n"
        "no_caps = int(all(int(c, 16) == 0 for c in caps))\n"
        "nnp = int([l.split()[1] for l in open('/proc/self/status') if l.startswith('NoNewPrivs')][0])\n"
        "stage = int(len(os.listdir('/mlgrade/stage')))",
    ]
    r, got = run(tmp_path, *cells, values=["n_pids", "me", "no_caps", "nnp", "stage"])
    assert got["n_pids"] == 2 and got["me"] == 2, r.stdout_tail  # alone with its init in its PID namespace
    assert got["no_caps"] == 1 and got["nnp"] == 1
    assert got["stage"] == 0  # the staging folder is covered once the submission is mounted
    assert run(tmp_path, "x = 1", values=["x"])[1] == {"x": 1}  # the zygote lives on


@needs_bwrap
def test_a_notebook_writing_a_gigabyte_fills_only_its_own_bounded_scratch(tmp_path):
    cell = ("import errno\nwritten = 0\ncode = 0\nchunk = b'x' * (16 << 20)\n"
            "try:\n    with open('/tmp/big', 'wb') as f:\n        for _ in range(64):\n"
            "            f.write(chunk); written += len(chunk)\n"
            "except OSError as e:\n    code = e.errno")
    _, got = run(tmp_path, cell, values=["written", "code"], scratch_bytes=64 << 20)
    import errno

    assert got["code"] in (errno.ENOSPC, errno.EFBIG)
    assert got["written"] <= 64 << 20
    _, got = run(tmp_path, "import os\nfree = os.statvfs('/tmp').f_bavail * os.statvfs('/tmp').f_frsize",
                 values=["free"], scratch_bytes=64 << 20)
    assert got["free"] > 60 << 20  # the next notebook starts with an empty scratch


@needs_bwrap
def test_the_submission_is_copy_on_write_and_large_files_stay_intact(tmp_path):
    big = os.urandom(2 * 1024 * 1024)
    cells = [
        "import os\nopen('small.txt', 'a').write('+more')\nsmall = len(open('small.txt').read())",
        "try:\n    open('big.bin', 'r+b').write(b'evil')\n    big_written = 1\nexcept OSError:\n    big_written = 0",
        "os.remove('big.bin')\nopen('big.bin', 'wb').write(b'replaced')\nnew = len(open('big.bin', 'rb').read())",
    ]
    _, got = run(tmp_path, *cells, files={"small.txt": b"hello", "big.bin": big}, values=["small", "big_written", "new"])
    assert got == {"small": len("hello+more"), "big_written": 0, "new": len(b"replaced")}
    sub = sorted(tmp_path.glob("sub*"))[-1]
    assert (sub / "small.txt").read_bytes() == b"hello" and (sub / "big.bin").read_bytes() == big


def test_both_backends_return_the_same_records(tmp_path):
    cells = ["import numpy as np\nprint('out')\nx = np.arange(3.0)", "raise KeyError('k')", "%timeit -n1 -r1 x.sum()",
             "!echo shell", "y = x * 2"]
    modes = ["none"] + (["bwrap"] if BWRAP_PROBLEM is None else [])
    runs = [run(tmp_path, *cells, iso=m, values=["y"]) for m in modes]
    shape = [[(c.index, c.status, c.ename, c.evalue) for c in r.cells] for r, _ in runs]
    assert all(s == shape[0] for s in shape), shape
    assert all(r.status == "ok" and got["y"].tolist() == [0, 2, 4] for r, got in runs)
    assert all("out" in r.stdout_tail and "shell" in r.stdout_tail for r, _ in runs)


# --------------------------------------------------------------------------- the README's quick start

@pytest.mark.slow
@needs_bwrap
@pytest.mark.skipif(os.geteuid() != 0, reason="a folder other users cannot enter matters when grading as root")
def test_grading_works_from_a_folder_other_users_cannot_enter(tmp_path, samples_dir):
    """A clone under a 0700 folder (like /root) with its own virtualenv grades with bubblewrap."""
    private = tmp_path / "home"
    private.mkdir(mode=0o700)
    os.chmod(private, 0o700)
    repo = private / "repo"
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for rel in files:
        if (ROOT / rel).is_file():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, repo / rel)
    venv = Path(sys.prefix)
    if subprocess.run(["cp", "-al", str(venv), str(repo / ".venv")]).returncode != 0:
        subprocess.run(["cp", "-a", str(venv), str(repo / ".venv")], check=True)
    tmpdir = tmp_path / "tmpdir"  # its own, so other graders' folders in /tmp cannot look like a leak
    tmpdir.mkdir()
    env = {**os.environ, "PYTHONPATH": "", "MLGRADE_SANDBOX_UID_BASE": str(sandbox_uid(7) - 0),
           "TMPDIR": str(tmpdir)}
    res = subprocess.run([str(repo / ".venv" / "bin" / "python"), "-m", "grader", "check",
                          str(samples_dir / "erin_hardcoded.zip"), "--isolation", "bwrap"],
                         cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "not readable" not in res.stderr and "without isolation" not in res.stderr
    assert "backprop" in res.stdout and "hidden data" in res.stdout  # the notebook ran and was called
    assert [p.name for p in tmpdir.rglob("*")] == []  # nothing left behind


def test_folders_of_a_grader_killed_with_sigkill_are_swept_by_the_next_one():
    import tempfile

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = Path(tempfile.mkdtemp(prefix=f"mlgrade-private-{dead.pid}-"))
    (stale / "stage").mkdir()
    live = Path(tempfile.mkdtemp(prefix=f"mlgrade-private-{os.getpid()}-"))
    st = Staging()
    try:
        assert not stale.exists()
        assert live.exists()  # a running grader's folder is never touched
    finally:
        st.close()
        shutil.rmtree(live, ignore_errors=True)


MIXED_RUBRIC = NOTEBOOK_VALUE_RUBRIC.replace("name: one value", "name: mixed", 1) + """  - id: txt
    title: a file
    points: 1
    files: [a.txt]
    checks:
      - {kind: file_present, file: a.txt}
"""


@needs_bwrap
def test_the_notebook_sandbox_outlives_a_submission_and_stops_clean(tmp_path, monkeypatch):
    """Notebook questions run on their own thread beside the others. The sandbox that thread starts dies with
    the thread that started it, so the thread lives as long as the process: the same zygote serves the next
    submission, and stopping the services (the end of `mlgrade check`) leaves no staged folder behind."""
    import tempfile

    from helpers import grade_files

    from grader.core.options import GradeOptions
    from grader.score.pipeline import stop_services

    stop_services()  # earlier tests' sandboxes staged elsewhere
    tmp = tmp_path / "tmp"
    tmp.mkdir(mode=0o700)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    files = {"nb.ipynb": notebook_bytes("x = 1"), "a.txt": b"hello"}
    zygotes = []
    for i in range(2):
        result = grade_files(tmp_path / f"s{i}", files, MIXED_RUBRIC, GradeOptions(isolation="bwrap"))
        assert result.total == 2, [q.reason for q in result.questions]
        zygotes.append({slot: z.service.pid for slot, z in backend("bwrap")._zygotes.items() if z.service.alive()})
    assert zygotes[0] and zygotes[1] == zygotes[0]
    assert any(tmp.iterdir())  # the live zygote's staged folders
    stop_services()
    assert [p.name for p in tmp.iterdir()] == []


@needs_bwrap
def test_a_process_that_graded_leaves_no_staged_folder_when_it_exits(tmp_path):
    """No stop_services() call (a long-lived host such as pytest or a notebook just exits): the sandboxes'
    staged folders still go at exit."""
    tmp = tmp_path / "tmp"
    tmp.mkdir(mode=0o700)
    code = ("import sys; sys.path.insert(0, sys.argv[1])\n"
            "from pathlib import Path\nfrom helpers import grade_files, notebook_bytes\n"
            "from grader.core.options import GradeOptions\n"
            "r = grade_files(Path(sys.argv[2]), {'nb.ipynb': notebook_bytes('x = 1'), 'a.txt': b'hi'}, sys.argv[3],"
            " GradeOptions(isolation='bwrap'))\nassert r.total == 2, [q.reason for q in r.questions]\n")
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code, str(ROOT / "tests"), str(tmp_path / "sub"), MIXED_RUBRIC],
                          env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [p.name for p in tmp.rglob("*") if not p.name.startswith("mlgrade-slots-")] == []


# --------------------------------------------------------------------------- memory the grader and the zygote spend

FLOOD_WRITER = """
import gc, os
# the kernel module's globals, whatever the module is called (the sandbox's `kernel`, the portable `__main__`)
_k = next(d for d in gc.get_objects() if type(d) is dict and '_write_safely' in d and '_write' in d)
_real = _k['_write']
def _flood(fd, rec):
    if rec.get('r') in {kinds!r}:
        head = ('\\n{{"r": "%s", "i": %d, "id": %d, "status": "ok", "text": "", "value": ['
                % (rec['r'], rec.get('i', 0), rec.get('id', 0))).encode()
        os.write(fd, head + b'[],' * ((96 << 20) // 3 - 64) + b'[]]}}\\n')
    else:
        _real(fd, rec)
_k['_write'] = _flood
"""

FLOOD_SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from helpers import notebook_bytes
from grader.execute.isolation import backend
from grader.execute.notebooks import NotebookJob, get_runner
from grader.execute.notebooks.session import NotebookSession, StudentFailure
iso, tmp, flood_cells, flood_live = sys.argv[2], Path(sys.argv[3]), sys.argv[4], sys.argv[5]

def job(name, *cells):
    sub = tmp / name
    sub.mkdir()
    (sub / 'nb.ipynb').write_bytes(notebook_bytes(*cells))
    return NotebookJob(notebook=str(sub / 'nb.ipynb'), submission_dir=str(sub), isolation=iso, cell_timeout=30)

out = {}
r = get_runner().run(job('cells', flood_cells, 'x = 1'))
out['cells'] = [r.status, r.reason]
s = NotebookSession(job('live', flood_live, 'def f():\n    return 1'), 'nb.ipynb')
try:
    s.call('f')
    out['live'] = 'answered'
except StudentFailure as e:
    out['live'] = str(e)
finally:
    s.close()
r = get_runner().run(job('next', 'x = 1', 'print(x + 1)'))
out['next'] = [r.status, r.stdout_tail]
# VmHWM: this process's own peak (ru_maxrss would include the test process this one was forked from)
out['grader'] = next(int(ln.split()[1]) * 1024 for ln in open('/proc/self/status') if ln.startswith('VmHWM'))
zygotes = getattr(backend(iso), '_zygotes', {})
out['zygote'] = max([z.service.request({'op': 'ping'})['maxrss'] for z in zygotes.values()], default=0)
print(json.dumps(out))
"""


@pytest.mark.slow
@pytest.mark.parametrize("iso", ["none", "bwrap"])
def test_a_flood_of_tiny_values_costs_its_own_report_and_little_memory(tmp_path, iso):
    """Issue 25.4: a notebook that replaces the kernel's record writer answers with 96 MiB of `[],[],...`.
    Once the zygote parsed it (5.0 GB) and the grader parsed the forwarded answer (2.5 GB); now each
    record is measured while it is read, refused at its bound, and the notebook alone is stopped."""
    if iso == "bwrap" and BWRAP_PROBLEM is not None:
        pytest.skip(f"bubblewrap: {BWRAP_PROBLEM}")
    done = subprocess.run([sys.executable, "-c", FLOOD_SCRIPT, str(ROOT / "tests"), iso, str(tmp_path),
                           FLOOD_WRITER.format(kinds=("cell",)), FLOOD_WRITER.format(kinds=("live",))],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    refused = "sent the grader a record with more than"
    assert out["cells"][0] == "error" and refused in out["cells"][1], out["cells"]
    assert refused in out["live"], out["live"]
    assert out["next"] == ["ok", "2\n"], out["next"]  # the same worker's next notebook is unaffected
    print(f"{iso}: peak RSS of the grader {out['grader'] / 1e6:.0f} MB, of the zygote {out['zygote'] / 1e6:.0f} MB")
    assert out["grader"] < 400e6 and out["zygote"] < 300e6, out


# --------------------------------------------------------------------------- memory in every form (issue 25.3)

def _cgroups_problem() -> str | None:
    from grader.execute.isolation import cgroups

    tree = cgroups.tree()
    return tree if isinstance(tree, str) else None


CGROUP_PROBLEM = _cgroups_problem() if BWRAP_PROBLEM is None else "no bubblewrap"
if CGROUP_PROBLEM is not None and BWRAP_PROBLEM is None and os.environ.get("MLGRADE_REQUIRE_BWRAP") == "1" \
        and os.geteuid() == 0:
    raise RuntimeError(f"MLGRADE_REQUIRE_BWRAP=1 as root, but the grader cannot make cgroups here: {CGROUP_PROBLEM}")
needs_cgroups = pytest.mark.skipif(CGROUP_PROBLEM is not None, reason=f"cgroups: {CGROUP_PROBLEM}")

HOARDS = {
    # twelve memfds of 255 MiB, written then unmapped: in no RSS, not in the address space, not in the scratch
    "memfd": "import os, mmap\nfds = []\nfor i in range(12):\n    fd = os.memfd_create(f'm{i}')\n"
             "    os.ftruncate(fd, 255 << 20)\n    m = mmap.mmap(fd, 255 << 20)\n"
             "    m.write(b'x' * (255 << 20))\n    m.close()\n    fds.append(fd)\n"
             "held = len(fds)",
    # a tmpfs of its own, mounted in a nested user namespace, filled with 3 GiB of files under the size limit
    "own_tmpfs": "import subprocess\nfill = ('mkdir -p /tmp/mnt && mount -t tmpfs -o size=8g none /tmp/mnt && '\n"
                 "        'for i in $(seq 48); do head -c 67108864 /dev/zero > /tmp/mnt/f$i || exit 1; done; sleep 60')\n"
                 "held = subprocess.run(['unshare', '-Urm', 'sh', '-c', fill]).returncode",
    # POSIX shared memory in /dev/shm is the scratch's: bounded before, and still
    "sysv_shm": "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.shmat.restype = ctypes.c_void_p\n"
                "held = 0\nfor i in range(12):\n    sid = libc.shmget(0, 255 << 20, 0o1600)\n"
                "    addr = libc.shmat(sid, None, 0)\n    ctypes.memset(addr, 1, 255 << 20)\n"
                "    libc.shmdt(ctypes.c_void_p(addr))\n    held += 1",
}


@needs_bwrap
@needs_cgroups
@pytest.mark.parametrize("hoard", sorted(HOARDS))
def test_memory_outside_the_address_space_is_bounded_per_notebook(tmp_path, hoard):
    """3 GiB held in memfds, a tmpfs of the notebook's own or SysV shared memory: none of it is in the
    address space (RLIMIT_AS 1 GiB here) or the scratch (128 MiB). The notebook's cgroup counts it all: the
    notebook is stopped at its bound with a reason the student can act on, the same worker's next notebook
    runs normally, and no cgroup is left behind."""
    from grader.execute.isolation import cgroups

    limits = {"memory_bytes": 1 << 30, "scratch_bytes": 128 << 20}
    r, _ = run(tmp_path, HOARDS[hoard], "print('after')", cell_timeout=60, **limits)
    assert r.status == "kernel_died", (r.status, r.reason, r.stdout_tail)
    assert "your notebook held more than 1.12 GiB of memory in all" in r.reason, r.reason
    assert r.reason.startswith("while running In [1]") and "keep less in memory" in r.reason, r.reason
    zygote = backend("bwrap")._zygotes[0]
    before = zygote.service.pid
    _, got = run(tmp_path, "x = sum(range(10))", values=["x"], **limits)
    assert got == {"x": 45} and backend("bwrap")._zygotes[0].service.pid == before
    tree = cgroups.tree()
    assert not isinstance(tree, str)
    left = [p.name for root in tree.roots for p in root.path.iterdir() if p.is_dir() and p.name.startswith("nb-")]
    assert left == [], "notebook cgroups were left behind"


# --------------------------------------------------------------------------- starting the sandbox ahead


@needs_bwrap
def test_warming_from_two_threads_starts_one_zygote_that_serves_the_notebook(tmp_path):
    """A worker warms its slot on a thread of its own while the grading thread may already ask for a
    notebook: one zygote starts, and it is the one the notebook runs in."""
    import threading

    from grader.score.pipeline import stop_services

    stop_services()
    bw = backend("bwrap")
    parked = threading.Event()

    def warm() -> None:
        bw.warm(0)
        parked.wait()  # the zygote dies with the thread that started it: keep it alive until the test ends

    threads = [threading.Thread(target=warm, daemon=True) for _ in range(2)]
    try:
        for t in threads:
            t.start()
        r, values = run(tmp_path, "x = 41 + 1", values=["x"])
        assert r.status == "ok" and values == {"x": 42}
        assert list(bw._zygotes) == [0]
        first = bw._zygotes[0].service.pid
        bw.warm(0)  # warm again: nothing new starts
        assert bw._zygotes[0].service.pid == first
    finally:
        stop_services()
        parked.set()


def test_a_zygote_imports_a_heavy_library_only_for_a_notebook_that_imports_it(monkeypatch):
    """matplotlib costs the zygote 0.5-0.8 s: imported before the first notebook that imports it, never for a
    numpy notebook; only names of its own table count, whatever the request lists."""
    sys.path.insert(0, str(ROOT / "grader" / "insandbox"))
    try:
        import zygote
    finally:
        sys.path.pop(0)
    from grader.execute.notebooks.executor import notebook_imports

    assert "matplotlib" not in zygote.PRELOAD and "matplotlib.pyplot" not in zygote.PRELOAD
    cells = ["import numpy as np\nimport matplotlib.pyplot as plt", "from sklearn.linear_model import X", "x = 1"]
    assert notebook_imports(cells) == ["matplotlib", "numpy", "sklearn"]
    imported: list[list[str]] = []
    monkeypatch.setattr(zygote, "ON_DEMAND", {"matplotlib": ["matplotlib", "matplotlib.pyplot"]})
    monkeypatch.setattr(zygote, "_import_all", imported.append)
    zygote.preload_for({"imports": ["numpy", {"x": 1}, 7, "os"]})
    assert imported == []
    zygote.preload_for({"imports": ["matplotlib", "numpy"]})
    zygote.preload_for({"imports": ["matplotlib"]})  # once per zygote
    zygote.preload_for({"imports": "matplotlib"})  # not a list: nothing
    assert imported == [["matplotlib", "matplotlib.pyplot"]]


@needs_bwrap
def test_a_notebook_that_plots_runs_in_a_zygote_that_had_not_imported_matplotlib(tmp_path):
    from grader.score.pipeline import stop_services

    stop_services()
    r, values = run(tmp_path, "x = 2", values=["x"])
    assert values == {"x": 2}
    r, values = run(tmp_path, "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 2])\n"
                    "n = len(ax.lines)", values=["n"])
    assert r.status == "ok" and values == {"n": 1}, r.reason


def test_a_sandbox_set_up_that_fails_leaves_no_staged_folder(tmp_path, monkeypatch):
    """The none and uid backends stage a private copy first: a failure after it (a full disk, a missing
    interpreter, Ctrl-C) removes the copy, and the disk's failure is the kernel's answer, not a traceback."""
    from grader.execute.isolation import none
    from grader.execute.isolation.staging import closed_on_failure

    made: list[Staging] = []

    class Counted(Staging):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            made.append(self)

    monkeypatch.setattr(none, "Staging", Counted)
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "nb.ipynb").write_bytes(notebook_bytes("x = 1"))

    def broken(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(none, "python_for_children", broken)
    answer = none._Kernel.start({"submission": str(sub), "memory_bytes": 2**30, "notebook_timeout": 10})
    assert answer == {"status": "error", "reason": "the notebook kernel did not start ([Errno 28] No space left on "
                                                   "device)"}
    assert made and all(not Path(s.root).exists() for s in made)

    kept = Staging()
    with closed_on_failure(kept):
        kept.private_dir()
    assert Path(kept.root).exists()
    with pytest.raises(KeyboardInterrupt), closed_on_failure(kept):
        raise KeyboardInterrupt
    assert not Path(kept.root).exists()
