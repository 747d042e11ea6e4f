"""The cross-entropy gradient: the handout's example, then hidden logits checked against the reference."""

import numpy as np
import pytest

LOGITS = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
LABELS = np.array([0, 1])


def test_handout_example(notebook, reference):
    got = notebook.call("cross_entropy_grad", LOGITS, LABELS)
    assert np.shape(got) == LOGITS.shape, f"the gradient has the shape of the logits {LOGITS.shape}"
    np.testing.assert_allclose(got, reference.cross_entropy_grad(LOGITS, LABELS), rtol=1e-6, atol=1e-12)


@pytest.mark.hidden
@pytest.mark.points(2)
@pytest.mark.parametrize("case", range(4))
def test_hidden_logits(notebook, reference, hidden_rng, case):
    n, k = int(hidden_rng.integers(1, 40)), int(hidden_rng.integers(2, 10))
    logits = hidden_rng.normal(0, 3, size=(n, k))
    labels = hidden_rng.integers(0, k, size=n)
    got = notebook.call("cross_entropy_grad", logits, labels)
    assert np.shape(got) == (n, k), "the gradient has the shape of the logits"
    # the mean over the batch is part of the loss: a gradient that forgets `/ n` is n times too large
    np.testing.assert_allclose(got, reference.cross_entropy_grad(logits, labels), rtol=1e-6, atol=1e-12)
