"""Fingerprints of a student's code that survive renaming, reformatting, new comments and reordered cells.

Runs in the grader on untrusted text, so everything here is linear-time and bounded: at most
:data:`MAX_CODE_CHARS` of code per file, one compiled tokenizer whose string patterns use
possessive repeats (no backtracking), no ``tokenize`` (Python 3.11's is quadratic on an
unterminated triple-quoted string) and no ``ast``.

Normalising (the tokens JPlag and MOSS compare, for Python):

- comments, blank lines, shell and magic lines (``!pip``, ``%matplotlib``) are dropped;
- every identifier the student chose becomes ``V`` (variables, functions, classes, parameters,
  attributes of their own objects), so renaming changes nothing; keywords, builtins
  (``range``, ``print``) and ``self`` stay; imported modules are written by their real names
  (``np`` and ``numpy`` alike), and so are the names reached through them (``np.random.rand``);
- numbers become ``N`` and strings ``S``; operators and brackets stay; line ends and
  indentation become ``;``, ``>`` and ``<``.

Each cell (or ``.py`` file) is cut into k-grams of :data:`K` tokens, hashed to 64 bits, and
*winnowed* (Schleimer, Wilkerson and Aiken 2003, the algorithm behind MOSS): the smallest hash
of every :data:`WINDOW` consecutive k-grams is kept. Any run of ``K + WINDOW - 1`` tokens shared
by two files is guaranteed to leave a shared fingerprint; a notebook keeps about 2/(W+1) of its
k-grams. Cells are fingerprinted one by one, so their order does not matter.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import keyword
import re
from dataclasses import dataclass

import numpy as np

K = 10  # tokens per k-gram
WINDOW = 6  # k-grams per winnowing window: a shared run of 15 tokens always shows
MAX_CODE_CHARS = 1_000_000  # per file, after the notebook's JSON is read (bounded by nbload)
MAX_CELL_CHARS = 200_000
MAX_FINGERPRINTS = 20_000  # per file

_KEEP = set(keyword.kwlist) | set(keyword.softkwlist) | {n for n in dir(builtins) if not n.startswith("_")} | {"self"}
_MAGIC = re.compile(r"^[ \t]*[!%].*$", re.M)
_IMPORT = re.compile(r"^[ \t]*import[ \t]+([^\n#;]{1,2000})", re.M)
_FROM = re.compile(r"^[ \t]*from[ \t]+([\w.]{1,200})[ \t]+import[ \t]+\(?([^\n#;)]{1,2000})", re.M)
_AS = re.compile(r"^([\w.]+)(?:[ \t]+as[ \t]+(\w+))?$")

# One token per match, tried in order; every repeat is possessive, so a failed attempt never backtracks.
_TOKENS = re.compile(r"""
  (?P<ws>[ \t\f]++|\\\r?\n)
| (?P<nl>\r?\n|\r)
| (?P<comment>\#[^\r\n]*+)
| (?P<str>[rRbBuUfF]{0,2}+(?:'''(?:[^'\\]|\\.|'(?!''))*+'''|\"\"\"(?:[^"\\]|\\.|"(?!""))*+\"\"\"
        |'(?:[^'\\\r\n]|\\.)*+'|"(?:[^"\\\r\n]|\\.)*+"))
| (?P<num>(?:0[xXoObB][0-9a-fA-F_]++|\d[\d_]*+(?:\.[\d_]*+)?(?:[eE][-+]?\d++)?|\.\d[\d_]*+(?:[eE][-+]?\d++)?)[jJ]?)
| (?P<name>[^\W\d]\w*+)
| (?P<op>\*\*=?|//=?|>>=?|<<=?|->|:=|[-+*/%&|^@=<>!]=|[-+*/%&|^~@<>=.,:;()\[\]{}])
| (?P<other>.)
""", re.X | re.S)


def module_aliases(code: str) -> dict[str, str]:
    """Names the code binds to modules or to names imported from them: ``np`` -> ``numpy``."""
    aliases: dict[str, str] = {}
    for m in _IMPORT.finditer(code):
        for part in m.group(1).split(",")[:50]:
            a = _AS.match(part.strip())
            if a:
                full = a.group(1)
                aliases[a.group(2) or full.split(".")[0]] = full if a.group(2) else full.split(".")[0]
                for name in full.split("."):  # the module's own name, as the import line writes it
                    aliases.setdefault(name, name)
    for m in _FROM.finditer(code):
        for name in m.group(1).split(".")[:20]:
            if name:
                aliases.setdefault(name, name)
        for part in m.group(2).split(",")[:50]:
            a = _AS.match(part.strip())
            if a and "." not in a.group(1):
                aliases[a.group(2) or a.group(1)] = a.group(1)
    return aliases


def normalized_tokens(code: str, aliases: dict[str, str] | None = None) -> list[str]:
    """The code as the normalised token stream described above."""
    code = _MAGIC.sub("", code[:MAX_CELL_CHARS])
    aliases = module_aliases(code) if aliases is None else aliases
    out: list[str] = []
    depth = 0  # inside brackets, line ends are not statement ends
    indents = [0]
    at_line_start = True
    chain = False  # the previous name was a module (or reached through one): keep what follows a dot
    pos, n = 0, len(code)
    while pos < n:
        m = _TOKENS.match(code, pos)
        if m is None:  # not reachable: <other> matches any character
            break
        kind, text = m.lastgroup, m.group()
        start, pos = m.start(), m.end()
        if kind == "ws" or kind == "comment":
            continue
        if kind == "nl":
            if depth == 0 and not at_line_start:
                out.append(";")
            at_line_start = depth == 0
            chain = False
            continue
        if at_line_start and depth == 0:
            line_start = code.rfind("\n", 0, start) + 1
            width = len(code[line_start:start].expandtabs(4))
            if width > indents[-1]:
                indents.append(width)
                out.append(">")
            while width < indents[-1] and len(indents) > 1:
                indents.pop()
                out.append("<")
            at_line_start = False
        if kind == "name":
            after_dot = bool(out) and out[-1] == "."
            if after_dot and chain:
                out.append(text)
            elif not after_dot and text in aliases:
                out.append(aliases[text])
                chain = True
                continue
            elif not after_dot and text in _KEEP:
                out.append(text)
            else:
                out.append("V")
            chain = chain and after_dot
            continue
        chain = chain and text == "."
        if kind == "str":
            out.append("S")
        elif kind == "num":
            out.append("N")
        else:
            if text in "([{":
                depth += 1
            elif text in ")]}":
                depth = max(0, depth - 1)
            out.append(text)
    if out and out[-1] != ";":
        out.append(";")
    return out


_TOKEN_IDS: dict[str, int] = {}


def _token_id(tok: str) -> int:
    value = _TOKEN_IDS.get(tok)
    if value is None:
        value = int.from_bytes(hashlib.blake2b(tok.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")
        if len(_TOKEN_IDS) < 100_000:
            _TOKEN_IDS[tok] = value
    return value


_BASE = np.uint64(0x100000001B3)  # FNV prime: an odd multiplier, arithmetic wraps modulo 2**64


def kgram_hashes(tokens: list[str], k: int = K) -> np.ndarray:
    """A 64-bit hash of every run of ``k`` consecutive tokens (none for fewer than ``k`` tokens)."""
    if len(tokens) < k:
        return np.zeros(0, dtype=np.uint64)
    ids = np.fromiter((_token_id(t) for t in tokens), dtype=np.uint64, count=len(tokens))
    count = len(tokens) - k + 1
    h = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            h = h * _BASE + ids[j : j + count]
        h ^= h >> np.uint64(29)  # mix the high bits down: winnowing compares whole values
    return h


def winnow(hashes: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """The minimum of every ``window`` consecutive hashes (all of them when there are fewer)."""
    if hashes.size <= window:
        return np.unique(hashes)
    views = np.lib.stride_tricks.sliding_window_view(hashes, window)
    return np.unique(views.min(axis=1))


@dataclass(frozen=True)
class CodePrint:
    """The fingerprints of one file: a sorted set of 64-bit hashes."""

    hashes: np.ndarray
    tokens: int
    cells: int

    def to_dict(self) -> dict:
        return {"prints": encode_hashes(self.hashes), "tokens": self.tokens, "cells": self.cells}


def encode_hashes(hashes: np.ndarray) -> str:
    return base64.b64encode(np.asarray(hashes, dtype="<u8").tobytes()).decode("ascii")


def decode_hashes(text: object) -> np.ndarray:
    """A stored set of fingerprints; empty for anything that is not one."""
    if not isinstance(text, str):
        return np.zeros(0, dtype=np.uint64)
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        return np.zeros(0, dtype=np.uint64)
    if len(raw) % 8:
        return np.zeros(0, dtype=np.uint64)
    return np.unique(np.frombuffer(raw, dtype="<u8").astype(np.uint64))


def fingerprint_cells(cells: list[str]) -> CodePrint:
    """Fingerprints of code cells (or one file as one cell): the union of each cell's winnowed k-grams."""
    budget = MAX_CODE_CHARS
    whole = "\n".join(c[:MAX_CELL_CHARS] for c in cells)[:MAX_CODE_CHARS]
    aliases = module_aliases(_MAGIC.sub("", whole))  # imports of one cell name modules for the others
    parts = []
    tokens = 0
    used = 0
    for cell in cells:
        if budget <= 0:
            break
        text = cell[: min(MAX_CELL_CHARS, budget)]
        budget -= len(text)
        toks = normalized_tokens(text, aliases)
        if len(toks) <= 1:
            continue
        used += 1
        tokens += len(toks)
        parts.append(winnow(kgram_hashes(toks)))
    hashes = np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint64)
    return CodePrint(hashes[:MAX_FINGERPRINTS], tokens, used)


def notebook_code_cells(cells: list[dict]) -> list[str]:
    """The source of every code cell of a notebook read by :func:`grader.intake.nbload.read_cells`."""
    out = []
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        text = "".join(s for s in src if isinstance(s, str)) if isinstance(src, list) else src
        if isinstance(text, str) and text.strip():
            out.append(text)
    return out
