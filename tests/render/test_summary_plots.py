"""The class page's charts as inline SVG: what they draw matches the class, text stays text, same class same bytes."""

from __future__ import annotations

import random
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from conftest import ROOT
from render_samples import RUBRIC, student

from grader.classstep.classwide import apply_class_relative
from grader.core.results import Status
from grader.core.textsafe import terminal
from grader.render import ClassReport, get_format
from grader.render.common import LOOK
from grader.render.summary_html import (
    LABELLED_BARS,
    MAX_LABEL,
    ORDER,
    _label,
    distribution_alt,
    distribution_plot,
    histogram,
    pass_rate_plot,
    relative_plot,
)
from grader.render.svgplot import WIDTH, text_width

SVG = "{http://www.w3.org/2000/svg}"
DRAWN = {"svg", "title", "rect", "line", "text"}  # every element a chart may hold
PHONE_COLUMN = 390 - 2 * 12  # a phone's width less the page's padding


def klass(n: int, seed: int = 0) -> ClassReport:
    """``n`` students with scattered accuracies (every seventh without one) and a mix of statuses."""
    rng = random.Random(seed)
    statuses = [Status.PASSED, Status.PARTIAL, Status.FAILED, Status.ERROR, Status.PENDING]
    results = []
    for k in range(n):
        r = student(f"student{k:03d}", None if k % 7 == 3 else round(rng.random(), 4))
        for q in r.questions[:4]:
            q.status = rng.choice(statuses)
        results.append(r)
    return ClassReport(RUBRIC, results, apply_class_relative(RUBRIC, results))


def charts(page: str) -> list[ET.Element]:
    """Each ``<svg>`` of ``page``, parsed as XML: a chart that is not well-formed fails here."""
    return [ET.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", page, re.S)]


def texts(svg: ET.Element) -> list[ET.Element]:
    return list(svg.iter(f"{SVG}text"))


def tipped(svg: ET.Element) -> list[tuple[ET.Element, str]]:
    """Rectangles with their hover tips: the bars of a chart."""
    return [(r, t.text or "") for r in svg.iter(f"{SVG}rect") if (t := r.find(f"{SVG}title")) is not None]


def axis_span(svg: ET.Element) -> tuple[float, float]:
    """Where the 0 and 1 tick values of a 0-1 axis sit across: the frame's left and right."""
    xs = {t.text: float(t.get("x", "nan")) for t in texts(svg) if t.text in ("0", "1")}
    return xs["0"], xs["1"]


def check_drawing(svg: ET.Element, alt: str) -> None:
    """An image to a screen reader with ``alt`` as its name and title; only shapes and text; all of it in view."""
    assert svg.get("role") == "img" and svg.get("aria-label") == alt
    assert svg[0].tag == f"{SVG}title" and svg[0].text == alt
    assert {e.tag.removeprefix(SVG) for e in svg.iter()} <= DRAWN
    assert not [a for e in svg.iter() for a in e.attrib if a.lower().startswith("on") or "href" in a.lower()]
    w, h = (float(v) for v in svg.get("viewBox", "").split()[2:])
    assert w == WIDTH and svg.get("width") == f"{WIDTH}" and "max-width:100%" in svg.get("style", "")
    for t in texts(svg):
        size = float(t.get("font-size", "0"))
        assert size * PHONE_COLUMN / WIDTH >= 11, f"{t.text!r} would be {size * PHONE_COLUMN / WIDTH:.1f} px on a phone"
        x, y = float(t.get("x", "nan")), float(t.get("y", "nan"))
        if t.get("transform"):
            continue  # the rotated axis label: its own test below
        reach = {"end": (x - text_width(t.text or "", size), x), "middle": (x - text_width(t.text or "", size) / 2,
                 x + text_width(t.text or "", size) / 2)}.get(t.get("text-anchor", ""),
                                                          (x, x + text_width(t.text or "", size)))
        assert reach[0] >= 0 and reach[1] <= w + 1, f"{t.text!r} runs off the chart ({reach}, width {w})"
        assert 0 < y <= h, f"{t.text!r} is drawn outside the chart (y {y}, height {h})"
    for r in svg.iter(f"{SVG}rect"):
        x, y, rw, rh = (float(r.get(k, "nan")) for k in ("x", "y", "width", "height"))
        assert 0 <= x and x + rw <= w + 0.1 and 0 <= y and y + rh <= h + 0.1, f"a bar is outside the chart: {r.attrib}"


@pytest.mark.parametrize("n", [1, 3, 60])
def test_the_page_draws_three_charts_that_say_what_they_show(n):
    rep = klass(n)
    page = get_format("summary-html").render(rep)
    found = charts(page)
    plots = [distribution_plot(rep), pass_rate_plot(rep), relative_plot(rep, "digits")]
    assert len(found) == 3 and "<img" not in page.split("<h2>Could not be graded</h2>")[0]
    for svg, plot in zip(found, plots, strict=True):
        assert plot is not None and ET.tostring(svg) == ET.tostring(ET.fromstring(plot.svg))
        check_drawing(svg, plot.alt)
    distribution, rates, relative = found
    assert distribution.get("aria-label") == distribution_alt([r.total for r in rep.results], RUBRIC.max_total)
    words = [t.text for t in texts(distribution)]
    assert "Score distribution" in words and "students" in words and f"mean {sum(r.total for r in rep.results) / n:.1f}" \
        in words
    assert any(line.get("stroke-dasharray") for line in distribution.iter(f"{SVG}line")), "no dashed mean line"
    # the per-question bars: first question on top, and a legend of the statuses present, below the bars
    rows = [t for t in texts(rates) if t.get("text-anchor") == "end"]
    assert [t.text for t in rows] == [_label(q.id) for q in RUBRIC.questions]
    assert [float(t.get("y", "0")) for t in rows] == sorted(float(t.get("y", "0")) for t in rows)
    present = [s for s in ORDER if any(r.question(q.id).status is s for r in rep.results for q in RUBRIC.questions)]
    legend = [t for t in texts(rates) if t.text in {LOOK[s].label for s in ORDER}]
    assert len(legend) == len(present) and min(float(t.get("y", "0")) for t in legend) > max(
        float(t.get("y", "0")) for t in rows)
    # the relative chart: names for a small class, ranks for a big one
    named = {t.text for t in texts(relative)}
    scored = [r.student for r in rep.results if r.question("digits").relative is not None]
    if len(scored) <= LABELLED_BARS:
        assert set(map(_label, scored)) <= named
    else:
        assert not set(map(_label, scored)) & named
        assert {"students, best first", "(names in the table below)", "accuracy"} <= named


def test_bars_are_as_long_as_the_shares_they_stand_for():
    rep = klass(9, seed=3)
    n = len(rep.results)
    rates = ET.fromstring(pass_rate_plot(rep).svg)
    left, right = axis_span(rates)
    bars = tipped(rates)
    assert bars
    seen = set()
    status_of = {LOOK[s].label: s for s in ORDER}
    for rect, tip in bars:
        qid, rest = tip.split(": ", 1)
        status = status_of[rest.split(" ", 1)[1]]
        share = sum(r.question(qid).status is status for r in rep.results) / n
        assert float(rect.get("width", "0")) / (right - left) == pytest.approx(share, abs=0.001), tip
        seen.add((qid, status))
    drawn = {(q.id, r.question(q.id).status) for r in rep.results for q in RUBRIC.questions}
    assert seen == drawn, "a status some students have on a question has no bar"


def test_relative_bars_follow_the_metric_best_first_and_the_best_is_green():
    for n in (5, LABELLED_BARS + 20):
        rep = klass(n, seed=n)
        plot = relative_plot(rep, "digits")
        assert plot is not None
        svg = ET.fromstring(plot.svg)
        metric = {r.student: r.question("digits").relative for r in rep.results}
        bars = tipped(svg)
        values = [float(tip.rsplit(" ", 1)[1]) for _, tip in bars]
        assert values == sorted((v for v in metric.values() if v is not None), reverse=True)
        best = rep.bests["digits"]
        assert [rect.get("fill") == "#1a7f37" for rect, _ in bars] == [v == best for v in values]
        if n <= LABELLED_BARS:  # horizontal: the length across
            left, right = axis_span(svg)
            lengths = [float(rect.get("width", "0")) / (right - left) for rect, _ in bars]
            tops = [float(rect.get("y", "0")) for rect, _ in bars]
            assert tops == sorted(tops), "the best is not on top"
        else:  # vertical ranks: the height over the 0-1 axis
            ys = {t.text: float(t.get("y", "nan")) - 4 for t in texts(svg) if t.text in ("0", "1")}
            lengths = [float(rect.get("height", "0")) / (ys["0"] - ys["1"]) for rect, _ in bars]
            xs = [float(rect.get("x", "0")) for rect, _ in bars]
            assert xs == sorted(xs), "ranks are not left to right"
        assert lengths == pytest.approx(values, abs=0.002)


def test_histogram_bars_count_the_students_in_their_range():
    rep = klass(60, seed=5)
    svg = ET.fromstring(distribution_plot(rep).svg)
    totals = [r.total for r in rep.results]
    bars = [(rect, tip) for rect, tip in tipped(svg)]
    counted = 0
    heights = {}
    for rect, tip in bars:
        found = re.fullmatch(r"(\d+) students? scored ([\d.]+) to ([\d.]+)", tip)
        assert found, tip
        k, lo, hi = int(found.group(1)), float(found.group(2)), float(found.group(3))
        inside = sum(lo - 0.05 <= t < hi + 0.05 for t in totals)  # the tip's edges are rounded to 0.1
        assert k <= inside, f"{tip}: only {inside} totals fall there"
        heights[k] = heights.get(k, set()) | {float(rect.get("height", "0")) / k}
        counted += k
    assert counted == len(totals)
    per_student = {h for hs in heights.values() for h in hs}
    assert max(per_student) - min(per_student) < 0.05, "bar heights are not proportional to the counts"


def test_an_empty_class_still_draws_the_axes_and_says_so():
    rep = ClassReport(RUBRIC, [])
    page = get_format("summary-html").render(rep)
    found = charts(page)
    assert len(found) == 2  # no metric, so no relative chart
    check_drawing(found[0], distribution_alt([], RUBRIC.max_total))
    assert "no students yet" in (found[0].get("aria-label") or "")
    assert not tipped(found[0]) and not tipped(found[1])  # no bars, no legend, no mean line
    assert not any(line.get("stroke-dasharray") for line in found[0].iter(f"{SVG}line"))
    assert [t.text for t in texts(found[1]) if t.get("text-anchor") == "end"] == [q.id for q in RUBRIC.questions]


HOSTILE_IDS = [
    '</text></svg><script>alert(1)</script>',
    '"><img src=x onerror=alert(2)>',
    "a&b; ]]> &amp; <!-- x --> ' \" \u202e\u200bevil",
    "z" * 5000,
]


def test_a_hostile_student_id_stays_text_inside_the_chart():
    results = [student(name, 0.4 + k / 10) for k, name in enumerate(HOSTILE_IDS)] + [student("amy", 0.95)]
    rep = ClassReport(RUBRIC, results, apply_class_relative(RUBRIC, results))
    page = get_format("summary-html").render(rep)
    assert "<script" not in page and "<img" not in page
    found = charts(page)
    assert len(found) == 3
    relative = found[2]
    check_drawing(relative, relative.get("aria-label") or "")
    shown = [t.text for t in texts(relative)]
    tips = [tip for _, tip in tipped(relative)]
    for name in HOSTILE_IDS:
        clean = terminal(name)  # bidi and zero-width characters are made visible, as everywhere on the page
        assert _label(clean) in shown and len(_label(clean)) <= MAX_LABEL
        assert any(tip.startswith(clean[:40]) for tip in tips)
        assert clean in (relative.get("aria-label") or "") and clean in relative[0].text
    assert max(len(tip) for tip in tips) < 100  # a 5,000-character id does not bloat the chart


def test_a_metric_outside_zero_to_one_stays_inside_the_chart():
    results = [student("over", 1.7), student("under", -0.3), student("nan", float("nan")), student("ok", 0.5)]
    rep = ClassReport(RUBRIC, results, {"digits": 0.5})
    for n in (1, LABELLED_BARS + 1):
        plot = relative_plot(ClassReport(RUBRIC, results * n if n > 1 else results, {"digits": 0.5}), "digits")
        assert plot is not None
        svg = ET.fromstring(plot.svg)
        for rect in svg.iter(f"{SVG}rect"):
            assert "nan" not in str(rect.attrib).lower()
        check_drawing(svg, plot.alt)
    assert relative_plot(rep, "digits") is not None


def test_the_same_class_draws_the_same_bytes_in_any_order():
    one = klass(60, seed=9)
    shuffled = list(one.results)
    random.Random(1).shuffle(shuffled)
    other = ClassReport(RUBRIC, shuffled, dict(one.bests))
    render = get_format("summary-html").render
    assert render(one) == render(other) == render(klass(60, seed=9))
    assert render(one) != render(klass(60, seed=10))


def test_rendering_the_class_page_imports_no_plotting_library():
    code = ("import sys; sys.path.insert(0, 'tests'); from render_samples import sample_class, RUBRIC;"
            "from grader.classstep.classwide import apply_class_relative; from grader.render import ClassReport,"
            " get_format; rs = sample_class(); rep = ClassReport(RUBRIC, rs, apply_class_relative(RUBRIC, rs));"
            "assert '<svg' in get_format('summary-html').render(rep)")
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert "grader.render.svgplot" in imported
    assert not [m for m in imported if m.split(".")[0] == "matplotlib"], "rendering the page imported matplotlib"



def test_every_total_is_in_some_bar_even_outside_the_range():
    tops = [0.0, 46.0, 46.0, 50.0, 1e9, -3.0, float("inf"), 23.0]
    counts = histogram(tops, 5, 46.0)
    assert sum(counts) == len(tops)
    assert counts[0] == 2 and counts[-1] == 5  # 0 and -3 in the first; 46, 46, 50, 1e9 and inf in the last
