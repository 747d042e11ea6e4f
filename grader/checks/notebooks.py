"""Shared by the notebook check kinds: the submission's live session of a notebook, and its failing cells
named as the student sees them.

The student's cells run once in a live session (:mod:`grader.execute.notebooks.session`); each check then
asks it for values and calls, which cross the sandbox as data and are compared in the grader's own process,
never by the kernel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from grader.core import textsafe
from grader.core.environment import NETWORK, environment_failures, is_network_error, pip_name
from grader.core.npchanges import NUMPY2, grader_numpy, numpy_change
from grader.execute.notebooks import NotebookJob, NotebookRun
from grader.execute.notebooks.session import NotebookSession
from grader.intake.nbload import NotebookProblem, read_cells
from grader.rubric.kinds import CheckContext, CheckParams


class NotebookLimits(CheckParams):
    """Limits every notebook check accepts (seconds, MiB)."""

    cell_timeout: float = Field(30, gt=0)
    notebook_timeout: float = Field(120, gt=0)
    memory_mb: int = Field(2048, ge=256)
    # Everything the notebook may write (its /tmp, /dev/shm, /content and changes to its files), in RAM.
    scratch_mb: int = Field(512, ge=16, le=16384)


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
            cell_timeout=limits.cell_timeout, notebook_timeout=limits.notebook_timeout,
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
    if errors and session.errors_said_in in ("", ctx.question.id):  # the first question to use it says it
        session.errors_said_in = ctx.question.id
        outcome.reason += f"; {session.rel}: {errors}"
    elif errors:
        outcome.reason += f"; {session.rel} has cells that failed (see {session.errors_said_in})"
    if packages := missing_packages_of(session.run, path):
        outcome.details.setdefault("missing_packages", []).extend(packages)
    if changes := list(dict.fromkeys([*numpy_changes_of(session.run), *session.numpy_changes])):
        # Code right for the course's NumPy 1.x is not the student's mistake, but what it would have computed is
        # unknown here: the grade stands on what ran, and the instructor is asked to look (see the README).
        outcome.details.setdefault("environment_changes", []).extend(changes)
        outcome.instructor_notes.append(
            f"{session.rel}: cells failed on NumPy {grader_numpy()} API changes, not the student's code: "
            + "; ".join(changes) + " (the notebook was written for NumPy 1.x; consider an override)")
        if outcome.fraction < 1:
            outcome.manual_review = True
    if session.run.errors:
        outcome.details.setdefault("notebook_errors", []).extend(notebook_errors(ctx, session.rel, session.run))


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
        if module == NUMPY2:
            what = "; ".join(dict.fromkeys(ch for c in cells if (ch := numpy_change(c.ename, c.evalue))))
            parts.append(f"{labels} failed because the grader runs NumPy {grader_numpy()} and this code was written "
                         f"for NumPy 1.x: an environment difference, not your mistake ({what}); your instructor "
                         "is told and reviews this question")
            continue
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
    return sorted(m for m in environment_failures(errs, _code_sources(notebook))[0] if m not in (NETWORK, NUMPY2))


def numpy_changes_of(run: NotebookRun) -> list[str]:
    """What NumPy 2 changed that made cells of this run fail (for the instructor and the feedback data)."""
    return list(dict.fromkeys(ch for c in run.errors if (ch := numpy_change(c.ename, c.evalue)) is not None))


def by_module_possible(errs) -> bool:
    """Whether any failure may be the environment's (only then are the sources read)."""
    return any(c.ename in ("ModuleNotFoundError", "ImportError") or is_network_error(c.ename, c.evalue)
               or numpy_change(c.ename, c.evalue) is not None for c in errs)


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
