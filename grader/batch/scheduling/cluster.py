"""``mlgrade grade --scheduler tcp://HOST:8786``: grade on a Dask cluster, store here.

The client (this process) sends one task per submission, carrying the submission's bytes
(:mod:`grader.batch.scheduling.transport`), so workers need no shared file system; each Dask worker grades with
one long-lived grading worker of its own (:mod:`grader.batch.scheduling.cluster_worker`) and hands the
record back as JSON, which the batch driver stores here the moment it arrives. The class-level
step then runs here, on the stored records, as after a local run.

- Only one task per grading worker is out at a time, so neither this process nor the scheduler
  ever holds the whole class's bytes, and no task waits on a worker behind another: when a
  worker dies, Dask counts that against the one task it was grading, not against bystanders.
- A worker that refuses to grade (another mlgrade, other package versions, no bubblewrap) is
  named with the reason; the batch goes on with the others, and stops when there are none.
- A task whose Dask worker dies is rerun elsewhere by the scheduler, at most ``retries`` times
  (its ``allowed-failures``, which this sets for the run); then Dask gives up with ``KilledWorker``,
  which becomes the grader-fault record the driver stores, never the student's zero.
- The grading worker's own death or the wall clock on the worker come back as faults too, and
  the driver retries those as for a local run.
"""

from __future__ import annotations

import os
import queue
import secrets
import time
from pathlib import Path

from rich.console import Console

from grader.batch.scheduling import Attempt, AttemptEnd, ClusterError, cluster_worker
from grader.batch.scheduling.cluster_worker import differences, grade_task, plugin_status, split, worker_fingerprint
from grader.batch.scheduling.transport import keep_previews, pack, pack_files, pack_folder_plain
from grader.core.options import GradeOptions
from grader.core.results import SubmissionResult
from grader.rubric import Rubric

CONNECT_TIMEOUT = float(os.environ.get("MLGRADE_CONNECT_TIMEOUT", "30"))
WAIT_FOR_WORKERS = 60.0
REFRESH_WORKERS = 5.0
SETUP_TIMEOUT = 120.0  # for every worker to check itself and start its grading worker
PER_WORKER_WINDOW = 1  # a second task would wait on the worker, and share the blame if the worker dies


def _dask():
    try:
        import distributed
    except ImportError:
        raise ClusterError("--scheduler needs Dask's distributed scheduler on this machine and on every "
                           "worker: pip install 'mlgrade[distributed]'") from None
    return distributed


def choose_environment(client_fp: dict[str, str], found: dict[str, dict | BaseException]
                       ) -> tuple[dict[str, str], dict[str, list[str]]]:
    """What every worker of the run must have: the client's mlgrade, and the environment (Python and the
    packages that compute results) most workers with that mlgrade share, ties going to the first by address,
    so that the whole class is graded in one environment. Returns it (empty when no worker qualifies) and
    the workers refused, with why."""
    code = split(client_fp)[0]
    refused: dict[str, list[str]] = {}
    same_code = {}
    for addr, fp in sorted(found.items()):
        if isinstance(fp, BaseException):
            refused[addr] = [f"cannot run mlgrade ({type(fp).__name__}: {fp}); install mlgrade "
                             f"{code['mlgrade']} there"]
        elif diffs := differences(code, split(fp)[0], "the client"):
            refused[addr] = [f"{', '.join(diffs)}: install the same mlgrade there"]
        else:
            same_code[addr] = split(fp)[1]
    if not same_code:
        return {}, refused
    envs = [tuple(sorted(env.items())) for env in same_code.values()]
    most_shared = max(envs, key=lambda e: (envs.count(e), -envs.index(e)))
    chosen = dict(most_shared)
    for addr, env in same_code.items():
        if diffs := differences(chosen, env, "the other workers"):
            refused[addr] = [f"{', '.join(diffs)}: install the same packages there"]
    return {**code, **chosen}, refused


def _rubric_files(rubric: Rubric) -> bytes | None:
    """The rubric's own files (tests, reference modules, plugins, data), to lay out again on each worker."""
    try:
        files = rubric.relative_assets()
    except ValueError as e:
        raise ClusterError(f"the rubric's files cannot travel to the workers: {e}") from None
    return pack_files(files) if files else None


class DaskScheduler:
    def __init__(self, address: str, config: dict, rubric: Rubric, options: GradeOptions, timeout: float,
                 console: Console, retries: int = 1):
        distributed = _dask()

        self.address = address
        self.rubric = rubric
        self.preview_dir = options.preview_dir
        self.console = console
        self.retries = retries
        try:
            self.client = distributed.Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as e:
            raise ClusterError(f"cannot reach the Dask scheduler at {address} ({e}); is `dask scheduler` "
                               "running there, and is its port open to this machine?") from None
        self.name = f"mlgrade-{self.client.id}"  # the run's plugin, and the resource its tasks ask for
        self.inflight: dict[str, tuple[Attempt, object]] = {}
        self.ended: queue.Queue = queue.Queue()
        self.workers = 0
        self.refused: dict[str, list[str]] = {}
        self.setup_error = ""
        self._reported = False  # refusals found after setting up are printed as they come
        self._checked_at = 0.0
        try:
            self._remove_abandoned_runs()
            self._set_allowed_failures()
            self._wait_for_workers()
            expected = self._preflight(cluster_worker.fingerprint())
            hidden = pack_folder_plain(options.hidden_dir) if options.hidden_dir else None
            plugin = cluster_worker.GradingPlugin(self.name, config, rubric.digest(), expected, hidden, timeout,
                                                  rubric_zip=_rubric_files(rubric))
            try:
                self.client.register_plugin(plugin, name=self.name)
            except Exception as e:  # a worker could not even load it; the others still set it up
                self.setup_error = f"{type(e).__name__}: {e}"
            self._await_setup()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ setting up

    def _remove_abandoned_runs(self) -> None:
        """A client killed with kill -9 leaves its plugin (and a grading worker per Dask worker): stop those."""
        def abandoned(dask_scheduler=None):
            return [n for n in dask_scheduler.worker_plugins
                    if n.startswith("mlgrade-") and n[len("mlgrade-"):] not in dask_scheduler.clients]

        for name in self.client.run_on_scheduler(abandoned):
            try:
                self.client.unregister_worker_plugin(name)
            except Exception:
                pass

    def _set_allowed_failures(self) -> None:
        """Dask reruns a task whose worker died; bound that, so a submission that kills workers stops."""
        def set_allowed(n, dask_scheduler=None):
            dask_scheduler.allowed_failures = n
            return n

        self.retries = self.client.run_on_scheduler(set_allowed, self.retries)

    def _wait_for_workers(self) -> None:
        try:
            self.client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS)
        except TimeoutError:
            raise ClusterError(f"no Dask worker joined {self.address} within {WAIT_FOR_WORKERS:.0f} s; start "
                               f"some: dask worker {self.address} --nthreads 1 --nworkers N") from None

    def _preflight(self, client_fp: dict[str, str]) -> dict[str, str]:
        """Name every worker that would grade differently, before anything is sent; returns what every
        worker of the run must have."""
        found = self.client.run(worker_fingerprint, on_error="return")
        expected, refused = choose_environment(client_fp, found)
        self.refused.update(refused)
        if not expected:
            raise ClusterError(self._refusals("no Dask worker can grade this batch"))
        return expected

    def _refusals(self, headline: str) -> str:
        lines = [f"{headline}:"] + [f"  {addr}: {'; '.join(why)}" for addr, why in sorted(self.refused.items())]
        return "\n".join(lines)

    def _check_workers(self) -> int:
        """Count the workers that grade for this run, name new refusals; returns how many are still setting up."""
        info = self.client.scheduler_info()["workers"]
        self.workers = sum(1 for w in info.values() if w.get("resources", {}).get(self.name, 0) >= 1)
        self._checked_at = time.monotonic()
        unsure = [a for a, w in info.items() if a not in self.refused and w.get("resources", {}).get(self.name, 0) < 1]
        if not unsure:
            return 0
        setting_up = 0
        for addr, st in self.client.run(plugin_status, self.name, workers=unsure, on_error="return").items():
            if isinstance(st, BaseException):
                self.refused[addr] = [f"cannot run mlgrade ({type(st).__name__}: {st})"]
            elif st["problems"]:
                self.refused[addr] = st["problems"]
            else:
                setting_up += 1
                continue
            if self._reported:
                self.console.print(f"mlgrade: Dask worker {addr} will not grade: {'; '.join(self.refused[addr])}",
                                   style="yellow", markup=False, highlight=False)
        return setting_up

    def _await_setup(self) -> None:
        """Wait until every worker has set the run up or refused, then say which refused."""
        deadline = time.monotonic() + SETUP_TIMEOUT
        while self._check_workers() and time.monotonic() < deadline:
            time.sleep(0.5)
        if self.refused:
            self.console.print(self._refusals("mlgrade: these Dask workers will not grade"), style="yellow",
                               markup=False, highlight=False)
        self._reported = True
        if self.workers == 0:
            if self.refused:
                raise ClusterError(self._refusals("no Dask worker can grade this batch"))
            why = self.setup_error or "see the workers' logs"
            raise ClusterError(f"no Dask worker at {self.address} could start a grading worker ({why})")

    # ------------------------------------------------------------------ the Scheduler interface

    def describe(self) -> str:
        return f"Dask at {self.address}: {self.workers} grading worker{'s' if self.workers != 1 else ''}"

    def _refresh(self) -> None:
        if time.monotonic() - self._checked_at < REFRESH_WORKERS:
            return
        had = self.workers
        try:
            self._check_workers()
        except Exception:
            if self.client.status != "running":
                raise self._lost() from None
            return  # a worker that left while asked: count again next time
        if had and not self.workers:
            self.console.print(f"mlgrade: no Dask worker at {self.address} is grading now; waiting for one to "
                               "join (Ctrl-C stops: what was graded is stored, and a rerun grades the rest)",
                               style="yellow", markup=False, highlight=False)

    def free(self) -> int:
        self._refresh()
        return max(1, PER_WORKER_WINDOW * self.workers) - len(self.inflight)

    def busy(self) -> int:
        return len(self.inflight)

    def submit(self, attempt: Attempt) -> None:
        parcel = pack(attempt.source.path, self.rubric.limits)
        task = {"student": attempt.source.student, "key": attempt.key, "attempt": attempt.number}
        key = f"mlgrade-{attempt.source.student}-{secrets.token_hex(4)}"
        future = self.client.submit(grade_task, self.name, task, parcel, key=key, pure=False,
                                    resources={self.name: 1}, retries=0)
        self.inflight[key] = (attempt, future)
        future.add_done_callback(lambda f, key=key: self.ended.put(key))

    def wait(self, seconds: float) -> list[AttemptEnd]:
        self._refresh()
        if self.client.status not in ("running", "connecting"):
            raise self._lost()
        keys = []
        try:
            keys.append(self.ended.get(timeout=seconds))
            while True:
                keys.append(self.ended.get_nowait())
        except queue.Empty:
            pass
        if keys and self.client.status != "running":  # tasks end when the scheduler goes away: not their fault
            raise self._lost()
        return [self._outcome(*self.inflight.pop(k)) for k in keys if k in self.inflight]

    def _lost(self) -> ClusterError:
        return ClusterError(f"lost the connection to the Dask scheduler at {self.address}; what was graded is "
                            "stored: run the same command again to grade the rest")

    def _outcome(self, attempt: Attempt, future) -> AttemptEnd:
        from distributed.scheduler import KilledWorker

        status = future.status
        if status == "finished":
            answer = future.result()
            if "fault" in answer:
                return AttemptEnd(attempt, fault=str(answer["fault"]))
            try:
                record = SubmissionResult.model_validate(answer["record"])
            except (KeyError, TypeError, ValueError) as e:
                return AttemptEnd(attempt, fault=f"a Dask worker answered without a readable record ({e})")
            if record.student != attempt.source.student:  # a record is only ever its own student's
                return AttemptEnd(attempt, fault=f"a Dask worker answered for {record.student!r} instead")
            record.source = str(Path(attempt.source.path).resolve())  # as a local run records it
            if self.preview_dir is not None and isinstance(answer.get("previews"), dict):
                keep_previews(answer["previews"], self.preview_dir)  # before the record that names them
            return AttemptEnd(attempt, record=record, total=record.total, crashed=bool(record.crashed_checks))
        if status == "error":
            error = future.exception()
            if isinstance(error, KilledWorker):
                return AttemptEnd(attempt, tries=self.retries + 1, fault=(
                    f"the Dask workers grading this submission died {self.retries + 1} times (last "
                    f"{getattr(error.last_worker, 'address', error.last_worker)}); it was not graded"))
            return AttemptEnd(attempt, fault=f"grading failed on a Dask worker ({type(error).__name__}: {error})")
        return AttemptEnd(attempt, fault=f"the Dask scheduler dropped this task ({status})")

    def release(self) -> None:
        """Nothing to begin early: the cluster's workers stop when :meth:`close` unregisters the plugin."""

    def close(self) -> None:
        """Cancel what is out, stop this run's grading workers (freeing their slots), disconnect."""
        futures = [f for _, f in self.inflight.values()]
        self.inflight.clear()
        try:
            if futures:
                self.client.cancel(futures)
            self.client.unregister_worker_plugin(self.name)
        except Exception:
            pass
        try:
            self.client.close(timeout=10)
        except Exception:
            pass
