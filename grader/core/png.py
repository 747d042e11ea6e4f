"""What a PNG claims to be, from its header alone: every page and preview checks it before embedding one."""

from __future__ import annotations

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_IMAGE_SIDE = 4096  # thumbnails are at most 1600 px: anything larger did not come from our thumbnailer


def png_size(raw: bytes, max_side: int = MAX_IMAGE_SIDE) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG's header when it is a PNG of at most ``max_side`` each way, else None.

    Read from the IHDR chunk without decoding anything, so a page never embeds a decompression bomb
    (a few KiB that claim 30000x30000 pixels) even if the sandbox that made it was subverted."""
    if len(raw) < 33 or not raw.startswith(PNG_MAGIC) or raw[12:16] != b"IHDR":
        return None
    width, height = int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big")
    if not (0 < width <= max_side and 0 < height <= max_side):
        return None
    return width, height
