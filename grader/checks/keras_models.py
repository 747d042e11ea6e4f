"""Keras model files: ``keras_weights`` (q1a), ``classify_images`` (q2, q3) and ``architecture``.

The student's file is read with h5py inside the sandboxed model server, checked
against an allow-list before anything else, and never handed to Keras'
deserializer: the grader rebuilds the architecture from the rubric (or, for
full models, from the file's allow-listed layer list) and sets the weights by
order, with shape checks.

.. code-block:: yaml

    - kind: keras_weights
      file: weights.h5
      architecture: cats_vs_dogs_cnn     # a name from the rubric's `architectures:`, or `layers:` + `input_shape:`
    - kind: classify_images
      weights: weights.h5
      architecture: cats_vs_dogs_cnn
      images:
        - {file: "what1.{jpg,png}", expect: 0, label: cat}
        - {file: "what2.{jpg,png}", expect: 1, label: dog}
    - kind: architecture
      file: cifar_mlp.h5
      architecture: cifar_mlp            # compares layers, activations, input shape, parameter counts
      same_input: true                   # (28, 28, 1) + Flatten or (784,) for (28, 28): grader/checks/archinput.py
"""

from __future__ import annotations

import shutil
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationInfo, model_validator

from grader.checks import modelhints
from grader.checks.archcompare import (
    Layer,
    aligned_pairs,
    compare,
    expected_layers,
    follow_open_choices,
    found_layers,
    layer_table,
    param_report,
)
from grader.checks.archinput import implied_image, match_input
from grader.checks.modelfiles import inspect_file, locate, other_model_files, weight_counts
from grader.checks.modelinputs import ScalingName, scaling
from grader.checks.thumbnails import thumbnails
from grader.core.errors import SubmissionProblem
from grader.execute.modelserver import model_request
from grader.rubric.architectures import Architecture
from grader.rubric.kinds import CheckContext, CheckParams, Outcome, check_kind

FORMATS = {
    "keras2-weights": "weights-only file (Keras 2 save_weights)",
    "keras3-weights": "weights-only file (Keras 3 .weights.h5)",
    "keras2-model": "full model file (model.save)",
}


class ArchParams(CheckParams):
    architecture: str | None = None  # a name from the rubric's `architectures:`
    layers: list[dict[str, Any]] | None = None
    input_shape: list[int] | None = None
    same_input: bool | None = None  # the architecture's `same_input` unless the check says
    _named: Architecture | None = PrivateAttr(default=None)  # what `architecture` names, read with the rubric

    @model_validator(mode="after")
    def _one_source(self, info: ValidationInfo):
        if (self.architecture is None) == (self.layers is None):
            raise ValueError("give either 'architecture' (a name) or 'layers' (a list), not both or neither")
        if self.architecture is not None:
            table = (info.context or {}).get("architectures") or {}
            if self.architecture not in table:
                import difflib

                close = difflib.get_close_matches(self.architecture, list(table), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                known = ", ".join(sorted(table)) or "none: add `architectures:` to the rubric"
                raise ValueError(f"unknown architecture {self.architecture!r} (the rubric defines: {known}){hint}")
            self._named = table[self.architecture]
        if self.layers is not None and self.input_shape is None:
            raise ValueError("'layers' needs 'input_shape'")
        return self

    def suggest_files(self, ctx: CheckContext, pattern: str) -> list[str]:
        """Files of exactly this architecture; else whole models with the rubric's input and output sizes
        (a student's SVHN CNN under another name, one layer off: the check then says what differs)."""
        exact = self.claims(ctx, pattern)
        if exact:
            want = self._weight_counts()
            return [f"'{rel}' holds weights of exactly this architecture ({len(want)} layers with weights)"
                    for rel in exact]
        spec, shape = self.resolved()
        units = [item.get("units") for item in spec if item.get("kind") == "Dense"]
        hints = []
        for rel, info in other_model_files(ctx, pattern):
            found = modelhints.input_shape(info)
            if (info.get("format") == "keras2-model" and modelhints.same_input(found, shape)
                    and (not units or modelhints.outputs(info) == units[-1])):
                outs = f" and {units[-1]} outputs" if units else ""
                hints.append(f"'{rel}' holds a model for {modelhints.shape_text(found or ())} inputs{outs}, "
                             "as this question expects")
        return hints

    def claims(self, ctx: CheckContext, pattern: str) -> list[str]:
        """Files holding weights of exactly this architecture: no other question's hint may offer them."""
        want = self._weight_counts()

        def fits(got: list[int]) -> bool:
            return len(got) == len(want) and all(w is None or w == g for w, g in zip(want, got, strict=True))

        return [rel for rel, info in other_model_files(ctx, pattern) if fits(weight_counts(info))]

    def _weight_counts(self) -> list[int | None]:
        """Parameters per weight-bearing layer; None where the rubric leaves the count open (the Dense
        layer after padding the student chooses), which any count fits."""
        return [layer.params for layer in expected_layers(*self.resolved()) if layer.params != 0]

    def accepts_reshaped_input(self) -> bool:
        if self.same_input is not None:
            return self.same_input
        return bool(self._named and self._named.same_input)

    def resolved(self) -> tuple[list[dict[str, Any]], list[int]]:
        if self._named is not None:
            return list(self._named.layers), list(self.input_shape or self._named.input_shape)
        return list(self.layers or []), list(self.input_shape or [])


def server_layers(spec: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"class_name": item["kind"], "config": {k: v for k, v in item.items() if k != "kind"}} for item in spec]


def _shape_problems(p: ArchParams, info: dict[str, Any], whole: bool = False) -> list[str]:
    """Differences between the file and the rubric's architecture. ``whole`` (the ``architecture``
    check, on full models): the input is compared too, and padding the rubric leaves out is the
    student's; otherwise the file must load into the rubric's layers exactly as they are written."""
    spec, shape = p.resolved()
    diffs, exp, found = _sides(p, info, whole)
    weights_only = info["format"] != "keras2-model"
    layer_diffs = compare(exp, found, weights_only=weights_only)
    diffs += layer_diffs
    if not layer_diffs:
        # same layers: the weight shapes must still fit (e.g. the Dense input size after pooling)
        for e, f in aligned_pairs(exp, found, weights_only):
            if e.params is not None and f.params is not None and e.params != f.params:
                diffs.append(_param_difference(spec, shape, e, f))
                break
    diffs += param_report(exp, found)[0]
    if diffs and info.get("branched"):
        merges = sorted({str(la.get("class_name")) for la in info["layers"]
                         if la.get("class_name") in ("Add", "Concatenate", "Multiply", "Average", "Subtract",
                                                     "Maximum", "Minimum")})
        how = f" merged by {', '.join(merges)}" if merges else ""
        diffs.insert(0, f"the model is not one chain of layers (it has branches{how}), the assignment's is")
    return diffs


def _sides(p: ArchParams, info: dict[str, Any], whole: bool) -> tuple[list[str], list[Layer], list[Layer]]:
    """(problems with the input, expected layers, found layers) as :func:`_shape_problems` compares them."""
    spec, shape = p.resolved()
    exp, found = expected_layers(spec, shape), found_layers(info)
    if not whole or info["format"] != "keras2-model":
        return [], exp, found
    matched = match_input(shape, exp, info.get("input_shape"), found, p.accepts_reshaped_input())
    return list(matched.problems), follow_open_choices(spec, shape, matched.expected, matched.found), matched.found


def _param_difference(spec: list[dict[str, Any]], shape: list[int], e: Layer, f: Layer) -> str:
    """One layer's parameter count, with its cause when the weights show it: a Dense layer fed by a
    different image size, or a first convolution reading another number of channels."""
    said = f"a {e.describe()} layer{' (your ' + f.name + ')' if f.name else ''} has {f.params:,} parameters, " \
           f"expected {e.params:,}"
    k = f.kernel_shape
    if e.kind == "Dense" and k is not None and len(k) == 2 and e.params is not None and e.units:
        got_in, want_in = k[0], (e.params - e.units) // e.units
        size = implied_image(spec, shape, e.n, got_in)
        want = "x".join(str(d) for d in shape[:2])
        if size and got_in != want_in:
            return (f"{said}: its {got_in:,} inputs are what {size} after the layers before it, not {want} "
                    f"(which give {want_in:,}): build and train the model on {want} images")
    first_conv = next((item for item in spec if item["kind"] == "Conv2D"), None)
    if e.kind == "Conv2D" and first_conv is not None and e.n == spec.index(first_conv) + 1 and k is not None \
            and len(k) == 4 and len(shape) == 3 and k[2] != shape[2]:
        return f"{said}: it reads {k[2]}-channel images, the assignment's have {shape[2]} channels"
    return said


def _layer_rows(p: ArchParams, info: dict[str, Any], whole: bool = False) -> list[dict[str, Any]]:
    """The architecture as a table for the feedback page, aligned as :func:`_shape_problems` aligns it."""
    _, exp, found = _sides(p, info, whole)
    return layer_table(exp, found, weights_only=info["format"] != "keras2-model")


class KerasWeightsParams(ArchParams):
    file: str = Field(min_length=1)


@check_kind("keras_weights", KerasWeightsParams)
def keras_weights(ctx: CheckContext, p: KerasWeightsParams) -> Outcome:
    """The weights file loads into the assignment's architecture (by layer order, shapes checked)."""
    rel, info = inspect_file(ctx, p.file)
    problems = _shape_problems(p, info)
    what = FORMATS.get(info["format"], info["format"])
    version = f", Keras {info['keras_version']}" if info.get("keras_version") else ""
    if problems:
        return Outcome.failed(f"{rel} ({what}{version}) does not fit the architecture: " + "; ".join(problems[:6]),
                              details={"format": info["format"], "differences": problems,
                                       "layers": _layer_rows(p, info)})
    spec, shape = p.resolved()
    path = locate(ctx, p.file)[0]  # the file inspect_file found
    answer, job = model_request(ctx, {"op": "load", "weights": "@w", "label": rel, "layers": server_layers(spec),
                                      "input_shape": shape}, {"w": path})
    shutil.rmtree(job, ignore_errors=True)
    if "problem" in answer:
        return Outcome.failed(f"{rel}: {answer['problem']}")
    note = "" if answer.get("finite", True) else " (but it outputs NaN/inf)"
    return Outcome(1.0 if answer.get("finite", True) else 0.5,
                   f"{rel} ({what}{version}) loads into the {p.architecture or 'expected'} architecture "
                   f"({answer['params']:,} parameters){note}", details={"format": info["format"]})


class ImageSpec(CheckParams):
    file: str = Field(min_length=1)
    expect: int = Field(ge=0)
    label: str = ""


class ClassifyParams(ArchParams):
    weights: str = Field(min_length=1)
    images: list[ImageSpec] = Field(min_length=1)
    input_scaling: ScalingName | None = None  # unit (x / 255, the default), raw, symmetric, standardized
    scale: float | None = Field(None, gt=0)  # older rubrics: pixels divided by this
    resample: Literal["nearest", "bilinear", "bicubic"] = "nearest"
    threshold: float = Field(0.5, gt=0, lt=1)

    @model_validator(mode="after")
    def _one_scaling(self):
        if self.input_scaling is not None and self.scale is not None:
            raise ValueError("give either 'input_scaling' or the older 'scale', not both")
        return self


@check_kind("classify_images", ClassifyParams)
def classify_images(ctx: CheckContext, p: ClassifyParams) -> Outcome:
    """The student's weights put each of the student's images in the expected class."""
    rel, info = inspect_file(ctx, p.weights)
    problems = _shape_problems(p, info)
    if problems:
        raise SubmissionProblem(f"{rel} does not load into the architecture, so nothing can be classified: "
                                + "; ".join(problems[:3]))
    spec, shape = p.resolved()
    files = {"w": locate(ctx, p.weights)[0]}  # the file inspect_file found
    labels = {}
    for i, img in enumerate(p.images):
        path, labels[f"@i{i}"] = ctx.submission.require(img.file)
        files[f"i{i}"] = path
    used = scaling(p.input_scaling, p.scale)
    cmd = {"op": "classify", "weights": "@w", "label": rel, "layers": server_layers(spec), "input_shape": shape,
           "images": [f"@i{i}" for i in range(len(p.images))], "size": shape[:2], "scale": used.divide,
           "offset": used.add, "resample": p.resample}
    answer, job = model_request(ctx, cmd, files)
    shutil.rmtree(job, ignore_errors=True)
    if "problem" in answer:
        raise SubmissionProblem(f"{rel}: {answer['problem']}")
    notes, right = [], 0
    pictures = thumbnails(ctx, {labels[f"@i{i}"]: files[f"i{i}"] for i in range(len(p.images))})
    items = []  # for the feedback page: each image with what the model said
    for i, (img, out, rep) in enumerate(zip(p.images, answer["outputs"], answer["images"], strict=True)):
        rel_i = labels[f"@i{i}"]
        name = rel_i + (f" ({img.label})" if img.label else "")
        item = {"file": rel_i, "label": img.label, "expect": img.expect, "thumbnail": pictures.get(rel_i)}
        items.append(item)
        if "problem" in rep:
            notes.append(rep["problem"])
            item["problem"] = rep["problem"]
            continue
        probs = [float(v) for v in out]
        if len(probs) == 1:
            cls = int(probs[0] > p.threshold)
            shown = f"p = {probs[0]:.3f}"
        else:
            cls = max(range(len(probs)), key=probs.__getitem__)
            shown = f"p = {probs[cls]:.3f}"
        ok = cls == img.expect
        right += ok
        # a sigmoid output is the probability of class 1; a softmax's, of the class it picked
        item.update(predicted=cls, p=probs[0] if len(probs) == 1 else probs[cls], p_of=1 if len(probs) == 1 else cls,
                    right=bool(ok))
        notes.append(f"{name}: {shown} -> {cls}, expected {img.expect} ({'right' if ok else 'wrong'})")
    notes += [swap] if (swap := modelhints.swapped_images(items)) else []
    return Outcome(right / len(p.images), "; ".join(notes),
                   details={"outputs": answer["outputs"], "images": answer["images"], "items": items})


class ArchitectureParams(ArchParams):
    file: str = Field(min_length=1)
    full_model: bool = False  # require model.save (so activations and the input shape can be checked)


@check_kind("architecture", ArchitectureParams)
def architecture(ctx: CheckContext, p: ArchitectureParams) -> Outcome:
    """The model file's layers, activations, input shape and parameter counts match the assignment."""
    rel, info = inspect_file(ctx, p.file, want="model" if p.full_model else "weights")
    weights_only = info["format"] != "keras2-model"
    if p.full_model and weights_only:
        return Outcome.failed(f"{rel} holds weights only; save the whole model with model.save('{rel}')")
    problems = _shape_problems(p, info, whole=True)
    found = found_layers(info)
    total = sum(f.params or 0 for f in found)
    if problems:
        return Outcome.failed(f"{rel}: " + "; ".join(problems[:8]),
                              details={"differences": problems, "layers": _layer_rows(p, info, whole=True)})
    what = FORMATS.get(info["format"], info["format"])
    return Outcome.passed(f"{rel} ({what}): {len(found)} layers as expected, {total:,} parameters",
                          details={"params": total, "layers": _layer_rows(p, info, whole=True)})
