"""Compare a model file's architecture with the assignment's, in words a student can act on.

Expected layers come from the rubric (inline, or named in its ``architectures:``, :mod:`grader.rubric.architectures`)
(``{"kind": "Conv2D", "filters": 32, "kernel_size": [3, 3], "activation": "relu"}``);
found layers from the model server's inspection of the file. Full models are
compared layer by layer (activations folded in from ``Activation`` layers);
weights-only files by the shapes of their weight-bearing layers. Layers are
aligned first, so a missing or extra layer is named as such instead of
shifting every later comparison; a layer is numbered as the rubric lists it and named as the
student's file names it, and a run of layers with the same difference is said once:

    layer 8: expected Dense(64, relu), found Dense(128, relu) (your dense_1)
    layers 2-41: expected Dense(32, sigmoid), found Dense(32, relu) (your dense_1 to dense_40)
    missing layer 5: expected Conv2D(64, 3x3, relu)
    total parameters 2,392,385, expected 1,212,513

Padding and strides the rubric leaves out are the student's choice (:func:`follow_open_choices`):
the expected parameter counts then follow the student's own padding, as the handout's do.
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
    params: int | None = None  # None: not known (an expected shape walk that left no pixels)
    n: int = 0  # its number as written: in the rubric's list, or among the student's layers
    name: str = ""  # the student's name for it (found layers)
    data_format: str | None = None
    target_shape: tuple[int, ...] | None = None  # Reshape
    kernel_shape: tuple[int, ...] | None = None  # the first weight's shape (found layers)
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        parts = []
        if self.units is not None:
            parts.append(str(self.units))
        if self.kernel is not None:
            parts.append("x".join(str(k) for k in self.kernel))
        if self.strides is not None and (self.kind.startswith("Pool") or "Pooling" in self.kind
                                         or any(s != 1 for s in self.strides)):
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
    """A size from the rubric or a student's config; what is not a size (a hand-edited file's
    ``"a"``, a list of 50) becomes ``(0,)``, which no layer has and every check refuses."""
    if v is None:
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return (int(v), int(v)) if abs(v) < 2**31 else (0,)
    if isinstance(v, (list, tuple)) and 0 < len(v) <= 8 and all(type(x) is int and abs(x) < 2**31 for x in v):
        return tuple(v)
    return (0,)


def _ints(v: Any) -> tuple[int, ...] | None:
    """A shape from a student's config, or None when it is not a short list of whole numbers."""
    if not isinstance(v, list) or len(v) > 8 or not all(type(x) is int for x in v):
        return None
    return tuple(v)


def expected_layers(spec: list[dict[str, Any]], input_shape: list[int] | None) -> list[Layer]:
    """The rubric's layers, numbered from 1, with the parameter counts its shape walk gives; a walk that
    runs out of pixels (3x3 pools on 32x32 with valid padding) leaves unknown the counts that read
    the lost size (the Dense layer after Flatten), not those that read only channels."""
    out = []
    shapes: list[tuple[Any, int | None]] = [(None, None)] * len(spec)
    if input_shape:
        shapes, before = [], tuple(input_shape)
        for shape, count in layer_shapes(spec, tuple(input_shape)):
            shapes.append((shape, None if count and before[-1] <= 0 else count))
            before = shape
    for n, (item, (_, params)) in enumerate(zip(spec, shapes, strict=True), start=1):
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
            n=n,
            target_shape=_tuple(item.get("target_shape")),
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
        if kind is None or kind == "InputLayer":
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
        target = cfg.get("target_shape")
        layer = Layer(kind=kind, params=params, padding=cfg.get("padding"), rate=cfg.get("rate"),
                      activation=cfg.get("activation"), strides=_tuple(cfg.get("strides")), n=len(out) + 1,
                      name=str(raw.get("name") or "")[:60], data_format=cfg.get("data_format"),
                      target_shape=_ints(target),
                      kernel_shape=shapes[0] if shapes else None)
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
    """(expected, found, the matcher of their signatures): the one alignment :func:`compare`,
    :func:`aligned_pairs` and :func:`layer_table` report on (weights only: weighted layers)."""
    if weights_only:
        expected = [e for e in expected if e.kind in WEIGHTED]
        found = [f for f in found if f.kind in WEIGHTED]
    matcher = difflib.SequenceMatcher(a=[e.signature() for e in expected], b=[f.signature() for f in found],
                                      autojunk=False)
    return expected, found, matcher


def aligned_pairs(expected: list[Layer], found: list[Layer], weights_only: bool) -> list[tuple[Layer, Layer]]:
    """The (expected, found) layers the alignment puts side by side."""
    exp, found, matcher = _align(expected, found, weights_only)
    return [(exp[i1 + k], found[j1 + k]) for op, i1, i2, j1, j2 in matcher.get_opcodes()
            if op == "equal" or (op == "replace" and i2 - i1 == j2 - j1) for k in range(i2 - i1)]


def _yours(f: Layer) -> str:
    return f" (your {f.name})" if f.name else ""


def compare(expected: list[Layer], found: list[Layer], weights_only: bool) -> list[str]:
    """Differences, each a sentence; empty when the architectures agree."""
    exp, found, matcher = _align(expected, found, weights_only)
    diffs: list[tuple[int, str, Layer | None]] = []  # (layer number or 0, sentence, the student's layer)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal" or (op == "replace" and i2 - i1 == j2 - j1):
            for k in range(i2 - i1):
                e, f = exp[i1 + k], found[j1 + k]
                if op == "replace" or _fields(e, f, weights_only):
                    diffs.append((e.n, f"expected {e.describe()}, found {f.describe()}", f))
        else:
            for k in range(i1, i2):
                diffs.append((0, f"missing layer {exp[k].n}: expected {exp[k].describe()}", None))
            for k in range(j1, j2):
                after = exp[i1 - 1].n if i1 > 0 else 0
                where = f"after layer {after}" if after else "at the start"
                diffs.append((0, f"extra layer {where}: {found[k].describe()}{_yours(found[k])}", None))
    return _runs(diffs)


def _runs(diffs: list[tuple[int, str, Layer | None]]) -> list[str]:
    """Consecutive layers with the same difference said once (a 40-layer MLP with the wrong activation)."""
    out: list[str] = []
    i = 0
    while i < len(diffs):
        n, text, f = diffs[i]
        j = i + 1
        while n and j < len(diffs) and diffs[j][1] == text and diffs[j][0] == diffs[j - 1][0] + 1:
            j += 1
        if not n:
            out.append(text)
        elif j - i == 1:
            out.append(f"layer {n}: {text}{_yours(f) if f else ''}")
        else:
            first, last = diffs[i][2], diffs[j - 1][2]
            names = f" (your {first.name} to {last.name})" if first and last and first.name and last.name else ""
            out.append(f"layers {n}-{diffs[j - 1][0]}: {text}{names}")
        i = j
    return out


def _fields(e: Layer, f: Layer, weights_only: bool) -> list[str]:
    """The fields the rubric states that the found layer does not have."""
    if weights_only:
        return []
    problems = []
    if e.activation is not None and (f.activation or "linear") != e.activation:
        problems.append("activation")
    if e.padding is not None and (f.padding or "valid") != e.padding:
        problems.append("padding")
    if e.strides is not None and f.strides not in (None, e.strides):
        problems.append("strides")
    if f.strides is not None and not all(0 < v <= 1024 for v in f.strides):
        problems.append("strides")  # not a stride Keras can run, whatever the rubric leaves open
    if e.rate is not None and f.rate is not None and abs(f.rate - e.rate) > 1e-9:
        problems.append("rate")
    return problems


def param_report(expected: list[Layer], found: list[Layer]) -> tuple[list[str], int, int]:
    """Per-layer and total parameter differences; ``(messages, found total, expected total)``."""
    exp_total = sum(e.params or 0 for e in expected)
    got_total = sum(f.params or 0 for f in found)
    msgs = []
    known = all(e.params is not None for e in expected)
    if known and exp_total and got_total != exp_total:
        msgs.append(f"total parameters {got_total:,}, expected {exp_total:,}")
    return msgs, got_total, exp_total


def layer_table(expected: list[Layer], found: list[Layer], weights_only: bool) -> list[dict[str, Any]]:
    """The alignment :func:`compare` uses, as rows for a table: layer number, expected, found,
    parameter counts, and whether the row agrees (missing and extra layers have one side empty)."""
    exp, found, matcher = _align(expected, found, weights_only)
    rows: list[dict[str, Any]] = []

    def row(e: Layer | None, f: Layer | None) -> None:
        same = e is not None and f is not None and not _fields(e, f, weights_only) and \
            e.signature() == f.signature() and (e.params is None or f.params is None or e.params == f.params)
        rows.append({"n": e.n if e is not None else "", "expected": e.describe() if e else "",
                     "found": f.describe() if f else "", "expected_params": e.params if e else None,
                     "found_params": f.params if f else None, "same": bool(same)})

    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal" or (op == "replace" and i2 - i1 == j2 - j1):
            for k in range(i2 - i1):
                row(exp[i1 + k], found[j1 + k])
        else:
            for k in range(i1, i2):
                row(exp[k], None)
            for k in range(j1, j2):
                row(None, found[k])
    return rows[:500]


def follow_open_choices(spec: list[dict[str, Any]], input_shape: list[int], expected: list[Layer],
                        found: list[Layer]) -> list[Layer]:
    """``expected`` again, its parameter counts walked with the student's padding and strides wherever
    the rubric leaves them out: a choice the handout leaves open must not cost the Dense layer after it."""
    chosen = [dict(item) for item in spec]
    changed = False
    for e, f in aligned_pairs(expected, found, weights_only=False):
        item = chosen[e.n - 1]
        if not item["kind"].startswith(("Conv", "MaxPool", "AvgPool", "AveragePool")):
            continue
        if "padding" not in item and f.padding in ("valid", "same"):
            item["padding"], changed = f.padding, changed or f.padding != "valid"
        if "strides" not in item and f.strides is not None and len(f.strides) == 2 and \
                all(0 < v <= 1024 for v in f.strides):  # a hostile file's 0 must not divide
            item["strides"], changed = list(f.strides), True
    if not changed:
        return expected
    walked = expected_layers(chosen, input_shape)
    for e in expected:  # the rubric's own description (no padding stated) stays what is shown
        e.params = walked[e.n - 1].params
    return expected
