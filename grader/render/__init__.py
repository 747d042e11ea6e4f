"""Stage 5: every output format, rendered from the typed result records, through one registry.

A format is one module that registers a :class:`Format`: a name, whether it renders one
submission or the whole class, the file it is written to, and a function from records to
text or bytes. Nothing else in the grader knows about formats: ``mlgrade grade --format``,
``mlgrade check --format`` and the batch's output step all look them up here. ::

    from grader.render import ClassReport, register_format

    @register_format("marks-txt", scope="class", filename="marks.txt", help="one line per student")
    def marks(report: ClassReport) -> str:
        return "".join(f"{r.student} {r.total}\\n" for r in report.results)

Formats from other packages plug in through the ``mlgrade.formats`` entry-point group (the
entry point names a module that registers its formats when imported, or a :class:`Format`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from grader.render.files import write_bytes_atomic
from grader.render.layout import student_file
from grader.results import SubmissionResult
from grader.rubric import Rubric

if TYPE_CHECKING:
    from grader.overrides import OverrideReport

Scope = Literal["submission", "class"]
ENTRY_POINT_GROUP = "mlgrade.formats"


@dataclass
class ClassReport:
    """What every renderer reads: the rubric, the records (sorted by student) and class facts.

    ``bests``: the class best per class-relative question. ``origins``: where each student's
    submission came from (LMS ids and names, the repository and commit graded), by student.
    ``self_check``: a student's own run, where class-relative scores are provisional.
    ``overrides``: what the class-level step did with the instructor's decisions (set by
    :func:`grader.classwide.class_step`, the only way a class report reaches an output folder).
    """

    rubric: Rubric
    results: list[SubmissionResult]
    bests: dict[str, float | None] = field(default_factory=dict)
    origins: dict[str, dict[str, Any]] = field(default_factory=dict)
    self_check: bool = False
    assignment: str = ""  # the assignment's name in the LMS gradebook (default: the rubric's name)
    integrity: Any = None  # the class-level integrity report (grader.integrity.IntegrityReport), batch only
    overrides: OverrideReport | None = None

    def __post_init__(self) -> None:
        self.results = sorted(self.results, key=lambda r: r.student)
        self.assignment = self.assignment or self.rubric.name

    def origin(self, student: str) -> dict[str, Any]:
        return self.origins.get(student, {})


Renderer = Callable[..., str | bytes]


@dataclass(frozen=True)
class Format:
    name: str
    scope: Scope  # "submission": render(result, report), one file per student; "class": render(report)
    filename: str  # in OUT (class) or OUT/students/<student>/ (submission): grader.render.layout
    help: str
    render: Renderer
    default: bool = False  # written by `mlgrade grade` when --format is not given

    def render_one(self, result: SubmissionResult, report: ClassReport) -> str | bytes:
        """This format for one submission (a class format renders a class of one)."""
        if self.scope == "submission":
            return self.render(result, report)
        return self.render(ClassReport(report.rubric, [result], report.bests, report.origins,
                                       report.self_check, report.assignment, report.overrides))


_FORMATS: dict[str, Format] = {}
_loaded = False


class UnknownFormat(ValueError):
    pass


def register_format(name: str, *, scope: Scope, filename: str, help: str, default: bool = False):
    """Decorator: register ``render`` as the format ``name``."""

    def wrap(render: Renderer) -> Renderer:
        add_format(Format(name, scope, filename, help, render, default))
        return render

    return wrap


def add_format(fmt: Format) -> None:
    if fmt.name in _FORMATS and _FORMATS[fmt.name].render is not fmt.render:
        raise ValueError(f"output format {fmt.name!r} is registered twice")
    if fmt.scope not in ("submission", "class"):
        raise ValueError(f"output format {fmt.name!r}: scope must be 'submission' or 'class', got {fmt.scope!r}")
    _FORMATS[fmt.name] = fmt


def _load() -> None:
    """Import the built-in formats, then those other packages declare as entry points."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from importlib.metadata import entry_points

    import grader.render.builtin  # noqa: F401

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        if isinstance(obj, Format):
            add_format(obj)


def formats() -> list[Format]:
    _load()
    return sorted(_FORMATS.values(), key=lambda f: (f.scope != "submission", f.name))


def get_format(name: str) -> Format:
    _load()
    try:
        return _FORMATS[name]
    except KeyError:
        raise UnknownFormat(f"unknown output format {name!r}; available: {', '.join(sorted(_FORMATS))}") from None


def default_formats() -> list[str]:
    return [f.name for f in formats() if f.default]


def parse_format_list(text: str | Iterable[str] | None) -> list[str]:
    """``"csv,gradescope"`` (or repeated options) -> checked names; ``default`` stands for the defaults."""
    if text is None:
        return default_formats()
    items = [text] if isinstance(text, str) else list(text)
    names: list[str] = []
    for item in items:
        for name in (n.strip() for n in item.split(",")):
            if not name:
                continue
            expanded = {"default": default_formats, "all": lambda: [f.name for f in formats()]}.get(name)
            for n in expanded() if expanded else [name]:
                get_format(n)
                if n not in names:
                    names.append(n)
    return names


def render_one(name: str, result: SubmissionResult, report: ClassReport) -> str | bytes:
    return get_format(name).render_one(result, report)


def write_outputs(out: Path, report: ClassReport, names: Iterable[str]) -> list[Path]:
    """Write each named format into ``out`` (per-student files in ``out/students/<student>/``, see
    :mod:`grader.render.layout`), atomically.

    A folder with the instructor's decisions (``overrides.yaml``) only takes a report that the
    class-level step built for it, so no format can be written without them."""
    from grader.overrides import OVERRIDES_FILE

    decisions = Path(out) / OVERRIDES_FILE
    if decisions.exists() and (report.overrides is None or report.overrides.folder != Path(out).resolve()):
        raise ValueError(f"{decisions}: the instructor's decisions were not applied to this report; build it "
                         "with grader.classwide.class_step(..., out)")
    written: list[Path] = []
    for name in names:
        fmt = get_format(name)
        if fmt.scope == "class":
            written.append(_write(out / fmt.filename, fmt.render(report)))
            continue
        for r in report.results:
            written.append(_write(student_file(out, r.student, fmt.filename), fmt.render(r, report)))
    return written


def _write(path: Path, data: str | bytes) -> Path:
    write_bytes_atomic(path, data.encode("utf-8", "replace") if isinstance(data, str) else data)
    return path
