"""A Keras ``model_config`` (the JSON in a ``.h5``) as a graph of allow-listed layers, read without Keras.

Every notation students' files use:

- Sequential: Keras 2.0-2.2 (the config *is* the layer list), tf.keras 2.x and Keras 3
  (``{"name", "layers": [...]}``, maybe ``build_input_shape``);
- Functional (``Functional`` / ``Model``) in two node notations:
  Keras 2 / tf.keras 2.x ``"inbound_nodes": [[["conv2d", 0, 0, {}], ["conv2d_1", 0, 0, {}]]]``
  (one list per call of the layer) and Keras 3
  ``"inbound_nodes": [{"args": [[<__keras_tensor__>, <__keras_tensor__>]], "kwargs": {}}]``;
- models used as layers (a Sequential inside a Functional) are inlined, their layers
  named ``outer/inner``; a layer called several times (shared weights) stays one layer
  with several nodes.

The result is plain data: ``layers`` (each layer once, in the order first used) and a
``Graph`` of nodes in an order where every node's inputs come first. The model server
rebuilds exactly that with its own constructors (:mod:`kbuild`), so nothing in a file can
make Keras import or run anything.

:func:`check_config` runs first, on the whole JSON: a ``Lambda`` layer, a custom class, a
module outside Keras, a function, an unknown activation, or a tensor reference anywhere
but in a layer's ``inbound_nodes`` refuses the file.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

MAX_LAYERS = 2000
MAX_NODES = 4000
MAX_NESTING = 8
MAX_CALL_INPUTS = 256

SAFE_LAYERS = {
    "InputLayer", "Dense", "Conv1D", "Conv2D", "Conv3D", "SeparableConv2D", "DepthwiseConv2D", "Conv2DTranspose",
    "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D", "MaxPool2D", "AvgPool2D",
    "MaxPool1D", "AvgPool1D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
    "Flatten", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "AlphaDropout", "GaussianDropout",
    "GaussianNoise", "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "ThresholdedReLU",
    "BatchNormalization", "LayerNormalization", "Reshape", "Permute", "RepeatVector", "ZeroPadding2D",
    "Cropping2D", "UpSampling2D", "Rescaling", "Normalization", "RandomFlip", "RandomRotation", "RandomZoom",
    "RandomTranslation", "RandomContrast", "Add", "Concatenate", "Multiply", "Average", "Subtract", "Maximum",
    "Minimum", "Sequential", "Functional", "Model", "Embedding", "SimpleRNN", "LSTM", "GRU",
}
MODEL_CLASSES = {"Sequential", "Functional", "Model"}
MERGE_LAYERS = {"Add", "Concatenate", "Multiply", "Average", "Subtract", "Maximum", "Minimum"}
SAFE_ACTIVATIONS = {
    "relu", "sigmoid", "softmax", "tanh", "linear", "elu", "selu", "softplus", "softsign", "swish", "silu",
    "gelu", "exponential", "hard_sigmoid", "leaky_relu", "relu6", "mish", "log_softmax", "hard_silu",
    "hard_swish", None,
}
SAFE_OBJECTS = {  # initializers, regularizers, constraints, dtype policies that may appear as {"class_name": ...}
    "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal", "Zeros", "Ones",
    "Constant", "RandomUniform", "RandomNormal", "TruncatedNormal", "VarianceScaling", "Orthogonal",
    "Identity", "L1", "L2", "L1L2", "MaxNorm", "NonNeg", "UnitNorm", "MinMaxNorm", "DTypePolicy",
    "Policy", "FloatDTypePolicy", "OrthogonalRegularizer",
}
_CODE_KEYS = {"function", "function_type", "module_objects", "code", "__lambda__", "output_shape_type"}
# Keras 1 names for layers Keras 2 renamed or dropped: a file using them is from Keras 1.
KERAS1_LAYERS = {"Convolution1D", "Convolution2D", "Convolution3D", "AtrousConvolution2D", "Deconvolution2D",
                 "Merge", "MaxoutDense", "Highway", "TimeDistributedDense", "SeparableConvolution2D"}
# TensorFlow operations on tensors that tf.keras 2.x recorded as pseudo-layers.
TF_OP_LAYERS = {"TFOpLambda", "SlicingOpLambda", "TensorFlowOpLayer", "ClassMethod", "InstanceMethod",
                "InstanceProperty"}
# Keras 3 records arithmetic on tensors (``x + y``) as operation nodes with these names; the
# ones that take only tensors are rebuilt as the merge layer that computes the same thing.
KERAS3_TENSOR_OPS = {"Add": "Add", "Subtract": "Subtract", "Multiply": "Multiply", "Maximum": "Maximum",
                     "Minimum": "Minimum"}
_TENSOR_KEYS = {"shape", "dtype", "keras_history", "sparse", "ragged", "name"}
_CALL_KWARGS = {"training", "mask"}  # call arguments that do not change what an inference pass computes


class ConfigProblem(Exception):
    """The configuration cannot be used; the message is for the student."""


@dataclass
class LayerInfo:
    name: str
    class_name: str | None  # None when only weights are known
    config: dict[str, Any] = field(default_factory=dict)
    weights: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)  # (weight name, shape)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "class_name": self.class_name, "config": self.config,
                "weights": [[n, list(s)] for n, s in self.weights]}


@dataclass
class Node:
    """One call of a layer (``layer`` indexes the layer list), or a model input (``layer == -1``)."""

    layer: int
    inputs: list[int] = field(default_factory=list)  # indices of earlier nodes
    name: str = ""  # model inputs: the InputLayer's name
    shape: list[int | None] | None = None  # model inputs: the shape without the batch dimension


@dataclass
class Graph:
    nodes: list[Node] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": self.inputs, "outputs": self.outputs,
                "nodes": [{"layer": n.layer, "inputs": n.inputs, **({"name": n.name, "shape": n.shape}
                                                                       if n.layer < 0 else {})} for n in self.nodes]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Graph:
        nodes = [Node(int(n["layer"]), [int(i) for i in n["inputs"]], n.get("name", ""), n.get("shape"))
                 for n in d["nodes"]]
        return cls(nodes, [int(i) for i in d["inputs"]], [int(i) for i in d["outputs"]])

    def is_chain(self) -> bool:
        return len(self.inputs) == 1 and len(self.outputs) == 1 and all(
            len(n.inputs) == 1 and n.inputs[0] == i - 1 for i, n in enumerate(self.nodes) if n.layer >= 0)


@dataclass
class Model:
    model_class: str
    layers: list[LayerInfo]
    graph: Graph
    # which layers came from a nested model, and which weights group holds their weights
    nested_groups: dict[int, str] = field(default_factory=dict)

    @property
    def input_shape(self) -> list[int | None] | None:
        if len(self.graph.inputs) != 1:
            return None
        return self.graph.nodes[self.graph.inputs[0]].shape


# --------------------------------------------------------------------------- config safety

def check_config(config: Any) -> None:
    """Refuse any class or value that Keras could turn into code. Called before any other use."""
    stack: list[tuple[Any, str, bool]] = [(config, "model", False)]
    seen = 0
    while stack:
        node, where, in_nodes = stack.pop()
        seen += 1
        if seen > 5_000_000:
            raise ConfigProblem("its model_config is unreasonably large")
        if isinstance(node, dict):
            where = _check_mapping(node, where, in_nodes)
            if node.get("class_name") == "__keras_tensor__":
                continue  # a checked tensor reference: nothing below it is interpreted
            for key, value in node.items():
                if isinstance(value, (dict, list)):
                    sub = where
                    vcfg = value.get("config") if isinstance(value, dict) else None
                    if isinstance(vcfg, dict) and vcfg.get("name"):
                        sub = f"layer '{_short(vcfg['name'])}'"
                    stack.append((value, sub, in_nodes or key == "inbound_nodes"))
        elif isinstance(node, list):
            stack.extend((item, where, in_nodes) for item in node)


def _short(value: Any, limit: int = 80) -> str:
    text = str(value)
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check_mapping(node: dict, where: str, in_nodes: bool) -> str:
    cls = node.get("class_name")
    cfg = node.get("config")
    name = cfg.get("name", "") if isinstance(cfg, dict) else ""
    label = f"layer '{_short(name)}' ({_short(cls)})" if name else _short(cls)
    if cls is not None:
        cls = str(cls)
        if cls == "__keras_tensor__":
            if not in_nodes:
                raise ConfigProblem(f"{where} holds a tensor reference outside a layer's inputs")
            _check_tensor_ref(node, where)
            return where
        if cls == "__tuple__":
            if set(node) - {"class_name", "config"} or not isinstance(cfg, dict) or set(cfg) - {"value"}:
                raise ConfigProblem(f"{where}: a malformed tuple in the model_config")
            return where
        if cls == "Lambda":
            raise ConfigProblem(f"{label} is a Lambda layer: it carries Python code, so the model is not loaded; "
                                "rebuild it from built-in layers (e.g. Rescaling or Reshape instead of a Lambda)")
        if cls in TF_OP_LAYERS:
            raise ConfigProblem(f"{label} is a TensorFlow operation applied to a tensor (e.g. x * 2 or tf.reshape), "
                                "not a Keras layer; the grader rebuilds Keras layers only: use a layer instead "
                                "(Rescaling, Reshape, Add, Activation ...)")
        if cls in KERAS1_LAYERS:
            raise ConfigProblem(f"{label} is a Keras 1 layer: this is an old Keras 1.x model file")
    for key in node:
        if key in _CODE_KEYS:
            raise ConfigProblem(f"{where} contains '{_short(key)}' (code inside the model); it cannot be loaded safely")
    if cls is not None:
        module = node.get("module")
        if module is not None and not (str(module) == "keras" or str(module).startswith("keras.")):
            raise ConfigProblem(f"{label} comes from module '{_short(module)}', not Keras; custom code is not loaded")
        registered = node.get("registered_name")
        if registered is not None and str(registered) != cls:
            raise ConfigProblem(f"{label} is a custom registered class '{_short(registered)}'")
        if cls not in SAFE_LAYERS and cls not in SAFE_OBJECTS:
            if _is_operation(node):
                raise ConfigProblem(_operation_message(str(name), cls))
            raise ConfigProblem(f"{label} is not a built-in Keras layer this grader can load safely")
    act = node.get("activation")
    if "activation" in node and not isinstance(act, (str, type(None))):
        raise ConfigProblem(f"{where}: a custom activation object cannot be loaded safely")
    if isinstance(act, str) and act not in SAFE_ACTIVATIONS:
        raise ConfigProblem(f"{where}: activation '{_short(act)}' is not a built-in Keras activation")
    return where


def _check_tensor_ref(node: dict, where: str) -> None:
    cfg = node.get("config")
    if set(node) - {"class_name", "config"} or not isinstance(cfg, dict) or set(cfg) - _TENSOR_KEYS:
        raise ConfigProblem(f"{where}: a malformed tensor reference in inbound_nodes")
    _history(cfg.get("keras_history"), where)


def _history(value: Any, where: str) -> tuple[str, int, int]:
    if (not isinstance(value, list) or len(value) < 3 or not isinstance(value[0], str)
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < MAX_NODES for v in value[1:3])):
        raise ConfigProblem(f"{where}: a malformed reference to a layer in inbound_nodes")
    return value[0], value[1], value[2]


# --------------------------------------------------------------------------- config -> graph

_KEEP = ("units", "filters", "kernel_size", "strides", "padding", "pool_size", "activation", "rate", "use_bias",
         "target_shape", "alpha", "negative_slope", "axis", "epsilon", "momentum", "center", "scale", "dims",
         "data_format", "size", "dilation_rate", "depth_multiplier", "scale_value", "offset", "max_value",
         "threshold", "n", "input_dim", "output_dim", "return_sequences", "mean", "variance", "groups",
         "cropping", "interpolation", "shared_axes", "recurrent_activation", "reset_after", "go_backwards",
         "unit_forget_bias", "mask_zero", "keepdims", "invert", "theta")


def parse_model(config: Any) -> Model:
    """The model's layers and graph; :func:`check_config` must have accepted ``config`` first."""
    if not isinstance(config, dict):
        raise ConfigProblem("its model_config is not a Keras model description")
    cls = str(config.get("class_name", ""))
    if cls not in MODEL_CLASSES:
        raise ConfigProblem(f"the model is a {_short(cls)!r}, expected a Sequential or Functional Keras model")
    b = _Builder()
    outputs = b.model(config, prefix="", bound=None, depth=0)
    b.graph.outputs = outputs
    return Model(cls, b.layers, b.graph, b.nested)


def _shape_of(cfg: dict) -> list[int | None] | None:
    shape = cfg.get("batch_input_shape") or cfg.get("batch_shape")
    if shape is not None:
        shape = list(shape)[1:]
    elif cfg.get("input_shape") is not None:
        shape = list(cfg["input_shape"])
    elif cfg.get("input_dim") is not None:
        shape = [cfg["input_dim"]]
    if shape is None:
        return None
    out: list[int | None] = []
    for d in shape:
        if d is None:
            out.append(None)
        elif isinstance(d, int) and not isinstance(d, bool) and 0 < d < 10**7:
            out.append(d)
        else:
            raise ConfigProblem(f"the input shape {_short(shape)} is not a list of sizes")
    return out


def _model_input_shape(item: dict, depth: int = 0) -> list[int | None] | None:
    """The input shape a nested model declares (its first InputLayer, or its own first layer's)."""
    cfg = item.get("config")
    raw = cfg.get("layers") if isinstance(cfg, dict) else cfg
    if not isinstance(raw, list) or not raw or not isinstance(raw[0], dict) or depth > MAX_NESTING:
        return None
    first = raw[0]
    if str(first.get("class_name")) in MODEL_CLASSES:
        return _model_input_shape(first, depth + 1)
    fcfg = first.get("config")
    return _shape_of(fcfg) if isinstance(fcfg, dict) else None


def _config_of(item: dict) -> dict:
    """A layer's ``config`` mapping, or an empty one when it is missing or not a mapping."""
    cfg = item.get("config")
    return cfg if isinstance(cfg, dict) else {}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):  # Keras 3 wraps some values ({"class_name": "__tuple__", "config": ...})
        if value.get("class_name") == "__tuple__":
            return [_plain(v) for v in value.get("config", {}).get("value", [])]
        return str(value.get("class_name"))
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class _Builder:
    def __init__(self) -> None:
        self.layers: list[LayerInfo] = []
        self.graph = Graph()
        self.nested: dict[int, str] = {}
        self._layer_index: dict[str, int] = {}

    # -- helpers
    def _add_node(self, node: Node) -> int:
        if len(self.graph.nodes) >= MAX_NODES:
            raise ConfigProblem(f"has more than {MAX_NODES} layer calls, over the limit")
        self.graph.nodes.append(node)
        return len(self.graph.nodes) - 1

    def _layer(self, item: dict, qualified: str, group: str | None) -> int:
        if qualified in self._layer_index:
            return self._layer_index[qualified]
        if len(self.layers) >= MAX_LAYERS:
            raise ConfigProblem(f"has more than {MAX_LAYERS} layers, over the limit")
        cls = str(item.get("class_name"))
        cfg = _config_of(item)
        kept = {k: _plain(cfg[k]) for k in _KEEP if k in cfg}
        self.layers.append(LayerInfo(qualified, cls, kept))
        idx = len(self.layers) - 1
        self._layer_index[qualified] = idx
        if group is not None:
            self.nested[idx] = group
        return idx

    def _input(self, name: str, shape: list[int | None] | None) -> int:
        idx = self._add_node(Node(-1, [], name, shape))
        self.graph.inputs.append(idx)
        return idx

    # -- models
    def model(self, config: dict, prefix: str, bound: list[int] | None, depth: int,
              group: str | None = None) -> list[int]:
        """Inline ``config``; ``bound``: the nodes feeding a nested model's inputs (None at the top)."""
        if depth > MAX_NESTING:
            raise ConfigProblem(f"models are nested more than {MAX_NESTING} deep")
        cls = str(config.get("class_name", ""))
        cfg = config.get("config")
        if cls == "Sequential":
            return self._sequential(cfg, prefix, bound, depth, group)
        if cls in ("Functional", "Model"):
            if not isinstance(cfg, dict):
                raise ConfigProblem("a Functional model's config is missing")
            return self._functional(cfg, prefix, bound, depth, group)
        raise ConfigProblem(f"the model is a {_short(cls)!r}, expected a Sequential or Functional Keras model")

    def _sequential(self, cfg: Any, prefix: str, bound: list[int] | None, depth: int, group: str | None) -> list[int]:
        raw = cfg.get("layers") if isinstance(cfg, dict) else cfg
        if not isinstance(raw, list):
            raise ConfigProblem("the model's layer list is missing")
        if len(raw) > MAX_LAYERS:
            raise ConfigProblem(f"has {len(raw)} layers, over the limit of {MAX_LAYERS}")
        items = [item for item in raw if isinstance(item, dict)]
        if len(items) != len(raw):
            raise ConfigProblem("a layer in model_config is not a mapping")
        if bound is not None:
            if len(bound) != 1:
                raise ConfigProblem("a nested Sequential model is called on several tensors")
            current = bound[0]
        else:
            shape = None
            for item in items[:1]:
                icfg = _config_of(item)
                shape = _shape_of(icfg)
            if shape is None and isinstance(cfg, dict) and cfg.get("build_input_shape") is not None:
                shape = _shape_of({"batch_input_shape": _plain(cfg["build_input_shape"])})
            if shape is None and items and str(items[0].get("class_name")) in MODEL_CLASSES:
                shape = _model_input_shape(items[0])  # Sequential([base_model, ...]): the base's input
            name = ""
            if items and items[0].get("class_name") == "InputLayer":
                icfg = items[0].get("config") or {}
                name = str(icfg.get("name", "")) if isinstance(icfg, dict) else ""
            current = self._input(name or "input", shape)
        for item in items:
            cls = str(item.get("class_name"))
            icfg = _config_of(item)
            name = str(icfg.get("name") or item.get("name") or f"layer_{len(self.layers)}")
            if cls == "InputLayer":
                continue
            if cls in MODEL_CLASSES:
                outs = self.model(item, f"{prefix}{name}/", [current], depth + 1,
                                  group if group is not None else name)
                if len(outs) != 1:
                    raise ConfigProblem(f"the nested model '{_short(name)}' has {len(outs)} outputs inside a "
                                        "Sequential")
                current = outs[0]
                continue
            layer = self._layer(item, prefix + name, group)
            current = self._add_node(Node(layer, [current]))
        return [current]

    def _functional(self, cfg: dict, prefix: str, bound: list[int] | None, depth: int,
                    group: str | None) -> list[int]:
        raw = cfg.get("layers")
        if not isinstance(raw, list):
            raise ConfigProblem("the model's layer list is missing")
        if len(raw) > MAX_LAYERS:
            raise ConfigProblem(f"has {len(raw)} layers, over the limit of {MAX_LAYERS}")
        by_name: dict[str, dict] = {}
        order: list[str] = []
        for item in raw:
            if not isinstance(item, dict):
                raise ConfigProblem("a layer in model_config is not a mapping")
            icfg = _config_of(item)
            name = item.get("name", icfg.get("name"))
            if not isinstance(name, str) or not name:
                raise ConfigProblem("a layer in model_config has no name")
            if name in by_name:
                raise ConfigProblem(f"two layers are named '{_short(name)}'")
            by_name[name] = item
            order.append(name)
        calls = {name: _calls(by_name[name], name) for name in order}
        in_refs = _refs(cfg.get("input_layers"), "input_layers")
        out_refs = _refs(cfg.get("output_layers"), "output_layers")
        # every reference (layer, node index) -> the position of that call in the layer's inbound_nodes
        referenced: dict[str, set[int]] = {}
        for name in order:
            for call in calls[name]:
                for ref in call:
                    referenced.setdefault(ref[0], set()).add(ref[1])
        for ref in out_refs:
            referenced.setdefault(ref[0], set()).add(ref[1])
        shift: dict[str, int] = {}
        for name, idxs in referenced.items():
            if name not in by_name:
                raise ConfigProblem(f"a layer takes its input from '{_short(name)}', which the model does not have")
            n = max(1, len(calls[name]))
            if max(idxs) < n:
                shift[name] = 0
            elif str(by_name[name].get("class_name")) in MODEL_CLASSES and min(idxs) >= 1 and max(idxs) <= n:
                shift[name] = 1  # Keras 2 counts a nested model's own first node, which it does not save
            else:
                raise ConfigProblem(f"a layer refers to call {max(idxs)} of '{_short(name)}', which is called "
                                    f"{len(calls[name])} time(s)")
        produced: dict[tuple[str, int], list[int]] = {}  # (layer, call position) -> output node(s)
        # model inputs
        input_names = [r[0] for r in in_refs]
        for name in input_names:
            if name not in by_name or str(by_name[name].get("class_name")) != "InputLayer":
                raise ConfigProblem(f"the model input '{_short(name)}' is not an InputLayer")
        if bound is not None and len(bound) != len(input_names):
            raise ConfigProblem(f"a nested model with {len(input_names)} inputs is called on {len(bound)} tensors")
        for k, name in enumerate(input_names):
            icfg = _config_of(by_name[name])
            produced[(name, 0)] = [bound[k] if bound is not None else self._input(name, _shape_of(icfg))]
        # Kahn's algorithm over calls: a call runs once every call it reads from has run
        pending: dict[tuple[str, int], int] = {}
        readers: dict[tuple[str, int], list[tuple[str, int]]] = {}
        ready: deque[tuple[str, int]] = deque()
        for name in order:
            if str(by_name[name].get("class_name")) == "InputLayer":
                if name not in input_names:
                    raise ConfigProblem(f"the InputLayer '{_short(name)}' is not one of the model's inputs")
                continue
            for pos, call in enumerate(calls[name]):
                deps = {(r[0], r[1] - shift.get(r[0], 0)) for r in call}
                waiting = [d for d in deps if d not in produced]
                pending[(name, pos)] = len(waiting)
                for d in waiting:
                    readers.setdefault(d, []).append((name, pos))
                if not waiting:
                    ready.append((name, pos))
        while ready:
            name, pos = ready.popleft()
            item = by_name[name]
            call = calls[name][pos]
            ins = []
            for ref_name, ref_node, ref_tensor in call:
                outs = produced[(ref_name, ref_node - shift.get(ref_name, 0))]
                if ref_tensor >= len(outs):
                    raise ConfigProblem(f"'{_short(name)}' uses output {ref_tensor} of '{_short(ref_name)}', "
                                        f"which has {len(outs)}")
                ins.append(outs[ref_tensor])
            cls = str(item.get("class_name"))
            if cls in MODEL_CLASSES:
                produced[(name, pos)] = self.model(item, f"{prefix}{name}/", ins, depth + 1,
                                                   group if group is not None else name)
            else:
                op_cls = _operation_class(item, name, len(ins))
                if op_cls is not None:
                    item = {**item, "class_name": op_cls}
                elif len(ins) > 1 and str(item.get("class_name")) not in MERGE_LAYERS:
                    raise ConfigProblem(f"layer '{_short(name)}' ({_short(item.get('class_name'))}) is called on "
                                        f"{len(ins)} tensors; only merge layers (Add, Concatenate, ...) take several")
                layer = self._layer(item, prefix + name, group)
                produced[(name, pos)] = [self._add_node(Node(layer, ins))]
            for reader in readers.get((name, pos), []):
                pending[reader] -= 1
                if pending[reader] == 0:
                    ready.append(reader)
        stuck = [f"'{_short(n)}'" for (n, _), left in pending.items() if left]
        if stuck:
            raise ConfigProblem(f"the layers {', '.join(stuck[:5])} wait for inputs that never come (a cycle or a "
                                "missing layer)")
        outputs = []
        for ref_name, ref_node, ref_tensor in out_refs:
            key = (ref_name, ref_node - shift.get(ref_name, 0))
            if key not in produced or ref_tensor >= len(produced[key]):
                raise ConfigProblem(f"the model output '{_short(ref_name)}' is not computed by the model")
            outputs.append(produced[key][ref_tensor])
        if not outputs:
            raise ConfigProblem("the model has no outputs")
        return outputs


def _is_operation(item: dict) -> bool:
    """Keras 3 stores an operation on tensors (``x + y``, ``keras.ops.relu(x)``) as a node whose config
    is only ``{"name"}``, in Keras 3's node notation; a layer's config says much more."""
    cfg = item.get("config")
    nodes = item.get("inbound_nodes")
    return (isinstance(cfg, dict) and not set(cfg) - {"name"} and isinstance(nodes, list) and bool(nodes)
            and isinstance(nodes[0], dict))


def _operation_message(name: str, cls: str) -> str:
    return (f"'{_short(name)}' is a keras.ops operation ({_short(cls)}) applied to tensors, not a layer; the grader "
            "rebuilds layers only: use keras.layers instead (e.g. layers.Activation('relu') for ops.relu, "
            "layers.Rescaling for x * c, layers.Add for x + y)")


def _operation_class(item: dict, name: str, n_inputs: int) -> str | None:
    """An operation node the merge layers compute (``x + y`` on two tensors) is rebuilt as that layer."""
    if not _is_operation(item):
        return None
    cls = str(item.get("class_name"))
    if cls in KERAS3_TENSOR_OPS and n_inputs >= 2:
        return KERAS3_TENSOR_OPS[cls]
    raise ConfigProblem(_operation_message(name, cls))


def _refs(value: Any, what: str) -> list[tuple[str, int, int]]:
    """``input_layers`` / ``output_layers``: ``[["name", 0, 0], ...]``; in Keras 3 with one, ``["name", 0, 0]``,
    and for named inputs or outputs a mapping of names to those."""
    if isinstance(value, dict):
        value = list(value.values())
    if not isinstance(value, list) or not value:
        raise ConfigProblem(f"the model's {what} are missing")
    if isinstance(value[0], str):
        value = [value]
    if len(value) > MAX_NODES:
        raise ConfigProblem(f"the model's {what} are too many")
    return [_history(v, what) for v in value]


def _calls(item: dict, name: str) -> list[list[tuple[str, int, int]]]:
    """A layer's calls, each the list of (layer, node index, tensor index) it reads."""
    nodes = item.get("inbound_nodes", [])
    if not isinstance(nodes, list):
        raise ConfigProblem(f"layer '{_short(name)}' has malformed inbound_nodes")
    if len(nodes) > MAX_NODES:
        raise ConfigProblem(f"layer '{_short(name)}' is called too many times")
    calls = []
    for node in nodes:
        where = f"layer '{_short(name)}'"
        refs: list[tuple[str, int, int]] = []
        if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
            if set(node) - {"args", "kwargs"}:
                raise ConfigProblem(f"{where}: malformed inbound_nodes")
            args = node.get("args", [])
            if not isinstance(args, list):
                raise ConfigProblem(f"{where}: malformed inbound_nodes")
            for arg in args:
                for t in (arg if isinstance(arg, list) else [arg]):
                    if isinstance(t, dict) and t.get("class_name") == "__keras_tensor__":
                        refs.append(_history(t["config"]["keras_history"], where))
                    else:
                        raise ConfigProblem(f"{where} is called with the value {_short(t, 40)} besides tensors; "
                                            "the grader rebuilds layers called on tensors only")
            _check_kwargs(node.get("kwargs", {}), where)
        elif isinstance(node, list):  # Keras 2: [["layer", node, tensor, {kwargs}], ...]
            for entry in node:
                if not isinstance(entry, list) or len(entry) not in (3, 4):
                    raise ConfigProblem(f"{where}: malformed inbound_nodes")
                refs.append(_history(entry[:3], where))
                if len(entry) == 4:
                    _check_kwargs(entry[3], where)
        else:
            raise ConfigProblem(f"{where}: malformed inbound_nodes")
        if not refs:
            raise ConfigProblem(f"{where} is called on nothing")
        if len(refs) > MAX_CALL_INPUTS:
            raise ConfigProblem(f"{where} is called on {len(refs)} tensors, over the limit of {MAX_CALL_INPUTS}")
        calls.append(refs)
    return calls


def _check_kwargs(kwargs: Any, where: str) -> None:
    if not isinstance(kwargs, dict):
        raise ConfigProblem(f"{where}: malformed call arguments")
    for key, value in kwargs.items():
        if key in _CALL_KWARGS and (value is None or isinstance(value, bool)):
            continue
        raise ConfigProblem(f"{where} is called with the argument {_short(key, 40)}={_short(value, 40)}; the grader "
                            "rebuilds layers called on tensors only")
