"""modelinputs: the scalings a rubric can name and the input shapes digits are fed to, with words for each."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from grader.checks.modelinputs import SCALINGS, Feed, FeedProblem, digit_feed, scaling, scaling_hint

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "grader" / "insandbox"))


@pytest.mark.parametrize(("shape", "feed"), [
    ([784], Feed((784,))),
    ([28, 28], Feed((28, 28))),
    ([28, 28, 1], Feed((28, 28, 1), channels=1)),
    ([1, 28, 28], Feed((1, 28, 28), channels=1, channels_first=True)),
    ([28, 28, 3], Feed((28, 28, 3), channels=3)),
    ([32, 32, 1], Feed((32, 32, 1), pad=2, channels=1)),
    ([32, 32, 3], Feed((32, 32, 3), pad=2, channels=3)),
    ([32, 32], Feed((32, 32), pad=2)),
    ([1024], Feed((1024,), pad=2)),
    ([None, None, 1], Feed((28, 28, 1), channels=1)),
])
def test_feeds(shape, feed):
    assert digit_feed(shape, adapt=True) == feed


@pytest.mark.parametrize("shape", [[64, 64, 3], [28, 28, 2], [30, 30, 1], [785], [28, 32], [None, 784], []])
def test_unsupported_shapes(shape):
    with pytest.raises(FeedProblem) as e:
        digit_feed(shape, adapt=True)
    assert "28x28" in str(e.value) or "28, 28" in str(e.value)


def test_adapted_shapes_need_the_rubric(shape=(32, 32, 1)):
    with pytest.raises(FeedProblem, match="does not allow padding or copying channels"):
        digit_feed(list(shape), adapt=False)
    assert digit_feed([28, 28, 1], adapt=False) == Feed((28, 28, 1), channels=1)


def test_feeding_on_the_server_pads_black_then_scales():
    """Padding happens in raw pixels, so the border is black whatever the scaling ([-1, 1] gives -1)."""
    import model_server

    x = np.full((2, 28, 28), 255.0, np.float32)
    sym = SCALINGS["symmetric"]
    out = model_server._scaled(x, sym.divide, sym.add, Feed((32, 32, 3), pad=2, channels=3).to_cmd())
    assert out.shape == (2, 32, 32, 3)
    assert out[0, 0, 0, 0] == -1.0 and out[0, 16, 16, 2] == 1.0
    flat = model_server._scaled(x, 255.0, 0.0, Feed((1024,), pad=2).to_cmd())
    assert flat.shape == (2, 1024) and flat[0, 0] == 0.0 and flat.max() == 1.0
    first = model_server._scaled(x, 255.0, 0.0, Feed((1, 28, 28), channels=1, channels_first=True).to_cmd())
    assert first.shape == (2, 1, 28, 28)


def test_scalings_map_0_255_where_they_say():
    for name, lo, hi in (("unit", 0, 1), ("raw", 0, 255), ("symmetric", -1, 1)):
        s = SCALINGS[name]
        assert (0 / s.divide + s.add, 255 / s.divide + s.add) == pytest.approx((lo, hi))
    st = SCALINGS["standardized"]
    assert 255 * 0.1307 / st.divide + st.add == pytest.approx(0.0)
    assert scaling(None) is SCALINGS["unit"] and scaling(None, 1.0) is SCALINGS["raw"]
    assert scaling(None, 100.0).divide == 100.0


def test_hint_wording():
    raw, unit = SCALINGS["raw"], SCALINGS["unit"]
    hint = scaling_hint(raw, 0.99, unit, 0.108, 256, rescaling_layer=False)
    assert hint == ("on a sample of 256 of these digits, your model reaches 99% on raw 0-255 pixels but 11% on "
                    "x / 255 pixels: it was trained without the / 255 this assignment uses; divide the training "
                    "images by 255 and train again")
    assert "a Rescaling layer" in scaling_hint(raw, 0.99, unit, 0.1, 256, rescaling_layer=True)
