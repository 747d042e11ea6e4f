"""The SVG drawing kit: round ticks, values clamped into the frame, escaped text, legends that wrap."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from grader.render.svgplot import Canvas, Frame, Key, legend, legend_rows, nice_ticks, num, text_width

ROUND = (1, 2, 2.5, 5)


@pytest.mark.parametrize("top", [0.3, 1, 3, 7, 12, 46, 60, 123.4, 1000, 12345])
@pytest.mark.parametrize("whole", [False, True])
def test_ticks_are_round_few_and_reach_the_top(top, whole):
    for cover in (False, True):
        if whole and not cover and top < 1:
            continue  # whole steps along a range shorter than one: only 0 (the charts never ask for it)
        ticks = nice_ticks(top, most=5, whole=whole, cover=cover)
        step = ticks[1] - ticks[0]
        mantissa = step / 10 ** math.floor(math.log10(step))
        assert ticks[0] == 0 and any(math.isclose(mantissa, m) for m in ROUND), ticks
        assert all(math.isclose(b - a, step) for a, b in zip(ticks, ticks[1:], strict=False)), ticks
        assert len(ticks) <= 5 + 2
        if whole:
            assert all(t == int(t) for t in ticks)
        if cover:  # an axis the data must fit under
            assert ticks[-1] >= top - 1e-9 and ticks[-2] < top
        else:  # ticks along a fixed range
            assert ticks[-1] <= top + 1e-9 and ticks[-1] + step > top


def test_a_count_of_zero_still_gets_an_axis():
    assert nice_ticks(0, whole=True, cover=True) == [0, 1]


def test_values_outside_the_range_stop_at_the_frame():
    f = Frame(10, 20, 100, 50, x_min=0.5, x_max=4.5, y_max=2)
    assert (f.x(0.5), f.x(4.5), f.x(2.5)) == (10, 110, 60)
    assert f.x(-3) == f.x(math.nan) == f.x(-math.inf) == 10 and f.x(99) == f.x(math.inf) == 110
    assert (f.y(0), f.y(2), f.y(1)) == (70, 20, 45)
    assert f.y(-1) == f.y(math.nan) == 70 and f.y(5) == 20


def test_numbers_are_short_and_never_minus_zero():
    assert [num(v) for v in (12.0, 12.04, 12.06, -0.04, 0.0, 3.25)] == ["12", "12", "12.1", "0", "0", "3.2"]


def test_text_is_escaped_and_the_drawing_is_well_formed_xml():
    c = Canvas(200, 100)
    evil = '</text></svg><script>alert(1)</script>"&\''
    c.text(10, 20, evil)
    c.rect(0, 0, 10, 10, "#000", tip=evil)
    c.rect(0, 0, 0, 10, "#000")  # nothing to draw
    c.line(0, 0, 5, 5, dashed=True)
    svg = ET.fromstring(c.svg(alt=evil))
    ns = "{http://www.w3.org/2000/svg}"
    assert svg.get("aria-label") == evil and svg.find(f"{ns}title").text == evil
    assert svg.find(f"{ns}text").text == evil and svg.find(f"{ns}rect/{ns}title").text == evil
    assert len(svg.findall(f"{ns}rect")) == 1 and svg.find(f"{ns}line").get("stroke-dasharray")
    assert "<script" not in c.svg(alt="x")


def test_a_legend_wraps_rather_than_running_off_the_chart():
    keys = [Key("#000", f"status number {k} with a long name") for k in range(7)]
    rows = legend_rows(keys, 360)
    assert len(rows) > 1 and [k for row in rows for k in row] == keys
    c = Canvas(380, 400)
    height = legend(c, keys, 10)
    assert height == 20 * len(rows)
    svg = ET.fromstring(c.svg(alt="legend"))
    for t in svg.iter("{http://www.w3.org/2000/svg}text"):
        x = float(t.get("x", "nan"))
        assert x >= 0 and x + text_width(t.text or "") <= 380, t.text
