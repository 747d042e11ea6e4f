"""The supervisor of one kernel (:mod:`kernel`): sends cells, enforces time, bounds what comes back.

Runs in the zygote (bubblewrap backend, outside the kernel's namespaces) or in the
grader's worker (portable backend). It trusts nothing the kernel writes: records are
size-bounded JSON lines, accepted only when they answer the command in flight (a
cell's record names its cell; probe data is accepted only while the probe runs).

Request (the ``run`` op of the zygote, or :func:`supervise`'s argument)::

    {"cells": [source, ...], "seed": int, "cell_timeout": s, "notebook_timeout": s,
     "probe_timeout": s, "output_chars": n,
     "probe": {"values": ..., "calls": [...], "max_items": n} | null, "inputs": {name: b64}}

Answer::

    {"status": "ok" | "timeout" | "kernel_died" | "error", "reason": str,
     "cells": [{"status", "ename", "evalue", "traceback"}, ...],  # one per cell that ran
     "died_in": cell position | "probe" | null, "exit": code | null,
     "probe_status": "none" | "ok" | "error" | "skipped", "probe": {"manifest", "arrays"},
     "probe_problems": {key: why}, "stdout_tail": str, "log_tail": str}
"""

from __future__ import annotations

import json
import os
import select
import signal
import time

INTERRUPT_GRACE_S = 5.0  # after SIGINT, how long a cell may take to stop before SIGKILL
MAX_RECORD = 96 * 1024**2  # probe answers carry arrays (base64); anything longer is dropped
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


class Kernel:
    """One running kernel as the supervisor sees it: three pipe ends and a way to signal it."""

    def __init__(self, pid: int, cmd_fd: int, rec_fd: int, log_fd: int, signal_fn=None, poll_fn=None):
        self.pid = pid
        self.cmd_fd = cmd_fd
        self.rec_fd = rec_fd
        self.log_fd = log_fd
        self._signal = signal_fn or (lambda sig: os.kill(pid, sig))
        self._poll = poll_fn
        self.buf = bytearray()
        self.skipping = False  # inside an over-long record, dropping bytes until its end
        self.eof = False
        self.log = bytearray()
        for fd in (cmd_fd, rec_fd, log_fd):
            os.set_blocking(fd, False)

    def signal(self, sig: int) -> None:
        try:
            self._signal(sig)
        except (ProcessLookupError, PermissionError, OSError):
            pass

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

    def _take_record(self):
        while True:
            nl = self.buf.find(b"\n")
            if nl < 0:
                if len(self.buf) > MAX_RECORD:
                    self.buf.clear()
                    self.skipping = True
                return None
            line = bytes(self.buf[:nl])
            del self.buf[: nl + 1]
            if self.skipping:
                self.skipping = False
                continue
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                return rec

    def send(self, cmd: dict, deadline: float) -> bool:
        """Write one command; False when the kernel does not take it before ``deadline``."""
        data = (json.dumps(cmd) + "\n").encode()
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

    def next_record(self, deadline: float):
        """The next record, ``"eof"`` when the kernel closed its end, or ``"timeout"``."""
        while True:
            rec = self._take_record()
            if rec is not None:
                return rec
            if self.eof:
                return "eof"
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            try:
                r, _, _ = select.select([self.rec_fd, self.log_fd], [], [], left)
            except InterruptedError:
                continue
            if self.log_fd in r:
                self._drain_log()
            if self.rec_fd in r:
                try:
                    data = os.read(self.rec_fd, 1 << 20)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    self.eof = True
                elif self.skipping:
                    nl = data.find(b"\n")
                    if nl >= 0:
                        self.skipping = False
                        self.buf += data[nl + 1 :]
                else:
                    self.buf += data

    def log_tail(self) -> str:
        self._drain_log()
        return self.log.decode("utf-8", "replace")


def _await(kernel: Kernel, accept, timeout: float, wall: float, answer: dict):
    """Wait for the record ``accept`` takes; SIGINT at ``timeout``, SIGKILL after the grace.

    Returns ``(record | None, how)`` with ``how`` one of "ok", "interrupted", "killed", "wall", "eof".
    """
    now = time.monotonic()
    soft = min(now + timeout, wall)
    interrupted = False
    while True:
        rec = kernel.next_record(soft)
        if rec == "eof":
            return None, "eof"
        if rec == "timeout":
            if time.monotonic() >= wall:
                return None, "wall"
            if interrupted:
                return None, "killed"
            kernel.signal(signal.SIGINT)
            interrupted = True
            soft = min(time.monotonic() + INTERRUPT_GRACE_S, wall)
            continue
        if accept(rec):
            return rec, ("interrupted" if interrupted else "ok")


def supervise(kernel: Kernel, req: dict) -> dict:
    """Run the request's cells, then the probe, in ``kernel``; always returns an answer."""
    started = time.monotonic()
    extra = [float(x) for x in req.get("cell_extra", []) if isinstance(x, (int, float))]
    wall = started + float(req["notebook_timeout"]) + sum(extra)
    base_timeout = float(req["cell_timeout"])
    budget = int(req.get("output_chars", 100_000))
    answer: dict = {"status": "ok", "reason": "", "cells": [], "died_in": None, "exit": None,
                    "probe_status": "none", "probe": {"manifest": {}, "arrays": {}}, "probe_problems": {},
                    "stdout_tail": "", "log_tail": ""}
    text: list[str] = []
    probe = req.get("probe")

    def stop(status: str, where, how: str) -> dict:
        answer["status"] = status
        answer["died_in"] = where
        if how == "wall":
            answer["status"] = "timeout"
            limit = float(req["notebook_timeout"])
            answer["reason"] = f"the notebook did not finish within {limit:g} s and was stopped"
        if probe and answer["probe_status"] in ("none", "running"):
            answer["probe_status"] = "skipped" if answer["probe_status"] == "none" else "error"
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
    answer["stdout_tail"] = "".join(text)[-STDOUT_TAIL:]

    if probe:
        answer["probe_status"] = "running"
        manifest, arrays = answer["probe"]["manifest"], answer["probe"]["arrays"]
        for select_key in [None, *[c.get("key") for c in probe.get("calls", [])]]:
            left = wall - time.monotonic() - 2
            limit = max(1.0, min(float(req.get("probe_timeout", 20)), left))
            cmd = {"op": "probe", "spec": probe, "inputs": req.get("inputs", {}), "select": select_key}
            if not kernel.send(cmd, wall):
                return stop("kernel_died", "probe", "wall" if time.monotonic() >= wall else "eof")
            rec, how = _await(kernel, lambda r, s=select_key: r.get("r") == "probe" and r.get("select") == s,
                              limit, wall, answer)
            if rec is None:
                if how == "killed":
                    answer["probe_problems"][select_key or ""] = (
                        f"took longer than {limit:g} s, ignored the interrupt and was stopped")
                    out = stop("timeout", "probe", how)
                    out["reason"] = "the grader's call of your code did not stop when interrupted"
                    return out
                return stop("kernel_died" if how == "eof" else "timeout", "probe", how)
            if how == "interrupted":
                answer["probe_problems"][select_key or ""] = f"took longer than {limit:g} s and was interrupted"
            elif rec.get("status") == "error":
                answer["probe_problems"][select_key or ""] = (
                    f"failed: {str(rec.get('ename', ''))[:100]}: {str(rec.get('evalue', ''))[:200]}")
            got_m, got_a = rec.get("manifest"), rec.get("arrays")
            if isinstance(got_m, dict) and isinstance(got_a, dict):
                prefix = f"{select_key or 'values'}-"
                for name, data in got_a.items():
                    if isinstance(name, str) and name.startswith(prefix) and isinstance(data, str):
                        arrays[name] = data
                max_items = int(probe.get("max_items", 64))
                for key, entry in got_m.items():
                    if len(manifest) < 4 * max_items and isinstance(key, str) and isinstance(entry, dict):
                        manifest[key[:200]] = entry
        answer["probe_status"] = "ok"
    return answer


def finish(kernel: Kernel, answer: dict) -> None:
    """Ask the kernel to exit (it is killed by the caller in any case); keep its log's tail."""
    kernel.send({"op": "exit"}, time.monotonic() + 1)
    answer["log_tail"] = kernel.log_tail()[-2000:]
