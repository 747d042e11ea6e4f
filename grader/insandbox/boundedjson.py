"""Untrusted JSON lines, bounded while they are read: bytes, values and nesting are counted as the bytes
arrive, and a line over a bound is refused before ``json.loads`` builds anything of it.

Why: ``json.loads`` of 96 MiB of ``[],[],...`` builds 48 million lists (4.7 GiB), far beyond what any
later check (:func:`wire.decode`'s 200,000 values) accepts. Here each line is measured in one linear
pass, chunk by chunk, and refused at the first byte over a limit; what ``json.loads`` may then build is
bounded by ``max_values`` (at most a few hundred bytes of Python objects each, beside the line's text)::

    lines = JsonLines(max_bytes=96 << 20, max_values=810_000, max_depth=95)
    lines.feed(chunk)               # as bytes arrive; never holds more than max_bytes of one line
    rec = lines.take()              # a dict, a Refused (why), or None while no line is complete

Lines that are not JSON objects are skipped (a stream student code can write to may hold anything),
or refused with ``strict``; a refused line is reported once, as a :class:`Refused`. Runs in the
sandbox and in the grader alike: it imports nothing of mlgrade but :mod:`wire`, its neighbour.
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass
from typing import cast

try:  # in the grader
    from grader.insandbox.wire import scrub_json
except ImportError:  # in the sandbox, where wire.py sits beside this file
    from wire import scrub_json  # type: ignore[no-redef]  # the same function, imported as a script's sibling

# Outside strings: blanks, then a scalar (a number, true, null...: group 1), then anything else up to the next
# structural character (not JSON: json.loads stops there). Possessive: one pass, no backtracking.
_OUTSIDE = re.compile(rb'[ \t\r\n]*+([^"\[\]{},: \t\r\n]*+)[^"\[\]{},:]*+')
# Inside a string: characters and complete escapes up to the closing quote (or a backslash that ends the
# chunk: its escaped character comes with the next one).
_INSIDE = re.compile(rb'(?:[^"\\]++|\\.)*+', re.S)
QUOTE, BACKSLASH = ord('"'), ord("\\")
OPENERS, CLOSERS = (ord("["), ord("{")), (ord("]"), ord("}"))


@dataclass(frozen=True)
class Refused:
    """A line over a bound, dropped unread: ``reason`` says which bound, for the report."""

    reason: str


class Shape:
    """One line's measure so far: fed in chunks, raises :class:`ValueError` (the reason) past a limit.

    ``values`` is an upper bound on the Python objects ``json.loads`` would make: one per list, object,
    string (keys too) and scalar. Separators (``,`` ``:``) are bounded by the same limit and closing
    brackets by the opening ones, so the pass makes at most a few steps per value before it refuses.
    """

    def __init__(self, max_bytes: int, max_values: int, max_depth: int):
        self.max_bytes, self.max_values, self.max_depth = max_bytes, max_values, max_depth
        self.size = self.depth = self.values = self.separators = 0
        self.in_string = self.escaped = False

    def feed(self, data: bytes | bytearray, start: int = 0, end: int | None = None) -> None:
        end = len(data) if end is None else end
        self.size += end - start
        if self.size > self.max_bytes:
            raise ValueError(f"longer than {_size(self.max_bytes)}")
        i = start
        while i < end:
            if self.escaped:  # the character after a backslash that ended the previous chunk
                self.escaped = False
                i += 1
                continue
            if self.in_string:
                quote = data.find(b'"', i, end)
                if data.find(b"\\", i, end if quote < 0 else quote) < 0:  # no escape: at memchr's speed
                    if quote < 0:
                        return
                    self.in_string = False
                    i = quote + 1
                    continue
                # _INSIDE and _OUTSIDE match the empty string too: their match is never None
                i = cast("re.Match[bytes]", _INSIDE.match(data, i, end)).end()
                if i >= end:
                    return
                self.escaped = data[i] == BACKSLASH  # a backslash at the chunk's end
                self.in_string = self.escaped
                i += 1
                continue
            m = cast("re.Match[bytes]", _OUTSIDE.match(data, i, end))
            if m.end(1) > m.start(1):  # a scalar (one split between two chunks counts twice: still a bound)
                self.values += 1
            i = m.end()
            if i >= end:
                break
            c = data[i]
            i += 1
            if c == QUOTE:
                self.in_string = True
                self.values += 1
            elif c in OPENERS:
                self.depth += 1
                self.values += 1
                if self.depth > self.max_depth:
                    raise ValueError(f"nested more than {self.max_depth} levels deep")
            elif c in CLOSERS:
                self.depth -= 1
                if self.depth < 0:
                    raise ValueError("that is not JSON (a bracket closes what was never opened)")
            else:
                self.separators += 1
            if self.values > self.max_values or self.separators > self.max_values:
                raise ValueError(f"with more than {self.max_values:,} JSON values")
        if self.values > self.max_values:
            raise ValueError(f"with more than {self.max_values:,} JSON values")


def _size(n: int) -> str:
    return f"{n / 2**20:g} MiB" if n >= 2**20 else f"{n:,} bytes"


class JsonLines:
    """A stream of JSON lines from an untrusted writer, split and measured as it arrives."""

    def __init__(self, max_bytes: int, max_values: int, max_depth: int, strict: bool = False):
        """``strict``: a line that is not a JSON object is a :class:`Refused` too (a helper's own answers),
        rather than skipped (a stream student code may also write to)."""
        self.limits = (max_bytes, max_values, max_depth)
        self.strict = strict
        self.buf = bytearray()  # the incomplete line (only while it is within the bounds)
        self.shape = Shape(*self.limits)
        self.skipping = False  # inside a refused line: its bytes are dropped up to its end
        self.ready: deque = deque()  # complete lines (bytes) and refusals, in order

    @property
    def pending(self) -> int:
        """Bytes of the incomplete line held."""
        return len(self.buf)

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        start = 0
        while start < len(data):
            nl = data.find(b"\n", start)
            end = len(data) if nl < 0 else nl
            if not self.skipping:
                try:
                    self.shape.feed(data, start, end)
                except ValueError as e:
                    self.ready.append(Refused(str(e)))
                    self.buf.clear()
                    self.skipping = True
                else:
                    self.buf += view[start:end]
            if nl < 0:
                return
            if not self.skipping and self.buf:
                self.ready.append(self.buf)  # handed over whole: a long line is never copied here
                self.buf = bytearray()
            self.buf.clear()
            self.shape = Shape(*self.limits)
            self.skipping = False
            start = nl + 1

    def take(self) -> dict | Refused | None:
        """The next complete JSON object or refusal; None when no complete line is left."""
        while self.ready:
            item = self.ready.popleft()
            if isinstance(item, Refused):
                return item
            try:
                rec = json.loads(scrub_json(item))
            except (ValueError, RecursionError):  # RecursionError: nesting deeper than this stack
                rec = None
            if isinstance(rec, dict):
                return rec
            if self.strict and item.strip():
                return Refused("not a JSON object")
        return None

