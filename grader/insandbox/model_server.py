"""The model server: reads Keras files and runs predictions for the grader, inside the sandbox.

Protocol: one JSON command per line on stdin, one JSON answer per line on stdout.

- ``{"op": "inspect", "path": p}`` -> the file's layout, layers and weight shapes
  (:mod:`h5read`), or ``{"problem": "..."}``;
- ``{"op": "classify", "weights": p, "layers": [...], "input_shape": [...], "images": [...],
  "size": [h, w], "scale": 255, "resample": "nearest"}`` -> ``{"outputs": [[...], ...],
  "images": [{"problem" | "width", "height"}]}``: the architecture is rebuilt from the
  grader's layer list, the student's weights set by order;
- ``{"op": "predict", "model": p, "inputs": p.npy, "out": p.npy}`` -> writes the model's
  outputs for the inputs; the model is rebuilt from its own (allow-listed) config;
- ``{"op": "image", "path": p, ...limits}`` -> the decoded image's format and size, or a problem;
- ``{"op": "thumbnails", "images": [p, ...], "labels": [...], "max_side": 160}`` ->
  ``{"thumbnails": [{"png": base64, "width", "height"} | {"problem": "..."}]}``, for feedback pages;
  with ``"preview_side": N`` each also has ``"preview": {"png", "width", "height"}`` (review page).

Keras is imported once, here, and reused for every request.

Transport: input files are paths in the grader's read-only staging folder. A value
``"@job/NAME"`` in a command is a fresh folder of this server's own scratch for that
request; whatever the op writes there is returned in the answer as ``"_files": {NAME:
base64}`` (bounded) and the folder is removed. Nothing is written where the grader reads.
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from h5read import H5Problem, read_h5  # noqa: E402
from kbuild import BuildProblem, build_model, set_weights  # noqa: E402
from safeimage import ImageProblem, rgb_array  # noqa: E402

MAX_BATCH = 256
MAX_RETURNED = 192 * 1024**2  # bytes of files one answer may carry back


def _keras():
    import keras

    return keras


def _rss() -> int:
    """This process's resident memory: reported with every answer, so the grader can replace a
    server that has grown (each new architecture leaves ~8 MB of compiled XLA programs behind)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _forget_compiled() -> None:
    _keras().backend.clear_session()


def _label(path: str) -> str:
    return os.path.basename(path)


def inspect(cmd: dict) -> dict:
    info, _ = read_h5(cmd["path"])
    return {"info": info.to_dict()}


def _weights_for(model, arrays: list[list], info) -> list[list]:
    """The file's weight lists in the model's order. Keras 2 files keep their own order (Keras loads
    them by order too); a Keras 3 ``.weights.h5`` stores layers by name, so they are matched by shape."""
    available = [a for a in arrays if a]
    if info.format != "keras3-weights":
        return available
    ordered = []
    for layer in (la for la in model.layers if la.weights):
        want = [tuple(w.shape) for w in layer.weights]
        pick = next((a for a in available if [tuple(v.shape) for v in a] == want), None)
        pick = pick if pick is not None else (available[0] if available else [])
        if pick in available:
            available.remove(pick)
        ordered.append(pick)
    return ordered + available


_CACHE: dict = {}


def _model_for(cmd: dict):
    """The architecture with the file's weights; the last one is kept, since q1a, q2 and q3 of a
    submission use the same file (keyed by the file's bytes, never by its name)."""
    import hashlib

    _keras()
    with open(cmd["weights"], "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    key = (digest, json.dumps(cmd["layers"], sort_keys=True), json.dumps(cmd["input_shape"]))
    if _CACHE.get("key") != key:
        _CACHE.clear()
        _forget_compiled()
        info, arrays = read_h5(cmd["weights"], with_arrays=True)
        model = build_model(cmd["layers"], cmd["input_shape"])
        set_weights(model, _weights_for(model, arrays, info))
        _CACHE.update(key=key, model=model)
    return _CACHE["model"]


def load(cmd: dict) -> dict:
    """Rebuild the architecture, set the file's weights, run one forward pass on zeros."""
    model = _model_for(cmd)
    y = np.asarray(model(np.zeros((1, *cmd["input_shape"]), np.float32), training=False))
    return {"params": int(model.count_params()), "finite": bool(np.all(np.isfinite(y)))}


def classify(cmd: dict) -> dict:
    model = _model_for(cmd)
    batch, reports = [], []
    for path in cmd["images"]:
        try:
            arr, im = rgb_array(path, cmd.get("labels", {}).get(path, _label(path)), tuple(cmd["size"]),
                                float(cmd.get("scale", 255.0)), cmd.get("resample", "nearest"))
            batch.append(arr)
            reports.append({"width": im.width, "height": im.height, "mode": im.mode})
        except ImageProblem as e:
            reports.append({"problem": str(e)})
    outputs = []
    if batch:
        x = np.stack(batch)
        y = np.asarray(model(x, training=False))
        it = iter(y.tolist())
        outputs = [None if "problem" in r else next(it) for r in reports]
    else:
        outputs = [None] * len(reports)
    return {"outputs": outputs, "images": reports}


def predict(cmd: dict) -> dict:
    _CACHE.clear()
    _forget_compiled()
    info, arrays = read_h5(cmd["model"], with_arrays=True)
    if info.format != "keras2-model":
        raise H5Problem("holds weights only; save the whole model with model.save('name.h5')")
    layers = [{"class_name": layer.class_name, "config": layer.config} for layer in info.layers if layer.class_name]
    shape = info.input_shape
    model = build_model(layers, shape)
    set_weights(model, [a for a, layer in zip(arrays, info.layers, strict=True) if layer.class_name])
    x = np.load(cmd["inputs"], allow_pickle=False, mmap_mode="r")
    target = tuple(cmd.get("input_shape") or shape)
    outs = []
    for start in range(0, len(x), MAX_BATCH):
        batch = np.asarray(x[start : start + MAX_BATCH], dtype=np.float32).reshape((-1, *target))
        outs.append(np.asarray(model(batch, training=False)))
    y = np.concatenate(outs) if outs else np.zeros((0,))
    np.save(cmd["out"], y.astype(np.float64), allow_pickle=False)
    _forget_compiled()
    return {"shape": list(y.shape), "input_shape": shape}


def image(cmd: dict) -> dict:
    """Decode an image fully (a screenshot), under the given limits."""
    from safeimage import open_image

    im, info = open_image(cmd["path"], cmd["label"], max_pixels=int(cmd["max_pixels"]),
                          max_bytes=int(cmd["max_bytes"]), formats=tuple(cmd["formats"]))
    im.close()
    return {"format": info.format, "width": info.width, "height": info.height, "mode": info.mode}


def thumbnails(cmd: dict) -> dict:
    """Small PNGs of the student's images, so that the grader never decodes one itself."""
    from safeimage import thumbnail_png

    out = []
    labels = cmd.get("labels") or []
    for i, path in enumerate(cmd["images"][:32]):
        label = labels[i] if i < len(labels) else _label(path)
        try:
            out.append(thumbnail_png(path, label, int(cmd.get("max_side", 160)),
                                     preview_side=int(cmd.get("preview_side", 0) or 0)))
        except ImageProblem as e:
            out.append({"problem": str(e)})
    return {"thumbnails": out}


OPS = {"inspect": inspect, "load": load, "classify": classify, "predict": predict, "image": image,
       "thumbnails": thumbnails}


def _with_job(value, job: str):
    if isinstance(value, str) and value.startswith("@job"):
        return job + value[len("@job"):]
    if isinstance(value, list):
        return [_with_job(v, job) for v in value]
    if isinstance(value, dict):
        return {k: _with_job(v, job) for k, v in value.items()}
    return value


def _returned_files(job: str) -> dict:
    import base64

    out, total = {}, 0
    for entry in sorted(os.scandir(job), key=lambda e: e.name):
        if not entry.is_file(follow_symlinks=False):
            continue
        size = entry.stat(follow_symlinks=False).st_size
        total += size
        if total > MAX_RETURNED:
            raise MemoryError
        with open(entry.path, "rb") as f:
            out[entry.name] = base64.b64encode(f.read()).decode("ascii")
    return out


def handle(cmd: dict) -> dict:
    import shutil
    import tempfile

    op = cmd.get("op")
    if op == "ping":
        return {"pid": os.getpid()}
    if op not in OPS:
        return {"error": f"unknown op {op!r}"}
    job = tempfile.mkdtemp(prefix="req-")
    try:
        answer = OPS[op](_with_job(cmd, job))
        files = _returned_files(job)
        if files:
            answer["_files"] = files
        return answer
    finally:
        shutil.rmtree(job, ignore_errors=True)


def main() -> None:
    import rlimits

    rlimits.apply(os.environ.pop("MLGRADE_LIMITS", ""))
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    _keras()  # import once, before the first request
    for line in sys.stdin:
        try:
            answer = handle(json.loads(line))
        except (H5Problem, BuildProblem, ImageProblem) as e:
            answer = {"problem": str(e)}
        except MemoryError:
            answer = {"problem": "the model is too large for the memory limit"}
        except Exception as e:  # the server must answer whatever a file does to it
            answer = {"error": f"{type(e).__name__}: {str(e)[:300]}"}
        answer["rss"] = _rss()
        out.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
