"""The pages on a phone (390 CSS px, an iPhone 14's width) in headless Chromium: no sideways scroll, charts
that fit and whose text stays legible.

Headless Chromium will not make a window narrower than 500 px, so the page is shown in a 390 px iframe of
a harness page. The page itself forbids scripts (its Content-Security-Policy); the copy measured here has
the policy removed and a script added that posts its measurements to the harness, which writes them into
its own DOM for ``--dump-dom``.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from helpers import chromium
from render_samples import RUBRIC, sample_class, student

from grader.classstep.classwide import apply_class_relative
from grader.render import ClassReport, write_outputs

PHONE = 390
MIN_TEXT_PX = 11.0  # the smallest chart text a phone shows, in CSS px

MEASURE = """<script>
addEventListener('load', () => {
  const d = document.documentElement;
  const imgs = [...document.querySelectorAll('img')].map(i => {
    const box = i.getBoundingClientRect();
    return {src: i.src.slice(0, 60000), left: box.left, right: box.right, width: box.width,
            natural: i.naturalWidth, plot: !!i.closest('.plots')};
  });
  const charts = [...document.querySelectorAll('svg')].map(s => {
    const box = s.getBoundingClientRect(), scale = s.getScreenCTM().a;
    const sizes = [...s.querySelectorAll('text')].map(t => parseFloat(getComputedStyle(t).fontSize) * scale);
    return {left: box.left, right: box.right, width: box.width, height: box.height,
            view: [s.viewBox.baseVal.width, s.viewBox.baseVal.height], texts: sizes.length,
            smallest: Math.min(...sizes), plot: !!s.closest('.plots')};
  });
  const boxes = [...document.querySelectorAll('.scroll')].map(b => ({client: b.clientWidth, scroll: b.scrollWidth}));
  parent.postMessage(JSON.stringify({scroll: d.scrollWidth, inner: innerWidth, imgs, charts, boxes}), '*');
});
</script>"""


def at_phone_width(page: Path, tmp: Path) -> dict:
    """``page`` laid out ``PHONE`` px wide: the document's scrollWidth, every image's box, every scroll box."""
    html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page.read_text())
    assert html.count("</body>") == 1
    measured = tmp / f"measured-{page.parent.name}-{page.name}"
    measured.write_text(html.replace("</body>", MEASURE + "</body>"))
    harness = tmp / f"harness-{measured.name}"
    harness.write_text(
        '<!DOCTYPE html><html><body style="margin:0"><pre id="measured"></pre><script>'
        "addEventListener('message', e => { document.getElementById('measured').textContent = e.data; });"
        f'</script><iframe src="{measured.name}" style="width:{PHONE}px;height:844px;border:0"></iframe>'
        "</body></html>")
    dom = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                          "--no-first-run", f"--user-data-dir={tmp / 'profile'}", "--window-size=800,900",
                          "--virtual-time-budget=10000", "--dump-dom", harness.as_uri()],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    found = re.search(r'<pre id="measured">(.+?)</pre>', dom, re.S)
    assert found, "the page did not report its layout"
    text = found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    m = json.loads(text)
    assert m["inner"] == PHONE
    return m


@pytest.mark.slow
def test_summary_and_feedback_read_on_a_phone(tmp_path):
    # a long id and a long unbroken reason: what makes tables and headings wide
    long = student("s" + "0123456789" * 6, 0.77, reason="ValueError:" + "x" * 300)
    results = [*sample_class(), long]
    rep = ClassReport(RUBRIC, results, apply_class_relative(RUBRIC, results))
    out = tmp_path / "out"
    write_outputs(out, rep, ["html", "summary-html"])

    pages = [out / "summary.html", out / "students" / "amy" / "feedback.html",
             out / "students" / long.student / "feedback.html"]
    for page in pages:
        m = at_phone_width(page, tmp_path)
        where = f"{page.parent.name}/{page.name}"
        assert m["scroll"] <= PHONE, f"{where} is {m['scroll']} px wide at {PHONE} px: it scrolls sideways"
        for img in m["imgs"] + m["charts"]:
            assert img["left"] >= 0 and img["right"] <= PHONE + 0.5, f"an image in {where} overflows: {img}"
        for box in m["boxes"]:
            assert box["client"] <= PHONE
    summary = at_phone_width(out / "summary.html", tmp_path)
    charts = [c for c in summary["charts"] if c["plot"]]
    assert len(charts) == 3 and not summary["imgs"]
    for chart in charts:
        assert chart["texts"] >= 5, f"a chart has lost its titles, axes or labels: {chart}"
        assert chart["smallest"] >= MIN_TEXT_PX, f"chart text is {chart['smallest']:.1f} px on a phone: unreadable"
        # shrunk whole, not squashed: the box keeps the drawing's proportions
        assert abs(chart["height"] / chart["width"] - chart["view"][1] / chart["view"][0]) < 0.02, chart
    # the students' table keeps its columns and scrolls in its own box rather than squeezing them
    assert any(box["scroll"] > box["client"] for box in summary["boxes"])
