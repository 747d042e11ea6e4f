"""The grader's side of notebook execution: read the notebook, hand it to the backend, name what happened.

The notebook file is parsed here (bounded, :mod:`grader.intake.nbload`); the kernel receives
only the code cells' text and the seed (a live session's arguments cross later, one request
at a time: :mod:`grader.execute.notebooks.session`). What comes back is data from an untrusted
process, already bounded by the supervisor; this module turns it into a :class:`NotebookRun`
whose cells carry the names the student sees (``In [8]``).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from grader.core.environment import imported_names
from grader.execute.isolation import backend, close_backends
from grader.execute.notebooks.jobs import CellReport, NotebookJob, NotebookRun
from grader.intake.nbload import load_notebook

# How Windows reports a process that died (exit codes are NTSTATUS values there, not signals).
WINDOWS_STATUS = {
    0xC0000005: "an access violation (a crash in compiled code)", 0xC00000FD: "a stack overflow (deep recursion?)",
    0xC0000017: "out of memory", 0xC000013A: "interrupted (Ctrl+C)", 0xC0000409: "a crash in compiled code",
}
GRACE_S = 30.0  # on top of the notebook's own limit: staging, kernel start, cleanup
FIRST_LINE = 60
MAX_STDOUT = 200_000  # a live session keeps the whole output budget (``notebook.stdout``), runs only the tail


def first_line(source: str) -> str:
    line = next((ln.strip() for ln in source.splitlines() if ln.strip()), "")
    return line if len(line) <= FIRST_LINE else line[: FIRST_LINE - 1] + "…"


def build_request(job: NotebookJob) -> tuple[dict, list] | NotebookRun:
    """The backend's request for ``job`` and the code cells it runs, or an "invalid" run saying why not."""
    nb, reason = load_notebook(job.notebook)
    if nb is None:
        return NotebookRun("invalid", reason)
    code = [(i, c) for i, c in enumerate(nb.cells) if c.get("cell_type") == "code" and c.get("source", "").strip()]
    notebook = Path(job.notebook)
    submission = Path(job.submission_dir)
    try:
        cwd = notebook.parent.resolve().relative_to(submission.resolve()).as_posix()
    except ValueError:
        cwd = ""
    request = {
        "submission": str(submission), "aliases": list(job.drive_aliases), "cwd": "" if cwd == "." else cwd,
        "cells": [c["source"] for _, c in code], "cell_extra": [import_allowance(c["source"]) for _, c in code],
        "imports": notebook_imports([c["source"] for _, c in code]),
        "seed": job.seed, "cell_timeout": job.cell_timeout,
        "notebook_timeout": job.notebook_timeout,
        "memory_bytes": job.memory_bytes, "output_chars": job.output_chars, "scratch_bytes": job.scratch_bytes,
    }
    return request, code


def deadline(job: NotebookJob, request: dict) -> float:
    """How long the grader waits for the backend's answer: the notebook's limit, the heavy imports' allowance
    and the grace for staging, kernel start and cleanup."""
    return job.notebook_timeout + sum(request.get("cell_extra", [])) + GRACE_S


def run_notebook(job: NotebookJob) -> NotebookRun:
    started = time.monotonic()
    built = build_request(job)
    if isinstance(built, NotebookRun):
        built.elapsed_s = round(time.monotonic() - started, 3)
        return built
    request, code = built
    answer = backend(job.isolation).run_notebook(job.slot, request, deadline(job, request))
    run = to_run(answer, code)
    run.elapsed_s = round(time.monotonic() - started, 3)
    return run


# Libraries whose import alone takes seconds (TensorFlow: ~4 CPU-s): that is the environment's time, not the
# student's, so a cell importing one gets this on top of the rubric's cell timeout (and the notebook's).
HEAVY_IMPORTS = {"tensorflow", "keras", "torch", "torchvision", "transformers", "jax", "tensorflow_datasets",
                 "tensorflow_hub", "tf_keras"}
IMPORT_ALLOWANCE_S = 60.0


def notebook_imports(cells: list[str], most: int = 64) -> list[str]:
    """The top-level modules the cells import (at most ``most``): a zygote imports the heavy ones it
    knows before forking the notebook, once for all notebooks after it."""
    found: set[str] = set()
    for source in cells:
        found.update(imported_names(source).values())
    return sorted(found)[:most]


def import_allowance(source: str) -> float:
    """Extra seconds for a cell that imports a heavy library (found by a linear scan of its import lines)."""
    return IMPORT_ALLOWANCE_S if HEAVY_IMPORTS & set(imported_names(source).values()) else 0.0


def to_run(answer: dict, code: list) -> NotebookRun:
    """The backend's answer as a :class:`NotebookRun`, cells named as the student sees them."""
    status = str(answer.get("status", "error"))
    run = NotebookRun(status if status in ("ok", "timeout", "kernel_died", "error") else "error",
                      str(answer.get("reason", ""))[:1000], code_cells=len(code))
    cells = answer.get("cells")
    reports: list = cells if isinstance(cells, list) else []
    for pos, (index, cell) in enumerate(code):
        count = cell.get("execution_count")
        base = CellReport(index, "not_run", execution_count=count if isinstance(count, int) else None,
                          code_index=pos + 1, first_line=first_line(cell["source"]))
        if pos < len(reports) and isinstance(reports[pos], dict):
            rep = reports[pos]
            base.status = rep["status"] if rep.get("status") in ("ok", "error", "timeout") else "error"
            base.ename = str(rep.get("ename", ""))[:200]
            base.evalue = str(rep.get("evalue", ""))[:500]
            base.traceback = str(rep.get("traceback", ""))[-2000:]
        run.cells.append(base)
    run.stdout_tail = str(answer.get("stdout_tail", ""))[-MAX_STDOUT:]
    if status == "kernel_died":
        run.reason = death(answer, run)
    return run


def death(answer: dict, run: NotebookRun) -> str:
    where = answer.get("died_in")
    if isinstance(where, int) and 0 <= where < len(run.cells):
        place = f" while running {run.cells[where].label}"
    elif where == "call":  # a live session's request (:mod:`grader.execute.notebooks.session`)
        place = " while the grader called your code"
    else:
        place = ""
    if answer.get("stopped_for"):  # the sandbox knows why (its memory bound, a record over the bounds): say that
        return (f"{place.strip()}: " if place else "") + str(answer["stopped_for"])[:1000]
    code = answer.get("exit")
    how = ""
    if isinstance(code, int) and (code & 0xFFFFFFFF) in WINDOWS_STATUS:  # NTSTATUS exit codes of Windows
        how = f", {WINDOWS_STATUS[code & 0xFFFFFFFF]}"
    elif isinstance(code, int) and code < 0 and -code in signal.valid_signals():
        how = f", killed by {signal.Signals(-code).name}"
    elif isinstance(code, int) and code > 128 and code - 128 in signal.valid_signals():
        how = f", killed by {signal.Signals(code - 128).name}"
    elif code:
        how = f", exit code {code}"
    tail = _tail(str(answer.get("log_tail", "")))
    hint = " (out of memory?)" if "MemoryError" in tail or "Cannot allocate" in tail else ""
    return f"the kernel died{place}{how}{hint}" + (f": {tail}" if tail else "")


def _tail(text: str, limit: int = 400) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip() and "WARNING" not in ln]
    return " | ".join(lines[-3:])[-limit:]


class NotebookRunner:
    """Runs :class:`NotebookJob` s with the job's backend (kept for the callers' one entry point)."""

    def run(self, job: NotebookJob) -> NotebookRun:
        try:
            return run_notebook(job)
        except Exception as e:  # the grader's own failure, not the student's
            return NotebookRun("error", f"the notebook could not be run ({type(e).__name__}: {str(e)[:300]})")

    def close(self) -> None:
        close_backends()


_RUNNER: NotebookRunner | None = None


def close_runner() -> None:
    """Stop this process's notebook sandboxes (and remove their folders), whoever started them."""
    NotebookRunner().close()


def get_runner() -> NotebookRunner:
    """The process's runner (its sandboxes are stopped at exit by their backends)."""
    global _RUNNER
    if _RUNNER is None:
        _RUNNER = NotebookRunner()
    return _RUNNER
