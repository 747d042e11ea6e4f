"""Thumbnails of a student's images for the feedback page, made by the sandboxed model server.

Student images are never decoded in the grader process: the model server (which already
decodes them for classification) returns small base64 PNGs, which the result details carry
to the renderers. Cached per submission, since q2 and q3 show the same kinds of files.

Images flagged for manual review also get a larger *preview* for ``mlgrade review``, from the
same decode in the sandbox. It is too large for the record (every export loads every record),
so the grader writes it into ``OUT/.mlgrade/previews/<sha256>.png`` (content-addressed: a
regrade or an identical file reuses it) and the record names it; the review server serves only
names of that form that a record holds.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import shutil
from pathlib import Path

from grader.core.errors import SubmissionProblem
from grader.core.files import write_bytes_atomic
from grader.core.png import png_size
from grader.execute.modelserver import model_request
from grader.rubric.kinds import CheckContext

PHOTO_SIDE = 180
SCREENSHOT_SIDE = 480
PREVIEW_SIDE = 1600
PREVIEW_NAME = re.compile(r"[0-9a-f]{64}\.png")


def thumbnails(ctx: CheckContext, files: dict[str, Path], max_side: int = PHOTO_SIDE,
               preview_side: int = 0) -> dict[str, str | None]:
    """Relative path -> base64 PNG (None when the image cannot be shown or thumbnails are off).
    ``preview_side``: also make the review page's preview (see :func:`review_preview`)."""
    out: dict[str, str | None] = {rel: None for rel in files}
    if not ctx.options.feedback_images or not files:
        return out
    todo = {rel: p for rel, p in files.items() if ("thumbnail", rel, max_side) not in ctx.cache
            or (preview_side and ("preview", rel) not in ctx.cache)}
    if todo:
        keys = {f"t{i}": (rel, p) for i, (rel, p) in enumerate(todo.items())}
        cmd = {"op": "thumbnails", "images": [f"@{k}" for k in keys], "labels": [rel for rel, _ in keys.values()],
               "max_side": max_side, **({"preview_side": preview_side} if preview_side else {})}
        try:
            answer, job = model_request(ctx, cmd, {k: p for k, (_, p) in keys.items()}, timeout=60)
        except (SubmissionProblem, RuntimeError):
            answer, job = {}, None
        if job is not None:
            shutil.rmtree(job, ignore_errors=True)
        listed = answer.get("thumbnails")
        got = listed if isinstance(listed, list) else []
        for i, (rel, _) in enumerate(keys.values()):
            item = got[i] if i < len(got) and isinstance(got[i], dict) else {}
            png = item.get("png")
            ctx.cache[("thumbnail", rel, max_side)] = png if isinstance(png, str) else None
            if preview_side:
                preview = item.get("preview")
                preview_png = preview.get("png") if isinstance(preview, dict) else None
                ctx.cache[("preview", rel)] = preview_png if isinstance(preview_png, str) else None
    for rel in files:
        out[rel] = ctx.cache.get(("thumbnail", rel, max_side))
    return out


def review_preview(ctx: CheckContext, rel: str) -> str | None:
    """Write the preview made with ``rel``'s thumbnail into the preview folder; its file name (None when
    there is none: no preview folder, the image is no larger than its thumbnail, or it is not a sane PNG)."""
    folder = ctx.options.preview_dir
    b64 = ctx.cache.get(("preview", rel))
    if folder is None or not isinstance(b64, str):
        return None
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        return None
    if png_size(raw, PREVIEW_SIDE) is None:
        return None
    name = hashlib.sha256(raw).hexdigest() + ".png"
    path = Path(folder) / name
    if not path.is_file():
        write_bytes_atomic(path, raw, mode=0o600)
    return name
