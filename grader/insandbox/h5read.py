"""Read a Keras ``.h5`` file with h5py alone — never with Keras — and refuse anything that carries code
or reaches outside the file.

Handles the layouts students hand in:

- ``keras2-weights``: ``save_weights('weights.h5')`` in Keras 1.x / 2 / tf.keras 2
  (root ``layer_names``, groups with ``weight_names``, names fixed-length bytes
  or variable-length strings, long lists chunked as ``layer_names0``, ...);
- ``keras2-model``: ``model.save('m.h5')`` (Keras 2, tf.keras 2 and Keras 3's legacy
  H5): ``model_config`` JSON (Sequential or Functional, see :mod:`kgraph`) and the same
  weights under ``model_weights/``;
- ``keras3-weights``: Keras 3 ``save_weights('x.weights.h5')``: ``layers/<name>/vars/<i>``.

Everything else gets a message saying what the file is and what to hand in instead
(Keras 0.x weights, Keras 1.x models, a ``.keras`` zip renamed, a zipped SavedModel,
PyTorch, pickles, NumPy arrays, a Git LFS pointer, a web page...).

Order of trust: the bytes are sniffed first; the HDF5 structure is then walked
(metadata only) and external storage, external or soft links, virtual datasets, user
blocks and unknown filters are refused before a single dataset is read; the model
config is checked against an allow-list before anything else looks at it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any

try:
    from .kerasarchive import (
        ArchiveProblem,
        assign,
        is_keras_archive,
        layer_weights,
        model_of,
        open_weights,
        read_members,
    )
    from .kerasarchive import weight_groups as archive_groups
    from .kgraph import (
        MAX_LAYERS,
        SAFE_ACTIVATIONS,
        SAFE_LAYERS,
        SAFE_OBJECTS,
        ConfigProblem,
        Graph,
        LayerInfo,
        check_config,
        parse_model,
    )
    from .lfs import lfs_pointer
    from .savedmodel import is_savedmodel_zip, read_savedmodel_zip
except ImportError:  # inside the sandbox this folder is on sys.path, not the grader package
    from kerasarchive import (  # type: ignore[no-redef]
        ArchiveProblem,
        assign,
        is_keras_archive,
        layer_weights,
        model_of,
        open_weights,
        read_members,
    )
    from kerasarchive import weight_groups as archive_groups  # type: ignore[no-redef]
    from kgraph import (  # type: ignore[no-redef]
        MAX_LAYERS,
        SAFE_ACTIVATIONS,
        SAFE_LAYERS,
        SAFE_OBJECTS,
        ConfigProblem,
        Graph,
        LayerInfo,
        check_config,
        parse_model,
    )
    from lfs import lfs_pointer  # type: ignore[no-redef]
    from savedmodel import is_savedmodel_zip, read_savedmodel_zip  # type: ignore[no-redef]

__all__ = ["H5Info", "H5Problem", "LayerInfo", "SAFE_ACTIVATIONS", "SAFE_LAYERS", "SAFE_OBJECTS", "check_config",
           "infer_class", "read_h5", "sniff"]

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
MAX_CONFIG_CHARS = 5_000_000
MAX_OBJECTS = 100_000  # groups, datasets and links walked before anything is read
MAX_WEIGHT_BYTES = 512 * 1024**2  # the course CNN holds 5 MB; the model server has 6 GiB for everything
# HDF5 filters built into the library and h5py; any other id would make HDF5 look for a plugin.
SAFE_FILTERS = {1: "deflate", 2: "shuffle", 3: "fletcher32", 4: "szip", 5: "nbit", 6: "scaleoffset", 32000: "lzf"}


class H5Problem(Exception):
    """The file cannot be used; the message is for the student. ``kind`` names what was found."""

    def __init__(self, message: str, kind: str = "unusable"):
        super().__init__(message)
        self.kind = kind


@dataclass
class H5Info:
    format: str
    layers: list[LayerInfo]  # model order (for keras3-weights: sorted by name, see ``_keras3_weights``)
    keras_version: str = ""
    input_shape: list[int | None] | None = None
    model_class: str = ""
    graph: Graph | None = None  # full models only: how the layers are connected
    container: str = "h5"  # or "keras": a .keras archive (zip), whatever its name


    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": self.format, "keras_version": self.keras_version,
                               "input_shape": self.input_shape, "model_class": self.model_class,
                               "layers": [layer.to_dict() for layer in self.layers], "container": self.container}
        if self.graph is not None:
            out["graph"] = self.graph.to_dict()
            out["input_shapes"] = [self.graph.nodes[i].shape for i in self.graph.inputs]
            out["outputs"] = len(self.graph.outputs)
            out["branched"] = not self.graph.is_chain()
        return out


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
        while f"{key}{i}" in attrs and i < MAX_LAYERS:
            chunks.append(attrs[f"{key}{i}"])
            i += 1
    out: list[str] = []
    for chunk in chunks:
        items = chunk.tolist() if hasattr(chunk, "tolist") else list(chunk)
        if not isinstance(items, list):
            items = [items]
        out += [_text(x) for x in items]
    return out


def _shown(name: str, limit: int = 60) -> str:
    text = "".join(ch if ch.isprintable() else "?" for ch in str(name))
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- what the bytes are

def advice(want: str, label: str) -> str:
    """What to hand in instead, for a file named ``label`` that should hold a model or weights."""
    name = os.path.basename(label) or "model.h5"
    if want == "weights":
        return f"save the trained weights with model.save_weights('{name}') (or the whole model with model.save)"
    return f"save the whole trained model with model.save('{name}') (Keras 2 or 3)"


def sniff(path: str, want: str = "model", label: str = "") -> H5Problem | None:
    """None for an HDF5 file; otherwise what the file is instead, with what to hand in."""
    with open(path, "rb") as f:
        head = f.read(4096)
    todo = advice(want, label or path)
    if head[:8] == HDF5_SIGNATURE:
        return None
    for offset in (512, 1024, 2048):
        if head[offset : offset + 8] == HDF5_SIGNATURE:
            return H5Problem(f"has {offset} bytes of other data before its HDF5 content (an HDF5 user block); "
                             f"the grader reads plain HDF5 files only: {todo}", "userblock")
    if not head:
        return H5Problem("is empty (0 bytes)", "empty")
    if head.startswith(b"\x89PNG"):
        return H5Problem("is a PNG image, not an HDF5 (.h5) file", "image")
    if head.startswith(b"\xff\xd8\xff"):
        return H5Problem("is a JPEG image, not an HDF5 (.h5) file", "image")
    if head.startswith(b"%PDF"):
        return H5Problem("is a PDF document, not an HDF5 (.h5) file", "pdf")
    if head.startswith(b"PK"):
        return _sniff_zip(path, todo)
    if head.startswith(b"\x93NUMPY"):
        return H5Problem(f"is a NumPy .npy array (numbers only, no model), not a Keras HDF5 (.h5) file; {todo}", "npy")
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        if head.startswith(b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"):
            return H5Problem("is a PyTorch file (torch.save, legacy format), not a Keras model; this question needs "
                             f"a Keras model: {todo}", "pytorch")
        return H5Problem("is a Python pickle (pickle.dump or joblib), not an HDF5 (.h5) file; pickles can run code "
                         f"when opened, so the grader never opens them: {todo}", "pickle")
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    pointer = lfs_pointer(head)
    if pointer:
        return H5Problem(pointer, "git-lfs")
    low = text[:512].lower()
    if low.startswith((b"<!doctype html", b"<html")) or b"<html" in low[:200]:
        return H5Problem("is a web page (HTML), not an HDF5 (.h5) file: it was probably saved from a browser page "
                         "instead of downloaded; download the file itself (e.g. GitHub's 'Download raw file')", "html")
    if text.startswith(b"{"):
        if b'"modelTopology"' in head:
            return H5Problem(f"is a TensorFlow.js model.json, not a Keras HDF5 (.h5) file; {todo}", "tfjs")
        if b'"class_name"' in head and b'"config"' in head:
            return H5Problem("is a Keras model architecture in JSON (model.to_json()) without any weights; "
                             f"{todo}", "json-architecture")
        return H5Problem("is a JSON/text file, not an HDF5 (.h5) file", "text")
    if head[:1] == b"\x08" and (b"onnx" in head[:128].lower() or b"pytorch" in head[:128]):
        return H5Problem(f"is an ONNX model, not a Keras HDF5 (.h5) file; {todo}", "onnx")
    return H5Problem("is not an HDF5 (.h5) file", "unknown")


def _sniff_zip(path: str, todo: str) -> H5Problem:
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()[:10_000]
    except (zipfile.BadZipFile, OSError, ValueError, RuntimeError, NotImplementedError):
        return H5Problem("is a damaged zip archive, not an HDF5 (.h5) file", "zip")
    base = {n.replace("\\", "/").rsplit("/", 1)[-1] for n in names}
    if is_savedmodel_zip(names):
        return H5Problem("is a TensorFlow SavedModel of tf.keras 2 (keras_metadata.pb and variables/)", "keras-saved")
    if is_keras_archive(names):
        return H5Problem("is a .keras archive (a zip of config.json and model.weights.h5)", "keras-zip")
    if "saved_model.pb" in base or "saved_model.pbtxt" in base:
        return H5Problem("is a zipped TensorFlow SavedModel folder (saved_model.pb), not a Keras HDF5 (.h5) file; "
                         f"the grader does not run TensorFlow graphs: {todo}", "savedmodel")
    if "data.pkl" in base or any(n.endswith("/data.pkl") for n in names):
        return H5Problem("is a PyTorch file (torch.save), not a Keras model; this question needs a Keras model: "
                         f"{todo}", "pytorch")
    if names and all(n.endswith(".npy") for n in names):
        return H5Problem(f"is a NumPy .npz archive (arrays only, no model), not a Keras HDF5 (.h5) file; {todo}",
                         "npz")
    inner = [n for n in names if n.lower().endswith((".h5", ".hdf5", ".keras"))]
    if inner:
        return H5Problem(f"is a zip archive holding '{_shown(inner[0])}'; hand in that file itself, not zipped",
                         "zip")
    return H5Problem("is a zip archive, not an HDF5 (.h5) file", "zip")


# --------------------------------------------------------------------------- the HDF5 must stay inside itself

def check_self_contained(f) -> None:
    """Refuse, from metadata alone, every HDF5 feature that makes reading data touch another file:
    external storage, external links (and soft/user-defined links, which Keras never writes),
    virtual datasets, and filters HDF5 would load as plugins. Also a user block."""
    import h5py

    if f.userblock_size:
        raise H5Problem(f"has {f.userblock_size} bytes of other data before its HDF5 content (an HDF5 user block); "
                        "the grader reads plain HDF5 files only", "userblock")
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[str, Any]] = [("", f)]
    count = 0
    while stack:
        path, group = stack.pop()
        for name in group.id.__iter__():  # link names, read from the group's metadata
            count += 1
            if count > MAX_OBJECTS:
                raise H5Problem(f"holds more than {MAX_OBJECTS:,} HDF5 objects, over the limit", "too-large")
            text = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
            where = f"{path}/{text}"
            kind = group.id.links.get_info(name).type
            if kind == h5py.h5l.TYPE_EXTERNAL:
                raise H5Problem(f"'{_shown(where)}' is an external link to another file; the grader reads only what "
                                "is inside the file handed in", "external-link")
            if kind == h5py.h5l.TYPE_SOFT:
                raise H5Problem(f"'{_shown(where)}' is a soft link; Keras never writes links, and the grader reads "
                                "plain groups and datasets only", "soft-link")
            if kind != h5py.h5l.TYPE_HARD:
                raise H5Problem(f"'{_shown(where)}' is a user-defined HDF5 link; the grader reads plain groups and "
                                "datasets only", "link")
            oid = h5py.h5o.open(group.id, name)
            info = h5py.h5o.get_info(oid)
            key = (info.fileno, info.addr)
            if key in seen:
                continue
            seen.add(key)
            if info.type == h5py.h5o.TYPE_DATASET:
                _check_dataset(oid, where)
            elif info.type == h5py.h5o.TYPE_GROUP:
                stack.append((where, h5py.Group(oid)))


def _check_dataset(dsid, where: str) -> None:
    import h5py

    dcpl = dsid.get_create_plist()
    if dcpl.get_layout() == h5py.h5d.VIRTUAL:
        raise H5Problem(f"'{_shown(where)}' is a virtual dataset (its data live in other files); the grader reads "
                        "only what is inside the file handed in", "virtual-dataset")
    if dcpl.get_external_count() > 0:
        raise H5Problem(f"'{_shown(where)}' keeps its data in an external file (HDF5 external storage); the grader "
                        "reads only what is inside the file handed in", "external-storage")
    for i in range(dcpl.get_nfilters()):
        fid = dcpl.get_filter(i)[0]
        if fid not in SAFE_FILTERS:
            raise H5Problem(f"'{_shown(where)}' is compressed with HDF5 filter {fid}, which is not built in; save "
                            "the file with Keras' defaults", "filter")


# --------------------------------------------------------------------------- reading

def read_h5(path: str, with_arrays: bool = False, want: str = "model", label: str = ""):
    """``(H5Info, arrays)``: arrays[i] are layer i's weight arrays when ``with_arrays``."""
    import h5py

    problem = sniff(path, want, label)
    if problem and problem.kind == "keras-zip":
        return read_keras(path, with_arrays, want, label)
    if problem and problem.kind == "keras-saved":
        return read_keras(path, with_arrays, want, label, savedmodel=True)
    if problem:
        raise problem
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        msg = str(e)
        if "truncated" in msg.lower() or "eof" in msg.lower():
            raise H5Problem("is truncated (an incomplete download or copy?)", "truncated") from None
        if "driver" in msg.lower():
            raise H5Problem("is one part of a multi-file HDF5 set (split or family driver); the grader reads single "
                            f"self-contained files only: {advice(want, label or path)}", "multi-file") from None
        raise H5Problem(f"cannot be opened as HDF5 ({msg[:200]})", "damaged") from None
    try:
        with f:
            check_self_contained(f)
            return _read(f, with_arrays, want, label or path)
    except H5Problem:
        raise
    except ConfigProblem as e:
        raise H5Problem(str(e), "config") from None
    except RecursionError:
        raise H5Problem("is nested too deeply to be a Keras file", "damaged") from None
    except MemoryError:
        raise H5Problem("is too large to read within the memory limit", "too-large") from None
    except (OSError, KeyError, ValueError, TypeError, IndexError, AttributeError) as e:
        raise H5Problem(f"is damaged or not a Keras file ({type(e).__name__}: {str(e)[:200]})", "damaged") from None


def read_keras(path: str, with_arrays: bool = False, want: str = "model", label: str = "",
               savedmodel: bool = False):
    """``(H5Info, arrays)`` of a ``.keras`` archive (:mod:`kerasarchive`), read with the ``.h5`` rules, or of
    a zipped tf.keras SavedModel (:mod:`savedmodel`)."""
    import h5py

    todo = advice(want, label or path)
    what = "is a .keras archive (a zip of config.json and model.weights.h5)"
    if savedmodel:
        what = "is a TensorFlow SavedModel"
    try:
        if savedmodel:
            model, version, arrays = read_savedmodel_zip(path)
            what = f"is a TensorFlow SavedModel of Keras {_shown(version, 20)}" if version else what
            for layer, values in zip(model.layers, arrays, strict=True):
                layer.weights = [(str(i), tuple(int(d) for d in a.shape)) for i, a in enumerate(values)]
            if not with_arrays:
                arrays = [[] for _ in model.layers]
            return H5Info("keras2-model", model.layers, version, model.input_shape, model.model_class, model.graph,
                          "savedmodel"), arrays
        config, version, data = read_members(path)
        what = f"is a .keras archive of Keras {_shown(version, 20)}" if version else what
        model = model_of(config)
        with open_weights(data) as f:
            check_self_contained(f)
            datasets = assign(model, archive_groups(f, h5py.Group))
            layer_weights(model.layers, datasets)
            budget = [0]
            arrays = [[_read_dataset(ds, f"{layer.name}/{i}", budget) for i, ds in enumerate(items)]
                      if with_arrays else [] for layer, items in zip(model.layers, datasets, strict=True)]
    except (ArchiveProblem, ConfigProblem) as e:
        kind = e.kind if isinstance(e, ArchiveProblem) else "config"
        raise H5Problem(f"{what}, but {e}; {todo}", kind) from None
    except H5Problem as e:
        raise H5Problem(f"{what}, but its model.weights.h5 {e}", e.kind) from None
    except RecursionError:
        raise H5Problem(f"{what}, nested too deeply to be read", "damaged") from None
    except MemoryError:
        raise H5Problem(f"{what}, too large to read within the memory limit", "too-large") from None
    except (OSError, KeyError, ValueError, TypeError, IndexError, AttributeError) as e:
        raise H5Problem(f"{what}, but it is damaged ({type(e).__name__}: {str(e)[:200]}); {todo}",
                        "damaged") from None
    return H5Info("keras2-model", model.layers, version, model.input_shape, model.model_class, model.graph,
                  "keras"), arrays


def _old_version(version: str) -> bool:
    return bool(re.match(r"^[01]\.", version))


def _read(f, with_arrays: bool, want: str, label: str):
    attrs = f.attrs
    version = _text(attrs.get("keras_version", ""))
    if "model_config" in attrs:
        config_text = _text(attrs["model_config"])
        if len(config_text) > MAX_CONFIG_CHARS:
            raise H5Problem("its model_config is unreasonably large", "too-large")
        if _old_version(version):
            raise H5Problem(f"is an old Keras {_shown(version, 12)} model file; the grader reads files of Keras 2 and "
                            f"3: load it with Keras 2 and {advice(want, label)}", "keras1-model")
        try:
            config = json.loads(config_text)
        except ValueError:
            raise H5Problem("has a model_config that is not valid JSON", "damaged") from None
        try:
            check_config(config)
        except ConfigProblem as e:
            if "Keras 1" in str(e):
                raise H5Problem(f"is an old Keras 1.x model file ({e}); the grader reads files of Keras 2 and 3: "
                                f"load it with Keras 2 and {advice(want, label)}", "keras1-model") from None
            raise
        model = parse_model(config)
        weights_group = f["model_weights"] if "model_weights" in f else f
        layers, arrays = _assign_weights(model, weights_group, with_arrays)
        return H5Info("keras2-model", layers, version, model.input_shape, model.model_class, model.graph), arrays
    if "layer_names" in attrs or "layer_names0" in attrs:
        layers, arrays = _keras2_weights(f, with_arrays)
        for layer in layers:
            layer.weights = [(_short_weight_name(n), s) for n, s in layer.weights]
            layer.class_name = infer_class(layer.weights)
        return H5Info("keras2-weights", layers, version), arrays
    if "layers" in f and isinstance(f["layers"], _group_type()):
        return _keras3_weights(f, with_arrays)
    if "nb_layers" in attrs or ("layer_0" in f and isinstance(f["layer_0"], _group_type())
                                and ("nb_params" in f["layer_0"].attrs or "param_0" in f["layer_0"])):
        raise H5Problem("is an old Keras 0.x weights-only file (groups layer_0/param_0 and an nb_layers count): it "
                        "holds numbered arrays without layer names or an architecture, which today's Keras cannot "
                        f"load; retrain or rebuild the model with Keras 2 or 3 and {advice(want, label)}",
                        "keras0-weights")
    members = sorted(_shown(k, 30) for k in list(f.keys())[:20])
    shown = ", ".join(f"'{m}'" for m in members[:6]) + (" ..." if len(members) > 6 else "")
    what = f" (it holds {shown}: a data file?)" if members else " (it is empty)"
    raise H5Problem("is an HDF5 file but not a Keras model or weights file: it has no layer_names, model_config or "
                    f"layers/{what}; {advice(want, label)}", "not-keras")


def _group_type():
    import h5py

    return h5py.Group


def _read_dataset(ds, where: str, budget: list[int]):
    if ds.dtype.kind not in "fiub":
        raise H5Problem(f"the weight '{_shown(where)}' holds {ds.dtype} values, not numbers", "damaged")
    budget[0] += int(ds.size) * ds.dtype.itemsize
    if budget[0] > MAX_WEIGHT_BYTES:
        raise H5Problem(f"holds more than {MAX_WEIGHT_BYTES / 1024**2:.0f} MiB of weights, over the limit", "too-large")
    return ds[()]


def _keras2_weights(group, with_arrays: bool, budget: list[int] | None = None):
    budget = budget if budget is not None else [0]
    names = _names(group.attrs, "layer_names")
    if len(names) > MAX_LAYERS:
        raise H5Problem(f"has {len(names)} layers, over the limit of {MAX_LAYERS}", "too-large")
    layers, arrays = [], []
    for name in names:
        if name not in group:
            raise H5Problem(f"lists layer '{_shown(name)}' but has no group for it", "damaged")
        g = group[name]
        wnames = _names(g.attrs, "weight_names") if "weight_names" in g.attrs else []
        wnames = [w for w in wnames if w]
        info = LayerInfo(name, None)
        arrs = []
        for wn in wnames:
            if wn not in g:
                raise H5Problem(f"layer '{_shown(name)}' lists weight '{_shown(wn)}' but does not hold it", "damaged")
            ds = g[wn]
            if not hasattr(ds, "shape"):
                raise H5Problem(f"layer '{_shown(name)}': '{_shown(wn)}' is not a dataset", "damaged")
            info.weights.append((wn, tuple(int(d) for d in ds.shape)))
            if with_arrays:
                arrs.append(_read_dataset(ds, f"{name}/{wn}", budget))
        layers.append(info)
        arrays.append(arrs)
    return layers, arrays


def _short_weight_name(full: str) -> str:
    return full.split("/")[-1]


def _assign_weights(model, group, with_arrays: bool):
    """Each layer of the parsed model gets its weights from the file's group of the same name; layers
    of a nested model share that model's group and are told apart by the layer name inside each
    weight's name (``inner/dense_4/kernel`` or, in tf.keras 2, ``dense_4/kernel:0``)."""
    file_layers, file_arrays = _keras2_weights(group, with_arrays)
    by_name = {w.name: (w, a) for w, a in zip(file_layers, file_arrays, strict=True)}
    used: set[str] = set()
    out_arrays: list[list] = []
    nested_pool: dict[str, list[tuple[str, tuple[int, ...], Any]]] = {}
    for gname in set(model.nested_groups.values()):
        w, a = by_name.get(gname, (None, []))
        used.add(gname)
        if w is None:
            nested_pool[gname] = []
            continue
        arrs = a if with_arrays else [None] * len(w.weights)
        nested_pool[gname] = [(n, s, arr) for (n, s), arr in zip(w.weights, arrs, strict=True)]
    for idx, layer in enumerate(model.layers):
        if idx in model.nested_groups:
            pool = nested_pool[model.nested_groups[idx]]
            own = layer.name.rsplit("/", 1)[-1]
            mine = [item for item in pool if item[0].split("/")[-2:-1] == [own]]
            for item in mine:
                pool.remove(item)
            layer.weights = [(_short_weight_name(n), s) for n, s, _ in mine]
            out_arrays.append([arr for _, _, arr in mine] if with_arrays else [])
            continue
        w, a = by_name.get(layer.name, (None, []))
        if w is not None:
            used.add(layer.name)
            layer.weights = [(_short_weight_name(n), s) for n, s in w.weights]
        out_arrays.append(a if w is not None else [])
    for gname, pool in nested_pool.items():
        if pool:
            raise H5Problem(f"the nested model '{_shown(gname)}' holds weights ('{_shown(pool[0][0])}') that none of "
                            "its layers owns", "damaged")
    layers = list(model.layers)
    # weights of layers the config does not name keep their order at the end (shown, never built)
    for w, a in zip(file_layers, file_arrays, strict=True):
        if w.name not in used and w.weights and w.name not in {layer.name for layer in model.layers}:
            layers.append(LayerInfo(w.name, None, {}, [(_short_weight_name(n), s) for n, s in w.weights]))
            out_arrays.append(a)
    return layers, out_arrays


def _natural(name: str):
    m = re.match(r"^(.*?)(?:_(\d+))?$", name)
    return (m.group(1), int(m.group(2) or 0)) if m else (name, 0)


def _keras3_weights(f, with_arrays: bool):
    """``layers/<name>/vars/<i>``; nested models keep theirs in ``layers/<model>/layers/<name>/vars``."""
    layers, arrays = [], []
    budget = [0]
    stack = [("", f["layers"])]
    found: list[tuple[str, Any]] = []
    while stack:
        prefix, root = stack.pop()
        for name in sorted(root.keys(), key=_natural):
            g = root[name]
            if not isinstance(g, _group_type()):
                continue
            found.append((prefix + name, g))
            if "layers" in g and isinstance(g["layers"], _group_type()):
                if prefix.count("/") > 8:
                    raise H5Problem("its layers are nested too deeply", "damaged")
                stack.append((f"{prefix}{name}/", g["layers"]))
            if len(found) > MAX_LAYERS:
                raise H5Problem(f"has more than {MAX_LAYERS} layers, over the limit", "too-large")
    for name, g in found:
        info = LayerInfo(name, None)
        arrs = []
        vars_ = g["vars"] if "vars" in g else None
        if vars_ is not None:
            for key in sorted(vars_.keys(), key=lambda k: int(k) if k.isdigit() else 0):
                ds = vars_[key]
                if not hasattr(ds, "shape"):
                    continue
                info.weights.append((key, tuple(int(d) for d in ds.shape)))
                if with_arrays:
                    arrs.append(_read_dataset(ds, f"{name}/{key}", budget))
        if not info.weights and "layers" in g:
            continue  # a nested model: its layers are listed themselves
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
