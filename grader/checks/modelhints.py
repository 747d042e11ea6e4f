"""Which of a submission's other model files fits a question whose model file is missing, by its input.

A missing-file hint that offers the wrong file sends the student the wrong way: a 32x32x3 SVHN model is
not "a digit classifier?", and an SVHN question should be offered the 32x32x3 model the student saved
as ``exercise2_a.h5``. The hint reads only what the model server's inspection already returns (the
input shape and the last layer's bias), so it costs no more than before.

    >>> fits_digits((28, 28, 1)), fits_digits((32, 32, 3))
    (True, False)
"""

from __future__ import annotations

from typing import Any

# How MNIST-style 28x28 grey digits reach a model: as an image, with a channel either side, or flattened;
# and 32x32 grey (LeNet on padded digits), which the digits check also feeds.
DIGIT_INPUTS = {(28, 28), (28, 28, 1), (1, 28, 28), (784,), (32, 32), (32, 32, 1), (1, 32, 32), (1024,)}


def input_shape(info: dict[str, Any]) -> tuple[int, ...] | None:
    """The model's input shape without the batch axis, or None when the file does not say."""
    shapes = info.get("input_shapes") or [info.get("input_shape")]
    shape = shapes[0] if isinstance(shapes, list) and shapes else None
    if not isinstance(shape, (list, tuple)) or not shape:
        return None
    dims = list(shape)
    if dims and dims[0] is None:
        dims = dims[1:]
    if not dims or not all(isinstance(d, int) and 0 < d < 1_000_000 for d in dims):
        return None
    return tuple(dims)


def shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


def outputs(info: dict[str, Any]) -> int | None:
    """The size of the model's last bias: its number of outputs (classes), when it has one."""
    biases = [s for la in info.get("layers", []) for _, s in la.get("weights", []) if len(s) == 1]
    return int(biases[-1][0]) if biases and isinstance(biases[-1][0], int) else None


def fits_digits(shape: tuple[int, ...] | None) -> bool:
    return shape is not None and shape in DIGIT_INPUTS


def same_input(shape: tuple[int, ...] | None, wanted: list[int] | tuple[int, ...]) -> bool:
    """The model takes the input the rubric names (a channel axis of 1 either side counts as the same)."""
    if shape is None or not wanted:
        return False

    def core(s) -> tuple[int, ...]:
        return tuple(d for d in s if d != 1) if len(s) > 2 else tuple(s)

    return tuple(shape) == tuple(wanted) or core(shape) == core(wanted)


def swapped_images(items: list[dict[str, Any]]) -> str:
    """When every image of a question got the class another one should get (a cat as 1 and a dog as 0), the
    likeliest slip is two photos handed in under each other's names: say so, naming what each file should be.

    >>> swapped_images([{"file": "what1.jpg", "label": "cat", "expect": 0, "predicted": 1, "right": False},
    ...                 {"file": "what2.jpg", "label": "dog", "expect": 1, "predicted": 0, "right": False}])[:44]
    'what1.jpg and what2.jpg may be swapped: each'
    """
    judged = [i for i in items if "predicted" in i]
    if len(judged) < 2 or len(judged) != len(items) or any(i.get("right") for i in judged):
        return ""
    if sorted(i["expect"] for i in judged) != sorted(i["predicted"] for i in judged):
        return ""
    names = ", ".join(i["file"] for i in judged[:-1]) + " and " + judged[-1]["file"]
    should = ", ".join(f"{i['file']} should be your {i['label'] or 'image'} ({i['expect']})" for i in judged)
    return (f"{names} may be swapped: each got the class another of them should get; {should}: if the photos are "
            "under each other's names, rename them")


def at_chance(accuracy: float, classes: int | None) -> bool:
    """An accuracy no better than guessing, within 5 points (10 digits: under 15 %): the model is not working yet."""
    return classes is not None and classes > 1 and accuracy < 1 / classes + 0.05


def chance_hint(accuracy: float, classes: int | None, scaling: str = "unknown") -> str:
    """What to check when a classifier does no better than guessing, most likely first. ``scaling``: "said" when
    a better input scaling was already named, "ruled out" when the other scalings were tried and none did better.

    >>> chance_hint(0.077, 10)[:62]
    'that is about chance (guessing gets 10 % with 10 classes): che'
    """
    if classes is None or not at_chance(accuracy, classes):  # classes: for mypy, at_chance checked it too
        return ""
    checks = {"said": [], "ruled out": []}.get(scaling, [
        "that your inputs are scaled as in training (pixels / 255 if you trained on x / 255)"])
    checks += [f"that output k of your model means class k (labels 0 to {classes - 1} in order, not shuffled or "
               "one-hot in another order)", "that the file you saved is the trained model (model.save after "
               "model.fit, not a fresh model)"]
    tried = " (other input scalings were tried and do no better)" if scaling == "ruled out" else ""
    return (f"that is about chance (guessing gets {100 / classes:.0f} % with {classes} classes){tried}: check "
            + "; ".join(checks))
