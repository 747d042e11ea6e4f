"""Escaping for everything that leaves the grader: terminal, HTML, Markdown, CSV.

Student text (file names, exception messages, printed output, equations) reaches
instructors' terminals, web pages and spreadsheets. Each sink has its own
injection: escape sequences that clear a terminal or hide text, ``<img onerror=...>``
in a page Gradescope renders as HTML, ``=HYPERLINK(...)`` in a CSV cell. Every
renderer passes student-controlled strings through the function for its sink.
All functions here are linear-time in their input.
"""

from __future__ import annotations

import html as _html
import re

# C0 controls except tab and newline, DEL, C1 controls, and the Unicode characters that
# reorder or hide text (bidi overrides and isolates, zero-width joiners used to hide words).
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
# A whole ANSI/VT escape sequence (CSI, OSC, and two-byte ESC sequences), removed before the lone
# control characters so that their printable tail ("[2J") does not stay behind.
_ANSI = re.compile(
    r"\x1b\[[0-?]{0,64}[ -/]{0,16}[@-~]"  # CSI: colours, cursor moves, clear screen
    r"|\x1b\][^\x07\x1b]{0,4096}(?:\x07|\x1b\\)?"  # OSC: window titles, hyperlinks
    r"|\x1b[@-_]"  # two-byte ESC sequences
    r"|\x9b[0-?]{0,64}[ -/]{0,16}[@-~]"  # 8-bit CSI
)
_CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")
# Every ASCII punctuation character: CommonMark lets each be backslash-escaped, and escaped it is always
# literal (no emphasis, code span, link, heading, list, entity, nor GFM's table cell break `\|`).
_MD_PUNCT = re.compile(r"[!-/:-@\[-`{-~]")
# ...except the three that start raw HTML or an entity: written as entities, so no renderer sees a tag.
_MD_ENTITY = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


def terminal(text: object) -> str:
    """``text`` with escape sequences and control characters removed (newlines and tabs kept),
    safe to print to a terminal."""
    s = str(text)
    if "\x1b" in s or "\x9b" in s:
        s = _ANSI.sub("", s)
    return _CONTROL.sub("\N{REPLACEMENT CHARACTER}", s)


def one_line(text: object, limit: int | None = None) -> str:
    """Like :func:`terminal`, on one line (newlines and tabs become spaces), cut at ``limit``."""
    s = terminal(text).replace("\r", " ").replace("\n", " ").replace("\t", " ")
    if limit is not None and len(s) > limit:
        s = s[: max(limit - 1, 0)] + "\N{HORIZONTAL ELLIPSIS}"
    return s


def html(text: object) -> str:
    """Text for an HTML page or attribute: control characters removed, ``<>&"'`` escaped."""
    return _html.escape(terminal(text), quote=True)


def markdown(text: object) -> str:
    """Text that GitHub-flavoured Markdown shows literally, on one line: a table cell or a heading.
    Escaped for Markdown, not HTML (``'`` stays ``'``: ``&#x27;`` would be shown as typed once its
    ``#`` is escaped); line breaks become ``<br>``, the one tag written, so the text stays in its cell."""
    s = _MD_PUNCT.sub(lambda m: _MD_ENTITY.get(m.group(), "\\" + m.group()), terminal(text))
    return s.replace("\n", "<br>")  # terminal() has turned any CR into U+FFFD


def csv_cell(value: object) -> object:
    """A CSV cell that a spreadsheet will not run as a formula. Numbers pass unchanged; a string
    starting with ``= + - @`` (or tab, CR, ``|``, ``%``) gets a leading apostrophe, as OWASP advises."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    s = terminal(value)
    if s.startswith(_CSV_FORMULA_START) and not _is_number(s):
        return "'" + s
    return s


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True
