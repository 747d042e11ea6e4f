"""``file_present``: a required file is there and not empty.

.. code-block:: yaml

    - kind: file_present
      file: weights.h5          # case-insensitive glob, any folder depth
      min_bytes: 1              # optional
"""

from __future__ import annotations

from pydantic import Field

from grader.insandbox.lfs import lfs_pointer_file
from grader.rubric.kinds import CheckContext, CheckParams, Outcome, check_kind


class FilePresentParams(CheckParams):
    file: str = Field(min_length=1)
    min_bytes: int = Field(1, ge=0)
    max_bytes: int | None = Field(None, gt=0)


@check_kind("file_present", FilePresentParams)
def file_present(ctx: CheckContext, p: FilePresentParams) -> Outcome:
    """The file exists (by name, any folder, any case) and has a plausible size."""
    sub = ctx.submission
    path = sub.find_one(p.file)
    if path is None:
        return Outcome.failed(sub.explain_missing(p.file))
    rel = sub.rel(path)
    size = path.stat().st_size
    if size < p.min_bytes:
        what = "is empty (0 bytes)" if size == 0 else f"has {size} bytes, expected at least {p.min_bytes}"
        return Outcome.failed(f"{rel} {what}", details={"file": rel, "bytes": size})
    pointer = lfs_pointer_file(path)
    if pointer:
        return Outcome.failed(f"{rel} {pointer}", details={"file": rel, "bytes": size, "git_lfs": True})
    if p.max_bytes is not None and size > p.max_bytes:
        return Outcome.failed(
            f"{rel} has {size:,} bytes, over the limit of {p.max_bytes:,}", details={"file": rel, "bytes": size}
        )
    return Outcome.passed(f"{rel} found ({size:,} bytes)", details={"file": rel, "bytes": size})
