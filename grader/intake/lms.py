"""What learning-management systems call the files in a bulk download, as pure functions.

Instructors download every submission of an assignment at once; each LMS encodes who handed
in what in the file (or folder) names:

- Canvas: ``doejane_12345_67890_hw4.zip`` (sortable name squashed, user id, attachment id,
  the student's file name; ``doejane_LATE_12345_...`` when late). Attachment ids grow with
  time, so the largest is the latest upload.
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
anchored at the prefix and takes its *first* marker (Canvas' name has no ``_``; Blackboard's first
``_attempt_<timestamp>`` decides), and a Moodle name holding two ``_<id>_assignsubmission_``
markers, which could be either participant's, is attributed to nobody (Moodle full names can be
edited by students on many sites). A Moodle folder's name ends with the marker, so there the last
one is the LMS's.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from grader.intake.sources import safe_id

MAX_NAME = 1024

CANVAS = "canvas"
MOODLE = "moodle"
BLACKBOARD = "blackboard"

_CANVAS = re.compile(r"([^\W_]+)(_LATE)?_(\d{1,20})_(\d{1,20})_(.+)", re.S)
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

    @property
    def attempt_key(self) -> tuple[int, str]:
        """Sorts attempts oldest first: numeric ids by value, timestamps as text (they are ISO-like)."""
        return (int(self.attempt), "") if self.attempt.isdigit() else (0, self.attempt)

    @property
    def key(self) -> str:
        """Who, as the LMS wrote it: the user id, or Blackboard's whole ``<assignment>_<username>``."""
        return f"{self.assignment}_{self.user}" if self.lms == BLACKBOARD else self.user

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


def parse_canvas(name: str) -> LmsName | None:
    m = _CANVAS.fullmatch(name[:MAX_NAME])
    if m is None:
        return None
    squashed, late, user, attachment, filename = m.groups()
    return LmsName(CANVAS, user, squashed, attachment, filename, late=bool(late))


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
    found = prefix[: -len(user) - 1]
    if not user or not found:
        return None
    return LmsName(BLACKBOARD, user, "", stamp, filename, receipt=receipt, assignment=found)


def parse_blackboard_receipt(text: str, receipt: LmsName | None = None) -> tuple[str, str] | None:
    """``(full name, username)`` from a receipt's ``Name: Jane Doe (jdoe)`` line.

    Only the receipt's first line is read: later lines hold what the student typed (the
    submission's text, comments). With ``receipt`` (the receipt's parsed file name), the username
    must be the one the LMS wrote in that name: a receipt never speaks for another user."""
    lines = text[:20_000].lstrip("\ufeff").lstrip("\r\n \t").splitlines()
    m = _RECEIPT_NAME.fullmatch(lines[0].strip()) if lines else None
    if m is None:
        return None
    full, user = m.group(1).strip(), m.group(2)
    if receipt is not None:
        prefix = f"{receipt.assignment}_{receipt.user}"
        if not prefix.endswith("_" + user) or len(prefix) <= len(user) + 1:
            return None
    return full, user


PARSERS = {CANVAS: parse_canvas, MOODLE: parse_moodle, BLACKBOARD: parse_blackboard}


def parse_lms_name(name: str, lms: str | None = None) -> LmsName | None:
    """The first LMS whose naming ``name`` follows (or only ``lms``'s)."""
    for key, parse in PARSERS.items():
        if lms is None or key == lms:
            found = parse(name)
            if found is not None:
                return found
    return None


def detect_lms(names: Iterable[str]) -> str | None:
    """The LMS whose naming most of ``names`` follow (at least half of them, junk ignored)."""
    names = [n for n in names if n and not n.startswith(".") and n.lower() not in ("__macosx", "index.html")]
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
            if zips:
                keep = [max(zips, key=lambda n: n.attempt_key)]
            else:
                newest: dict[str, LmsName] = {}
                for n in sorted(items, key=lambda n: n.attempt_key):
                    newest[canvas_original_name(n.filename).lower()] = n
                keep = list(newest.values())
        else:
            keep = items
        out[user] = sorted(keep, key=lambda n: (n.filename, n.attempt_key))
    return out


_CANVAS_COPY = re.compile(r"(.+?)-(\d{1,2})(\.[A-Za-z0-9]{1,10})?")


def canvas_original_name(filename: str) -> str:
    """Canvas renames a re-uploaded ``weights.h5`` to ``weights-1.h5``; the name the rubric expects
    is the one without the counter."""
    m = _CANVAS_COPY.fullmatch(filename[:MAX_NAME])
    return (m.group(1) + (m.group(3) or "")) if m else filename
