"""Opening student images safely (Pillow): size limits before decoding, clear messages after.

``Image.open`` reads only the header, so the pixel count is checked before a
single pixel is decoded (a 30000x30000 PNG is refused in microseconds).
Truncated files fail on ``load()`` instead of being half-read. Standalone: used
inside the sandbox and by the grader.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

try:
    from .lfs import MAX_POINTER_BYTES, lfs_pointer
except ImportError:  # inside the sandbox this folder is on sys.path, not the grader package
    from lfs import MAX_POINTER_BYTES, lfs_pointer  # type: ignore[no-redef]

DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_BYTES = 40 * 1024 * 1024
IMAGE_FORMATS = ("PNG", "JPEG", "MPO", "GIF", "BMP", "WEBP", "TIFF")

_MAGIC = [
    (b"%PDF", "a PDF document"), (b"PK", "a zip archive"), (b"\x89HDF", "an HDF5 (.h5) file"),
    (b"{", "a JSON/text file"), (b"Rar!", "a RAR archive"),
]


class ImageProblem(ValueError):
    """The image cannot be used; the message names the file and says why."""


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    mode: str
    bytes: int


def open_image(path: str, label: str, *, max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int = DEFAULT_MAX_BYTES,
               formats=IMAGE_FORMATS):
    """``(image, info)``: decoded fully, or :class:`ImageProblem`."""
    import os

    from PIL import Image, ImageFile, UnidentifiedImageError

    ImageFile.LOAD_TRUNCATED_IMAGES = False
    Image.MAX_IMAGE_PIXELS = None  # our own limit below is checked from the header, with a clearer message
    size = os.path.getsize(path)
    if size == 0:
        raise ImageProblem(f"{label}: the file is empty (0 bytes)")
    if size > max_bytes:
        raise ImageProblem(f"{label}: {size / 2**20:.1f} MiB, over the limit of {max_bytes / 2**20:.0f} MiB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(path)
            w, h = im.size
            fmt = im.format or "?"
            if fmt not in formats:
                im.close()
                raise ImageProblem(f"{label}: is a {fmt} image; expected one of {', '.join(sorted(set(formats)))}")
            if w * h > max_pixels:
                im.close()
                raise ImageProblem(
                    f"{label}: {w}x{h} pixels ({w * h / 1e6:.0f} megapixels) is over the limit of "
                    f"{max_pixels / 1e6:.0f} megapixels (a decompression bomb?)"
                )
            if w < 1 or h < 1:
                raise ImageProblem(f"{label}: has no pixels ({w}x{h})")
            im.load()
    except ImageProblem:
        raise
    except UnidentifiedImageError:
        with open(path, "rb") as f:
            head = f.read(MAX_POINTER_BYTES)
        pointer = lfs_pointer(head)
        if pointer:
            raise ImageProblem(f"{label}: {pointer}") from None
        what = next((w for m, w in _MAGIC if head.startswith(m)), "not an image file")
        raise ImageProblem(f"{label}: cannot be read as an image ({what})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        msg = str(e) or type(e).__name__
        if "truncated" in msg:
            msg = "the file is truncated (incomplete download or copy?)"
        raise ImageProblem(f"{label}: broken image: {msg}") from None
    except MemoryError:
        raise ImageProblem(f"{label}: too large to decode") from None
    return im, ImageInfo(fmt, w, h, im.mode, size)


def to_rgb(im):
    """Upright (EXIF orientation applied) RGB, whatever the mode: RGBA/LA/P on white, CMYK, L, I;16."""
    from PIL import Image, ImageOps

    try:
        im = ImageOps.exif_transpose(im)
    except Exception:  # a broken EXIF block is not worth failing the image for
        pass
    if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        im = im.point(lambda v: v / 256).convert("L")
    return im.convert("RGB")


def rgb_array(path: str, label: str, size: tuple[int, int], scale: float = 255.0, resample: str = "nearest",
              **limits):
    """The image as a float32 (H, W, 3) array resized like ``keras.utils.load_img(target_size=...)``."""
    import numpy as np
    from PIL import Image

    im, info = open_image(path, label, **limits)
    rgb = to_rgb(im)
    methods = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
               "bicubic": Image.Resampling.BICUBIC}
    method = methods[resample]
    rgb = rgb.resize((size[1], size[0]), method)
    arr = np.asarray(rgb, dtype=np.float32) / np.float32(scale)
    return arr, info


THUMBNAIL_MAX_BYTES = 400_000
THUMBNAIL_QUANTIZE_ABOVE = 12_000
MAX_THUMBNAIL_SIDE = 1600  # the review page's previews of flagged screenshots; feedback pages use 180-480
MAX_THUMBNAIL_BYTES = 3_000_000


def thumbnail_png(path: str, label: str, max_side: int = 160, max_png_bytes: int = THUMBNAIL_MAX_BYTES,
                  preview_side: int = 0, **limits) -> dict:
    """A small upright RGB copy of the image as base64 PNG (longest side at most ``max_side``), for
    feedback pages: the grader embeds it without decoding it. Photos (which PNG stores poorly) are
    reduced to 256 colours when larger than :data:`THUMBNAIL_QUANTIZE_ABOVE` bytes.

    ``preview_side``: also a larger copy (``"preview"``, longest side at most that) from the same decode,
    for the review page, when the image is larger than the thumbnail; 256 colours (a fast octree: a
    screenshot's text stays sharp, 0.07 s instead of 0.3 s for a 1600 px copy)."""
    import base64
    import io

    from PIL import Image

    im, _info = open_image(path, label, **limits)
    rgb = to_rgb(im)
    out: dict = {}
    side = max(16, min(int(max_side), MAX_THUMBNAIL_SIDE))
    pside = max(16, min(int(preview_side or 0), MAX_THUMBNAIL_SIDE))
    if preview_side and min(max(rgb.size), pside) > side:  # only when it shows more than the thumbnail
        big = rgb.copy()
        big.thumbnail((pside, pside), Image.Resampling.BILINEAR, reducing_gap=2.0)
        buf = io.BytesIO()
        big.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(buf, "PNG", compress_level=6)
        if buf.tell() <= MAX_THUMBNAIL_BYTES:
            out["preview"] = {"png": base64.b64encode(buf.getvalue()).decode("ascii"), "width": big.width,
                              "height": big.height}
    rgb.thumbnail((side, side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    buf = io.BytesIO()
    rgb.save(buf, "PNG", compress_level=6)
    if buf.tell() > THUMBNAIL_QUANTIZE_ABOVE:
        buf = io.BytesIO()
        rgb.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(buf, "PNG", compress_level=6)
    if buf.tell() > min(int(max_png_bytes), MAX_THUMBNAIL_BYTES):
        raise ImageProblem(f"{label}: no thumbnail small enough")
    return {"png": base64.b64encode(buf.getvalue()).decode("ascii"), "width": rgb.width, "height": rgb.height, **out}
