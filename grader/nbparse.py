"""Reading what a submitted notebook *printed*: its stored outputs, never by running it.

Students hand in notebooks with the outputs of their own run; some numbers
(the XOR network's final weights) exist only there, since re-running draws new
random weights. This module finds printed numpy arrays in those outputs:
``print(arr)`` (``[[ 7.19  2.81]\\n [ 6.35 ...]]``), ``repr`` (``array([[...]])``)
and nested lists (``[[[7.19, 2.81], ...], [[11.7], ...]]``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from grader.nbload import read_cells

MAX_TAIL_CHARS = 400_000  # the final prints are at the end; a 10000-iteration print loop is not
_NUM = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)\b")


def stored_text(path: Path, max_bytes: int = 64 * 1024**2) -> str:
    """All text the notebook's code cells printed or displayed, in order.

    Raises :class:`grader.nbload.NotebookProblem` (a ``ValueError``) for a file that is not a notebook."""
    parts: list[str] = []
    for cell in read_cells(path, max_bytes):
        if cell.get("cell_type") != "code":
            continue
        for out in cell.get("outputs", []) or []:
            if not isinstance(out, dict):
                continue
            if out.get("output_type") == "stream":
                parts.append(_join(out.get("text", "")))
            elif out.get("output_type") in ("execute_result", "display_data"):
                parts.append(_join((out.get("data") or {}).get("text/plain", "")) + "\n")
    return "".join(parts)


def _join(text) -> str:
    return "".join(text) if isinstance(text, list) else str(text)


def printed_arrays(text: str) -> list[np.ndarray]:
    """Every bracketed block of numbers in ``text`` as an array, in order.

    A ragged block (a list of differently shaped arrays) is split into its parts.
    """
    text = text[-MAX_TAIL_CHARS:]
    out: list[np.ndarray] = []
    i = 0
    n = len(text)
    while i < n:
        if text[i] != "[":
            i += 1
            continue
        end = _match(text, i)
        if end < 0:
            break
        nested = _parse_block(text[i : end + 1])
        if nested is not None:
            out.extend(_as_arrays(nested))
        i = end + 1
    return out


def _match(text: str, start: int) -> int:
    depth = 0
    for j in range(start, min(len(text), start + 200_000)):
        ch = text[j]
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                return j
    return -1


_TOKEN = re.compile(r"\s*(\[|\]|,|" + _NUM.pattern + r")", re.IGNORECASE)


def _parse_block(block: str):
    """Nested lists of floats, or None if the block holds anything but numbers."""
    block = re.sub(r"array\(|\)|dtype=\w+|np\.float64\(|np\.float32\(", " ", block)
    stack: list[list] = []
    root = None
    pos = 0
    while pos < len(block):
        m = _TOKEN.match(block, pos)
        if not m:
            if block[pos:].strip() == "":
                break
            return None
        tok = m.group(1)
        pos = m.end()
        if tok == "[":
            new: list = []
            if stack:
                stack[-1].append(new)
            else:
                root = new
            stack.append(new)
        elif tok == "]":
            if not stack:
                return None
            stack.pop()
        elif tok == ",":
            continue
        else:
            if not stack:
                return None
            stack[-1].append(float(tok))
    if stack or root is None:
        return None
    return root


def _as_arrays(nested) -> list[np.ndarray]:
    try:
        arr = np.array(nested, dtype=float)
        if arr.dtype == object:
            raise ValueError
        return [arr] if arr.size else []
    except ValueError:
        out: list[np.ndarray] = []
        for child in nested:
            if isinstance(child, list):
                out.extend(_as_arrays(child))
        return out


def find_xor_weights(arrays: list[np.ndarray]):
    """The last printed ``weights1`` (3x4), ``weights2`` (4x1) and, if printed after them, ``output`` (4x1)."""
    def is_col4(a: np.ndarray) -> bool:
        return a.shape in ((4, 1), (4,))

    for i in range(len(arrays) - 1, -1, -1):
        if arrays[i].shape == (3, 4) and i + 1 < len(arrays) and is_col4(arrays[i + 1]):
            w1 = arrays[i]
            w2 = arrays[i + 1].reshape(4, 1)
            out = arrays[i + 2].reshape(4, 1) if i + 2 < len(arrays) and is_col4(arrays[i + 2]) else None
            return w1, w2, out
    return None
