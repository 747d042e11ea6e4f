"""Seeded synthetic stand-ins for what students photograph and screenshot.

"Cats" have pointy ears on top of the head; "dogs" have long floppy ears hanging
at the sides and a tongue. The ears carry the class, as the HW4 handout says
("it's all about the ears"), so a trick cat is drawn with floppy ears and a
trick dog with pointy ones.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def _color(rng: np.random.Generator, lo: int = 40, hi: int = 230) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi, size=3))


def draw_animal(kind: str, seed: int, size: int = 192, ears: str | None = None) -> Image.Image:
    """``kind`` is 'cat' or 'dog'; ``ears`` ('pointy'|'floppy') overrides the usual ears."""
    rng = np.random.default_rng(seed)
    ears = ears or ("pointy" if kind == "cat" else "floppy")
    bg = _color(rng, 150, 255)
    im = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(im)
    # background clutter so the model cannot key on a flat colour
    for _ in range(int(rng.integers(3, 8))):
        x0, y0 = rng.integers(0, size, 2)
        r = int(rng.integers(5, size // 6))
        d.ellipse([x0 - r, y0 - r, x0 + r, y0 + r], fill=_color(rng, 120, 255))
    cx = size / 2 + rng.normal(0, size * 0.04)
    cy = size * 0.56 + rng.normal(0, size * 0.04)
    r = size * rng.uniform(0.24, 0.30)
    fur = _color(rng, 60, 200)
    if ears == "pointy":
        for side in (-1, 1):
            base_x = cx + side * r * 0.55
            d.polygon(
                [(base_x - r * 0.35, cy - r * 0.6), (base_x + r * 0.35, cy - r * 0.6),
                 (base_x + side * r * 0.15, cy - r * 1.55)],
                fill=fur,
            )
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fur)
    if ears == "floppy":
        ear = tuple(max(0, c - 50) for c in fur)
        for side in (-1, 1):
            ex = cx + side * r * 0.95
            d.ellipse([ex - r * 0.28, cy - r * 0.7, ex + r * 0.28, cy + r * 0.75], fill=ear)
    eye = (40, 160, 60) if kind == "cat" else (60, 40, 20)
    for side in (-1, 1):
        ex, ey = cx + side * r * 0.38, cy - r * 0.15
        d.ellipse([ex - r * 0.12, ey - r * 0.12, ex + r * 0.12, ey + r * 0.12], fill=eye)
    d.ellipse([cx - r * 0.12, cy + r * 0.15, cx + r * 0.12, cy + r * 0.3], fill=(20, 20, 20))
    if kind == "cat":
        for side in (-1, 1):
            for k in (-1, 0, 1):
                d.line([(cx + side * r * 0.2, cy + r * 0.3), (cx + side * r * 1.1, cy + r * (0.3 + 0.15 * k))],
                       fill=(30, 30, 30), width=2)
    else:
        d.ellipse([cx - r * 0.15, cy + r * 0.45, cx + r * 0.15, cy + r * 0.8], fill=(220, 80, 100))
    return im.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))


def draw_screenshot(title: str, lines: list[str], width: int = 640, seed: int = 0) -> Image.Image:
    """A plain window-like screenshot with a title bar and monospace-ish text lines."""
    rng = np.random.default_rng(seed)
    height = 60 + 18 * len(lines)
    im = Image.new("RGB", (width, height), (245, 245, 245))
    d = ImageDraw.Draw(im)
    d.rectangle([0, 0, width, 28], fill=tuple(int(v) for v in rng.integers(40, 120, 3)))
    d.text((10, 8), title, fill=(255, 255, 255))
    for i, line in enumerate(lines):
        d.text((14, 40 + 18 * i), line, fill=(20, 20, 20))
    return im
