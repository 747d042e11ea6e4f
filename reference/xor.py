"""HW4 Q4: the 3-4-1 XOR network without biases, as the handout codes it.

``weights1`` is (3, 4) (input -> hidden), ``weights2`` is (4, 1); the output is
``sigmoid(sigmoid(X @ weights1) @ weights2)``. Its single equation is
``Y = s(sum_j w2[j] * s(w1[0,j]*X1 + w1[1,j]*X2 + w1[2,j]*X3))``.

>>> out = forward(HANDOUT_WEIGHTS1, HANDOUT_WEIGHTS2)
>>> [round(float(v), 7) for v in out.ravel()]
[0.0076539, 0.9954906, 0.9914691, 0.0067652]
"""

from __future__ import annotations

import numpy as np

X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=float)
Y = np.array([[0], [1], [1], [0]], dtype=float)
INPUT_LABELS = ("001", "011", "101", "111")

# The sample run printed in the handout.
HANDOUT_WEIGHTS1 = np.array(
    [
        [7.19328546, 2.81204434, 1.40998559, 4.83853315],
        [6.35378132, 4.51126787, 3.38229611, -3.55865088],
        [-3.03899765, -5.5302491, -3.51765491, 2.34739304],
    ]
)
HANDOUT_WEIGHTS2 = np.array([[11.72259331], [-8.30218083], [-5.14836988], [-5.71845324]])
HANDOUT_PRINTED_OUTPUT = np.array([[0.00765428], [0.9954903], [0.99146861], [0.00676557]])


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def sigmoid_derivative(s):
    """Derivative of the sigmoid written in terms of its output ``s``, as the handout does."""
    return s * (1.0 - s)


def forward(weights1: np.ndarray, weights2: np.ndarray, x: np.ndarray = X) -> np.ndarray:
    return sigmoid(sigmoid(np.asarray(x, float) @ weights1) @ weights2)


def train(seed: int | None = 0, iterations: int = 10000):
    """The handout's loop: ``rand`` initial weights, full-batch updates with learning rate 1.

    Returns ``(weights1, weights2, output)`` after the final feed-forward.
    """
    rng = np.random.RandomState(seed)
    w1 = rng.rand(3, 4)
    w2 = rng.rand(4, 1)
    for _ in range(iterations):
        layer1 = sigmoid(X @ w1)
        out = sigmoid(layer1 @ w2)
        delta = 2 * (Y - out) * sigmoid_derivative(out)
        d_w2 = layer1.T @ delta
        d_w1 = X.T @ ((delta @ w2.T) * sigmoid_derivative(layer1))
        w1 += d_w1
        w2 += d_w2
    return w1, w2, forward(w1, w2)
