"""Helpers of the XOR tests (HW4 Q4): the weights the notebook printed, the hand-written equation, the hand values.

Student text is read here, in the grader, only through bounded parsers: the equation grammar
(:mod:`grader.checks.equation`, a whitelist parser, never ``eval``), the printed-array reader
(:mod:`grader.intake.nbparse`) and one regular expression without backtracking for the hand values.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import numpy as np
import pytest

from grader.checks.equation import EquationError, decimals, evaluate, parse
from grader.checks.mdequation import equation_candidates
from grader.checks.printednet import describe
from grader.checks.xornet import Network, xor_network
from grader.intake.nbparse import find_xor_weights, labelled_arrays

MAX_TEXT_BYTES = 200_000
TARGET = np.array([0.0, 1.0, 1.0, 0.0])
INPUTS = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=float)  # X1 X2 X3: 001, 011, 101, 111


def network_outputs(w1, w2) -> np.ndarray:
    """What the handout's 3-4-1 network (no biases) outputs with these weights on the four inputs: the
    handout's own forward pass, which every student has (it is no answer: q4 asks for the equation)."""
    def sigmoid(z):
        return 1.0 / (1.0 + np.exp(-z))

    return sigmoid(sigmoid(INPUTS @ np.asarray(w1, float)) @ np.asarray(w2, float))


@dataclass(frozen=True)
class PrintedWeights:
    """The final XOR weights the student's own run printed, and where."""

    w1: np.ndarray  # 3x4
    w2: np.ndarray  # 4x1
    output: np.ndarray | None  # 4x1, when printed right after them
    where: str  # "xor.ipynb, In [7]"


HANDOUT_SHAPE = "3-4-1 without biases"  # PrintedNet.shape() of the handout's network


def _printed(notebook) -> list:
    try:
        return [p for o in notebook.stored_outputs for p in labelled_arrays(o.text, o.where)]
    except Exception:  # an unreadable notebook is said by the test that needs it
        return []


def network_shown(notebook) -> str:
    """``; xor.ipynb prints a 2-2-1 network with biases (In [5]), not the handout's 3-4-1 without biases``
    when the notebook's printed weights are another network than the handout's, else ``""``."""
    net = describe(_printed(notebook))
    if net is None or net.shape() == HANDOUT_SHAPE:
        return ""
    where = f" ({net.origin})" if net.origin else ""
    return f"; {notebook.name} prints {net.sentence()}{where}, not the handout's 3-4-1 network without biases"


def printed_weights(notebook) -> PrintedWeights:
    """The weights printed in the submitted notebook's saved outputs; fails the test saying what is missing."""
    printed = _printed(notebook)
    found = find_xor_weights(printed)
    if not found:
        binary = any(p.array.shape == (3, 4) and np.all((p.array == 0) | (p.array == 1)) for p in printed)
        pytest.fail(f"{notebook.name}: its saved outputs do not show the final weights1 (3x4) and weights2 (4x1)"
                    + (" (a 3x4 matrix of 0s and 1s is printed, but that is the input X, not learned weights)"
                       if binary else "")
                    + network_shown(notebook)
                    + "; run it and save it with the printed weights")
    w1, w2, out, first = found
    return PrintedWeights(w1, w2, out, f"{notebook.name}, {first.origin}")


def _display_blocks(text: str) -> list[str]:
    """The ``$$...$$`` blocks of ``text``, paired left to right in one pass (a lazy ``.+?`` would rescan
    the rest of the text from every unclosed ``$$``: quadratic)."""
    parts = text.split("$$")
    return [parts[i] for i in range(1, len(parts) - 1, 2) if parts[i].strip()]


def _candidates(text: str) -> list[str]:
    """The equation as a whole text, and each line or $$...$$ block that may hold it alone."""
    out = [text, *_display_blocks(text)]
    out += [ln for ln in text.splitlines() if re.search(r"sigm|σ|\\sigma|exp|e\^|\\frac", ln)]
    return list(dict.fromkeys(c.strip() for c in out if c.strip()))


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(map(str, src)) if isinstance(src, list) else str(src)


def read_text(files, pattern: str) -> tuple[str, str] | None:
    rel = files.find(pattern)
    if rel is None:
        return None
    return rel, files.text(pattern, max_bytes=MAX_TEXT_BYTES)


def read_equation(files, notebook, equation_pattern: str):
    """``(where, tree, network)`` from the text file, else from a markdown cell of the notebook;
    fails the test with the most useful parse error."""
    sources: list[tuple[str, str | list[str]]] = []
    found = read_text(files, equation_pattern)
    if found is not None:
        sources.append(found)
    elif notebook is not None and files.exists(notebook.name):
        try:
            cells = notebook.cells
        except Exception:
            cells = []
        for i, cell in enumerate(cells):
            # only the parts of a cell that read as an equation, never prose ("increases as expected")
            if cell["cell_type"] == "markdown" and (found_md := equation_candidates(_source(cell))):
                sources.append((f"{notebook.name} (markdown cell {i + 1})", found_md))
    if not sources:
        where = f", and no markdown cell of {notebook.name} holds an equation" if notebook is not None else ""
        pytest.fail(f"no equation: {equation_pattern} is missing{where}"
                    + (network_shown(notebook) if notebook is not None else ""))
    parse_error: tuple[str, EquationError] | None = None
    shape_error: tuple[str, EquationError] | None = None
    for where, text in sources:
        for cand in _candidates(text) if isinstance(text, str) else text:
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
        pytest.fail(f"{shape_error[0]}: {shape_error[1]}")
    assert parse_error is not None
    pytest.fail(f"{parse_error[0]}: cannot read the equation: {parse_error[1]}")


def outputs(tree, inputs) -> np.ndarray:
    return np.array([evaluate(tree, {1: a, 2: b, 3: c}) for a, b, c in inputs])


def as_printed(value) -> str:
    """A number read from the notebook's output, written as it was printed: the shortest text that reads back as
    the same float is the printed digits (2.59259048, never a rounding of it such as 2.5925905)."""
    return repr(float(value))


def match_neurons(net: Network, w1: np.ndarray, w2: np.ndarray):
    """The hidden-neuron order of the equation that best fits the notebook's (sums commute)."""
    best = None
    for perm in itertools.permutations(range(4)):
        diff = max(np.max(np.abs(net.w1[:, list(perm)] - w1)), np.max(np.abs(net.w2[list(perm)] - w2.ravel())))
        if best is None or diff < best[0]:
            best = (diff, perm)
    return best[1]


def agrees(net: Network, w1: np.ndarray, w2: np.ndarray) -> tuple[bool, list[str]]:
    """Every written number equals the notebook's, to the precision it was written with."""
    perm = match_neurons(net, w1, w2)
    bad = []
    for col, j in enumerate(perm):
        for i in range(3):
            t = net.texts1[j][i]
            if abs(float(t) - w1[i, col]) > 10.0 ** -decimals(t) + 1e-12:
                bad.append(f"{t} (the notebook prints {as_printed(w1[i, col])})")
        t = net.texts2[j]
        if abs(float(t) - w2.ravel()[col]) > 10.0 ** -decimals(t) + 1e-12:
            bad.append(f"{t} (the notebook prints {as_printed(w2.ravel()[col])})")
    return not bad, bad


# Three binary digits with optional spaces and one comma or semicolon between them ("001", "0 1 1",
# "1, 0; 1"). The whitespace runs are atomic groups: `\s*[,; ]?\s*` could split a run of spaces in
# quadratically many ways, and a 12 KB line of spaces hung a worker for 600 s.
_ROW = re.compile(r"(?<![\d.])([01])(?>\s*)(?:[,;](?>\s*))?([01])(?>\s*)(?:[,;](?>\s*))?([01])(?![\d.])")
_NUM = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def parse_hand(text: str, labels=("001", "011", "101", "111")) -> dict[str, float]:
    """Four hand-calculated values by input: lines like ``001: 0.00765`` or four numbers in order."""
    labeled: dict[str, float] = {}
    plain: list[float] = []
    for line in text.splitlines():
        line = line.strip().replace("−", "-")
        if not line:
            continue
        m = _ROW.search(line)
        if m and m.start() < len(line) // 2 + 1:
            nums = _NUM.findall(line[m.end():])
            if nums:
                labeled["".join(m.groups())] = float(nums[-1])
                continue
        nums = _NUM.findall(line)
        if len(nums) == 1:
            plain.append(float(nums[0]))
    if len(labeled) >= 4 or (labeled and not plain):
        return labeled
    if len(plain) == 4:
        return dict(zip(labels, plain, strict=True))
    return labeled
