"""HW4 Q4b: the four hand-calculated outputs in xor_hand.txt, each within the tolerance of what the student's
own equation gives for that input (a quarter of the points each).

When the equation cannot be read, the hand values are compared with what the network computes from
the weights the notebook printed. Options (the check's `options:`): `tolerance` (default 0.001) and
`compare_with: network` to compare with the network always (a wrong equation then costs twice).
"""

import numpy as np
import pytest
import xor_checks as xc

HAND = "xor_hand.txt"
EQUATION = "xor_equation.txt"


@pytest.fixture(scope="module")
def hand(files):
    rel, text = xc.read_text(files, HAND)
    values = xc.parse_hand(text)
    if not values:
        pytest.fail(f"{rel}: no values found; write one line per input, like '001: 0.00765'")
    return rel, values


@pytest.fixture(scope="module")
def expected(files, notebook, reference, hand, options):
    """(the four values, what they come from)."""
    rel = hand[0]
    if options.get("compare_with", "equation") == "network":
        try:
            pw = xc.printed_weights(notebook)
        except pytest.fail.Exception as e:
            pytest.fail(f"nothing to compare {rel} with: {e}")
        return xc.network_outputs(pw.w1, pw.w2).ravel(), f"what the network computes from the weights in {pw.where}"
    try:
        where, tree, _ = xc.read_equation(files, notebook, EQUATION)
    except pytest.fail.Exception as e:
        try:
            pw = xc.printed_weights(notebook)
        except pytest.fail.Exception:
            pytest.fail(f"nothing to compare {rel} with: {e}")
        return xc.network_outputs(pw.w1, pw.w2).ravel(), f"the weights {pw.where} printed (your equation: {e})"
    values = xc.outputs(tree, reference.X)
    against = f"the equation in {where}"
    if not (np.all(np.isfinite(values)) and float(np.max(np.abs(values - xc.TARGET))) <= 0.1):
        shown = ", ".join(f"{v:.4g}" for v in values)
        against += (f" (note: your equation itself does not compute XOR (it gives [{shown}]), so matching it does "
                    "not mean your network is right; see q4a)")
    return values, against


@pytest.fixture(scope="module", autouse=True)
def table(hand, expected, options, feedback):
    """The feedback page's table: each hand value next to the value it is compared with."""
    feedback.update(hand=hand[1], expected=[float(v) for v in expected[0]], against=expected[1],
                    tolerance=float(options.get("tolerance", 1e-3)))


@pytest.mark.parametrize("index", range(4), ids=["001", "011", "101", "111"])
def test_hand_value(hand, expected, reference, options, index):
    tolerance = float(options.get("tolerance", 1e-3))
    rel, values = hand
    label = reference.INPUT_LABELS[index]
    want, against = expected[0][index], expected[1]
    got = values.get(label)
    assert got is not None, f"{rel}: no value for input {label} ({against} gives {want:.6f})"
    diff = abs(got - want)
    assert diff <= tolerance, (f"{label}: {got:.6g} by hand, {want:.6f} from {against}: {diff:.1e} apart, more "
                               f"than the {tolerance:g} allowed")
