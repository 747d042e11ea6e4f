"""HW4 Q4: the XOR notebook trains when re-run, and its saved outputs show consistent final weights.

trains: the notebook is run again with the grader's seed; its network output must come within
`tolerance` (the check's options, default 0.1) of [0, 1, 1, 0]. printed: the student's own run (the
saved outputs) shows the final weights1 (3x4) and weights2 (4x1), and the output printed with them is
what they compute.
The hand-written equation is checked against these printed weights (test_xor_equation.py).
"""

import numpy as np
import xor_checks as xc

OUTPUT_NAMES = ["nn.output", "output", "NN.output"]
CONSISTENCY = 1e-3


def test_printed_final_weights(notebook):
    pw = xc.printed_weights(notebook)
    if pw.output is not None:
        recomputed = xc.network_outputs(pw.w1, pw.w2).ravel()
        diff = float(np.max(np.abs(recomputed - pw.output.ravel())))
        assert diff <= CONSISTENCY, (f"the printed output {np.round(pw.output.ravel(), 5).tolist()} is not what the "
                                     f"printed weights give ({np.round(recomputed, 5).tolist()}, off by {diff:.1e})")


def test_trains_when_run_again(notebook, options):
    tolerance = float(options.get("tolerance", 0.1))
    name = next((n for n in OUTPUT_NAMES if notebook.has(n)), None)
    assert name is not None, f"re-run: no network output ({', '.join(OUTPUT_NAMES)})"
    got = np.asarray(notebook.value(name), dtype=float)
    assert got.size == 4 and np.all(np.isfinite(got)), f"re-run: the output has shape {got.shape}, expected 4 values"
    got = got.reshape(-1)
    assert float(np.max(np.abs(got - np.array([0.0, 1.0, 1.0, 0.0])))) <= tolerance, \
        f"re-run gives {np.round(got, 4).tolist()}, not within {tolerance:g} of [0, 1, 1, 0]"
