"""Architectures as data: the layer lists a rubric names, and their shapes and parameter counts.

A course's architectures are course content: they live next to its rubric, in YAML, and a check
names one (``architecture: cats_vs_dogs_cnn``). The rubric's top-level ``architectures:`` is a
mapping of names to architectures, or a list of YAML files holding such mappings::

    architectures: [architectures.yaml]     # next to the rubric

    # architectures.yaml
    cats_vs_dogs_cnn:
      input_shape: [150, 150, 3]
      layers:
        - {kind: Conv2D, filters: 32, kernel_size: [3, 3], activation: relu}
        - {kind: MaxPooling2D, pool_size: [2, 2]}
        - {kind: Flatten}
        - {kind: Dense, units: 1, activation: sigmoid}

Each layer is a dict: ``{"kind": "Conv2D", "filters": 32, "kernel_size": [3, 3]}``,
``{"kind": "MaxPooling2D", "pool_size": [2, 2]}``, ``{"kind": "Dense", "units": 64}``,
``Flatten``, ``Dropout``, ``Activation``, ``InputLayer``. Keras' defaults apply (valid padding,
pool stride = pool size, conv stride 1) where a model is rebuilt from these layers; the
``architecture`` check leaves padding and strides the rubric does not state to the student.
``same_input: true`` accepts the input in any shape of the same values (see
:mod:`grader.checks.archinput`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

Layer = dict[str, Any]


class Architecture(BaseModel):
    """One named architecture: the input shape (batch dimension left out) and the layers in order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_shape: list[int] = Field(min_length=1)
    layers: list[dict[str, Any]] = Field(min_length=1)
    # the same values reshaped are the same input: (28, 28, 1) + Flatten, (784,) (grader/checks/archinput.py)
    same_input: bool = False


def _out_len(n: int, k: int, stride: int, padding: str) -> int:
    if padding == "same":
        return math.ceil(n / stride)
    return (n - k) // stride + 1


def layer_shapes(layers: list[Layer], input_shape: tuple[int, ...]) -> list[tuple[tuple[int, ...], int]]:
    """``(output shape, parameter count)`` of each layer (batch dimension left out).

    >>> layer_shapes([{"kind": "Flatten"}, {"kind": "Dense", "units": 10}], (28, 28))
    [((784,), 0), ((10,), 7850)]
    """
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


def read_architectures(value: Any, base_dir: Path | None) -> tuple[dict[str, Architecture], list[tuple[str, str]]]:
    """The rubric's ``architectures:`` (a mapping, or a list of YAML files next to the rubric) as
    ``(name -> Architecture, problems)``; problems are ``(key path, message)`` pairs."""
    table: dict[str, Architecture] = {}
    problems: list[tuple[str, str]] = []
    sources: list[tuple[str, Any]] = []
    if value is None:
        return table, problems
    if isinstance(value, dict):
        sources.append(("architectures", value))
    elif isinstance(value, list):
        for i, name in enumerate(value):
            key = f"architectures[{i}]"
            if not isinstance(name, str) or not name.endswith((".yaml", ".yml")):
                problems.append((key, f"expected a YAML file next to the rubric, got {name!r}"))
                continue
            path = Path(base_dir or ".") / name
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                problems.append((key, f"{name!r} not found next to the rubric (looked for {path})"))
                continue
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
                problems.append((key, f"{name}: cannot be read: {e}"))
                continue
            if not isinstance(data, dict):
                problems.append((key, f"{name}: expected a mapping of names to architectures"))
                continue
            sources.append((f"{key} ({name})", data))
    else:
        problems.append(("architectures", "expected a mapping of names to architectures, or a list of YAML files"))
    for where, mapping in sources:
        for arch_name, raw in mapping.items():
            try:
                arch = Architecture.model_validate(raw)
                layer_shapes(arch.layers, tuple(arch.input_shape))
            except Exception as e:  # pydantic's or the shape walk's: said with the name
                problems.append((f"{where}.{arch_name}", str(e).splitlines()[-1] if str(e) else type(e).__name__))
                continue
            table[str(arch_name)] = arch
    return table, problems


def architecture_files(value: Any) -> list[str]:
    """The YAML files an ``architectures:`` value names (none for an inline mapping)."""
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
