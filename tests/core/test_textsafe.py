"""Escaping of student text for every sink: terminal, HTML, Markdown, CSV."""

from __future__ import annotations

import time

from grader.core import textsafe


def test_terminal_strips_escape_sequences_and_controls():
    hostile = "ok\x1b[2J\x1b[8mhidden\x1b[0m\x1b]0;pwned\x07\x9b31m\x00\u202eevil\nnext\tcol"
    out = textsafe.terminal(hostile)
    assert "\x1b" not in out and "\x9b" not in out and "\x00" not in out and "\u202e" not in out
    assert "[2J" not in out and "pwned" not in out
    assert out.endswith("\nnext\tcol") and "hidden" in out


def test_one_line_and_limit():
    assert textsafe.one_line("a\nb\r\tc", limit=4) == "a b\N{HORIZONTAL ELLIPSIS}"


def test_html_and_markdown_escape_markup():
    assert textsafe.html('<img src=x onerror="alert(1)">') == "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"
    md = textsafe.markdown("[click](javascript:alert(1)) <b>*x*</b>")
    assert "<" not in md and "](" not in md and "\\*x\\*" in md


def test_csv_cells_never_start_a_formula():
    for bad in ("=HYPERLINK(\"http://x\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1"):
        cell = textsafe.csv_cell(bad)
        assert isinstance(cell, str) and cell.startswith("'"), bad
    assert textsafe.csv_cell(-1.5) == -1.5
    assert textsafe.csv_cell("-1.5") == "-1.5"  # a number written as text stays a number
    assert textsafe.csv_cell("alice") == "alice"


def test_linear_time_on_hostile_input():
    for s in ("\x1b[" + "0;" * 200_000, "\x1b]" + "x" * 1_000_000, "\x1b" * 500_000):
        t = time.perf_counter()
        textsafe.terminal(s)
        assert time.perf_counter() - t < 1.0
