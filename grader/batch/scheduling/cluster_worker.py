"""The Dask worker's side of ``mlgrade grade --scheduler``: one grading worker per Dask worker.

:class:`GradingPlugin` is registered by the client for one run and set up on every Dask worker,
including ones that join later. On each it

1. refuses to grade, with a message in the worker's log and in the client's report, unless the
   worker runs the client's mlgrade (version and a digest of its code), the same Python and
   versions of the packages that compute results as the run's other workers, reads the rubric to
   the same digest, has the packages the rubric ``requires``, and (when the run is sandboxed) has
   working bubblewrap;
2. claims a sandbox slot with a lock (:mod:`grader.execute.slots`), so Dask workers on one machine never
   share sandbox uids, and wipes the slot's scratch folder (anything there belonged to a holder
   that is gone);
3. writes the hidden data it brought once, into a private folder (mode 0700) of that scratch
   space, which no sandbox ever sees;
4. starts a :class:`GradingService`: one long-lived :mod:`grader.batch.worker` process (notebook
   runner, model server, Keras imported once), fed one submission at a time by a thread of its
   own, with the run's wall clock per submission;
5. only then grants the worker the run's resource (``mlgrade-<client id>: 1``), which every task
   of the run asks for: so a worker that refused never gets a task, and a worker grades one
   submission at a time whatever its ``--nthreads``.

:func:`grade_task` is the task: it lays the submission's bytes out in a private folder, lets the
service grade it, and returns the record as JSON (or why the grader failed), storing nothing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import os
import queue
import secrets
import select
import shutil
import signal
import sys
import tempfile
import threading
from importlib import metadata
from pathlib import Path
from typing import Any, cast

from distributed import WorkerPlugin, get_worker

import grader
from grader import __version__
from grader.batch.scheduling.transport import Parcel, TransportError, extract, take_previews, unpack_parcel
from grader.batch.worker import WorkerProcess, died_reason, timeout_reason
from grader.core.environment import missing_packages
from grader.execute.isolation import backend
from grader.execute.slots import SlotClaim, claim_slot
from grader.intake.sources import is_plain_id
from grader.rubric import RubricError, parse_rubric
from grader.score.qcache import PACKAGES

log = logging.getLogger("distributed.mlgrade")  # shown where Dask shows its own worker logs



def _code_digest() -> str:
    """A digest of mlgrade's own files (the course's references travel with the rubric, not with mlgrade)."""
    h = hashlib.sha256()
    for pkg in (grader,):
        root = Path(cast(str, pkg.__file__)).resolve().parent  # a regular package: __file__ is its __init__.py
        for p in sorted(root.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc":
                h.update(f"{pkg.__name__}/{p.relative_to(root).as_posix()}\0".encode())
                h.update(p.read_bytes())
    return h.hexdigest()[:16]


CODE_KEYS = ("mlgrade", "mlgrade code")  # must be the client's: it reads the records and scores the class


def fingerprint() -> dict[str, str]:
    """What decides a grade besides the submission: mlgrade itself (:data:`CODE_KEYS`), and Python and
    the packages that compute results (the self-check cache's list), which all workers must share."""
    out = {"mlgrade": __version__, "mlgrade code": _code_digest(), "python": ".".join(map(str, sys.version_info[:3]))}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def split(fp: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(mlgrade's own keys, the environment's)."""
    return ({k: v for k, v in fp.items() if k in CODE_KEYS}, {k: v for k, v in fp.items() if k not in CODE_KEYS})


def worker_fingerprint(dask_worker: Any = None) -> dict[str, str]:
    """Run on each worker by the client before the plugin (``Client.run`` passes ``dask_worker``)."""
    return fingerprint()


def differences(expected: dict[str, str], found: dict[str, str], who: str) -> list[str]:
    return [f"{k} {found.get(k, 'missing')} ({who} {'has' if who == 'the client' else 'have'} {v})"
            for k, v in expected.items() if found.get(k) != v]


def plugin_status(name: str, dask_worker: Any = None) -> dict[str, Any]:
    """Whether this worker set up the run's plugin, and if not why (run by the client)."""
    plugin = dask_worker.plugins.get(name) if dask_worker is not None else None
    if plugin is None:  # not yet: a worker that just joined sets it up after registering
        return {"ready": False, "problems": []}
    return {"ready": plugin.service is not None, "problems": list(plugin.problems), "slot": plugin.slot}


class GradingPlugin(WorkerPlugin):
    def __init__(self, name: str, config: dict, rubric_digest: str, expected: dict[str, str],
                 hidden_zip: bytes | None, timeout: float, rubric_zip: bytes | None = None):
        self.name = name
        self.rubric_zip = rubric_zip
        self._rubric_dir: Path | None = None
        self.config = config
        self.rubric_digest = rubric_digest
        self.expected = expected
        self.hidden_zip = hidden_zip
        self.timeout = timeout
        self.problems: list[str] = []
        self.service: GradingService | None = None
        self.slot: int | None = None
        self._claim: SlotClaim | None = None

    async def setup(self, worker: Any) -> None:
        loop = asyncio.get_running_loop()
        self.problems = await loop.run_in_executor(None, self._check)
        if self.problems:
            log.error("mlgrade: this worker cannot grade for %s: %s", self.name, "; ".join(self.problems))
            return
        try:
            await loop.run_in_executor(None, self._start)
        except Exception as e:  # a broken slot folder, a full disk: say so, and grade nothing here
            self.problems = [f"could not start a grading worker: {type(e).__name__}: {e}"]
            log.exception("mlgrade: could not start a grading worker for %s", self.name)
            await loop.run_in_executor(None, self._stop)
            return
        if worker.state.nthreads > 1:
            log.warning("mlgrade: this worker has %d threads but grades one submission at a time; start Dask "
                        "workers with --nthreads 1 and as many --nworkers as the machine has cores",
                        worker.state.nthreads)
        await worker.set_resources(**{self.name: 1})

    def _check(self) -> list[str]:
        code, packages = split(self.expected)
        found_code, found_packages = split(fingerprint())
        problems = differences(code, found_code, "the client") + differences(packages, found_packages,
                                                                             "the other workers")
        if problems:
            problems = [f"{', '.join(problems)}: install the same mlgrade and packages there"]
        try:
            self._lay_out_rubric()
            rubric = parse_rubric(self.config["rubric_text"], self.config["rubric_source"])
        except TransportError as e:
            return [*problems, f"the rubric's files cannot be laid out here: {e}"]
        except RubricError as e:
            return [*problems, f"the rubric cannot be read here: {e}"]
        if rubric.digest() != self.rubric_digest:
            problems.append(f"the rubric reads as digest {rubric.digest()} here, {self.rubric_digest} on the client")
        if rubric.requires and (missing := missing_packages(rubric.requires)):
            problems.append("the rubric requires packages missing here: "
                            + "; ".join(f"{m}: {why}" for m, why in missing.items()))

        if why := backend(self.config["options"]["isolation"]).problem():
            problems.append(f"no sandbox here: {why}")
        return problems

    def _lay_out_rubric(self) -> None:
        """The rubric's own files, as the client has them around the rubric, in a private folder here; the
        rubric is then read as if it were there (a worker machine needs no copy of the course's folder)."""
        if self.rubric_zip is None or self._rubric_dir is not None:
            return
        self._rubric_dir = Path(tempfile.mkdtemp(prefix="mlgrade-rubric-"))  # 0700, the grader's own
        extract(self.rubric_zip, self._rubric_dir)
        source = self._rubric_dir / (Path(self.config["rubric_source"]).name or "rubric.yaml")
        if not source.exists():  # the rubric itself, so that it is read relative to this folder
            source.write_text(self.config["rubric_text"], encoding="utf-8")
        self.config = {**self.config, "rubric_source": str(source)}

    def _start(self) -> None:
        self._claim = claim = claim_slot()
        self.slot = claim.slot
        options = {**self.config["options"], "sandbox_slot": claim.slot, "hidden_dir": None, "preview_dir": None}
        previews = None
        if self.config["options"].get("preview_dir"):  # review previews: written here, sent back with the record
            previews = claim.scratch / "previews"
            os.mkdir(previews, 0o700)
            options["preview_dir"] = str(previews)
        if self.hidden_zip is not None:
            hidden = claim.scratch / "hidden"
            os.mkdir(hidden, 0o700)  # the grader reads it; no sandbox is ever given it
            extract(self.hidden_zip, hidden)
            options["hidden_dir"] = str(hidden)
            self.hidden_zip = None
        self.service = GradingService({**self.config, "options": options, "out": None}, self.timeout, claim.scratch,
                                      previews)

    def _stop(self) -> None:
        if self.service is not None:
            self.service.close()
            self.service = None
        if self._claim is not None:
            self._claim.release()
            self._claim = None
        if self._rubric_dir is not None:
            shutil.rmtree(self._rubric_dir, ignore_errors=True)
            self._rubric_dir = None

    async def teardown(self, worker: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._stop)
        try:
            await worker.set_resources(**{self.name: 0})
        except Exception:  # the worker is closing: nothing to take back
            pass


class GradingService:
    """One grading worker process, fed one submission at a time by a thread that lives as long as it.

    The worker dies with the thread that started it (``PR_SET_PDEATHSIG``), so that thread must be
    this long-lived one, never a task thread that Dask may retire."""

    def __init__(self, config: dict, timeout: float, scratch: Path, previews: Path | None = None):
        self.timeout = timeout
        self.previews = previews
        self.inbox = scratch / "inbox"  # the submissions' bytes: the grader's only
        self.work = scratch / "work"  # work folders, which the sandbox users must reach
        os.mkdir(self.inbox, 0o700)
        os.mkdir(self.work, 0o755)
        os.chmod(self.work, 0o755)
        self.worker = WorkerProcess(config)
        self.closed = False
        self.jobs: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._loop, name="mlgrade-grading-worker", daemon=True)
        self.thread.start()

    def grade(self, task: dict, parcel: Parcel) -> dict:
        """Grade one submission (blocks until done); ``{"record": ...}`` or ``{"fault": why}``."""
        if self.closed:
            return {"fault": "the grading worker was stopped"}
        done: concurrent.futures.Future = concurrent.futures.Future()
        self.jobs.put((task, parcel, done))
        return done.result()

    def _loop(self) -> None:
        self.worker.start()  # now, in this thread: Keras and the rest load while the first zip travels
        while (job := self.jobs.get()) is not None:
            task, parcel, done = job
            if self.closed:
                done.set_result({"fault": "the grading worker was stopped"})
                continue
            try:
                done.set_result(self._grade(task, parcel))
            except BaseException as e:  # a bug here must fail this task, not hang the worker
                done.set_exception(e)
        self.worker.kill()

    def _grade(self, task: dict, parcel: Parcel) -> dict:
        student = task["student"]
        if not is_plain_id(student):
            raise ValueError(f"{student!r} is not a student id")
        token = secrets.token_hex(8)
        box = self.inbox / token
        workdir = self.work / f"{student}-{token}"  # fresh and unguessable for every attempt
        os.mkdir(box, 0o700)
        try:
            source = unpack_parcel(parcel, box)
            self.worker.send({"student": student, "source": str(source), "workdir": str(workdir),
                              "attempt": task["attempt"], "key": task["key"]})
            ready, _, _ = select.select([self.worker.stdout], [], [], self.timeout)
            if not ready:
                self.worker.kill()
                return {"fault": timeout_reason(self.timeout)}
            answer = self.worker.read_answer()
            if answer is None:
                code = self.worker.exit_code()
                self.worker.kill()
                return {"fault": died_reason(code)}
            if self.previews is not None:
                answer["previews"] = take_previews(self.previews)
            return answer
        finally:
            shutil.rmtree(box, ignore_errors=True)
            shutil.rmtree(workdir, ignore_errors=True)
            if self.previews is not None:  # a failed attempt's previews belong to no record
                take_previews(self.previews)

    def close(self) -> None:
        """Stop grading; a submission in hand is abandoned (its task reports a fault)."""
        self.closed = True
        self.jobs.put(None)
        if self.worker.proc is not None:
            try:
                os.killpg(self.worker.proc.pid, signal.SIGKILL)  # the loop notices the end of its output
            except (ProcessLookupError, PermissionError):
                pass
        self.thread.join(timeout=30)


def grade_task(name: str, task: dict, parcel: Parcel) -> dict:
    """The Dask task: grade one submission with this worker's grading service for run ``name``."""
    plugin = get_worker().plugins.get(name)
    service = getattr(plugin, "service", None)
    if service is None:
        raise RuntimeError(f"this Dask worker has no mlgrade grading worker for {name}")
    return service.grade(task, parcel)
