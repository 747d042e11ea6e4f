"""The instructor's last word: score overrides as data, applied at the class-level step.

``DIR/overrides.yaml`` (beside ``grades.csv``) holds one decision per student and question,
written by ``mlgrade override`` and ``mlgrade review`` and readable, editable by hand::

    overrides:
      - student: bob_partial
        question: q1b
        score: 0.25                 # the new score; or `delta: -0.25`; or `accept: true`
        comment: the bias of the second dense layer is not visible
        by: jdoe
        at: '2026-03-01T20:14:03+01:00'
        submission_hash: 9c1f...    # what was graded when the decision was made
        automatic: 0.5              # the score the grader gave then

Decisions are applied by :func:`apply_overrides` after every grade or regrade and before every
export (the class-level step, :func:`grader.classstep.classwide.class_step`), so a regrade never loses
one. A decision whose submission changed since (another ``submission_hash``) is *stale*: it is
reported, not applied, and the question is back in the review queue. Leave ``submission_hash``
out of a hand-written entry to apply it whatever the student hands in. Scores are kept within
``0..points``; a ``delta`` is a change to the automatic score (after class-relative scaling).

Writes take a lock (``DIR/.mlgrade/overrides.lock``) around read-modify-write and replace the
file atomically, so the review server and the command line can write at once.
"""

from __future__ import annotations

import getpass
import math
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from grader.core.files import locked, write_bytes_atomic
from grader.core.results import Review, SubmissionResult, round_score, status_for
from grader.rubric import Rubric
from grader.rubric.yamlerrors import construct_mapping, describe, explain, yaml_error

OVERRIDES_FILE = "overrides.yaml"
LOCK_FILE = Path(".mlgrade") / "overrides.lock"
MAX_FILE_BYTES = 32 * 1024**2
MAX_COMMENT = 4000

HEADER = """\
# The instructor's decisions, applied to every export of this class (mlgrade grade, mlgrade override,
# mlgrade review). One entry per student and question: `score:` sets the score, `delta:` changes the
# automatic one, `accept: true` keeps it. An entry whose submission_hash no longer matches the graded
# submission is reported as stale and not applied. Edit by hand if you like; keep the keys.
"""


# libyaml where PyYAML has it: a class's file of 600 decisions loads in about 0.1 s instead of 0.8 s
# (each decision in `mlgrade review` reads and writes the whole file, under the lock).
class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A safe loader that refuses duplicate keys instead of keeping the last."""


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class OverridesError(Exception):
    """The overrides file cannot be used; the message names the file, the entry and what is wrong."""


class Override(BaseModel):
    model_config = ConfigDict(extra="forbid")

    student: str = Field(min_length=1)
    question: str = Field(min_length=1)
    score: float | None = None
    delta: float | None = None
    accept: bool = False
    comment: str = Field("", max_length=MAX_COMMENT)
    by: str = ""
    at: str = ""
    submission_hash: str = ""
    automatic: float | None = None

    @model_validator(mode="after")
    def _one_decision(self) -> Override:
        given = [k for k in ("score", "delta") if getattr(self, k) is not None] + (["accept"] if self.accept else [])
        if len(given) != 1:
            raise ValueError("give exactly one of score, delta or accept: true"
                             + (f" (got {' and '.join(given)})" if given else ""))
        for k in ("score", "delta", "automatic"):
            v = getattr(self, k)
            if v is not None and not math.isfinite(v):
                raise ValueError(f"{k} must be a finite number, got {v}")
        return self

    @property
    def key(self) -> tuple[str, str]:
        return self.student, self.question

    def describe(self) -> str:
        """``set to 0.25``, ``+0.5``, ``accepted``: what the decision does, in words."""
        if self.accept:
            return "accepted"
        if self.delta is not None:
            return f"{self.delta:+g}"
        return f"set to {self.score:g}"

    def new_score(self, automatic: float, points: float) -> float:
        if self.accept:
            value = automatic
        elif self.delta is not None:
            value = automatic + self.delta
        else:
            value = float(self.score)  # type: ignore[arg-type]
        return round_score(min(max(value, 0.0), points))


def overrides_path(out: Path) -> Path:
    return Path(out) / OVERRIDES_FILE


def parse_overrides(text: str, source: str = OVERRIDES_FILE) -> list[Override]:
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as e:
        raise OverridesError(f"{source}: not valid YAML: {yaml_error(e)}") from None
    if data is None:
        return []
    if not isinstance(data, dict) or set(data) - {"overrides"}:
        raise OverridesError(f"{source}: expected a mapping with one key, 'overrides' (a list), got "
                             f"{describe(data) if not isinstance(data, dict) else ', '.join(map(str, data))}")
    items = data.get("overrides") or []
    if not isinstance(items, list):
        raise OverridesError(f"{source}: overrides: expected a list, got {describe(items)}")
    problems: list[str] = []
    out: list[Override] = []
    seen: dict[tuple[str, str], int] = {}
    for i, raw in enumerate(items):
        try:
            ov = Override.model_validate(raw)
        except ValidationError as e:
            problems += [f"{source}: {path}: {msg}" for path, msg in explain(e, f"overrides[{i}]", Override)]
            continue
        if ov.key in seen:
            problems.append(f"{source}: overrides[{i}]: a second decision for {ov.student} {ov.question} "
                            f"(also overrides[{seen[ov.key]}]); keep one")
            continue
        seen[ov.key] = i
        out.append(ov)
    if problems:
        raise OverridesError("\n".join(problems))
    return out


# The last file read or written, by path: (its identity, its decisions). Every write replaces the file
# (a new inode, new times), so an unchanged identity means unchanged contents; a review server then
# records a decision without parsing the whole file again.
_cache: dict[str, tuple[tuple[int, ...], list[Override]]] = {}
_cache_lock = threading.Lock()


def _identity(st: os.stat_result) -> tuple[int, ...]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def load_overrides(out: Path) -> list[Override]:
    """The decisions in ``out/overrides.yaml`` (none when the file does not exist)."""
    path = overrides_path(out)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return []
    except OSError as e:
        raise OverridesError(f"{path}: cannot read: {e.strerror or e}") from None
    with os.fdopen(fd, "rb") as f:
        identity = _identity(os.fstat(f.fileno()))
        key = os.path.abspath(path)
        with _cache_lock:
            cached = _cache.get(key)
        if cached is not None and cached[0] == identity:
            return list(cached[1])
        raw = f.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise OverridesError(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MiB; is it the right file?")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise OverridesError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    decisions = parse_overrides(text, str(path))
    with _cache_lock:
        _cache[key] = (identity, decisions)
    return list(decisions)


def dump_overrides(overrides: list[Override]) -> str:
    rows = []
    for ov in sorted(overrides, key=lambda o: o.key):
        row = ov.model_dump(exclude_defaults=True)
        row = {"student": ov.student, "question": ov.question, **row}  # the keys a reader looks for first
        rows.append(row)
    body = yaml.dump({"overrides": rows}, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return HEADER + body


def update_overrides(out: Path, change: Callable[[dict[tuple[str, str], Override]], None]) -> list[Override]:
    """Read, ``change`` (the decisions by (student, question), in place) and write back, under the lock."""
    with locked(Path(out) / LOCK_FILE):
        current = {ov.key: ov for ov in load_overrides(out)}
        change(current)
        result = list(current.values())
        path = overrides_path(out)
        write_bytes_atomic(path, dump_overrides(result).encode("utf-8"))
        with _cache_lock:
            _cache[os.path.abspath(path)] = (_identity(os.stat(path, follow_symlinks=False)), list(result))
    return result


def put_override(out: Path, ov: Override) -> Override | None:
    """Record ``ov`` (replacing any decision on the same student and question); returns the one replaced."""
    previous: list[Override | None] = [None]

    def change(current: dict[tuple[str, str], Override]) -> None:
        previous[0] = current.get(ov.key)
        current[ov.key] = ov

    update_overrides(out, change)
    return previous[0]


def clear_override(out: Path, student: str, question: str) -> Override | None:
    """Remove the decision on ``student``'s ``question``; returns it (None if there was none)."""
    previous: list[Override | None] = [None]

    def change(current: dict[tuple[str, str], Override]) -> None:
        previous[0] = current.pop((student, question), None)

    update_overrides(out, change)
    return previous[0]


def restore_override(out: Path, student: str, question: str, previous: Override | None) -> None:
    """Put back what was there before a decision (undo)."""
    if previous is None:
        clear_override(out, student, question)
    else:
        put_override(out, previous)


_DELTA = re.compile(r"[+-]\s*(\d+(\.\d*)?|\.\d+)")
_SCORE = re.compile(r"\d+(\.\d*)?|\.\d+")


def parse_decision(text: str) -> dict:
    """``0.25`` -> set the score; ``+0.5`` / ``-1`` -> change the automatic score; ``accept`` -> keep it."""
    s = str(text).strip()
    if s.lower() in ("accept", "ok", "="):
        return {"accept": True}
    if _DELTA.fullmatch(s):
        return {"delta": float(s.replace(" ", ""))}
    if _SCORE.fullmatch(s):
        return {"score": float(s)}
    raise ValueError(f"expected a score (0.25), a change to the automatic score (+0.5, -1) or 'accept', got "
                     f"{describe(s)}")


def reviewer() -> str:
    """Who is deciding: ``$MLGRADE_REVIEWER``, else the login name."""
    name = os.environ.get("MLGRADE_REVIEWER", "").strip()
    if name:
        return name[:100]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------------------
# Applying


@dataclass
class Applied:
    override: Override
    automatic: float
    score: float


@dataclass
class Stale:
    override: Override
    current_hash: str


@dataclass
class OverrideReport:
    """What the class-level step did with the overrides of ``folder``."""

    folder: Path | None = None
    applied: list[Applied] = field(default_factory=list)
    stale: list[Stale] = field(default_factory=list)
    unknown: list[tuple[Override, str]] = field(default_factory=list)  # (decision, why it matches nothing)

    def notes(self) -> list[str]:
        """One line per decision that was not applied, for the terminal and the summary."""
        out = []
        for s in self.stale:
            o = s.override
            out.append(f"{o.student} {o.question}: your decision ({o.describe()}, {o.at or 'undated'}) is stale: the "
                       f"submission changed since (was {o.submission_hash[:12]}, now {s.current_hash[:12] or 'none'}); "
                       "not applied, review it again")
        for o, why in self.unknown:
            out.append(f"{o.student} {o.question}: decision not applied: {why}")
        return out


def apply_overrides(rubric: Rubric, results: list[SubmissionResult], overrides: list[Override],
                    folder: Path | None = None) -> OverrideReport:
    """Put each decision on its question, in place (score, status, :class:`Review`), and recompute totals.

    Run after the class-relative scaling, on records fresh from the store: a stored record never holds
    a decision, so applying twice is never applying a delta twice.
    """
    report = OverrideReport(folder=folder)
    by_student = {r.student: r for r in results}
    points = {q.id: q.points for q in rubric.questions}
    for ov in overrides:
        r = by_student.get(ov.student)
        if r is None:
            report.unknown.append((ov, "no such student in this class"))
            continue
        if ov.question not in points:
            report.unknown.append((ov, f"no question {ov.question!r} in the rubric"))
            continue
        if ov.submission_hash and ov.submission_hash != r.submission_hash:
            report.stale.append(Stale(ov, r.submission_hash))
            continue
        q = r.question(ov.question)
        automatic = q.score
        q.score = ov.new_score(automatic, q.max_score)
        q.status = status_for(q.score, q.max_score)
        q.review = Review(changed=q.score != automatic, automatic=automatic, comment=ov.comment, by=ov.by, at=ov.at)
        report.applied.append(Applied(ov, automatic, q.score))
    for r in results:
        if any(q.review is not None for q in r.questions):
            r.total = round_score(sum(q.score for q in r.questions))
    return report
