"""Load a student's notebook file into nbformat, refusing what is not one, with a reason.

Runs in trusted processes, on student bytes: bounded in size (and, see the tests, in time and memory).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import nbformat

MAX_NOTEBOOK_BYTES = 64 * 1024**2


def load_notebook(path: str) -> tuple[Any, str]:
    """The notebook, or ``(None, reason)`` naming the file and what is wrong with it."""
    name = os.path.basename(path)
    try:
        size = os.path.getsize(path)
    except OSError as e:
        return None, f"{name}: cannot be read ({e.strerror})"
    if size > MAX_NOTEBOOK_BYTES:
        return None, f"{name}: {size / 2**20:.0f} MiB is over the {MAX_NOTEBOOK_BYTES // 2**20} MiB notebook limit"
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, f"{name}: is not a notebook (not UTF-8 text)"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        return None, f"{name}: is not valid notebook JSON ({e.msg} at line {e.lineno}, column {e.colno})"
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return None, f"{name}: is JSON but not a Jupyter notebook (no 'cells' list)"
    try:
        nb = nbformat.from_dict(data)
        if nb.get("nbformat", 4) < 4:
            nb = nbformat.convert(nb, 4)
    except Exception as e:  # nbformat raises many kinds for odd files
        return None, f"{name}: not a readable notebook ({type(e).__name__}: {e})"
    for cell in nb.cells:
        if not isinstance(cell, dict) or "cell_type" not in cell:
            return None, f"{name}: a cell has no 'cell_type'"
        src = cell.get("source", "")
        cell["source"] = "".join(src) if isinstance(src, list) else str(src)
    return nb, ""
