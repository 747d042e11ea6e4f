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
      scale: 255                                # inputs are divided by this
      thresholds: {0.95: 1.0, 0.9: 0.5, 0.8: 0.25}
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, ValidationInfo, model_validator

from grader.registry import CheckContext, CheckParams, Outcome, SubmissionProblem, check_kind

PACKAGES = ("mnist-public", "mnist-hidden", "sklearn-digits", "sklearn-iris", "sklearn-wine", "sklearn-breast_cancer",
            "digits")
HIDDEN = "hidden:"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
MAX_IMAGES = 50_000


class DataSet(CheckParams):
    """One of ``npz`` (with ``x`` and ``y`` keys), ``images`` (a folder of ``<label>/<image>``) or ``package``.
    Paths are relative to the rubric, or ``hidden:NAME`` inside the instructor's ``--hidden`` folder.

    ``package: digits`` is ML Assignment 2's digit sets (:mod:`grader.digitsdata`): the staff's photos in
    ``--hidden DIR/digits/<label>/`` when given, else 4,000 hidden MNIST digits and scikit-learn's digits
    (reported apart); a student's self-check gets the 1,000 public MNIST digits."""

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
    scale: float = Field(1.0, gt=0)
    thresholds: dict[float, float] | None = None
    relative: bool = False

    @model_validator(mode="after")
    def _scoring(self):
        if self.thresholds is not None and self.relative:
            raise ValueError("give 'thresholds' or 'relative: true', not both")
        for acc, frac in (self.thresholds or {}).items():
            if not (0 <= acc <= 1 and 0 <= frac <= 1):
                raise ValueError(f"thresholds map an accuracy in [0, 1] to a fraction in [0, 1], got {acc}: {frac}")
        return self


@dataclass(frozen=True)
class Labelled:
    name: str
    x: np.ndarray  # (N, ...) float32, as the model gets it
    y: np.ndarray  # (N,) int


def load_data(ctx: CheckContext, spec: DataSet, scale: float) -> Labelled:
    """The data set ``spec`` names, divided by ``scale``. Raises ``LookupError`` when it is not available here."""
    if spec.package == "digits":
        return digit_sets(ctx, spec.blur, scale)[0]
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
            x, y = _image_folder(path, tuple(spec.size), spec.color)
    if y.ndim == 2:
        y = y.argmax(axis=1)
    if spec.limit is not None:
        x, y = x[: spec.limit], y[: spec.limit]
    return Labelled(spec.label(), (np.asarray(x, np.float32) / np.float32(scale)), np.asarray(y).astype(int))


def digit_sets(ctx: CheckContext, blur: int, scale: float) -> list[Labelled]:
    """``package: digits``: what the class is scored on (the first set) and what is reported next to it."""
    from grader import digitsdata

    hidden = ctx.options.hidden_dir
    if hidden is not None and (hidden / "digits").is_dir():
        sets = [digitsdata.staff_digits(hidden, blur)]
    elif ctx.options.self_check:
        sets = [digitsdata.mnist_public()]
    else:
        sets = [digitsdata.mnist_hidden(), digitsdata.sklearn_digits()]
    return [Labelled(d.name, np.asarray(d.images, np.float32) / np.float32(scale), np.asarray(d.labels).astype(int))
            for d in sets]


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
    from grader import digitsdata

    if name == "mnist-public":
        d = digitsdata.mnist_public()
        return d.images, d.labels
    if name == "mnist-hidden":
        d = digitsdata.mnist_hidden()
        return d.images, d.labels
    if name == "sklearn-digits":
        d = digitsdata.sklearn_digits()
        return d.images, d.labels
    from sklearn import datasets

    x, y = getattr(datasets, f"load_{name.removeprefix('sklearn-')}")(return_X_y=True)
    return np.asarray(x, np.float32), np.asarray(y)


def _image_folder(root: Path, size: tuple[int, int], color: str) -> tuple[np.ndarray, np.ndarray]:
    """``root/<label>/<image>``: the instructor's images (``image_dataset_from_directory``'s layout)."""
    from PIL import Image

    images, labels = [], []
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    for index, cls in enumerate(classes):
        for f in sorted((root / cls).iterdir()):
            if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file() and len(images) < MAX_IMAGES:
                with Image.open(f) as im:
                    im = im.convert("L" if color == "grayscale" else "RGB").resize((size[1], size[0]), Image.BILINEAR)
                    images.append(np.asarray(im, np.float32))
                labels.append(int(cls) if cls.isdigit() else index)
    if not images:
        raise FileNotFoundError(f"{root}: no images in <label>/ folders")
    return np.stack(images), np.array(labels)


def predict(ctx: CheckContext, pattern: str, rel: str, x: np.ndarray, input_shape: list) -> np.ndarray:
    """The model's outputs for ``x`` (reshaped to the model's input), from the sandboxed model server."""
    import io

    from grader.models import get_model_server, model_request

    shape = [d for d in input_shape if d is not None] if input_shape else list(x.shape[1:])
    if int(np.prod(shape)) != int(np.prod(x.shape[1:])):
        raise SubmissionProblem(f"{rel}: the model takes inputs of shape {tuple(input_shape)}; this data set's are "
                                f"{tuple(x.shape[1:])}")
    digest = hashlib.sha256(x.tobytes()).hexdigest()[:16]

    def make() -> bytes:
        buf = io.BytesIO()
        np.save(buf, x, allow_pickle=False)
        return buf.getvalue()

    server = get_model_server(ctx.options.isolation, ctx.options.sandbox_slot)
    inputs = server.shared_file(f"data-{digest}.npy", make)  # staged once per server, reused for every student
    answer, job = model_request(
        ctx, {"op": "predict", "model": "@model", "inputs": inputs, "input_shape": shape, "out": "@job/out.npy"},
        {"model": ctx.submission.find_one(pattern)}, timeout=300)
    try:
        if "problem" in answer:
            raise SubmissionProblem(f"{rel}: {answer['problem']}")
        out = job / "out.npy"
        if not out.is_file() or out.is_symlink() or out.stat().st_size > 512 * 1024**2:
            raise SubmissionProblem(f"{rel}: the model produced no usable output")
        y = np.load(out, allow_pickle=False)
    finally:
        shutil.rmtree(job, ignore_errors=True)
    if y.dtype.kind not in "biuf" or y.ndim < 1 or len(y) != len(x):
        raise SubmissionProblem(f"{rel}: the model outputs shape {tuple(y.shape)}; expected one row per input")
    if not np.all(np.isfinite(y)):
        raise SubmissionProblem(f"{rel}: the model outputs NaN or infinity")
    return y


def accuracy(scores: np.ndarray, labels: np.ndarray, rel: str) -> float:
    scores = scores.reshape(len(scores), -1)
    if scores.shape[1] == 1:
        pred = (scores[:, 0] > 0.5).astype(int)
    else:
        if labels.max(initial=0) >= scores.shape[1]:
            raise SubmissionProblem(f"{rel}: the model outputs {scores.shape[1]} class scores, but the labels go up to "
                                    f"{int(labels.max())}")
        pred = scores.argmax(axis=1)
    return float(np.mean(pred == labels))


def fraction_for(acc: float, thresholds: dict[float, float] | None) -> float:
    if thresholds is None:
        return acc
    met = [frac for level, frac in thresholds.items() if acc >= level]
    return max(met, default=0.0)


@check_kind("model_accuracy", ModelAccuracyParams)
def model_accuracy(ctx: CheckContext, p: ModelAccuracyParams) -> Outcome:
    """A Keras model's accuracy on the instructor's data set: by thresholds, relative to the class, or as is."""
    from grader.checks.keras_models import inspect_file

    rel, info = inspect_file(ctx, p.model)
    if info["format"] != "keras2-model":
        raise SubmissionProblem(f"{rel} holds weights only; save the whole model with model.save('{rel}')")
    main = p.data
    if ctx.options.self_check and (p.public_data is not None or (main.npz or main.images or "").startswith(HIDDEN)):
        if p.public_data is None:
            return Outcome(0.0, f"{rel}: scored on the instructor's hidden data when the class is graded",
                           pending=True)
        main = p.public_data
    try:
        sets = digit_sets(ctx, main.blur, p.scale) if main.package == "digits" else [load_data(ctx, main, p.scale)]
        for extra in p.also:
            try:
                sets.append(load_data(ctx, extra, p.scale))
            except LookupError:
                continue  # a hidden extra set, in a run without the hidden folder
    except LookupError as e:
        raise RuntimeError(f"the data set is not available: {e}") from None
    shape = list(info.get("input_shape") or [])
    accs = {s.name: accuracy(predict(ctx, p.model, rel, s.x, shape), s.y, rel) for s in sets}
    acc = round(accs[sets[0].name], 6)
    parts = ", ".join(f"{name} {a:.2%} of {len(s.y)}" for (name, a), s in zip(accs.items(), sets, strict=True))
    details: dict = {"accuracy": accs}
    reason = f"{rel}: accuracy {parts}"
    if p.relative:
        details["class_relative"] = acc
        reason += ("; provisional: points x accuracy / the best accuracy in the class, known when the class is graded"
                   if ctx.options.self_check else f"; scored on {sets[0].name}: points x {acc:.4f} / class best")
        return Outcome(acc, reason, details=details)
    frac = fraction_for(acc, p.thresholds)
    if p.thresholds is not None:
        levels = ", ".join(f"{level:.0%} -> {f:g}" for level, f in sorted(p.thresholds.items(), reverse=True))
        reason += f" (scale: {levels})"
    if ctx.options.self_check and main is not p.data:
        reason += "; on the public data: the class is graded on other data"
    return Outcome(frac, reason, details=details)
