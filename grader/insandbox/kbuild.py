"""Build a Keras model from a plain layer list — never from a student's serialized config.

Only the fields this module names are read, each into the constructor of a
built-in layer; nothing in a file can make Keras import or run anything. The
weights are then set by order of the weight-bearing layers, with a message
naming the layer when a shape does not fit.
"""

from __future__ import annotations

from typing import Any

SKIP_AT_INFERENCE = {"RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast",
                     "GaussianNoise", "GaussianDropout", "AlphaDropout", "SpatialDropout1D", "SpatialDropout2D"}


class BuildProblem(ValueError):
    pass


def _pair(v: Any, default: tuple[int, int]) -> tuple[int, int]:
    if v is None:
        return default
    if isinstance(v, (int, float)):
        return (int(v), int(v))
    return tuple(int(x) for x in v)  # type: ignore[return-value]


def make_layer(cls: str, c: dict[str, Any]):
    import keras

    L = keras.layers
    act = c.get("activation") or "linear"
    if c.get("data_format") == "channels_first":
        raise BuildProblem(f"{cls} uses channels_first, which is not supported")
    if cls == "Dense":
        return L.Dense(int(c["units"]), activation=act, use_bias=bool(c.get("use_bias", True)))
    if cls == "Conv2D":
        return L.Conv2D(int(c["filters"]), _pair(c["kernel_size"], (3, 3)), strides=_pair(c.get("strides"), (1, 1)),
                        padding=c.get("padding", "valid"), activation=act, use_bias=bool(c.get("use_bias", True)),
                        dilation_rate=_pair(c.get("dilation_rate"), (1, 1)))
    if cls == "Conv1D":
        k = c["kernel_size"]
        return L.Conv1D(int(c["filters"]), int(k[0] if isinstance(k, list) else k), padding=c.get("padding", "valid"),
                        activation=act, use_bias=bool(c.get("use_bias", True)))
    if cls in ("MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D"):
        pool = _pair(c.get("pool_size"), (2, 2))
        strides = _pair(c.get("strides"), pool) if c.get("strides") is not None else None
        kind = L.MaxPooling2D if cls.startswith("Max") else L.AveragePooling2D
        return kind(pool, strides=strides, padding=c.get("padding", "valid"))
    if cls == "Flatten":
        return L.Flatten()
    if cls == "Dropout":
        return L.Dropout(float(c.get("rate", 0.5)))
    if cls == "Activation":
        return L.Activation(act)
    if cls == "BatchNormalization":
        axis = c.get("axis", -1)
        axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
        return L.BatchNormalization(axis=int(axis), epsilon=float(c.get("epsilon", 1e-3)),
                                    center=bool(c.get("center", True)), scale=bool(c.get("scale", True)))
    if cls == "Reshape":
        return L.Reshape(tuple(int(d) for d in c["target_shape"]))
    if cls == "GlobalAveragePooling2D":
        return L.GlobalAveragePooling2D()
    if cls == "GlobalMaxPooling2D":
        return L.GlobalMaxPooling2D()
    if cls == "ZeroPadding2D":
        pad = c.get("padding", (1, 1))
        return L.ZeroPadding2D(tuple(tuple(p) if isinstance(p, list) else p for p in pad) if isinstance(pad, list)
                               else int(pad))
    if cls == "ReLU":
        return L.ReLU(max_value=c.get("max_value"))
    if cls == "LeakyReLU":
        return L.LeakyReLU(negative_slope=float(c.get("negative_slope", c.get("alpha", 0.3))))
    if cls == "ELU":
        return L.ELU()
    if cls == "Softmax":
        return L.Softmax()
    if cls == "Rescaling":
        return L.Rescaling(float(c.get("scale", 1.0)), offset=float(c.get("offset", 0.0)))
    raise BuildProblem(f"layer type {cls} is not supported by the grader")


def build_model(layers: list[dict[str, Any]], input_shape: list[int | None]):
    """A Sequential model of ``layers`` (``{"class_name", "config"}``) on ``input_shape``."""
    import keras

    if not input_shape or any(d is None for d in input_shape):
        raise BuildProblem(f"the input shape {input_shape} is not fully known")
    model = keras.Sequential()
    model.add(keras.Input(shape=tuple(int(d) for d in input_shape)))
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
        expected = [tuple(w.shape) for w in layer.weights]
        got = [tuple(v.shape) for v in values]
        if expected != got:
            raise BuildProblem(
                f"weight layer {k} ({type(layer).__name__}) expects shapes {expected}, the file has {got}"
            )
        layer.set_weights([v.astype("float32") for v in values])
