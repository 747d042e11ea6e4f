"""Keras 3's built-in activations in numpy (float32), each as ``keras.activations`` defines it on JAX.

Formulas follow ``keras/src/activations/activations.py`` and the ``jax.nn`` functions it calls, so the
light self-check (no Keras installed) scores a model exactly as grading does: ``hard_sigmoid`` is
Keras 3's ``relu6(x + 3) / 6`` (not Keras 2's ``0.2 x + 0.5``), ``gelu`` by name is the exact
(erf) form, ``leaky_relu`` by name has slope 0.2, ``selu`` uses JAX's constants.
"""

from __future__ import annotations

import numpy as np

F32 = np.float32
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def relu(x):
    return np.maximum(x, F32(0))


def relu6(x):
    return np.clip(x, F32(0), F32(6))


def sigmoid(x):
    """``1 / (1 + exp(-x))`` without overflow for large negative ``x``."""
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(x))
    return np.where(x >= 0, F32(1) / (F32(1) + e), e / (F32(1) + e)).astype(F32, copy=False)


def softplus(x):
    return np.logaddexp(x, F32(0))


def softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def elu(x, alpha=1.0):
    with np.errstate(over="ignore"):
        return np.where(x > 0, x, F32(alpha) * np.expm1(np.minimum(x, F32(0)))).astype(F32, copy=False)


def selu(x):
    return (SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, F32(0))))).astype(F32)


def leaky_relu(x, negative_slope=0.2):
    return np.where(x >= 0, x, F32(negative_slope) * x).astype(F32, copy=False)


def erf(x):
    """erf in float64 (numpy has none, and scipy is not in the light install): Numerical Recipes'
    Chebyshev fit of erfc, fractional error under 1.2e-7, below float32's resolution of erf."""
    z = np.abs(np.asarray(x, np.float64))
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
    return np.sign(x) * (1.0 - t * np.exp(poly))


def gelu(x):
    return (x * (1.0 + erf(x / np.sqrt(2.0))) / 2.0).astype(F32)


def hard_sigmoid(x):
    return relu6(x + F32(3)) / F32(6)


def silu(x):
    return x * sigmoid(x)


ACTIVATIONS = {
    "relu": relu, "sigmoid": sigmoid, "softmax": softmax, "tanh": np.tanh, "linear": lambda x: x, "elu": elu,
    "selu": selu, "softplus": softplus, "softsign": lambda x: x / (np.abs(x) + F32(1)), "swish": silu,
    "silu": silu, "gelu": gelu, "exponential": np.exp, "hard_sigmoid": hard_sigmoid, "leaky_relu": leaky_relu,
    "relu6": relu6, "mish": lambda x: x * np.tanh(softplus(x)), "log_softmax": log_softmax,
    "hard_silu": lambda x: x * hard_sigmoid(x), "hard_swish": lambda x: x * hard_sigmoid(x),
}


def activation(name):
    """The function Keras' ``activations.get(name)`` returns; ``None`` is linear (as Keras has it)."""
    fn = ACTIVATIONS.get(name or "linear")
    if fn is None:
        raise ValueError(f"Could not interpret activation function identifier: {name}")
    return fn


def keras_relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """``keras.activations.relu`` (the ReLU layer) step by step as Keras 3's ``ReLU.static_call``."""
    if negative_slope != 0.0:
        if max_value is None and threshold == 0:
            return leaky_relu(x, negative_slope)
        negative_part = relu(-x + F32(threshold)) if threshold != 0 else relu(-x)
    clip_max = max_value is not None
    if threshold != 0:
        y = np.where(x > F32(threshold), x, F32(0)).astype(F32, copy=False)
    elif max_value == 6:
        y = relu6(x)
        clip_max = False
    else:
        y = relu(x)
    if clip_max:
        y = np.clip(y, F32(0), F32(max_value))
    if negative_slope != 0.0:
        y = y - F32(negative_slope) * negative_part
    return y
