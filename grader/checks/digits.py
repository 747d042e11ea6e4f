"""``digits``: a digit classifier's accuracy on hidden digits, scored relative to the best in class.

ML Assignment 2, Ex3: 40 x your_accuracy / class_best_accuracy. Each submission is
evaluated on its own (the raw accuracy is stored); the class-level step runs
after the whole batch (:mod:`grader.classwide`) and turns accuracies into scores,
so a late submission or a regrade rescales everyone without re-running anything.
Until then the score shown is ``points * accuracy`` and labelled provisional.

The model is rebuilt from its own file (Sequential or Functional, Keras 2 or 3) by the
sandboxed model server. The score uses the rubric's pixel scaling; the other common
scalings are measured on a sample, and the reason says when one is far better (a model
trained on raw 0-255 pixels). 3-channel and 32x32 models get the digits adapted (see
:mod:`grader.modelinputs`), and the reason says so.

.. code-block:: yaml

    - kind: digits
      model: digits.h5
      input_scaling: unit   # unit (x / 255, the course's), raw, symmetric ([-1, 1]) or standardized
      adapt_inputs: true    # feed (28, 28, 3) and 32x32 models too (grey copied, LeNet padding)
      blur: 0               # box blur for staff photos (the course's own digits used 7)
"""

from __future__ import annotations

import shutil

import numpy as np
from pydantic import Field, model_validator

from grader import digitsdata
from grader.checks.keras_models import inspect_file, other_model_files
from grader.modelinputs import SCALINGS, FeedProblem, ScalingName, digit_feed, scaling, scaling_hint
from grader.models import model_request
from grader.registry import CheckContext, CheckParams, Outcome, SubmissionProblem, check_kind

SAMPLE = 256  # digits per alternative scaling: one batch each, enough to tell 99 % from 11 %
FAR_BETTER = 0.15  # an alternative scaling this much more accurate is worth telling the student


class DigitsParams(CheckParams):
    model: str = Field(min_length=1)
    input_scaling: ScalingName | None = None
    scale: float | None = Field(None, gt=0)  # older rubrics: pixels divided by this
    adapt_inputs: bool = True
    blur: int = Field(0, ge=0, le=31)

    def suggest_files(self, ctx: CheckContext, pattern: str) -> list[str]:
        hints = []
        for rel, info in other_model_files(ctx, pattern):
            biases = [s for s in weight_shapes(info) if len(s) == 1]
            if info.get("format") == "keras2-model" and biases and biases[-1] == (10,):
                hints.append(f"'{rel}' holds a whole model with 10 outputs (a digit classifier?)")
        return hints

    @model_validator(mode="after")
    def _one_scaling(self):
        if self.input_scaling is not None and self.scale is not None:
            raise ValueError("give either 'input_scaling' or the older 'scale', not both")
        return self



def weight_shapes(info: dict) -> list[tuple[int, ...]]:
    return [tuple(s) for la in info.get("layers", []) for _, s in la.get("weights", [])]


def _shared_inputs(ctx: CheckContext, sets: list[digitsdata.DigitSet]) -> str:
    """The evaluation images as raw 0-255 pixels, staged read-only once per model server and reused for
    every student (the path the server sees; the data enter the sandbox only for this check). The server
    scales them as each request says."""
    import io

    from grader.models import get_model_server

    def make() -> bytes:
        buf = io.BytesIO()
        np.save(buf, np.concatenate([s.images for s in sets]).astype(np.float32), allow_pickle=False)
        return buf.getvalue()

    server = get_model_server(ctx.options.isolation, ctx.options.sandbox_slot)
    return server.shared_file(f"digits-{digitsdata.digest(sets)}-raw.npy", make)


def evaluation_sets(ctx: CheckContext, p: DigitsParams) -> list[digitsdata.DigitSet]:
    """What to score on: staff photos if given, else the bundled hidden MNIST part (plus the second
    population); a student's self-check sees only the public sample."""
    hidden = ctx.options.hidden_dir
    if hidden is not None and (hidden / "digits").is_dir():
        return [digitsdata.staff_digits(hidden, p.blur)]
    if ctx.options.self_check:
        return [digitsdata.mnist_public()]
    return [digitsdata.mnist_hidden(), digitsdata.sklearn_digits()]


def _sample(n: int) -> list[int]:
    """Evenly spread indices into the main set (staff photos come sorted by label)."""
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, min(SAMPLE, n))}) if n else []


@check_kind("digits", DigitsParams, class_relative=True)
def digits(ctx: CheckContext, p: DigitsParams) -> Outcome:
    """Accuracy on hidden digits; the class-level step scores it as points * accuracy / class best."""
    rel, info = inspect_file(ctx, p.model, want="model")
    if info["format"] != "keras2-model":
        raise SubmissionProblem(f"{rel} holds weights only; save the whole model with model.save('{rel}')")
    if info.get("outputs", 1) != 1:
        raise SubmissionProblem(f"{rel}: the model has {info['outputs']} outputs; a digit classifier has one output "
                                "of 10 class scores")
    if len(info.get("input_shapes", [None])) != 1:
        raise SubmissionProblem(f"{rel}: the model takes {len(info['input_shapes'])} inputs; a digit classifier takes "
                                "one image")
    shape = info.get("input_shape")
    try:
        feed = digit_feed(shape, p.adapt_inputs)
    except FeedProblem as e:
        raise SubmissionProblem(f"{rel}: {e}") from None
    used = scaling(p.input_scaling, p.scale)
    others = [s for s in SCALINGS.values() if s.name != used.name]
    sets = evaluation_sets(ctx, p)
    sample = _sample(len(sets[0].labels))
    answer, job = model_request(
        ctx, {"op": "predict", "model": "@model", "label": rel, "inputs": _shared_inputs(ctx, sets),
              "feed": feed.to_cmd(), "divide": used.divide, "add": used.add,
              "alternatives": [s.to_cmd() for s in others], "sample": sample, "out": "@job/out.npy"},
        {"model": ctx.submission.find_one(p.model)}, timeout=300,
    )
    n_images = sum(len(s.labels) for s in sets)
    try:
        if "problem" in answer:
            raise SubmissionProblem(f"{rel}: {answer['problem']}")
        out_path = job / "out.npy"
        if not out_path.is_file() or out_path.is_symlink() or out_path.stat().st_size > 512 * 1024**2:
            raise SubmissionProblem(f"{rel}: the model produced no usable output")
        y = np.load(out_path, allow_pickle=False)
    finally:
        shutil.rmtree(job, ignore_errors=True)
    if y.ndim != 2 or y.shape[0] != n_images or y.shape[1] < 10:
        raise SubmissionProblem(f"{rel}: the model outputs shape {tuple(y.shape[1:])}; expected 10 class scores")
    if not np.all(np.isfinite(y)):
        raise SubmissionProblem(f"{rel}: the model outputs NaN or infinity")
    pred = np.argmax(y[:, :10], axis=1)
    accs, start = {}, 0
    for s in sets:
        n = len(s.labels)
        accs[s.name] = float(np.mean(pred[start : start + n] == s.labels))
        start += n
    main = sets[0].name
    acc = round(accs[main], 6)
    parts = ", ".join(f"{name} {a:.2%} of {len(s.labels)}" for (name, a), s in zip(accs.items(), sets, strict=True))
    reason = f"{rel}: accuracy {parts}"
    if feed.adapted:
        reason += f" (your model takes {tuple(feed.shape)}: the 28x28 grey digits were {feed.words()})"
    scalings, hint = _compare_scalings(answer.get("alternatives"), pred, sets[0].labels, sample, used, info)
    if hint:
        reason += f"; {hint}"
    if ctx.options.self_check:
        reason += ("; provisional: the public sample only, and the score is points x accuracy / the best "
                   "accuracy in the class, known when the class is graded")
    else:
        reason += f"; scored on {main}: points x {acc:.4f} / class best"
    details = {"class_relative": acc, "accuracy": accs, "input_shape": list(shape or []),
               "input_scaling": used.name, "scalings_on_sample": scalings}
    if feed.adapted:
        details["adapted_inputs"] = feed.words()
    return Outcome(acc, reason, details=details)


def _compare_scalings(alternatives, pred: np.ndarray, labels: np.ndarray, sample: list[int], used, info: dict):
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
