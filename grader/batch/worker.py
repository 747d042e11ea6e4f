"""A long-lived grading worker: ``python -m grader.batch.worker -``, and its parent's handle on it.

Its configuration is the first line on stdin (it is started before the parent knows it:
:mod:`grader.batch.spawn`, which may first send ``{"warm": {"isolation", "slot"}}`` so that its sandbox
starts before the rubric is read; ``CONFIG`` as the argument instead of ``-`` works too). It grades the
submissions its parent sends (one JSON task per line on stdin after that), each in a fresh work
folder, and answers with one JSON line per task. Its notebook runner and model server (with Keras
imported once) live as long as it does. Two ways to hand back a result, chosen by the config:

- ``"out": FOLDER`` (local batches): the record is stored atomically in FOLDER's result store
  *before* answering, so no grade is lost if anything dies later; the answer is
  ``{"student", "total"}``;
- ``"out": null`` (Dask workers, whose results travel back to the client): nothing is written;
  the answer also carries the record, ``{"student", "total", "record": {...}}``.

Either way it computes the same record. :class:`WorkerProcess` is the parent's side: the local
pool (:mod:`grader.batch.scheduling.local`) and each Dask worker (:mod:`grader.batch.scheduling.cluster_worker`)
keep their grading workers through it; the worker's loop is :mod:`grader.batch.serving`, imported only in
the worker process.
"""

from __future__ import annotations

import ctypes
import json
import signal
import subprocess
import sys
from typing import IO

from grader.batch import spawn
from grader.core.portable import exit_after_cleanups
from grader.core.timeline import mark
from grader.execute.isolation import kill_tree


def _die_with_parent() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def main() -> None:
    _die_with_parent()
    from grader.batch.serving import serve  # deferred: only the worker process grades; its parent imports this

    mark("worker: imported")
    # "-": started ahead (grader.batch.spawn), the configuration is the first line of the input
    serve(sys.argv[1] if sys.argv[1] != "-" else sys.stdin.readline())


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
        """Start the worker unless it is running (one started ahead, if there is one: :mod:`grader.batch.spawn`)."""
        if self.alive():
            return
        self.proc = spawn.take(int(self.config["options"].get("sandbox_slot", 0)))
        self.send_line(json.dumps(self.config))

    def send(self, task: dict) -> None:
        """Hand over one task; a worker that is gone shows up as a dead one on the next read."""
        self.start()
        self.send_line(json.dumps(task))

    def send_line(self, line: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(line + "\n")
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
    exit_after_cleanups(0)
