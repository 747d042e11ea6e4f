"""Thumbnails of a student's images for the feedback page, made by the sandboxed model server.

Student images are never decoded in the grader process: the model server (which already
decodes them for classification) returns small base64 PNGs, which the result details carry
to the renderers. Cached per submission, since q2 and q3 show the same kinds of files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from grader.models import model_request
from grader.registry import CheckContext, SubmissionProblem

PHOTO_SIDE = 180
SCREENSHOT_SIDE = 480


def thumbnails(ctx: CheckContext, files: dict[str, Path], max_side: int = PHOTO_SIDE) -> dict[str, str | None]:
    """Relative path -> base64 PNG (None when the image cannot be shown or thumbnails are off)."""
    out: dict[str, str | None] = {rel: None for rel in files}
    if not ctx.options.feedback_images or not files:
        return out
    todo = {rel: p for rel, p in files.items() if ("thumbnail", rel, max_side) not in ctx.cache}
    if todo:
        keys = {f"t{i}": (rel, p) for i, (rel, p) in enumerate(todo.items())}
        cmd = {"op": "thumbnails", "images": [f"@{k}" for k in keys], "labels": [rel for rel, _ in keys.values()],
               "max_side": max_side}
        try:
            answer, job = model_request(ctx, cmd, {k: p for k, (_, p) in keys.items()}, timeout=60)
        except (SubmissionProblem, RuntimeError):
            answer, job = {}, None
        if job is not None:
            shutil.rmtree(job, ignore_errors=True)
        got = answer.get("thumbnails") if isinstance(answer.get("thumbnails"), list) else []
        for i, (rel, _) in enumerate(keys.values()):
            item = got[i] if i < len(got) and isinstance(got[i], dict) else {}
            png = item.get("png")
            ctx.cache[("thumbnail", rel, max_side)] = png if isinstance(png, str) else None
    for rel in files:
        out[rel] = ctx.cache.get(("thumbnail", rel, max_side))
    return out
