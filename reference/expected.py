"""Every expected value the handouts quote, computed from the reference implementations.

``mlgrade reference [--json]`` prints this; the tests pin each number to the handouts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reference import activations, architectures, backprop, neurons, xor


def _r(x: Any, digits: int = 10) -> Any:
    arr = np.asarray(x, dtype=float)
    return round(float(arr), digits) if arr.ndim == 0 else np.round(arr, digits).tolist()


def expected_values() -> dict[str, Any]:
    weights, X, Y = backprop.seed0_problem()
    grads, L = backprop.back_propagation(X, Y, weights)
    w1, w2, out = xor.train(seed=0)
    lw, lb = neurons.train_linear()
    inputs = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    gates = {name: _r(fn(inputs[:, 0], inputs[:, 1]), 6) for name, fn in (
        ("AND", neurons.and_gate), ("NAND", neurons.nand_gate), ("OR", neurons.or_gate), ("XOR", neurons.xor_gate))}
    a = architectures
    arch = {
        "cats_vs_dogs_cnn": a.layer_shapes(a.CATS_VS_DOGS_CNN, a.CATS_VS_DOGS_INPUT),
        "cifar_mlp": a.layer_shapes(a.CIFAR_MLP, a.CIFAR_MLP_INPUT),
    }
    return {
        "backprop_seed0": {
            "L": L,
            "grad_W1": _r(grads["W1"]),
            "grad_W1_as_printed": _r(grads["W1"].T),
            "grad_b1": _r(grads["b1"]),
            "grad_W2": _r(grads["W2"]),
            "grad_b2": grads["b2"],
        },
        "xor": {
            "inputs": list(xor.INPUT_LABELS),
            "handout_weights_output": _r(xor.forward(xor.HANDOUT_WEIGHTS1, xor.HANDOUT_WEIGHTS2).ravel(), 7),
            "trained_seed0_output": _r(out.ravel(), 7),
        },
        "lecun": {
            "formula": "1.7159*tanh(2x/3) + 0.01x",
            "at": {str(x): _r(activations.lecun(x), 7) for x in (-2.0, -1.0, 0.0, 1.0, 2.0)},
            "derivative_at_0": _r(activations.lecun_derivative(0.0), 7),
            "gradient_range": [activations.GRADIENT_RANGE[0], _r(activations.GRADIENT_RANGE[1], 7)],
        },
        "logic_gates": {"inputs": ["00", "01", "10", "11"], **gates},
        "linear_neuron": {"w": _r(lw, 4), "b": _r(lb, 4), "predict_13": _r(lw * 13 + lb, 3),
                          "predict_-5": _r(lw * -5 + lb, 3)},
        "parameters": {
            name: {"per_layer": [p for _, p in shapes if p], "total": sum(p for _, p in shapes)}
            for name, shapes in arch.items()
        },
    }
