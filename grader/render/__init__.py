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
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from grader.classstep.overrides import OVERRIDES_FILE
from grader.classstep.report import ClassReport as ClassReport  # formats take it from here
from grader.core import plugins
from grader.core.files import write_bytes_atomic
from grader.core.results import SubmissionResult
from grader.render.layout import student_file

Scope = Literal["submission", "class"]
ENTRY_POINT_GROUP = "mlgrade.formats"


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
    plugins.load_group(ENTRY_POINT_GROUP, lambda obj: add_format(obj) if isinstance(obj, Format) else None)


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
    decisions = Path(out) / OVERRIDES_FILE
    if decisions.exists() and (report.overrides is None or report.overrides.folder != Path(out).resolve()):
        raise ValueError(f"{decisions}: the instructor's decisions were not applied to this report; build it "
                         "with grader.classstep.classwide.class_step(..., out)")
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
