"""Load a student's notebook file, refusing what is not one, with a reason the student can act on.

This runs in trusted processes, on student bytes, so it is bounded before ``json.loads`` builds
anything: a size limit, then a linear scan (string literals removed by one regular expression,
brackets counted with numpy) that refuses JSON nested too deep (``json`` would recurse until
``RecursionError``) or holding so many containers or values that building them would take
gigabytes (12 MiB of ``[[],[],...]`` becomes over a GiB of Python objects). Real notebooks are
a few levels deep and hold thousands of values, far inside these limits.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import numpy as np

from grader.insandbox.lfs import lfs_pointer
from grader.insandbox.wire import scrub_json

MAX_NOTEBOOK_BYTES = 64 * 1024**2
MAX_DEPTH = 64
MAX_CONTAINERS = 200_000
MAX_VALUES = 2_000_000

# A JSON string literal, unrolled so that it is matched in one linear pass (no nested repetition).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)


class NotebookProblem(ValueError):
    """The file is not a notebook the grader can read; the message names it and says why."""


def check_json_shape(raw: bytes, name: str) -> None:
    """Refuse JSON that is nested deeper than :data:`MAX_DEPTH` or holds too many values, in linear
    time and without building it. Raises :class:`NotebookProblem`."""
    containers = raw.count(b"[") + raw.count(b"{")  # an upper bound: brackets inside strings count too
    if containers <= MAX_CONTAINERS and raw.count(b",") <= MAX_VALUES:
        depth_bound = containers  # nesting can never be deeper than the number of brackets
        if depth_bound <= MAX_DEPTH:
            return
    bare = _STRING.sub(b'""', raw)
    containers = bare.count(b"[") + bare.count(b"{")
    if containers > MAX_CONTAINERS:
        raise NotebookProblem(f"{name}: holds {containers:,} JSON lists and objects, over the limit of "
                              f"{MAX_CONTAINERS:,}; this is not a notebook as Jupyter writes it")
    values = containers + bare.count(b",")
    if values > MAX_VALUES:
        raise NotebookProblem(f"{name}: holds over {MAX_VALUES:,} JSON values; this is not a notebook as "
                              "Jupyter writes it")
    arr = np.frombuffer(bare, dtype=np.uint8)
    where = np.flatnonzero((arr == ord("[")) | (arr == ord("{")) | (arr == ord("]")) | (arr == ord("}")))
    steps = np.where((arr[where] == ord("[")) | (arr[where] == ord("{")), 1, -1).astype(np.int32)
    depth = int(np.cumsum(steps).max()) if steps.size else 0
    if depth > MAX_DEPTH:
        raise NotebookProblem(f"{name}: is nested {depth:,} levels deep, over the limit of {MAX_DEPTH}; "
                              "this is not a notebook as Jupyter writes it")


def read_json(path: str | os.PathLike, max_bytes: int = MAX_NOTEBOOK_BYTES) -> Any:
    """The JSON in the file at ``path``, bounded as described above. Raises :class:`NotebookProblem`."""
    name = os.path.basename(os.fspath(path))
    try:
        with open(path, "rb") as f:
            raw = f.read(max_bytes + 1)
    except OSError as e:
        raise NotebookProblem(f"{name}: cannot be read ({e.strerror})") from None
    if len(raw) > max_bytes:
        raise NotebookProblem(f"{name}: over the {max_bytes // 2**20} MiB notebook limit")
    pointer = lfs_pointer(raw[:1024])
    if pointer:
        raise NotebookProblem(f"{name}: {pointer}")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    raw = scrub_json(raw)  # a lone surrogate ("\\ud800") in a cell would break every UTF-8 output
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise NotebookProblem(f"{name}: is not a notebook (not UTF-8 text)") from None
    check_json_shape(raw, name)
    try:
        # the text, not the bytes: given bytes, json guesses UTF-16/32 from leading NULs and fails outside
        # JSONDecodeError ("\x00\x01\x00\x00\x00", found by the fuzzer)
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise NotebookProblem(
            f"{name}: is not valid notebook JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except RecursionError:  # not reachable after check_json_shape; kept as the student's error, never ours
        raise NotebookProblem(f"{name}: is nested too deeply to be a notebook") from None


def read_cells(path: str | os.PathLike, max_bytes: int = MAX_NOTEBOOK_BYTES) -> list[dict]:
    """The notebook's cells as plain dicts (no nbformat), for readers of stored outputs and markdown."""
    data = read_json(path, max_bytes)
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        worksheets = data.get("worksheets") if isinstance(data, dict) else None  # nbformat 3
        if isinstance(worksheets, list) and worksheets and isinstance(worksheets[0], dict):
            cells = worksheets[0].get("cells")
    if not isinstance(cells, list):
        raise NotebookProblem(f"{os.path.basename(os.fspath(path))}: is JSON but not a Jupyter notebook "
                              "(no 'cells' list)")
    return [c for c in cells if isinstance(c, dict)]


def load_notebook(path: str) -> tuple[Any, str]:
    """The notebook as nbformat v4, or ``(None, reason)`` naming the file and what is wrong with it."""
    import nbformat

    name = os.path.basename(path)
    try:
        data = read_json(path)
    except NotebookProblem as e:
        return None, str(e)
    if not isinstance(data, dict) or not isinstance(data.get("cells", data.get("worksheets")), list):
        return None, f"{name}: is JSON but not a Jupyter notebook (no 'cells' list)"
    try:
        nb = nbformat.from_dict(data)
        if nb.get("nbformat", 4) < 4:
            nb = nbformat.convert(nb, 4)
    except Exception as e:  # nbformat raises many kinds for odd files
        return None, f"{name}: not a readable notebook ({type(e).__name__}: {str(e)[:200]})"
    if not isinstance(nb.get("cells"), list):
        return None, f"{name}: is JSON but not a Jupyter notebook (no 'cells' list)"
    for cell in nb.cells:
        if not isinstance(cell, dict) or "cell_type" not in cell:
            return None, f"{name}: a cell has no 'cell_type'"
        src = cell.get("source", "")
        cell["source"] = "".join(str(s) for s in src) if isinstance(src, list) else str(src)
    return nb, ""
