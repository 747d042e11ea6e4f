"""Thumbnails for feedback pages: made in the sandboxed model server, bounded, PNG only."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from helpers import grade_files, huge_png_header, isolation_modes, png_bytes
from PIL import Image

from grader.insandbox.safeimage import THUMBNAIL_QUANTIZE_ABOVE, ImageProblem, thumbnail_png
from grader.options import GradeOptions

RUBRIC = """
name: t
questions:
  - id: shot
    title: screenshot
    points: 1
    checks: [{kind: image, file: "shot.png", manual_review: true}]
"""


def decode(b64: str) -> Image.Image:
    raw = base64.b64decode(b64)
    assert raw.startswith(b"\x89PNG\r\n\x1a\n")
    return Image.open(io.BytesIO(raw))


def test_thumbnails_are_small_upright_pngs(tmp_path):
    photo = tmp_path / "photo.jpg"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (900, 1200, 3), dtype=np.uint8)).save(photo, quality=90)
    t = thumbnail_png(str(photo), "photo.jpg", 180)
    im = decode(t["png"])
    assert im.size == (180, 135) == (t["width"], t["height"])
    assert len(base64.b64decode(t["png"])) < 3 * THUMBNAIL_QUANTIZE_ABOVE  # noise is the worst case for PNG
    rgba = tmp_path / "a.png"
    rgba.write_bytes(png_bytes((40, 20), mode="RGBA"))
    assert decode(thumbnail_png(str(rgba), "a.png", 180)["png"]).mode in ("RGB", "P")
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(huge_png_header())
    with pytest.raises(ImageProblem, match="decompression bomb"):
        thumbnail_png(str(bomb), "bomb.png", 180)


@pytest.mark.parametrize("isolation", isolation_modes())
def test_screenshot_thumbnail_reaches_the_result_only_when_asked(tmp_path, isolation):
    files = {"shot.png": png_bytes((1200, 800))}
    r = grade_files(tmp_path / "a", files, RUBRIC, GradeOptions(isolation=isolation))
    details = r.question("shot").checks[0].details
    assert decode(details["thumbnail"]).size == (480, 320)
    r = grade_files(tmp_path / "b", files, RUBRIC, GradeOptions(isolation=isolation, feedback_images=False))
    assert r.question("shot").checks[0].details["thumbnail"] is None
    assert r.question("shot").score == 1
