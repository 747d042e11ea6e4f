"""Opening student images safely: size limits before decoding, clear messages after.

Pillow decodes lazily: ``Image.open`` reads only the header, so the pixel count
is checked before a single pixel is decoded (a 30000x30000 PNG is refused in
microseconds). Truncated files fail on ``load()`` instead of being half-read.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from grader.registry import SubmissionProblem

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image as PILImage

DEFAULT_MAX_PIXELS = 40_000_000  # a 40-megapixel photo is fine; a bomb is not
DEFAULT_MAX_BYTES = 40 * 1024 * 1024
IMAGE_FORMATS = ("PNG", "JPEG", "MPO", "GIF", "BMP", "WEBP", "TIFF")


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    mode: str
    bytes: int


def open_image(
    path: Path,
    label: str,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    formats: tuple[str, ...] | list[str] = IMAGE_FORMATS,
) -> tuple[PILImage.Image, ImageInfo]:
    """Decode ``path`` fully, or raise :class:`SubmissionProblem` naming ``label`` and the fault."""
    from PIL import Image, ImageFile, UnidentifiedImageError

    ImageFile.LOAD_TRUNCATED_IMAGES = False
    # Our own pixel limit is checked below from the header, with a message that gives the size;
    # Pillow's global limit would refuse first with a vaguer one.
    Image.MAX_IMAGE_PIXELS = None
    size = path.stat().st_size
    if size == 0:
        raise SubmissionProblem(f"{label}: the file is empty (0 bytes)")
    if size > max_bytes:
        raise SubmissionProblem(f"{label}: {size / 2**20:.1f} MiB, over the limit of {max_bytes / 2**20:.0f} MiB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
            w, h = im.size
            fmt = im.format or "?"
            if fmt not in formats:
                im.close()
                raise SubmissionProblem(
                    f"{label}: is a {fmt} image; expected one of {', '.join(sorted(set(formats)))}"
                )
            if w * h > max_pixels:
                im.close()
                raise SubmissionProblem(
                    f"{label}: {w}x{h} pixels ({w * h / 1e6:.0f} megapixels) is over the limit of "
                    f"{max_pixels / 1e6:.0f} megapixels (a decompression bomb?)"
                )
            if w < 1 or h < 1:
                raise SubmissionProblem(f"{label}: has no pixels ({w}x{h})")
            im.load()
    except SubmissionProblem:
        raise
    except UnidentifiedImageError:
        from grader.unpack import sniff

        head = path.read_bytes()[:512]
        what = sniff(head)
        what = "not an image file" if what == "not a zip archive" else what
        raise SubmissionProblem(f"{label}: cannot be read as an image ({what})") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise SubmissionProblem(f"{label}: too many pixels (a decompression bomb?)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        msg = str(e) or type(e).__name__
        if "truncated" in msg:
            msg = "the file is truncated (incomplete download or copy?)"
        raise SubmissionProblem(f"{label}: broken image: {msg}") from None
    except MemoryError:
        raise SubmissionProblem(f"{label}: too large to decode") from None
    info = ImageInfo(fmt, w, h, im.mode, size)
    return im, info
