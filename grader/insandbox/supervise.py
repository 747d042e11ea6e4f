"""The supervisor of one kernel (:mod:`kernel`): sends cells, enforces time, bounds what comes back.

Runs in the zygote (bubblewrap backend, outside the kernel's namespaces) or in the
grader's worker (portable backend). Two transports, one protocol (:class:`KernelLink`):
:class:`Kernel` waits on pipe descriptors with ``select`` (POSIX; no threads, since the zygote
forks), :class:`ThreadedKernel` reads and writes each pipe on a thread of its own (every OS:
Windows has no ``select`` on pipes). An interrupt is whatever the backend says Ctrl+C is
(SIGINT; CTRL_BREAK_EVENT on Windows). It trusts nothing the kernel writes: records are
size-bounded JSON lines, accepted only when they answer the command in flight (a
cell's record names its cell; a live request's record names its request).

Request (the ``run`` and ``open`` ops of the zygote, or :func:`supervise`'s argument)::

    {"cells": [source, ...], "cell_extra": [s, ...], "seed": int, "cell_timeout": s,
     "notebook_timeout": s, "output_chars": n, "stdout_chars": n}

Answer::

    {"status": "ok" | "timeout" | "kernel_died" | "error", "reason": str,
     "cells": [{"status", "ename", "evalue", "traceback"}, ...],  # one per cell that ran
     "died_in": cell position | null, "exit": code | null, "stdout_tail": str, "log_tail": str,
     "stopped_for": str}  # only when the notebook was stopped for a reason the student can act on

A live session (:func:`live_request`) then sends one request at a time to the same kernel.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

try:  # in the grader
    from grader.insandbox.boundedjson import JsonLines, Refused
    from grader.insandbox.wire import MAX_JSON_DEPTH, MAX_JSON_VALUES
except ImportError:  # in the sandbox, where these modules sit beside this file
    from boundedjson import JsonLines, Refused  # type: ignore[no-redef]
    from wire import MAX_JSON_DEPTH, MAX_JSON_VALUES  # type: ignore[no-redef]

INTERRUPT_GRACE_S = 5.0  # after SIGINT, how long a cell may take to stop before SIGKILL
MAX_RECORD = 96 * 1024**2  # live answers carry arrays (wire data, base64); a longer record is refused
# What the kernel's own writer can send is far below these (a live value within wire's limits, a cell's
# output within its budget): a record over one comes from code that replaced the writer, and stops the notebook.
MAX_RECORD_VALUES = MAX_JSON_VALUES
MAX_RECORD_DEPTH = MAX_JSON_DEPTH
LOG_TAIL = 8000
STDOUT_TAIL = 2000
TIMEOUT_ENAME = "CellTimeoutError"


def seed_source(seed: int) -> str:
    """Cell 0: the grader's seed, so a regrade computes the same thing."""
    return (
        "import random as _mlg_random\n"
        f"_mlg_random.seed({seed})\n"
        "try:\n"
        "    import numpy as _mlg_np\n"
        f"    _mlg_np.random.seed({seed % 2**32})\n"
        "    del _mlg_np\n"
        "except ImportError:\n"
        "    pass\n"
        "del _mlg_random\n"
    )


class KernelLink:
    """One running kernel as the supervisor sees it: commands out, bounded records in, a way to interrupt it.

    The protocol lives here; how bytes move is the transport's (:class:`Kernel` with ``select`` on
    pipe descriptors, POSIX, for the zygote; :class:`ThreadedKernel` with threads, everywhere).
    """

    def __init__(self, pid: int, interrupt_fn):
        self.pid = pid
        self._interrupt = interrupt_fn
        self.lines = JsonLines(MAX_RECORD, MAX_RECORD_VALUES, MAX_RECORD_DEPTH)  # measured before parsed
        self.eof = False

    def interrupt(self) -> None:
        """What Ctrl+C does: KeyboardInterrupt in the running cell (the caller kills it if that fails)."""
        try:
            self._interrupt()
        except (ProcessLookupError, PermissionError, OSError, ValueError):
            pass

    def _feed(self, data: bytes) -> None:
        if not data:
            self.eof = True
        else:
            self.lines.feed(data)

    def send(self, cmd: dict, deadline: float) -> bool:
        """Write one command; False when the kernel does not take it before ``deadline``."""
        return self._write((json.dumps(cmd) + "\n").encode(), deadline)

    def next_record(self, deadline: float):
        """The next record (a dict), a :class:`Refused` record, ``"eof"`` when the kernel closed its end,
        or ``"timeout"``."""
        while True:
            rec = self.lines.take()
            if rec is not None:
                return rec
            if self.eof:
                return "eof"
            if deadline - time.monotonic() <= 0:
                return "timeout"
            data = self._read(deadline)
            if data is not None:
                self._feed(data)

    # the transport
    def _write(self, data: bytes, deadline: float) -> bool:
        raise NotImplementedError

    def _read(self, deadline: float) -> bytes | None:
        """Bytes of the record pipe (``b""`` at its end), or None when nothing came before ``deadline``."""
        raise NotImplementedError

    def log_tail(self) -> str:
        raise NotImplementedError

    def close(self) -> None:
        pass


class Kernel(KernelLink):
    """The POSIX transport: non-blocking pipe descriptors and ``select``, no threads (the zygote forks)."""

    def __init__(self, pid: int, cmd_fd: int, rec_fd: int, log_fd: int, signal_fn=None):
        import signal

        send_signal = signal_fn or (lambda sig: os.kill(pid, sig))
        super().__init__(pid, lambda: send_signal(signal.SIGINT))
        self.cmd_fd = cmd_fd
        self.rec_fd = rec_fd
        self.log_fd = log_fd
        self.log = bytearray()
        for fd in (cmd_fd, rec_fd, log_fd):
            os.set_blocking(fd, False)

    def _drain_log(self) -> None:
        try:
            while True:
                data = os.read(self.log_fd, 65536)
                if not data:
                    return
                self.log += data
                if len(self.log) > LOG_TAIL:
                    del self.log[: len(self.log) - LOG_TAIL]
        except (BlockingIOError, OSError):
            pass

    def _write(self, data: bytes, deadline: float) -> bool:
        import select

        while data:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                _, w, _ = select.select([], [self.cmd_fd], [], left)
            except InterruptedError:
                continue
            if not w:
                continue
            try:
                n = os.write(self.cmd_fd, data)
            except BlockingIOError:
                continue
            except OSError:  # the kernel is gone
                return False
            data = data[n:]
        return True

    def _read(self, deadline: float) -> bytes | None:
        import select

        try:
            r, _, _ = select.select([self.rec_fd, self.log_fd], [], [], max(0.0, deadline - time.monotonic()))
        except InterruptedError:
            return None
        if self.log_fd in r:
            self._drain_log()
        if self.rec_fd not in r:
            return None
        try:
            return os.read(self.rec_fd, 1 << 20)
        except BlockingIOError:
            return None
        except OSError:
            return b""

    def log_tail(self) -> str:
        self._drain_log()
        return self.log.decode("utf-8", "replace")


class PipeReader:
    """Reads one pipe on a thread of its own, so that a reader can wait with a deadline on any OS
    (``select`` works on pipes on POSIX only). Chunks wait in a bounded queue: a child that writes
    faster than the reader takes blocks, as it would on a full pipe. ``tail``: keep only the last
    ``tail`` bytes in :attr:`kept` instead of queueing (a log). The thread reads its own duplicate of
    ``fd`` and closes it when the pipe ends, so the caller may close ``fd`` at any time."""

    CHUNK = 1 << 20

    def __init__(self, fd: int, name: str, tail: int = 0, max_chunks: int = 64):
        import queue
        import threading

        self.fd = os.dup(fd)
        self.tail = tail
        self.kept = bytearray()
        self.lock = threading.Lock()
        self.chunks: queue.Queue = queue.Queue(maxsize=max_chunks)
        self.closed = threading.Event()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"mlgrade-{name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import queue

        try:
            while not self.closed.is_set():
                try:
                    data = os.read(self.fd, self.CHUNK)
                except InterruptedError:
                    continue
                except OSError:
                    data = b""
                if self.tail:
                    with self.lock:
                        self.kept += data
                        if len(self.kept) > self.tail:
                            del self.kept[: len(self.kept) - self.tail]
                    if not data:
                        return
                    continue
                while not self.closed.is_set():
                    try:
                        self.chunks.put(data, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if not data:
                    return
        finally:
            os.close(self.fd)
            self.done.set()

    def get(self, deadline: float) -> bytes | None:
        """The next chunk (``b""``: the pipe ended), or None when none came before ``deadline``."""
        import queue

        try:
            return self.chunks.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return None

    def text(self) -> str:
        with self.lock:
            return self.kept.decode("utf-8", "replace")

    def close(self) -> None:
        """Stop queueing (the thread ends at the pipe's end, which the caller brings by killing the writer)."""
        self.closed.set()
        import queue

        while True:
            try:
                self.chunks.get_nowait()
            except queue.Empty:
                return


class PipeWriter:
    """Writes to one pipe on a thread of its own, so a write can give up at a deadline on any OS."""

    def __init__(self, fd: int, name: str):
        import queue
        import threading

        self.fd = os.dup(fd)  # its own, closed when the thread ends
        self.jobs: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, name=f"mlgrade-{name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self._serve()
        finally:
            os.close(self.fd)

    def _serve(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            data, done, result = job
            try:
                view = memoryview(data)
                while view:
                    try:
                        n = os.write(self.fd, view)
                    except InterruptedError:
                        continue
                    view = view[n:]
                result.append(True)
            except OSError:  # the child is gone
                result.append(False)
            done.set()

    def write(self, data: bytes, deadline: float) -> bool:
        import threading

        done = threading.Event()
        result: list[bool] = []  # the writer thread appends whether the write went through
        self.jobs.put((data, done, result))
        return done.wait(max(0.0, deadline - time.monotonic())) and bool(result and result[0])

    def close(self) -> None:
        self.jobs.put(None)


class ThreadedKernel(KernelLink):
    """The portable transport: a thread per pipe, blocking reads and writes, deadlines kept by the
    supervisor. Works where ``select`` does not take pipes (Windows) and everywhere else the same."""

    def __init__(self, pid: int, cmd_fd: int, rec_fd: int, log_fd: int, interrupt_fn):
        super().__init__(pid, interrupt_fn)
        self.writer = PipeWriter(cmd_fd, "kernel-cmd")
        self.records = PipeReader(rec_fd, "kernel-records")
        self.log = PipeReader(log_fd, "kernel-log", tail=LOG_TAIL)

    def _write(self, data: bytes, deadline: float) -> bool:
        return self.writer.write(data, deadline)

    def _read(self, deadline: float) -> bytes | None:
        return self.records.get(deadline)

    def log_tail(self) -> str:
        self.log.done.wait(0.2)  # the kernel has been told to exit: let its last words arrive
        return self.log.text()

    def close(self) -> None:
        self.writer.close()
        self.records.close()
        self.log.close()


def _await(kernel: KernelLink, accept, timeout: float, wall: float, answer: dict):
    """Wait for the record ``accept`` takes; SIGINT at ``timeout``, SIGKILL after the grace.

    Returns ``(record | None, how)`` with ``how`` one of "ok", "interrupted", "killed", "wall", "eof", or
    "refused" (a record over the bounds: ``answer["stopped_for"]`` says why; the caller stops the kernel).
    """
    now = time.monotonic()
    soft = min(now + timeout, wall)
    interrupted = False
    while True:
        rec = kernel.next_record(soft)
        if isinstance(rec, Refused):
            answer["stopped_for"] = refused_reason(rec)
            return None, "refused"
        if rec == "eof":
            return None, "eof"
        if rec == "timeout":
            if time.monotonic() >= wall:
                return None, "wall"
            if interrupted:
                return None, "killed"
            kernel.interrupt()
            interrupted = True
            soft = min(time.monotonic() + INTERRUPT_GRACE_S, wall)
            continue
        if accept(rec):
            return rec, ("interrupted" if interrupted else "ok")


def refused_reason(rec: Refused) -> str:
    return (f"your notebook's kernel sent the grader a record {rec.reason}, which the kernel's own writer never "
            "does (did the notebook replace or patch it?); the notebook was stopped")


def supervise(kernel: KernelLink, req: dict) -> dict:
    """Run the request's cells in ``kernel``; always returns an answer."""
    started = time.monotonic()
    extra = [float(x) for x in req.get("cell_extra", []) if isinstance(x, (int, float))]
    wall = started + float(req["notebook_timeout"]) + sum(extra)
    base_timeout = float(req["cell_timeout"])
    budget = int(req.get("output_chars", 100_000))
    answer: dict = {"status": "ok", "reason": "", "cells": [], "died_in": None, "exit": None,
                    "stdout_tail": "", "log_tail": ""}
    text: list[str] = []

    def stop(status: str, where, how: str) -> dict:
        answer["status"] = status
        answer["died_in"] = where
        if how == "refused":
            answer["reason"] = answer["stopped_for"]
        if how == "wall":
            answer["status"] = "timeout"
            limit = float(req["notebook_timeout"])
            answer["reason"] = f"the notebook did not finish within {limit:g} s and was stopped"
        return answer

    cells = [(-1, seed_source(int(req.get("seed", 0))), False)] + [
        (i, src, True) for i, src in enumerate(req.get("cells", []))
    ]
    for i, source, history in cells:
        # cells that import a heavy library get the environment's import time on top of their own
        cell_timeout = base_timeout + (extra[i] if 0 <= i < len(extra) else 0.0)
        if not kernel.send({"op": "cell", "i": i, "source": source, "history": history}, wall):
            return stop("kernel_died", i, "wall" if time.monotonic() >= wall else "eof")
        rec, how = _await(kernel, lambda r, i=i: r.get("r") == "cell" and r.get("i") == i,
                          cell_timeout if i >= 0 else 60.0, wall, answer)
        if rec is None:
            if how == "refused":
                if i >= 0:
                    answer["cells"].append({"status": "error", "ename": "RecordRefused",
                                            "evalue": answer["stopped_for"][:500]})
                return stop("error", i, how)
            if i >= 0:
                if how == "killed":
                    answer["cells"].append({"status": "timeout", "ename": TIMEOUT_ENAME,
                                            "evalue": f"the cell ran longer than {cell_timeout:g} s, ignored "
                                                      "the interrupt and was stopped; later cells did not run"})
                elif how == "wall":
                    answer["cells"].append({"status": "timeout", "ename": TIMEOUT_ENAME,
                                            "evalue": "the notebook's time ran out during this cell"})
            status = "timeout" if how in ("killed", "wall") else "kernel_died"
            out = stop(status, i, how)
            if how == "killed":
                out["reason"] = (f"a cell ran longer than {cell_timeout:g} s and did not stop when interrupted, "
                                 "so the kernel was stopped")
            return out
        if i < 0:
            continue
        chunk = str(rec.get("text", ""))[: max(0, budget)]
        budget -= len(chunk)
        text.append(chunk)
        if how == "interrupted":
            cell = {"status": "timeout", "ename": TIMEOUT_ENAME,
                    "evalue": f"the cell ran longer than {cell_timeout:g} s and was interrupted"}
        elif rec.get("status") == "error":
            cell = {"status": "error", "ename": str(rec.get("ename", ""))[:200],
                    "evalue": str(rec.get("evalue", ""))[:500], "traceback": str(rec.get("traceback", ""))[-2000:]}
        else:
            cell = {"status": "ok"}
        answer["cells"].append(cell)
    answer["stdout_tail"] = "".join(text)[-int(req.get("stdout_chars", STDOUT_TAIL)):]
    return answer


LIVE_KEYS = {"status": 10, "phase": 10, "ename": 200, "evalue": 1000, "text": 2000}


def live_request(kernel: KernelLink, cmd: dict, timeout: float, wall: float) -> dict:
    """One request of a live session (``call``, ``eval`` or ``has``, see :mod:`kernel`), with its own timeout.

    Returns ``{"status": "ok" | "interrupted", "record": {...}}`` when the kernel answered (after a SIGINT
    at ``timeout`` for "interrupted"), or ``{"status": "killed" | "died" | "wall"}`` when the kernel ignored
    the interrupt, died (or sent a record over the bounds: ``stopped_for`` says so), or the session's time
    ran out; the session is over in those three cases.
    Only the answer's known keys are passed on, bounded; its ``value`` is decoded by the grader.
    """
    ident = cmd.get("id")
    if time.monotonic() >= wall:
        return {"status": "wall"}
    if not kernel.send(cmd, min(wall, time.monotonic() + timeout)):
        return {"status": "wall" if time.monotonic() >= wall else "died"}
    said: dict = {}
    rec, how = _await(kernel, lambda r: r.get("r") == "live" and r.get("id") == ident, timeout, wall, said)
    if rec is None:
        return {"status": {"eof": "died", "killed": "killed", "refused": "died"}.get(how, "wall"), **said}
    clean: dict[str, Any] = {k: str(rec[k])[:n] for k, n in LIVE_KEYS.items() if k in rec}
    if "value" in rec:
        clean["value"] = rec["value"]
    where = rec.get("where")
    if isinstance(where, dict) and isinstance(where.get("cell"), int) and isinstance(where.get("line"), int):
        clean["where"] = {"cell": where["cell"], "line": where["line"], "code": str(where.get("code", ""))[:200]}
    return {"status": "interrupted" if how == "interrupted" else "ok", "record": clean}


def finish(kernel: KernelLink, answer: dict) -> None:
    """Ask the kernel to exit (it is killed by the caller in any case); keep its log's tail."""
    kernel.send({"op": "exit"}, time.monotonic() + 1)
    answer["log_tail"] = kernel.log_tail()[-2000:]
