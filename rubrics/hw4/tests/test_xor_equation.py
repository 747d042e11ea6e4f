"""HW4 Q4a: ONE equation Y = f(X1, X2, X3) with the student's 16 learned weights, that computes XOR.

Read from xor_equation.txt (or a markdown cell of xor.ipynb) in any common notation (plain text,
Unicode, LaTeX) by a grammar with a whitelist: nothing is evaluated as code. Half the points: it
has the network's shape with 4 hidden neurons and gives ≈ [0, 1, 1, 0] on 001, 011, 101, 111; the
other half: its 16 numbers are the weights the notebook printed, to the precision written. The
handout's sample weights score nothing.
"""

import numpy as np
import pytest
import xor_checks as xc

from grader.checks.equation import tree_data

EQUATION = "xor_equation.txt"


@pytest.fixture(scope="module")
def equation(files, notebook, reference, feedback):
    where, tree, net = xc.read_equation(files, notebook, EQUATION)
    n_hidden = net.w2.size
    if n_hidden != 4:
        pytest.fail(f"{where}: {n_hidden} hidden neurons ({4 * n_hidden} weights); the network has 4 (16 weights)")
    # the feedback page draws the equation as read, with what it gives on the four inputs
    feedback.update(source=where, equation_tree=tree_data(tree), outputs=xc.outputs(tree, reference.X).tolist(),
                    weights1=net.w1.tolist(), weights2=net.w2.tolist())
    return where, tree, net


def _handout(net, reference, printed) -> bool:
    """The equation holds the handout's sample weights, and the notebook printed others."""
    own, _ = xc.agrees(net, printed.w1, printed.w2)
    handout, _ = xc.agrees(net, reference.HANDOUT_WEIGHTS1, reference.HANDOUT_WEIGHTS2)
    return not own and handout and not np.allclose(printed.w1, reference.HANDOUT_WEIGHTS1, atol=1e-6)


def test_computes_xor(equation, notebook, reference, options):
    tolerance = float(options.get("tolerance", 0.1))  # distance from [0, 1, 1, 0]
    where, tree, net = equation
    try:
        printed = xc.printed_weights(notebook)
    except pytest.fail.Exception:
        printed = None
    if printed is not None and _handout(net, reference, printed):
        pytest.fail(f"{where}: these are the handout's sample weights (7.19328546, ..., 11.72259331, ...), not the "
                    f"ones {printed.where.split(',')[0]} printed; use your own trained weights")
    out = xc.outputs(tree, reference.X)
    shown = ", ".join(f"{v:.5f}" for v in out)
    ok = bool(np.all(np.isfinite(out))) and float(np.max(np.abs(out - xc.TARGET))) <= tolerance
    assert ok, f"{where}: 16 weights; gives [{shown}] on 001, 011, 101, 111, not within {tolerance:g} of [0, 1, 1, 0]"


def test_uses_your_printed_weights(equation, notebook, reference):
    where, tree, net = equation
    printed = xc.printed_weights(notebook)
    if _handout(net, reference, printed):
        pytest.fail(f"{where}: these are the handout's sample weights, not the ones {printed.where} printed")
    own, bad = xc.agrees(net, printed.w1, printed.w2)
    assert own, (f"{len(bad)} of the 16 numbers differ from the weights {printed.where} printed: " + "; ".join(bad[:4])
                 + (" ..." if len(bad) > 4 else ""))
