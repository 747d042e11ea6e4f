"""Build a Keras model from plain data — never from a student's serialized config.

Only the fields this module names are read, each into the constructor of a
built-in layer; nothing in a file can make Keras import or run anything. Two ways:

- :func:`build_model`: a Sequential of a layer list (the rubric's architecture), whose
  weights are then set by order of the weight-bearing layers (:func:`set_weights`);
- :func:`build_graph`: a Functional model of the layers and graph :mod:`kgraph` read from
  a file (chains, branches, merges, shared layers), whose weights are set layer by layer
  from the file's own groups (:func:`set_graph_weights`).

Every weight's shape is checked against the layer it goes into, with a message naming
the layer when one does not fit.
"""

from __future__ import annotations

from functools import cache
from typing import Any

SKIP_AT_INFERENCE = {"RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast",
                     "GaussianNoise", "GaussianDropout", "AlphaDropout", "SpatialDropout1D", "SpatialDropout2D",
                     "Dropout"}


class BuildProblem(ValueError):
    pass


def _pair(v: Any, default: tuple[int, int]) -> tuple[int, int]:
    if v is None:
        return default
    if isinstance(v, (int, float)):
        return (int(v), int(v))
    return tuple(int(x) for x in v)  # type: ignore[return-value]


def _one(v: Any, default: int) -> int:
    if v is None:
        return default
    if isinstance(v, (list, tuple)):
        return int(v[0])
    return int(v)


def _axis(v: Any) -> int:
    if isinstance(v, list):
        if len(v) != 1:
            raise BuildProblem(f"normalizing over several axes {v} is not supported")
        v = v[0]
    return int(v)


# Every weight is overwritten from the file, so layers start from zeros: Keras' random initializers
# compile a random-number program for every new weight shape, 80 % of a new architecture's cost.
_Z = {"kernel_initializer": "zeros", "bias_initializer": "zeros"}
_ZERO_INIT = {
    "Dense": _Z, "Conv1D": _Z, "Conv2D": _Z, "Conv2DTranspose": _Z,
    "SeparableConv2D": {"depthwise_initializer": "zeros", "pointwise_initializer": "zeros",
                        "bias_initializer": "zeros"},
    "DepthwiseConv2D": {"depthwise_initializer": "zeros", "bias_initializer": "zeros"},
    "Embedding": {"embeddings_initializer": "zeros"},
    "SimpleRNN": {**_Z, "recurrent_initializer": "zeros"},
    "LSTM": {**_Z, "recurrent_initializer": "zeros"},
    "GRU": {**_Z, "recurrent_initializer": "zeros"},
}


def make_layer(cls: str, c: dict[str, Any]):
    import keras

    L = keras.layers
    z = _ZERO_INIT.get(cls, {})
    act = c.get("activation") or "linear"
    bias = bool(c.get("use_bias", True))
    df = {"data_format": c["data_format"]} if c.get("data_format") else {}  # channels_last or _first
    pad = c.get("padding", "valid")
    if cls == "Dense":
        return L.Dense(int(c["units"]), activation=act, use_bias=bias, **z)
    if cls == "Conv2D":
        return L.Conv2D(int(c["filters"]), _pair(c["kernel_size"], (3, 3)), strides=_pair(c.get("strides"), (1, 1)),
                        padding=pad, activation=act, use_bias=bias, dilation_rate=_pair(c.get("dilation_rate"), (1, 1)),
                        groups=int(c.get("groups", 1) or 1), **df, **z)
    if cls == "Conv1D":
        return L.Conv1D(int(c["filters"]), _one(c["kernel_size"], 3), strides=_one(c.get("strides"), 1),
                        padding=pad, activation=act, use_bias=bias, dilation_rate=_one(c.get("dilation_rate"), 1),
                        groups=int(c.get("groups", 1) or 1), **df, **z)
    if cls == "Conv2DTranspose":
        return L.Conv2DTranspose(int(c["filters"]), _pair(c["kernel_size"], (3, 3)),
                                 strides=_pair(c.get("strides"), (1, 1)), padding=pad, activation=act, use_bias=bias,
                                 **df, **z)
    if cls == "SeparableConv2D":
        return L.SeparableConv2D(int(c["filters"]), _pair(c["kernel_size"], (3, 3)),
                                 strides=_pair(c.get("strides"), (1, 1)), padding=pad,
                                 depth_multiplier=int(c.get("depth_multiplier", 1)), activation=act, use_bias=bias,
                                 dilation_rate=_pair(c.get("dilation_rate"), (1, 1)), **df, **z)
    if cls == "DepthwiseConv2D":
        return L.DepthwiseConv2D(_pair(c["kernel_size"], (3, 3)), strides=_pair(c.get("strides"), (1, 1)),
                                 padding=pad, depth_multiplier=int(c.get("depth_multiplier", 1)), activation=act,
                                 use_bias=bias, dilation_rate=_pair(c.get("dilation_rate"), (1, 1)), **df, **z)
    if cls in ("MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D"):
        pool = _pair(c.get("pool_size"), (2, 2))
        strides = _pair(c.get("strides"), pool) if c.get("strides") is not None else None
        kind = L.MaxPooling2D if cls.startswith("Max") else L.AveragePooling2D
        return kind(pool, strides=strides, padding=pad, **df)
    if cls in ("MaxPooling1D", "MaxPool1D", "AveragePooling1D", "AvgPool1D"):
        pool1 = _one(c.get("pool_size"), 2)
        strides1 = _one(c.get("strides"), pool1) if c.get("strides") is not None else None
        kind = L.MaxPooling1D if cls.startswith("Max") else L.AveragePooling1D
        return kind(pool1, strides=strides1, padding=pad, **df)
    if cls in ("GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling1D", "GlobalMaxPooling1D"):
        return getattr(L, cls)(keepdims=bool(c.get("keepdims", False)), **df)
    if cls == "Flatten":
        return L.Flatten(**df)
    if cls == "Activation":
        return L.Activation(act)
    if cls == "BatchNormalization":
        return L.BatchNormalization(axis=_axis(c.get("axis", -1)), epsilon=float(c.get("epsilon", 1e-3)),
                                    center=bool(c.get("center", True)), scale=bool(c.get("scale", True)))
    if cls == "LayerNormalization":
        return L.LayerNormalization(axis=_axis(c.get("axis", -1)), epsilon=float(c.get("epsilon", 1e-3)),
                                    center=bool(c.get("center", True)), scale=bool(c.get("scale", True)))
    if cls == "Normalization":
        mean, variance = c.get("mean"), c.get("variance")
        if mean is not None and variance is not None:  # constants of the config (part of the architecture)
            return L.Normalization(axis=_axis(c.get("axis", -1)), mean=mean, variance=variance,
                                   invert=bool(c.get("invert", False)))
        return _adapted_normalization()(axis=_axis(c.get("axis", -1)), invert=bool(c.get("invert", False)))
    if cls == "Reshape":
        return L.Reshape(tuple(int(d) for d in c["target_shape"]))
    if cls == "Permute":
        return L.Permute(tuple(int(d) for d in c["dims"]))
    if cls == "RepeatVector":
        return L.RepeatVector(int(c["n"]))
    if cls == "ZeroPadding2D":
        p = c.get("padding", (1, 1))
        return L.ZeroPadding2D(tuple(tuple(x) if isinstance(x, list) else x for x in p) if isinstance(p, list)
                               else int(p), **df)
    if cls == "Cropping2D":
        p = c.get("cropping", ((0, 0), (0, 0)))
        return L.Cropping2D(tuple(tuple(x) if isinstance(x, list) else x for x in p) if isinstance(p, list)
                            else int(p), **df)
    if cls == "UpSampling2D":
        return L.UpSampling2D(_pair(c.get("size"), (2, 2)), interpolation=str(c.get("interpolation", "nearest")), **df)
    if cls == "ReLU":
        return L.ReLU(max_value=c.get("max_value"), negative_slope=float(c.get("negative_slope", 0.0) or 0.0),
                      threshold=float(c.get("threshold", 0.0) or 0.0))
    if cls == "ThresholdedReLU":
        return L.ReLU(threshold=float(c.get("theta", 1.0)))
    if cls == "LeakyReLU":
        return L.LeakyReLU(negative_slope=float(c.get("negative_slope", c.get("alpha", 0.3))))
    if cls == "PReLU":
        axes = c.get("shared_axes")
        return L.PReLU(shared_axes=[int(a) for a in axes] if axes else None)
    if cls == "ELU":
        return L.ELU(alpha=float(c.get("alpha", 1.0)))
    if cls == "Softmax":
        return L.Softmax(axis=_axis(c.get("axis", -1)))
    if cls == "Rescaling":
        return L.Rescaling(float(c.get("scale", 1.0)), offset=float(c.get("offset", 0.0)))
    if cls == "Embedding":
        return L.Embedding(int(c["input_dim"]), int(c["output_dim"]), **z)
    if cls in ("SimpleRNN", "LSTM", "GRU"):
        kw: dict[str, Any] = {"activation": c.get("activation") or "tanh", "use_bias": bias,
                              "return_sequences": bool(c.get("return_sequences", False)),
                              "go_backwards": bool(c.get("go_backwards", False))}
        if cls != "SimpleRNN":
            kw["recurrent_activation"] = c.get("recurrent_activation") or "sigmoid"
        if cls == "GRU":
            kw["reset_after"] = bool(c.get("reset_after", True))
        return getattr(L, cls)(int(c["units"]), **kw, **z)
    if cls == "Concatenate":
        return L.Concatenate(axis=int(c.get("axis", -1)))
    if cls in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
        return getattr(L, cls)()
    raise BuildProblem(f"layer type {cls} is not supported by the grader")


@cache
def _adapted_normalization():
    """Keras' ``Normalization`` for an adapted layer (its mean and variance are weights, set from the file).

    Keras computes the constants it normalizes with from those weights in ``build()`` and again in
    ``finalize_state()``, which only its own loader calls: after ``set_weights`` they stay those of
    ``build()`` (zeros and ones, the identity). And a compiled forward pass (the model server keeps one
    per architecture, with the weights as arguments) would keep the first student's constants for the
    next. This subclass reads the weights at every call, with Keras' own formula."""
    import keras
    from keras import ops

    class AdaptedNormalization(keras.layers.Normalization):
        def call(self, inputs):
            mean = ops.cast(ops.reshape(self.adapt_mean, self._broadcast_shape), self.compute_dtype)
            variance = ops.cast(ops.reshape(self.adapt_variance, self._broadcast_shape), self.compute_dtype)
            inputs = ops.convert_to_tensor(inputs, dtype=self.compute_dtype)
            std = ops.maximum(ops.sqrt(variance), keras.config.epsilon())
            if self.invert:
                return ops.add(mean, ops.multiply(inputs, std))
            return ops.divide(ops.subtract(inputs, mean), std)

    return AdaptedNormalization


def build_model(layers: list[dict[str, Any]], input_shape: list[int | None]):
    """A Sequential model of ``layers`` (``{"class_name", "config"}``) on ``input_shape``."""
    import keras

    dims = [d for d in input_shape if d is not None]
    if not input_shape or len(dims) != len(input_shape):
        raise BuildProblem(f"the input shape {input_shape} is not fully known")
    model = keras.Sequential()
    model.add(keras.Input(shape=tuple(int(d) for d in dims)))
    for i, spec in enumerate(layers, start=1):
        cls = spec["class_name"]
        if cls in SKIP_AT_INFERENCE:
            continue
        try:
            model.add(make_layer(cls, spec.get("config") or {}))
        except BuildProblem:
            raise
        except (KeyError, TypeError, ValueError) as e:
            raise BuildProblem(f"layer {i} ({cls}) cannot be built: {str(e)[:200]}") from None
    return model


def set_weights(model, arrays: list[list]) -> None:
    """Assign the file's weight-bearing layers, in order, to the model's."""
    targets = [layer for layer in model.layers if layer.weights]
    sources = [a for a in arrays if a]
    if len(sources) != len(targets):
        raise BuildProblem(f"the file has {len(sources)} layers with weights, the model {len(targets)}")
    for k, (layer, values) in enumerate(zip(targets, sources, strict=True), start=1):
        _assign(layer, values, f"weight layer {k} ({type(layer).__name__})")


def _assign(layer, values: list, label: str) -> None:
    expected = [tuple(w.shape) for w in layer.weights]
    got = [tuple(v.shape) for v in values]
    if expected != got:
        raise BuildProblem(f"{label} expects shapes {expected}, the file has {got}")
    layer.set_weights([v.astype(w.dtype) for v, w in zip(values, layer.weights, strict=True)])
    if hasattr(layer, "finalize_state"):  # an adapted Normalization computes its mean and std from these
        layer.finalize_state()  # once, as load_model has it; without this the file's statistics were ignored


def _first_weight_shape(cls: str, c: dict[str, Any], inp: tuple) -> tuple | None:
    """The shape Keras will give a layer's first weight on input ``inp`` (batch left out), for the
    layers whose weights grow with their input; None where not known (checked after building)."""
    channels = inp[0] if c.get("data_format") == "channels_first" and len(inp) > 1 else (inp[-1] if inp else None)
    if channels is None:
        return None
    cin = int(channels)
    if cls == "Dense":
        return (cin, int(c["units"]))
    if cls in ("Conv2D", "Conv1D"):
        k = _pair(c.get("kernel_size"), (3, 3)) if cls == "Conv2D" else (_one(c.get("kernel_size"), 3),)
        return (*k, cin // max(1, int(c.get("groups", 1) or 1)), int(c["filters"]))
    if cls == "Conv2DTranspose":
        return (*_pair(c.get("kernel_size"), (3, 3)), int(c["filters"]), cin)
    if cls in ("SeparableConv2D", "DepthwiseConv2D"):
        return (*_pair(c.get("kernel_size"), (3, 3)), cin, int(c.get("depth_multiplier", 1)))
    if cls in ("SimpleRNN", "LSTM", "GRU"):
        return (cin, {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}[cls] * int(c["units"]))
    return None


def build_graph(layers: list[dict[str, Any]], graph: dict[str, Any], input_shapes: list[list[int]],
                arrays: list[list] | None = None):
    """``(model, keras layer per layer index)``: a Functional model wired as ``graph`` says
    (``{"nodes": [{"layer", "inputs"}], "inputs", "outputs"}``, see :mod:`kgraph`), every model
    input of the given shape. A layer called several times is one Keras layer (shared weights).
    With the file's ``arrays``, a layer whose weights would not have the file's shapes is refused
    before Keras allocates them (a config must not make the grader allocate what no file backs)."""
    import keras

    nodes = graph["nodes"]
    if len(input_shapes) != len(graph["inputs"]):
        raise BuildProblem(f"the model has {len(graph['inputs'])} inputs, {len(input_shapes)} shapes were given")
    tensors: dict[int, Any] = {}
    inputs = []
    for k, idx in enumerate(graph["inputs"]):
        shape = input_shapes[k]
        if not shape or any(d is None for d in shape):
            raise BuildProblem(f"the input shape {shape} is not fully known")
        tensors[idx] = keras.Input(shape=tuple(int(d) for d in shape))
        inputs.append(tensors[idx])
    built: dict[int, Any] = {}
    for idx, node in enumerate(nodes):
        li = int(node["layer"])
        if li < 0:
            if idx not in tensors:
                raise BuildProblem("the graph has an input the model does not list")
            continue
        if any(int(i) not in tensors for i in node["inputs"]):
            raise BuildProblem("the graph uses a layer's output before computing it")
        args = [tensors[int(i)] for i in node["inputs"]]
        spec = layers[li]
        cls = spec["class_name"]
        label = f"layer '{spec.get('name', li)}' ({cls})"
        if cls in SKIP_AT_INFERENCE:
            tensors[idx] = args[0]
            continue
        try:
            if li not in built and arrays is not None and li < len(arrays) and arrays[li]:
                want = _first_weight_shape(cls, spec.get("config") or {}, tuple(args[0].shape)[1:])
                have = tuple(arrays[li][0].shape)
                if want is not None and want != have:
                    raise BuildProblem(f"its first weight would have shape {want} on its input of shape "
                                       f"{tuple(args[0].shape)[1:]}, the file has {have}")
            if li not in built:
                built[li] = make_layer(cls, spec.get("config") or {})
            layer = built[li]
            tensors[idx] = layer(args if cls in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
                                                 "Concatenate") else args[0])
        except BuildProblem as e:
            raise BuildProblem(f"{label}: {e}") from None
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise BuildProblem(f"{label} cannot be built: {str(e)[:200]}") from None
    outputs = [tensors[int(i)] for i in graph["outputs"]]
    # one input and one output are passed bare, so calling the model with a bare array matches
    model = keras.Model(inputs[0] if len(inputs) == 1 else inputs, outputs[0] if len(outputs) == 1 else outputs)
    return model, built


_SIZED = {"Dense": "units", "Conv1D": "filters", "Conv2D": "filters", "Conv2DTranspose": "filters",
          "SeparableConv2D": "filters", "SimpleRNN": "units", "LSTM": "units", "GRU": "units"}


def check_declared(layers: list[dict[str, Any]], arrays: list[list]) -> None:
    """Before anything is allocated: each layer's declared size agrees with the weights the file holds
    for it, and a layer that needs weights has some. A config cannot make the grader build a layer of
    a billion units that no file could back."""
    for li, spec in enumerate(layers):
        cls, cfg = spec["class_name"], spec.get("config") or {}
        key = _SIZED.get(cls)
        if key is None:
            continue
        values = arrays[li] if li < len(arrays) else []
        label = f"layer '{spec.get('name', li)}' ({cls})"
        if not values:
            raise BuildProblem(f"{label} has no weights in the file")
        declared = cfg.get(key)
        last = values[0].shape[-1] if values[0].ndim else None
        if cls in ("LSTM", "GRU"):
            last = last // (4 if cls == "LSTM" else 3) if last else last
        if cls == "Conv2DTranspose":
            last = values[0].shape[-2] if values[0].ndim >= 2 else None
        if cls == "SeparableConv2D":  # depthwise kernel first; the pointwise one says the filters
            last = values[1].shape[-1] if len(values) > 1 and values[1].ndim else None
        if not isinstance(declared, int) or declared != last:
            raise BuildProblem(f"{label} declares {key}={declared!r}, but its weights in the file have "
                               f"shapes {[tuple(v.shape) for v in values]}")


def set_graph_weights(built: dict[int, Any], layers: list[dict[str, Any]], arrays: list[list]) -> None:
    """Each built layer gets the file's weights of the same layer, every shape checked; the file may
    hold no weights that no layer takes."""
    for li, spec in enumerate(layers):
        values = arrays[li] if li < len(arrays) else []
        label = f"layer '{spec.get('name', li)}' ({spec['class_name']})"
        layer = built.get(li)
        if layer is None:
            if values and spec["class_name"] not in SKIP_AT_INFERENCE:
                raise BuildProblem(f"the file holds weights for {label}, which the model does not use")
            continue
        if not layer.weights and not values:
            continue
        if layer.weights and not values:
            raise BuildProblem(f"{label} has no weights in the file")
        _assign(layer, values, label)
