"""A long-lived grading worker: ``python -m grader.batch.worker CONFIG``, and its parent's handle on it.

Grades the submissions its parent sends (one JSON task per line on stdin), each in a fresh work
folder, and answers with one JSON line per task. Its notebook runner and model server (with Keras
imported once) live as long as it does. Two ways to hand back a result, chosen by the config:

- ``"out": FOLDER`` (local batches): the record is stored atomically in FOLDER's result store
  *before* answering, so no grade is lost if anything dies later; the answer is
  ``{"student", "total"}``;
- ``"out": null`` (Dask workers, whose results travel back to the client): nothing is written;
  the answer also carries the record, ``{"student", "total", "record": {...}}``.

Either way it computes the same record. :class:`WorkerProcess` is the parent's side: the local
pool (:mod:`grader.batch.scheduling.local`) and each Dask worker (:mod:`grader.batch.scheduling.cluster_worker`)
keep their grading workers through it.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from grader.core.options import GradeOptions
from grader.core.timeline import mark
from grader.execute.isolation import backend, kill_tree
from grader.rubric import Rubric, parse_rubric
from grader.rubric.kinds import get_kind
from grader.score.pipeline import grade_submission
from grader.score.store import ResultStore


def _die_with_parent() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def main() -> None:
    _die_with_parent()
    mark("worker: imported")
    config = json.loads(sys.argv[1])
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)


    rubric = parse_rubric(config["rubric_text"], config["rubric_source"])
    opts = dict(config["options"])
    for name in ("hidden_dir", "preview_dir"):
        opts[name] = Path(opts[name]) if opts.get(name) else None
    options = GradeOptions(**opts)
    warm_sandbox(rubric, options)
    store = ResultStore(Path(config["out"])) if config.get("out") else None
    mark("worker: ready")
    for line in sys.stdin:
        task = json.loads(line)
        mark(f"worker: task {task['student']}")
        result = grade_submission(Path(task["source"]), rubric, Path(task["workdir"]), options,
                                  student=task["student"])
        result.attempts = int(task.get("attempt", 1))
        answer: dict = {"student": task["student"], "total": result.total}
        if store is not None:
            store.put(task["student"], task["key"], result)
        else:
            answer["record"] = result.model_dump(mode="json")
        protocol.write(json.dumps(answer) + "\n")
        mark(f"worker: answered {task['student']}")
    mark("worker: no more tasks")


def warm_sandbox(rubric: Rubric, options: GradeOptions) -> None:
    """Start the notebook sandbox (bubblewrap's zygote: 0.3-0.5 s) while the first task is read and unpacked,
    when the rubric runs notebooks. The thread stays parked for the worker's life: the sandbox dies with the
    thread that started it (bubblewrap's --die-with-parent is per thread)."""
    if not any((k := get_kind(c.kind)) is not None and k.uses_notebooks for q in rubric.questions for c in q.checks):
        return

    def warm() -> None:
        try:
            backend(options.isolation).warm(options.sandbox_slot)
            mark("worker: sandbox warm")
        except Exception:  # noqa: BLE001 - the first notebook starts it again and says why it cannot
            pass
        threading.Event().wait()

    threading.Thread(target=warm, name="warm-sandbox", daemon=True).start()


def died_reason(code: int | None) -> str:
    hint = " (out of memory?)" if code in (-9, 137) else ""
    return f"the grading worker died while grading this submission (exit {code}){hint}"


def timeout_reason(timeout: float) -> str:
    return f"grading this submission took longer than {timeout:.0f} s and was stopped"


class WorkerProcess:
    """The parent's side of one grading worker: start it, hand it a task, read its answer, kill it.

    The worker dies with the *thread* that started it (``PR_SET_PDEATHSIG``), so start it from a
    thread that lives as long as the handle is used."""

    def __init__(self, config: dict):
        self.config = config
        self.proc: subprocess.Popen | None = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def stdout(self) -> IO[str]:
        assert self.proc is not None and self.proc.stdout is not None
        return self.proc.stdout

    def start(self) -> None:
        """Start the worker unless it is running."""
        if self.alive():
            return
        stderr = None if os.environ.get("MLGRADE_DEBUG") else subprocess.DEVNULL
        mark("worker spawned")
        self.proc = subprocess.Popen([sys.executable, "-m", "grader.batch.worker", json.dumps(self.config)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                     text=True, bufsize=1, start_new_session=True)

    def send(self, task: dict) -> None:
        """Hand over one task; a worker that is gone shows up as a dead one on the next read."""
        self.start()
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(task) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def read_answer(self) -> dict | None:
        """The answer to the task in hand (blocks), or None when the worker died instead."""
        line = self.stdout.readline()
        if not line:
            return None
        try:
            answer = json.loads(line)
        except ValueError:
            return None
        return answer if isinstance(answer, dict) else None

    def exit_code(self, wait_s: float = 2.0) -> int | None:
        """How a worker whose output ended exited (None if it is somehow still running)."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.proc is not None:
            kill_tree(self.proc)
        self.proc = None

    def close_input(self) -> None:
        """No more tasks: the worker stops when it has answered the one in hand."""
        if self.proc is not None and self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass

    def close(self, wait_s: float = 20) -> None:
        """Let the worker finish, then make sure it is gone."""
        self.close_input()
        if self.proc is not None:
            try:
                self.proc.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


if __name__ == "__main__":
    main()
