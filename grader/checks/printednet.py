"""The network a notebook's printed weights describe: ``2-2-1 with biases``, ``3-4-1 without biases``.

A student whose XOR network is not the handout's (a 2-2-1 network with biases, from a tutorial) is
told so, in the shape their own notebook prints, instead of only "the weights are not found". Read
from the printed arrays (:func:`grader.intake.nbparse.labelled_arrays`), never from running code.

    >>> import numpy as np
    >>> from grader.intake.nbparse import Printed
    >>> describe([Printed(np.ones((2, 2)) / 3, "hidden weights:"), Printed(np.ones((1, 2)) / 3, "hidden bias:"),
    ...           Printed(np.ones((2, 1)) / 3, "output weights:"), Printed(np.ones((1, 1)) / 3, "output bias:")])
    PrintedNet(inputs=2, hidden=2, outputs=1, biases=True, origin='')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from grader.intake.nbparse import Printed

MAX_ARRAYS = 400  # the last ones printed: the final weights come last
MAX_UNITS = 1024
_BIAS = re.compile(r"bias|(?<![A-Za-z])b_?[0-9hio]?\b", re.I)
_DATA = re.compile(r"(?<![A-Za-z])(?:x|input|inputs|y|target|targets|label|labels|data|output|outputs|"
                   r"prediction|predictions|predicted)(?![A-Za-z])", re.I)
_WEIGHT = re.compile(r"weight|(?<![A-Za-z])w_?[0-9hio]?\b|syn", re.I)


@dataclass(frozen=True)
class PrintedNet:
    inputs: int
    hidden: int
    outputs: int
    biases: bool
    origin: str  # the cell that printed the first weight matrix (``In [7]``), when known

    def layers(self) -> str:
        return f"{self.inputs}-{self.hidden}-{self.outputs}"

    def shape(self) -> str:
        return f"{self.layers()} " + ("with biases" if self.biases else "without biases")

    def sentence(self) -> str:
        """``a 2-2-1 network with biases``."""
        return f"a {self.layers()} network " + ("with biases" if self.biases else "without biases")


def _weights(p: Printed) -> bool:
    """Could be a learned weight matrix: not 0/1 data, not labelled as data, at most MAX_UNITS wide."""
    a = p.array
    if a.ndim not in (1, 2) or a.size > MAX_UNITS * MAX_UNITS or bool(np.all((a == 0) | (a == 1))):
        return False
    return not (_DATA.search(p.label) and not _WEIGHT.search(p.label)) and not _BIAS.search(p.label)


def _rows_joined(printed: list[Printed]) -> list[Printed]:
    """``print(*W)`` prints a matrix's rows one after another on one line (``[3.7 5.8] [3.7 5.9]``): rows
    of one length, each labelled with the line so far, are taken back together as the matrix."""
    out: list[Printed] = []
    for p in printed:
        prev = out[-1] if out else None
        if (prev is not None and p.array.ndim == 1 and prev.array.ndim in (1, 2) and p.origin == prev.origin
                and p.label.endswith("]") and prev.array.shape[-1] == p.array.shape[0]
                and prev.array.size < MAX_UNITS * MAX_UNITS):
            rows = prev.array if prev.array.ndim == 2 else prev.array[None, :]
            out[-1] = Printed(np.vstack([rows, p.array[None, :]]), prev.label, prev.origin)
        else:
            out.append(p)
    return out


def describe(printed: list[Printed]) -> PrintedNet | None:
    """The last ``inputs x hidden`` matrix followed (within a few arrays) by a ``hidden x outputs`` one,
    and whether biases of those sizes were printed beside them; None when no such pair is printed."""
    items = _rows_joined(printed[-MAX_ARRAYS:])
    for i in range(len(items) - 1, -1, -1):
        first = items[i]
        if not (_weights(first) and first.array.ndim == 2 and min(first.array.shape) >= 1):
            continue
        n_in, n_hidden = first.array.shape
        for j in range(i + 1, min(i + 4, len(items))):
            second = items[j].array
            if not _weights(items[j]):
                continue
            if second.ndim == 2 and second.shape[0] == n_hidden:
                n_out = second.shape[1]
            elif second.ndim == 1 and second.shape[0] == n_hidden:
                n_out = 1
            else:
                continue
            near = items[max(0, i - 2): min(len(items), j + 3)]
            biases = any(_BIAS.search(p.label) and p.array.size in (n_hidden, n_out) for p in near)
            return PrintedNet(n_in, n_hidden, n_out, biases, first.origin)
    return None
