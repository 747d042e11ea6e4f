"""What learning-management systems call the files in a bulk download, as pure functions.

Instructors download every submission of an assignment at once; each LMS encodes who handed
in what in the file (or folder) names:

- Canvas: ``doejane_12345_67890_hw4.zip`` (sortable name lowercased with non-word characters
  removed, so ``van_der_berganna`` keeps its underscores; user id, attachment id, the student's
  file name; ``doejane_LATE_12345_...`` when late; ``doejane_12345_text.html`` for a text entry).
  With anonymous grading Canvas writes no name and no user id: ``anon_<id>_67890_hw4.zip``
  (``LATE_anon_<id>_...``), ``<id>`` the submission's anonymous id (5 base58 characters).
  Attachment ids grow with time, so the largest is the latest upload.
- Moodle: a folder ``Jane Doe_12345_assignsubmission_file_/`` holding the files (or flat
  files ``Jane Doe_12345_assignsubmission_file_hw4.zip``); 12345 is the participant id that
  Moodle's grading worksheet is keyed by. Moodle downloads the latest attempt only.
- Blackboard: ``HW4_jdoe_attempt_2024-03-01-23-59-59_hw4.zip`` plus a receipt
  ``HW4_jdoe_attempt_2024-03-01-23-59-59.txt``; every attempt is downloaded, the timestamp
  orders them.

Nothing here touches the file system. Input is cut at :data:`MAX_NAME` characters.

Who a file belongs to is read from the LMS's own structure only: its prefix, which comes first in
every name, and (Blackboard) the first line of a receipt whose name ends where the LMS puts
``.txt``. Everything after the prefix is the student's own file name, and a receipt's later lines
hold text the student typed: a student who writes another student's prefix into a file name, or a
``Name:`` line into a comment, must not change whose grade anything is. So every pattern is
anchored at the prefix and takes its *first* marker (Canvas' first ``_<digits>_<digits>_``, which
Canvas keeps out of names for its own re-upload importer; Blackboard's first
``_attempt_<timestamp>`` decides), and a Moodle name holding two ``_<id>_assignsubmission_``
markers, which could be either participant's, is attributed to nobody (Moodle full names can be
edited by students on many sites). A Moodle folder's name ends with the marker, so there the last
one is the LMS's.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from grader.intake.sources import safe_id

MAX_NAME = 1024

CANVAS = "canvas"
MOODLE = "moodle"
BLACKBOARD = "blackboard"

_WORD = r"[\w\u0300-\u036f]"  # Ruby's [[:word:]], which Canvas keeps: letters, marks, digits, "_"
_CANVAS_TAIL = r"_(?:(?P<att>\d{1,20})_(?P<file>.+)|(?P<kind>text|link)\.html)"
_CANVAS = re.compile(rf"(?P<name>{_WORD}{{1,300}}?)(?P<late>_LATE)?_(?P<user>\d{{1,20}}){_CANVAS_TAIL}", re.S)
_CANVAS_ANON = re.compile(rf"(?P<late>LATE_)?anon_(?P<user>[A-Za-z0-9]{{1,20}}){_CANVAS_TAIL}", re.S)
_MOODLE_MARK = re.compile(r"_(\d{1,20})_assignsubmission_([a-z]{1,40})_")
_TIMESTAMP = r"\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}"
_BLACKBOARD_MARK = re.compile(rf"_attempt_({_TIMESTAMP})")
_RECEIPT_NAME = re.compile(r"Name:[ \t]*(.{0,200}?)[ \t]*\(([^()\s]{1,100})\)[ \t]*")


@dataclass(frozen=True)
class LmsName:
    """Who handed in a file, as the LMS wrote it in the file's name."""

    lms: str  # canvas | moodle | blackboard
    user: str  # the LMS's key for the student: Canvas user id, Moodle participant id, Blackboard username
    name: str  # the student's name as written (Canvas: squashed sortable name; Blackboard: "")
    attempt: str  # orders attempts: Canvas attachment id, Blackboard timestamp, Moodle ""
    filename: str  # the student's own file name ("" for a Moodle folder, the receipt's for Blackboard)
    late: bool = False
    receipt: bool = False  # a Blackboard submission receipt (.txt), not a submitted file
    assignment: str = ""  # Blackboard: the assignment's name
    anonymous: bool = False  # Canvas anonymous grading: ``user`` is the anonymous id, not a user id
    guessed: bool = False  # Blackboard: the username was split off the name without a receipt to confirm it

    @property
    def attempt_key(self) -> tuple[int, str]:
        """Sorts attempts oldest first: numeric ids by value, timestamps as text (they are ISO-like)."""
        return (int(self.attempt), "") if self.attempt.isdigit() else (0, self.attempt)

    @property
    def key(self) -> str:
        """Who, as the LMS wrote it: the user id, or Blackboard's whole ``<assignment>_<username>``."""
        if self.lms == BLACKBOARD:
            return f"{self.assignment}_{self.user}"
        return f"anon_{self.user}" if self.anonymous else self.user

    @property
    def student_id(self) -> str:
        """A folder-safe id, unique within the download: the name (if any) and the LMS's own key; never
        the name of an output (:func:`grader.intake.sources.safe_id`)."""
        parts = [p for p in (self.name, self.user) if p]
        return safe_id(plain_id("_".join(parts)))


def plain_id(text: str) -> str:
    """Letters, digits and ``_.@+-`` only (accents folded), at most 120 characters."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    safe = re.sub(r"[^A-Za-z0-9_.@+-]+", "_", folded).strip("._") or "submission"
    return safe[:120]


def parse_canvas(name: str, anonymous: bool | None = None) -> LmsName | None:
    """A Canvas download's name; ``anonymous``: the download's mode (None: either). In an anonymous
    download every name starts ``anon_`` or ``LATE_anon_``; a student whose sortable name squashes to
    ``anon`` is a named student of a named download, so the mode settles it."""
    name = name[:MAX_NAME]
    m = _CANVAS_ANON.fullmatch(name) if anonymous is not False else None
    if m is None and anonymous is not True:
        m = _CANVAS.fullmatch(name)
    if m is None:
        return None
    anon = m.re is _CANVAS_ANON
    filename = m.group("file") or f"{m.group('kind')}.html"
    return LmsName(CANVAS, m.group("user"), "anon" if anon else m.group("name"), m.group("att") or "",
                   filename, late=bool(m.group("late")), anonymous=anon)


def canvas_anonymous(names: Iterable[str]) -> bool:
    """True when most Canvas-named entries of a download are anonymous-grading names."""
    anon = named = 0
    for n in names:
        anon += parse_canvas(n, anonymous=True) is not None
        named += parse_canvas(n, anonymous=False) is not None
    return anon > 0 and anon * 2 >= named


def parse_moodle(name: str, folder: bool = False) -> LmsName | None:
    """``Full Name_<id>_assignsubmission_<plugin>_<file>``; ``folder``: the name of a folder of the
    download, which ends with the marker (so the last marker is the LMS's).

    A flat name with a second marker is refused: the full name or the file name imitates a
    participant's prefix, and which marker the LMS wrote cannot be told."""
    name = name[:MAX_NAME]
    marks = list(_MOODLE_MARK.finditer(name))
    if not marks:
        return None
    if folder:
        m = marks[-1]
        if m.end() != len(name):
            return None
    elif len(marks) > 1:
        return None
    else:
        m = marks[0]
    full_name = name[: m.start()].strip()
    if not full_name:
        return None
    return LmsName(MOODLE, m.group(1), full_name, "", name[m.end():])


def moodle_ambiguous(name: str) -> bool:
    """True for a flat name that holds more than one participant's marker (see :func:`parse_moodle`)."""
    return len(_MOODLE_MARK.findall(name[:MAX_NAME])) > 1


def parse_blackboard(name: str, usernames: Iterable[str] = (), assignment: str = "") -> LmsName | None:
    """``<assignment>_<username>_attempt_<timestamp>_<file>``, or the receipt ``..._<timestamp>.txt``.

    The *first* ``_attempt_<timestamp>`` is the LMS's (what follows is the student's file name, which
    may imitate one). ``assignment`` (the download's, from its receipts) or ``usernames`` (from
    receipts) settle where the assignment's name ends when both hold ``_``."""
    name = name[:MAX_NAME]
    guessed = False
    m = _BLACKBOARD_MARK.search(name)
    if m is None:
        return None
    prefix, stamp, rest = name[: m.start()], m.group(1), name[m.end():]
    if rest == ".txt":
        receipt, filename = True, ""
    elif rest.startswith("_") and len(rest) > 1:
        receipt, filename = False, rest[1:]
    else:
        return None
    user: str | None
    if assignment and prefix.startswith(assignment + "_") and len(prefix) > len(assignment) + 1:
        user = prefix[len(assignment) + 1:]
    else:
        user = next((u for u in sorted(usernames, key=len, reverse=True)
                     if prefix.endswith("_" + u) and len(prefix) > len(u) + 1), None)
        if user is None:
            if "_" not in prefix:
                return None
            user = prefix.rsplit("_", 1)[1]
            guessed = prefix.count("_") > 1  # "HW_4_mary_ann": where the username starts is a guess
    found = prefix[: -len(user) - 1]
    if not user or not found:
        return None
    return LmsName(BLACKBOARD, user, "", stamp, filename, receipt=receipt, assignment=found,
                   guessed=guessed)


def parse_blackboard_receipt(text: str, receipt: LmsName | None = None) -> tuple[str, str] | None:
    """``(full name, username)`` from a receipt's ``Name: Jane Doe (jdoe)`` line.

    Only the receipt's first line is read: later lines hold what the student typed (the
    submission's text, comments). With ``receipt`` (the receipt's parsed file name), the username
    must be the one the LMS wrote in that name: a receipt never speaks for another user."""
    lines = text[:20_000].lstrip("\ufeff\r\n \t").splitlines()  # LF, CRLF or CR
    m = _RECEIPT_NAME.fullmatch(lines[0].strip()) if lines else None
    if m is None:
        return None
    full, user = m.group(1).strip(), m.group(2)
    if receipt is not None:
        prefix = f"{receipt.assignment}_{receipt.user}"
        if not prefix.endswith("_" + user) or len(prefix) <= len(user) + 1:
            return None
    return full, user


PARSERS: dict[str, Callable[[str], LmsName | None]] = {
    CANVAS: parse_canvas, MOODLE: parse_moodle, BLACKBOARD: parse_blackboard}


def parse_lms_name(name: str, lms: str | None = None) -> LmsName | None:
    """The first LMS whose naming ``name`` follows (or only ``lms``'s)."""
    for key, parse in PARSERS.items():
        if lms is None or key == lms:
            found = parse(name)
            if found is not None:
                return found
    return None


def decode_receipt(data: bytes) -> str:
    """A receipt's text whatever wrote it: UTF-8 (with or without BOM), UTF-16 with a BOM (a receipt
    saved again on Windows), else Windows-1252."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def is_junk(name: str) -> bool:
    """Files an operating system adds to a folder or zip (``.DS_Store``, ``__MACOSX``), not the LMS's."""
    return not name or name.startswith(".") or name.lower() in ("__macosx", "thumbs.db", "desktop.ini")


def detect_lms(names: Iterable[str]) -> str | None:
    """The LMS whose naming most of ``names`` follow (at least half of them, junk ignored)."""
    names = [n for n in names if not is_junk(n) and n.lower() != "index.html"]
    if not names:
        return None
    counts = {key: sum(parse(n) is not None for n in names) for key, parse in PARSERS.items()}
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] * 2 >= len(names) and counts[best] > 0 else None


def latest_attempts(names: Iterable[LmsName]) -> dict[str, list[LmsName]]:
    """By student (:attr:`LmsName.key`): the files of the latest attempt only (receipts dropped), in
    name order.

    Blackboard attempts are whole uploads sharing a timestamp; Canvas gives each file its own
    attachment id, so there the latest *zip* wins and loose files are kept one per file name
    (the latest of each). Moodle downloads only the latest attempt: everything is kept.
    """
    by_user: dict[str, list[LmsName]] = {}
    for n in names:
        if not n.receipt:
            by_user.setdefault(n.key, []).append(n)
    out: dict[str, list[LmsName]] = {}
    for user, items in by_user.items():
        lms = items[0].lms
        if lms == BLACKBOARD:
            last = max(n.attempt for n in items)
            keep = [n for n in items if n.attempt == last]
        elif lms == CANVAS:
            zips = [n for n in items if n.filename.lower().endswith(".zip")]
            keep = [max(zips, key=lambda n: n.attempt_key)] if zips else _canvas_newest_files(items)
        else:
            keep = items
        out[user] = sorted(keep, key=lambda n: (n.filename, n.attempt_key))
    return out


def _canvas_newest_files(items: list[LmsName]) -> list[LmsName]:
    """One file per name: ``weights.h5`` and its re-upload ``weights-1.h5`` are one file (the newest
    wins), but ``part-1.ipynb`` and ``part-2.ipynb`` with no ``part.ipynb`` are two files."""
    groups: dict[str, list[LmsName]] = {}
    for n in items:
        groups.setdefault(canvas_original_name(n.filename).lower(), []).append(n)
    keep: list[LmsName] = []
    for base, group in groups.items():
        if len(group) > 1 and any(n.filename.lower() == base for n in group):
            keep.append(max(group, key=lambda n: n.attempt_key))
        else:
            newest: dict[str, LmsName] = {}
            for n in sorted(group, key=lambda n: n.attempt_key):
                newest[n.filename.lower()] = n
            keep += newest.values()
    return keep


_CANVAS_COPY = re.compile(r"(.+?)-(\d{1,2})(\.[A-Za-z0-9]{1,10})?")


def canvas_original_name(filename: str) -> str:
    """Canvas renames a re-uploaded ``weights.h5`` to ``weights-1.h5``; the name the rubric expects
    is the one without the counter."""
    m = _CANVAS_COPY.fullmatch(filename[:MAX_NAME])
    return (m.group(1) + (m.group(3) or "")) if m else filename
