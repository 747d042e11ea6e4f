"""softmax: the handout's inputs, then hidden inputs that catch hard-coding, a missing max-shift and axis mix-ups."""

import numpy as np
import pytest


def test_defines_softmax(notebook):
    assert notebook.has("softmax"), "define softmax(x, axis=-1)"


@pytest.mark.points(1)
@pytest.mark.parametrize("x", [[1.0, 2.0, 3.0], [0.0, 0.0, 0.0, 0.0]])
def test_handout_inputs(notebook, reference, x):
    got = notebook.call("softmax", np.array(x))
    assert isinstance(got, np.ndarray), f"softmax should return a numpy array, not {type(got).__name__}"
    assert got == pytest.approx(reference.softmax(np.array(x)), rel=1e-6)


@pytest.mark.hidden
@pytest.mark.points(2)
@pytest.mark.parametrize(("scale", "axis"), [(1.0, 1), (50.0, 1), (800.0, 0), (800.0, -1)])
def test_hidden_inputs(notebook, reference, hidden_rng, scale, axis):
    x = hidden_rng.normal(0, scale, size=(int(hidden_rng.integers(2, 30)), int(hidden_rng.integers(2, 12))))
    got = notebook.call("softmax", x, axis=axis)
    assert isinstance(got, np.ndarray) and got.shape == x.shape, f"softmax(x, axis={axis}) keeps the shape of x"
    assert np.all(np.isfinite(got)), "softmax overflows on large inputs: subtract the maximum first"
    np.testing.assert_allclose(got, reference.softmax(x, axis=axis), rtol=1e-6, atol=1e-12)
