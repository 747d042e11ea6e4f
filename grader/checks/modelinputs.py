"""How images reach a student's model: the pixel scaling, and the harmless input shapes the grader adapts to.

Scalings (rubric option ``input_scaling``; each is ``x / divide + add`` on 0-255 pixels):

- ``unit`` (default, the course's convention): ``x / 255``, pixels in [0, 1];
- ``raw``: the 0-255 pixels as they are;
- ``symmetric``: ``x / 127.5 - 1``, pixels in [-1, 1];
- ``standardized``: ``(x / 255 - 0.1307) / 0.3081``, MNIST's mean and standard deviation.

The rubric's scaling gives the score; the others are measured on a sample too, so a model
trained with another scaling is told so instead of scoring near chance in silence.

Digit inputs (28x28 grey) are fed to the shapes models take: ``(28, 28)``, ``(28, 28, 1)``,
``(784,)``, ``(1, 28, 28)`` as they are, and, with ``adapt_inputs`` (the default), also
3-channel models (the grey copied into each channel) and 32x32 models (LeNet's padding:
2 black pixels on each side). Neither changes what the digit shows, so a student is not
zeroed for a preprocessing choice the assignment did not forbid; a rubric that requires the
assignment's exact input sets ``adapt_inputs: false``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

ScalingName = Literal["unit", "raw", "symmetric", "standardized"]
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


@dataclass(frozen=True)
class Scaling:
    name: str
    divide: float
    add: float
    words: str  # how the reason names it

    def to_cmd(self) -> dict[str, Any]:
        return {"name": self.name, "divide": self.divide, "add": self.add}


SCALINGS: dict[str, Scaling] = {
    "unit": Scaling("unit", 255.0, 0.0, "x / 255 pixels"),
    "raw": Scaling("raw", 1.0, 0.0, "raw 0-255 pixels"),
    "symmetric": Scaling("symmetric", 127.5, -1.0, "pixels scaled to [-1, 1] (x / 127.5 - 1)"),
    "standardized": Scaling("standardized", 255.0 * MNIST_STD, -MNIST_MEAN / MNIST_STD,
                            "standardized pixels ((x / 255 - 0.1307) / 0.3081)"),
}


def scaling(name: str | None, legacy_scale: float | None = None) -> Scaling:
    """The rubric's scaling: a named one, or the older ``scale: N`` (pixels divided by N)."""
    if name is not None:
        return SCALINGS[name]
    if legacy_scale is None or legacy_scale == 255.0:
        return SCALINGS["unit"]
    if legacy_scale == 1.0:
        return SCALINGS["raw"]
    return Scaling("custom", float(legacy_scale), 0.0, f"x / {legacy_scale:g} pixels")


def scaling_hint(best: Scaling, best_acc: float, used: Scaling, used_acc: float, sample: int,
                 rescaling_layer: bool) -> str:
    """The sentence that tells a student their model was trained with another scaling."""
    said = (f"on a sample of {sample} of these digits, your model reaches {best_acc:.0%} on {best.words} but "
            f"{used_acc:.0%} on {used.words}")
    if best.name == "raw" and rescaling_layer:
        return (said + f": it scales its inputs itself (a Rescaling layer), while this assignment feeds {used.words}; "
                "remove the Rescaling layer and train again")
    if best.name == "raw" and used.name == "unit":
        return said + ": it was trained without the / 255 this assignment uses; divide the training images by 255 " \
                      "and train again"
    return said + f": it was trained on {best.words}, while this assignment feeds {used.words}; train it on those"


# --------------------------------------------------------------------------- input shapes

NATIVE_SHAPES = [(28, 28), (28, 28, 1), (784,), (1, 28, 28)]


@dataclass(frozen=True)
class Feed:
    """How the 28x28 grey digits become the model's input (done by the model server)."""

    shape: tuple[int, ...]
    pad: int = 0
    channels: int = 0  # 0: no channel axis, 1 or 3: that many copies of the grey value
    channels_first: bool = False

    @property
    def adapted(self) -> bool:
        return self.pad > 0 or self.channels == 3

    def words(self) -> str:
        """What was done, for the reason ("" when the digits were fed as they are)."""
        done = []
        if self.pad:
            done.append(f"padded with {self.pad} black pixels on each side to {28 + 2 * self.pad}x{28 + 2 * self.pad}")
        if self.channels == 3:
            done.append("copied into 3 channels")
        return " and ".join(done)

    def to_cmd(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "pad": self.pad, "channels": self.channels,
                "channels_first": self.channels_first}


def _fmt(shape: tuple) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def accepted_shapes(adapt: bool) -> str:
    native = ", ".join(_fmt(s) for s in NATIVE_SHAPES)
    if not adapt:
        return native
    return (f"{native}, and adapted (28, 28, 3) (grey copied to 3 channels), (32, 32), (32, 32, 1), (32, 32, 3) "
            "or (1024,) (padded to 32x32)")


class FeedProblem(ValueError):
    """The model's input shape cannot take the digits; the message is for the student."""


def digit_feed(shape: list[int | None] | None, adapt: bool) -> Feed:
    """How to feed 28x28 grey digits to a model taking ``shape`` (no batch dimension)."""
    if not shape:
        raise FeedProblem("the file does not record the model's input shape; build the model with an input "
                          "(keras.Input(shape=(28, 28, 1)) or input_shape=...) and save it again")
    dims = list(shape)
    if len(dims) == 3 and dims[-1] in (1, 3) and dims[0] is None and dims[1] is None:
        dims = [28, 28, dims[-1]]  # a fully convolutional model takes any size: give it the digits' own
    elif len(dims) == 2 and dims == [None, None]:
        dims = [28, 28]
    found = tuple(dims)
    if any(d is None for d in dims):
        raise FeedProblem(f"the model takes inputs of shape {_fmt(tuple(shape))}, with sizes left open; digits "
                          f"are 28x28 grayscale: the grader feeds {accepted_shapes(adapt)}")
    feed = _plan(tuple(int(d) for d in dims))  # type: ignore[arg-type]
    if feed is None:
        raise FeedProblem(f"the model takes inputs of shape {_fmt(found)}; digits are 28x28 grayscale: the grader "
                          f"feeds {accepted_shapes(adapt)}; train the model on 28x28 digits")
    if feed.adapted and not adapt:
        raise FeedProblem(f"the model takes inputs of shape {_fmt(found)}; this assignment's digits are 28x28 "
                          f"grayscale, fed as {accepted_shapes(False)} (the rubric does not allow padding or "
                          "copying channels); train the model on 28x28 grey digits")
    return feed


def _plan(shape: tuple[int, ...]) -> Feed | None:
    if len(shape) == 1:
        return {784: Feed(shape), 1024: Feed(shape, pad=2)}.get(shape[0])
    if len(shape) == 2:
        return {28: Feed(shape), 32: Feed(shape, pad=2)}.get(shape[0]) if shape[0] == shape[1] else None
    if len(shape) == 3:
        h, w, c = shape
        if h == w and h in (28, 32) and c in (1, 3):
            return Feed(shape, pad=(h - 28) // 2, channels=c)
        c, h, w = shape
        if h == w and h in (28, 32) and c in (1, 3):
            return Feed(shape, pad=(h - 28) // 2, channels=c, channels_first=True)
    return None
