"""The seed assignments' architectures as data, with parameter counts from shape propagation.

Each layer is a dict: ``{"kind": "Conv2D", "filters": 32, "kernel_size": [3, 3]}``,
``{"kind": "MaxPooling2D", "pool_size": [2, 2]}``, ``{"kind": "Dense", "units": 64}``,
``Flatten``, ``Dropout``, ``Activation``, ``InputLayer``. Keras' defaults apply
(valid padding, pool stride = pool size, conv stride 1).

>>> total_params(CATS_VS_DOGS_CNN, (150, 150, 3))
1212513
"""

from __future__ import annotations

import math
from typing import Any

Layer = dict[str, Any]

CATS_VS_DOGS_CNN: list[Layer] = [
    {"kind": "Conv2D", "filters": 32, "kernel_size": [3, 3], "activation": "relu"},
    {"kind": "MaxPooling2D", "pool_size": [2, 2]},
    {"kind": "Conv2D", "filters": 32, "kernel_size": [3, 3], "activation": "relu"},
    {"kind": "MaxPooling2D", "pool_size": [2, 2]},
    {"kind": "Conv2D", "filters": 64, "kernel_size": [3, 3], "activation": "relu"},
    {"kind": "MaxPooling2D", "pool_size": [2, 2]},
    {"kind": "Flatten"},
    {"kind": "Dense", "units": 64, "activation": "relu"},
    {"kind": "Dropout", "rate": 0.5},
    {"kind": "Dense", "units": 1, "activation": "sigmoid"},
]
CATS_VS_DOGS_INPUT = (150, 150, 3)

CIFAR_MLP: list[Layer] = [
    {"kind": "Dense", "units": 128, "activation": "relu"},
    {"kind": "Dense", "units": 64, "activation": "relu"},
    {"kind": "Dense", "units": 10, "activation": "softmax"},
]
CIFAR_MLP_INPUT = (3072,)

SVHN_CNN: list[Layer] = [
    {"kind": "Conv2D", "filters": 9, "kernel_size": [3, 3], "activation": "relu"},
    {"kind": "MaxPooling2D", "pool_size": [3, 3]},
    {"kind": "Conv2D", "filters": 36, "kernel_size": [3, 3], "activation": "relu"},
    {"kind": "MaxPooling2D", "pool_size": [3, 3]},
    {"kind": "Conv2D", "filters": 49, "kernel_size": [3, 3], "activation": "relu", "padding": "same"},
    {"kind": "MaxPooling2D", "pool_size": [3, 3], "padding": "same"},
    {"kind": "Flatten"},
    {"kind": "Dense", "units": 10, "activation": "softmax"},
]
SVHN_INPUT = (32, 32, 3)


def mnist_mlp(depth: int, activation: str) -> list[Layer]:
    """ML Assignment 2 Ex1B: ``depth`` hidden layers of 32 units, softmax output, on 28x28 inputs."""
    return [{"kind": "Flatten"}] + [
        {"kind": "Dense", "units": 32, "activation": activation} for _ in range(depth)
    ] + [{"kind": "Dense", "units": 10, "activation": "softmax"}]


MNIST_INPUT = (28, 28)


def _out_len(n: int, k: int, stride: int, padding: str) -> int:
    if padding == "same":
        return math.ceil(n / stride)
    return (n - k) // stride + 1


def layer_shapes(layers: list[Layer], input_shape: tuple[int, ...]) -> list[tuple[tuple[int, ...], int]]:
    """``(output shape, parameter count)`` of each layer (batch dimension left out)."""
    shape = tuple(input_shape)
    out = []
    for layer in layers:
        kind = layer["kind"]
        params = 0
        if kind == "Conv2D":
            kh, kw = layer["kernel_size"]
            sh, sw = layer.get("strides", [1, 1])
            pad = layer.get("padding", "valid")
            cin = shape[-1]
            params = kh * kw * cin * layer["filters"] + (layer["filters"] if layer.get("use_bias", True) else 0)
            shape = (_out_len(shape[0], kh, sh, pad), _out_len(shape[1], kw, sw, pad), layer["filters"])
        elif kind in ("MaxPooling2D", "AveragePooling2D"):
            ph, pw = layer.get("pool_size", [2, 2])
            sh, sw = layer.get("strides") or [ph, pw]
            pad = layer.get("padding", "valid")
            shape = (_out_len(shape[0], ph, sh, pad), _out_len(shape[1], pw, sw, pad), shape[2])
        elif kind == "Flatten":
            shape = (math.prod(shape),)
        elif kind == "Dense":
            params = shape[-1] * layer["units"] + (layer["units"] if layer.get("use_bias", True) else 0)
            shape = (*shape[:-1], layer["units"])
        elif kind in ("Dropout", "Activation", "InputLayer"):
            pass
        else:
            raise ValueError(f"unknown layer kind {kind!r}")
        out.append((shape, params))
    return out


def total_params(layers: list[Layer], input_shape: tuple[int, ...]) -> int:
    return sum(p for _, p in layer_shapes(layers, input_shape))


def named(name: str) -> tuple[list[Layer], tuple[int, ...]]:
    """An architecture by the name a rubric uses: ``cats_vs_dogs_cnn``, ``cifar_mlp``, ``svhn_cnn``,
    ``mnist_mlp_<depth>_<activation>`` (e.g. ``mnist_mlp_20_tanh``)."""
    fixed = {
        "cats_vs_dogs_cnn": (CATS_VS_DOGS_CNN, CATS_VS_DOGS_INPUT),
        "cifar_mlp": (CIFAR_MLP, CIFAR_MLP_INPUT),
        "svhn_cnn": (SVHN_CNN, SVHN_INPUT),
    }
    if name in fixed:
        return fixed[name]
    parts = name.split("_")
    if len(parts) == 4 and parts[:2] == ["mnist", "mlp"] and parts[2].isdigit():
        return mnist_mlp(int(parts[2]), parts[3]), MNIST_INPUT
    raise KeyError(name)
