"""A long-lived helper process spoken to in JSON lines over pipes, started by a backend.

The helper (the kernel zygote, the model server) reads its inputs from a
:class:`~grader.execute.isolation.staging.Staging` folder and answers on its stdout. Answers
are read with a deadline and a size bound: a helper that stops answering, or sends
half a line and waits, is killed, never waited for. It restarts nothing by itself:
the owner makes a new one.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable

from grader.core.portable import ProcessTree, exited, popen_kwargs
from grader.execute.isolation.staging import Staging
from grader.insandbox.boundedjson import JsonLines, Refused
from grader.insandbox.supervise import MAX_RECORD_DEPTH, MAX_RECORD_VALUES, PipeReader

# Twice the largest record a kernel may send (supervise.MAX_RECORD, 96 MiB): the zygote re-serializes it
# compactly, which can only grow it by writing 1e999 as Infinity (at most 1.5x).
MAX_ANSWER = 192 * 1024**2
# An answer is measured before it is parsed (json.loads of 192 MiB of "[]," would take 2.5 GiB): at most
# one record's values and the run's own (cells, a model's layers), nested a little deeper.
MAX_ANSWER_VALUES = 2 * MAX_RECORD_VALUES
MAX_ANSWER_DEPTH = 2 * MAX_RECORD_DEPTH


class ServiceError(RuntimeError):
    """The helper died, stopped, or (``timed_out``) did not answer within the request's time."""

    def __init__(self, message: str, timed_out: bool = False):
        super().__init__(message)
        self.timed_out = timed_out


class ServiceProcess:
    def __init__(self, argv: list[str], staging: Staging, env: dict[str, str] | None, uid: int | None,
                 startup_timeout: float, on_close=None, memory_bytes: int | None = None,
                 popen_extra: dict | None = None):
        """``memory_bytes``: where the helper cannot limit itself (Windows), the limit applied from outside.
        ``popen_extra``: more arguments for Popen (the uid backend: the user to run as)."""
        self.staging = staging
        self.uid = uid
        self._on_close = on_close
        self._lines = JsonLines(MAX_ANSWER, MAX_ANSWER_VALUES, MAX_ANSWER_DEPTH, strict=True)
        # one request at a time: a question graded on the notebook thread (an instructor's test that reads a
        # model) may use the model server while the main thread does
        self._lock = threading.Lock()
        self._reader: PipeReader | None = None
        self._tree: ProcessTree | None = None
        stderr = None if os.environ.get("MLGRADE_DEBUG") else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                         env=env, bufsize=0, **popen_kwargs(), **(popen_extra or {}))
        except OSError as e:
            self.close()
            raise ServiceError(f"could not start ({e})") from None
        self._tree = ProcessTree(self.proc, memory_bytes=memory_bytes)
        assert self.proc.stdout is not None
        self._reader = PipeReader(self.proc.stdout.fileno(), "service", max_chunks=16)
        self.request({"op": "ping"}, timeout=startup_timeout)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def request(self, cmd: dict, timeout: float = 30, on_event: Callable[[dict], dict] | None = None) -> dict:
        """Send one command, wait at most ``timeout`` s for its answer (a JSON object). With ``on_event``, a
        line ``{"event": ...}`` before the answer is the helper asking the grader something mid-request
        (the zygote: "put this notebook in its cgroup"): ``on_event``'s result is written back to it."""
        with self._lock:
            return self._request(cmd, timeout, on_event)

    def _request(self, cmd: dict, timeout: float, on_event) -> dict:
        if not self.alive():
            raise ServiceError("the helper process is not running")
        deadline = time.monotonic() + timeout
        self._send(cmd)
        while True:
            answer = self._next(deadline)
            if on_event is None or "event" not in answer:
                return answer
            self._send(on_event(answer))

    def _send(self, cmd: dict) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.close()
            raise ServiceError("the helper process stopped") from None

    def _next(self, deadline: float) -> dict:
        """The helper's next JSON object, measured before it is parsed (:mod:`~grader.insandbox.boundedjson`)."""
        assert self._reader is not None
        while True:
            got = self._lines.take()
            if isinstance(got, Refused):
                self.close()
                raise ServiceError(f"the helper process sent an answer the grader does not read ({got.reason})")
            if got is not None:
                return got
            if time.monotonic() >= deadline:
                self.close()
                raise ServiceError("the helper process stopped answering", timed_out=True)
            data = self._reader.get(deadline)
            if data is None:
                continue
            if not data:
                ended = exited(self.proc, 1)  # unreaped: close() still ends its whole group
                self.close()
                code = self.proc.returncode if ended else None
                raise ServiceError("the helper process died" + (f" (exit status {code})" if code is not None else ""))
            self._lines.feed(data)

    def close(self) -> None:
        proc = getattr(self, "proc", None)
        if proc is not None:
            if self._tree is not None:
                self._tree.kill()
            if self._reader is not None:
                self._reader.close()
            for stream in (proc.stdin, proc.stdout):
                try:
                    if stream is not None:
                        stream.close()
                except OSError:
                    pass
        if self._on_close is not None:
            cb, self._on_close = self._on_close, None
            cb()
        self.staging.close()
