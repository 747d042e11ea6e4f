"""Write Keras ``.h5`` files with h5py exactly as old Keras versions laid them out.

Students hand in files from Keras 2.2 (Colab, 2019), tf.keras 2.x and Keras 3.
The grader must read all of them without Keras; these writers let tests and the
sample-submission script produce each layout byte-for-byte in structure,
without installing those Keras versions.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

# (layer name, [(weight name, array), ...]) in model order; layers without weights have [].
Layers = list[tuple[str, list[tuple[str, np.ndarray]]]]


def write_keras2_weights(path: Path, layers: Layers, keras_version: str = "2.2.4", varlen: bool = False) -> None:
    """``model.save_weights('weights.h5')`` in Keras 2.2 (fixed-length byte names) or
    tf.keras 2.4+ (``varlen=True``: variable-length strings, names like ``conv2d``)."""
    with h5py.File(path, "w") as f:
        _write_weight_groups(f, layers, varlen)
        _set_str(f.attrs, "backend", "tensorflow", varlen)
        _set_str(f.attrs, "keras_version", keras_version, varlen)


def write_keras2_model(
    path: Path, layers: Layers, model_config: dict, keras_version: str = "2.2.4", varlen: bool = False
) -> None:
    """``model.save('m.h5')``: ``model_config`` JSON at the root, weights under ``model_weights/``."""
    with h5py.File(path, "w") as f:
        _set_str(f.attrs, "model_config", json.dumps(model_config), varlen)
        _set_str(f.attrs, "keras_version", keras_version, varlen)
        _set_str(f.attrs, "backend", "tensorflow", varlen)
        g = f.create_group("model_weights")
        _write_weight_groups(g, layers, varlen)
        _set_str(g.attrs, "backend", "tensorflow", varlen)
        _set_str(g.attrs, "keras_version", keras_version, varlen)


def write_keras3_weights(path: Path, layers: Layers) -> None:
    """Keras 3 ``save_weights('x.weights.h5')``: ``layers/<name>/vars/<i>``."""
    with h5py.File(path, "w") as f:
        root = f.create_group("layers")
        for name, weights in layers:
            g = root.create_group(name)
            v = g.create_group("vars")
            for i, (_, arr) in enumerate(weights):
                v.create_dataset(str(i), data=arr)
        f.create_group("vars")
        f.attrs["date_saved"] = "2026-01-01@00:00:00"


def write_keras_archive(path: Path, config: dict, layers: Layers, keras_version: str = "3.2.1",
                        checkpoint_names: list[str] | None = None, windows: bool = False,
                        extra: dict[str, bytes] | None = None) -> None:
    """``model.save('m.keras')``: a zip of ``metadata.json``, ``config.json`` and ``model.weights.h5``.
    Keras 3 keeps weights in ``layers/<name>/vars/<i>``; tf.keras 2.13-2.15 (``checkpoint_names``: the
    names it gave each layer, e.g. ``dense``, ``dense_2`` for the config's ``dense``, ``dense_1``) in
    ``_layer_checkpoint_dependencies/<name>/vars``, on Windows (``windows``) with ``\\`` in group names."""
    import io
    import zipfile

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        if checkpoint_names is None:
            root = f.create_group("layers")
            for name, weights in layers:
                _vars(root.create_group(name), weights)
        else:
            top = "_layer_checkpoint_dependencies"
            root = f if windows else f.create_group(top)
            for (_, weights), name in zip(layers, checkpoint_names, strict=True):
                _vars(root.create_group(f"{top}\\{name}" if windows else name), weights)
        opt = f.create_group("optimizer").create_group("vars")
        opt.create_dataset("0", data=np.int64(3))
        f.create_group("vars")
    meta = {"keras_version": keras_version, "date_saved": "2026-01-01@00:00:00"}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("metadata.json", json.dumps(meta))
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", buf.getvalue())
        for name, data in (extra or {}).items():
            zf.writestr(name, data)


def _vars(group: h5py.Group, weights: list[tuple[str, np.ndarray]]) -> None:
    v = group.create_group("vars")
    for i, (_, arr) in enumerate(weights):
        v.create_dataset(str(i), data=arr)


def _write_weight_groups(f: h5py.Group, layers: Layers, varlen: bool) -> None:
    _set_str_list(f.attrs, "layer_names", [n for n, _ in layers], varlen)
    for name, weights in layers:
        g = f.create_group(name)
        full = [f"{name}/{w}" for w, _ in weights]
        if full:
            _set_str_list(g.attrs, "weight_names", full, varlen)
        else:
            g.attrs["weight_names"] = np.array([], dtype=np.float64)  # what Keras 2 wrote for none
        for wname, arr in zip(full, (a for _, a in weights), strict=True):
            g.create_dataset(wname, data=arr)


def _set_str(attrs, key: str, value: str, varlen: bool) -> None:
    attrs[key] = value if varlen else np.bytes_(value)


def _set_str_list(attrs, key: str, values: list[str], varlen: bool) -> None:
    if varlen:
        attrs[key] = np.array(values, dtype=h5py.string_dtype())
    else:
        attrs[key] = np.array([v.encode() for v in values])  # fixed-length |S


def course_cnn_layers(
    rng: np.random.Generator,
    tf_names: bool = False,
    dense1: int = 64,
    scale: float = 0.05,
    activation_layers: bool = True,
) -> Layers:
    """The cats-vs-dogs CNN's layers with random weights, named as Keras 2.2 or tf.keras 2.4 did.

    The course's training script (the Keras blog's) puts each activation in a
    layer of its own (``Activation('relu')``); ``activation_layers=False`` gives
    the inline ``Conv2D(..., activation='relu')`` variant.
    """
    counters: dict[str, int] = {}

    def n(base: str) -> str:
        i = counters[base] = counters.get(base, 0) + 1
        return (base if i == 1 else f"{base}_{i - 1}") if tf_names else f"{base}_{i}"

    def w(*shape):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def act() -> list:
        return [(n("activation"), [])] if activation_layers else []

    return [
        (n("conv2d"), [("kernel:0", w(3, 3, 3, 32)), ("bias:0", w(32))]), *act(),
        (n("max_pooling2d"), []),
        (n("conv2d"), [("kernel:0", w(3, 3, 32, 32)), ("bias:0", w(32))]), *act(),
        (n("max_pooling2d"), []),
        (n("conv2d"), [("kernel:0", w(3, 3, 32, 64)), ("bias:0", w(64))]), *act(),
        (n("max_pooling2d"), []),
        (n("flatten"), []),
        (n("dense"), [("kernel:0", w(18496, dense1)), ("bias:0", w(dense1))]), *act(),
        (n("dropout"), []),
        (n("dense"), [("kernel:0", w(dense1, 1)), ("bias:0", w(1))]), *act(),
    ]


def _pb_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _pb_field(number: int, value: int | bytes) -> bytes:
    if isinstance(value, int):
        return _pb_varint(number << 3) + _pb_varint(value)
    return _pb_varint(number << 3 | 2) + _pb_varint(len(value)) + value


def tf_table(entries: dict[bytes, bytes]) -> bytes:
    """A TensorFlow table file (``variables.index``): one uncompressed data block, an index block, the footer."""
    def block(items: list[tuple[bytes, bytes]]) -> bytes:
        body = b"".join(_pb_varint(0) + _pb_varint(len(k)) + _pb_varint(len(v)) + k + v for k, v in items)
        return body + (0).to_bytes(4, "little") + (1).to_bytes(4, "little")

    data = block(sorted(entries.items()))
    handle = _pb_varint(0) + _pb_varint(len(data))
    index = block([(max(entries), handle)])
    out = data + b"\0" * 5 + index + b"\0" * 5
    footer = (_pb_varint(0) + _pb_varint(0) + _pb_varint(len(data) + 5) + _pb_varint(len(index))).ljust(40, b"\0")
    return out + footer + (0xDB4775248B80FB57).to_bytes(8, "little")


def write_tf_savedmodel(folder: Path, config: dict, layers: Layers, keras_version: str = "2.12.0") -> None:
    """What tf.keras 2's ``model.save('digits')`` writes, as far as the grader reads it: ``keras_metadata.pb``
    (the root's JSON) and the checkpoint (``layer_with_weights-N/<var>``, float32), plus a stand-in graph."""
    (folder / "variables").mkdir(parents=True, exist_ok=True)
    meta = json.dumps({"class_name": config["class_name"], "config": config["config"], "keras_version": keras_version})
    node = _pb_field(2, 0) + _pb_field(3, b"root") + _pb_field(4, b"_tf_keras_sequential") + _pb_field(5, meta.encode())
    (folder / "keras_metadata.pb").write_bytes(_pb_field(1, node))
    (folder / "saved_model.pb").write_bytes(b"\x08\x01")
    shard = bytearray()
    entries = {b"": _pb_field(1, 1)}
    for i, (_, weights) in enumerate(w for w in layers if w[1]):
        for name, arr in weights:
            raw = np.ascontiguousarray(arr, "<f4").tobytes()
            shape = b"".join(_pb_field(2, _pb_field(1, d)) for d in arr.shape)
            entry = _pb_field(1, 1) + _pb_field(2, shape) + _pb_field(4, len(shard)) + _pb_field(5, len(raw))
            entries[f"layer_with_weights-{i}/{name}/.ATTRIBUTES/VARIABLE_VALUE".encode()] = entry
            shard += raw
    (folder / "variables" / "variables.index").write_bytes(tf_table(entries))
    (folder / "variables" / "variables.data-00000-of-00001").write_bytes(bytes(shard))
