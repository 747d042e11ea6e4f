"""Read a Keras ``.h5`` file with h5py alone — never with Keras — and refuse anything that carries code.

Handles the layouts students hand in:

- ``keras2-weights``: ``save_weights('weights.h5')`` in Keras 2 / tf.keras 2
  (root ``layer_names``, groups with ``weight_names``, names fixed-length bytes
  or variable-length strings, long lists chunked as ``layer_names0``, ...);
- ``keras2-model``: ``model.save('m.h5')`` (Keras 2, tf.keras 2 and Keras 3's legacy
  H5): ``model_config`` JSON and the same weights under ``model_weights/``;
- ``keras3-weights``: Keras 3 ``save_weights('x.weights.h5')``: ``layers/<name>/vars/<i>``.

The model config is checked against an allow-list of built-in layer classes,
activations, initializers and regularizers *before* anything else looks at
it; a ``Lambda`` layer, a custom class or a function anywhere is refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
MAX_LAYERS = 2000
MAX_CONFIG_CHARS = 5_000_000

SAFE_LAYERS = {
    "InputLayer", "Dense", "Conv1D", "Conv2D", "Conv3D", "SeparableConv2D", "DepthwiseConv2D", "Conv2DTranspose",
    "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D", "MaxPool2D", "AvgPool2D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
    "Flatten", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "AlphaDropout", "GaussianDropout",
    "GaussianNoise", "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "ThresholdedReLU",
    "BatchNormalization", "LayerNormalization", "Reshape", "Permute", "RepeatVector", "ZeroPadding2D",
    "Cropping2D", "UpSampling2D", "Rescaling", "Normalization", "RandomFlip", "RandomRotation", "RandomZoom",
    "RandomTranslation", "RandomContrast", "Add", "Concatenate", "Multiply", "Average", "Subtract",
    "Sequential", "Functional", "Model", "Embedding", "SimpleRNN", "LSTM", "GRU",
}
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


class H5Problem(Exception):
    """The file cannot be used; the message is for the student."""


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
class H5Info:
    format: str
    layers: list[LayerInfo]  # model order (for keras3-weights: sorted by name, see ``keras3_order``)
    keras_version: str = ""
    input_shape: list[int | None] | None = None
    model_class: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "keras_version": self.keras_version, "input_shape": self.input_shape,
                "model_class": self.model_class, "layers": [layer.to_dict() for layer in self.layers]}


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
    return str(value)


def _names(attrs, key: str) -> list[str]:
    """A list-of-names attribute, also when Keras chunked it into ``key0``, ``key1``, ..."""
    if key in attrs:
        raw = attrs[key]
        chunks = [raw]
    else:
        chunks = []
        i = 0
        while f"{key}{i}" in attrs:
            chunks.append(attrs[f"{key}{i}"])
            i += 1
    out: list[str] = []
    for chunk in chunks:
        items = chunk.tolist() if hasattr(chunk, "tolist") else list(chunk)
        if not isinstance(items, list):
            items = [items]
        out += [_text(x) for x in items]
    return out


def sniff(path: str) -> str | None:
    with open(path, "rb") as f:
        head = f.read(2048)
    for offset in (0, 512, 1024):
        if head[offset : offset + 8] == HDF5_SIGNATURE:
            return None
    if head.startswith(b"\x89PNG"):
        return "is a PNG image, not an HDF5 (.h5) file"
    if head.startswith(b"\xff\xd8\xff"):
        return "is a JPEG image, not an HDF5 (.h5) file"
    if head.startswith(b"PK"):
        return "is a zip archive (a Keras 3 .keras file?), not an HDF5 (.h5) file; save with model.save('x.h5')"
    if head.startswith(b"{"):
        return "is a JSON/text file, not an HDF5 (.h5) file"
    if not head:
        return "is empty (0 bytes)"
    return "is not an HDF5 (.h5) file"


def read_h5(path: str, with_arrays: bool = False):
    """``(H5Info, arrays)``: arrays[i] are layer i's weight arrays when ``with_arrays``."""
    import h5py

    problem = sniff(path)
    if problem:
        raise H5Problem(problem)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        msg = str(e)
        if "truncated" in msg.lower() or "eof" in msg.lower():
            raise H5Problem("is truncated (an incomplete download or copy?)") from None
        raise H5Problem(f"cannot be opened as HDF5 ({msg[:200]})") from None
    try:
        with f:
            return _read(f, with_arrays)
    except H5Problem:
        raise
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise H5Problem(f"is damaged or not a Keras file ({type(e).__name__}: {str(e)[:200]})") from None


def _read(f, with_arrays: bool):
    attrs = f.attrs
    if "model_config" in attrs:
        config_text = _text(attrs["model_config"])
        if len(config_text) > MAX_CONFIG_CHARS:
            raise H5Problem("its model_config is unreasonably large")
        try:
            config = json.loads(config_text)
        except ValueError:
            raise H5Problem("has a model_config that is not valid JSON") from None
        check_config(config)
        model_class, cfg_layers, input_shape = flatten_config(config)
        weights_group = f["model_weights"] if "model_weights" in f else f
        wlayers, arrays = _keras2_weights(weights_group, with_arrays)
        by_name = {w.name: (w, a) for w, a in zip(wlayers, arrays, strict=True)}
        layers, out_arrays = [], []
        for layer in cfg_layers:
            w, a = by_name.get(layer.name, (None, []))
            layer.weights = w.weights if w is not None else []
            layers.append(layer)
            out_arrays.append(a)
        # weights whose layer is not in the config keep their order at the end
        known = {layer.name for layer in cfg_layers}
        for w, a in zip(wlayers, arrays, strict=True):
            if w.name not in known and w.weights:
                layers.append(w)
                out_arrays.append(a)
        version = _text(attrs.get("keras_version", ""))
        return H5Info("keras2-model", layers, version, input_shape, model_class), out_arrays
    if "layer_names" in attrs or "layer_names0" in attrs:
        layers, arrays = _keras2_weights(f, with_arrays)
        for layer in layers:
            layer.class_name = infer_class(layer.weights)
        return H5Info("keras2-weights", layers, _text(attrs.get("keras_version", ""))), arrays
    if "layers" in f and hasattr(f["layers"], "keys"):
        return _keras3_weights(f, with_arrays)
    raise H5Problem("is an HDF5 file but not a Keras model or weights file (no layer_names, model_config or layers/)")


def _keras2_weights(group, with_arrays: bool):
    names = _names(group.attrs, "layer_names")
    if len(names) > MAX_LAYERS:
        raise H5Problem(f"has {len(names)} layers, over the limit of {MAX_LAYERS}")
    layers, arrays = [], []
    for name in names:
        if name not in group:
            raise H5Problem(f"lists layer '{name}' but has no group for it")
        g = group[name]
        wnames = _names(g.attrs, "weight_names") if "weight_names" in g.attrs else []
        wnames = [w for w in wnames if w]
        info = LayerInfo(name, None)
        arrs = []
        for wn in wnames:
            if wn not in g:
                raise H5Problem(f"layer '{name}' lists weight '{wn}' but does not hold it")
            ds = g[wn]
            info.weights.append((wn.split("/")[-1], tuple(int(d) for d in ds.shape)))
            if with_arrays:
                arrs.append(ds[()])
        layers.append(info)
        arrays.append(arrs)
    return layers, arrays


def _natural(name: str):
    m = re.match(r"^(.*?)(?:_(\d+))?$", name)
    return (m.group(1), int(m.group(2) or 0)) if m else (name, 0)


def _keras3_weights(f, with_arrays: bool):
    layers, arrays = [], []
    root = f["layers"]
    names = sorted(root.keys(), key=_natural)
    if len(names) > MAX_LAYERS:
        raise H5Problem(f"has {len(names)} layers, over the limit of {MAX_LAYERS}")
    for name in names:
        g = root[name]
        info = LayerInfo(name, None)
        arrs = []
        vars_ = g["vars"] if "vars" in g else None
        if vars_ is not None:
            for key in sorted(vars_.keys(), key=lambda k: int(k) if k.isdigit() else 0):
                ds = vars_[key]
                info.weights.append((key, tuple(int(d) for d in ds.shape)))
                if with_arrays:
                    arrs.append(ds[()])
        info.class_name = infer_class(info.weights) if info.weights else None
        layers.append(info)
        arrays.append(arrs)
    return H5Info("keras3-weights", layers, ""), arrays


def infer_class(weights: list[tuple[str, tuple[int, ...]]]) -> str | None:
    """The layer kind a weights-only file implies (kernel ranks tell Dense from Conv2D)."""
    if not weights:
        return None
    shapes = [s for _, s in weights]
    k = shapes[0]
    if len(k) == 4:
        return "Conv2D"
    if len(k) == 3:
        return "Conv1D"
    if len(k) == 2:
        return "Dense"
    if len(shapes) == 4 and all(len(s) == 1 for s in shapes):
        return "BatchNormalization"
    return "?"


# --------------------------------------------------------------------------- config safety

def check_config(config: Any) -> None:
    """Refuse any class or value that Keras could turn into code. Called before any other use."""
    _walk(config, "model")


def _walk(node: Any, where: str) -> None:
    if isinstance(node, dict):
        for key in node:
            if key in _CODE_KEYS:
                raise H5Problem(f"{where} contains '{key}' (code inside the model); it cannot be loaded safely")
        cls = node.get("class_name")
        if cls is not None:
            cls = str(cls)
            name = (node.get("config") or {}).get("name", "") if isinstance(node.get("config"), dict) else ""
            label = f"layer '{name}' ({cls})" if name else cls
            if cls == "Lambda":
                raise H5Problem(f"{label} is a Lambda layer: it carries Python code, so the model is not loaded")
            module = node.get("module")
            if module is not None and not (str(module) == "keras" or str(module).startswith("keras.")):
                raise H5Problem(f"{label} comes from module '{module}', not Keras; custom code is not loaded")
            registered = node.get("registered_name")
            if registered is not None and str(registered) != cls:
                raise H5Problem(f"{label} is a custom registered class '{registered}'")
            if cls not in SAFE_LAYERS and cls not in SAFE_OBJECTS:
                raise H5Problem(f"{label} is not a built-in Keras layer this grader can load safely")
        act = node.get("activation")
        if "activation" in node and not isinstance(act, (str, type(None))):
            raise H5Problem(f"{where}: a custom activation object cannot be loaded safely")
        if isinstance(act, str) and act not in SAFE_ACTIVATIONS:
            raise H5Problem(f"{where}: activation '{act}' is not a built-in Keras activation")
        for value in node.values():
            if isinstance(value, (dict, list)):
                sub = where
                if isinstance(value, dict) and isinstance(value.get("config"), dict) and value["config"].get("name"):
                    sub = f"layer '{value['config']['name']}'"
                _walk(value, sub)
    elif isinstance(node, list):
        for item in node:
            _walk(item, where)


# --------------------------------------------------------------------------- config -> layer list

_KEEP = ("units", "filters", "kernel_size", "strides", "padding", "pool_size", "activation", "rate", "use_bias",
         "target_shape", "alpha", "negative_slope", "axis", "epsilon", "momentum", "center", "scale", "dims",
         "data_format", "size", "dilation_rate", "depth_multiplier", "scale_value", "offset", "max_value",
         "threshold", "n", "input_dim", "output_dim", "return_sequences", "mean", "variance")


def flatten_config(config: dict) -> tuple[str, list[LayerInfo], list[int | None] | None]:
    """``(model class, layers in order, input shape)`` of a Sequential or a single-chain Functional model."""
    cls = config.get("class_name", "")
    cfg = config.get("config", {})
    if cls == "Sequential":
        raw = cfg["layers"] if isinstance(cfg, dict) else cfg
    elif cls in ("Functional", "Model"):
        raw = cfg.get("layers", [])
        _check_chain(raw)
    else:
        raise H5Problem(f"the model is a {cls!r}, expected a Sequential or Functional Keras model")
    if not isinstance(raw, list):
        raise H5Problem("the model's layer list is missing")
    if len(raw) > MAX_LAYERS:
        raise H5Problem(f"has {len(raw)} layers, over the limit of {MAX_LAYERS}")
    layers: list[LayerInfo] = []
    input_shape = None
    for item in raw:
        if not isinstance(item, dict):
            raise H5Problem("a layer in model_config is not a mapping")
        lcls = str(item.get("class_name"))
        lcfg = item.get("config", {}) if isinstance(item.get("config"), dict) else {}
        shape = lcfg.get("batch_input_shape") or lcfg.get("batch_shape")
        if shape is None and "input_shape" in lcfg:
            shape = [None, *lcfg["input_shape"]]
        if shape is not None and input_shape is None:
            input_shape = [None if d is None else int(d) for d in list(shape)[1:]]
        if lcls in ("Sequential", "Functional", "Model"):
            _, inner, inner_shape = flatten_config(item)
            input_shape = input_shape or inner_shape
            layers += inner
            continue
        if lcls == "InputLayer":
            continue
        kept = {k: _plain(lcfg[k]) for k in _KEEP if k in lcfg}
        layers.append(LayerInfo(str(lcfg.get("name", f"layer_{len(layers)}")), lcls, kept))
    return cls, layers, input_shape


def _plain(value: Any) -> Any:
    if isinstance(value, dict):  # Keras 3 wraps some values ({"class_name": "__tuple__", "config": ...})
        if value.get("class_name") == "__tuple__":
            return list(value.get("config", {}).get("value", []))
        return str(value.get("class_name"))
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _check_chain(raw: list) -> None:
    """A Functional model is accepted when every layer takes exactly one earlier output."""
    for item in raw:
        if not isinstance(item, dict):
            continue
        nodes = item.get("inbound_nodes", [])
        if not isinstance(nodes, list) or item.get("class_name") == "InputLayer":
            continue
        if len(nodes) > 1:
            raise H5Problem(f"layer '{item.get('name', '?')}' is used twice; only a chain of layers is supported")
        text = json.dumps(nodes)
        inputs = text.count("keras_history") or sum(1 for n in nodes for _ in (n if isinstance(n, list) else []))
        if inputs > 1:
            raise H5Problem(f"layer '{item.get('name', '?')}' has {inputs} inputs; only a chain of layers is supported")
