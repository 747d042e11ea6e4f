"""Opening student images safely, for checks that run in the grader process.

The implementation lives in :mod:`grader.insandbox.safeimage`, which the
sandboxed model server uses too; this wrapper turns its errors into
:class:`SubmissionProblem` for the checks.
"""

from __future__ import annotations

from pathlib import Path

from grader.insandbox.safeimage import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, IMAGE_FORMATS, ImageInfo, ImageProblem
from grader.insandbox.safeimage import open_image as _open_image
from grader.registry import SubmissionProblem

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_PIXELS", "IMAGE_FORMATS", "ImageInfo", "open_image"]


def open_image(path: Path, label: str, **limits):
    try:
        return _open_image(str(path), label, **limits)
    except ImageProblem as e:
        raise SubmissionProblem(str(e)) from None
