"""The pages in a real browser (headless Chromium): rendered, not blank, the score drawn on screen."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import chromium
from PIL import Image
from render_samples import RUBRIC, sample_class

from grader.classstep.classwide import apply_class_relative
from grader.render import ClassReport, write_outputs


def browse(page: Path, tmp: Path, what: str, height: int = 1400) -> tuple[np.ndarray, str]:
    """A screenshot (as grey levels) and the DOM Chromium built from ``page``."""
    exe = chromium()
    common = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
              f"--user-data-dir={tmp / 'profile'}", f"--window-size=1100,{height}"]
    shot = tmp / f"{what}.png"
    subprocess.run([*common, f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120, check=True)
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    return np.asarray(Image.open(shot).convert("L"), dtype=np.float64), dom


@pytest.mark.slow
def test_feedback_and_summary_pages_render_in_chromium(tmp_path):
    results = sample_class()
    rep = ClassReport(RUBRIC, results, apply_class_relative(RUBRIC, results))
    out = tmp_path / "out"
    write_outputs(out, rep, ["html", "summary-html"])
    amy = next(r for r in rep.results if r.student == "amy")

    pixels, dom = browse(out / "students" / "amy" / "feedback.html", tmp_path, "feedback")
    assert pixels.shape == (1400, 1100)
    assert (pixels < 200).mean() > 0.02 and pixels.std() > 20, "the page looks blank"
    assert f'<div class="score" id="total">{amy.total:g}<small> / 46</small></div>' in dom
    assert "<math" in dom and "data:image/png;base64," in dom
    # the score is drawn: the same page with another total differs where the score is
    changed = (out / "students" / "amy" / "feedback.html").read_text().replace(f'id="total">{amy.total:g}<', 'id="total">3<')
    (tmp_path / "other.html").write_text(changed)
    other, _ = browse(tmp_path / "other.html", tmp_path, "other")
    hero = (slice(80, 220), slice(0, 400))
    assert np.abs(pixels[hero] - other[hero]).mean() > 1.0
    assert np.array_equal(pixels[400:], other[400:])  # and only there

    pixels, dom = browse(out / "summary.html", tmp_path, "summary", height=1800)
    assert (pixels < 200).mean() > 0.02 and pixels.std() > 20
    assert 'href="students/amy/feedback.html"' in dom and "Class best <b>0.9500</b> (amy)" in dom
    assert dom.count("<svg ") == 3 and "data:image/png" not in dom
