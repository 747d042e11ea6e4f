"""Helpers of the backprop tests: read what the student's function returned, compare, explain.

Everything here works on plain values the grader rebuilt from data (dicts, tuples, numpy arrays):
never on the student's objects.
"""

from __future__ import annotations

import re

import numpy as np

GRAD_KEYS = ("W1", "b1", "W2", "b2")
_KEY = re.compile(r"^(?:dl_?d|d_?|grad_?|g_?)?(w1|b1|w2|b2)$", re.IGNORECASE)


def grad_key(name: str) -> str | None:
    """``dW1``, ``dL_dW1``, ``grad_w1``, ``W1`` ... -> ``W1``."""
    m = _KEY.match(str(name).strip())
    return {"w1": "W1", "b1": "b1", "w2": "W2", "b2": "b2"}[m.group(1).lower()] if m else None


def _numbers(value) -> np.ndarray | None:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):  # an int beyond float range is no number here either
        return None
    return arr


def gradients_in(value) -> dict[str, np.ndarray] | None:
    """The gradients of a dict keyed by any of the usual names, or None."""
    if not isinstance(value, dict):
        return None
    grads = {}
    for k, v in value.items():
        gk = grad_key(k)
        arr = _numbers(v) if gk else None
        if gk and arr is not None:
            grads[gk] = arr
    return grads or None


def returned(value) -> tuple[dict, float] | str:
    """``(gradients, L)`` from what the function returned, in either order, or why not."""
    if not isinstance(value, (tuple, list)):
        return "it should return (gradients, L)"
    grads, loss = None, None
    for item in value:
        g = gradients_in(item)
        if g is not None:
            grads = g
            continue
        arr = _numbers(item)
        if arr is not None and arr.size == 1:
            loss = float(arr.reshape(-1)[0])
    if grads is None or loss is None:
        return "it should return (gradients, L): a dict with W1, b1, W2, b2 and the loss"
    return grads, loss


def compare_scalar(name: str, got: float, exp: float, tol: float, rel: bool = False) -> tuple[bool, str]:
    if not np.isfinite(got):
        return False, f"{name} is {got}"
    diff = abs(got - exp)
    allowed = tol + (tol * abs(exp) if rel else 0.0)
    if diff <= allowed:
        return True, f"{name} = {got:.10g}"
    return False, f"{name} = {got:.10g}, expected {exp:.10g}, off by {diff:.2e}"


def compare(name: str, got, exp, tol: float, rel: bool = False) -> tuple[bool, str]:
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


def hidden_problem(reference, rng: np.random.Generator, n: int):
    """A problem like the handout's, but with ``n`` points, non-zero biases and a seed nobody knows."""
    weights, X, Y = reference.make_problem(int(rng.integers(1, 2**31 - 1)), n_points=n)
    weights["b1"] = rng.normal(0, 0.5, size=weights["b1"].shape)  # non-zero biases catch a forgotten '+ b'
    weights["b2"] = float(rng.normal(0, 0.5))
    return weights, X, Y


def error_hints(error: str, n: int) -> list[str]:
    """What a failing hidden call's error suggests, in words a student can act on."""
    hints = []
    if re.search(r"\b1000\b", error) or re.search(r"shapes? \(?[^)]*\b1000\b", error):
        hints.append(f"the error mentions 1000 while the hidden problem has N = {n}: your code seems to "
                     "assume 1000 points (e.g. np.ones(1000) or a reshape to 1000); use X.shape[0]")
    elif "broadcast" in error or "shape" in error:
        hints.append("shapes that work for the handout's data fail on other sizes: derive every size from "
                     "the inputs (X.shape, W1.shape) instead of writing numbers")
    return hints


def _same(grads: dict, expected: dict, tol: float, keys=GRAD_KEYS) -> bool:
    return all(compare("d" + k, grads.get(k), expected[k], tol, rel=True)[0] for k in keys)


# What the gradients of a usual mistake equal (computed by the reference: reference/backprop.py's
# mistaken_gradients, which students never receive), and what to do about it.
MISTAKES = [
    ("no_hidden_derivative",
     "your dW1 and db1 equal the gradients without the hidden sigmoid's derivative: multiply dL/dH by "
     "H * (1 - H) to get dL/dZ1 before dW1 and db1"),
    ("no_output_derivative",
     "your gradients equal what you get without the output sigmoid's derivative: dL/dZ2 is dL/dY * Y * (1 - Y)"),
    ("derivative_of_z",
     "your gradients use Z * (1 - Z) as the sigmoid's derivative: it is sigmoid(Z) * (1 - sigmoid(Z)), that is "
     "H * (1 - H) and Y * (1 - Y)"),
    ("not_averaged",
     "your gradients are N times too large: the loss is averaged over the N points, so divide by N"),
]


def value_hints(reference, grads: dict, L: float, w: dict, X, Y, tol: float) -> list[str]:
    """Recognise common mistakes by what the wrong numbers match, else say which layer's gradients are off."""
    no_bias = {**w, "b1": np.zeros_like(np.asarray(w["b1"], dtype=float)), "b2": 0.0}
    g0, L0 = reference.back_propagation(X, Y, no_bias)
    handout = reference.seed0_problem()
    if X.shape != handout[1].shape or not np.array_equal(X, handout[1]):
        g_h, L_h = reference.back_propagation(handout[1], handout[2], handout[0])
        if compare_scalar("L", L, L_h, tol, rel=True)[0] and _same(grads, g_h, tol):
            return ["your function returns the handout's results whatever it is given: compute from its "
                    "arguments X, Y_T and weights, not from the notebook's own X, Y and weights or printed numbers"]
    has_bias = bool(np.any(np.asarray(w["b1"], dtype=float) != 0) or float(w["b2"]) != 0)
    if has_bias and compare_scalar("L", L, L0, tol, rel=True)[0] and _same(grads, g0, tol, ("W1", "W2")):
        return ["your results equal a network without biases: add b1 and b2 in the forward pass "
                "(the handout's b1 and b2 are zero, so the seed-0 check cannot see this)"]
    variants = reference.mistaken_gradients(X, Y, w)
    for variant, hint in MISTAKES:
        if _same(grads, variants[variant], tol):
            return [hint]
    right, _ = reference.back_propagation(X, Y, w)
    notes = {k: compare("d" + k, grads.get(k), right[k], tol)[1] for k in GRAD_KEYS}
    wrong = frozenset(k for k in GRAD_KEYS if not compare("d" + k, grads.get(k), right[k], tol)[0])
    if any(notes[k].startswith((f"d{k} missing", f"d{k} has shape")) for k in wrong):
        return []  # a missing or misshaped gradient is said as such, not as a maths slip
    hint = LAYER_HINTS.get(wrong)
    return [hint] if hint else []


# Which gradients are wrong says where the slip is: a gradient that is right proves the arrays it is made of
# right (dW1 right: dL/dZ1 is right, so a wrong db1 was made from something else, such as dL/dH).
LAYER_HINTS = {
    frozenset({"b1"}): ("db1 alone is off: your dW1 is right, so your dL/dZ1 is right; db1 is dL/dZ1 summed "
                        "over the N points (np.sum(dLdZ1, axis=0)), the same way db2 is dL/dZ2 summed (summing "
                        "dL/dH, before the sigmoid's derivative, is the usual slip)"),
    frozenset({"W1"}): "dW1 alone is off: your db1 is right, so your dL/dZ1 is right; dW1 is X transposed times "
                       "dL/dZ1 (np.dot(X.T, dLdZ1))",
    frozenset({"b2"}): "db2 alone is off: your dW2 is right, so your dL/dZ2 is right; db2 is dL/dZ2 summed over "
                       "the N points (np.sum(dLdZ2, axis=0))",
    frozenset({"W2"}): "dW2 alone is off: your db2 is right, so your dL/dZ2 is right; dW2 is H transposed times "
                       "dL/dZ2 (np.dot(H.T, dLdZ2))",
    frozenset({"W1", "b1"}): ("the output layer's gradients (dW2, db2) are right and the hidden layer's are not: "
                              "check the step back into the hidden layer, dL/dH = dL/dZ2 W2, then "
                              "dL/dZ1 = dL/dH * H * (1 - H)"),
}
