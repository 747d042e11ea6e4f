"""The one registry through which check kinds plug in.

A check kind is a function ``run(ctx, params) -> Outcome`` plus a pydantic
model for its parameters. Registering it is all it takes for rubrics to use
it; the rubric loader validates each check's parameters against that model so
that a typo is caught when the rubric loads, not halfway through a batch::

    class MyParams(CheckParams):
        file: str

    @check_kind("my_kind", MyParams)
    def my_kind(ctx: CheckContext, params: MyParams) -> Outcome:
        ...

Kinds that are planned but not built yet are *declared* with
:func:`declare_pending`: rubrics may use them, and they report
"not graded yet" instead of failing the student.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:  # pragma: no cover
    from grader.options import GradeOptions
    from grader.rubric import Question
    from grader.submission import Submission


# Parameter names that hold a file pattern of the submission, whatever the kind.
FILE_FIELDS = ("file", "notebook", "equation", "hand", "weights", "model")


class CheckParams(BaseModel):
    """Base of every kind's parameters: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def file_patterns(self) -> list[str]:
        """The submission's files this check reads (so a question can say, at once, which of them are
        there and which are missing). The default looks at :data:`FILE_FIELDS`, nested models included."""
        found: list[str] = []
        for name, value in self:
            if name in FILE_FIELDS and isinstance(value, str):
                found.append(value)
            elif isinstance(value, CheckParams):
                found += value.file_patterns()
            elif isinstance(value, (list, tuple)):
                found += [p for v in value if isinstance(v, CheckParams) for p in v.file_patterns()]
        return list(dict.fromkeys(found))

    def suggest_files(self, ctx: CheckContext, pattern: str) -> list[str]:
        """Files of the submission that look, by their content, like the missing ``pattern`` (a model
        file with the expected architecture under another name), each with why; none by default."""
        return []

    def code_markers(self) -> list[str]:
        """Text that the student's code for this check contains (``def back_propagation``), so a notebook
        handed in under another name can be recognised by its content."""
        function = getattr(self, "function", None)
        return [f"def {function}("] if isinstance(function, str) and function.isidentifier() else []


class AnyParams(BaseModel):
    """Parameters of a pending kind: accepted as they are until the kind exists."""

    model_config = ConfigDict(extra="allow", frozen=True)


@dataclass
class Outcome:
    """What a check returns: a fraction of the question's marks and why."""

    fraction: float
    reason: str
    details: dict[str, Any] = field(default_factory=dict)
    manual_review: bool = False
    pending: bool = False

    @classmethod
    def passed(cls, reason: str, **kw: Any) -> Outcome:
        return cls(1.0, reason, **kw)

    @classmethod
    def failed(cls, reason: str, **kw: Any) -> Outcome:
        return cls(0.0, reason, **kw)


class SubmissionProblem(Exception):
    """Raised by a check when the student's file is unusable; the message is shown as is."""


@dataclass
class CheckContext:
    """Everything a check may look at for one submission."""

    submission: Submission
    question: Question
    options: GradeOptions
    # Shared across the checks of one submission (e.g. an executed notebook is
    # reused by every question that needs it). Keys are owned by the kind.
    cache: dict[str, Any] = field(default_factory=dict)
    # The submission's work folder; checks make scratch folders below it.
    workdir: Path | None = None

    def scratch(self, name: str) -> Path:
        """A fresh, not yet existing path for a check's temporary files."""
        assert self.workdir is not None, "no work folder"
        import uuid

        base = self.workdir / "scratch"
        base.mkdir(parents=True, exist_ok=True)
        base.chmod(0o755)
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)[:40]
        return base / f"{safe}-{uuid.uuid4().hex[:8]}"  # unique even when two threads ask at once

    def rng(self, salt: str) -> np.random.Generator:
        """Randomness the student cannot predict but a regrade reproduces exactly:
        seeded by the grading seed, this submission's content and ``salt``."""
        digest = hashlib.sha256(
            f"{self.options.seed}|{self.submission.content_hash}|{self.question.id}|{salt}".encode()
        ).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))


RunFn = Callable[[CheckContext, Any], Outcome]


@dataclass(frozen=True)
class CheckKind:
    name: str
    params: type[BaseModel]
    run: RunFn | None  # None: declared, not graded yet
    summary: str
    # Runs student notebooks: such questions are graded on a second thread, so that the notebook
    # runner and the model server (separate processes) work at the same time.
    uses_notebooks: bool = False
    # Scored relative to the class (points x metric / class best): known only in the instructor's
    # class run, so a single student's run (GitHub Classroom, Gradescope) reports it as pending.
    class_relative: bool = False


_KINDS: dict[str, CheckKind] = {}


def check_kind(name: str, params: type[CheckParams], uses_notebooks: bool = False,
               class_relative: bool = False) -> Callable[[RunFn], RunFn]:
    """Register ``fn`` as the implementation of check kind ``name``."""

    def decorate(fn: RunFn) -> RunFn:
        existing = _KINDS.get(name)
        if existing is not None and existing.run is not None and existing.run is not fn:
            raise ValueError(f"check kind {name!r} is registered twice")
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        _KINDS[name] = CheckKind(name, params, fn, summary, uses_notebooks, class_relative)
        return fn

    return decorate


def declare_pending(name: str, summary: str) -> None:
    """Declare a kind that rubrics may name before it is implemented."""
    if name not in _KINDS:
        _KINDS[name] = CheckKind(name, AnyParams, None, summary)


def get_kind(name: str) -> CheckKind | None:
    _load_builtin_kinds()
    return _KINDS.get(name)


def known_kinds() -> list[str]:
    _load_builtin_kinds()
    return sorted(_KINDS)


def _load_builtin_kinds() -> None:
    # Importing the package registers every built-in kind exactly once.
    import grader.checks  # noqa: F401
