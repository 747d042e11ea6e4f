"""The hostile-submission corpus, graded as one batch in the sandbox.

Every hostile student is alice's complete submission with one part replaced by
an attack. For each: the batch finishes, the report gives a reason, only the
questions the attack touches may lose marks (all others score exactly what
alice's do), and nothing outside the work folder is created, changed or read:
marker files stay absent, a decoy "hidden data" folder stays byte-identical and
its secret appears in no output, and no sandbox process survives the batch.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import socket
import threading
import time
import uuid
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT, make_zip
from helpers import huge_png_header, notebook_bytes
from make_submissions import BACKPROP_CELLS
from modelfiles import mlp_file

from grader.batch.run import grade_batch
from grader.core.options import GradeOptions
from grader.core.portable import pid_alive
from grader.execute.isolation import backend, cgroups
from grader.rubric import load_rubric

BWRAP_PROBLEM = backend("bwrap").problem()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the corpus checks the sandbox uids, which needs root (as in CI)"),
    pytest.mark.skipif(BWRAP_PROBLEM is not None and os.environ.get("MLGRADE_REQUIRE_BWRAP") != "1",
                       reason=f"the sandbox does not work here: {BWRAP_PROBLEM}"),
]

ALICE = ROOT / "submissions" / "alice_complete.zip"
SECRET = "DECOY-" + uuid.uuid4().hex


def alice_files() -> dict[str, bytes]:
    with zipfile.ZipFile(ALICE) as zf:
        return {Path(i.filename).name: zf.read(i) for i in zf.infolist()
                if i.filename.startswith("HW4_alice/") and not i.is_dir() and "DS_Store" not in i.filename}


NEXT_CELL = "\n# -- next cell --\n"  # an attack that takes longer than one cell's 10 s is spread over several


def hostile_notebook(attack: str) -> bytes:
    """The attack as the first cells, then the correct backprop code."""
    return notebook_bytes(*attack.split(NEXT_CELL), *BACKPROP_CELLS)


class LoopbackServer:
    """A host service on 127.0.0.1 that records every connection (there must be none)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()


def _ancestors(pid: int) -> set[int]:
    seen = set()
    while pid > 1 and pid not in seen:
        seen.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    return seen


def _graded_elsewhere(pid: int) -> bool:
    """True when a live pytest or grading worker started this process: another test run on a shared
    machine, whose sandboxes use the same uids. What this batch leaves behind has no such parent (its
    workers are gone; its own helpers are this process's children)."""
    for a in _ancestors(pid) - {pid}:
        try:
            cmd = Path(f"/proc/{a}/cmdline").read_bytes()
        except OSError:
            continue
        if b"pytest" in cmd or b"grader.batch.worker" in cmd:
            return True
    return False


def sandbox_processes() -> list[str]:
    """Processes of the sandbox uids that are not helpers of this test process itself
    (earlier tests keep their own runner and model server alive until pytest exits) nor of
    another test run on the machine."""
    base = int(os.environ.get("MLGRADE_SANDBOX_UID_BASE", "61000"))
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                uid = p.stat().st_uid
                state = (p / "stat").read_text().rpartition(")")[2].split()[0]
                if state in ("Z", "X"):  # dead, waiting for its parent to read its status: nothing runs
                    continue
                if (base <= uid < base + 64 and os.getpid() not in _ancestors(int(p.name))
                        and not _graded_elsewhere(int(p.name))):
                    found.append(f"{p.name}: {(p / 'cmdline').read_bytes()[:80]!r}")
            except OSError:
                continue
    return found


def test_hostile_corpus(tmp_path, monkeypatch):
    area = tmp_path / "area"
    klass, out, hidden = area / "class", area / "out", area / "hidden"
    for d in (klass, hidden / "digits" / "3"):
        d.mkdir(parents=True)
    (hidden / "digits" / "secret.txt").write_text(SECRET)
    os.chmod(area, 0o755)
    before_hidden = {p.relative_to(hidden).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                     for p in hidden.rglob("*") if p.is_file()}
    server = LoopbackServer()
    marker = Path("/tmp") / f"mlgrade-hostile-{uuid.uuid4().hex}"
    late_marker = Path("/tmp") / f"mlgrade-hostile-late-{uuid.uuid4().hex}"
    paths = {"hidden": str(hidden), "out": str(out), "klass": str(klass), "marker": str(marker),
             "late": str(late_marker), "port": server.port, "root": str(ROOT)}

    notebook_attacks = {
        "read_shadow": "print(open('/etc/shadow').read())",
        "read_hidden": "import os\nprint(os.listdir('{hidden}'))\nprint(open('{hidden}/digits/secret.txt').read())",
        "list_students": "import os\nprint(os.listdir('{klass}'), os.listdir('{out}'))",
        "read_grader": "print(open('{root}/grader/batch/run.py').read()[:100])",
        "write_outside": "for p in ['{marker}', '{out}/pwned.txt', '{hidden}/pwned', '{klass}/pwned.zip']:\n"
                         "    try:\n        open(p, 'w').write('x')\n    except OSError as e:\n        print(e)",
        "sockets": "import socket\nfor host in [('127.0.0.1', {port}), ('1.1.1.1', 80), ('pypi.org', 443)]:\n"
                   "    try:\n        socket.create_connection(host, timeout=2)\n        print('CONNECTED', host)\n"
                   "    except OSError as e:\n        print(host, e)",
        "fork_storm": "import os, time\npids = []\ntry:\n    for i in range(100000):\n        pid = os.fork()\n"
                      "        if pid == 0:\n            time.sleep(600)\n            os._exit(0)\n        pids.append(pid)\n"
                      "except OSError as e:\n    print('stopped after', len(pids), e)",
        "allocate_40gb": "x = bytearray(40 * 2**30)",
        "loop_forever": "while True:\n    pass",
        "ignore_sigint": "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
        "huge_line": "print('x' * 50_000_000)",
        "output_injection": "raise ValueError('\\x1b[2J\\x1b]0;pwned\\x07<img src=x onerror=alert(1)> =HYPERLINK(1)')",
        "kill_parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)",
        "setsid_daemon": "import subprocess\nsubprocess.Popen(['setsid', 'sh', '-c', 'sleep 4; touch {late}'])\n"
                         "import os\nif os.fork() == 0:\n    os.setsid()\n    import time\n    time.sleep(5)\n"
                         "    open('{late}', 'w').write('x')\n    os._exit(0)",
        "monkeypatch": "import numpy as np, json\nnp.allclose = lambda *a, **k: True\n"
                       "json.dump = lambda obj, f, **k: f.write('{{\"seed0\": {{\"kind\": \"passed\"}}}}')",
        "overwrite_probe": "import glob, json\ndef fake(result):\n"
                           "    for m in glob.glob('../probe/out/manifest.json'):\n"
                           "        open(m, 'w').write(json.dumps({{'hidden0': {{'kind': 'passed'}}}}))\n"
                           "get_ipython().events.register('post_run_cell', fake)",
        # issue 18.1: code planted where every later kernel of the worker would run it
        "plant_startup_code": "import os\nplant = 'open(\"{marker}\", \"w\").write(\"x\")\\n'\n"
                              "for d in ['/etc/ipython', os.path.expanduser('~/.ipython/profile_default/startup'),\n"
                              "          '/mlgrade/python/lib/python3.11/site-packages', '/tmp', '/usr/lib/python3.11']:\n"
                              "    for f in ['ipython_config.py', '00-evil.py', 'sitecustomize.py', 'usercustomize.py']:\n"
                              "        try:\n            os.makedirs(d, exist_ok=True)\n"
                              "            open(os.path.join(d, f), 'w').write(plant)\n"
                              "        except OSError as e:\n            print(e)",
        # issue 18.1: files, fifos, sockets, IPC left for the next student
        "leave_behind": "import os, socket, ctypes\n"
                        "for p in ['/left', '/dev/left', '/etc/left', '/mlgrade/left', '/work/left', '/tmp/left']:\n"
                        "    try:\n        open(p, 'w').write('x')\n    except OSError as e:\n        print(e)\n"
                        "os.mkfifo('/tmp/fifo')\ns = socket.socket(socket.AF_UNIX)\ns.bind('/tmp/sock')\ns.listen()\n"
                        "a = socket.socket(socket.AF_UNIX)\na.bind('\\0mlgrade-left')\na.listen()\n"
                        "ctypes.CDLL(None).shmget(0x4d4c47, 4096, 0o1666)",
        # issue 18.2: symlinks where the grader used to write (probe spec, inputs, results, logs)
        "symlink_traps": "import os\nfor name, target in [('probe', '/etc'), ('kernel.log', '{marker}'),\n"
                         "                     ('spec.json', '{marker}'), ('sub', '{out}'), ('/tmp/probe', '{marker}')]:\n"
                         "    try:\n        os.symlink(target, name)\n    except OSError as e:\n        print(e)\n"
                         "os.makedirs('probe_in', exist_ok=True)\n"
                         "try:\n    os.symlink('{marker}', 'probe_in/s0_X.npy')\nexcept OSError as e:\n    print(e)",
        # issue 18.3: names the next notebook would need, taken in advance
        "take_job_names": "import os\nfor root in ['/tmp', '/work', '/content', '/mlgrade/stage', '/mlgrade']:\n"
                          "    for i in range(500):\n        try:\n"
                          "            os.makedirs(os.path.join(root, str(i)), exist_ok=True)\n"
                          "        except OSError:\n            break",
        # issue 18.4: a gigabyte written by one notebook
        "write_1gb": "chunk = b'x' * (64 << 20)\ntry:\n    with open('/tmp/big', 'wb') as f:\n"
                     "        for _ in range(16):\n            f.write(chunk)\nexcept OSError as e:\n    print(e)",
        "kill_everything": "import os, signal\nfor target in (-1, 1, os.getppid()):\n    try:\n"
                           "        os.kill(target, signal.SIGKILL) if target != 0 else None\n"
                           "    except OSError as e:\n        print(e)",
        # issue 25.3: 3 GiB held where neither the address-space limit nor the scratch counts it
        "memfd_hoard": "import os\nfds = []\ndef hoard(n):\n    for i in range(n):\n"
                       "        fds.append(os.memfd_create('m'))\n        os.posix_fallocate(fds[-1], 0, 255 << 20)"
                       + NEXT_CELL.join([""] + ["hoard(3)"] * 4),
        "own_tmpfs": "import subprocess, time\nsubprocess.Popen(['unshare', '-Urm', 'sh', '-c', 'mkdir -p /tmp/m && "
                     "mount -t tmpfs -o size=8g none /tmp/m && for i in $(seq 48); do "
                     "fallocate -l 64M /tmp/m/f$i || exit 1; done; sleep 60'])"
                     + NEXT_CELL.join([""] + ["time.sleep(8)"] * 5),
        # issue 25.4: the kernel's record writer replaced by one that answers with 96 MiB of [],[],...
        "record_flood": "import gc, os\n"
                        "k = next(d for d in gc.get_objects() if type(d) is dict and '_write_safely' in d)\n"
                        "def flood(fd, rec):\n"
                        "    os.write(fd, b'\\n{{\"r\": \"cell\", \"i\": %d, \"x\": [' % rec.get('i', 0)"
                        " + b'[],' * ((96 << 20) // 3 - 64) + b'[]]}}\\n')\n"
                        "k['_write'] = flood",
    }
    students: dict[str, dict[str, bytes]] = {}
    for name, attack in notebook_attacks.items():
        files = alice_files()
        files["backprop.ipynb"] = hostile_notebook(attack.format(**paths))
        students[f"nb_{name}"] = files

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    replaced = {
        "image_bomb": ("hdfview.png", huge_png_header()),
        "png_as_h5": ("weights.h5", alice_files()["classify.png"]),
        "truncated_h5": ("weights.h5", alice_files()["weights.h5"][:20000]),
        "pickle_as_h5": ("digits.h5", pickle.dumps(Evil())),
        "lambda_h5": ("digits.h5", _lambda_model(tmp_path, marker)),
        "external_storage_h5": ("digits.h5", _reaching_out_h5(tmp_path, hidden / "digits" / "secret.txt", "storage")),
        "external_link_h5": ("weights.h5", _reaching_out_h5(tmp_path, hidden / "digits" / "secret.txt", "link")),
        "equation_injection": ("xor_equation.txt", f"__import__('os').system('touch {marker}')".encode()),
        # 12 KB of spaces between binary digits once made a pattern backtrack until the 600 s wall clock
        "hand_backtrack": ("xor_hand.txt", ("0" + " " * 4000 + "1" + " " * 4000 + "x\n").encode() * 3),
        # 12 MiB of tiny nested lists (1.3 GiB in the runner) and a notebook nested 100,000 levels deep
        "nested_notebook": ("backprop.ipynb", b'{"cells": [], "metadata": {"x": [' + b"[]," * (4 << 20) + b'[]]}}'),
        "deep_notebook": ("backprop.ipynb", b'{"cells": [], "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    }
    for name, (fname, data) in replaced.items():
        files = alice_files()
        files[fname] = data
        students[f"file_{name}"] = files

    for student, files in students.items():
        # stored, not deflated: the nested notebook must pass the zip-bomb ratio limit to reach its parser
        stored = {"compression": zipfile.ZIP_STORED} if student == "file_nested_notebook" else {}
        make_zip(klass / f"{student}.zip", sorted(files.items()), **stored)
    make_zip(klass / "alice.zip", sorted(alice_files().items()))
    followers = [f"zz_follower_{i}" for i in range(4)]  # graded last, by workers every attacker went through
    for name in followers:
        make_zip(klass / f"{name}.zip", sorted(alice_files().items()))
    # archive-level attacks
    make_zip(klass / "zip_slip_symlink.zip", [*sorted(alice_files().items()), (f"../../{marker.name}", b"x"),
                                               (str(marker), b"x")], symlinks={"hidden": str(hidden)})
    make_zip(klass / "zip_bomb.zip", [("weights.h5", b"\0" * (100 * 1024**2))])
    # names that normalise alike (once: a_b, a_b-2, a_b-2, and one student reported with another's grade)
    make_zip(klass / "a b.zip", [("note.txt", b"nothing else")])
    make_zip(klass / "a_b-2.zip", sorted(alice_files().items()))
    make_zip(klass / "a_b.zip", [("note.txt", b"nothing either")])
    # names of the class's outputs (once: a folder grades.csv/, and no grades.csv for anyone)
    make_zip(klass / "grades.csv.zip", sorted(alice_files().items()))
    make_zip(klass / "summary.html.zip", [("note.txt", b"x")])
    # names a spreadsheet would run, and terminal escapes in an entry name
    for formula in ("+1+2", "@SUM(A1)", "=HYPERLINK(1)"):
        make_zip(klass / f"{formula}.zip", [("note.txt", b"x")])
    make_zip(klass / "escape_names.zip", [*sorted(alice_files().items()), ("\x1b[2J\x1b[8mhidden.txt", b"x")])
    _lying_zip(klass / "lying_directory.zip", 30_000)

    rubric = load_rubric(ROOT / "rubric.yaml")
    t = time.monotonic()
    # The batch's own temporary folders go to a folder of this test's, so that what other graders on the
    # machine hold in /tmp at the same time cannot be mistaken for a leak of ours.
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    monkeypatch.setattr("tempfile.tempdir", None)
    results = {r.student: r for r in grade_batch(
        [klass], out, rubric, GradeOptions(isolation="bwrap"), jobs=2,
        rubric_text=(ROOT / "rubric.yaml").read_text(), timeout=240)}
    took = time.monotonic() - t
    assert len(results) == len(students) + 13 + len(followers), "the batch did not finish every submission"

    alice = {q.id: q.score for q in results["alice"].questions}
    assert alice["backprop"] == 3 and results["alice"].total > 45

    def scores(student):
        return {q.id: q.score for q in results[student].questions}

    def reason(student, qid):
        return results[student].question(qid).reason

    touched_by = {  # attack -> the questions it may cost; all others must equal alice's
        **{f"nb_{n}": {"backprop"} for n in notebook_attacks},
        "file_image_bomb": {"q1b"}, "file_png_as_h5": {"q1a", "q2", "q3"}, "file_truncated_h5": {"q1a", "q2", "q3"},
        "file_pickle_as_h5": {"digits"}, "file_lambda_h5": {"digits"}, "file_equation_injection": {"q4a"},
        "file_hand_backtrack": {"q4b"}, "file_nested_notebook": {"backprop"}, "file_deep_notebook": {"backprop"},
        "file_external_storage_h5": {"digits"}, "file_external_link_h5": {"q1a", "q2", "q3"},
        "zip_slip_symlink": set(), "escape_names": set(),
    }
    for student, touched in touched_by.items():
        got = scores(student)
        for qid, score in alice.items():
            if qid not in touched:
                assert got[qid] == score, f"{student}: {qid} changed from {score} to {got[qid]}: {reason(student, qid)}"

    # harmless attempts: the notebook still grades fully, and the report says what failed
    for n in ("read_shadow", "read_hidden", "list_students", "read_grader", "write_outside", "sockets",
              "allocate_40gb", "loop_forever", "huge_line", "fork_storm", "plant_startup_code", "leave_behind",
              "symlink_traps", "take_job_names", "write_1gb", "kill_parent", "kill_everything"):
        assert scores(f"nb_{n}")["backprop"] == 3, (n, reason(f"nb_{n}", "backprop"))
    assert "In [1] (`print(open('/etc/shadow').read())`): FileNotFoundError" in reason("nb_read_shadow", "backprop")
    assert "MemoryError" in reason("nb_allocate_40gb", "backprop")
    assert "longer than 10 s" in reason("nb_loop_forever", "backprop")
    # every student graded after all the attacks gets exactly what alice gets, on every question
    for name in followers:
        assert scores(name) == alice, (name, [(q.id, q.reason) for q in results[name].questions])
    # disruptive ones cost the question, with a reason
    assert scores("nb_ignore_sigint")["backprop"] == 0
    assert "did not stop when interrupted" in reason("nb_ignore_sigint", "backprop")
    for n in ("memfd_hoard", "own_tmpfs"):  # stopped at the notebook's memory bound (2 GiB + its 512 MiB scratch)
        assert scores(f"nb_{n}")["backprop"] == 0, (n, reason(f"nb_{n}", "backprop"))
        assert "your notebook held more than 2.5 GiB of memory in all" in reason(f"nb_{n}", "backprop"), n
    assert scores("nb_record_flood")["backprop"] == 0
    assert "sent the grader a record with more than" in reason("nb_record_flood", "backprop")
    # killing "the parent" or everything reaches only the notebook's own PID namespace, where the kernel is
    # PID 1 (signals it has no handler for are not delivered): the zygote and the grader never see them
    # patching json/numpy or hooking IPython reaches nothing the grader relies on: the values travel as
    # data over the kernel's pipe and are compared in the grader; the correct code after the attack keeps 3
    assert scores("nb_monkeypatch")["backprop"] == 3
    assert scores("nb_overwrite_probe")["backprop"] == 3
    assert "30000x30000" in reason("file_image_bomb", "q1b")
    assert "is a PNG image, not an HDF5" in reason("file_png_as_h5", "q1a")
    assert "truncated" in reason("file_truncated_h5", "q1a") or "damaged" in reason("file_truncated_h5", "q1a")
    assert "not an HDF5" in reason("file_pickle_as_h5", "digits")
    assert "Lambda" in reason("file_lambda_h5", "digits") or "'function'" in reason("file_lambda_h5", "digits")
    assert "unknown name '__import__'" in reason("file_equation_injection", "q4a")
    assert "keeps its data in an external file" in reason("file_external_storage_h5", "digits")
    assert "is an external link to another file" in reason("file_external_link_h5", "q1a")
    assert any("'..'" in w for w in results["zip_slip_symlink"].warnings)
    # trusted parsers: bounded, and the student's broken file is named as such, never a grader error
    assert "no values found" in reason("file_hand_backtrack", "q4b") or scores("file_hand_backtrack")["q4b"] == 0
    for n in ("nested_notebook", "deep_notebook"):
        q = results[f"file_{n}"].question("backprop")
        assert q.score == 0 and q.status.value == "failed" and "backprop.ipynb" in q.reason, (n, q.reason)
        assert "grader problem" not in q.reason
    assert "more than" in results["lying_directory"].errors[0] and "entries" in results["lying_directory"].errors[0]
    # two students, two grades: ids that normalise alike never share a row or a record
    ids = {r.student for r in results.values()}
    assert len(ids) == len(results)
    by_source = {Path(r.source).name: r for r in results.values()}
    assert by_source["a_b-2.zip"].total == results["alice"].total
    assert by_source["a b.zip"].total == 0 and by_source["a_b.zip"].total == 0
    # a student named like an output is graded under another id; every class file is written
    assert by_source["grades.csv.zip"].total == results["alice"].total
    assert by_source["grades.csv.zip"].student.startswith("grades.csv-")
    assert (out / "grades.csv").is_file() and (out / "summary.html").is_file() and (out / "summary.json").is_file()
    # what leaves the grader is escaped for its sink
    csv_text = (out / "grades.csv").read_text()
    for row in csv_text.splitlines()[1:]:
        first = row.split(",")[0].strip('"')
        assert not first.startswith(("=", "+", "-", "@")), row
    inj = results["nb_output_injection"]
    assert inj.question("backprop").score == 3
    for f in (out / "students" / inj.student).iterdir():
        text = f.read_text(errors="replace")
        assert "\x1b" not in text and "\x9b" not in text, f
        if f.suffix == ".html":
            assert "<img src=x" not in text, f
    # Gradescope shows student text only as plain text: every output declares it
    gs = json.loads((out / "students" / inj.student / "results.json").read_text())
    assert gs.get("output_format", "text") == "text"
    assert all(t.get("output_format") == "text" for t in gs["tests"] if "<img" in t.get("output", ""))
    from grader.render import ClassReport, render_one

    report = ClassReport(rubric=rubric, results=list(results.values()), bests={})
    for student in ("nb_output_injection", "escape_names"):
        shown = render_one("terminal", results[student], report)
        assert "\x1b" not in str(shown) and "\x9b" not in str(shown), student
    assert any("symbolic link" in w for w in results["zip_slip_symlink"].warnings)
    assert results["zip_bomb"].total == 0 and "compression-ratio limit" in results["zip_bomb"].errors[0]

    # nothing outside the work folder created, changed, read or reached
    time.sleep(6)  # past the daemons' own timers
    assert not marker.exists() and not late_marker.exists()
    assert not (out / "pwned.txt").exists() and not (klass / "pwned.zip").exists()
    after_hidden = {p.relative_to(hidden).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                    for p in hidden.rglob("*") if p.is_file()}
    assert after_hidden == before_hidden
    for p in out.rglob("*"):
        if p.is_file():
            assert SECRET not in p.read_text(errors="replace"), f"the decoy secret leaked into {p}"
    assert server.connections == 0
    assert sandbox_processes() == [], "sandbox processes outlived the batch"
    assert not [p for p in tmpdir.iterdir() if p.name.startswith(("mlgrade-private-", "mlgrade-portal-"))
                and str(os.getpid()) not in p.name], "the workers left folders in their temporary folder"
    bases = cgroups.find_bases()  # a cgroup tree whose grader is gone (every worker is, now) is a leak
    left = [] if isinstance(bases, str) else [
        p.name for base in bases for p in base.path.iterdir()
        if p.name.startswith("mlgrade-") and p.name.split("-")[1].isdigit() and not pid_alive(int(p.name.split("-")[1]))]
    assert left == [], f"the workers left cgroups behind: {left}"
    assert took < 600


def _reaching_out_h5(tmp_path: Path, host_file: Path, how: str) -> bytes:
    """A Keras-2-style file whose data would come from a host file: a dataset in HDF5 external
    storage, or an external link (HDF5 resolves both when the data is read)."""
    import h5py
    import numpy as np

    p = tmp_path / f"reach-{how}-{uuid.uuid4().hex}.h5"
    with h5py.File(p, "w") as f:
        f.attrs["layer_names"] = np.array([b"dense_1"])
        g = f.create_group("dense_1")
        g.attrs["weight_names"] = np.array([b"dense_1/kernel:0"])
        if how == "storage":
            g.create_dataset("dense_1/kernel:0", shape=(2, 2), dtype=np.float32, external=[(str(host_file), 0, 16)])
        else:
            g["dense_1"] = h5py.ExternalLink(str(host_file), "/dense_1")
    return p.read_bytes()


def _lying_zip(path: Path, entries: int) -> Path:
    """A zip whose end record declares one entry while its directory holds ``entries``."""
    import io
    import struct

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for i in range(entries):
            zf.writestr(zipfile.ZipInfo(f"{i:x}"), b"")
    data = bytearray(buf.getvalue())
    eocd = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, eocd + 8, 1, 1)
    path.write_bytes(bytes(data))
    return path


def _lambda_model(tmp_path: Path, marker: Path) -> bytes:
    import base64
    import marshal

    import numpy as np

    def payload(x):
        open(str(marker), "w").write("pwned")  # noqa: SIM115
        return x

    code = base64.b64encode(marshal.dumps(payload.__code__)).decode()
    lam = {"class_name": "Lambda", "config": {"name": "lambda_1", "function": [code, None, None],
                                             "function_type": "lambda", "arguments": {}}}
    return mlp_file(tmp_path, np.random.default_rng(0), extra=[lam])

