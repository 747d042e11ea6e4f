"""What a model's input is, beyond the shape it declares: the same image reached another way,
channels placed first, and the image size a Dense layer's weights imply.

Students reshape MNIST as they like: ``(28, 28)``, ``(28, 28, 1)``, ``(1, 28, 28)`` then ``Flatten``,
or ``(784,)`` with no ``Flatten`` at all. Where the rubric says so (``same_input: true`` on the
architecture or the check), these are one input: the layers that only reshape at the start
(``Flatten``, ``Reshape``) are set aside on both sides and what reaches the first real layer is
compared, so parameter counts still decide (a ``Flatten`` of ``(28, 28, 1)`` gives 784 too).
A model whose layers all read ``channels_first`` gets its input read that way too:

.. code-block:: yaml

    mnist_mlp_5_relu:
      input_shape: [28, 28]
      same_input: true          # (28, 28, 1), (1, 28, 28) + Flatten and (784,) are this input

When a model's layers read ``channels_first`` but its input has the channels last, that is named
as the cause; when a Dense layer after the convolutions has the wrong number of inputs, the image
size that number implies is named (``100x100``, not the course's ``150x150``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from grader.checks.archcompare import Layer
from grader.rubric.architectures import layer_shapes

RESHAPING = {"Flatten", "Reshape"}
SPATIAL = ("Conv", "MaxPool", "AvgPool", "AveragePool", "GlobalMax", "GlobalAverage", "ZeroPadding",
           "Cropping", "UpSampling", "SpatialDropout")
MAX_SIDE = 2048  # image sides tried when working back from a Dense layer's inputs


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _leading_reshapes(layers: list[Layer], shape: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    """How many layers at the start only reshape, and the shape that comes out of them."""
    k = 0
    for layer in layers:
        if layer.kind == "Flatten":
            shape = (math.prod(shape),)
        elif layer.kind == "Reshape" and layer.target_shape is not None:
            target = layer.target_shape
            known = [d for d in target if d != -1]
            if len(known) == len(target) - 1 and math.prod(known) > 0:  # one -1: the rest of the values
                target = tuple(math.prod(shape) // math.prod(known) if d == -1 else d for d in target)
            if any(d <= 0 for d in target) or math.prod(target) != math.prod(shape):
                break
            shape = target
        else:
            break
        k += 1
    return k, shape


def _names(layers: list[Layer]) -> str:
    return ", ".join(f.name or f.kind for f in layers[:3]) + (" ..." if len(layers) > 3 else "")


def channels_first_layers(found: list[Layer]) -> list[Layer]:
    return [f for f in found if f.data_format == "channels_first" and f.kind.startswith(SPATIAL)]


@dataclass
class InputMatch:
    """The outcome: problems to report first, and the layers left to compare once an equivalent
    reshaping prefix is set aside."""

    problems: list[str] = field(default_factory=list)
    expected: list[Layer] = field(default_factory=list)
    found: list[Layer] = field(default_factory=list)


def match_input(expected_shape: list[int], expected: list[Layer], found_shape: list[Any] | None,
                found: list[Layer], same_input: bool) -> InputMatch:
    """Compare the model's input with the rubric's; with ``same_input``, any input that reaches the
    first real layer as the same values in the same shape is the same input."""
    want = tuple(expected_shape)
    if not found_shape or not all(isinstance(d, int) for d in found_shape):
        return InputMatch([], expected, found)
    got = tuple(found_shape)
    first = channels_first_layers(found)
    out = InputMatch([], expected, found)
    last = [f for f in found if f.kind.startswith(SPATIAL) and f.data_format != "channels_first"]
    if first and last:
        out.problems.append(f"{_names(first)} read data_format='channels_first' but {_names(last)} read channels "
                            "last: use one data_format in every layer")
        return out
    read_as = got[1:] + got[:1] if first and len(got) == 3 else got  # what the layers see, channels last
    if first and len(got) == 3 and got == want and read_as != want:
        out.problems.append(
            f"{_names(first)} use data_format='channels_first', which reads the input {_shape(got)} as "
            f"{got[0]} channels of {got[1]}x{got[2]} images, not {got[2]}-channel {got[0]}x{got[1]} images: leave "
            f"data_format at its default (channels_last) for images shaped {_shape(want)}")
        return out
    if same_input:
        k_exp, exp_after = _leading_reshapes(expected, want)
        k_found, found_after = _leading_reshapes(found, read_as)
        if exp_after == found_after:
            return InputMatch([], expected[k_exp:], found[k_found:])
    if got == want:
        return out
    if same_input:
        if read_as == want:  # channels first throughout, on images with the channels first
            return out
        if math.prod(got) == math.prod(want) and k_found < len(found):
            layer = found[k_found]
            out.problems.append(f"the input {_shape(got)} holds the {math.prod(want):,} values expected, but reaches "
                                f"your {layer.name or layer.kind} as {_shape(found_after)}, expected "
                                f"{_shape(exp_after)}")
            return out
        out.problems.append(f"input shape {_shape(got)}, expected {_shape(want)} (or another shape of the same "
                            f"{math.prod(want):,} values: {', '.join(_alternatives(want))})")
        return out
    out.problems.append(f"input shape {_shape(got)}, expected {_shape(want)}")
    return out


def _alternatives(want: tuple[int, ...]) -> list[str]:
    shapes = [want]
    if len(want) == 2:
        shapes += [(*want, 1), (1, *want)]
    elif len(want) == 3:
        shapes.append((want[2], want[0], want[1]))
    shapes.append((math.prod(want),))
    return [_shape(s) for s in dict.fromkeys(shapes) if s != want][:3]


def implied_image(spec: list[dict[str, Any]], input_shape: list[int], n: int, inputs: int) -> str | None:
    """The image size (``"100x100 images give"``) for which the rubric's layers before layer ``n`` (a Dense layer
    after a Flatten) give it ``inputs`` inputs; None when no size does or the stack has no image input."""
    if len(input_shape) < 2 or n < 2 or spec[n - 2]["kind"] != "Flatten":
        return None
    before = spec[: n - 2]
    rest = tuple(input_shape[2:])
    try:
        inner = layer_shapes(before, tuple(input_shape))[-1][0] if before else tuple(input_shape)
    except (KeyError, ValueError, TypeError, IndexError):
        return None
    per_pixel = math.prod(inner[2:]) if len(inner) > 2 else 1
    if inputs % per_pixel:
        return None
    sides: dict[int, list[int]] = {}  # side after the stack -> the input sides that give it
    for side in range(1, MAX_SIDE + 1):
        out = layer_shapes(before, (side, side, *rest))[-1][0] if before else (side, side)
        if out[0] > 0:
            sides.setdefault(out[0], []).append(side)
    cells = inputs // per_pixel
    pairs = [(a, cells // a) for a in sorted(sides) if a * a <= cells and cells % a == 0 and cells // a in sides]
    if not pairs:
        return None
    a, b = pairs[-1]  # the squarest
    if a == b:
        lo, hi, side = sides[a][0], sides[a][-1], max(sides[a], key=_roundness)
        return f"{side}x{side} images give" + (f" (as do sides from {lo} to {hi})" if hi > lo else "")
    h, w = max(sides[a], key=_roundness), max(sides[b], key=_roundness)
    return f"{h}x{w} (or {w}x{h}) images give"  # which side is the height, the weights cannot tell


def _roundness(side: int) -> int:
    """How likely a person chose this side: 100 and 64 over 94 and 62 (ties: the smaller side)."""
    power = side & -side
    tens = max((d for d in (10, 50, 100, 500, 1000) if side % d == 0), default=1)
    return max(power, tens) * 10000 - side
