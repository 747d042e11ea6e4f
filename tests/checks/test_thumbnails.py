"""Thumbnails for feedback pages: made in the sandboxed model server, bounded, PNG only."""

from __future__ import annotations

import base64
import hashlib
import io

import numpy as np
import pytest
from helpers import grade_files, huge_png_header, isolation_modes, png_bytes
from PIL import Image

from grader.checks.thumbnails import PREVIEW_NAME
from grader.core.options import GradeOptions
from grader.insandbox.safeimage import THUMBNAIL_QUANTIZE_ABOVE, ImageProblem, thumbnail_png
from grader.render.html_page import png_data_uri, png_size

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


def screenshot_bytes(size=(1920, 1080)) -> bytes:
    """A screenshot-like image: text on a light background (what HDFView looks like to PNG)."""
    from PIL import ImageDraw

    im = Image.new("RGB", size, (240, 240, 240))
    draw = ImageDraw.Draw(im)
    for y in range(0, size[1], 14):
        for x in range(0, size[0], 90):
            draw.text((x, y), f"{(x * 7 + y * 13) % 997 / 997:.5f}", fill=(0, 0, 0))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("isolation", isolation_modes())
def test_flagged_screenshots_get_a_review_preview_file(tmp_path, isolation):
    previews = tmp_path / "previews"
    files = {"shot.png": screenshot_bytes()}
    r = grade_files(tmp_path / "a", files, RUBRIC, GradeOptions(isolation=isolation, preview_dir=previews))
    details = r.question("shot").checks[0].details
    name = details["preview"]
    assert PREVIEW_NAME.fullmatch(name) and [p.name for p in previews.iterdir()] == [name]
    raw = (previews / name).read_bytes()
    assert hashlib.sha256(raw).hexdigest() + ".png" == name  # content-addressed
    assert Image.open(io.BytesIO(raw)).size == (1600, 900)
    assert decode(details["thumbnail"]).size == (480, 270)  # the feedback page's thumbnail is unchanged
    # regrading the same file reuses the preview
    r2 = grade_files(tmp_path / "b", files, RUBRIC, GradeOptions(isolation=isolation, preview_dir=previews))
    assert r2.question("shot").checks[0].details["preview"] == name and len(list(previews.iterdir())) == 1
    # no preview when the thumbnail already shows every pixel, when not flagged, or when not asked for
    small = grade_files(tmp_path / "c", {"shot.png": png_bytes((400, 300))}, RUBRIC,
                        GradeOptions(isolation=isolation, preview_dir=previews))
    assert "preview" not in small.question("shot").checks[0].details
    unflagged = grade_files(tmp_path / "d", files, RUBRIC.replace("manual_review: true", "manual_review: false"),
                            GradeOptions(isolation=isolation, preview_dir=previews))
    assert "preview" not in unflagged.question("shot").checks[0].details
    plain = grade_files(tmp_path / "e", files, RUBRIC, GradeOptions(isolation=isolation))
    assert "preview" not in plain.question("shot").checks[0].details
    assert len(list(previews.iterdir())) == 1


def test_a_preview_is_made_from_the_same_decode(tmp_path):
    shot = tmp_path / "shot.png"
    shot.write_bytes(screenshot_bytes())
    t = thumbnail_png(str(shot), "shot.png", 480, preview_side=1600)
    assert (t["width"], t["height"]) == (480, 270)
    assert decode(t["preview"]["png"]).size == (1600, 900) == (t["preview"]["width"], t["preview"]["height"])
    assert "preview" not in thumbnail_png(str(shot), "shot.png", 2000, preview_side=1600)  # no larger than 1600
    assert decode(thumbnail_png(str(shot), "shot.png", 5000)["png"]).size == (1600, 900)  # capped


def test_png_size_refuses_what_a_thumbnailer_never_makes():
    ok = png_bytes((300, 200))
    assert png_size(ok) == (300, 200)
    assert png_size(huge_png_header(30000, 30000)) is None
    assert png_size(huge_png_header(2000, 100), max_side=1600) is None
    assert png_size(b"GIF89a" + ok[6:]) is None
    assert png_size(ok[:20]) is None
    assert png_data_uri(base64.b64encode(huge_png_header()).decode()) is None
