"""``digits``: a digit classifier's accuracy on hidden digits, scored relative to the best in class.

ML Assignment 2, Ex3: 40 x your_accuracy / class_best_accuracy. Each submission is
evaluated on its own (the raw accuracy is stored); the class-level step runs
after the whole batch (:mod:`grader.classwide`) and turns accuracies into scores,
so a late submission or a regrade rescales everyone without re-running anything.
Until then the score shown is ``points * accuracy`` and labelled provisional.

.. code-block:: yaml

    - kind: digits
      model: digits.h5
      scale: 255        # pixels are divided by this (the course: x / 255)
      blur: 0           # box blur for staff photos (the course's own digits used 7)
"""

from __future__ import annotations

import shutil

import numpy as np
from pydantic import Field

from grader import digitsdata
from grader.checks.keras_models import inspect_file
from grader.models import model_request
from grader.registry import CheckContext, CheckParams, Outcome, SubmissionProblem, check_kind

SHAPES = {(28, 28): (28, 28), (28, 28, 1): (28, 28, 1), (784,): (784,), (1, 28, 28): (1, 28, 28)}


class DigitsParams(CheckParams):
    model: str = Field(min_length=1)
    scale: float = Field(255.0, gt=0)
    blur: int = Field(0, ge=0, le=31)


def _shared_inputs(ctx: CheckContext, sets: list[digitsdata.DigitSet], scale: float) -> str:
    """The evaluation images, staged read-only once per model server and reused for every student
    (the path the server sees; the data enter the sandbox only for this check)."""
    import io

    from grader.models import get_model_server

    def make() -> bytes:
        buf = io.BytesIO()
        x = np.concatenate([s.images for s in sets]).astype(np.float32) / np.float32(scale)
        np.save(buf, x, allow_pickle=False)
        return buf.getvalue()

    server = get_model_server(ctx.options.isolation, ctx.options.sandbox_slot)
    return server.shared_file(f"digits-{digitsdata.digest(sets)}-{scale:g}.npy", make)


def evaluation_sets(ctx: CheckContext, p: DigitsParams) -> list[digitsdata.DigitSet]:
    """What to score on: staff photos if given, else the bundled hidden MNIST part (plus the second
    population); a student's self-check sees only the public sample."""
    hidden = ctx.options.hidden_dir
    if hidden is not None and (hidden / "digits").is_dir():
        return [digitsdata.staff_digits(hidden, p.blur)]
    if ctx.options.self_check:
        return [digitsdata.mnist_public()]
    return [digitsdata.mnist_hidden(), digitsdata.sklearn_digits()]


@check_kind("digits", DigitsParams, class_relative=True)
def digits(ctx: CheckContext, p: DigitsParams) -> Outcome:
    """Accuracy on hidden digits; the class-level step scores it as points * accuracy / class best."""
    rel, info = inspect_file(ctx, p.model)
    if info["format"] != "keras2-model":
        raise SubmissionProblem(f"{rel} holds weights only; save the whole model with model.save('{rel}')")
    shape = tuple(info.get("input_shape") or ())
    if shape not in SHAPES:
        raise SubmissionProblem(
            f"{rel}: the model takes inputs of shape {shape or 'unknown'}; digits are 28x28 grayscale, so it "
            "should take (28, 28), (28, 28, 1) or (784,)"
        )
    sets = evaluation_sets(ctx, p)
    answer, job = model_request(
        ctx, {"op": "predict", "model": "@model", "inputs": _shared_inputs(ctx, sets, p.scale),
              "input_shape": list(SHAPES[shape]), "out": "@job/out.npy"},
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
    if ctx.options.self_check:
        reason += ("; provisional: the public sample only, and the score is points x accuracy / the best "
                   "accuracy in the class, known when the class is graded")
    else:
        reason += f"; scored on {main}: points x {acc:.4f} / class best"
    return Outcome(acc, reason, details={"class_relative": acc, "accuracy": accs, "input_shape": list(shape)})
