"""``xor_notebook``: the 3-4-1 XOR network notebook (HW4 Q4) trains, and shows its final weights.

Two parts. *trains*: the notebook is re-executed with an injected seed and
``nn.output`` must come within ``tolerance`` of [0, 1, 1, 0]. *printed*: the
submitted notebook's stored outputs (the student's own run) must show the final
``weights1`` (3x4) and ``weights2`` (4x1); when ``output`` is printed too, it must
be what those weights compute (``reference.xor.forward``), so the printed
numbers belong together. The hand-written equation is checked against these
printed weights, since a re-run draws new random ones.

.. code-block:: yaml

    - kind: xor_notebook
      notebook: xor.ipynb
      tolerance: 0.1
      parts: {trains: 1, printed: 1}
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field

from grader.checks._notebook import (
    NotebookLimits,
    cell_errors,
    load_probe,
    missing_packages_of,
    notebook_errors,
    run_notebook,
    run_problem,
)
from grader.nbexec import ProbeSpec
from grader.nbparse import find_xor_weights, labelled_arrays, stored_outputs
from grader.registry import CheckContext, CheckParams, Outcome, SubmissionProblem, check_kind
from reference import xor as ref

TARGET = np.array([0.0, 1.0, 1.0, 0.0])


class XorParts(CheckParams):
    trains: float = Field(1, ge=0)
    printed: float = Field(1, ge=0)


class XorNotebookParams(NotebookLimits):
    notebook: str = Field(min_length=1)
    output_names: list[str] = Field(default_factory=lambda: ["nn.output", "output", "NN.output"], min_length=1)
    tolerance: float = Field(0.1, gt=0)
    consistency: float = Field(1e-3, gt=0)
    parts: XorParts = Field(default_factory=XorParts)

    def code_markers(self) -> list[str]:
        return ["weights1", "weights2"]


@dataclass(frozen=True)
class PrintedWeights:
    """The final XOR weights the student's own run printed, and where."""

    w1: np.ndarray  # 3x4
    w2: np.ndarray  # 4x1
    output: np.ndarray | None  # 4x1, when printed right after them
    rel: str  # the notebook
    where: str  # "xor.ipynb, In [7]"


def stored_xor_weights(ctx: CheckContext, pattern: str) -> PrintedWeights:
    """The weights printed in the submitted notebook's saved outputs.

    Raises :class:`SubmissionProblem` saying what is missing. Cached per submission.
    """
    path, rel = ctx.submission.require(pattern)
    key = ("xor-stored", rel)
    if key not in ctx.cache:
        try:
            outputs = stored_outputs(path)
        except ValueError as e:
            ctx.cache[key] = f"{rel}: cannot read its stored outputs ({str(e)[:150]})"
        else:
            printed = [p for o in outputs for p in labelled_arrays(o.text, o.where)]
            found = find_xor_weights(printed)
            if found:
                w1, w2, out, first = found
                ctx.cache[key] = PrintedWeights(w1, w2, out, rel, f"{rel}, {first.origin}")
            else:
                binary = any(p.array.shape == (3, 4) and np.all((p.array == 0) | (p.array == 1)) for p in printed)
                ctx.cache[key] = (
                    f"{rel}: its saved outputs do not show the final weights1 (3x4) and weights2 (4x1)"
                    + (" (a 3x4 matrix of 0s and 1s is printed, but that is the input X, not learned weights)"
                       if binary else "")
                    + "; run it and save it with the printed weights"
                )
    value = ctx.cache[key]
    if isinstance(value, str):
        raise SubmissionProblem(value)
    return value


@check_kind("xor_notebook", XorNotebookParams, uses_notebooks=True)
def xor_notebook(ctx: CheckContext, p: XorNotebookParams) -> Outcome:
    """The XOR notebook trains when re-run, and its saved outputs show consistent final weights."""
    notes: list[str] = []
    details: dict = {}

    # printed: the student's own run
    printed_ok = 0.0
    try:
        pw = stored_xor_weights(ctx, p.notebook)
    except SubmissionProblem as e:
        notes.append(str(e))
    else:
        w1, w2, out = pw.w1, pw.w2, pw.output
        details["printed"] = {"weights1": w1.tolist(), "weights2": w2.ravel().tolist(),
                              "output": None if out is None else out.ravel().tolist(), "where": pw.where}
        recomputed = ref.forward(w1, w2).ravel()
        if out is None:
            printed_ok = 1.0
            notes.append(f"printed final weights found in {pw.where} (the output is not printed)")
        else:
            diff = float(np.max(np.abs(recomputed - out.ravel())))
            if diff <= p.consistency:
                printed_ok = 1.0
                notes.append(f"printed final weights and output found in {pw.where} and consistent")
            else:
                notes.append(
                    f"the printed output {np.round(out.ravel(), 5).tolist()} is not what the printed weights give "
                    f"({np.round(recomputed, 5).tolist()}, off by {diff:.1e})"
                )

    # trains: a fresh run with the grader's seed
    probe = ProbeSpec(values={"output": p.output_names})
    rel, run = run_notebook(ctx, p.notebook, p, probe, tag="xor")
    trains_ok = 0.0
    problem = run_problem(rel, run)
    found = load_probe(run)
    item = found.get("output")
    if item is None or item.value is None:
        why = problem or (item.error if item is not None else "") or run.probe_problems.get("", "") or "not found"
        notes.append(f"re-run: no network output ({', '.join(p.output_names)}): {why}")
    elif item.value.size != 4 or not np.all(np.isfinite(item.value)):
        notes.append(f"re-run: the output has shape {item.value.shape}, expected 4 values")
    else:
        got = item.value.reshape(-1)
        diff = float(np.max(np.abs(got - TARGET)))
        details["rerun_output"] = got.tolist()
        if diff <= p.tolerance:
            trains_ok = 1.0
            notes.append(f"re-run trains to {np.round(got, 4).tolist()}")
        else:
            notes.append(f"re-run gives {np.round(got, 4).tolist()}, not within {p.tolerance} of [0, 1, 1, 0]")
    errs = cell_errors(run, notebook=ctx.submission.root / rel)
    if packages := missing_packages_of(run, ctx.submission.root / rel):
        details["missing_packages"] = packages
    details["notebook_errors"] = notebook_errors(ctx, p.notebook, run)
    if errs:
        notes.append(errs)
    total = p.parts.trains + p.parts.printed
    frac = (p.parts.trains * trains_ok + p.parts.printed * printed_ok) / total if total else 0.0
    return Outcome(frac, "; ".join(notes), details=details)
