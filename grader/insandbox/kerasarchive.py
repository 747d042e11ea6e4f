"""Read a ``.keras`` archive (``model.save('m.keras')``) as data: never with Keras, never extracted to disk.

The archive is a zip of ``config.json`` (the model, as in an ``.h5``'s ``model_config``), ``metadata.json``
(``keras_version``) and ``model.weights.h5``. Two weight layouts exist:

- Keras 3: ``layers/<layer name>/vars/<i>``; a nested model's under ``layers/<model>/layers/<name>/vars``;
- tf.keras 2.13-2.15: ``_layer_checkpoint_dependencies/<name>/vars/<i>``, where ``<name>`` is a
  checkpoint name that need not be the config's (``conv2d``, ``conv2d_2``, ``conv2d_4`` for the config's
  ``conv2d``, ``conv2d_1``, ``conv2d_2``): matched by position among the layers of the same base name;
  archives saved on Windows write ``\\`` inside group names (``_layer_checkpoint_dependencies\\dense``).

Bounds before anything is read: at most ``MAX_ENTRIES`` entries, stored or deflated only, no encryption,
each member read up to its limit (a lying size header cannot make it larger); entry names are only
compared, never used as paths. The config goes through the same allow-list as an ``.h5``'s
(:func:`kgraph.check_config`; ``compile_config``, the optimizer and loss, is dropped unread), and the weights
file through the same self-containment check (:func:`h5read.check_self_contained`).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import Any

try:
    from .kgraph import ConfigProblem, LayerInfo, Model, check_config, parse_model
except ImportError:  # inside the sandbox this folder is on sys.path, not the grader package
    from kgraph import ConfigProblem, LayerInfo, Model, check_config, parse_model  # type: ignore[no-redef]

MAX_ENTRIES = 64
MAX_CONFIG_BYTES = 5_000_000
MAX_METADATA_BYTES = 64 * 1024
MAX_WEIGHTS_BYTES = 512 * 1024**2
WEIGHT_ROOTS = ("layers", "_layer_checkpoint_dependencies")


class ArchiveProblem(Exception):
    """The archive cannot be used; the message (a clause: "its config.json is ...") is for the student."""

    def __init__(self, message: str, kind: str = "keras-zip"):
        super().__init__(message)
        self.kind = kind


def _name(info: zipfile.ZipInfo) -> str:
    return info.filename.replace("\\", "/").lstrip("/").removeprefix("./")


def is_keras_archive(names: list[str]) -> bool:
    base = {n.replace("\\", "/").rsplit("/", 1)[-1] for n in names}
    return {"config.json", "model.weights.h5"} <= base or {"metadata.json", "config.json"} <= base


def _member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    if info.flag_bits & 0x1:
        raise ArchiveProblem(f"its '{_name(info)[:60]}' is encrypted", "damaged")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ArchiveProblem(f"its '{_name(info)[:60]}' uses zip compression {info.compress_type}; Keras writes "
                             "plain zips", "damaged")
    if info.file_size > limit:
        raise ArchiveProblem(f"its '{_name(info)[:60]}' holds {info.file_size:,} bytes, over the limit of "
                             f"{limit:,}", "too-large")
    with zf.open(info) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ArchiveProblem(f"its '{_name(info)[:60]}' is larger than its zip header says", "damaged")
    return data


def read_members(path: str) -> tuple[Any, str, bytes]:
    """``(config, keras_version, weights bytes)`` of the archive at ``path``, every read bounded."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_ENTRIES:
                raise ArchiveProblem(f"it is a zip of {len(infos):,} entries (a .keras archive holds three)",
                                     "too-large")
            top = {}
            for info in infos:
                name = _name(info)
                if name and "/" not in name:  # a top-level file (ZipInfo.is_dir() fails on an empty name)
                    if name in top:
                        raise ArchiveProblem(f"it holds '{name[:60]}' twice", "damaged")
                    top[name] = info
            if "config.json" not in top or "model.weights.h5" not in top:
                missing = "config.json" if "config.json" not in top else "model.weights.h5"
                raise ArchiveProblem(f"it has no {missing}: it was not written by model.save, or it was "
                                     "damaged", "damaged")
            meta: dict = {}
            if "metadata.json" in top:
                try:
                    meta = json.loads(_member(zf, top["metadata.json"], MAX_METADATA_BYTES))
                except ValueError:
                    meta = {}
            config_bytes = _member(zf, top["config.json"], MAX_CONFIG_BYTES)
            weights = _member(zf, top["model.weights.h5"], MAX_WEIGHTS_BYTES)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, RuntimeError,
            NotImplementedError) as e:
        raise ArchiveProblem(f"the zip is damaged ({type(e).__name__}: {str(e)[:120]})",
                             "damaged") from None
    try:
        config = json.loads(config_bytes)
    except ValueError:
        raise ArchiveProblem("its config.json is not valid JSON", "damaged") from None
    version = meta.get("keras_version", "") if isinstance(meta, dict) else ""
    return config, str(version)[:20] if isinstance(version, str) else "", weights


def model_of(config: Any) -> Model:
    """The allow-listed model of a ``config.json``: what an ``.h5``'s ``model_config`` would give."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ConfigProblem("its config.json does not describe a Keras model")
    config = {k: v for k, v in config.items() if k not in ("compile_config", "build_config")}
    check_config(config)
    return parse_model(config)


def weight_groups(f, group_type) -> dict[tuple[str, ...], list]:
    """``{layer path: [datasets in vars order]}`` under the layer roots, group names split on ``/`` and ``\\``
    (``('layers', 'dense')``, ``('_layer_checkpoint_dependencies', 'conv2d_2')``)."""
    found: dict[tuple[str, ...], list] = {}
    stack: list[tuple[tuple[str, ...], Any]] = [((), f)]
    while stack:
        parts, group = stack.pop()
        for key in list(group.keys()):
            child = group[key]
            here = parts + tuple(p for p in re.split(r"[\\/]", str(key)) if p)
            if not isinstance(child, group_type) or not here or here[0] not in WEIGHT_ROOTS:
                continue
            if here[-1] == "vars":
                keys = sorted((k for k in child.keys() if k.isdigit()), key=int)
                found[here[:-1]] = [child[k] for k in keys if hasattr(child[k], "shape")]
            elif len(here) < 24:
                stack.append((here, child))
    return found


_NUMBERED = re.compile(r"^(.*?)(?:_(\d+))?$")


def _base(name: str) -> tuple[str, int]:
    m = _NUMBERED.match(name)
    return (m.group(1), int(m.group(2) or 0)) if m else (name, 0)


def assign(model: Model, groups: dict[tuple[str, ...], list]) -> list[list]:
    """Each of the model's layers' datasets (``[]`` for weightless ones). Keras 3 archives name the layers;
    a tf.keras 2.13 archive's checkpoint names are matched by position among layers of the same base name."""
    out: list[list] = []
    if any(path[0] == "layers" for path in groups):
        used = set()
        for layer in model.layers:
            path = tuple(x for part in layer.name.split("/") for x in ("layers", part))
            out.append(groups.get(path, []))
            used.add(path)
        extra = [p for p in groups if p not in used and p[0] == "layers" and groups[p]]
        if extra:
            raise ArchiveProblem(f"its weights file holds weights of a layer '{'/'.join(extra[0][1:])[:60]}' that "
                                 "its config.json does not have", "damaged")
        return out
    flat = {path[-1]: items for path, items in groups.items() if len(path) == 2}
    by_base: dict[str, list[str]] = {}
    for name in sorted(flat, key=_base):
        by_base.setdefault(_base(name)[0], []).append(name)
    taken: dict[str, int] = {}
    for layer in model.layers:
        base = _base(layer.name.rsplit("/", 1)[-1])[0]
        names = by_base.get(base, [])
        i = taken.get(base, 0)
        taken[base] = i + 1
        out.append(flat[names[i]] if i < len(names) else [])
    left = [n for base, names in by_base.items() for n in names[taken.get(base, 0):] if flat[n]]
    if left:
        raise ArchiveProblem(f"its weights file holds weights ('{left[0][:60]}') that no layer of its config.json "
                             "takes", "damaged")
    return out


def layer_weights(layers: list[LayerInfo], datasets: list[list]) -> None:
    """Record each layer's weight shapes (named by their order, as the archive stores them)."""
    for layer, items in zip(layers, datasets, strict=True):
        layer.weights = [(str(i), tuple(int(d) for d in ds.shape)) for i, ds in enumerate(items)]


def open_weights(data: bytes):
    """The archive's ``model.weights.h5``, opened from memory (the bytes were read bounded)."""
    import h5py

    return h5py.File(io.BytesIO(data), "r")
