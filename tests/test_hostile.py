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
from test_keras_models import mlp_file

from grader.batch import grade_batch
from grader.options import GradeOptions
from grader.rubric import load_rubric
from grader.sandbox import bwrap_problem

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the corpus checks the sandbox uids, which needs root (as in CI)"),
    pytest.mark.skipif(bwrap_problem() is not None and os.environ.get("MLGRADE_REQUIRE_BWRAP") != "1",
                       reason=f"the sandbox does not work here: {bwrap_problem()}"),
]

ALICE = ROOT / "submissions" / "alice_complete.zip"
SECRET = "DECOY-" + uuid.uuid4().hex


def alice_files() -> dict[str, bytes]:
    with zipfile.ZipFile(ALICE) as zf:
        return {Path(i.filename).name: zf.read(i) for i in zf.infolist()
                if i.filename.startswith("HW4_alice/") and not i.is_dir() and "DS_Store" not in i.filename}


def hostile_notebook(attack: str) -> bytes:
    """The attack as the first cell, then the correct backprop code."""
    return notebook_bytes(attack, *BACKPROP_CELLS)


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


def sandbox_processes() -> list[str]:
    """Processes of the sandbox uids that are not helpers of this test process itself
    (earlier tests keep their own runner and model server alive until pytest exits)."""
    base = int(os.environ.get("MLGRADE_SANDBOX_UID_BASE", "61000"))
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                uid = p.stat().st_uid
                if base <= uid < base + 64 and os.getpid() not in _ancestors(int(p.name)):
                    found.append(f"{p.name}: {(p / 'cmdline').read_bytes()[:80]!r}")
            except OSError:
                continue
    return found


def test_hostile_corpus(tmp_path):
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
        "read_grader": "print(open('{root}/grader/batch.py').read()[:100])",
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
    }
    for name, (fname, data) in replaced.items():
        files = alice_files()
        files[fname] = data
        students[f"file_{name}"] = files

    for student, files in students.items():
        make_zip(klass / f"{student}.zip", sorted(files.items()))
    make_zip(klass / "alice.zip", sorted(alice_files().items()))
    # archive-level attacks
    make_zip(klass / "zip_slip_symlink.zip", [*sorted(alice_files().items()), (f"../../{marker.name}", b"x"),
                                               (str(marker), b"x")], symlinks={"hidden": str(hidden)})
    make_zip(klass / "zip_bomb.zip", [("weights.h5", b"\0" * (100 * 1024**2))])

    rubric = load_rubric(ROOT / "rubric.yaml")
    t = time.monotonic()
    results = {r.student: r for r in grade_batch(
        [klass], out, rubric, GradeOptions(isolation="bwrap"), jobs=2,
        rubric_text=(ROOT / "rubric.yaml").read_text(), timeout=240)}
    took = time.monotonic() - t
    assert len(results) == len(students) + 3, "the batch did not finish every submission"

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
        "file_external_storage_h5": {"digits"}, "file_external_link_h5": {"q1a", "q2", "q3"},
        "zip_slip_symlink": set(),
    }
    for student, touched in touched_by.items():
        got = scores(student)
        for qid, score in alice.items():
            if qid not in touched:
                assert got[qid] == score, f"{student}: {qid} changed from {score} to {got[qid]}: {reason(student, qid)}"

    # harmless attempts: the notebook still grades fully, and the report says what failed
    for n in ("read_shadow", "read_hidden", "list_students", "read_grader", "write_outside", "sockets",
              "allocate_40gb", "loop_forever", "huge_line", "fork_storm"):
        assert scores(f"nb_{n}")["backprop"] == 3, (n, reason(f"nb_{n}", "backprop"))
    assert "cell 1:" in reason("nb_read_shadow", "backprop")
    assert "MemoryError" in reason("nb_allocate_40gb", "backprop")
    assert "longer than 10 s" in reason("nb_loop_forever", "backprop")
    # disruptive ones cost the question, with a reason
    assert scores("nb_ignore_sigint")["backprop"] == 0
    assert "did not finish within 60 s" in reason("nb_ignore_sigint", "backprop")
    assert scores("nb_kill_parent")["backprop"] == 0 and "kernel died" in reason("nb_kill_parent", "backprop")
    assert scores("nb_monkeypatch")["backprop"] <= 2
    assert scores("nb_overwrite_probe")["backprop"] <= 2
    assert "30000x30000" in reason("file_image_bomb", "q1b")
    assert "is a PNG image, not an HDF5" in reason("file_png_as_h5", "q1a")
    assert "truncated" in reason("file_truncated_h5", "q1a") or "damaged" in reason("file_truncated_h5", "q1a")
    assert "not an HDF5" in reason("file_pickle_as_h5", "digits")
    assert "Lambda" in reason("file_lambda_h5", "digits") or "'function'" in reason("file_lambda_h5", "digits")
    assert "unknown name '__import__'" in reason("file_equation_injection", "q4a")
    assert "keeps its data in an external file" in reason("file_external_storage_h5", "digits")
    assert "is an external link to another file" in reason("file_external_link_h5", "q1a")
    assert any("'..'" in w for w in results["zip_slip_symlink"].warnings)
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

