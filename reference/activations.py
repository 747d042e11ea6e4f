"""ML Assignment 2, Ex1D: the LeCun activation 1.7159·tanh(2x/3) + 0.01x.

>>> round(float(lecun(1.0)), 6)
1.009997
"""

from __future__ import annotations

import numpy as np

A, B, C = 1.7159, 2.0 / 3.0, 0.01


def lecun(x):
    return A * np.tanh(B * np.asarray(x, dtype=float)) + C * np.asarray(x, dtype=float)


def lecun_derivative(x):
    """d/dx = 1.7159·(2/3)·(1 - tanh²(2x/3)) + 0.01; its range is (0.01, 1.15493...]."""
    t = np.tanh(B * np.asarray(x, dtype=float))
    return A * B * (1 - t**2) + C


GRADIENT_RANGE = (C, A * B + C)  # the derivative's infimum (|x| -> inf) and maximum (x = 0)
