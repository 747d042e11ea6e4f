"""``xor_equation`` (HW4 Q4a) and ``xor_hand`` (Q4b): the hand-written XOR equation, checked without ``eval``.

q4a: ONE equation ``Y = f(X1, X2, X3)`` with the 16 learned numbers, in any common
notation (plain text, Unicode, LaTeX), from ``xor_equation.txt`` or else a
markdown cell of ``xor.ipynb``. It must have the network's shape
``sigmoid(sum_j w2_j * sigmoid(sum_i w1_ij * X_i))`` with 4 hidden neurons, give
≈ [0, 1, 1, 0] on 001, 011, 101, 111, and use the student's own weights — those
printed in the notebook's saved outputs, to the precision written.

q4b: the four hand-calculated values in ``xor_hand.txt``, each within
``tolerance`` of the equation's value for that input; a quarter per row.

.. code-block:: yaml

    - kind: xor_equation
      equation: xor_equation.txt
      notebook: xor.ipynb
    - kind: xor_hand
      hand: xor_hand.txt
      equation: xor_equation.txt
      notebook: xor.ipynb
      tolerance: 0.001
"""

from __future__ import annotations

import itertools
import re
from typing import Literal

import numpy as np
from pydantic import Field

from grader.checks.xor_notebook import stored_xor_weights
from grader.equation import Bin, Call, E, EquationError, Neg, Network, Num, Var, decimals, evaluate, parse, xor_network
from grader.nbload import NotebookProblem, read_cells
from grader.registry import CheckContext, CheckParams, Outcome, SubmissionProblem, check_kind
from reference import xor as ref

MAX_TEXT_BYTES = 200_000
TARGET = np.array([0.0, 1.0, 1.0, 0.0])


class XorEquationParams(CheckParams):
    equation: str = Field(min_length=1)
    notebook: str = Field(min_length=1)
    tolerance: float = Field(0.1, gt=0)  # distance from [0, 1, 1, 0]


class XorHandParams(CheckParams):
    hand: str = Field(min_length=1)
    equation: str = Field(min_length=1)
    notebook: str = Field(min_length=1)
    tolerance: float = Field(1e-3, gt=0)
    # What the hand values are checked against: the student's own equation (default: a wrong equation is
    # not penalised twice), or what the network computes from the weights the notebook printed.
    compare_with: Literal["equation", "network"] = "equation"


def _read_text(ctx: CheckContext, pattern: str) -> tuple[str, str] | None:
    path = ctx.submission.find_one(pattern)
    if path is None:
        return None
    rel = ctx.submission.rel(path)
    if path.stat().st_size > MAX_TEXT_BYTES:
        raise SubmissionProblem(f"{rel}: {path.stat().st_size:,} bytes is over the {MAX_TEXT_BYTES:,}-byte limit")
    raw = path.read_bytes()
    for enc in ("utf-8-sig", "utf-16", "cp1252"):
        try:
            return rel, raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise SubmissionProblem(f"{rel}: not readable as text")


def _display_blocks(text: str) -> list[str]:
    """The ``$$...$$`` blocks of ``text``, paired left to right in one pass (a regular expression with
    a lazy ``.+?`` rescans the rest of the text from every unclosed ``$$``: quadratic)."""
    parts = text.split("$$")
    return [parts[i] for i in range(1, len(parts) - 1, 2) if parts[i].strip()]


def _candidates(text: str) -> list[str]:
    """The equation as a whole text, and each line or $$...$$ block that may hold it alone."""
    out = [text]
    out += _display_blocks(text)
    out += [ln for ln in text.splitlines() if re.search(r"sigm|σ|\\sigma|exp|e\^|\\frac", ln)]
    seen, unique = set(), []
    for c in out:
        c = c.strip()
        if c and c not in seen:
            seen.add(c)
            unique.append(c)
    return unique


def read_equation(ctx: CheckContext, equation_pattern: str, notebook_pattern: str):
    """``(source, tree, network)`` from the text file, else from a markdown cell of the notebook.

    Cached per submission. Raises :class:`SubmissionProblem` with the most useful parse error.
    """
    key = ("xor-equation", equation_pattern, notebook_pattern)
    if key in ctx.cache:
        value = ctx.cache[key]
        if isinstance(value, SubmissionProblem):
            raise value
        return value
    try:
        value = _read_equation(ctx, equation_pattern, notebook_pattern)
    except SubmissionProblem as e:
        ctx.cache[key] = e
        raise
    ctx.cache[key] = value
    return value


def _read_equation(ctx: CheckContext, equation_pattern: str, notebook_pattern: str):
    sources: list[tuple[str, str]] = []
    found = _read_text(ctx, equation_pattern)
    if found is not None:
        sources.append(found)
    else:
        nb = ctx.submission.find_one(notebook_pattern)
        if nb is not None:
            try:
                cells = read_cells(nb)
            except NotebookProblem:
                cells = []
            for i, cell in enumerate(cells):
                if cell.get("cell_type") == "markdown":
                    src = cell.get("source", "")
                    src = "".join(src) if isinstance(src, list) else str(src)
                    if re.search(r"sigm|σ|\\sigma|\\frac|exp", src):
                        sources.append((f"{ctx.submission.rel(nb)} (markdown cell {i + 1})", src))
    if not sources:
        raise SubmissionProblem(
            f"no equation: expected {equation_pattern} (or the equation in a markdown cell of {notebook_pattern})"
        )
    parse_error: tuple[str, EquationError] | None = None
    shape_error: tuple[str, EquationError] | None = None
    for where, text in sources:
        for cand in _candidates(text):
            try:
                tree = parse(cand)
            except EquationError as e:
                parse_error = parse_error or (where, e)
                continue
            try:
                return where, tree, xor_network(tree)
            except EquationError as e:  # it parsed, but is not the network's shape: the more useful message
                shape_error = shape_error or (where, e)
    if shape_error is not None:
        raise SubmissionProblem(f"{shape_error[0]}: {shape_error[1]}")
    assert parse_error is not None
    raise SubmissionProblem(f"{parse_error[0]}: cannot read the equation: {parse_error[1]}")


def tree_data(node) -> list:
    """The parsed equation as plain JSON data, for the feedback page to draw (``grader.render.mathml``)."""
    if isinstance(node, Num):
        return ["num", node.text]
    if isinstance(node, Var):
        return ["var", node.index]
    if isinstance(node, E):
        return ["e"]
    if isinstance(node, Neg):
        return ["neg", tree_data(node.arg)]
    if isinstance(node, Bin):
        return ["bin", node.op, tree_data(node.left), tree_data(node.right)]
    if isinstance(node, Call):
        return ["call", node.name, tree_data(node.arg)]
    raise TypeError(f"not an equation node: {type(node).__name__}")


def _outputs(tree) -> np.ndarray:
    return np.array([evaluate(tree, {1: a, 2: b, 3: c}) for a, b, c in ref.X])


def _match_neurons(net: Network, w1: np.ndarray, w2: np.ndarray):
    """The hidden-neuron order of the equation that best fits the notebook's (sums commute)."""
    best = None
    for perm in itertools.permutations(range(4)):
        diff = max(np.max(np.abs(net.w1[:, list(perm)] - w1)), np.max(np.abs(net.w2[list(perm)] - w2.ravel())))
        if best is None or diff < best[0]:
            best = (diff, perm)
    return best[1]


def _agrees(texts1, texts2, w1, w2, perm) -> tuple[bool, list[str]]:
    """Every written number equals the notebook's, to the precision it was written with."""
    bad = []
    for col, j in enumerate(perm):
        for i in range(3):
            t = texts1[j][i]
            if abs(float(t) - w1[i, col]) > 10.0 ** -decimals(t) + 1e-12:
                bad.append(f"{t} (notebook: {w1[i, col]:.8g})")
        t = texts2[j]
        if abs(float(t) - w2.ravel()[col]) > 10.0 ** -decimals(t) + 1e-12:
            bad.append(f"{t} (notebook: {w2.ravel()[col]:.8g})")
    return not bad, bad


@check_kind("xor_equation", XorEquationParams)
def xor_equation(ctx: CheckContext, p: XorEquationParams) -> Outcome:
    """One equation in X1..X3 with the student's 16 learned weights that computes XOR."""
    where, tree, net = read_equation(ctx, p.equation, p.notebook)
    n_hidden = net.w2.size
    if n_hidden != 4:
        raise SubmissionProblem(
            f"{where}: {n_hidden} hidden neurons ({4 * n_hidden} weights); the network has 4 (16 weights)"
        )
    out = _outputs(tree)
    details = {"source": where, "outputs": out.tolist(), "weights1": net.w1.tolist(), "weights2": net.w2.tolist(),
               "equation_tree": tree_data(tree)}
    xor_ok = bool(np.all(np.isfinite(out))) and float(np.max(np.abs(out - TARGET))) <= p.tolerance
    shown = ", ".join(f"{v:.5f}" for v in out)
    notes = [f"{where}: 16 weights; gives [{shown}] on 001, 011, 101, 111"
             + ("" if xor_ok else f", not within {p.tolerance} of [0, 1, 1, 0]")]
    try:
        pw = stored_xor_weights(ctx, p.notebook)
    except SubmissionProblem as e:
        notes.append(f"cannot compare with your notebook's weights: {e}")
        return Outcome(0.5 if xor_ok else 0.0, "; ".join(notes), details=details)
    w1, w2, nb_rel = pw.w1, pw.w2, pw.where
    perm = _match_neurons(net, w1, w2)
    own, bad = _agrees(net.texts1, net.texts2, w1, w2, perm)
    if not own:
        hperm = _match_neurons(net, ref.HANDOUT_WEIGHTS1, ref.HANDOUT_WEIGHTS2)
        handout, _ = _agrees(net.texts1, net.texts2, ref.HANDOUT_WEIGHTS1, ref.HANDOUT_WEIGHTS2, hperm)
        if handout and not np.allclose(w1, ref.HANDOUT_WEIGHTS1, atol=1e-6):
            return Outcome.failed(
                f"{where}: these are the handout's sample weights (7.19328546, ..., 11.72259331, ...), "
                f"not the ones {nb_rel} printed; use your own trained weights", details=details)
        notes.append(f"{len(bad)} of the 16 numbers differ from the weights {nb_rel} printed: " + "; ".join(bad[:4])
                     + (" ..." if len(bad) > 4 else ""))
    else:
        notes.append(f"all 16 numbers are the weights {nb_rel} printed")
    return Outcome(0.5 * xor_ok + 0.5 * own, "; ".join(notes), details=details)


# Three binary digits with optional spaces and one comma or semicolon between them ("001", "0 1 1",
# "1, 0; 1"). The whitespace runs are atomic groups: the earlier `\s*[,; ]?\s*` could split a run of
# spaces in quadratically many ways, and a 12 KB line of spaces hung the worker for 600 s.
_ROW = re.compile(r"(?<![\d.])([01])(?>\s*)(?:[,;](?>\s*))?([01])(?>\s*)(?:[,;](?>\s*))?([01])(?![\d.])")
_NUM = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def parse_hand(text: str) -> dict[str, float]:
    """Four hand-calculated values by input: lines like ``001: 0.00765`` or four numbers in order."""
    labeled: dict[str, float] = {}
    plain: list[float] = []
    for line in text.splitlines():
        line = line.strip().replace("−", "-")
        if not line:
            continue
        m = _ROW.search(line)
        if m and m.start() < len(line) // 2 + 1:
            rest = line[m.end():]
            nums = _NUM.findall(rest)
            if nums:
                labeled["".join(m.groups())] = float(nums[-1])
                continue
        nums = [n for n in _NUM.findall(line)]
        if len(nums) == 1:
            plain.append(float(nums[0]))
    if len(labeled) >= 4 or (labeled and not plain):
        return labeled
    if len(plain) == 4:
        return dict(zip(ref.INPUT_LABELS, plain, strict=True))
    return labeled


@check_kind("xor_hand", XorHandParams)
def xor_hand(ctx: CheckContext, p: XorHandParams) -> Outcome:
    """Each hand-calculated output agrees with the equation's value for that input."""
    ctx.submission.require(p.hand)
    rel, text = _read_text(ctx, p.hand)
    values = parse_hand(text)
    if not values:
        raise SubmissionProblem(f"{rel}: no values found; write one line per input, like '001: 0.00765'")
    expected, against, caveat = _hand_reference(ctx, p, rel)
    column = "network" if p.compare_with == "network" else "equation"
    rows = [f"input  hand        {column:<10}  difference"]
    ok = 0
    for label, exp in zip(ref.INPUT_LABELS, expected, strict=True):
        got = values.get(label)
        if got is None:
            rows.append(f"{label}    missing     {exp:<10.6f}  -")
            continue
        diff = abs(got - exp)
        good = diff <= p.tolerance
        ok += good
        rows.append(f"{label}    {got:<10.6g}  {exp:<10.6f}  {diff:.1e} {'ok' if good else 'too far'}")
    extra = sorted(set(values) - set(ref.INPUT_LABELS))
    reason = f"{ok}/4 within {p.tolerance:g} of {against}" + (f" ({caveat})" if caveat else "") + "\n" + "\n".join(rows)
    if extra:
        reason += f"\n(ignored rows for inputs {', '.join(extra)})"
    return Outcome(ok / 4, reason, details={"hand": values, "expected": expected.tolist(), "against": against,
                                            "tolerance": p.tolerance})


def _hand_reference(ctx: CheckContext, p: XorHandParams, rel: str) -> tuple[np.ndarray, str, str]:
    """``(four expected values, what they come from, a caveat for the student or "")``."""
    if p.compare_with == "network":
        try:
            pw = stored_xor_weights(ctx, p.notebook)
        except SubmissionProblem as e:
            raise SubmissionProblem(f"nothing to compare {rel} with: {e}") from None
        return ref.forward(pw.w1, pw.w2).ravel(), f"what the network computes from the weights in {pw.where}", ""
    try:
        where, tree, _net = read_equation(ctx, p.equation, p.notebook)
    except SubmissionProblem as e:
        try:
            pw = stored_xor_weights(ctx, p.notebook)
        except SubmissionProblem:
            raise SubmissionProblem(f"nothing to compare {rel} with: {e}") from None
        return (ref.forward(pw.w1, pw.w2).ravel(), f"the weights {pw.where} printed",
                f"your equation could not be read: {e}")
    expected = _outputs(tree)
    caveat = ""
    if not (np.all(np.isfinite(expected)) and float(np.max(np.abs(expected - TARGET))) <= 0.1):
        shown = ", ".join(f"{v:.4g}" for v in expected)
        caveat = (f"note: your equation itself does not compute XOR (it gives [{shown}]), so matching it "
                  "does not mean your network is right; see q4a")
    return expected, f"the equation in {where}", caveat
