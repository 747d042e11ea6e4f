"""``image``: a real, decodable image within size limits, optionally flagged for manual review.

.. code-block:: yaml

    - kind: image
      file: "hdfview.{png,jpg,jpeg}"
      manual_review: true
      review_note: shows the kernel and bias of the second dense layer
      min_width: 200            # optional; screenshots smaller than this are suspicious
"""

from __future__ import annotations

import shutil

from pydantic import Field

from grader.checks.thumbnails import PREVIEW_SIDE, SCREENSHOT_SIDE, review_preview, thumbnails
from grader.core.errors import SubmissionProblem
from grader.execute.modelserver import model_request
from grader.insandbox.safeimage import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, IMAGE_FORMATS, ImageInfo
from grader.rubric.kinds import CheckContext, CheckParams, Outcome, check_kind


class ImageParams(CheckParams):
    file: str = Field(min_length=1)
    min_width: int = Field(1, ge=1)
    min_height: int = Field(1, ge=1)
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, gt=0)
    max_bytes: int = Field(DEFAULT_MAX_BYTES, gt=0)
    formats: list[str] = Field(default_factory=lambda: list(IMAGE_FORMATS))
    manual_review: bool = False
    review_note: str = ""


@check_kind("image", ImageParams)
def image(ctx: CheckContext, p: ImageParams) -> Outcome:
    """The file decodes fully as an image of an allowed format and size."""
    sub = ctx.submission
    path = sub.find_one(p.file)
    if path is None:
        return Outcome.failed(sub.explain_missing(p.file))
    rel = sub.rel(path)
    # Decoding a student's file is done in the sandboxed model server, like every other student file.
    answer, job = model_request(ctx, {"op": "image", "path": "@img", "label": rel, "max_pixels": p.max_pixels,
                                      "max_bytes": p.max_bytes, "formats": [f.upper() for f in p.formats]},
                                {"img": path}, timeout=60)
    shutil.rmtree(job, ignore_errors=True)
    if "problem" in answer:
        raise SubmissionProblem(answer["problem"])
    info = ImageInfo(answer["format"], answer["width"], answer["height"], answer["mode"], path.stat().st_size)
    preview_side = PREVIEW_SIDE if p.manual_review and ctx.options.preview_dir is not None else 0
    details = {"file": rel, "format": info.format, "width": info.width, "height": info.height,
               "thumbnail": thumbnails(ctx, {rel: path}, SCREENSHOT_SIDE, preview_side)[rel]}
    if preview_side and (preview := review_preview(ctx, rel)):
        details["preview"] = preview  # a file name in the output folder, for `mlgrade review`
    if info.width < p.min_width or info.height < p.min_height:
        return Outcome.failed(
            f"{rel} is {info.width}x{info.height}; expected at least {p.min_width}x{p.min_height}",
            details=details,
        )
    reason = f"{rel}: {info.format} {info.width}x{info.height}"
    if p.manual_review:
        # the note is what a person will check, never a claim that it holds
        reason += " — not judged by the grader; your instructor checks it by eye" + (
            f" (what they look for: {p.review_note})" if p.review_note else "")
    return Outcome.passed(reason, details=details, manual_review=p.manual_review)
