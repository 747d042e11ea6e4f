"""Charts as inline SVG: rectangles, lines and text, laid out by hand.

The class page's three charts used to be drawn by matplotlib, whose import and three ``savefig`` calls
cost about 0.8 s of every ``mlgrade grade``; what they draw is a few hundred rectangles. A chart here::

    c = Canvas(WIDTH, 200)
    f = Frame(40, 30, WIDTH - 52, 120, x_max=1.0)
    c.rect(f.x(0), f.top, f.x(0.75) - f.x(0), 20, "#1a7f37", tip="q1: 75% passed")
    x_axis(c, f, nice_ticks(1.0), lambda v: f"{v:g}", ["share of students"])
    html = c.svg(alt="per-question results ...")

One unit of the ``viewBox`` is one CSS px at the chart's natural width (:data:`WIDTH`). A page lets the
chart shrink to its column, never grow past that width: at a phone's 390 px the column is 366 px, so
:data:`SMALL_TEXT` (12) is drawn about 11.5 px high. The output is the same bytes for the same data
(coordinates rounded to 0.1, no ids, no clock), and every string passes through :func:`esc`, so a
student's name stays text inside a ``<text>`` element.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from grader.render.html_page import esc

WIDTH = 380  # natural width: two charts side by side in the page's 1000 px column, one on a phone
TEXT = 13  # titles and axis labels
SMALL_TEXT = 12  # ticks, legends, names: the smallest text a chart draws
INK = "#1f2328"
MUTED = "#57606a"
AXIS = "#8c959f"
CHAR_WIDTH = 0.62  # of the font size: a generous average glyph width, since the layout has no font metrics


def num(x: float) -> str:
    """A coordinate with one decimal and no trailing zero (``12.0`` -> ``12``): short and the same every run."""
    s = f"{x:.1f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def text_width(s: str, size: float = SMALL_TEXT) -> float:
    """How wide ``s`` is likely drawn, erring wide so a label never runs into the plot."""
    return len(s) * size * CHAR_WIDTH


def _finite(v: float, lo: float, hi: float) -> float:
    """``v`` clamped to ``[lo, hi]``; not a number counts as ``lo``, so a bad record draws nothing, not garbage."""
    return lo if math.isnan(v) else min(max(v, lo), hi)


@dataclass
class Canvas:
    """An SVG being drawn: its size in CSS px at natural width and its elements, in drawing order."""

    width: float
    height: float
    parts: list[str] = field(default_factory=list)

    def rect(self, x: float, y: float, w: float, h: float, fill: str, tip: str = "") -> None:
        """A filled rectangle; ``tip`` (text) is shown when the pointer rests on it."""
        if w <= 0 or h <= 0:
            return
        body = f"<title>{esc(tip)}</title></rect>" if tip else "/>"
        self.parts.append(f'<rect x="{num(x)}" y="{num(y)}" width="{num(w)}" height="{num(h)}" fill="{fill}"'
                          + (">" + body if tip else body))

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str = AXIS, width: float = 1,
             dashed: bool = False) -> None:
        dash = ' stroke-dasharray="5 3"' if dashed else ""
        self.parts.append(f'<line x1="{num(x1)}" y1="{num(y1)}" x2="{num(x2)}" y2="{num(y2)}" stroke="{stroke}" '
                          f'stroke-width="{num(width)}"{dash}/>')

    def text(self, x: float, y: float, s: str, size: int = SMALL_TEXT, anchor: str = "start", bold: bool = False,
             fill: str = INK, rotate: bool = False) -> None:
        """``s`` (text, escaped here) with its baseline at ``y``; ``rotate`` turns it to read upwards."""
        extra = (f' text-anchor="{anchor}"' if anchor != "start" else "") + (' font-weight="600"' if bold else "")
        if rotate:
            extra += f' transform="rotate(-90 {num(x)} {num(y)})"'
        self.parts.append(f'<text x="{num(x)}" y="{num(y)}" font-size="{size}" fill="{fill}"{extra}>{esc(s)}</text>')

    def svg(self, alt: str) -> str:
        """The chart as an image a screen reader reads as ``alt``; it shrinks to its box, never grows past it."""
        w, h = num(self.width), num(self.height)
        return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{esc(alt)}" viewBox="0 0 {w} {h}" '
                f'width="{w}" height="{h}" style="max-width:100%;height:auto">'
                f"<title>{esc(alt)}</title>" + "".join(self.parts) + "</svg>")


@dataclass(frozen=True)
class Frame:
    """The plotting area of a chart (in canvas units) and the data ranges it maps there."""

    left: float
    top: float
    width: float
    height: float
    x_min: float = 0.0
    x_max: float = 1.0
    y_min: float = 0.0
    y_max: float = 1.0

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height

    def x(self, v: float) -> float:
        """Where ``v`` falls across; values outside the range stop at its edge."""
        return self.left + self.width * (_finite(v, self.x_min, self.x_max) - self.x_min) / (self.x_max - self.x_min)

    def y(self, v: float) -> float:
        """Where ``v`` falls upwards from the bottom; values outside the range stop at its edge."""
        return self.bottom - self.height * (_finite(v, self.y_min, self.y_max) - self.y_min) / (self.y_max - self.y_min)


def nice_step(span: float, most: int = 6, whole: bool = False) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) that cuts ``span`` into at most ``most`` parts."""
    if not math.isfinite(span) or span <= 0:
        return 1.0
    raw = span / most
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return max(1.0, round(step)) if whole else step


def nice_ticks(top: float, most: int = 6, whole: bool = False, cover: bool = False) -> list[float]:
    """Ticks from 0 in round steps: up to ``top``, or (``cover``) up to the first tick at or past it."""
    step = nice_step(top, most, whole)
    count = math.ceil(top / step - 1e-9) if cover else math.floor(top / step + 1e-9)
    return [round(k * step, 10) for k in range(max(count, 1 if cover else 0) + 1)]


def tick_text(v: float) -> str:
    """``0.2`` -> ``"0.2"``, ``5.0`` -> ``"5"``."""
    return f"{v:.10g}"


def title(c: Canvas, lines: Sequence[str], top: float = 0) -> float:
    """Centred title lines at the top; returns the height they take."""
    for k, line in enumerate(lines):
        c.text(c.width / 2, top + 18 + k * 17, line, TEXT, anchor="middle", bold=k == 0)
    return 8 + 17 * len(lines)


def x_axis(c: Canvas, f: Frame, ticks: Sequence[float], fmt: Callable[[float], str] = tick_text,
           label: Sequence[str] = ()) -> None:
    """The bottom axis: a line, tick marks and their values, and ``label`` lines centred under them."""
    c.line(f.left, f.bottom, f.right, f.bottom)
    for v in ticks:
        x = f.x(v)
        c.line(x, f.bottom, x, f.bottom + 4)
        c.text(x, f.bottom + 17, fmt(v), anchor="middle", fill=MUTED)
    for k, line in enumerate(label):
        c.text(f.left + f.width / 2, f.bottom + 36 + 16 * k, line, TEXT, anchor="middle")


X_AXIS_HEIGHT = 44  # under the frame: tick values and one label line; 16 more per further line


def y_axis(c: Canvas, f: Frame, ticks: Sequence[float], fmt: Callable[[float], str] = tick_text,
           label: str = "") -> None:
    """The left axis: a line, tick marks with their values, and ``label`` reading upwards at the far left."""
    c.line(f.left, f.top, f.left, f.bottom)
    for v in ticks:
        y = f.y(v)
        c.line(f.left - 4, y, f.left, y)
        c.text(f.left - 7, y + 4, fmt(v), anchor="end", fill=MUTED)
    if label:
        c.text(14, f.top + f.height / 2, label, TEXT, anchor="middle", rotate=True)


def y_axis_width(ticks: Sequence[float], fmt: Callable[[float], str] = tick_text) -> float:
    """Room left of a frame for the rotated axis label and the widest tick value."""
    return 30 + max((text_width(fmt(v)) for v in ticks), default=0)


def row_labels(c: Canvas, f: Frame, labels: Sequence[str], centres: Sequence[float]) -> None:
    """A name at the left of each bar of a horizontal bar chart, right-aligned against the frame."""
    c.line(f.left, f.top, f.left, f.bottom)
    for label, y in zip(labels, centres, strict=True):
        c.text(f.left - 6, y + 4, label, anchor="end")


@dataclass(frozen=True)
class Key:
    """One entry of a legend: a filled square, or (``dashed``) a dashed line, of ``colour``, then ``label``."""

    colour: str
    label: str
    dashed: bool = False


LEGEND_ROW = 20


def legend_rows(keys: Sequence[Key], width: float) -> list[list[Key]]:
    """``keys`` wrapped into rows no wider than ``width``."""
    rows: list[list[Key]] = []
    used = width
    for key in keys:
        w = _key_width(key)
        if rows and used + w <= width:
            rows[-1].append(key)
            used += w
        else:
            rows.append([key])
            used = w
    return rows


def _key_width(key: Key) -> float:
    return 24 + text_width(key.label) + 14


def legend(c: Canvas, keys: Sequence[Key], top: float, right: float | None = None) -> float:
    """Draws ``keys`` in rows, centred or (``right``) ending there; returns the height taken."""
    rows = legend_rows(keys, c.width - 16)
    for k, row in enumerate(rows):
        total = sum(_key_width(key) for key in row) - 14
        x = right - total if right is not None else (c.width - total) / 2
        y = top + k * LEGEND_ROW + 10
        for key in row:
            if key.dashed:
                c.line(x, y, x + 18, y, key.colour, width=1.5, dashed=True)
            else:
                c.rect(x + 4, y - 6, 12, 12, key.colour)
            c.text(x + 24, y + 4, key.label)
            x += _key_width(key)
    return LEGEND_ROW * len(rows)
