"""Keras' built-in layers in numpy (float32, inference): for the light self-check, where Keras is not installed.

Each layer reads its config exactly as :func:`kbuild.make_layer` does (same fields, same defaults), knows
its output shape and the shapes of its weights in Keras' order from its input shape (no batch axis),
and computes what the Keras 3 layer computes at inference. Spatial layers work channels-last; a
``channels_first`` layer transposes in and out. Nothing is allocated before :meth:`Layer.call`.
"""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

try:
    from .kbuild import SKIP_AT_INFERENCE, BuildProblem, _axis, _one, _pair
    from .npact import activation, elu, keras_relu, leaky_relu, relu, softmax
except ImportError:  # inside the sandbox this folder is on sys.path, not the grader package
    from kbuild import SKIP_AT_INFERENCE, BuildProblem, _axis, _one, _pair  # type: ignore[no-redef]
    from npact import activation, elu, keras_relu, leaky_relu, relu, softmax  # type: ignore[no-redef]

F32 = np.float32
EPSILON = 1e-7  # keras.backend.epsilon()
CHUNK_BYTES = 32 * 1024**2  # one im2col matrix at most: a convolution runs over the batch in slices
# Layers the grader's Keras runs but this engine does not: the student is told to install Keras.
KERAS_ONLY = {"Conv2DTranspose", "SimpleRNN", "LSTM", "GRU"}
INSTALL_KERAS = "install Keras (pip install 'keras>=3' jax) to check it here; grading runs it"

Shape = tuple[int, ...]


class Weight:
    """What :func:`kbuild._assign` reads of a Keras weight: its shape and dtype (no values are held)."""

    def __init__(self, shape: Shape, dtype=F32):
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)


class Layer:
    merge = False

    def __init__(self, cls: str, c: dict[str, Any]):
        self.class_name = cls
        self.weights: list[Weight] = []
        self.values: list[np.ndarray] = []
        self.setup(c)

    def setup(self, c: dict[str, Any]) -> None:
        pass

    def weight_shapes(self, shape) -> list[Shape]:
        return []

    def output_shape(self, shape) -> Shape:
        return shape

    def build(self, shape) -> Shape:
        """The output shape on ``shape``; the first call fixes the weights' shapes (a shared layer's later
        calls must need the same ones, as in Keras)."""
        out = self.output_shape(shape)
        wanted = [Weight(s, d) for s, d in self.typed_shapes(shape)]
        if not self.weights:
            self.weights = wanted
        elif [w.shape for w in wanted] != [w.shape for w in self.weights]:
            raise ValueError(f"called on an input of shape {shape}, which needs weights of shapes "
                             f"{[w.shape for w in wanted]}, after being built with {[w.shape for w in self.weights]}")
        return out

    def typed_shapes(self, shape) -> list[tuple[Shape, Any]]:
        return [(s, F32) for s in self.weight_shapes(shape)]

    def set_weights(self, values: list) -> None:
        self.values = [np.asarray(v) for v in values]

    def call(self, x):
        return x


# --------------------------------------------------------------------------- helpers

def _rank(shape: Shape, n: int, cls: str) -> None:
    if len(shape) != n:
        raise ValueError(f"{cls} expects inputs of rank {n + 1} (batch included), got shape {(None, *shape)}")


def _padding(value: Any, causal: bool = False) -> str:
    padding = str(value).lower()
    if padding not in ({"valid", "same", "causal"} if causal else {"valid", "same"}):
        raise ValueError(f"padding must be 'valid' or 'same', got {value!r}")
    return padding


def _data_format(c: dict[str, Any]) -> bool:
    """True for channels_first (Keras' ``standardize_data_format``)."""
    fmt = c.get("data_format") or "channels_last"
    if fmt not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', got {fmt!r}")
    return fmt == "channels_first"


def _last(x: np.ndarray, first: bool) -> np.ndarray:
    return np.moveaxis(x, 1, -1) if first else x


def _back(x: np.ndarray, first: bool) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(x, -1, 1)) if first else x


def _shape_last(shape: Shape, first: bool) -> Shape:
    return (*shape[1:], shape[0]) if first else shape


def _shape_back(shape: Shape, first: bool) -> Shape:
    return (shape[-1], *shape[:-1]) if first else shape


def _out_size(size: int, k: int, s: int, padding: str) -> int:
    """One spatial dimension's output (``k`` the dilated window): Keras' and XLA's arithmetic."""
    if padding == "same":
        return -(-size // s)
    if padding == "causal":
        return (size - 1) // s + 1
    out = (size - k) // s + 1
    if size < k:
        raise ValueError(f"a window of {k} does not fit an input of size {size} with padding 'valid'")
    return out


def _pads(size: int, k: int, s: int, padding: str) -> tuple[int, int]:
    if padding == "causal":
        return (k - 1, 0)
    if padding != "same":
        return (0, 0)
    total = max((-(-size // s) - 1) * s + k - size, 0)
    return (total // 2, total - total // 2)


class _Spatial(Layer):
    """Conv / pooling over 1 or 2 spatial axes; 1-D layers run as 2-D of height 1."""

    rank = 2
    padding: str  # "valid", "same" or (1-D convolutions) "causal": set by each subclass's setup

    def _geometry(self, c: dict[str, Any], window_key: str, window_default) -> None:
        self.first = _data_format(c)
        if self.rank == 2:
            self.window = _pair(c.get(window_key), window_default)
            self.strides = _pair(c.get("strides"), (1, 1))
            self.dilation = _pair(c.get("dilation_rate"), (1, 1))
        else:
            self.window = (1, _one(c.get(window_key), window_default))
            self.strides = (1, _one(c.get("strides"), 1))
            self.dilation = (1, _one(c.get("dilation_rate"), 1))
        if min(self.window) <= 0 or min(self.strides) <= 0 or min(self.dilation) <= 0:
            raise ValueError(f"sizes must be positive: window {self.window}, strides {self.strides}, "
                             f"dilation {self.dilation}")
        if max(self.strides) > 1 and max(self.dilation) > 1:
            raise ValueError("`strides > 1` not supported in conjunction with `dilation_rate > 1`")

    def _spatial(self, shape: Shape) -> tuple[int, int, int]:
        _rank(shape, self.rank + 1, self.class_name)
        h, w, ch = _shape_last(shape, self.first) if self.rank == 2 else (1, *_shape_last(shape, self.first))
        return h, w, ch

    def _effective(self) -> tuple[int, int]:
        return tuple((k - 1) * d + 1 for k, d in zip(self.window, self.dilation, strict=True))  # type: ignore[return-value]

    def _out_hw(self, h: int, w: int) -> tuple[int, int]:
        kh, kw = self._effective()
        return (_out_size(h, kh, self.strides[0], self.padding), _out_size(w, kw, self.strides[1], self.padding))

    def _shape_out(self, h: int, w: int, ch: int) -> Shape:
        ho, wo = self._out_hw(h, w)
        last = (ho, wo, ch) if self.rank == 2 else (wo, ch)
        return _shape_back(last, self.first)

    def _nhwc(self, x: np.ndarray) -> np.ndarray:
        x = _last(x, self.first)
        return x[:, None] if self.rank == 1 else x

    def _from_nhwc(self, y: np.ndarray) -> np.ndarray:
        return _back(y[:, 0] if self.rank == 1 else y, self.first)

    def _padded(self, x: np.ndarray, fill: float = 0.0) -> np.ndarray:
        kh, kw = self._effective()
        ph = _pads(x.shape[1], kh, self.strides[0], self.padding)
        pw = _pads(x.shape[2], kw, self.strides[1], self.padding)
        if ph == (0, 0) and pw == (0, 0):
            return x
        return np.pad(x, ((0, 0), ph, pw, (0, 0)), constant_values=fill)

    def _windows(self, x: np.ndarray) -> np.ndarray:
        """(N, Ho, Wo, C, kh, kw) view of the padded NHWC input: one window per output position."""
        kh, kw = self._effective()
        v = sliding_window_view(x, (kh, kw), axis=(1, 2))
        return v[:, :: self.strides[0], :: self.strides[1], :, :: self.dilation[0], :: self.dilation[1]]


# --------------------------------------------------------------------------- weighted layers

class Dense(Layer):
    def setup(self, c):
        self.units = int(c["units"])
        self.act = activation(c.get("activation") or "linear")
        self.bias = bool(c.get("use_bias", True))
        if self.units <= 0:
            raise ValueError(f"units must be positive, got {self.units}")

    def weight_shapes(self, shape):
        if not shape:
            raise ValueError("Dense needs inputs of rank 2 or more")
        return [(shape[-1], self.units)] + ([(self.units,)] if self.bias else [])

    def output_shape(self, shape):
        return (*shape[:-1], self.units)

    def call(self, x):
        y = x @ self.values[0]
        if self.bias:
            y = y + self.values[1]
        return self.act(y)


class Conv(_Spatial):
    """Conv1D and Conv2D: strides, dilation, groups, padding valid/same (and causal in 1-D)."""

    def setup(self, c):
        self.rank = 1 if self.class_name == "Conv1D" else 2
        self.filters = int(c["filters"])
        self._geometry(c, "kernel_size", (3, 3) if self.rank == 2 else 3)
        self.padding = _padding(c.get("padding", "valid"), causal=self.rank == 1)
        self.groups = int(c.get("groups", 1) or 1)
        self.act = activation(c.get("activation") or "linear")
        self.bias = bool(c.get("use_bias", True))
        if self.filters <= 0 or self.groups <= 0 or self.filters % self.groups:
            raise ValueError(f"filters ({self.filters}) must be a positive multiple of groups ({self.groups})")

    def weight_shapes(self, shape):
        _, _, ch = self._spatial(shape)
        if ch % self.groups:
            raise ValueError(f"the input's {ch} channels are not a multiple of groups ({self.groups})")
        k = self.window if self.rank == 2 else self.window[1:]
        return [(*k, ch // self.groups, self.filters)] + ([(self.filters,)] if self.bias else [])

    def output_shape(self, shape):
        h, w, _ = self._spatial(shape)
        return self._shape_out(h, w, self.filters)

    def call(self, x):
        kernel = self.values[0].reshape((*self.window, *self.values[0].shape[-2:]))
        y = conv2d(self._padded(self._nhwc(x)), kernel, self, self.groups)
        if self.bias:
            y += self.values[1]
        return self.act(self._from_nhwc(y))


def conv2d(x: np.ndarray, kernel: np.ndarray, geo: _Spatial, groups: int = 1) -> np.ndarray:
    """NHWC convolution as one matrix product per slice of the batch (im2col, at most ``CHUNK_BYTES``)."""
    kh, kw, cg, filters = kernel.shape
    w = geo._windows(x)
    n, ho, wo = w.shape[:3]
    out = np.empty((n, ho, wo, filters), F32)
    fg = filters // groups
    per_image = max(1, ho * wo * cg * kh * kw * 4)
    step = max(1, CHUNK_BYTES // per_image)
    for g in range(groups):
        kmat = kernel[..., g * fg:(g + 1) * fg].transpose(2, 0, 1, 3).reshape(cg * kh * kw, fg)
        for s in range(0, n, step):
            cols = w[s:s + step, :, :, g * cg:(g + 1) * cg].reshape(-1, cg * kh * kw)
            out[s:s + step, ..., g * fg:(g + 1) * fg] = (cols @ kmat).reshape(-1, ho, wo, fg)
    return out


def depthwise(x: np.ndarray, kernel: np.ndarray, geo: _Spatial) -> np.ndarray:
    """Each channel with its own ``depth_multiplier`` kernels; output channel ``c * m + j`` as in Keras."""
    kh, kw, ch, mult = kernel.shape
    w = geo._windows(x)
    n, ho, wo = w.shape[:3]
    out = np.zeros((n, ho, wo, ch, mult), F32)
    for i in range(kh):
        for j in range(kw):
            out += w[..., i, j][..., None] * kernel[i, j]
    return out.reshape(n, ho, wo, ch * mult)


class DepthwiseConv2D(_Spatial):
    def setup(self, c):
        self._geometry(c, "kernel_size", (3, 3))
        self.padding = _padding(c.get("padding", "valid"))
        self.mult = int(c.get("depth_multiplier", 1))
        self.act = activation(c.get("activation") or "linear")
        self.bias = bool(c.get("use_bias", True))
        if self.mult <= 0:
            raise ValueError(f"depth_multiplier must be positive, got {self.mult}")

    def weight_shapes(self, shape):
        _, _, ch = self._spatial(shape)
        return [(*self.window, ch, self.mult)] + ([(ch * self.mult,)] if self.bias else [])

    def output_shape(self, shape):
        h, w, ch = self._spatial(shape)
        return self._shape_out(h, w, ch * self.mult)

    def call(self, x):
        y = depthwise(self._padded(self._nhwc(x)), self.values[0], self)
        if self.bias:
            y += self.values[1]
        return self.act(self._from_nhwc(y))


class SeparableConv2D(DepthwiseConv2D):
    def setup(self, c):
        super().setup(c)
        self.filters = int(c["filters"])
        if self.filters <= 0:
            raise ValueError(f"filters must be positive, got {self.filters}")

    def weight_shapes(self, shape):
        _, _, ch = self._spatial(shape)
        return [(*self.window, ch, self.mult), (1, 1, ch * self.mult, self.filters)] + (
            [(self.filters,)] if self.bias else [])

    def output_shape(self, shape):
        h, w, _ = self._spatial(shape)
        return self._shape_out(h, w, self.filters)

    def call(self, x):
        y = depthwise(self._padded(self._nhwc(x)), self.values[0], self)
        n, ho, wo, c = y.shape
        y = (y.reshape(-1, c) @ self.values[1].reshape(c, self.filters)).reshape(n, ho, wo, self.filters)
        if self.bias:
            y += self.values[2]
        return self.act(self._from_nhwc(y))


class Embedding(Layer):
    def setup(self, c):
        self.input_dim, self.output_dim = int(c["input_dim"]), int(c["output_dim"])
        if self.input_dim <= 0 or self.output_dim <= 0:
            raise ValueError("input_dim and output_dim must be positive")

    def weight_shapes(self, shape):
        return [(self.input_dim, self.output_dim)]

    def output_shape(self, shape):
        return (*shape, self.output_dim)

    def call(self, x):
        """``jnp.take`` of the int32-cast inputs: negative indices count from the end, others out of
        range give NaN (JAX's fill mode)."""
        table = self.values[0].astype(F32, copy=False)
        idx = np.asarray(x).astype(np.int32) if x.dtype.kind == "f" else np.asarray(x, np.int64)
        ok = (idx >= -self.input_dim) & (idx < self.input_dim)
        out = table[np.where(ok, idx, 0)]
        if not ok.all():
            out[~ok] = np.nan
        return out


# --------------------------------------------------------------------------- pooling

class Pool(_Spatial):
    def setup(self, c):
        self.rank = 1 if self.class_name.endswith("1D") else 2
        self.max = self.class_name.startswith("Max")
        self._geometry({**c, "strides": None, "dilation_rate": None}, "pool_size", (2, 2) if self.rank == 2 else 2)
        # strides default to the pool size (kbuild: None -> Keras' default)
        if c.get("strides") is not None:
            self.strides = _pair(c.get("strides"), self.window) if self.rank == 2 else (1, _one(c["strides"], 2))
        else:
            self.strides = self.window
        if min(self.strides) <= 0:
            raise ValueError(f"strides must be positive, got {self.strides}")
        self.padding = _padding(c.get("padding", "valid"))

    def output_shape(self, shape):
        h, w, ch = self._spatial(shape)
        return self._shape_out(h, w, ch)

    def call(self, x):
        x = self._nhwc(x)
        if self.max:
            y = self._windows(self._padded(x, -np.inf)).max(axis=(-2, -1))
        else:
            y = self._windows(self._padded(x, 0.0)).sum(axis=(-2, -1), dtype=F32)
            y /= self._counts(x.shape[1], x.shape[2])[None, :, :, None]
        return self._from_nhwc(np.ascontiguousarray(y, F32))

    def _counts(self, h: int, w: int) -> np.ndarray:
        """How many real (unpadded) inputs each window averages: padding is left out, as in Keras."""
        counts = []
        for size, k, s in ((h, self.window[0], self.strides[0]), (w, self.window[1], self.strides[1])):
            lo, _ = _pads(size, k, s, self.padding)
            starts = np.arange(_out_size(size, k, s, self.padding)) * s - lo
            counts.append(np.minimum(starts + k, size) - np.maximum(starts, 0))
        return np.outer(*counts).astype(F32)


class GlobalPool(Layer):
    def setup(self, c):
        self.rank = 1 if self.class_name.endswith("1D") else 2
        self.max = "Max" in self.class_name
        self.keepdims = bool(c.get("keepdims", False))
        self.first = _data_format(c)

    def _axes(self) -> tuple[int, ...]:
        start = 2 if self.first else 1
        return tuple(range(start, start + self.rank))

    def output_shape(self, shape):
        _rank(shape, self.rank + 1, self.class_name)
        ch = shape[0] if self.first else shape[-1]
        if not self.keepdims:
            return (ch,)
        return (ch, *[1] * self.rank) if self.first else (*[1] * self.rank, ch)

    def call(self, x):
        if self.max:
            return x.max(axis=self._axes(), keepdims=self.keepdims)
        return x.mean(axis=self._axes(), keepdims=self.keepdims, dtype=F32)


# --------------------------------------------------------------------------- shapes

class Flatten(Layer):
    def setup(self, c):
        self.first = _data_format(c)

    def output_shape(self, shape):
        return (math.prod(shape),)

    def call(self, x):
        if self.first and x.ndim > 2:  # Keras switches to channels-last order first
            x = np.moveaxis(x, 1, -1)
        return x.reshape(len(x), -1)


class Reshape(Layer):
    def setup(self, c):
        self.target = tuple(int(d) for d in c["target_shape"])

    def output_shape(self, shape):
        size, known = math.prod(shape), [d for d in self.target if d != -1]
        if len(known) < len(self.target) - 1 or any(d <= 0 for d in known):
            raise ValueError(f"target_shape {self.target} is not a shape")
        if len(known) < len(self.target):
            if size % max(1, math.prod(known)):
                raise ValueError(f"cannot reshape {shape} into {self.target}")
            return tuple(size // math.prod(known) if d == -1 else d for d in self.target)
        if math.prod(self.target) != size:
            raise ValueError(f"total size of the input {shape} differs from target_shape {self.target}")
        return self.target

    def call(self, x):
        return x.reshape(len(x), *self.target)


class Permute(Layer):
    def setup(self, c):
        self.dims = tuple(int(d) for d in c["dims"])

    def output_shape(self, shape):
        if sorted(self.dims) != list(range(1, len(shape) + 1)):
            raise ValueError(f"dims {self.dims} are not a permutation of 1..{len(shape)}")
        return tuple(shape[d - 1] for d in self.dims)

    def call(self, x):
        return np.ascontiguousarray(np.transpose(x, (0, *self.dims)))


class RepeatVector(Layer):
    def setup(self, c):
        self.n = int(c["n"])

    def output_shape(self, shape):
        _rank(shape, 1, "RepeatVector")
        return (self.n, shape[0])

    def call(self, x):
        return np.repeat(x[:, None, :], self.n, axis=1)


def _two_pairs(value: Any, name: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """ZeroPadding2D / Cropping2D amounts: an int, (h, w) or ((top, bottom), (left, right))."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return ((int(value),) * 2, (int(value),) * 2)
    if isinstance(value, (list, tuple)) and len(value) == 2:
        if all(isinstance(v, (list, tuple)) for v in value):
            (a, b), (c, d) = value
            return ((int(a), int(b)), (int(c), int(d)))
        return ((int(value[0]),) * 2, (int(value[1]),) * 2)
    raise ValueError(f"{name} must be an int, 2 ints or 2 pairs of ints, got {value!r}")


class ZeroPadding2D(Layer):
    def setup(self, c):
        self.first = _data_format(c)
        self.pad = _two_pairs(c.get("padding", (1, 1)), "padding")
        if min(min(p) for p in self.pad) < 0:
            raise ValueError(f"padding must not be negative, got {self.pad}")

    def output_shape(self, shape):
        _rank(shape, 3, "ZeroPadding2D")
        h, w, ch = _shape_last(shape, self.first)
        return _shape_back((h + sum(self.pad[0]), w + sum(self.pad[1]), ch), self.first)

    def call(self, x):
        return _back(np.pad(_last(x, self.first), ((0, 0), *self.pad, (0, 0))), self.first)


class Cropping2D(Layer):
    def setup(self, c):
        self.first = _data_format(c)
        self.crop = _two_pairs(c.get("cropping", ((0, 0), (0, 0))), "cropping")
        if min(min(p) for p in self.crop) < 0:
            raise ValueError(f"cropping must not be negative, got {self.crop}")

    def output_shape(self, shape):
        _rank(shape, 3, "Cropping2D")
        h, w, ch = _shape_last(shape, self.first)
        ho, wo = h - sum(self.crop[0]), w - sum(self.crop[1])
        if ho <= 0 or wo <= 0:
            raise ValueError(f"cropping {self.crop} leaves nothing of an input of shape {shape}")
        return _shape_back((ho, wo, ch), self.first)

    def call(self, x):
        (top, bottom), (left, right) = self.crop
        y = _last(x, self.first)
        return _back(np.ascontiguousarray(y[:, top:y.shape[1] - bottom, left:y.shape[2] - right]), self.first)


class UpSampling2D(Layer):
    def setup(self, c):
        self.first = _data_format(c)
        self.size = _pair(c.get("size"), (2, 2))
        self.interpolation = str(c.get("interpolation", "nearest"))
        if self.interpolation != "nearest":
            raise BuildProblem(f"this model uses UpSampling2D with {self.interpolation!r} interpolation, which the "
                               f"light self-check cannot run: {INSTALL_KERAS}")
        if min(self.size) <= 0:
            raise ValueError(f"size must be positive, got {self.size}")

    def output_shape(self, shape):
        _rank(shape, 3, "UpSampling2D")
        h, w, ch = _shape_last(shape, self.first)
        return _shape_back((h * self.size[0], w * self.size[1], ch), self.first)

    def call(self, x):
        y = _last(x, self.first)
        y = np.repeat(np.repeat(y, self.size[0], axis=1), self.size[1], axis=2)
        return _back(y, self.first)


# --------------------------------------------------------------------------- activations and normalization

class Activation(Layer):
    def setup(self, c):
        self.act = activation(c.get("activation") or "linear")

    def call(self, x):
        return self.act(x)


class ReLU(Layer):
    def setup(self, c):
        self.args: tuple[float, float | None, float]  # negative_slope, max_value, threshold
        if self.class_name == "ThresholdedReLU":  # kbuild: ReLU(threshold=theta)
            self.args = (0.0, None, float(c.get("theta", 1.0)))
        else:
            max_value = c.get("max_value")
            self.args = (float(c.get("negative_slope", 0.0) or 0.0),
                         None if max_value is None else float(max_value), float(c.get("threshold", 0.0) or 0.0))
        if self.args[1] is not None and self.args[1] < 0:
            raise ValueError(f"max_value of a ReLU must be >= 0, got {self.args[1]}")
        if self.args[0] < 0 or self.args[2] < 0:
            raise ValueError(f"negative_slope and threshold of a ReLU must be >= 0, got {self.args[0]}, {self.args[2]}")

    def call(self, x):
        return keras_relu(x, *self.args)


class LeakyReLU(Layer):
    def setup(self, c):
        self.slope = float(c.get("negative_slope", c.get("alpha", 0.3)))

    def call(self, x):
        return leaky_relu(x, self.slope)


class ELU(Layer):
    def setup(self, c):
        self.alpha = float(c.get("alpha", 1.0))

    def call(self, x):
        return elu(x, self.alpha)


class PReLU(Layer):
    def setup(self, c):
        axes = c.get("shared_axes")
        self.shared = [int(a) for a in axes] if axes else []

    def weight_shapes(self, shape):
        alpha = list(shape)
        for a in self.shared:
            if not 1 <= a <= len(shape):
                raise ValueError(f"shared_axes {self.shared} do not fit an input of shape {shape}")
            alpha[a - 1] = 1
        return [tuple(alpha)]

    def call(self, x):
        return relu(x) - self.values[0] * relu(-x)


class Softmax(Layer):
    def setup(self, c):
        self.axis = _axis(c.get("axis", -1))

    def output_shape(self, shape):
        _check_axis(self.axis, shape)
        return shape

    def call(self, x):
        return softmax(x, axis=self.axis)


def _check_axis(axis: int, shape: Shape) -> int:
    """``axis`` counted with the batch axis, as non-negative; a bad one is refused as Keras does."""
    ndim = len(shape) + 1
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for inputs of shape {(None, *shape)}")
    a = axis % ndim
    if a == 0:
        raise ValueError("normalizing over the batch axis is not supported")
    return a


def _along(v: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    shape = [1] * ndim
    shape[axis] = -1
    return v.reshape(shape)


class BatchNormalization(Layer):
    def setup(self, c):
        self.axis = _axis(c.get("axis", -1))
        self.eps = float(c.get("epsilon", 1e-3))
        self.center, self.scale = bool(c.get("center", True)), bool(c.get("scale", True))

    def weight_shapes(self, shape):
        ch = (shape[_check_axis(self.axis, shape) - 1],)
        return [ch] * (int(self.scale) + int(self.center) + 2)

    def call(self, x):
        """``ops.batch_normalization`` with the moving statistics: ``x * inv + (beta - mean * inv)``."""
        a = self.axis % x.ndim
        vals = list(self.values)
        gamma = vals.pop(0) if self.scale else None
        beta = vals.pop(0) if self.center else None
        mean, var = vals
        inv = (1.0 / np.sqrt(var.astype(F32) + F32(self.eps))).astype(F32)
        if gamma is not None:
            inv = inv * gamma
        res = -mean * inv
        if beta is not None:
            res = res + beta
        return x * _along(inv, a, x.ndim) + _along(res.astype(F32), a, x.ndim)


class LayerNormalization(Layer):
    def setup(self, c):
        self.axis = _axis(c.get("axis", -1))
        self.eps = float(c.get("epsilon", 1e-3))
        self.center, self.scale = bool(c.get("center", True)), bool(c.get("scale", True))

    def weight_shapes(self, shape):
        ch = (shape[_check_axis(self.axis, shape) - 1],)
        return [ch] * (int(self.scale) + int(self.center))

    def call(self, x):
        a = self.axis % x.ndim
        mean = x.mean(axis=a, keepdims=True, dtype=F32)
        var = np.square(x - mean).mean(axis=a, keepdims=True, dtype=F32)
        inv = F32(1) / np.sqrt(var + F32(self.eps))
        vals = list(self.values)
        if self.scale:
            inv = inv * _along(vals.pop(0), a, x.ndim)
        res = -mean * inv
        if self.center:
            res = res + _along(vals.pop(0), a, x.ndim)
        return x * inv + res


class Normalization(Layer):
    """``(x - mean) / max(sqrt(variance), 1e-7)``: the config's mean and variance, else the adapted ones
    from the file (as ``keras.models.load_model`` restores them: ``finalize_state`` after loading)."""

    def setup(self, c):
        self.axis = _axis(c.get("axis", -1))
        self.invert = bool(c.get("invert", False))
        mean, variance = c.get("mean"), c.get("variance")
        self.given = None
        if mean is not None and variance is not None:
            self.given = (np.asarray(mean, F32), np.asarray(variance, F32))
            if self.given[0].shape != self.given[1].shape or self.given[0].ndim > 1:
                raise ValueError(f"mean and variance must have one shape of rank 0 or 1, got "
                                 f"{self.given[0].shape} and {self.given[1].shape}")

    def typed_shapes(self, shape):
        ch = shape[_check_axis(self.axis, shape) - 1]
        if self.given is not None:
            if self.given[0].ndim and self.given[0].shape[0] not in (1, ch):
                raise ValueError(f"mean of shape {self.given[0].shape} does not broadcast to {ch} values")
            return []
        return [((ch,), F32), ((ch,), F32), ((), np.int64)]

    def call(self, x):
        a = self.axis % x.ndim
        mean, var = self.given if self.given is not None else self.values[:2]
        shape = [1] * x.ndim
        shape[a] = x.shape[a]
        mean = np.broadcast_to(np.asarray(mean, F32).reshape(-1 if np.ndim(mean) else 1), (shape[a],)).reshape(shape)
        var = np.broadcast_to(np.asarray(var, F32).reshape(-1 if np.ndim(var) else 1), (shape[a],)).reshape(shape)
        std = np.maximum(np.sqrt(var), F32(EPSILON))
        return mean + x * std if self.invert else (x - mean) / std


class Rescaling(Layer):
    def setup(self, c):
        self.scale, self.offset = F32(float(c.get("scale", 1.0))), F32(float(c.get("offset", 0.0)))

    def call(self, x):
        return x * self.scale + self.offset


# --------------------------------------------------------------------------- merges

class Merge(Layer):
    merge = True

    def setup(self, c):
        self.axis = int(c.get("axis", -1)) if self.class_name == "Concatenate" else None

    def output_shape(self, shapes):
        if not isinstance(shapes, list) or not shapes:
            raise ValueError(f"{self.class_name} must be called on a list of tensors")
        if self.class_name == "Subtract" and len(shapes) != 2:
            raise ValueError(f"Subtract takes exactly 2 inputs, got {len(shapes)}")
        if self.class_name == "Concatenate":
            ranks = {len(s) for s in shapes}
            if len(ranks) != 1:
                raise ValueError(f"Concatenate needs inputs of one rank, got shapes {shapes}")
            a = _check_axis(cast(int, self.axis), shapes[0]) - 1  # setup gives Concatenate an int axis
            rest = {tuple(d for i, d in enumerate(s) if i != a) for s in shapes}
            if len(rest) != 1:
                raise ValueError(f"Concatenate needs matching shapes except along axis {self.axis}, got {shapes}")
            return tuple(sum(s[a] for s in shapes) if i == a else d for i, d in enumerate(shapes[0]))
        try:
            return tuple(np.broadcast_shapes(*shapes))
        except ValueError:
            raise ValueError(f"{self.class_name} cannot combine inputs of shapes {shapes}") from None

    def call(self, xs):
        cls = self.class_name
        if cls == "Concatenate":
            return np.concatenate(xs, axis=self.axis)
        if cls == "Subtract":
            return xs[0] - xs[1]
        op = {"Add": np.add, "Average": np.add, "Multiply": np.multiply, "Maximum": np.maximum,
              "Minimum": np.minimum}[cls]
        y = xs[0]
        for other in xs[1:]:
            y = op(y, other)
        return y / F32(len(xs)) if cls == "Average" else y


LAYERS: dict[str, type[Layer]] = {
    "Dense": Dense, "Conv1D": Conv, "Conv2D": Conv, "DepthwiseConv2D": DepthwiseConv2D,
    "SeparableConv2D": SeparableConv2D, "Embedding": Embedding,
    **{k: Pool for k in ("MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D", "MaxPooling1D", "MaxPool1D",
                         "AveragePooling1D", "AvgPool1D")},
    **{k: GlobalPool for k in ("GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling1D",
                               "GlobalMaxPooling1D")},
    "Flatten": Flatten, "Reshape": Reshape, "Permute": Permute, "RepeatVector": RepeatVector,
    "ZeroPadding2D": ZeroPadding2D, "Cropping2D": Cropping2D, "UpSampling2D": UpSampling2D,
    "Activation": Activation, "ReLU": ReLU, "ThresholdedReLU": ReLU, "LeakyReLU": LeakyReLU, "ELU": ELU,
    "PReLU": PReLU, "Softmax": Softmax, "BatchNormalization": BatchNormalization,
    "LayerNormalization": LayerNormalization, "Normalization": Normalization, "Rescaling": Rescaling,
    **{k: Merge for k in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate")},
}


def make_layer(cls: str, c: dict[str, Any]) -> Layer:
    """The layer ``cls`` of config ``c``; one the grader's Keras runs but this engine does not is refused
    with what to install, one neither runs with kbuild's words."""
    if cls in KERAS_ONLY:
        raise BuildProblem(f"this model uses {cls}, which the light self-check cannot run: {INSTALL_KERAS}")
    if cls in SKIP_AT_INFERENCE or cls not in LAYERS:
        raise BuildProblem(f"layer type {cls} is not supported by the grader")
    return LAYERS[cls](cls, c)
