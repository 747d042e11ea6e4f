"""Compare a model file's architecture with the assignment's, in words a student can act on.

Expected layers come from the rubric (inline, or named in its ``architectures:``, :mod:`grader.rubric.architectures`)
(``{"kind": "Conv2D", "filters": 32, "kernel_size": [3, 3], "activation": "relu"}``);
found layers from the model server's inspection of the file. Full models are
compared layer by layer (activations folded in from ``Activation`` layers);
weights-only files by the shapes of their weight-bearing layers. Layers are
aligned first, so a missing or extra layer is named as such instead of
shifting every later comparison:

    layer 8: expected Dense(64, relu), found Dense(128, relu)
    missing layer 5: expected Conv2D(64, 3x3, relu)
    total parameters 2,392,385, expected 1,212,513
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from typing import Any

from grader.rubric.architectures import layer_shapes

WEIGHTED = {"Dense", "Conv2D", "Conv1D", "BatchNormalization"}
POOL_ALIASES = {"MaxPool2D": "MaxPooling2D", "AvgPool2D": "AveragePooling2D"}


@dataclass
class Layer:
    kind: str
    units: int | None = None  # units or filters
    kernel: tuple[int, ...] | None = None  # kernel_size or pool_size
    strides: tuple[int, ...] | None = None
    padding: str | None = None
    activation: str | None = None
    rate: float | None = None
    params: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        parts = []
        if self.units is not None:
            parts.append(str(self.units))
        if self.kernel is not None:
            parts.append("x".join(str(k) for k in self.kernel))
        if self.strides is not None and self.kind.startswith("Conv") and any(s != 1 for s in self.strides):
            parts.append("stride " + "x".join(str(s) for s in self.strides))
        if self.padding not in (None, "valid"):
            parts.append(f"padding={self.padding}")
        if self.activation not in (None, "linear"):
            parts.append(self.activation)
        if self.rate is not None:
            parts.append(f"{self.rate:g}")
        return f"{self.kind}({', '.join(parts)})" if parts else self.kind

    def signature(self) -> tuple:
        return (self.kind, self.units, self.kernel)


def _tuple(v) -> tuple[int, ...] | None:
    if v is None:
        return None
    if isinstance(v, (int, float)):
        return (int(v), int(v))
    return tuple(int(x) for x in v)


def expected_layers(spec: list[dict[str, Any]], input_shape: list[int] | None) -> list[Layer]:
    out = []
    shapes = layer_shapes(spec, tuple(input_shape)) if input_shape else [(None, None)] * len(spec)
    for item, (_, params) in zip(spec, shapes, strict=True):
        kind = POOL_ALIASES.get(item["kind"], item["kind"])
        pool = kind.endswith("Pooling2D")
        layer = Layer(
            kind=kind,
            units=item.get("units", item.get("filters")),
            kernel=_tuple(item.get("pool_size") if pool else item.get("kernel_size")),
            strides=_tuple(item.get("strides")),
            padding=item.get("padding"),
            activation=item.get("activation"),
            rate=item.get("rate"),
            params=params,
        )
        if pool and layer.kernel is None:
            layer.kernel = (2, 2)
        out.append(layer)
    return out


def found_layers(info: dict[str, Any]) -> list[Layer]:
    """Layers of an inspected file; ``Activation`` layers are folded into the layer before."""
    out: list[Layer] = []
    for raw in info["layers"]:
        kind = raw.get("class_name")
        cfg = raw.get("config") or {}
        shapes = [tuple(s) for _, s in raw.get("weights", [])]
        params = sum(math.prod(s) for s in shapes) if shapes else 0
        if kind is None:
            continue
        kind = POOL_ALIASES.get(kind, kind)
        if kind == "Activation" and out:
            out[-1].activation = cfg.get("activation")
            continue
        if kind in ("ReLU",) and out:
            out[-1].activation = "relu"
            continue
        if kind == "Softmax" and out:
            out[-1].activation = "softmax"
            continue
        pool = kind.endswith("Pooling2D")
        layer = Layer(kind=kind, params=params, padding=cfg.get("padding"), rate=cfg.get("rate"),
                      activation=cfg.get("activation"), strides=_tuple(cfg.get("strides")))
        if kind == "Dense":
            layer.units = cfg.get("units", shapes[0][-1] if shapes else None)
        elif kind in ("Conv2D", "Conv1D"):
            layer.units = cfg.get("filters", shapes[0][-1] if shapes else None)
            layer.kernel = _tuple(cfg.get("kernel_size")) or (tuple(shapes[0][:-2]) if shapes else None)
        elif pool:
            layer.kernel = _tuple(cfg.get("pool_size")) or (2, 2)
            if layer.strides == layer.kernel:
                layer.strides = None
        out.append(layer)
    return out


def _align(expected: list[Layer], found: list[Layer], weights_only: bool):
    """(expected layers with their numbers, expected, found, the matcher of their signatures): the one
    alignment both :func:`compare` and :func:`layer_table` report on (weights only: weighted layers)."""
    if weights_only:
        numbered = [(i, e) for i, e in enumerate(expected, start=1) if e.kind in WEIGHTED]
        found = [f for f in found if f.kind in WEIGHTED]
    else:
        numbered = list(enumerate(expected, start=1))
    exp = [e for _, e in numbered]
    matcher = difflib.SequenceMatcher(a=[e.signature() for e in exp], b=[f.signature() for f in found],
                                      autojunk=False)
    return numbered, exp, found, matcher


def compare(expected: list[Layer], found: list[Layer], weights_only: bool) -> list[str]:
    """Differences, each a sentence; empty when the architectures agree."""
    numbered, exp, found, matcher = _align(expected, found, weights_only)
    diffs: list[str] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for k in range(i2 - i1):
                diffs += _fields(numbered[i1 + k][0], exp[i1 + k], found[j1 + k], weights_only)
        elif op == "replace" and i2 - i1 == j2 - j1:
            for k in range(i2 - i1):
                e, f = exp[i1 + k], found[j1 + k]
                diffs.append(f"layer {numbered[i1 + k][0]}: expected {e.describe()}, found {f.describe()}")
        else:
            for k in range(i1, i2):
                diffs.append(f"missing layer {numbered[k][0]}: expected {exp[k].describe()}")
            for k in range(j1, j2):
                after = numbered[i1 - 1][0] if i1 > 0 else 0
                where = f"after layer {after}" if after else "at the start"
                diffs.append(f"extra layer {where}: {found[k].describe()}")
    return diffs


def _fields(n: int, e: Layer, f: Layer, weights_only: bool) -> list[str]:
    if weights_only:
        return []
    problems = []
    if e.activation is not None and (f.activation or "linear") != e.activation:
        problems.append("activation")
    if e.padding is not None and (f.padding or "valid") != e.padding:
        problems.append("padding")
    if e.strides is not None and f.strides not in (None, e.strides):
        problems.append("strides")
    if e.rate is not None and f.rate is not None and abs(f.rate - e.rate) > 1e-9:
        problems.append("rate")
    if problems:
        return [f"layer {n}: expected {e.describe()}, found {f.describe()}"]
    return []


def param_report(expected: list[Layer], found: list[Layer]) -> tuple[list[str], int, int]:
    """Per-layer and total parameter differences; ``(messages, found total, expected total)``."""
    exp_total = sum(e.params or 0 for e in expected)
    got_total = sum(f.params or 0 for f in found)
    msgs = []
    if exp_total and got_total != exp_total:
        msgs.append(f"total parameters {got_total:,}, expected {exp_total:,}")
    return msgs, got_total, exp_total


def layer_table(expected: list[Layer], found: list[Layer], weights_only: bool) -> list[dict[str, Any]]:
    """The alignment :func:`compare` uses, as rows for a table: layer number, expected, found,
    parameter counts, and whether the row agrees (missing and extra layers have one side empty)."""
    numbered, exp, found, matcher = _align(expected, found, weights_only)
    rows: list[dict[str, Any]] = []

    def row(k: int | None, f: Layer | None) -> None:
        e = exp[k] if k is not None else None
        same = e is not None and f is not None and not _fields(0, e, f, weights_only) and \
            e.signature() == f.signature() and (e.params is None or f.params is None or e.params == f.params)
        rows.append({"n": numbered[k][0] if k is not None else "", "expected": e.describe() if e else "",
                     "found": f.describe() if f else "", "expected_params": e.params if e else None,
                     "found_params": f.params if f else None, "same": bool(same)})

    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal" or (op == "replace" and i2 - i1 == j2 - j1):
            for k in range(i2 - i1):
                row(i1 + k, found[j1 + k])
        else:
            for k in range(i1, i2):
                row(k, None)
            for k in range(j1, j2):
                row(None, found[k])
    return rows[:500]
