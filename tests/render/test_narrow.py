"""The pages on a phone (390 CSS px, an iPhone 14's width) in headless Chromium: no sideways scroll, plots
that fit and whose text stays legible.

Headless Chromium will not make a window narrower than 500 px, so the page is shown in a 390 px iframe of
a harness page. The page itself forbids scripts (its Content-Security-Policy); the copy measured here has
the policy removed and a script added that posts its measurements to the harness, which writes them into
its own DOM for ``--dump-dom``.
"""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
from pathlib import Path

import pytest
from helpers import chromium
from PIL import Image
from render_samples import RUBRIC, sample_class, student

from grader.classstep.classwide import apply_class_relative
from grader.render import ClassReport, summary_html, write_outputs

PHONE = 390
MIN_TEXT_PX = 9.0  # the smallest plot text a phone shows, in CSS px

MEASURE = """<script>
addEventListener('load', () => {
  const d = document.documentElement;
  const imgs = [...document.querySelectorAll('img')].map(i => {
    const box = i.getBoundingClientRect();
    return {src: i.src.slice(0, 60000), left: box.left, right: box.right, width: box.width,
            natural: i.naturalWidth, plot: !!i.closest('.plots')};
  });
  const boxes = [...document.querySelectorAll('.scroll')].map(b => ({client: b.clientWidth, scroll: b.scrollWidth}));
  parent.postMessage(JSON.stringify({scroll: d.scrollWidth, inner: innerWidth, imgs, boxes}), '*');
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


def png_dpi(src: str) -> float:
    """The resolution a plot was drawn at (its PNG's pHYs chunk), so its text size in CSS px can be worked out."""
    raw = base64.b64decode(src.split(",", 1)[1] + "==")
    return float(Image.open(io.BytesIO(raw)).info.get("dpi", (72, 72))[0])


@pytest.mark.slow
def test_summary_and_feedback_read_on_a_phone(tmp_path):
    # a long id and a long unbroken reason: what makes tables and headings wide
    long = student("s" + "0123456789" * 6, 0.77, reason="ValueError:" + "x" * 300)
    results = [*sample_class(), long]
    rep = ClassReport(RUBRIC, results, apply_class_relative(RUBRIC, results))
    out = tmp_path / "out"
    write_outputs(out, rep, ["html", "summary-html"])
    smallest_pt = getattr(summary_html, "SMALLEST_TEXT_PT", 8)

    pages = [out / "summary.html", out / "students" / "amy" / "feedback.html",
             out / "students" / long.student / "feedback.html"]
    for page in pages:
        m = at_phone_width(page, tmp_path)
        where = f"{page.parent.name}/{page.name}"
        assert m["scroll"] <= PHONE, f"{where} is {m['scroll']} px wide at {PHONE} px: it scrolls sideways"
        for img in m["imgs"]:
            assert img["left"] >= 0 and img["right"] <= PHONE + 0.5, f"an image in {where} overflows: {img}"
        for box in m["boxes"]:
            assert box["client"] <= PHONE
    summary = at_phone_width(out / "summary.html", tmp_path)
    plots = [i for i in summary["imgs"] if i["plot"]]
    assert len(plots) == 3
    for img in plots:
        text_px = smallest_pt * png_dpi(img["src"]) / 72 * img["width"] / img["natural"]
        assert text_px >= MIN_TEXT_PX, f"plot text is {text_px:.1f} px on a phone: unreadable"
    # the students' table keeps its columns and scrolls in its own box rather than squeezing them
    assert any(box["scroll"] > box["client"] for box in summary["boxes"])
