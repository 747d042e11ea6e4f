"""The foundation's check kinds, each with passing, wrong and hostile input."""

from __future__ import annotations

import pytest
from helpers import grade_files, huge_png_header, jpeg_bytes, png_bytes

FILE_RUBRIC = """
name: t
questions:
  - id: w
    title: weights
    points: 1
    checks:
      - kind: file_present
        file: weights.h5
"""

IMAGE_RUBRIC = """
name: t
questions:
  - id: shot
    title: screenshot
    points: 0.5
    checks:
      - kind: image
        file: "shot.{png,jpg}"
        min_width: 100
        min_height: 50
        manual_review: true
        review_note: shows the dense layer
"""


def test_file_present_passes_and_names_the_file(tmp_path):
    r = grade_files(tmp_path, {"sub/Weights.H5": b"\x89HDF data"}, FILE_RUBRIC)
    q = r.question("w")
    assert q.score == 1 and q.status == "passed"
    assert q.reason == "Weights.H5 found (9 bytes)"  # the single folder 'sub/' is looked through


def test_file_present_fails_when_missing_with_a_suggestion(tmp_path):
    r = grade_files(tmp_path, {"weight.h5": b"x"}, FILE_RUBRIC)
    q = r.question("w")
    assert q.score == 0 and q.status == "failed"
    assert "missing file: expected 'weights.h5'" in q.reason and "found 'weight.h5'" in q.reason


def test_file_present_fails_when_empty(tmp_path):
    r = grade_files(tmp_path, {"weights.h5": b""}, FILE_RUBRIC)
    assert r.question("w").score == 0
    assert "weights.h5 is empty (0 bytes)" in r.question("w").reason


def test_image_valid_png_is_flagged_for_review(tmp_path):
    r = grade_files(tmp_path, {"shot.png": png_bytes()}, IMAGE_RUBRIC)
    q = r.question("shot")
    assert q.score == 0.5 and q.manual_review
    assert "PNG 320x200" in q.reason and "shows the dense layer" in q.reason
    # what the instructor will look for, never worded as if the grader had seen it
    assert "not judged by the grader; your instructor checks it by eye (what they look for: shows the dense layer)" \
        in q.reason and "review (" not in q.reason


@pytest.mark.parametrize("mode", ["L", "CMYK"])
def test_image_grayscale_and_cmyk_are_fine(tmp_path, mode):
    data = png_bytes(mode="L") if mode == "L" else jpeg_bytes(mode="CMYK")
    name = "shot.png" if mode == "L" else "shot.jpg"
    r = grade_files(tmp_path, {name: data}, IMAGE_RUBRIC)
    assert r.question("shot").score == 0.5, r.question("shot").reason


def test_image_truncated_fails_clearly(tmp_path):
    data = png_bytes(size=(400, 300))
    r = grade_files(tmp_path, {"shot.png": data[: len(data) // 2]}, IMAGE_RUBRIC)
    q = r.question("shot")
    assert q.score == 0 and q.status == "failed"
    assert q.reason.startswith("shot.png: broken image")


def test_image_truncated_jpeg_fails_clearly(tmp_path):
    data = jpeg_bytes(size=(400, 300))
    r = grade_files(tmp_path, {"shot.jpg": data[:300]}, IMAGE_RUBRIC)
    assert r.question("shot").score == 0
    assert "shot.jpg" in r.question("shot").reason


def test_image_decompression_bomb_is_refused_without_decoding(tmp_path):
    import time

    grade_files(tmp_path / "warm", {"shot.png": png_bytes()}, IMAGE_RUBRIC)  # the image reader is up: time only the check
    t = time.perf_counter()
    r = grade_files(tmp_path, {"shot.png": huge_png_header()}, IMAGE_RUBRIC)
    assert time.perf_counter() - t < 2
    q = r.question("shot")
    assert q.score == 0
    assert "30000x30000 pixels" in q.reason and "decompression bomb" in q.reason


def test_image_that_is_not_an_image(tmp_path):
    r = grade_files(tmp_path, {"shot.png": b"%PDF-1.4 not an image"}, IMAGE_RUBRIC)
    assert r.question("shot").reason == "shot.png: cannot be read as an image (a PDF document)"


def test_image_too_small(tmp_path):
    r = grade_files(tmp_path, {"shot.png": png_bytes(size=(40, 30))}, IMAGE_RUBRIC)
    assert r.question("shot").score == 0
    assert "is 40x30; expected at least 100x50" in r.question("shot").reason


def test_image_wrong_format(tmp_path):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (200, 200)).save(buf, "BMP")
    rubric = IMAGE_RUBRIC.replace("review_note: shows the dense layer", "formats: [PNG, JPEG]")
    r = grade_files(tmp_path, {"shot.png": buf.getvalue()}, rubric)
    assert "is a BMP image; expected one of JPEG, PNG" in r.question("shot").reason


def test_image_empty_file(tmp_path):
    r = grade_files(tmp_path, {"shot.png": b""}, IMAGE_RUBRIC)
    assert r.question("shot").reason == "shot.png: the file is empty (0 bytes)"
