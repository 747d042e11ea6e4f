"""``notebook_backprop``: the AML HW4 numpy forward/backward pass, against ``reference.backprop``.

The student's notebook runs in a sandboxed kernel; afterwards the grader calls
the student's ``back_propagation`` on the handout's seed-0 data and on fresh
hidden problems (other sizes, non-zero biases, a seed only the grader knows),
and compares every returned number with the reference in the grader process.
Printing the right numbers is not enough: hard-coded values fail the hidden part.

.. code-block:: yaml

    - kind: notebook_backprop
      notebook: backprop.ipynb
      tolerance: 1.0e-6          # absolute, on L and on every gradient entry
      parts: {loss: 1, gradients: 1, hidden: 1}
      hidden_points: [137, 401]  # sizes of the hidden problems
"""

from __future__ import annotations

import re

import numpy as np
from pydantic import Field

from grader.checks._notebook import (
    NotebookLimits,
    Probed,
    cell_errors,
    load_probe,
    missing_packages_of,
    notebook_errors,
    run_notebook,
    run_problem,
    save_input,
)
from grader.nbexec import ProbeSpec
from grader.registry import CheckContext, CheckParams, Outcome, SubmissionProblem, check_kind
from reference import backprop as ref

GRAD_KEYS = ("W1", "b1", "W2", "b2")


class Parts(CheckParams):
    loss: float = Field(1, ge=0)
    gradients: float = Field(1, ge=0)
    hidden: float = Field(1, ge=0)


class BackpropParams(NotebookLimits):
    notebook: str = Field(min_length=1)
    function: str = "back_propagation"
    tolerance: float = Field(1e-6, gt=0)
    parts: Parts = Field(default_factory=Parts)
    hidden_points: list[int] = Field(default_factory=lambda: [137, 401], min_length=1, max_length=5)
    loss_names: list[str] = Field(default_factory=lambda: ["L", "loss"])
    gradient_names: list[str] = Field(default_factory=lambda: ["gradients", "grads"])


def _hidden_problem(rng: np.random.Generator, n: int):
    weights, X, Y = ref.make_problem(int(rng.integers(1, 2**31 - 1)), n_points=n)
    weights["b1"] = rng.normal(0, 0.5, size=weights["b1"].shape)  # non-zero biases catch a forgotten '+ b'
    weights["b2"] = float(rng.normal(0, 0.5))
    return weights, X, Y


def _args(prefix: str, weights: dict, X, Y, folder, inputs: dict) -> list[dict]:
    for name, arr in (("X", X), ("Y", Y), ("W1", weights["W1"]), ("b1", weights["b1"]), ("W2", weights["W2"])):
        inputs[f"{prefix}_{name}.npy"] = save_input(folder, f"{prefix}_{name}.npy", arr)
    wdict = {k: {"npy": f"{prefix}_{k}.npy"} for k in ("W1", "b1", "W2")}
    wdict["b2"] = {"float": float(weights["b2"])}
    return [{"npy": f"{prefix}_X.npy"}, {"npy": f"{prefix}_Y.npy"}, {"dict": wdict}]


@check_kind("notebook_backprop", BackpropParams, uses_notebooks=True)
def notebook_backprop(ctx: CheckContext, p: BackpropParams) -> Outcome:
    """Loss and gradients of the student's back_propagation: seed-0 data and hidden problems."""
    rng = ctx.rng("backprop-hidden")
    folder = ctx.scratch("backprop-inputs")
    inputs: dict[str, str] = {}
    w0, X0, Y0 = ref.seed0_problem()
    calls = [{"key": "seed0", "function": p.function, "args": _args("s0", w0, X0, Y0, folder, inputs)}]
    hidden = []
    for i, n in enumerate(p.hidden_points):
        w, X, Y = _hidden_problem(rng, n)
        hidden.append((n, w, X, Y))
        args = _args(f"h{i}", w, X, Y, folder, inputs)
        calls.append({"key": f"hidden{i}", "function": p.function, "args": args})
    probe = ProbeSpec(
        values={"L": p.loss_names, "gradients": p.gradient_names}, calls=calls, inputs=inputs
    )
    rel, run = run_notebook(ctx, p.notebook, p, probe, tag="backprop")
    problem = run_problem(rel, run)
    found = load_probe(run)
    if problem and not found:
        raise SubmissionProblem(problem)

    expected0, L0 = ref.back_propagation(X0, Y0, w0)
    got = _returned(found, "seed0", run.probe_problems)
    source = f"{p.function}(X, Y, weights) on the seed-0 data"
    if isinstance(got, str):
        fallback = _from_variables(found)
        if fallback is None:
            why = got
            notes = [f"seed-0: {p.function} could not be used ({why})"]
            loss_ok, grad_ok, grad_notes = False, {}, []
        else:
            source = "the notebook's variables L and gradients"
            got = fallback
    details: dict = {"tolerance": p.tolerance, "source": source}
    if not isinstance(got, str):
        grads, L = got
        loss_ok, loss_note = _compare_scalar("L", L, L0, p.tolerance)
        grad_ok, grad_notes = {}, []
        for k in GRAD_KEYS:
            ok, note = _compare("d" + k, grads.get(k), expected0[k], p.tolerance)
            grad_ok[k] = ok
            if not ok:
                grad_notes.append(note)
        notes = [f"seed-0 loss {'correct' if loss_ok else 'wrong'} ({loss_note})"]
        n_ok = sum(grad_ok.values())
        notes.append(
            f"seed-0 gradients {n_ok}/4 correct" + (f" ({'; '.join(grad_notes)})" if grad_notes else "")
        )
        if source != f"{p.function}(X, Y, weights) on the seed-0 data":
            notes[-1] += f"; read from {source}"
        details.update(loss=loss_note, gradients={k: bool(v) for k, v in grad_ok.items()})

    hidden_ok = []
    hidden_notes = []
    hints: list[str] = []
    for i, (n, w, X, Y) in enumerate(hidden):
        exp_g, exp_L = ref.back_propagation(X, Y, w)
        res = _returned(found, f"hidden{i}", run.probe_problems)
        if isinstance(res, str):
            hidden_ok.append(False)
            hidden_notes.append(f"N={n}: {res}")
            hints += _error_hints(res, n)
            continue
        g, L = res
        checks = [_compare_scalar("L", L, exp_L, p.tolerance, rel=True)] + [
            _compare("d" + k, g.get(k), exp_g[k], p.tolerance, rel=True) for k in GRAD_KEYS
        ]
        bad = [note for ok, note in checks if not ok]
        hidden_ok.append(not bad)
        if bad:
            hidden_notes.append(f"N={n}: " + "; ".join(bad[:3]))
            hints += _value_hints(g, L, w, X, Y, p.tolerance)
    summary = f"hidden data {sum(hidden_ok)}/{len(hidden_ok)} correct"
    if hidden_notes:
        sizes = " and ".join(str(h[0]) for h in hidden)
        summary += (f" (the hidden problems differ from the handout's: N = {sizes} points instead of 1000, "
                    f"non-zero biases b1 and b2, other random data; {' | '.join(hidden_notes)})")
        if hints:
            summary += "; hint: " + "; ".join(dict.fromkeys(hints))
    else:
        summary += f" (N = {', '.join(str(h[0]) for h in hidden)})"
    notes.append(summary)
    details["hidden"] = hidden_ok

    parts = p.parts
    total = parts.loss + parts.gradients + parts.hidden
    score = (
        parts.loss * float(loss_ok)
        + parts.gradients * (sum(grad_ok.values()) / 4 if grad_ok else 0.0)
        + parts.hidden * (sum(hidden_ok) / len(hidden_ok))
    )
    frac = score / total if total else 0.0
    extra = cell_errors(run, notebook=ctx.submission.root / rel)
    if packages := missing_packages_of(run, ctx.submission.root / rel):
        details["missing_packages"] = packages
    details["notebook_errors"] = notebook_errors(ctx, p.notebook, run)
    if problem:
        extra = (extra + "; " if extra else "") + problem
    reason = "; ".join(notes) + (f"; {extra}" if extra else "")
    return Outcome(frac, reason, details=details)


def _error_hints(error: str, n: int) -> list[str]:
    """What a failing hidden call's error suggests, in words a student can act on."""
    hints = []
    if re.search(r"\b1000\b", error) or re.search(r"shapes? \(?[^)]*\b1000\b", error):
        hints.append(f"the error mentions 1000 while the hidden problem has N = {n}: your code seems to "
                     "assume 1000 points (e.g. np.ones(1000) or a reshape to 1000); use X.shape[0]")
    elif "broadcast" in error or "shape" in error:
        hints.append("shapes that work for the handout's data fail on other sizes: derive every size from "
                     "the inputs (X.shape, W1.shape) instead of writing numbers")
    return hints


def _value_hints(grads: dict, L: float, w: dict, X, Y, tol: float) -> list[str]:
    """Recognise common mistakes by what the wrong numbers match: a forward pass without the biases."""
    no_bias = {**w, "b1": np.zeros_like(np.asarray(w["b1"], dtype=float)), "b2": 0.0}
    g0, L0 = ref.back_propagation(X, Y, no_bias)
    matches = _compare_scalar("L", L, L0, tol, rel=True)[0] and all(
        _compare("d" + k, grads.get(k), g0[k], tol, rel=True)[0] for k in ("W1", "W2"))
    if matches:
        return ["your results equal a network without biases: add b1 and b2 in the forward pass "
                "(the handout's b1 and b2 are zero, so the seed-0 check cannot see this)"]
    return []


_KEY = re.compile(r"^(?:dl_?d|d_?|grad_?|g_?)?(w1|b1|w2|b2)$", re.IGNORECASE)


def _grad_key(name: str) -> str | None:
    m = _KEY.match(name.strip())
    return {"w1": "W1", "b1": "b1", "w2": "W2", "b2": "b2"}[m.group(1).lower()] if m else None


def _grads_at(found: dict[str, Probed], key: str) -> dict[str, np.ndarray] | None:
    entry = found.get(key)
    if entry is None or entry.kind != "dict":
        return None
    grads = {}
    for k in entry.keys or []:
        gk = _grad_key(k)
        item = found.get(f"{key}.{k}")
        if gk and item is not None and item.value is not None:
            grads[gk] = item.value
    return grads if grads else None


def _returned(found: dict[str, Probed], key: str, problems: dict[str, str]) -> tuple[dict, float] | str:
    """``(gradients, L)`` from what the function returned, in either order, or why not."""
    entry = found.get(key)
    if key in problems:
        return f"the call {problems[key]}"
    if entry is None:
        return "the grader could not call it (the notebook did not get that far)"
    if entry.kind == "error":
        return f"calling it raised {entry.error}"
    if entry.kind != "seq":
        return "it should return (gradients, L)"
    grads, loss = None, None
    for i in entry.keys or []:
        sub = f"{key}.{i}"
        g = _grads_at(found, sub)
        if g is not None:
            grads = g
        else:
            item = found.get(sub)
            if item is not None and item.value is not None and item.value.size == 1:
                loss = float(item.value.reshape(-1)[0])
    if grads is None or loss is None:
        return "it should return (gradients, L): a dict with W1, b1, W2, b2 and the loss"
    return grads, loss


def _from_variables(found: dict[str, Probed]) -> tuple[dict, float] | None:
    grads = _grads_at(found, "gradients")
    item = found.get("L")
    if grads is None or item is None or item.value is None or item.value.size != 1:
        return None
    return grads, float(item.value.reshape(-1)[0])


def _compare_scalar(name: str, got: float, exp: float, tol: float, rel: bool = False) -> tuple[bool, str]:
    if not np.isfinite(got):
        return False, f"{name} is {got}"
    diff = abs(got - exp)
    allowed = tol + (tol * abs(exp) if rel else 0.0)
    if diff <= allowed:
        return True, f"{name} = {got:.10g}"
    return False, f"{name} = {got:.10g}, expected {exp:.10g}, off by {diff:.2e}"


def _compare(name: str, got: np.ndarray | None, exp, tol: float, rel: bool = False) -> tuple[bool, str]:
    if got is None:
        return False, f"{name} missing"
    exp = np.asarray(exp, dtype=float)
    g = np.asarray(got, dtype=float)
    if g.size == exp.size == 1:
        g, exp = g.reshape(()), exp.reshape(())
    elif g.shape != exp.shape:
        if g.ndim == 2 and g.T.shape == exp.shape:
            g = g.T  # the handout itself prints dW1 transposed; both orientations hold the same numbers
        elif np.squeeze(g).shape == np.squeeze(exp).shape:
            g, exp = np.squeeze(g), np.squeeze(exp)
        else:
            return False, f"{name} has shape {g.shape}, expected {exp.shape}"
    if not np.all(np.isfinite(g)):
        return False, f"{name} contains NaN or infinity"
    diff = float(np.max(np.abs(g - exp))) if g.size else 0.0
    allowed = tol + (tol * float(np.max(np.abs(exp))) if rel and exp.size else 0.0)
    if diff <= allowed:
        return True, f"{name} ok"
    return False, f"{name} off by {diff:.2e}"
