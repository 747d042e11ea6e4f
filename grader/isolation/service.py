"""A long-lived helper process spoken to in JSON lines over pipes, started by a backend.

The helper (the kernel zygote, the model server) reads its inputs from a
:class:`~grader.isolation.staging.Staging` folder and answers on its stdout. Answers
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

from grader.insandbox.supervise import PipeReader
from grader.insandbox.wire import scrub_json
from grader.isolation.staging import Staging
from grader.portable import ProcessTree, popen_kwargs

# Twice the largest record a kernel may send (supervise.MAX_RECORD, 96 MiB): the zygote re-serializes it
# compactly, which can only grow it by writing 1e999 as Infinity (at most 1.5x).
MAX_ANSWER = 192 * 1024**2


class ServiceError(RuntimeError):
    pass


class ServiceProcess:
    def __init__(self, argv: list[str], staging: Staging, env: dict[str, str] | None, uid: int | None,
                 startup_timeout: float, on_close=None, memory_bytes: int | None = None,
                 popen_extra: dict | None = None):
        """``memory_bytes``: where the helper cannot limit itself (Windows), the limit applied from outside.
        ``popen_extra``: more arguments for Popen (the uid backend: the user to run as)."""
        self.staging = staging
        self.uid = uid
        self._on_close = on_close
        self._buf = bytearray()
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

    def request(self, cmd: dict, timeout: float = 30) -> dict:
        """Send one command, wait at most ``timeout`` s for its answer (a JSON object)."""
        with self._lock:
            return self._request(cmd, timeout)

    def _request(self, cmd: dict, timeout: float) -> dict:
        if not self.alive():
            raise ServiceError("the helper process is not running")
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.close()
            raise ServiceError("the helper process stopped") from None
        line = self._read_line(time.monotonic() + timeout)
        try:
            answer = json.loads(scrub_json(line))
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than this stack
            answer = None
        if not isinstance(answer, dict):
            self.close()
            raise ServiceError("the helper process answered nonsense")
        return answer

    def _read_line(self, deadline: float) -> bytes:
        assert self._reader is not None
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line = bytes(self._buf[:nl])
                del self._buf[: nl + 1]
                return line
            if len(self._buf) > MAX_ANSWER:
                self.close()
                raise ServiceError("the helper process sent an answer too large to read")
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise ServiceError("the helper process stopped answering")
            data = self._reader.get(deadline)
            if data is None:
                continue
            if not data:
                self.close()
                raise ServiceError("the helper process died")
            self._buf += data

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
