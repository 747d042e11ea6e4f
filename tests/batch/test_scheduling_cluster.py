"""``mlgrade grade --scheduler``: a real Dask scheduler and worker processes on loopback.

The grades must be the ones a local run gives, byte for byte, whatever dies on the way."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from conftest import ROOT, make_zip
from helpers import notebook_bytes
from test_batch import DIGITS_RUBRIC  # the same one-question digits class as the local batch tests

from grader.execute.isolation import resolve

pytest.importorskip("distributed")
from distributed import Client  # noqa: E402


class LoopbackCluster:
    """``dask scheduler`` and ``dask worker`` processes on 127.0.0.1, as an instructor starts them."""

    def __init__(self, folder: Path, workers: int = 2):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.file = folder / "scheduler.json"
        self.procs: list[subprocess.Popen] = []
        self.scheduler = self._start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                      "--scheduler-file", str(self.file)], "scheduler")
        deadline = time.monotonic() + 60
        while not self.file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.address = json.loads(self.file.read_text())["address"]
        self.client = Client(self.address, timeout=30, set_as_default=False)
        for _ in range(workers):
            self.add_worker()
        self.client.wait_for_workers(workers, timeout=120)

    def _start(self, args: list[str], log: str, env: dict | None = None) -> subprocess.Popen:
        out = open(self.folder / f"{log}-{len(self.procs)}.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "dask", *args], stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, start_new_session=True,
                                cwd=self.folder)  # python -m puts the working folder first on the path
        self.procs.append(proc)
        return proc

    def add_worker(self, env: dict | None = None) -> str:
        """Start one more worker; its address once it has joined."""
        before = set(self.client.scheduler_info()["workers"])
        self._start(["worker", self.address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                     "--host", "127.0.0.1"], "worker", env)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            new = set(self.client.scheduler_info()["workers"]) - before
            if new:
                return new.pop()
            time.sleep(0.1)
        raise AssertionError("the new worker did not join")

    def pids(self) -> dict[str, int]:
        return self.client.run(os.getpid)

    def busy_with(self, student: str, for_s: float = 1.5, timeout: float = 240, besides: tuple = ()) -> str:
        """The address of the worker that has been grading ``student`` for ``for_s`` seconds (not one of
        ``besides``: workers killed already, which the scheduler may not have dropped yet)."""
        deadline, since = time.monotonic() + timeout, {}
        while time.monotonic() < deadline:
            for addr, keys in self.client.processing().items():
                if addr in besides:
                    continue
                if any(str(k).startswith(f"mlgrade-{student}-") for k in keys):
                    since.setdefault((addr, tuple(keys)), time.monotonic())
                    if time.monotonic() - since[(addr, tuple(keys))] >= for_s:
                        return addr
            time.sleep(0.2)
        raise AssertionError(f"no worker was seen grading {student}")

    def busy_worker(self, among: list[str] | None = None, for_s: float = 1.5, timeout: float = 240) -> str:
        deadline, since = time.monotonic() + timeout, {}
        while time.monotonic() < deadline:
            for addr, keys in self.client.processing().items():
                if keys and (among is None or addr in among):
                    since.setdefault((addr, tuple(keys)), time.monotonic())
                    if time.monotonic() - since[(addr, tuple(keys))] >= for_s:
                        return addr
            time.sleep(0.2)
        raise AssertionError("no worker was seen grading")

    def close(self) -> None:
        self.client.close()
        for p in reversed(self.procs):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


@pytest.fixture
def cluster(tmp_path):
    c = LoopbackCluster(tmp_path / "cluster")
    yield c
    c.close()


def _grade(paths: list[Path], out: Path, *extra: str, rubric: Path | None = None, isolation: str | None = None,
           background: bool = False):
    cmd = [sys.executable, "-m", "grader", "grade", *map(str, paths), "--out", str(out),
           "--rubric", str(rubric or ROOT / "rubric.yaml"), "--isolation", isolation or resolve("auto").name,
           *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if background:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)


def _records(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text())["result"] for p in (out / ".mlgrade" / "records").glob("*.json")}


def _feedback(out: Path) -> dict[str, dict]:
    """Every student's results.json, without the time it took."""
    found = {}
    for p in out.glob("students/*/results.json"):
        data = json.loads(p.read_text())
        data.pop("execution_time", None)
        found[p.parent.name] = data
    return found


def _grading_workers_under(pid: int) -> list[psutil.Process]:
    try:
        return [c for c in psutil.Process(pid).children(recursive=True) if "grader.batch.worker" in " ".join(c.cmdline())]
    except psutil.Error:
        return []


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory):
    """The sample class graded on this machine: what the cluster must reproduce."""
    out = tmp_path_factory.mktemp("local") / "out"
    done = _grade([ROOT / "submissions"], out, "--jobs", "2")
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.slow
def test_the_sample_class_on_two_workers_gets_the_local_grades(cluster, local_reference, tmp_path):
    out = tmp_path / "out"
    done = _grade([ROOT / "submissions"], out, "--scheduler", cluster.address)
    assert done.returncode == 0, done.stderr
    assert "Dask at tcp://127.0.0.1" in done.stderr
    assert (out / "grades.csv").read_bytes() == (local_reference / "grades.csv").read_bytes()
    assert _feedback(out) == _feedback(local_reference)
    assert (out / "summary.json").read_bytes() == (local_reference / "summary.json").read_bytes()
    # the review previews the workers made came back with the records, the same files as a local run's
    previews = sorted(p.name for p in (out / ".mlgrade" / "previews").iterdir())
    assert previews and previews == sorted(p.name for p in (local_reference / ".mlgrade" / "previews").iterdir())
    records = _records(out)
    assert len(records) == 9 and not any(r["grader_fault"] for r in records.values())
    # records name the submission as a local run does, not where a worker unpacked it
    assert {r["source"] for r in records.values()} == {str((ROOT / "submissions" / f"{s}.zip").resolve())
                                                       for s in records}
    # the run's grading workers are gone with it, and their sandbox slots are free again
    for pid in cluster.pids().values():
        assert _grading_workers_under(pid) == []
    assert cluster.client.run(lambda dask_worker: sorted(n for n in dask_worker.plugins if n.startswith("mlgrade-"))
                              ) == {a: [] for a in cluster.pids()}
    again = _grade([ROOT / "submissions"], out, "--scheduler", cluster.address)
    assert "graded 0, reused 9 stored results" in again.stderr.replace("\n", " ")


def _doubled_class(folder: Path) -> Path:
    """The sample class twice over (each zip also as NAME_again.zip): enough work that the workers are
    still grading while a test kills and adds workers, however slow the machine."""
    folder.mkdir()
    for z in sorted((ROOT / "submissions").glob("*.zip")):
        shutil.copyfile(z, folder / z.name)
        shutil.copyfile(z, folder / f"{z.stem}_again.zip")
    return folder


def _as_originals(rows: dict[str, object]) -> dict[str, list[object]]:
    """Each original's results, and its copy's next to it (its name in them read as the original's): a copy
    must be graded as its original was."""
    grouped: dict[str, list[object]] = {}
    for name in sorted(rows):
        base = name.removesuffix("_again")
        grouped.setdefault(base, []).append(json.loads(json.dumps(rows[name]).replace(name, base)))
    return grouped


def _csv_rows(out: Path) -> dict[str, list[str]]:
    lines = (out / "grades.csv").read_text().splitlines()
    return {"header": lines[0].split(",")} | {ln.split(",")[0]: ln.split(",")[1:] for ln in lines[1:]}


@pytest.mark.slow
def test_workers_killed_mid_batch_lose_no_grade(cluster, local_reference, tmp_path):
    """kill -9 a Dask worker mid-submission (Dask reruns its task elsewhere) and the grading worker of the
    other one mid-submission (the driver retries); a new worker joins mid-run and grades too: every grade
    is the local one."""
    out = tmp_path / "out"
    run = _grade([_doubled_class(tmp_path / "class")], out, "--scheduler", cluster.address, background=True)
    pids = cluster.pids()
    victim = cluster.busy_worker()
    survivor = next(a for a in pids if a != victim)
    cluster.busy_worker(among=[survivor], for_s=1.0)  # both start at once: each is warming up its first task
    grading = _grading_workers_under(pids[survivor])
    assert grading, "the surviving Dask worker has no grading worker"
    os.kill(pids[victim], signal.SIGKILL)
    for p in grading:
        if p.ppid() == pids[survivor]:
            p.kill()
    newcomer = cluster.add_worker()  # as a nanny or an autoscaler would: it gets the run's plugin when it joins
    cluster.busy_worker(among=[newcomer], for_s=0.5)
    _, err = run.communicate(timeout=900)
    assert run.returncode == 0, err
    local, remote = _csv_rows(local_reference), _csv_rows(out)
    assert remote.pop("header") == local.pop("header")
    assert _as_originals(remote) == {name: [row, row] for name, row in local.items()}
    assert _as_originals(_feedback(out)) == {name: [fb, fb] for name, fb in _feedback(local_reference).items()}
    records = _records(out)
    assert len(records) == 18 and not any(r["grader_fault"] for r in records.values())
    assert any(r["attempts"] == 2 for r in records.values()), "the submission whose grading worker died was not retried"


SLOW_RUBRIC = """
name: slow
questions:
  - id: nb
    title: notebook
    points: 1
    files: [nb.ipynb]
    checks:
      - {kind: notebook_value, notebook: nb.ipynb, expr: x, expected: -1, cell_timeout: 60, notebook_timeout: 90}
"""


def _slow_class(tmp_path: Path, sleep: int, fast: int = 3) -> tuple[Path, Path]:
    batch = tmp_path / "class"
    batch.mkdir()
    make_zip(batch / "aa_slow.zip", [("nb.ipynb", notebook_bytes(f"import time\ntime.sleep({sleep})"))])
    for i in range(fast):
        make_zip(batch / f"fast{i}.zip", [("nb.ipynb", notebook_bytes(f"x = {i}"))])
    rubric = tmp_path / "slow.yaml"
    rubric.write_text(SLOW_RUBRIC)
    return batch, rubric


@pytest.mark.slow
def test_a_submission_that_keeps_killing_workers_is_reported_then_retried_by_the_next_run(tmp_path):
    cluster = LoopbackCluster(tmp_path / "cluster", workers=3)
    try:
        batch, rubric = _slow_class(tmp_path, sleep=15)
        out = tmp_path / "out"
        run = _grade([batch], out, "--scheduler", cluster.address, rubric=rubric, background=True)
        killed: list[str] = []
        for _ in range(2):  # Dask reruns it once elsewhere (allowed-failures 1), then gives up
            victim = cluster.busy_with("aa_slow", besides=tuple(killed))
            os.kill(cluster.pids()[victim], signal.SIGKILL)
            killed.append(victim)
        _, err = run.communicate(timeout=600)
        assert run.returncode == 0, err
        slow = _records(out)["aa_slow"]
        assert "died 2 times" in slow["grader_fault"] and slow["attempts"] == 2
        assert all(q["status"] == "error" for q in slow["questions"])  # the grader's failure, not a zero
        assert all(not _records(out)[f"fast{i}"]["errors"] for i in range(3))
        assert "1 could not be finished" in err.replace("\n", " ")

        again = _grade([batch], out, "--scheduler", cluster.address, rubric=rubric)  # one worker left
        assert again.returncode == 0, again.stderr
        assert "graded 1, reused 3 stored results" in again.stderr.replace("\n", " ")
        slow = _records(out)["aa_slow"]
        assert slow["grader_fault"] == "" and slow["attempts"] == 3 and slow["total"] == 0  # graded now
    finally:
        cluster.close()


@pytest.mark.slow
def test_a_killed_client_leaves_nothing_running_and_the_rerun_grades_only_what_is_missing(cluster, tmp_path):
    batch, rubric = _slow_class(tmp_path, sleep=20, fast=5)
    out = tmp_path / "out"
    run = _grade([batch], out, "--scheduler", cluster.address, rubric=rubric, background=True)
    cluster.busy_with("aa_slow")
    deadline = time.monotonic() + 120
    while len(_records(out)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    stored = set(_records(out))
    assert "aa_slow" not in stored and len(stored) >= 2
    again = _grade([batch], out, "--scheduler", cluster.address, rubric=rubric)
    assert again.returncode == 0, again.stderr
    assert f"graded {6 - len(stored)}, reused {len(stored)} stored results" in again.stderr.replace("\n", " ")
    # the killed run's plugin and grading workers were stopped by the next run; that one stopped its own
    for pid in cluster.pids().values():
        assert _grading_workers_under(pid) == []
    plugins = cluster.client.run(lambda dask_worker: [n for n in dask_worker.plugins if n.startswith("mlgrade-")])
    assert all(v == [] for v in plugins.values())


FILES_RUBRIC = """
name: files
questions:
  - id: a
    title: a file
    points: 1
    files: [a.txt]
    checks:
      - {kind: file_present, file: a.txt}
"""


@pytest.mark.slow
def test_workers_that_would_grade_differently_are_refused_by_name(cluster, tmp_path):
    # a worker running other mlgrade code: a copy of this checkout with one line changed
    other = tmp_path / "other"
    for pkg in ("grader", "reference"):
        shutil.copytree(ROOT / pkg, other / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    with open(other / "grader" / "__init__.py", "a") as f:
        f.write("# a different commit\n")
    odd = cluster.add_worker(env={"PYTHONPATH": str(other)})
    batch = tmp_path / "class"
    batch.mkdir()
    for s in ("amy", "ben", "cal"):
        make_zip(batch / f"{s}.zip", [("a.txt", b"hello")])
    rubric = tmp_path / "files.yaml"
    rubric.write_text(FILES_RUBRIC)
    done = _grade([batch], tmp_path / "out", "--scheduler", cluster.address, rubric=rubric)
    assert done.returncode == 0, done.stderr
    err = " ".join(done.stderr.split())
    assert f"{odd}: mlgrade code" in err and "(the client has" in err and "install the same mlgrade there" in err
    assert all(r["total"] == 1 for r in _records(tmp_path / "out").values())

    for addr, pid in cluster.pids().items():  # only the odd worker left: nothing can grade
        if addr != odd:
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while len(cluster.client.scheduler_info()["workers"]) > 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    refused = _grade([batch], tmp_path / "out2", "--scheduler", cluster.address, rubric=rubric)
    assert refused.returncode == 3
    assert "no Dask worker can grade this batch" in refused.stderr and odd in refused.stderr


def test_the_class_is_graded_in_the_environment_most_workers_share():
    from grader.batch.scheduling.cluster import choose_environment
    from grader.batch.scheduling.cluster_worker import fingerprint

    client = fingerprint()
    same = dict(client)
    old_numpy = {**client, "numpy": "1.0.0"}
    other_code = {**client, "mlgrade code": "0123456789abcdef"}
    laptop = {**client, "keras": "2.0.0"}  # the client's own packages do not decide
    expected, refused = choose_environment(laptop, {
        "tcp://a:1": old_numpy, "tcp://b:1": same, "tcp://c:1": same, "tcp://d:1": other_code,
        "tcp://e:1": ModuleNotFoundError("No module named 'grader'")})
    assert expected == client
    assert refused["tcp://a:1"] == [f"numpy 1.0.0 (the other workers have {client['numpy']}): install the same "
                                    "packages there"]
    assert "mlgrade code 0123456789abcdef (the client has" in refused["tcp://d:1"][0]
    assert "cannot run mlgrade (ModuleNotFoundError" in refused["tcp://e:1"][0]
    assert set(refused) == {"tcp://a:1", "tcp://d:1", "tcp://e:1"}
    # a tie goes to the first worker by address, the same way every time
    expected, refused = choose_environment(client, {"tcp://b:1": same, "tcp://a:1": old_numpy})
    assert expected["numpy"] == "1.0.0" and list(refused) == ["tcp://b:1"]
    assert choose_environment(client, {"tcp://d:1": other_code})[0] == {}


def test_scheduler_usage_errors(tmp_path):
    batch = tmp_path / "class"
    batch.mkdir()
    make_zip(batch / "amy.zip", [("a.txt", b"x")])
    both = _grade([batch], tmp_path / "out", "--scheduler", "tcp://127.0.0.1:9", "--jobs", "2", isolation="none")
    assert both.returncode == 2 and "--jobs is for grading on this machine" in both.stderr
    env_timeout = {"MLGRADE_CONNECT_TIMEOUT": "2"}
    cmd = [sys.executable, "-m", "grader", "grade", str(batch), "--out", str(tmp_path / "out"), "--rubric",
           str(ROOT / "rubric.yaml"), "--scheduler", "tcp://127.0.0.1:9", "--isolation", "none"]
    nobody = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(ROOT), **env_timeout}, capture_output=True,
                            text=True, timeout=120)
    assert nobody.returncode == 3 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in nobody.stderr




@pytest.mark.slow
def test_hidden_photos_and_folder_submissions_on_the_cluster(cluster, tmp_path):
    """--hidden travels once per worker; a folder submission travels zipped; the grades are the local ones."""
    from PIL import Image
    from test_batch import constant_model

    from grader.checks.digitsdata import mnist_hidden

    hidden = tmp_path / "hidden"
    data = mnist_hidden()
    for i in range(30):
        folder = hidden / "digits" / str(int(data.labels[i]))
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((255 - data.images[i]).astype(np.uint8)).resize((90, 90)).save(folder / f"staff{i}.png")
    batch = tmp_path / "class"
    batch.mkdir()
    make_zip(batch / "amy.zip", [("digits.h5", constant_model(tmp_path / "amy.h5", 1))])
    make_zip(batch / "ben.zip", [("digits.h5", b"\x89PNG not a model")])
    (batch / "cal").mkdir()  # a student folder without a zip: the folder is the submission
    (batch / "cal" / "hw").mkdir()
    constant_model(batch / "cal" / "hw" / "digits.h5", 7)
    (batch / "cal" / "hw" / "link.h5").symlink_to("/etc/passwd")
    rubric = tmp_path / "digits.yaml"
    rubric.write_text(DIGITS_RUBRIC)
    local = _grade([batch], tmp_path / "local", "--hidden", str(hidden), "--jobs", "1", rubric=rubric)
    assert local.returncode == 0, local.stderr
    remote = _grade([batch], tmp_path / "remote", "--hidden", str(hidden), "--scheduler", cluster.address,
                    rubric=rubric)
    assert remote.returncode == 0, remote.stderr
    assert (tmp_path / "remote" / "grades.csv").read_bytes() == (tmp_path / "local" / "grades.csv").read_bytes()
    assert _feedback(tmp_path / "remote") == _feedback(tmp_path / "local")
    cal = _records(tmp_path / "remote")["cal"]
    assert "staff" in cal["questions"][0]["reason"]
    assert any("link.h5: not copied: symbolic links are never followed" in w for w in cal["warnings"])
