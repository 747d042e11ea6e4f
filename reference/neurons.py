"""Workshop slides: single neurons for AND, NAND, OR; XOR = AND(OR, NAND); a one-neuron linear model.

>>> [int(v) for v in xor_gate(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])).round()]
[0, 1, 1, 0]
"""

from __future__ import annotations

import numpy as np

# weights [w0 (bias), w1, w2] from the slides
AND_W = np.array([-30.0, 20.0, 20.0])
NAND_W = np.array([30.0, -20.0, -20.0])
OR_W = np.array([-10.0, 20.0, 20.0])

# "Hello TensorFlow": the second column is 2x + 1
LINEAR_DATA = np.array([[1, 3], [2, 5], [3, 7], [4, 9], [5, 11], [7, 15], [8, 17], [9, 19], [11, 23]], dtype=float)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def neuron(w: np.ndarray, x1, x2):
    return sigmoid(w[0] + w[1] * np.asarray(x1, float) + w[2] * np.asarray(x2, float))


def and_gate(x1, x2):
    return neuron(AND_W, x1, x2)


def nand_gate(x1, x2):
    return neuron(NAND_W, x1, x2)


def or_gate(x1, x2):
    return neuron(OR_W, x1, x2)


def xor_gate(x1, x2):
    return and_gate(or_gate(x1, x2), nand_gate(x1, x2))


def train_linear(x=None, y=None, lr: float = 0.02, epochs: int = 500, seed: int = 0):
    """One Dense(1) unit, MSE, plain gradient descent (Keras' SGD with the 9 rows in one batch).

    Returns ``(w, b)``; with the slides' data it learns w ≈ 2, b ≈ 1.
    """
    data = LINEAR_DATA
    x = data[:, 0] if x is None else np.asarray(x, float)
    y = data[:, 1] if y is None else np.asarray(y, float)
    rng = np.random.default_rng(seed)
    w = rng.uniform(-1.2247, 1.2247)  # glorot_uniform for a 1x1 kernel: limit sqrt(6/2)
    b = 0.0
    for _ in range(epochs):
        err = w * x + b - y
        w -= lr * 2 * np.mean(err * x)
        b -= lr * 2 * np.mean(err)
    return float(w), float(b)
