"""Read a tf.keras 2.x SavedModel as data: the Keras config from ``keras_metadata.pb`` and the weights from
the checkpoint (``variables/variables.index`` + ``variables.data-00000-of-00001``), never with TensorFlow.

The graph (``saved_model.pb``) is never read: the model is rebuilt from its Keras config, as an ``.h5`` is.
The grader hands the three files over as one uncompressed zip (:func:`grader.checks.modelfiles.pack_savedmodel`);
a student's own zip of the folder is read the same way.

Formats, each parsed with bounds (every length checked against the bytes there are):

- ``keras_metadata.pb``: protobuf ``SavedMetadata {repeated SavedObject nodes = 1}``, ``SavedObject {node_path = 3,
  identifier = 4, metadata = 5}``; the ``root`` node's metadata is JSON holding ``class_name`` and ``config``
  (tuples written ``{"class_name": "__tuple__", "items": [...]}``);
- ``variables.index``: a LevelDB-style table (48-byte footer with magic ``0xdb4775248b80fb57``, an index block of
  block handles, data blocks of prefix-compressed keys, uncompressed), mapping checkpoint keys
  (``layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE``) to ``BundleEntryProto {dtype = 1, shape = 2,
  shard_id = 3, offset = 4, size = 5}``;
- the data shard: each tensor's little-endian bytes at its offset.

``layer_with_weights-N`` is the N-th layer with weights in the config's layer order.
"""

from __future__ import annotations

import json
import math
import re
import struct
import zipfile
from typing import Any

import numpy as np

try:
    from .kerasarchive import ArchiveProblem, _member, _name, model_of
    from .kgraph import Model
except ImportError:  # inside the sandbox this folder is on sys.path, not the grader package
    from kerasarchive import ArchiveProblem, _member, _name, model_of  # type: ignore[no-redef]
    from kgraph import Model  # type: ignore[no-redef]

MAX_METADATA_BYTES = 16 * 1024**2
MAX_INDEX_BYTES = 16 * 1024**2
MAX_DATA_BYTES = 512 * 1024**2
MAX_ENTRIES = 100_000
MAX_DEPTH = 64
TABLE_MAGIC = 0xDB4775248B80FB57
DTYPES = {1: np.float32, 2: np.float64, 19: np.float16}  # TensorFlow's DT_FLOAT, DT_DOUBLE, DT_HALF
MEMBERS = ("keras_metadata.pb", "variables/variables.index", "variables/variables.data-00000-of-00001")
# Keras' weight order per layer kind, by the checkpoint's variable names
WEIGHT_ORDER = {
    "Dense": ("kernel", "bias"), "Conv1D": ("kernel", "bias"), "Conv2D": ("kernel", "bias"),
    "Conv3D": ("kernel", "bias"), "Conv2DTranspose": ("kernel", "bias"),
    "DepthwiseConv2D": ("depthwise_kernel", "bias"),
    "SeparableConv2D": ("depthwise_kernel", "pointwise_kernel", "bias"),
    "BatchNormalization": ("gamma", "beta", "moving_mean", "moving_variance"),
    "LayerNormalization": ("gamma", "beta"), "Embedding": ("embeddings",), "PReLU": ("alpha",),
}
_KEY = re.compile(r"^layer_with_weights-(\d{1,5})/([A-Za-z_]{1,40})/\.ATTRIBUTES/VARIABLE_VALUE$")


def is_savedmodel_zip(names: list[str]) -> bool:
    norm = [n.replace("\\", "/") for n in names]
    return all(any(n == m or n.endswith("/" + m) for n in norm) for m in MEMBERS)


# --------------------------------------------------------------------------- protobuf and table primitives

def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= end or shift > 63:
            raise ArchiveProblem("its checkpoint is damaged (a number runs past its end)", "damaged")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, pos


def fields(buf: bytes, start: int = 0, end: int | None = None):
    """``(field number, wire type, value)`` of one protobuf message: an int, or ``(start, end)`` of the bytes."""
    end = len(buf) if end is None else end
    pos = start
    while pos < end:
        tag, pos = _varint(buf, pos, end)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos, end)
            yield number, wire, value
        elif wire == 2:
            size, pos = _varint(buf, pos, end)
            if pos + size > end:
                raise ArchiveProblem("its checkpoint is damaged (a field runs past its end)", "damaged")
            yield number, wire, (pos, pos + size)
            pos += size
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            if pos + width > end:
                raise ArchiveProblem("its checkpoint is damaged (a field runs past its end)", "damaged")
            yield number, wire, int.from_bytes(buf[pos : pos + width], "little")
            pos += width
        else:
            raise ArchiveProblem(f"its checkpoint is damaged (protobuf wire type {wire})", "damaged")


def _block(data: bytes, offset: int, size: int) -> list[tuple[bytes, bytes]]:
    """The ``(key, value)`` entries of one table block (prefix-compressed keys; uncompressed blocks only)."""
    if offset + size + 5 > len(data) or size < 4:
        raise ArchiveProblem("its variables.index is damaged (a block outside the file)", "damaged")
    if data[offset + size] != 0:
        raise ArchiveProblem("its variables.index is compressed, which TensorFlow's checkpoints never are",
                             "damaged")
    restarts = struct.unpack_from("<I", data, offset + size - 4)[0]
    end = offset + size - 4 - 4 * restarts
    if end < offset:
        raise ArchiveProblem("its variables.index is damaged (bad restart count)", "damaged")
    out: list[tuple[bytes, bytes]] = []
    pos, key = offset, b""
    while pos < end:
        shared, pos = _varint(data, pos, end)
        fresh, pos = _varint(data, pos, end)
        vlen, pos = _varint(data, pos, end)
        if shared > len(key) or pos + fresh + vlen > end:
            raise ArchiveProblem("its variables.index is damaged (an entry runs past its block)", "damaged")
        key = key[:shared] + data[pos : pos + fresh]
        out.append((key, data[pos + fresh : pos + fresh + vlen]))
        pos += fresh + vlen
        if len(out) > MAX_ENTRIES:
            raise ArchiveProblem("its variables.index holds too many entries", "too-large")
    return out


def table(data: bytes) -> dict[str, bytes]:
    """Every ``key -> value`` of a TensorFlow table file (``variables.index``)."""
    if len(data) < 48 or int.from_bytes(data[-8:], "little") != TABLE_MAGIC:
        raise ArchiveProblem("its variables/variables.index is not a TensorFlow checkpoint index", "damaged")
    footer = data[-48:]
    _, pos = _varint(footer, 0, 40)
    _, pos = _varint(footer, pos, 40)  # the metaindex handle: unused
    index_offset, pos = _varint(footer, pos, 40)
    index_size, _ = _varint(footer, pos, 40)
    out: dict[str, bytes] = {}
    for _, handle in _block(data, index_offset, index_size):
        offset, p = _varint(handle, 0, len(handle))
        size, _ = _varint(handle, p, len(handle))
        for key, value in _block(data, offset, size):
            out[key.decode("utf-8", "replace")] = value
            if len(out) > MAX_ENTRIES:
                raise ArchiveProblem("its variables.index holds too many entries", "too-large")
    return out


def tensor(entry: bytes, shard: bytes, where: str) -> np.ndarray:
    """One variable's array from its ``BundleEntryProto`` and the data shard, every bound checked."""
    dtype, shape, shard_id, offset, size = 0, [], 0, 0, 0
    for number, wire, value in fields(entry):
        if number == 1 and wire == 0:
            dtype = value
        elif number == 2 and wire == 2:
            for dn, dw, dv in fields(entry, *value):
                if dn == 2 and dw == 2:
                    dims = [v for n, w, v in fields(entry, *dv) if n == 1 and w == 0]
                    shape.append(dims[0] if dims else 0)
        elif number == 3 and wire == 0:
            shard_id = value
        elif number == 4 and wire == 0:
            offset = value
        elif number == 5 and wire == 0:
            size = value
        elif number == 7:
            raise ArchiveProblem(f"its variable '{where}' is saved in slices; save the model whole", "damaged")
    if dtype not in DTYPES:
        raise ArchiveProblem(f"its variable '{where}' holds TensorFlow type {dtype}, not floating-point weights",
                             "damaged")
    np_type = np.dtype(DTYPES[dtype]).newbyteorder("<")
    if shard_id != 0 or len(shape) > 8 or size != math.prod(shape) * np_type.itemsize or offset + size > len(shard):
        raise ArchiveProblem(f"its variable '{where}' does not fit its data file", "damaged")
    values = np.frombuffer(shard, np_type, count=math.prod(shape), offset=offset).reshape(shape)
    return values.astype(np_type.newbyteorder("="))  # a copy in native order: the shard can be freed


# --------------------------------------------------------------------------- the Keras side

def _untuple(value: Any, depth: int = 0) -> Any:
    """tf.keras 2's metadata writes tuples ``{"class_name": "__tuple__", "items": [...]}``: plain lists here."""
    if depth > MAX_DEPTH:
        raise ArchiveProblem("its keras_metadata.pb is nested too deeply", "damaged")
    if isinstance(value, dict):
        if value.get("class_name") == "__tuple__" and set(value) == {"class_name", "items"}:
            return _untuple(value["items"], depth + 1)
        return {k: _untuple(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_untuple(v, depth + 1) for v in value]
    return value


def root_metadata(data: bytes) -> dict:
    """The JSON the ``root`` node of ``keras_metadata.pb`` holds (the model's class, config, Keras version)."""
    for number, wire, span in fields(data):
        if number != 1 or wire != 2:
            continue
        path, meta = "", None
        for n, w, v in fields(data, *span):
            if n == 3 and w == 2:
                path = data[v[0] : v[1]].decode("utf-8", "replace")
            elif n == 5 and w == 2:
                meta = (v[0], v[1])
        if path == "root" and meta is not None:
            try:
                found = json.loads(data[meta[0] : meta[1]])
            except (ValueError, RecursionError):
                raise ArchiveProblem("its keras_metadata.pb holds a model description that is not JSON",
                                     "damaged") from None
            if isinstance(found, dict):
                return found
    raise ArchiveProblem("its keras_metadata.pb has no Keras model description (a model.export or "
                         "tf.saved_model.save folder?)", "not-keras")


def _weighted_names(config: dict) -> list[tuple[str, str]]:
    """``(name, class)`` of the config's layers that own weights, in the config's order (the checkpoint's)."""
    inner = config.get("config")
    raw = inner.get("layers") if isinstance(inner, dict) else inner
    out = []
    for item in raw if isinstance(raw, list) else []:
        cls = str(item.get("class_name")) if isinstance(item, dict) else ""
        cfg = item.get("config") if isinstance(item, dict) else None
        name = str(cfg.get("name")) if isinstance(cfg, dict) else ""
        if cls in ("Sequential", "Functional", "Model"):
            raise ArchiveProblem(f"its model holds a model ('{name[:40]}') inside it, which the grader reads from "
                                 ".h5 and .keras files only", "unsupported")
        if cls in WEIGHT_ORDER:
            out.append((name, cls))
    return out


def read_savedmodel_zip(path: str) -> tuple[Model, str, list[list[np.ndarray]]]:
    """``(model, keras version, arrays per model layer)`` of a zip holding a SavedModel's three files."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > 64:
                raise ArchiveProblem(f"it is a zip of {len(infos):,} entries", "too-large")
            found = {}
            for member, limit in zip(MEMBERS, (MAX_METADATA_BYTES, MAX_INDEX_BYTES, MAX_DATA_BYTES), strict=True):
                hits = [i for i in infos if _name(i) == member or _name(i).endswith("/" + member)]
                if len(hits) != 1:
                    raise ArchiveProblem(f"it holds {len(hits)} files named {member}; one SavedModel is expected "
                                         "(saved in one shard)", "damaged")
                found[member] = _member(zf, hits[0], limit)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, RuntimeError,
            NotImplementedError) as e:
        raise ArchiveProblem(f"the zip is damaged ({type(e).__name__}: {str(e)[:120]})", "damaged") from None
    meta = _untuple(root_metadata(found[MEMBERS[0]]))
    version = meta.get("keras_version", "")
    config = {"class_name": meta.get("class_name"), "config": meta.get("config")}
    model = model_of(config)
    weighted = _weighted_names(config)
    entries = table(found[MEMBERS[1]])
    per_layer: dict[int, dict[str, bytes]] = {}
    for key, value in entries.items():
        m = _KEY.match(key)
        if m:
            per_layer.setdefault(int(m.group(1)), {})[m.group(2)] = value
    if sorted(per_layer) != list(range(len(weighted))):
        raise ArchiveProblem(f"its checkpoint holds weights of {len(per_layer)} layers, but its config has "
                             f"{len(weighted)} layers with weights", "damaged")
    by_name: dict[str, list[np.ndarray]] = {}
    for i, (name, cls) in enumerate(weighted):
        stored = per_layer[i]
        unknown = set(stored) - set(WEIGHT_ORDER[cls])
        if unknown:
            raise ArchiveProblem(f"its layer '{name[:40]}' ({cls}) holds a variable '{sorted(unknown)[0]}' the "
                                 "grader does not know", "damaged")
        by_name[name] = [tensor(stored[v], found[MEMBERS[2]], f"{name}/{v}") for v in WEIGHT_ORDER[cls]
                         if v in stored]
    return model, str(version)[:20] if isinstance(version, str) else "", [by_name.get(la.name, [])
                                                                         for la in model.layers]
