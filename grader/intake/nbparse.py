"""Reading what a submitted notebook *printed*: its stored outputs, never by running it.

Students hand in notebooks with the outputs of their own run; some numbers
(the XOR network's final weights) exist only there, since re-running draws new
random weights. This module finds printed numpy arrays in those outputs:
``print(arr)`` (``[[ 7.19  2.81]\\n [ 6.35 ...]]``), ``repr`` (``array([[...]])``)
and nested lists (``[[[7.19, 2.81], ...], [[11.7], ...]]``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader.intake.nbload import read_cells

MAX_TAIL_CHARS = 400_000  # the final prints are at the end; a 10000-iteration print loop is not
_NUM = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)\b")


@dataclass(frozen=True)
class StoredOutput:
    """The text one code cell of the submitted notebook printed or displayed in the student's run."""

    cell: int  # position among code cells, from 1
    execution_count: int | None  # the ``In [n]`` the student sees, when the notebook stored it
    first_line: str
    text: str

    @property
    def where(self) -> str:
        """The cell as the student sees it: ``In [7]``, or ``code cell 3`` when it has no count."""
        return f"In [{self.execution_count}]" if self.execution_count is not None else f"code cell {self.cell}"


def stored_outputs(path: Path, max_bytes: int = 64 * 1024**2) -> list[StoredOutput]:
    """Per code cell, the text it printed or displayed, in notebook order (cells without output left out).

    Raises :class:`grader.intake.nbload.NotebookProblem` (a ``ValueError``) for a file that is not a notebook."""
    found: list[StoredOutput] = []
    code_index = 0
    for cell in read_cells(path, max_bytes):
        if cell.get("cell_type") != "code":
            continue
        code_index += 1
        parts: list[str] = []
        for out in cell.get("outputs", []) or []:
            if not isinstance(out, dict):
                continue
            if out.get("output_type") == "stream":
                parts.append(_join(out.get("text", "")))
            elif out.get("output_type") in ("execute_result", "display_data"):
                parts.append(_join((out.get("data") or {}).get("text/plain", "")) + "\n")
        if parts:
            count = cell.get("execution_count")
            source = _join(cell.get("source", ""))
            first = next((ln.strip() for ln in source.splitlines() if ln.strip()), "")
            found.append(StoredOutput(code_index, count if isinstance(count, int) and count >= 0 else None,
                                      first[:80], "".join(parts)))
    return found


def stored_text(path: Path, max_bytes: int = 64 * 1024**2) -> str:
    """All text the notebook's code cells printed or displayed, in order.

    Raises :class:`grader.intake.nbload.NotebookProblem` (a ``ValueError``) for a file that is not a notebook."""
    return "".join(o.text for o in stored_outputs(path, max_bytes))


def _join(text) -> str:
    return "".join(str(t) for t in text) if isinstance(text, list) else str(text)


@dataclass(frozen=True)
class Printed:
    """One printed array, with the text just before it (``weights1:``, ``W1 =``) that may name it."""

    array: np.ndarray
    label: str
    origin: str = ""  # the cell it was printed by (``In [7]``), when known


def printed_arrays(text: str) -> list[np.ndarray]:
    """Every bracketed block of numbers in ``text`` as an array, in order.

    A ragged block (a list of differently shaped arrays) is split into its parts.
    """
    return [p.array for p in labelled_arrays(text)]


def labelled_arrays(text: str, origin: str = "") -> list[Printed]:
    """Like :func:`printed_arrays`, each with the label printed before it on its line or the line above."""
    text = text[-MAX_TAIL_CHARS:]
    out: list[Printed] = []
    i = 0
    n = len(text)
    while i < n:
        i = text.find("[", i)
        if i < 0:
            break
        end = _match(text, i)
        if end < 0:
            break
        nested = _parse_block(text[i : end + 1])
        if nested is not None:
            label = _label_before(text, i)
            out.extend(Printed(a, label, origin) for a in _as_arrays(nested))
        i = end + 1
    return out


def _label_before(text: str, i: int) -> str:
    """The words before position ``i`` on its line, or on the previous non-empty line (at most 80 chars)."""
    line_start = text.rfind("\n", max(0, i - 400), i) + 1
    same = text[line_start:i].strip()
    if same or line_start == 0:
        return same[-80:]
    prev_end = line_start - 1
    prev_start = text.rfind("\n", max(0, prev_end - 400), prev_end) + 1
    return text[prev_start:prev_end].strip()[-80:]


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


MAX_NESTING = 32  # brackets inside brackets in one printed array: numpy prints at most its 32 (or 64) dimensions


def _parse_block(block: str):
    """Nested lists of floats, or None if the block holds anything but numbers (or nests deeper than any array:
    what reads the lists walks them recursively)."""
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
            if len(stack) > MAX_NESTING:
                return None
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


_W1_LABEL = re.compile(r"weights?_?1|\bw_?1\b|syn_?0|\bw_?(?:ih|hidden)\b|hidden|first|layer_?1", re.I)
_W2_LABEL = re.compile(r"weights?_?2|\bw_?2\b|syn_?1|\bw_?(?:ho|out)\b|output weights|second|layer_?2", re.I)
_NOT_WEIGHTS = re.compile(r"\b(?:x|X|input|inputs|y|Y|target|targets|label|labels|data)\b")
_WEIGHTISH = re.compile(r"weight|syn_?\d|\bw_?\d", re.I)


def _is_binary(a: np.ndarray) -> bool:
    """A matrix of 0s and 1s only: the inputs or targets, never learned weights."""
    return bool(np.all((a == 0) | (a == 1)))


def find_xor_weights(arrays: list[np.ndarray] | list[Printed]):
    """The final ``weights1`` (3x4), ``weights2`` (4x1) and, if printed right after them, ``output`` (4x1).

    Accepts plain arrays or :class:`Printed` ones. Arrays of only 0s and 1s (the input matrix ``X.T``,
    the targets) are never taken for learned weights; arrays printed under a weight name (``weights1``,
    ``W1``, ``syn0``...) are preferred; otherwise the last pair printed wins (the final, trained values).
    Returns ``(w1, w2, output)`` or ``(w1, w2, output, Printed of w1)`` for :class:`Printed` input; None
    when nothing fits."""
    items = [a if isinstance(a, Printed) else Printed(np.asarray(a), "") for a in arrays]
    plain = not any(isinstance(a, Printed) for a in arrays)

    def is_col4(a: np.ndarray) -> bool:
        return a.shape in ((4, 1), (4,))

    def usable(p: Printed, shape_ok) -> bool:
        named_data = _NOT_WEIGHTS.search(p.label) and not _WEIGHTISH.search(p.label)
        return shape_ok(p.array) and not _is_binary(p.array) and not named_data

    def pick(i: int, j: int):
        w1 = items[i].array
        w2 = items[j].array.reshape(4, 1)
        k = j + 1
        out = items[k].array.reshape(4, 1) if k < len(items) and is_col4(items[k].array) and not _W1_LABEL.search(
            items[k].label) else None
        return (w1, w2, out) if plain else (w1, w2, out, items[i])

    # 1. the last 3x4 named like weights1 with the next 4x1 named like weights2 (or unnamed)
    for i in range(len(items) - 1, -1, -1):
        if usable(items[i], lambda a: a.shape == (3, 4)) and _W1_LABEL.search(items[i].label):
            for j in range(i + 1, min(i + 4, len(items))):
                if usable(items[j], is_col4) and not _W1_LABEL.search(items[j].label):
                    return pick(i, j)
    # 2. the last 3x4 followed directly by a 4x1, neither of them 0/1 data
    for i in range(len(items) - 2, -1, -1):
        if usable(items[i], lambda a: a.shape == (3, 4)) and usable(items[i + 1], is_col4):
            return pick(i, i + 1)
    return None
