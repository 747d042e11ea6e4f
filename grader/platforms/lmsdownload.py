"""LMS bulk downloads as submissions: Canvas, Moodle and Blackboard, as a zip or an unpacked folder.

A download is recognised by its names (:mod:`grader.intake.lms`), then each student's latest attempt is
*staged* under ``OUT/.mlgrade/lms/``: a single zip as ``<student>.zip``, loose files in a folder
``<student>/`` under their own names (a Canvas re-upload ``weights-1.h5`` is also linked as
``weights.h5`` when no other file has that name). The staged folder is then graded like any folder
of submissions, so the student id is the LMS's (name and LMS id, e.g. ``doejane_3143``) and every
staged file goes through the same unpacker.

An entry of the download that no student can be read from is never only a line on the terminal:
:attr:`Staged.unrecognised` names it with the reason, and the batch gives it a row (no score for
the LMS to import, the reason in every output), so a TA sees it in the grade files.

The download's entry names are parsed, never used as paths: staged names are built from the
parsed parts, one safe component at a time. Entries are copied with a byte limit each
(the rubric's archive limit) and in total, and symlinks in a downloaded folder are not followed.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import stat
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from grader.intake.lms import (
    BLACKBOARD,
    CANVAS,
    MOODLE,
    LmsName,
    canvas_anonymous,
    canvas_original_name,
    decode_receipt,
    detect_lms,
    is_junk,
    latest_attempts,
    moodle_ambiguous,
    parse_blackboard,
    parse_blackboard_receipt,
    parse_canvas,
    parse_moodle,
    plain_id,
)
from grader.intake.sources import safe_id

MAX_ENTRIES = 200_000
MAX_TOTAL_BYTES = 64 * 1024**3
LMS_FORMAT = {CANVAS: "canvas", MOODLE: "moodle", BLACKBOARD: "blackboard"}
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


class LmsDownloadError(ValueError):
    pass


@dataclass
class _Entry:
    top: str  # the first component of the name: what the LMS named
    inner: str  # the rest (a Moodle folder's contents), posix, "" for a flat file
    size: int
    open: Callable[[], IO[bytes]]


@dataclass
class Staged:
    lms: str
    folder: Path  # graded like a folder of submissions
    origins: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    unrecognised: dict[str, str] = field(default_factory=dict)  # row id -> why nobody's grade (see module doc)
    anonymous: bool = False  # a Canvas download of an anonymously graded assignment


NAMING = {
    CANVAS: "lastnamefirstname_userid_attachmentid_file, or anon_<id>_attachmentid_file",
    MOODLE: "Full Name_<participant id>_assignsubmission_file_",
    BLACKBOARD: "<assignment>_<username>_attempt_<yyyy-mm-dd-hh-mm-ss>_<file>",
}


def safe_component(name: str) -> str:
    """One file name component: no separators, no control characters, not ``.``/``..``, at most 120."""
    s = _UNSAFE.sub("_", name).strip(" .")
    return (s or "file")[:120]


def _file_opener(p: Path) -> Callable[[], IO[bytes]]:
    return lambda: open(p, "rb")


@contextmanager
def _entries(path: Path) -> Iterator[list[_Entry]]:
    if path.is_file():
        if not zipfile.is_zipfile(path):
            yield []
            return
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_ENTRIES:
                raise LmsDownloadError(f"{path.name}: {len(infos):,} entries, over {MAX_ENTRIES:,}")
            out = []
            for info in infos:
                if info.is_dir():
                    continue
                name = info.filename.replace("\\", "/").lstrip("/")
                top, _, inner = name.partition("/")
                out.append(_Entry(top, inner, info.file_size, functools.partial(zf.open, info)))
            yield out
        return
    out = []
    for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for fname in filenames:
            p = Path(dirpath) / fname
            st = p.lstat()
            if not stat.S_ISREG(st.st_mode):
                continue
            rel = p.relative_to(path).as_posix()
            top, _, inner = rel.partition("/")
            out.append(_Entry(top, inner, st.st_size, _file_opener(p)))
            if len(out) > MAX_ENTRIES:
                raise LmsDownloadError(f"{path}: over {MAX_ENTRIES:,} files")
    yield out


def detect(path: Path) -> str | None:
    """The LMS whose bulk download ``path`` is, or None."""
    try:
        with _entries(path) as entries:
            return detect_lms(sorted({e.top for e in entries}))
    except (OSError, zipfile.BadZipFile, LmsDownloadError):
        return None


def _copy(entry: _Entry, dest: Path, limit: int, budget: list[int]) -> None:
    if entry.size > limit:
        raise LmsDownloadError(f"{entry.size:,} bytes, over the limit of {limit:,}")
    written = 0
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with entry.open() as src, os.fdopen(fd, "wb") as out:
            while chunk := src.read(1 << 20):
                written += len(chunk)
                if written > limit or written > budget[0]:
                    raise LmsDownloadError(f"more than {min(limit, budget[0]):,} bytes")
                out.write(chunk)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    budget[0] -= written


def stage(path: Path, dest: Path, max_entry_bytes: int) -> Staged:
    """Stage the latest attempt of every student of the download at ``path`` into ``dest`` (emptied)."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    with _entries(path) as entries:
        lms = detect_lms(sorted({e.top for e in entries}))
        if lms is None:
            raise LmsDownloadError(f"{path}: not a Canvas, Moodle or Blackboard bulk download")
        staged = Staged(lms, dest)
        receipts, assignment = _blackboard_receipts(entries) if lms == BLACKBOARD else ({}, "")
        staged.anonymous = lms == CANVAS and canvas_anonymous(sorted({e.top for e in entries}))
        parsed: list[tuple[LmsName, _Entry]] = []
        nobodys: set[str] = set()
        for e in entries:
            if lms == BLACKBOARD:
                n = parse_blackboard(e.top, receipts, assignment)
            elif lms == MOODLE:
                n = parse_moodle(e.top, folder=bool(e.inner))
            else:
                n = parse_canvas(e.top, anonymous=staged.anonymous)
            if n is None:
                if not is_junk(e.top) and e.top not in nobodys:
                    nobodys.add(e.top)
                    _unrecognised(staged, e.top)
                continue
            parsed.append((n, e))
        by_name = {id(n): e for n, e in parsed}
        names = [n for n, _ in parsed]
        kept = latest_attempts(names)
        older = sum(1 for n in names if not n.receipt) - sum(len(v) for v in kept.values())
        if older:
            staged.notes.append(f"{older} file(s) of older attempts ignored (only each student's latest is graded)")
        budget = [MAX_TOTAL_BYTES]
        used_ids: set[str] = set()
        for key in sorted(kept, key=lambda k: (kept[k][0].student_id, k)):
            files = kept[key]
            first = files[0]
            sid, k = first.student_id, 2
            while sid.casefold() in used_ids:
                sid, k = f"{first.student_id}-{k}", k + 1
            used_ids.add(sid.casefold())
            origin: dict[str, Any] = {"lms": lms, "user": first.user, "name": first.name}
            if lms == MOODLE and first.name:
                origin["full_name"] = first.name
            if lms == BLACKBOARD:
                origin["submitted_at"] = first.attempt
                if first.user in receipts:
                    origin["full_name"] = receipts[first.user]
                elif first.guessed:  # never write a guessed username into the Grade Center file
                    origin["user"], origin["username_guess"] = "", first.user
            if lms == CANVAS:
                origin["attachment"] = max(n.attempt for n in files)
                origin["late"] = any(n.late for n in files)
                if first.anonymous:
                    origin["user"], origin["anonymous_id"], origin["name"] = "", first.user, f"anon_{first.user}"
            entries_of = [(n, by_name[id(n)]) for n in files]
            origin["files"] = [(n.filename or "") + (("/" + e.inner) if e.inner else "") for n, e in entries_of][:50]
            staged.origins[sid] = origin
            try:
                single = len(entries_of) == 1 and _file_name(*entries_of[0]).lower().endswith(".zip")
                if single:
                    _copy(entries_of[0][1], dest / f"{sid}.zip", max_entry_bytes, budget)
                else:
                    _stage_files(dest / sid, entries_of, max_entry_bytes, budget)
            except (LmsDownloadError, OSError) as why:
                staged.notes.append(f"{sid}: a file could not be taken from the download ({why}); graded without it")
    return staged


def _stage_files(folder: Path, entries_of: list[tuple[LmsName, _Entry]], limit: int, budget: list[int]) -> None:
    """Loose files under their own names; a Canvas re-upload (``weights-1.h5``) is also linked under the
    name without the counter when no other file has (or would take) that name."""
    folder.mkdir()
    staged: list[tuple[LmsName, Path]] = []
    for n, e in entries_of:
        target = folder
        parts = [safe_component(p) for p in _file_name(n, e).split("/") if p not in ("", ".", "..")]
        for part in parts[:-1]:
            target = target / part
            target.mkdir(exist_ok=True)
        out = target / (parts[-1] if parts else "file")
        if not out.exists():
            _copy(e, out, limit, budget)
            staged.append((n, out))
    bases: dict[Path, list[Path]] = {}
    for n, out in staged:
        if n.lms == CANVAS:
            base = out.with_name(safe_component(canvas_original_name(out.name)))
            if base != out:
                bases.setdefault(base, []).append(out)
    for base, outs in bases.items():
        if len(outs) == 1 and not base.exists():
            os.link(outs[0], base)


def _unrecognised(staged: Staged, top: str) -> None:
    """An entry that is nobody's: a row of its own in the outputs, with the reason (see module doc)."""
    platform = staged.lms.title()
    if staged.lms == MOODLE and moodle_ambiguous(top):
        why = (f"'{top}' in the {platform} download names more than one Moodle participant (a name or file name "
               "imitates another's): not graded; check it by hand and enter the grade in Moodle")
    else:
        why = (f"'{top}' in the {platform} download does not follow {platform}'s naming "
               f"({NAMING[staged.lms]}), so whose it is cannot be told: not graded; "
               f"check it by hand and enter the grade in {platform}")
    row = safe_id("unrecognised_" + plain_id(top)[:80])
    k = 2
    while row.casefold() in {r.casefold() for r in staged.unrecognised}:
        row, k = f"{safe_id('unrecognised_' + plain_id(top)[:80])}-{k}", k + 1
    staged.unrecognised[row] = why
    staged.origins[row] = {"lms": staged.lms, "user": "", "name": "", "unrecognised": top, "reason": why}
    staged.notes.append(why)


def _blackboard_receipts(entries: list[_Entry]) -> tuple[dict[str, str], str]:
    """Blackboard's receipts: ``{username: full name}`` and the download's assignment name (when every
    receipt agrees on it). A receipt is a name the LMS ends with ``_attempt_<timestamp>.txt`` (a
    student's file always has its own name after the timestamp); only its first line is read, and
    the username there must be the one in the receipt's own name."""
    receipts: dict[str, str] = {}
    assignments: set[str] = set()
    for e in entries:
        if e.inner or not e.top.endswith(".txt") or e.size >= 100_000:
            continue
        n = parse_blackboard(e.top)
        if n is None or not n.receipt:
            continue
        with e.open() as f:
            got = parse_blackboard_receipt(decode_receipt(f.read(40_000)), n)
        if got:
            full, user = got
            receipts[user] = full
            prefix = f"{n.assignment}_{n.user}"
            assignments.add(prefix[: -len(user) - 1])
    return receipts, (assignments.pop() if len(assignments) == 1 else "")


def _file_name(n: LmsName, e: _Entry) -> str:
    """The student's own file name (with a Moodle folder's inner path), as uploaded."""
    return e.inner or n.filename
