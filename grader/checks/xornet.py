"""The XOR network read from its hand-written equation: ``sigmoid(sum_j w2_j * sigmoid(sum_i w1_ij * X_i))``
taken apart into its weights (one homework's shape, on top of the generic grammar of
:mod:`grader.checks.equation`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np

from grader.checks.equation import Bin, Call, E, EquationError, Neg, Num, Var


@dataclass
class Network:
    """Weights recovered from ``sigmoid(sum_j w2_j * sigmoid(sum_i w1_ij * X_i))``."""

    w1: np.ndarray  # (3, n_hidden), column j = hidden neuron j as written
    w2: np.ndarray  # (n_hidden,)
    texts1: list[list[str]]  # the numbers as written, [neuron][input]
    texts2: list[str]


class StructureError(EquationError):
    pass


def sigmoid_arg(node):
    """``a`` when ``node`` is sigmoid(a) in any common spelling, else None."""
    if isinstance(node, Call) and node.name == "sigmoid":
        return node.arg
    # 1/(1+exp(-a)), 1/(1+e^(-a)), (1+exp(-a))^-1
    den = None
    if isinstance(node, Bin) and node.op == "/" and _is_const(node.left, 1.0):
        den = node.right
    elif isinstance(node, Bin) and node.op == "^" and _is_const(node.right, -1.0):
        den = node.left
    if den is None or not (isinstance(den, Bin) and den.op == "+"):
        return None
    for one, ex in ((den.left, den.right), (den.right, den.left)):
        if _is_const(one, 1.0):
            inner = _exp_arg(ex)
            if inner is not None:
                neg = _negated(inner)
                if neg is not None:
                    return neg
    return None


def _is_const(node, value: float) -> bool:
    if isinstance(node, Num):
        return node.value == value
    if isinstance(node, Neg) and isinstance(node.arg, Num):
        return -node.arg.value == value
    return False


def _exp_arg(node):
    if isinstance(node, Call) and node.name == "exp":
        return node.arg
    if isinstance(node, Bin) and node.op == "^" and isinstance(node.left, E):
        return node.right
    return None


def _negated(node):
    """``a`` when ``node`` is -(a) or -1*(a)."""
    if isinstance(node, Neg):
        return node.arg
    if isinstance(node, Bin) and node.op == "*" and _is_const(node.left, -1.0):
        return node.right
    return None


def _terms(node, sign: float = 1.0, out=None):
    """Flatten sums: [(sign, term)]."""
    out = [] if out is None else out
    if isinstance(node, Bin) and node.op in "+-":
        _terms(node.left, sign, out)
        _terms(node.right, sign if node.op == "+" else -sign, out)
    elif isinstance(node, Neg):
        _terms(node.arg, -sign, out)
    else:
        out.append((sign, node))
    return out


def _factors(node, out=None):
    """Flatten products; ``w*1/(1+e^-z)`` (read as ``(w*1)/(...)``) counts as ``w * sigmoid(z)``."""
    top = out is None
    out = [] if out is None else out
    if isinstance(node, Bin) and node.op == "*":
        _factors(node.left, out)
        _factors(node.right, out)
    elif isinstance(node, Bin) and node.op == "/" and not _is_const(node.left, 1.0) and (
        (z := sigmoid_arg(Bin("/", Num(1.0, "1"), node.right))) is not None
    ):
        _factors(node.left, out)
        out.append(Call("sigmoid", z))
    else:
        out.append(node)
    if top:
        nums = [f for f in out if isinstance(f, Num) or (isinstance(f, Neg) and isinstance(f.arg, Num))]
        if len(nums) > 1:  # a written '1' next to a weight is not a weight
            out = [f for f in out if not (isinstance(f, Num) and f.value == 1.0 and f.text == "1")] or out
    return out


def _coef(factors: list, sign: float) -> tuple[float, str] | None:
    nums = [f for f in factors if isinstance(f, Num) or (isinstance(f, Neg) and isinstance(f.arg, Num))]
    if len(nums) != 1:
        return None
    n = nums[0]
    if isinstance(n, Neg):
        num = cast(Num, n.arg)  # nums keeps a Neg only when it wraps a Num
        return -sign * num.value, "-" + num.text
    return sign * n.value, ("-" if sign < 0 else "") + n.text


def xor_network(tree) -> Network:
    """Recover the 16 weights, or :class:`StructureError` saying what does not fit."""
    outer = sigmoid_arg(tree)
    if outer is None:
        raise StructureError("the equation should be sigmoid( ... ) of a sum of w * sigmoid( ... ) terms")
    w1_cols, w2, t1, t2 = [], [], [], []
    for k, (sign, term) in enumerate(_terms(outer), start=1):
        factors = _factors(term)
        hidden = [f for f in factors if sigmoid_arg(f) is not None]
        if len(hidden) != 1:
            kind = "a constant (the network has no biases)" if not hidden and all(
                isinstance(f, (Num, Neg)) for f in factors) else "not a weight times sigmoid(...)"
            raise StructureError(f"output term {k} is {kind}")
        rest = [f for f in factors if f is not hidden[0]]
        c = _coef(rest, sign)
        if c is None or len(rest) != 1:
            raise StructureError(f"output term {k} should be one number times sigmoid(...)")
        col, texts = _hidden_neuron(sigmoid_arg(hidden[0]), k)
        w1_cols.append(col)
        t1.append(texts)
        w2.append(c[0])
        t2.append(c[1])
    return Network(np.array(w1_cols, dtype=float).T, np.array(w2, dtype=float), t1, t2)


def _hidden_neuron(node, k: int) -> tuple[list[float], list[str]]:
    col: dict[int, tuple[float, str]] = {}
    for sign, term in _terms(node):
        factors = _factors(term)
        vars_ = [f for f in factors if isinstance(f, Var)]
        if not vars_:
            raise StructureError(f"hidden neuron {k} has a constant term (the network has no biases)")
        if len(vars_) != 1:
            raise StructureError(f"hidden neuron {k}: each term should be one number times X1, X2 or X3")
        rest = [f for f in factors if f is not vars_[0]]
        c = _coef(rest, sign)
        if c is None or len(rest) != 1:
            i = vars_[0].index
            raise StructureError(f"hidden neuron {k}: the X{i} term should be a number times X{i}")
        i = vars_[0].index
        if i in col:
            raise StructureError(f"hidden neuron {k} has X{i} twice")
        col[i] = c
    missing = [f"X{i}" for i in (1, 2, 3) if i not in col]
    if missing:
        raise StructureError(f"hidden neuron {k} has no {' or '.join(missing)} term")
    return [col[i][0] for i in (1, 2, 3)], [col[i][1] for i in (1, 2, 3)]
