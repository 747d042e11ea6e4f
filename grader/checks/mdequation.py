"""Where a markdown cell holds an equation, and never where it holds prose.

A notebook's markdown is mostly prose: "the loss increases as expected" once matched a bare ``exp``
and was parsed as the XOR equation ("unknown name 'Learning'"). A part of a cell is taken as an
equation only when it reads as one: a ``$$...$$`` block, or a line with ``=`` (or ``Y``/``f(...)``),
one of the network's inputs (``X1``, ``x_{2}``) and a sigmoid (``sigmoid``, ``σ``, ``\\sigma``,
``\\frac``, ``exp`` as a word, ``e^``), with at most a couple of plain words in it.

    >>> equation_candidates("The output increases as expected.\\n\\nY = sigmoid(2*X1 + 1*X2)")
    ['Y = sigmoid(2*X1 + 1*X2)']

Every scan is one pass of a regular expression without nested repetition over bounded text.
"""

from __future__ import annotations

import re

MAX_CELL_CHARS = 200_000
MAX_LINE_CHARS = 20_000  # the equation grammar's own limit
MAX_PROSE_WORDS = 2  # "Y = σ(...)  (final weights)" still reads as an equation; a sentence does not

_INPUT = re.compile(r"(?<![A-Za-z0-9])[xX]_?\{?[1-3]\}?(?![0-9])")
_SIGMOID = re.compile(r"sigmoid|σ|\\sigma(?![a-z])|\\frac|(?<![A-Za-z])exp(?![A-Za-z])|(?<![A-Za-z])e\s?(?:\^|\*\*)")
_LHS = re.compile(r"(?<![A-Za-z])(?:[Yy](?:_?\{?(?:hat|out|pred)\}?)?|\\hat\{?[yY]\}?|f\s?\([^()=\n]{0,60}\))\s{0,5}=")
# a plain word: three letters or more, not a LaTeX command (\frac, \left) nor a name the grammar knows
_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}")
_KNOWN = {"sigmoid", "sigma", "exp", "sig"}
_MARKUP = re.compile(r"^[ \t>]*(?:[-*+][ \t]+|\d{1,3}[.)][ \t]+|#{1,6}[ \t]+)?")


def reads_as_equation(text: str, need_equals: bool = True) -> bool:
    """Whether ``text`` (one line, or a display-math block) is an equation of the network, not prose."""
    if len(text) > MAX_LINE_CHARS or not _INPUT.search(text) or not _SIGMOID.search(text):
        return False
    if need_equals and "=" not in text and not re.match(r"\s*[Yy]\b", text):
        return False
    words = [w for w in _WORD.findall(text) if w.lower() not in _KNOWN]
    return len(words) <= MAX_PROSE_WORDS


def _equation_part(line: str) -> str:
    """The line from its left-hand side (``Y =``, ``f(X1, X2, X3) =``) on, without the words before it."""
    m = _LHS.search(line)
    return line[m.start():] if m else line


def _display_blocks(text: str) -> list[str]:
    """The ``$$...$$`` blocks, paired left to right in one pass (a lazy ``.+?`` would rescan the rest of
    the text from every unclosed ``$$``: quadratic)."""
    parts = text.split("$$")
    return [parts[i] for i in range(1, len(parts) - 1, 2) if parts[i].strip()]


def equation_candidates(markdown: str) -> list[str]:
    """The parts of a markdown cell that read as the equation, most complete first; [] for prose."""
    markdown = markdown[:MAX_CELL_CHARS]
    out: list[str] = []
    for block in _display_blocks(markdown):
        joined = " ".join(block.split("\n"))
        if reads_as_equation(_equation_part(joined), need_equals=False):
            out.append(_equation_part(joined))
    for raw in markdown.splitlines():
        line = _MARKUP.sub("", raw, count=1).replace("$", " ").replace("`", " ").strip()
        part = _equation_part(line)
        if reads_as_equation(part):
            out.append(part)
    return list(dict.fromkeys(c.strip() for c in out if c.strip()))
