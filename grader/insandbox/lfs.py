"""Git LFS pointer files: a ~130-byte text a Git repository holds in place of a large file (``version
https://git-lfs...``, ``oid sha256:...``, ``size N``) when the real file was never fetched. Students hand
them in for models, images, notebooks and data alike; every reader names them the same way.

Standalone (used inside the sandbox and by the grader)::

    >>> lfs_pointer(b"version https://git-lfs.github.com/spec/v1\\noid sha256:ab\\nsize 4880824\\n")[:26]
    'is a Git LFS pointer (a sm'
"""

from __future__ import annotations

import os
import re

MAX_POINTER_BYTES = 1024  # the LFS specification's limit for a pointer file
_SIZE = re.compile(rb"^size (\d{1,15})[ \t\r]*$", re.M)


def lfs_pointer(head: bytes) -> str | None:
    """What to tell the student when ``head`` (a file's first bytes) is a Git LFS pointer, else None."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith(b"version https://git-lfs"):
        return None
    m = _SIZE.search(text[:MAX_POINTER_BYTES])
    real = f" ({int(m.group(1)):,} bytes)" if m else ""
    return (f"is a Git LFS pointer (a small text file standing in for the real file{real} in a Git repository), "
            "not the file itself; fetch the real file (git lfs pull, or GitHub's 'Download raw file') and hand "
            "that in")


def lfs_pointer_file(path: str | os.PathLike) -> str | None:
    """:func:`lfs_pointer` of the file at ``path``; None for larger files, which no pointer is."""
    try:
        if os.path.getsize(path) > MAX_POINTER_BYTES:
            return None
        with open(path, "rb") as f:
            return lfs_pointer(f.read(MAX_POINTER_BYTES))
    except OSError:
        return None
