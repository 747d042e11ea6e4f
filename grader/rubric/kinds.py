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
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo

from grader.core import plugins
from grader.rubric.instructor import reference_function

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from grader.core.options import GradeOptions
    from grader.intake.submission import Submission
    from grader.rubric import Question


# Parameter names that hold a file pattern of the submission, whatever the kind.
FILE_FIELDS = ("file", "notebook", "equation", "hand", "weights", "model")


class _RubricFileMarker:
    """Marks a parameter that names a file of the rubric's own folder (a test file, a reference module,
    a data set): checked to exist when the rubric loads, and part of the rubric's digest, so that
    changing it regrades the class."""

    def __init__(self, kind: str):
        self.kind = kind  # "file", "path" (file or folder) or "function" ("refs.py:softmax")

    def __repr__(self) -> str:
        return f"RubricFile({self.kind})"


def _check_rubric_path(kind: str):
    def check(value: str, info: ValidationInfo) -> str:
        base = (info.context or {}).get("rubric_dir")
        name = value
        if kind == "function":
            name, sep, func = value.rpartition(":")
            if not sep or not name or not func.isidentifier():
                raise ValueError(f"expected FILE.py:FUNCTION (e.g. refs.py:softmax), got {value!r}")
        if base is None:
            return value
        path = Path(base) / name
        exists = path.exists() if kind == "path" else path.is_file()
        if not exists:
            raise ValueError(f"{name!r} not found next to the rubric (looked for {path})")
        if kind == "function":
            try:
                reference_function(Path(base), value)
            except LookupError as e:
                raise ValueError(str(e)) from None
        return value

    return check


# A file of the rubric's folder, a file or folder, or a function in one (``refs.py:softmax``), relative to the rubric.
RubricFile = Annotated[str, Field(min_length=1), AfterValidator(_check_rubric_path("file")), _RubricFileMarker("file")]
RubricPath = Annotated[str, Field(min_length=1), AfterValidator(_check_rubric_path("path")), _RubricFileMarker("path")]
RubricFunction = Annotated[str, Field(min_length=1), AfterValidator(_check_rubric_path("function")),
                           _RubricFileMarker("function")]


def _rubric_file_kind(model: type[BaseModel], name: str) -> str | None:
    """The marker of a field typed RubricFile, RubricPath or RubricFunction, also inside ``... | None``."""
    import typing

    info = model.model_fields.get(name)
    if info is None:
        return None
    stack: list[Any] = [*info.metadata, info.annotation]
    while stack:
        item = stack.pop()
        if isinstance(item, _RubricFileMarker):
            return item.kind
        stack.extend(getattr(item, "__metadata__", ()))
        stack.extend(typing.get_args(item))
    return None


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

    def rubric_files(self) -> list[str]:
        """Files (or folders) of the rubric's own folder this check uses, relative to the rubric: the fields
        typed :data:`RubricFile`, :data:`RubricPath` or :data:`RubricFunction` (its file part), nested too."""
        found: list[str] = []
        for name, value in self:
            kind = _rubric_file_kind(type(self), name)
            if kind is not None and isinstance(value, str):
                found.append(value.rpartition(":")[0] if kind == "function" else value)
            elif isinstance(value, CheckParams):
                found += value.rubric_files()
            elif isinstance(value, (list, tuple)):
                found += [p for v in value if isinstance(v, CheckParams) for p in v.rubric_files()]
            elif isinstance(value, dict):
                found += [p for v in value.values() if isinstance(v, CheckParams) for p in v.rubric_files()]
        return list(dict.fromkeys(found))

    def suggest_files(self, ctx: CheckContext, pattern: str) -> list[str]:
        """Files of the submission that look, by their content, like the missing ``pattern`` (a model
        file with the expected architecture under another name), each with why; none by default."""
        return []

    def claims(self, ctx: CheckContext, pattern: str) -> list[str]:
        """Files of the submission this check would certainly take for its missing ``pattern`` (exactly its
        architecture): another question's hint never offers them. None by default."""
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
    # Part of the check failed for the grader's reasons (an instructor's test with a bug): the question
    # is marked as a grader error, never as the student's failure, whatever fraction the rest earned.
    grader_error: str = ""
    # Why hidden parts failed, for the instructor only (never in a student's report).
    instructor_notes: list[str] = field(default_factory=list)

    @classmethod
    def passed(cls, reason: str, **kw: Any) -> Outcome:
        return cls(1.0, reason, **kw)

    @classmethod
    def failed(cls, reason: str, **kw: Any) -> Outcome:
        return cls(0.0, reason, **kw)


@dataclass
class CheckContext:
    """Everything a check may look at for one submission."""

    submission: Submission
    question: Question
    options: GradeOptions
    # Shared across the checks of one submission (e.g. an executed notebook is
    # reused by every question that needs it). Keys are tuples owned by the kind: ("session", rel), ...
    cache: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    # The submission's work folder; checks make scratch folders below it.
    workdir: Path | None = None
    # The rubric's folder: test files, reference modules and data sets are named relative to it.
    rubric_dir: Path | None = None

    def rubric_path(self, relative: str) -> Path:
        """A file of the rubric's folder (a test file, a reference module, a data set)."""
        return (self.rubric_dir or Path.cwd()) / relative

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
        import numpy as np  # for the checks that draw inputs; reading a rubric needs no numpy (0.1 s)

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
    # Where the kind comes from: "built-in", "entry point NAME (DIST VERSION)" or "plugin FILE".
    origin: str = "built-in"


_KINDS: dict[str, CheckKind] = {}


def check_kind(name: str, params: type[CheckParams], uses_notebooks: bool = False,
               class_relative: bool = False) -> Callable[[RunFn], RunFn]:
    """Register ``fn`` as the implementation of check kind ``name``."""

    def decorate(fn: RunFn) -> RunFn:
        origin = plugins.origin(_origin_of(fn))
        existing = _KINDS.get(name)
        if existing is not None and existing.run is not None and existing.run is not fn:
            if existing.origin == origin and getattr(existing.run, "__qualname__", "") == fn.__qualname__:
                pass  # the same plugin file loaded again (another rubric, a worker): the newer definition wins
            else:
                raise ValueError(f"check kind {name!r} is registered twice ({existing.origin}; {origin})")
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        _KINDS[name] = CheckKind(name, params, fn, summary, uses_notebooks, class_relative, origin)
        return fn

    return decorate


def _origin_of(fn: Callable) -> str:
    module = getattr(fn, "__module__", "") or ""
    return "built-in" if module.startswith("grader.") else f"module {module}"


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


def all_kinds() -> list[CheckKind]:
    _load_builtin_kinds()
    return [_KINDS[k] for k in sorted(_KINDS)]


def describe_params(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The parameters of a kind as ``mlgrade kinds`` lists them: name, type, required, default."""
    out = []
    for name, info in model.model_fields.items():
        ann = info.annotation
        text = _type_text(ann)
        kind = _rubric_file_kind(model, name)
        if kind is not None:
            text = {"file": "file next to the rubric", "path": "file or folder next to the rubric",
                    "function": "FILE.py:FUNCTION next to the rubric"}[kind] + (" | None" if "None" in text else "")
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            default = default.model_dump(mode="json")
        entry = {"name": name, "type": text, "required": info.is_required(),
                 "default": default if _jsonable(default) else repr(default)}
        nested = _nested_model(ann)
        if nested is not None and nested is not model:
            entry["fields"] = describe_params(nested)
        out.append(entry)
    return out


def _nested_model(ann: Any) -> type[BaseModel] | None:
    import typing

    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in typing.get_args(ann):
        found = _nested_model(arg)
        if found is not None:
            return found
    return None


def _type_text(ann: Any) -> str:
    import types
    import typing

    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if ann is type(None):
        return "None"
    if origin is typing.Annotated:
        return _type_text(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_text(a) for a in args)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (list, tuple, dict):
        inner = ", ".join(_type_text(a) for a in args if a is not Ellipsis)
        return f"{origin.__name__}[{inner}]" if inner else origin.__name__
    if ann is Any:
        return "any"
    return getattr(ann, "__name__", str(ann))


def _jsonable(value: Any) -> bool:
    import json

    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


ENTRY_POINT_GROUP = "mlgrade.checks"


def _load_builtin_kinds() -> None:
    """The built-in kinds and every installed plugin's: the entry point group ``mlgrade.checks``, where mlgrade
    declares its own (``grader.checks.builtin``) as any package does."""
    plugins.load_group(ENTRY_POINT_GROUP)


def plugin_problems() -> list[str]:
    """Entry points of other packages that failed to load, said by ``mlgrade kinds``."""
    return list(plugins.PROBLEMS.get(ENTRY_POINT_GROUP, []))


def load_plugin_file(path: Path) -> None:
    """Import a rubric's plugin file (instructor code, trusted) so that the kinds it registers exist.
    The same file (by content) is imported once per process."""
    import importlib.util
    import sys

    _load_builtin_kinds()
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:12]
    name = f"mlgrade_plugin_{''.join(c if c.isalnum() else '_' for c in path.stem)}_{digest}"
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path.name} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    with plugins.loading(f"plugin {path}"):
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
