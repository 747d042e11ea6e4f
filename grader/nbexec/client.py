"""The worker's side: a long-lived runner process, a wall clock enforced from outside."""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import time

from grader.nbexec.jobs import NotebookJob, NotebookRun
from grader.sandbox import kill_tree


def _die_with_parent() -> None:
    """In the runner child: die when the worker dies (even by SIGKILL), instead of finishing its
    notebook as an orphan and writing into a work folder that belongs to nobody any more."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


# Time for the runner itself to start a kernel and clean up, on top of the notebook's own limit.
GRACE_S = 45.0


class NotebookRunner:
    """Runs :class:`NotebookJob` s in a runner subprocess, restarting it when it dies or hangs."""

    def __init__(self, command: list[str] | None = None, grace_s: float = GRACE_S) -> None:
        self.proc: subprocess.Popen | None = None
        self.started_runners = 0
        self.command = command or [sys.executable, "-m", "grader.nbexec.runner"]
        self.grace_s = grace_s

    def _start(self) -> subprocess.Popen:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "OPENBLAS_NUM_THREADS": "1"}
        stderr = None if os.environ.get("MLGRADE_DEBUG") else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            self.command,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
            start_new_session=True, env=env, text=True, bufsize=1, preexec_fn=_die_with_parent,
        )
        self.started_runners += 1
        return self.proc

    def run(self, job: NotebookJob) -> NotebookRun:
        proc = self.proc if self.proc is not None and self.proc.poll() is None else self._start()
        started = time.monotonic()
        try:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(json.dumps(job.to_dict()) + "\n")
            proc.stdin.flush()
            deadline = started + job.notebook_timeout + self.grace_s
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.kill()
                    return NotebookRun(
                        "timeout",
                        f"the notebook did not finish within {job.notebook_timeout:g} s and was stopped",
                        elapsed_s=round(time.monotonic() - started, 3),
                    )
                ready, _, _ = select.select([proc.stdout], [], [], min(left, 1.0))
                if ready:
                    line = proc.stdout.readline()
                    if not line:
                        raise EOFError
                    return NotebookRun.from_dict(json.loads(line))
        except (EOFError, BrokenPipeError, json.JSONDecodeError, OSError):
            code = proc.poll()
            self.kill()
            return NotebookRun(
                "error", f"the notebook runner stopped unexpectedly (exit {code})",
                elapsed_s=round(time.monotonic() - started, 3),
            )

    def kill(self) -> None:
        """Kill the runner and everything it started (sandboxed kernels die with their parent)."""
        if self.proc is None:
            return
        kill_tree(self.proc)
        self.proc = None

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except Exception:
                pass
        self.kill()


_RUNNER: NotebookRunner | None = None


def get_runner() -> NotebookRunner:
    """The process's runner, started on first use and stopped at exit."""
    global _RUNNER
    if _RUNNER is None:
        _RUNNER = NotebookRunner()
        atexit.register(_RUNNER.close)
    return _RUNNER
