"""The model server: reads Keras files and runs predictions for the grader, inside the sandbox.

Protocol: one JSON command per line on stdin, one JSON answer per line on stdout.

- ``{"op": "inspect", "path": p, "want": "model"|"weights", "label": name}`` -> the file's layout,
  layers, weight shapes and, for full models, graph (:mod:`h5read`), or ``{"problem": "...",
  "problem_kind": "..."}`` naming what the file is instead;
- ``{"op": "classify", "weights": p, "layers": [...], "input_shape": [...], "images": [...],
  "size": [h, w], "scale": 255, "offset": 0, "resample": "nearest"}`` -> ``{"outputs": [[...], ...],
  "images": [{"problem" | "width", "height"}]}``: the architecture is rebuilt from the
  grader's layer list, the student's weights set by order, pixels fed as ``x / scale + offset``;
- ``{"op": "predict", "model": p, "inputs": p.npy, "out": p.npy, "feed": {"shape", "pad", "channels",
  "channels_first"}, "divide": 255, "add": 0, "alternatives": [{"name", "divide", "add"}], "sample": [i...]}``
  -> writes the model's outputs for the raw 0-255 digits, fed and scaled as asked, and answers
  ``{"shape", "input_shape", "alternatives": {name: [predicted class per sample index]}}``; the model
  is rebuilt from its own (allow-listed) layers and graph;
- ``{"op": "image", "path": p, ...limits}`` -> the decoded image's format and size, or a problem;
- ``{"op": "thumbnails", "images": [p, ...], "labels": [...], "max_side": 160}`` ->
  ``{"thumbnails": [{"png": base64, "width", "height"} | {"problem": "..."}]}``, for feedback pages;
- ``{"op": "fingerprint", "models": [p, ...], "model_labels": [...], "images": [p, ...], "image_labels": [...]}``
  -> ``{"models": [{"format", "layers": [...]} | {"problem"}], "images": [{"phash", ...} | {"problem"}]}``:
  compact fingerprints of weights and pictures for the class-level integrity step (:mod:`fingerprint`).
  with ``"preview_side": N`` each also has ``"preview": {"png", "width", "height"}`` (review page).

Keras is imported once, here, and reused for every request; where Keras and JAX are not installed (the
students' light install) a numpy engine (:mod:`npmodel`) runs the same ops instead (see ``ENGINE``).

Transport: input files are paths in the grader's read-only staging folder. A value
``"@job/NAME"`` in a command is a fresh folder of this server's own scratch for that
request; whatever the op writes there is returned in the answer as ``"_files": {NAME:
base64}`` (bounded) and the folder is removed. Nothing is written where the grader reads.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from h5read import H5Problem, read_h5  # noqa: E402
from kbuild import (  # noqa: E402
    BuildProblem,
    build_graph,
    build_model,
    check_declared,
    set_graph_weights,
    set_weights,
)
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
    except (OSError, ValueError, IndexError, AttributeError):  # no /proc (Windows, macOS): never retired
        return 0


def _forget_compiled() -> None:
    """Drop Keras' global state of the last model (names, graphs). Without the full garbage collection
    Keras would run by default: that took ~140 ms per call, 85 % of a small model's check, and the
    interpreter's own collector frees the same cycles soon after."""
    keras = _keras()
    try:
        keras.backend.clear_session(free_memory=False)
    except TypeError:  # Keras before 3.4 has no free_memory
        keras.backend.clear_session()


def _label(path: str) -> str:
    return os.path.basename(path)


def inspect(cmd: dict) -> dict:
    """The file's layout, layers, weight shapes and (full models) graph; a problem names what the
    file is instead (``problem_kind``: ``keras0-weights``, ``keras-zip``, ``external-storage``...)."""
    try:
        info, _ = read_h5(cmd["path"], want=cmd.get("want", "model"), label=cmd.get("label", ""))
    except H5Problem as e:
        return {"problem": str(e), "problem_kind": e.kind}
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
        info, arrays = read_h5(cmd["weights"], with_arrays=True, want="weights", label=cmd.get("label", ""))
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
    scale, offset = float(cmd.get("scale", 255.0)), float(cmd.get("offset", 0.0))
    batch, reports = [], []
    for path in cmd["images"]:
        try:
            arr, im = rgb_array(path, cmd.get("labels", {}).get(path, _label(path)), tuple(cmd["size"]),
                                scale, cmd.get("resample", "nearest"))
            batch.append(arr + np.float32(offset) if offset else arr)
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


def _full_model(path: str, label: str, input_shape: list[int] | None):
    """A full-model file rebuilt from its own (allow-listed) layers and graph, with its weights."""
    info, arrays = read_h5(path, with_arrays=True, want="model", label=label)
    if info.format != "keras2-model" or info.graph is None:
        raise H5Problem("holds weights only, without the model's architecture; save the whole model with "
                        f"model.save('{os.path.basename(label) or 'model.h5'}')", "weights-only")
    graph = info.graph
    if len(graph.outputs) != 1:
        raise BuildProblem(f"the model has {len(graph.outputs)} outputs; one output (the class scores) is expected")
    if len(graph.inputs) != 1:
        raise BuildProblem(f"the model takes {len(graph.inputs)} inputs; one input (the image) is expected")
    extra = [layer.name for layer in info.layers if layer.class_name is None]
    if extra:
        raise BuildProblem(f"the file holds weights for layers its model does not have ('{extra[0][:60]}')")
    specs = [{"class_name": layer.class_name, "config": layer.config, "name": layer.name} for layer in info.layers]
    check_declared(specs, arrays)
    shape = input_shape or graph.nodes[graph.inputs[0]].shape
    model, built = build_graph(specs, graph.to_dict(), [shape], arrays)
    set_graph_weights(built, specs, arrays)
    architecture = json.dumps([[(s["class_name"], s["config"]) for s in specs], graph.to_dict(), shape],
                              sort_keys=True, default=str)
    return info, model, architecture


def _scaled(x: np.ndarray, divide: float, add: float, feed: dict) -> np.ndarray:
    """Raw 0-255 grey digits (n, 28, 28) as the model takes them: padded (in raw pixels, so the border
    stays black), scaled ``x / divide + add``, given a channel axis (1 or 3 copies), reshaped."""
    x = np.asarray(x, dtype=np.float32)
    pad = int(feed.get("pad", 0))
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    x = x / np.float32(divide)
    if add:
        x = x + np.float32(add)
    channels = int(feed.get("channels", 0))
    if channels:
        x = np.repeat(x[..., None], channels, axis=-1) if channels > 1 else x[..., None]
        if feed.get("channels_first"):
            x = np.moveaxis(x, -1, 1)
    return x.reshape((-1, *feed["shape"]))


ACTIVATION_BYTES = 512 * 1024**2  # what one batch's layer outputs may take together
IMAGE_ACTIVATION_BYTES = 64 * 1024**2  # ... and one image's: ordinary digit models need under 1 MB, the
# course CNN on 150x150 images 7 MB; far beyond, a model only runs into the time limit


RECURRENT = ("SimpleRNN", "LSTM", "GRU")
# layers that multiply by their kernels; other layers' weights (PReLU's alphas, normalization) are elementwise
KERNEL_LAYERS = ("Dense", "Conv1D", "Conv2D", "Conv3D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose",
                 *RECURRENT)
# what one step of a recurrent layer costs beyond its multiply-adds (a loop step per batch, in multiply-adds per
# image), and one element a pooling window reads (XLA's reduce_window ran 0.3-0.5 billion reads a second where
# convolutions ran 31-59 billion multiply-adds): both measured with scripts/bench_models.py-style requests
RECURRENT_STEP = 1_000
POOL_READ = 100


def _outputs(layer) -> list:
    """The output of each call of ``layer`` (a shared layer's several: Keras' ``layer.output`` is its first)."""
    nodes = getattr(layer, "_inbound_nodes", None) or []
    per_node = [node.output_tensors[0] for node in nodes if node.output_tensors]
    if len(nodes) > 1:
        return per_node
    try:
        return list(layer.output) if isinstance(layer.output, (list, tuple)) else [layer.output]
    except (AttributeError, ValueError):
        return per_node


def _inputs(layer) -> list:
    """The (first) input of each call of ``layer`` (Keras' nodes; the numpy engine records none)."""
    nodes = getattr(layer, "_inbound_nodes", None) or []
    found = [node.input_tensors[0] for node in nodes if getattr(node, "input_tensors", None)]
    if found:
        return found
    try:
        return [layer.input]
    except (AttributeError, ValueError):
        return []


def _dims(t) -> list[int]:
    return [int(d or 1) for d in tuple(t.shape)[1:]] or [1]


def multiply_adds(model) -> int:
    """Multiply-adds one image costs, estimated from the shapes alone (nothing runs): each kernel is applied
    once per output position (a Dense's 1, a convolution's every pixel) and per call of a shared layer; a
    recurrent layer's kernels once per time step, plus the step itself; a pooling window per element it reads,
    a non-nearest UpSampling2D per row and column it mixes (weightless, but as costly as a convolution at
    large sizes). An upper bound for transposed convolutions."""
    import math

    total = 0
    for layer in model.layers:
        own = getattr(layer, "class_name", None)  # the numpy engine's layers say the Keras class they stand for
        name = own if isinstance(own, str) else type(layer).__name__
        window = getattr(layer, "pool_size", None) or getattr(layer, "window", None)
        if "Pool" in name and "Global" not in name and window:
            per_output = math.prod(int(k) for k in window) * POOL_READ
            total += sum(math.prod(_dims(t)) for t in _outputs(layer)) * per_output
            continue
        if name == "UpSampling2D" and str(getattr(layer, "interpolation", "nearest")) != "nearest":
            for t_in, t_out in zip(_inputs(layer), _outputs(layer), strict=False):
                total += math.prod(_dims(t_out)) * sum(_dims(t_in)[:2])  # a resize matrix per axis
            continue
        if name not in KERNEL_LAYERS:
            continue
        kernels = sum(math.prod(int(d) for d in w.shape) for w in getattr(layer, "weights", [])
                      if len(w.shape) >= 2 and "bias" not in str(getattr(w, "name", "")))
        if name in RECURRENT:
            for t in _inputs(layer):
                total += (kernels + RECURRENT_STEP) * _dims(t)[0]
            continue
        first = getattr(layer, "data_format", None) == "channels_first" or getattr(layer, "first", False) is True
        for t in _outputs(layer):
            dims = _dims(t)
            channels = dims[0] if first else dims[-1]
            total += kernels * (math.prod(dims) // max(channels, 1))
    return total


MAX_MULTIPLY_ADDS = 2 * 10**12  # one request's images together: 35-65 s of this 2-core machine's CPU (XLA ran
# 31-59 billion a second on large convolutions), more with two workers grading at once; 11x the costliest of
# the 42 real digit models in shared/realmodels on 11,000 digits


def _within_compute(per_image: int, images: int) -> None:
    """Refuse at once a model whose images would take minutes: run, it held a worker up to the request's
    300 s limit in every run, then scored 0 for being too slow."""
    if per_image * images > MAX_MULTIPLY_ADDS:
        raise BuildProblem(
            f"the model needs about {per_image / 1e9:,.2f} billion multiply-adds per image, "
            f"{per_image * images / 1e12:,.0f} trillion for the {images:,} images it is graded on: more than the "
            f"grader runs for one model ({MAX_MULTIPLY_ADDS / 1e12:,.0f} trillion, a minute of computing or more); "
            "an ordinary digit classifier needs under 0.1 billion per image")


def _batch_size(model) -> int:
    """As many images per batch as keep every layer's outputs within ``ACTIVATION_BYTES`` (256 for any
    ordinary digit model); a model whose layers exceed ``IMAGE_ACTIVATION_BYTES`` for one image is refused."""
    import math

    per_image = 0
    for layer in model.layers:
        for t in _outputs(layer):
            per_image += math.prod(_dims(t)) * 4
    if per_image > IMAGE_ACTIVATION_BYTES:
        raise BuildProblem(f"the model's layers hold {per_image / 1e6:,.0f} MB of numbers per image, over the "
                           f"limit of {IMAGE_ACTIVATION_BYTES / 1e6:,.0f} MB")
    return max(1, min(MAX_BATCH, ACTIVATION_BYTES // max(per_image, 1)))


_COMPILED: dict[str, Callable[..., Any]] = {}  # architecture -> one compiled forward pass (insertion order = age)
COMPILED_KEEP = 8
COMPILED_MAX_PARAMS = 5_000_000  # larger models are compiled each time rather than kept


def _forward(model, architecture: str | None):
    """``batch -> outputs`` for ``model``: the whole model compiled as one XLA program (3-4x less CPU
    for a new architecture than Keras' op-by-op calls, and faster to run), reused for later models of
    the same architecture, whose weights are passed in as arguments."""
    import jax

    keras = _keras()
    if keras.backend.backend() != "jax":  # pragma: no cover - the server always runs on JAX
        return lambda batch: np.asarray(model(batch, training=False))
    if any(hasattr(layer, "finalize_state") for layer in model.layers):
        architecture = None  # an adapted Normalization's statistics are constants of the program, not arguments
    fn = _COMPILED.get(architecture) if architecture is not None else None
    if fn is None:
        template = model  # the compiled program closes over this model's structure, never its weights

        def call(trainable, non_trainable, batch):
            return template.stateless_call(trainable, non_trainable, batch, training=False)[0]

        fn = jax.jit(call)
        if architecture is not None and model.count_params() <= COMPILED_MAX_PARAMS:
            _COMPILED[architecture] = fn
            while len(_COMPILED) > COMPILED_KEEP:
                _COMPILED.pop(next(iter(_COMPILED)))
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    return lambda batch: np.asarray(fn(trainable, non_trainable, batch))


def _run(forward, x: np.ndarray, size: int = MAX_BATCH) -> np.ndarray:
    """The model's outputs in fixed-size batches: the last one is padded, so each architecture is traced
    for one batch shape only."""
    outs = []
    for start in range(0, len(x), size):
        batch = x[start : start + size]
        n = len(batch)
        if n < size:
            batch = np.concatenate([batch, np.zeros((size - n, *batch.shape[1:]), batch.dtype)])
        outs.append(forward(batch)[:n])
    return np.concatenate(outs) if outs else np.zeros((0,))


def predict(cmd: dict) -> dict:
    """Outputs of a full model on the (shared) raw digit images, fed as ``feed`` says and scaled
    ``x / divide + add``; ``alternatives`` (other scalings) run on the ``sample`` indices only and
    come back as predicted classes, so the grader can tell a student trained with another scaling."""
    _CACHE.clear()
    _forget_compiled()
    feed = cmd["feed"]
    info, model, architecture = _full_model(cmd["model"], cmd.get("label", ""), feed["shape"])
    raw = np.load(cmd["inputs"], allow_pickle=False, mmap_mode="r")
    size = _batch_size(model)
    per_image = multiply_adds(model)
    _within_compute(per_image, len(raw) + len(cmd.get("sample", [])) * len(cmd.get("alternatives", [])))
    forward = _forward(model, f"{architecture}|{size}")
    y = _run(forward, _scaled(raw, float(cmd.get("divide", 1.0)), float(cmd.get("add", 0.0)), feed), size)
    np.save(cmd["out"], y.astype(np.float64), allow_pickle=False)
    answer: dict = {"shape": list(y.shape), "input_shape": info.input_shape, "multiply_adds": per_image}
    sample = [int(i) for i in cmd.get("sample", []) if 0 <= int(i) < len(raw)]
    if sample and y.ndim == 2:
        picked = np.asarray(raw[np.asarray(sample)])
        alts = {}
        for alt in cmd.get("alternatives", []):
            ya = _run(forward, _scaled(picked, float(alt["divide"]), float(alt["add"]), feed), size)
            alts[str(alt["name"])] = np.argmax(ya, axis=1).tolist() if ya.ndim == 2 else []
        answer["alternatives"] = alts
    return answer


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


MAX_FINGERPRINTS = 64  # files of one kind fingerprinted per request


def fingerprint(cmd: dict) -> dict:
    """Per model file its layers' fingerprints, per image its hashes; a file that cannot be read says why."""
    from fingerprint import image_file_print, layer_print

    models: list[dict[str, Any]] = []
    labels = cmd.get("model_labels") or []
    for i, path in enumerate(cmd.get("models", [])[:MAX_FINGERPRINTS]):
        label = labels[i] if i < len(labels) else _label(path)
        try:
            info, arrays = read_h5(path, with_arrays=True, want="weights", label=label)
        except H5Problem as e:
            models.append({"problem": str(e)})
            continue
        layers = [lp for lp in (layer_print(a) for a in arrays) if lp is not None]
        models.append({"format": info.format, "keras_version": info.keras_version, "layers": layers})
        del arrays
    images = []
    labels = cmd.get("image_labels") or []
    for i, path in enumerate(cmd.get("images", [])[:MAX_FINGERPRINTS]):
        label = labels[i] if i < len(labels) else _label(path)
        try:
            images.append(image_file_print(path, label))
        except ImageProblem as e:
            images.append({"problem": str(e)})
    return {"models": models, "images": images}


OPS = {"inspect": inspect, "load": load, "classify": classify, "predict": predict, "image": image,
       "thumbnails": thumbnails, "fingerprint": fingerprint}


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


def _limits() -> None:
    """Strict in the sandbox; elsewhere (the portable backend) each rlimit the platform has, none on Windows."""
    spec = os.environ.pop("MLGRADE_LIMITS", "")
    sandboxed = os.environ.get("MLGRADE_SANDBOXED") == "1"
    try:
        import rlimits
    except ImportError:
        if sandboxed:
            raise
        return
    rlimits.apply(spec, strict=sandboxed)


def main() -> None:
    _limits()
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
        except RecursionError:  # Keras walks a model's graph recursively: 2,000 layers in a chain are too many
            answer = {"problem": "the model is too deep to build (its layers nest deeper than Keras can follow)"}
        except Exception as e:  # the server must answer whatever a file does to it
            answer = {"error": f"{type(e).__name__}: {str(e)[:300]}"}
        answer["rss"] = _rss()
        out.write(json.dumps(answer) + "\n")



# --------------------------------------------------------------------------- inference engine
# Keras on JAX where both are installed (grading: unchanged); plain numpy (npmodel) where they are not,
# as in the students' light install. MLGRADE_MODEL_ENGINE=numpy|keras forces one. The numpy engine
# takes the place of Keras' builders and of the Keras-only steps, so the ops above are the same code.
ENGINES = ("keras", "numpy")


def _importable(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _engine() -> str:
    forced = os.environ.get("MLGRADE_MODEL_ENGINE", "")
    if forced:
        if forced not in ENGINES:
            raise SystemExit(f"MLGRADE_MODEL_ENGINE={forced!r}: expected one of {', '.join(ENGINES)}")
        return forced
    return "keras" if _importable("keras") and _importable("jax") else "numpy"


ENGINE = _engine()
if ENGINE == "numpy" and not _importable("npmodel"):
    # a student build whose checks read no model files ships no engine (its activations would answer an
    # assignment that asks for softmax): the ops that need one say so; inspecting files still works
    ENGINE = "none"

    def _no_engine(*args, **kwargs):
        raise BuildProblem("running a model needs Keras here (pip install 'keras>=3' jax); this self-check's "
                           "questions do not use one")

    build_model = build_graph = set_weights = _no_engine  # noqa: F811
elif ENGINE == "numpy":
    import npmodel

    build_model, build_graph, set_weights = npmodel.build_model, npmodel.build_graph, npmodel.set_weights

    def _keras():  # noqa: F811 - nothing to import
        return None

    def _forget_compiled() -> None:  # noqa: F811 - no compiled state
        pass

    def _forward(model, architecture: str | None):  # noqa: F811, ARG001 - numpy runs the model as it is
        return model


if __name__ == "__main__":
    main()
