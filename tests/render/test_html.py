"""Feedback and summary pages: self-contained, escaped, and showing what the checks found."""

from __future__ import annotations

import base64
import re

import pytest
from render_samples import EQUATION, RUBRIC, png_b64, sample_class, student

from grader.classstep.classwide import apply_class_relative
from grader.render import ClassReport, get_format
from grader.render.html_page import png_data_uri
from grader.render.mathml import NotRenderable, equation_mathml


def report(**kw) -> ClassReport:
    results = sample_class()
    return ClassReport(RUBRIC, results, apply_class_relative(RUBRIC, results), **kw)


def page_of(name: str, rep: ClassReport | None = None) -> str:
    rep = rep or report()
    return get_format("html").render(next(r for r in rep.results if r.student == name), rep)


def assert_self_contained(page: str) -> None:
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.I)
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    for m in re.finditer(r'src="([^"]*)"', page):
        assert m.group(1).startswith("data:image/png;base64,")


def test_feedback_page_shows_scores_images_equation_notebook_errors_and_layers():
    page = page_of("amy")
    assert_self_contained(page)
    assert '<div class="score" id="total">' in page and "/ 46" in page
    # images with prediction and probability
    assert page.count('src="data:image/png;base64,') == 2
    assert "what2.jpg</b> (dog)<br>predicted <b>0</b> (p(1) = 0.31), expected 1: <span class=\"wrong\">wrong" in page
    # the equation as mathematics, with the four values
    assert "<math display=\"block\"><mi>Y</mi><mo>=</mo>" in page and "<msub><mi>X</mi><mn>1</mn></msub>" in page
    assert "<mfrac>" in page and "0.9947" in page
    # the failing cell as the student sees it, with its source and traceback
    assert "In [8]: ValueError: shapes (3,) and (2,)" in page and "gradients = back_propagation(X, Y)" in page
    assert "<summary>traceback</summary>" in page
    # the architecture as a table, differing rows marked
    assert '<tr class="diff"><td class="num">2</td><td>Dense(64, relu)</td><td>Dense(128, relu)</td>' in page
    assert "100,480" in page
    # manual review, and the class-relative score explained with the class best
    assert "manual review" in page and "Your instructor reviews by hand: q2." in page
    assert "your 0.9500 against the class best 0.9500" in page


def test_a_self_check_page_calls_class_scores_provisional():
    page = page_of("ben", report(self_check=True))
    assert "Provisional: this question is scored relative to the best in the class" in page


def test_hostile_text_is_escaped_everywhere_on_the_page():
    page = page_of("eve")
    assert_self_contained(page)
    assert "<img src=x" not in page and "<script>alert" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "\x1b" not in page
    summary = get_format("summary-html").render(report())
    assert "<img src=x" not in summary and "<b>HW</b>" not in summary and "&lt;b&gt;HW&lt;/b&gt;" in summary


def test_only_png_data_from_the_sandbox_becomes_an_image():
    good = png_b64()
    assert png_data_uri(good).startswith("data:image/png;base64,iVBOR")
    svg = base64.b64encode(b"<svg onload=alert(1)>").decode()
    gif = base64.b64encode(b"GIF89a....").decode()
    for bad in (svg, gif, 'iVBOR" onerror="alert(1)', "not base64!", None, 12, "A" * (4 * 1024**2)):
        assert png_data_uri(bad) is None
    rep = report()
    amy = next(r for r in rep.results if r.student == "amy")
    amy.questions[0].checks[0].details["items"][0]["thumbnail"] = svg
    page = get_format("html").render(amy, rep)
    assert page.count("data:image/png") == 1 and "<svg" not in page


def test_equations_become_mathml_or_are_refused():
    m = equation_mathml(EQUATION)
    assert m.count("<math") == 1 and "&#963;" in m and "<msup><mi>e</mi>" in m
    assert equation_mathml(["bin", "-", ["var", 1], ["bin", "-", ["var", 2], ["var", 3]]]).count("(") == 1
    deep = ["var", 1]
    for _ in range(200):
        deep = ["neg", deep]
    for bad in (["num", "1<script>"], ["call", "eval", ["var", 1]], ["var", 4], ["bin", "%", ["e"], ["e"]], "x",
                deep, []):
        with pytest.raises(NotRenderable):
            equation_mathml(bad)
    rep = report()
    amy = next(r for r in rep.results if r.student == "amy")
    amy.questions[1].checks[0].details["equation_tree"] = ["num", "<b>"]
    assert "<math" not in get_format("html").render(amy, rep)


def test_summary_page_links_marks_the_class_best_and_lists_who_needs_attention():
    rep = report()
    page = get_format("summary-html").render(rep)
    assert_self_contained(page)
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" role="img"') == 3  # distribution, pass rates, digits
    assert "data:image/png" not in page
    for s in ("amy", "ben", "cal", "eve"):
        assert f'<a href="students/{s}/feedback.html">{s}</a>' in page
    assert "Class best <b>0.9500</b> (amy)" in page
    assert '<td class="num">0.9500 &#9733; class best</td>' in page and page.count("&#9733; class best") == 1
    assert "cal.zip: is a PDF document, not a zip" in page.split("<h2>Could not be graded</h2>")[1]
    review = page.split("<h2>Needs manual review</h2>")[1].split("<h2>")[0]
    assert "amy" in review and "ben" not in review
    assert page == get_format("summary-html").render(report())  # the same class, the same bytes


def test_feedback_for_a_submission_that_could_not_be_graded():
    rep = report()
    page = page_of("cal", rep)
    assert '<div class="alert"><b>Not graded:</b> cal.zip: is a PDF document' in page
    one = student("solo", 0.7)
    assert "Provisional" in get_format("html").render(one, ClassReport(RUBRIC, [one], self_check=True))


def test_the_networks_long_equation_is_drawn_one_term_per_line():
    hidden = [["bin", "*", ["num", f"{k}.5"], ["call", "sigmoid", ["var", 1]]] for k in range(4)]
    arg = ["bin", "-", ["bin", "+", ["bin", "+", hidden[0], hidden[1]], hidden[2]], hidden[3]]
    m = equation_mathml(["call", "sigmoid", arg])
    assert m.count("<mtr>") == 4 and "<mtable" in m
    assert [r.split("<mn>")[1].split("</mn>")[0] for r in m.split("<mtr>")[1:]] == ["0.5", "1.5", "2.5", "3.5"]
    assert m.split("<mtr>")[4].startswith("<mtd><mrow></mrow></mtd><mtd><mrow><mo>&#8722;</mo>")
    assert "<mtable" not in equation_mathml(EQUATION)  # two terms fit on one line
