"""AML HW4 Part 1: a 2-3-1 sigmoid network with MSE loss, forward and backward by hand.

Shapes follow the handout: ``W1`` is (3, 2), ``b1`` (3,), ``W2`` (3,), ``b2`` a
scalar; ``X`` is (N, 2), ``Y`` is (N,). The loss is ``L = sum((Y - Y_T)^2) / (2N)``.

The gradient of ``W1`` returned here has ``W1``'s shape (3, 2). The handout's
sample solution prints it transposed, as ``X.T @ dL/dZ1`` (2, 3); the grader
accepts either orientation, since both hold the same numbers.

>>> weights, X, Y = seed0_problem()
>>> grads, L = back_propagation(X, Y, weights)
>>> round(L, 10)
0.1332476222
"""

from __future__ import annotations

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def make_problem(seed: int, n_points: int = 1000, n_hidden: int = 3, n_inputs: int = 2):
    """Weights and data drawn exactly as the handout draws them (legacy ``np.random`` stream)."""
    rng = np.random.RandomState(seed)
    weights = {
        "W1": rng.randn(n_hidden, n_inputs),
        "b1": np.zeros(n_hidden),
        "W2": rng.randn(n_hidden),
        "b2": 0.0,
    }
    X = rng.rand(n_points, n_inputs)
    Y = rng.randint(low=0, high=2, size=(n_points,))
    return weights, X, Y


def seed0_problem():
    """The handout's data: ``np.random.seed(0)`` then the draws in its order."""
    return make_problem(0)


def forward_propagation(X: np.ndarray, weights: dict):
    """Returns ``(Y, Z2, H, Z1)`` as the handout names them."""
    Z1 = X @ weights["W1"].T + weights["b1"]
    H = sigmoid(Z1)
    Z2 = H @ weights["W2"] + weights["b2"]
    Y = sigmoid(Z2)
    return Y, Z2, H, Z1


def back_propagation(X: np.ndarray, Y_T: np.ndarray, weights: dict):
    """Returns ``(gradients, L)``; gradients of ``W1, b1, W2, b2`` with the weights' shapes."""
    n = X.shape[0]
    Y, Z2, H, Z1 = forward_propagation(X, weights)
    L = float(np.sum((Y - Y_T) ** 2) / (2 * n))
    dZ2 = (Y - Y_T) / n * Y * (1 - Y)  # (N,)
    dW2 = H.T @ dZ2  # (3,)
    db2 = float(np.sum(dZ2))
    dZ1 = np.outer(dZ2, weights["W2"]) * H * (1 - H)  # (N, 3)
    dW1 = dZ1.T @ X  # (3, 2), W1's own shape
    db1 = dZ1.sum(axis=0)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}, L


def _gradients(X, Y_T, weights: dict, *, output_derivative=True, hidden_derivative=True, mean=True,
               derivative_of_z=False) -> dict:
    """The gradients as the handout's network gives them, or with one of the usual mistakes made."""
    n = X.shape[0]
    out, Z2, H, Z1 = forward_propagation(X, weights)
    at_z2, at_h = (Z2, Z1) if derivative_of_z else (out, H)  # sigma' wrongly taken as z(1 - z) on Z
    dZ2 = (out - Y_T) / (n if mean else 1)
    if output_derivative:
        dZ2 = dZ2 * at_z2 * (1 - at_z2)
    dZ1 = np.outer(dZ2, np.asarray(weights["W2"], dtype=float))
    if hidden_derivative:
        dZ1 = dZ1 * at_h * (1 - at_h)
    return {"W1": dZ1.T @ X, "b1": dZ1.sum(axis=0), "W2": H.T @ dZ2, "b2": float(np.sum(dZ2))}


def mistaken_gradients(X: np.ndarray, Y_T: np.ndarray, weights: dict) -> dict:
    """The gradients each usual mistake gives, by name: the tests recognise a student's mistake by its
    numbers (instructor-only, like everything here)."""
    return {
        "no_hidden_derivative": _gradients(X, Y_T, weights, hidden_derivative=False),
        "no_output_derivative": _gradients(X, Y_T, weights, output_derivative=False),
        "derivative_of_z": _gradients(X, Y_T, weights, derivative_of_z=True),
        "not_averaged": _gradients(X, Y_T, weights, mean=False),
    }
