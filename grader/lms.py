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

Nothing here touches the file system. Names are the students' own file names after the LMS
prefix, so every pattern is anchored, and input is cut at :data:`MAX_NAME` characters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

MAX_NAME = 1024

CANVAS = "canvas"
MOODLE = "moodle"
BLACKBOARD = "blackboard"

_CANVAS = re.compile(r"([^\W_]+)(_LATE)?_(\d{1,20})_(\d{1,20})_(.+)", re.S)
_MOODLE = re.compile(r"(.+?)_(\d{1,20})_assignsubmission_([a-z]{1,40})_(.*)", re.S)
_TIMESTAMP = r"\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}"
_BLACKBOARD = re.compile(rf"(.+)_attempt_({_TIMESTAMP})(?:_(.+)|(\.txt))", re.S)
_RECEIPT_NAME = re.compile(r"^Name:[ \t]*(.{0,200}?)[ \t]*\(([^()\s]{1,100})\)[ \t]*$", re.M)


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
    def student_id(self) -> str:
        """A folder-safe id, unique within the download: the name (if any) and the LMS's own key."""
        parts = [p for p in (self.name, self.user) if p]
        return plain_id("_".join(parts))


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


def parse_moodle(name: str) -> LmsName | None:
    m = _MOODLE.fullmatch(name[:MAX_NAME])
    if m is None:
        return None
    full_name, participant, _plugin, filename = m.groups()
    return LmsName(MOODLE, participant, full_name.strip(), "", filename)


def parse_blackboard(name: str, usernames: Iterable[str] = ()) -> LmsName | None:
    """``usernames`` (from receipts) settle where the assignment's name ends when both hold ``_``."""
    m = _BLACKBOARD.fullmatch(name[:MAX_NAME])
    if m is None:
        return None
    prefix, stamp, filename, txt = m.groups()
    user = next((u for u in sorted(usernames, key=len, reverse=True) if prefix.endswith("_" + u)), None)
    if user is None:
        if "_" not in prefix:
            return None
        user = prefix.rsplit("_", 1)[1]
    assignment = prefix[: -len(user) - 1]
    if not user or not assignment:
        return None
    return LmsName(BLACKBOARD, user, "", stamp, filename or "", receipt=bool(txt), assignment=assignment)


def parse_blackboard_receipt(text: str) -> tuple[str, str] | None:
    """``(full name, username)`` from a receipt's ``Name: Jane Doe (jdoe)`` line."""
    m = _RECEIPT_NAME.search(text[:20_000])
    return (m.group(1).strip(), m.group(2)) if m else None


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
    """By student: the files of the latest attempt only (receipts dropped), in name order.

    Blackboard attempts are whole uploads sharing a timestamp; Canvas gives each file its own
    attachment id, so there the latest *zip* wins and loose files are kept one per file name
    (the latest of each). Moodle downloads only the latest attempt: everything is kept.
    """
    by_user: dict[str, list[LmsName]] = {}
    for n in names:
        if not n.receipt:
            by_user.setdefault(n.user, []).append(n)
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
