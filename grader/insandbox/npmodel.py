"""A Keras model's forward pass in plain numpy, for the model server where Keras and JAX are not installed.

Students' self-check install leaves out Keras 3 + JAX (~500 MB); grading keeps them. This engine takes
the same inputs as :mod:`kbuild` and answers the same way:

- :func:`build_model` + :func:`set_weights`: a rubric's layer list on an input shape, weights by order;
- :func:`build_graph` + :func:`kbuild.set_graph_weights`: a full model file's layers and graph as
  :mod:`kgraph` read them (chains, branches, merges, inlined nested models, shared layers).

Configs are read as :func:`kbuild.make_layer` reads them (:mod:`nplayers`), weights are checked by
kbuild's own functions, and the model offers what the model server uses of a Keras model:
``model(x, training=False)``, ``count_params()``, ``layers`` (``weights`` with shapes; ``output`` with
each call's shape, which :func:`model_server._batch_size` sums per image).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

try:
    from .kbuild import SKIP_AT_INFERENCE, BuildProblem, _assign, _first_weight_shape
    from .nplayers import Layer, make_layer
except ImportError:  # inside the sandbox this folder is on sys.path, not the grader package
    from kbuild import SKIP_AT_INFERENCE, BuildProblem, _assign, _first_weight_shape  # type: ignore[no-redef]
    from nplayers import Layer, make_layer  # type: ignore[no-redef]

F32 = np.float32


class _Tensor:
    """A symbolic output: its shape with the batch axis first (``None``), as a KerasTensor's."""

    def __init__(self, shape: tuple[int, ...]):
        self.shape = (None, *shape)


class _Input(Layer):
    """A model input, listed among the layers as Keras lists a Functional model's InputLayer."""


class NpModel:
    """Nodes in an order where each node's inputs come first: ``(layer, input nodes)``; a model input
    has no layer, a layer skipped at inference (Dropout...) passes its input on."""

    def __init__(self, nodes: list[tuple[Layer | None, list[int]]], shapes: list[tuple[int, ...]],
                 inputs: list[int], outputs: list[int], layers: list[Layer]):
        self.nodes, self.shapes, self.inputs, self.outputs, self.layers = nodes, shapes, inputs, outputs, layers
        self._last_use = {i: k for k, (_, ins) in enumerate(nodes) for i in ins}
        for i in outputs:
            self._last_use[i] = len(nodes)

    def count_params(self) -> int:
        return sum(math.prod(w.shape) for layer in self.layers for w in layer.weights)

    def __call__(self, x, training: bool = False):
        xs = list(x) if isinstance(x, (list, tuple)) else [x]
        if len(xs) != len(self.inputs):
            raise ValueError(f"the model takes {len(self.inputs)} inputs, {len(xs)} were given")
        values: dict[int, np.ndarray] = {}
        for idx, arr in zip(self.inputs, xs, strict=True):
            arr = np.asarray(arr, F32)
            if arr.shape[1:] != self.shapes[idx]:
                raise ValueError(f"expected inputs of shape {(None, *self.shapes[idx])}, got {arr.shape}")
            values[idx] = arr
        for k, (layer, ins) in enumerate(self.nodes):
            if k in values:
                continue
            args = [values[i] for i in ins]
            if layer is None:
                values[k] = args[0]
            else:
                values[k] = np.asarray(layer.call(args if layer.merge else args[0]), F32)
            for i in ins:  # an intermediate result is freed once its last reader has run
                if self._last_use.get(i) == k:
                    values.pop(i, None)
        outs = [values[i] for i in self.outputs]
        return outs[0] if len(outs) == 1 else outs


def _fully_known(shape) -> tuple[int, ...]:
    if not shape or any(d is None for d in shape):
        raise BuildProblem(f"the input shape {shape} is not fully known")
    return tuple(int(d) for d in shape)


def _call(layer: Layer, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    """Build ``layer`` on its inputs' shapes and record the new call's output (``layer.output``)."""
    out = layer.build(shapes if layer.merge else shapes[0])
    if any(d <= 0 for d in out):
        raise ValueError(f"its output would have shape {(None, *out)}")
    calls = getattr(layer, "_calls", [])
    calls.append(_Tensor(out))
    layer._calls = calls  # type: ignore[attr-defined]
    layer.output = calls[0] if len(calls) == 1 else list(calls)  # type: ignore[attr-defined]
    return out


def build_model(layers: list[dict[str, Any]], input_shape: list[int | None]) -> NpModel:
    """A Sequential of ``layers`` (``{"class_name", "config"}``) on ``input_shape``, as kbuild's."""
    shape = _fully_known(input_shape)
    nodes: list[tuple[Layer | None, list[int]]] = [(None, [])]
    shapes = [shape]
    built: list[Layer] = []
    for i, spec in enumerate(layers, start=1):
        cls = spec["class_name"]
        if cls in SKIP_AT_INFERENCE:
            continue
        try:
            layer = make_layer(cls, spec.get("config") or {})
            shapes.append(_call(layer, [shapes[-1]]))
        except BuildProblem:
            raise
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise BuildProblem(f"layer {i} ({cls}) cannot be built: {str(e)[:200]}") from None
        nodes.append((layer, [len(nodes) - 1]))
        built.append(layer)
    return NpModel(nodes, shapes, [0], [len(nodes) - 1], built)


def set_weights(model: NpModel, arrays: list[list]) -> None:
    """The file's weight-bearing layers, in order, into the model's (kbuild's checks and words)."""
    targets = [layer for layer in model.layers if layer.weights]
    sources = [a for a in arrays if a]
    if len(sources) != len(targets):
        raise BuildProblem(f"the file has {len(sources)} layers with weights, the model {len(targets)}")
    for k, (layer, values) in enumerate(zip(targets, sources, strict=True), start=1):
        _assign(layer, values, f"weight layer {k} ({layer.class_name})")


def build_graph(layers: list[dict[str, Any]], graph: dict[str, Any], input_shapes: list[list[int]],
                arrays: list[list] | None = None) -> tuple[NpModel, dict[int, Layer]]:
    """``(model, layer per layer index)`` wired as ``graph`` says, exactly as :func:`kbuild.build_graph`
    (same checks, same messages); weights go in with :func:`kbuild.set_graph_weights`."""
    gnodes = graph["nodes"]
    if len(input_shapes) != len(graph["inputs"]):
        raise BuildProblem(f"the model has {len(graph['inputs'])} inputs, {len(input_shapes)} shapes were given")
    shapes: dict[int, tuple[int, ...]] = {}
    model_layers: list[Layer] = []
    for k, idx in enumerate(graph["inputs"]):
        shapes[int(idx)] = _fully_known(input_shapes[k])
        inp = _Input("InputLayer", {})
        inp.output = _Tensor(shapes[int(idx)])  # type: ignore[attr-defined]
        model_layers.append(inp)
    nodes: list[tuple[Layer | None, list[int]]] = []
    built: dict[int, Layer] = {}
    for idx, node in enumerate(gnodes):
        li = int(node["layer"])
        ins = [int(i) for i in node["inputs"]]
        if li < 0:
            if idx not in shapes:
                raise BuildProblem("the graph has an input the model does not list")
            nodes.append((None, []))
            continue
        if any(i not in shapes for i in ins):
            raise BuildProblem("the graph uses a layer's output before computing it")
        spec = layers[li]
        cls = spec["class_name"]
        label = f"layer '{spec.get('name', li)}' ({cls})"
        if cls in SKIP_AT_INFERENCE:
            shapes[idx] = shapes[ins[0]]
            nodes.append((None, ins[:1]))
            continue
        try:
            if li not in built and arrays is not None and li < len(arrays) and arrays[li]:
                want = _first_weight_shape(cls, spec.get("config") or {}, shapes[ins[0]])
                have = tuple(arrays[li][0].shape)
                if want is not None and want != have:
                    raise BuildProblem(f"its first weight would have shape {want} on its input of shape "
                                       f"{shapes[ins[0]]}, the file has {have}")
            if li not in built:
                built[li] = make_layer(cls, spec.get("config") or {})
                model_layers.append(built[li])
            shapes[idx] = _call(built[li], [shapes[i] for i in ins])
        except BuildProblem as e:
            raise BuildProblem(f"{label}: {e}") from None
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise BuildProblem(f"{label} cannot be built: {str(e)[:200]}") from None
        nodes.append((built[li], ins))
    inputs = [int(i) for i in graph["inputs"]]
    outputs = [int(i) for i in graph["outputs"]]
    if any(i not in shapes for i in outputs):
        raise BuildProblem("the model's output is not computed by the graph")
    order = [shapes[i] for i in range(len(nodes))]
    return NpModel(nodes, order, inputs, outputs, model_layers), built
