"""The review queue of a graded class: its items, their pictures, and the instructor's decisions on them.

An *item* is one question of one student that was flagged for manual review (or that has a
decision). Items are ordered question by question (the rubric's order), then by student, so
the instructor sees every HDFView screenshot in a row. Each has a stable id (a hash of student
and question) and each picture a content digest: the server looks both up here, in memory,
and never turns anything a request says into a path. Preview files are opened only by names
of the form ``<sha256>.png`` that a record holds, inside ``OUT/.mlgrade/previews``, without
following links, and are served only when their PNG header is of a sane size.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from grader.checks.thumbnails import PREVIEW_NAME, PREVIEW_SIDE
from grader.classstep.classwide import apply_class_relative, stored_class
from grader.classstep.overrides import Override, load_overrides, now, overrides_path, reviewer, update_overrides
from grader.core.png import png_size
from grader.core.results import QuestionResult, SubmissionResult
from grader.render.common import fmt_points
from grader.render.export import export_class
from grader.render.feedback_html import check_section
from grader.render.html_page import badge, esc
from grader.rubric import Rubric
from grader.score.store import class_file

MAX_PREVIEW_BYTES = 4 * 1024**2
MAX_COMMENT = 4000


class DecisionRefused(ValueError):
    """A decision the page asked for that cannot be recorded (the message says why, for the page)."""


@dataclass(frozen=True)
class Picture:
    digest: str  # sha256 of the PNG: the only name a request uses for it
    preview: str | None  # the preview's file name in the preview folder (checked when served)
    thumbnail: str | None  # the record's base64 thumbnail: served when there is no usable preview
    caption: str


@dataclass
class Item:
    id: str
    student: str
    question: str
    title: str
    max_score: float
    automatic: float  # the grader's score, class-relative scaling applied
    flagged: bool
    reason: str
    submission_hash: str
    notes: list[str] = field(default_factory=list)  # what to look for (the rubric's review notes)
    pictures: list[Picture] = field(default_factory=list)


def item_id(student: str, question: str) -> str:
    return hashlib.sha256(f"{student}\0{question}".encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class ReviewClass:
    """One graded class under review. Thread-safe: every method takes the lock."""

    def __init__(self, out: Path, by: str | None = None):
        self.out = Path(out).resolve()
        self.previews = self.out / ".mlgrade" / "previews"
        self.by = by if by is not None else reviewer()
        self.lock = threading.RLock()
        self.undo_stack: list[tuple[tuple[str, str], Override | None, Override | None]] = []
        self.decided_since_export = 0
        self.load()

    # -- loading -------------------------------------------------------------------------------

    def load(self) -> None:
        with self.lock:
            self._class_sig = _signature(class_file(self.out))
            rubric, results, _ = stored_class(self.out)
            apply_class_relative(rubric, results)  # the automatic scores every export starts from
            self.rubric: Rubric = rubric
            self.results: dict[str, SubmissionResult] = {r.student: r for r in results}
            self._load_decisions()
            self._fragments: dict[str, str] = {}

    def _load_decisions(self) -> None:
        self._decisions_sig = _signature(overrides_path(self.out))
        self.decisions: dict[tuple[str, str], Override] = {o.key: o for o in load_overrides(self.out)}
        self._build_items()

    def refresh(self) -> None:
        """Pick up a regrade (the class file changed) or decisions written by someone else."""
        with self.lock:
            if _signature(class_file(self.out)) != self._class_sig:
                self.load()
            elif _signature(overrides_path(self.out)) != self._decisions_sig:
                self._load_decisions()

    def _build_items(self) -> None:
        items: list[Item] = []
        self.images: dict[str, Picture] = {}
        students = sorted(self.results)
        for question in self.rubric.questions:
            for student in students:
                q = self.results[student].question(question.id)
                if q.manual_review or (student, question.id) in self.decisions:
                    items.append(self._item(self.results[student], q, question))
        self.items = items
        self.by_id = {it.id: it for it in items}

    def _item(self, r: SubmissionResult, q: QuestionResult, question: Any) -> Item:
        notes = []
        for spec in question.checks:
            note = getattr(spec.params, "review_note", "")
            if getattr(spec.params, "manual_review", False) and note:
                notes.append(str(note))
        it = Item(item_id(r.student, q.id), r.student, q.id, q.title, q.max_score, q.score, q.manual_review,
                  q.reason, r.submission_hash, notes)
        for c in q.checks:
            if not c.manual_review:
                continue
            pic = self._picture(c.details)
            if pic is not None:
                it.pictures.append(pic)
                self.images[pic.digest] = pic
        return it

    def _picture(self, d: dict[str, Any]) -> Picture | None:
        """The best view of a flagged image: its preview file, else the record's thumbnail."""
        what = f"{d.get('file', '')}: {d.get('format', '')} {d.get('width', '')}x{d.get('height', '')}"
        b64 = d.get("thumbnail") if isinstance(d.get("thumbnail"), str) else None
        name = d.get("preview")
        if isinstance(name, str) and PREVIEW_NAME.fullmatch(name):
            try:
                usable = stat.S_ISREG(os.stat(self.previews / name, follow_symlinks=False).st_mode)
            except OSError:
                usable = False
            if usable:
                return Picture(name[:-4], name, b64, what)
        raw = _thumbnail_bytes(b64)
        if raw is None:
            return None
        return Picture(hashlib.sha256(raw).hexdigest(), None, b64, what + " (the feedback page's 480 px thumbnail)")

    def _preview_bytes(self, name: str) -> bytes | None:
        if not PREVIEW_NAME.fullmatch(name):
            return None
        try:
            fd = os.open(self.previews / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return None
            raw = f.read(MAX_PREVIEW_BYTES + 1)
        if len(raw) > MAX_PREVIEW_BYTES or png_size(raw, PREVIEW_SIDE) is None:
            return None
        return raw

    # -- what the page reads -------------------------------------------------------------------

    def image(self, digest: str) -> bytes | None:
        with self.lock:
            pic = self.images.get(digest)
        if pic is None:
            return None
        raw = self._preview_bytes(pic.preview) if pic.preview else None
        return raw if raw is not None else _thumbnail_bytes(pic.thumbnail)

    def summary(self, it: Item) -> dict[str, Any]:
        """The item as the page lists it, with the decision on it (if any) and what it does."""
        ov = self.decisions.get((it.student, it.question))
        out: dict[str, Any] = {"id": it.id, "student": it.student, "question": it.question, "title": it.title,
                               "max": it.max_score, "automatic": it.automatic, "score": it.automatic,
                               "flagged": it.flagged, "state": "todo" if it.flagged else "none", "comment": "",
                               "by": "", "at": ""}
        if ov is None:
            return out
        out.update(comment=ov.comment, by=ov.by, at=ov.at, decision=ov.describe())
        if ov.submission_hash and ov.submission_hash != it.submission_hash:
            out["state"] = "stale"
            return out
        out["score"] = ov.new_score(it.automatic, it.max_score)
        out["state"] = "changed" if out["score"] != it.automatic else "accepted"
        return out

    def progress(self) -> dict[str, int]:
        flagged = [it for it in self.items if it.flagged]
        done = sum(self.summary(it)["state"] in ("accepted", "changed") for it in flagged)
        return {"reviewed": done, "flagged": len(flagged), "unexported": self.decided_since_export}

    def state(self) -> dict[str, Any]:
        with self.lock:
            version = hashlib.sha256(repr(self._class_sig).encode()).hexdigest()[:12]
            return {"class": self.rubric.name, "by": self.by, "version": version,
                    "questions": [q.id for q in self.rubric.questions],
                    "items": [self.summary(it) for it in self.items], "progress": self.progress()}

    def detail(self, iid: str, token: str) -> dict[str, Any] | None:
        with self.lock:
            it = self.by_id.get(iid)
            if it is None:
                return None
            if iid not in self._fragments:
                self._fragments[iid] = self._evidence(it)
            urls = [f"/img/{p.digest}?token={quote(token)}" for p in it.pictures]
            pictures = "".join(f'<figure class="shot"><img src="{esc(url)}" alt="{esc(p.caption)}">'
                               f"<figcaption>{esc(p.caption)}</figcaption></figure>"
                               for url, p in zip(urls, it.pictures, strict=True))
            return {"item": self.summary(it), "html": pictures + self._fragments[iid], "images": urls}

    def _evidence(self, it: Item) -> str:
        """Everything about the item but its pictures, as HTML: every string escaped."""
        r = self.results[it.student]
        q = r.question(it.question)
        parts = []
        if it.flagged and not it.pictures:
            parts.append('<p class="alert">No picture of this item could be made (see the reason below).</p>')
        for note in it.notes:
            parts.append(f'<p class="look"><b>Look for:</b> {esc(note)}</p>')
        parts.append(f'<div class="why">{esc(q.reason)}</div>')
        parts.append(_instructor_notes(q))
        for c in q.checks:
            if c.manual_review and "thumbnail" in c.details:
                continue  # the picture above
            section = check_section(c)
            if section:
                parts.append(f'<div class="evidence">{section}</div>')
        if r.errors:
            parts.append("".join(f'<div class="alert">{esc(e)}</div>' for e in r.errors))
        rows = "".join(
            f'<tr{" class=here" if o.id == q.id else ""}><td>{esc(o.id)}</td><td>{esc(o.title)}</td>'
            f'<td class="num">{fmt_points(o.score)} / {fmt_points(o.max_score)}</td><td>{badge(o.status)}'
            f'{_instructor_notes(o) if o.id != q.id else ""}</td></tr>'
            for o in r.questions)
        parts.append(f"<details class=\"others\"><summary>{esc(it.student)}'s other questions (automatic scores, "
                     f"total {fmt_points(r.total)} / {fmt_points(r.max_total)})</summary><table>{rows}</table>"
                     "</details>")
        return "".join(parts)

    # -- decisions -----------------------------------------------------------------------------

    def decide(self, iid: str, action: str, value: object = None, comment: object = "") -> dict[str, Any]:
        """Record ``action`` (accept, score, delta, clear) on an item, in the overrides file at once."""
        with self.lock:
            self.refresh()  # a regrade since: the decision is about the submission graded now
            it = self.by_id.get(iid)
            if it is None:
                raise DecisionRefused("no such item (reload the page)")
            if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
                raise DecisionRefused(f"the comment must be text of at most {MAX_COMMENT} characters")
            key = (it.student, it.question)
            new: Override | None
            if action == "clear":
                new = None
            else:
                kw = self._decision(action, value, it)
                new = Override(student=it.student, question=it.question, comment=comment.strip(), by=self.by,
                               at=now(), submission_hash=it.submission_hash, automatic=it.automatic, **kw)
            previous: list[Override | None] = [None]

            def change(current: dict[tuple[str, str], Override]) -> None:
                previous[0] = current.get(key)
                if new is None:
                    current.pop(key, None)
                else:
                    current[key] = new

            self._write(change)
            self.undo_stack.append((key, previous[0], new))
            del self.undo_stack[:-200]
            self.decided_since_export += 1
            return {"item": self.summary(it), "progress": self.progress()}

    @staticmethod
    def _decision(action: str, value: object, it: Item) -> dict[str, Any]:
        if action == "accept":
            return {"accept": True}
        if action not in ("score", "delta"):
            raise DecisionRefused(f"unknown action {str(action)[:20]!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or abs(value) > 1e6:
            raise DecisionRefused("expected a number")
        if action == "score" and not 0 <= value <= it.max_score:
            raise DecisionRefused(f"{it.question} is worth {fmt_points(it.max_score)} points; got {value:g}")
        return {action: float(value)}

    def undo(self) -> dict[str, Any]:
        """Put back what was there before this server's last decision, unless someone changed it since."""
        with self.lock:
            if not self.undo_stack:
                raise DecisionRefused("nothing to undo")
            key, previous, written = self.undo_stack[-1]

            def change(current: dict[tuple[str, str], Override]) -> None:
                if current.get(key) != written:
                    raise DecisionRefused(f"{key[0]} {key[1]} was changed elsewhere since; not undone")
                if previous is None:
                    current.pop(key, None)
                else:
                    current[key] = previous

            self._write(change)
            self.undo_stack.pop()
            self.decided_since_export += 1
            it = self.by_id.get(item_id(*key))
            return {"item": self.summary(it) if it else None, "progress": self.progress()}

    def _write(self, change: Callable[[dict[tuple[str, str], Override]], None]) -> None:
        decisions = update_overrides(self.out, change)  # under the file lock: other writers are merged, not lost
        self.decisions = {o.key: o for o in decisions}
        self._decisions_sig = _signature(overrides_path(self.out))
        known = {(it.student, it.question) for it in self.items}
        if set(self.decisions) - known:  # a decision on a question that was not in the queue yet
            self._build_items()

    def export(self) -> dict[str, Any]:
        """Rewrite the grade files with every decision (the class-level step)."""
        with self.lock:
            report = export_class(self.out)
            self.decided_since_export = 0
            notes = report.overrides.notes() if report.overrides else []
            return {"progress": self.progress(), "notes": notes}


def _instructor_notes(q: QuestionResult) -> str:
    """Why hidden tests failed: for the instructor's eyes only (students' pages and results never hold it)."""
    notes = [n for c in q.checks for n in c.instructor_notes]
    if not notes:
        return ""
    items = "".join(f"<li><pre>{esc(n)}</pre></li>" for n in notes)
    return f'<div class="hidden-notes"><b>Hidden, for you only:</b><ul>{items}</ul></div>'


def _thumbnail_bytes(b64: object) -> bytes | None:
    if not isinstance(b64, str) or len(b64) > 8 * 1024**2:
        return None
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if png_size(raw, PREVIEW_SIDE) is not None else None

