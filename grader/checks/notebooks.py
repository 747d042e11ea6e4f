"""Shared by the notebook check kinds: run a student's notebook once, read what the probe returned.

Values come back from the kernel over its pipe only as ``.npy`` bytes (loaded with
``allow_pickle=False``) plus a JSON manifest; each is size-checked here. The
kernel never says "passed": the check compares the values with ``reference/``.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from grader.core.environment import NETWORK, environment_failures, is_network_error, pip_name
from grader.execute.notebooks import NotebookJob, NotebookRun, ProbeSpec, get_runner
from grader.execute.notebooks.session import NotebookSession
from grader.intake.nbload import NotebookProblem, read_cells
from grader.rubric.kinds import CheckContext, CheckParams

MAX_VALUE_BYTES = 64 * 1024**2


class NotebookLimits(CheckParams):
    """Limits every notebook check accepts (seconds, MiB)."""

    cell_timeout: float = Field(30, gt=0)
    notebook_timeout: float = Field(120, gt=0)
    probe_timeout: float = Field(20, gt=0)
    memory_mb: int = Field(2048, ge=256)
    # Everything the notebook may write (its /tmp, /dev/shm, /content and changes to its files), in RAM.
    scratch_mb: int = Field(512, ge=16, le=16384)


@dataclass
class Probed:
    """What the probe found under one key: an array, or why there is none."""

    value: np.ndarray | None = None
    error: str = ""
    kind: str = "array"
    keys: list[str] | None = None
    name: str = ""


def run_notebook(
    ctx: CheckContext, pattern: str, limits: NotebookLimits, probe: ProbeSpec | None = None, tag: str = ""
) -> tuple[str, NotebookRun]:
    """Execute the notebook matching ``pattern`` (once per submission and ``tag``)."""
    sub = ctx.submission
    path, rel = sub.require(pattern)
    key = ("notebook", rel, tag)
    if key in ctx.cache:
        return rel, ctx.cache[key]
    job = NotebookJob(
        notebook=str(path),
        submission_dir=str(sub.root),
        seed=ctx.options.seed,
        cell_timeout=limits.cell_timeout,
        notebook_timeout=limits.notebook_timeout,
        probe_timeout=limits.probe_timeout,
        memory_bytes=limits.memory_mb * 1024**2,
        scratch_bytes=limits.scratch_mb * 1024**2,
        isolation=ctx.options.isolation,
        slot=ctx.options.sandbox_slot,
        probe=probe,
    )
    run = get_runner().run(job)
    ctx.cache[key] = run
    return rel, run


def notebook_session(ctx: CheckContext, pattern: str, limits: NotebookLimits, call_timeout: float = 20,
                     session_timeout: float = 300) -> tuple[NotebookSession, str]:
    """The submission's live session of the notebook matching ``pattern`` (:mod:`grader.execute.notebooks.session`):
    one per notebook and submission, shared by every check that asks, so the student's cells run once.
    The pipeline closes it when the submission is done."""
    path, rel = ctx.submission.require(pattern)
    key = ("session", rel)
    session = ctx.cache.get(key)
    if not isinstance(session, NotebookSession):
        job = NotebookJob(
            notebook=str(path), submission_dir=str(ctx.submission.root), seed=ctx.options.seed,
            cell_timeout=limits.cell_timeout, notebook_timeout=limits.notebook_timeout, probe_timeout=call_timeout,
            memory_bytes=limits.memory_mb * 1024**2, scratch_bytes=limits.scratch_mb * 1024**2,
            isolation=ctx.options.isolation, slot=ctx.options.sandbox_slot,
        )
        session = ctx.cache[key] = NotebookSession(job, rel, call_timeout, session_timeout)
    return session, rel


def add_session_problems(ctx: CheckContext, session: NotebookSession, outcome) -> None:
    """What went wrong in the student's cells of a live session, added to a check's outcome: in the reason
    (named as the student sees them), and as data for the feedback page and the batch summary."""
    path = Path(session.job.notebook)
    errors = cell_errors(session.run, notebook=path)
    if errors:
        outcome.reason += f"; {session.rel}: {errors}"
    if packages := missing_packages_of(session.run, path):
        outcome.details.setdefault("missing_packages", []).extend(packages)
    if session.run.errors:
        outcome.details.setdefault("notebook_errors", []).extend(notebook_errors(ctx, session.rel, session.run))


def run_problem(rel: str, run: NotebookRun) -> str | None:
    """A sentence for a run that did not complete, or None when it did."""
    if run.status == "ok":
        return None
    if run.status == "invalid":
        return run.reason
    return f"{rel}: {run.reason or run.status}"


def cell_errors(run: NotebookRun, limit: int = 3, notebook: Path | None = None) -> str:
    """The failing cells, named as the student sees them: ``In [8] (`loss = ...`): NameError: ...``.

    Cells that failed because the grading environment lacks a package (and cells that then used a name
    that import would have defined) are told apart and said to be the environment's failing, not the
    student's; ``notebook`` (the submitted file) lets the import lines be read for that."""
    errs = run.errors
    if not errs:
        return ""
    by_module, own = environment_failures(errs, _code_sources(notebook) if by_module_possible(errs) else {})
    parts = []
    if own:
        shown = "; ".join(f"{c.label}: {c.ename}: {c.evalue[:120]}" for c in own[:limit])
        more = f" (+{len(own) - limit} more)" if len(own) > limit else ""
        parts.append(f"errors while running: {shown}{more}")
    for module, cells in by_module.items():
        labels = ", ".join(c.label for c in cells[:limit]) + (f" (+{len(cells) - limit} more)" if len(cells) > limit
                                                              else "")
        if module == NETWORK:
            parts.append(f"{labels} tried to reach the network (a download?), and grading runs offline: those "
                         "cells are skipped in effect, which costs you nothing where the graded parts do not "
                         "need their results")
            continue
        parts.append(f"the grading environment lacks the package '{module}' ({pip_name(module)}), so {labels} "
                     "failed because of it: not your mistake, and your instructor is told")
    return "; ".join(parts)


def missing_packages_of(run: NotebookRun, notebook: Path | None = None) -> list[str]:
    """The packages the grading environment lacked for this run (for the batch summary)."""
    errs = run.errors
    if not errs or not any(c.ename in ("ModuleNotFoundError", "ImportError") for c in errs):
        return []
    return sorted(m for m in environment_failures(errs, _code_sources(notebook))[0] if m != NETWORK)


def by_module_possible(errs) -> bool:
    """Whether any failure may be the environment's (only then are the sources read)."""
    return any(c.ename in ("ModuleNotFoundError", "ImportError") or is_network_error(c.ename, c.evalue) for c in errs)


def _code_sources(notebook: Path | None) -> dict[int, str]:
    if notebook is None:
        return {}
    try:
        cells = read_cells(notebook)
    except NotebookProblem:
        return {}
    out = {}
    for i, c in enumerate(cells):  # keyed like CellReport.index: the position among all cells
        if c.get("cell_type") == "code":
            src = c.get("source", "")
            out[i] = "".join(map(str, src)) if isinstance(src, list) else str(src)
    return out


MAX_SOURCE_LINES = 30
MAX_TRACEBACK_LINES = 12


def notebook_errors(ctx: CheckContext, pattern: str, run: NotebookRun, limit: int = 3) -> list[dict[str, Any]]:
    """The failing cells as the student sees them, for the feedback page: ``In [8]`` (or ``code cell 3``),
    the cell's source (cut), the error and the end of its traceback (terminal colours removed)."""
    from grader.core import textsafe
    from grader.intake.nbload import NotebookProblem, read_cells

    errs = run.errors[:limit]
    if not errs:
        return []
    path = ctx.submission.find_one(pattern)
    try:
        cells = read_cells(path) if path is not None else []
    except (NotebookProblem, OSError):
        cells = []
    out = []
    for c in errs:
        cell = cells[c.index] if 0 <= c.index < len(cells) else {}
        raw = cell.get("source", "")
        source = "".join(str(x) for x in raw) if isinstance(raw, list) else str(raw)
        lines = source.splitlines()
        if len(lines) > MAX_SOURCE_LINES:
            lines = lines[:MAX_SOURCE_LINES] + [f"... ({len(lines) - MAX_SOURCE_LINES} more lines)"]
        tb = textsafe.terminal(c.traceback).splitlines()[-MAX_TRACEBACK_LINES:]
        name = f"In [{c.execution_count}]" if c.execution_count is not None else f"code cell {c.code_index}"
        out.append({"notebook": ctx.submission.rel(path) if path is not None else pattern, "cell": name,
                    "source": "\n".join(lines)[:4000], "ename": c.ename, "evalue": c.evalue,
                    "traceback": "\n".join(tb)[:4000]})
    return out


def load_probe(run: NotebookRun) -> dict[str, Probed]:
    """Read the probe's manifest and arrays, trusting nothing about them."""
    if run.probe_status != "ok" or not isinstance(run.probe, dict):
        return {}
    manifest = run.probe.get("manifest")
    arrays = run.probe.get("arrays")
    if not isinstance(manifest, dict) or not isinstance(arrays, dict):
        return {}
    found: dict[str, Probed] = {}
    for key, entry in manifest.items():
        if not isinstance(key, str) or not isinstance(entry, dict):
            continue
        kind = entry.get("kind")
        if kind == "array":
            found[key] = _load_array(arrays, entry.get("file"))
        elif kind == "dict":
            keys = entry.get("keys")
            found[key] = Probed(kind="dict", keys=[str(k) for k in keys] if isinstance(keys, list) else [])
        elif kind == "seq":
            length = entry.get("length")
            n = length if isinstance(length, int) and 0 <= length <= 10_000 else 0
            found[key] = Probed(kind="seq", keys=[str(i) for i in range(n)])
        elif kind == "name":
            found[key] = Probed(kind="name", name=str(entry.get("name", ""))[:100])
        else:
            found[key] = Probed(kind="error", error=str(entry.get("error", "no value"))[:300])
    return found


def _load_array(arrays: dict, name: Any) -> Probed:
    data = arrays.get(name) if isinstance(name, str) else None
    if not isinstance(data, str):
        return Probed(kind="error", error="the value is missing from the probe's answer")
    if len(data) > MAX_VALUE_BYTES * 4 // 3 + 4:
        return Probed(kind="error", error=f"the value is larger than {MAX_VALUE_BYTES // 2**20} MiB")
    try:
        arr = np.load(io.BytesIO(base64.b64decode(data, validate=True)), allow_pickle=False)
    except (binascii.Error, ValueError, OSError, EOFError) as e:
        return Probed(kind="error", error=f"unreadable value ({type(e).__name__})")
    except Exception as e:
        return Probed(kind="error", error=f"unreadable value ({type(e).__name__})")
    if not isinstance(arr, np.ndarray) or arr.dtype != np.float64:
        return Probed(kind="error", error="the value is not a float64 array")
    return Probed(value=arr)


def save_input(folder: Path, name: str, arr: np.ndarray) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    np.save(path, np.asarray(arr, dtype=np.float64), allow_pickle=False)
    return str(path)
