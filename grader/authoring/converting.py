"""What ``mlgrade import`` writes: a rubric and one pytest file per question, from another tool's tests.

Otter and nbgrader run their tests inside the student's kernel, where the student's code can patch
what a test compares with. A converted test runs in the grader instead: the names it uses are
bound from the student's kernel (:meth:`Notebook.bind`: values as data, functions called in the
sandbox) and the instructor's assertions run here, with the same points the original tool gives.
The readers of each format (:mod:`grader.authoring.from_otter`, :mod:`grader.authoring.from_nbgrader`)
produce a :class:`Conversion`; :func:`write_conversion` turns it into files. What cannot be
converted is a :class:`NotConverted` with its line and why, listed in the rubric and on the terminal.
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

# Modules tests commonly reach by an alias; a notebook's own imports add to these.
KNOWN_MODULES = {"np": "numpy", "numpy": "numpy", "pd": "pandas", "pandas": "pandas", "math": "math",
                 "plt": "matplotlib.pyplot", "scipy": "scipy", "sp": "scipy", "stats": "scipy.stats",
                 "sklearn": "sklearn", "re": "re", "json": "json", "collections": "collections",
                 "itertools": "itertools", "string": "string", "statistics": "statistics"}
_BUILTINS = set(dir(builtins))
_ID = re.compile(r"[^A-Za-z0-9_]+")


class ConversionError(ValueError):
    """The tool's files cannot be converted as given (said to the instructor in one line)."""


@dataclass(frozen=True)
class ConvertedTest:
    name: str  # the pytest function's name, test_...
    points: float
    hidden: bool
    body: str  # the function's body, unindented
    doc: str  # where it came from, as the instructor named it


@dataclass
class ConvertedQuestion:
    id: str
    title: str
    source: str  # the original file (and cell), for the test file's docstring
    tests: list[ConvertedTest] = field(default_factory=list)
    helpers: str = ""  # module-level code the tests share (an nbgrader test cell's definitions)

    @property
    def points(self) -> float:
        return round(sum(t.points for t in self.tests), 6)


@dataclass(frozen=True)
class NotConverted:
    where: str  # "tests/q3.py, line 12" or "ps1.ipynb, cell 9 (test_plot)"
    why: str

    def __str__(self) -> str:
        return f"{self.where}: {self.why}"


@dataclass
class Conversion:
    tool: str  # "Otter-Grader" | "nbgrader"
    name: str  # the assignment
    notebook: str  # the file students hand in
    questions: list[ConvertedQuestion]
    modules: dict[str, str]  # alias -> module
    not_converted: list[NotConverted]


def module_aliases(code: str) -> dict[str, str]:
    """``import numpy as np`` → ``{"np": "numpy"}`` for the top-level imports of ``code`` (unparsable
    code, magics included, gives what its parsable lines import)."""
    found: dict[str, str] = {}
    for line in code.splitlines():
        stripped = line.strip()
        if not stripped.startswith(("import ", "from ")):
            continue
        try:
            tree = ast.parse(stripped)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                for a in node.names:
                    found[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for a in node.names:
                    if a.name != "*":
                        found[a.asname or a.name] = f"{node.module}.{a.name}"
    return found


def free_names(code: str) -> list[str]:
    """Names ``code`` reads before binding them itself, builtins left out, in order of first use: the
    names a converted test must bind from the student's kernel."""
    tree = ast.parse(code)
    local = {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.comprehension,)):
            local |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
    bound: set[str] = set()
    free: list[str] = []
    for stmt in tree.body:
        loads = [n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]
        for name in loads:
            if name not in bound and name not in local and name not in _BUILTINS and name not in free:
                free.append(name)
        bound |= _binds(stmt)
    return free


def doctest_names(source: str) -> list[str]:
    """:func:`free_names` over a doctest case's examples, in order (unparsable examples are skipped: the
    doctest itself reports them)."""
    import doctest  # deferred: only conversions read doctests

    code = []
    for ex in doctest.DocTestParser().get_examples(source):
        try:
            ast.parse(ex.source)
        except SyntaxError:
            continue
        code.append(ex.source)
    return free_names("\n".join(code))


def _binds(stmt: ast.stmt) -> set[str]:
    names = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        names.add(stmt.name)
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        names |= {(a.asname or a.name.split(".")[0]) for a in stmt.names}
    return names


def python_id(text: str, prefix: str = "") -> str:
    """A Python identifier made of ``text`` (``q1 - 2`` → ``q1_2``)."""
    core = _ID.sub("_", text).strip("_") or "case"
    return prefix + core if (prefix or not core[0].isdigit()) else "_" + core


def rubric_id(text: str) -> str:
    core = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.-") or "question"
    return core[:40]


def unique(name: str, taken: set[str]) -> str:
    out, n = name, 2
    while out in taken:
        out, n = f"{name}_{n}", n + 1
    taken.add(out)
    return out


def test_file_text(conv: Conversion, q: ConvertedQuestion, uses_doctest: bool) -> str:
    used = {n for t in q.tests for n in _names_in(t.body)} | _names_in(q.helpers)
    imports = sorted(import_line(a, m) for a, m in conv.modules.items() if a in used)
    lines = [f'"""{q.id}: converted by `mlgrade import` from {q.source} ({conv.tool}).',
             "",
             "Each test runs in the grader on the student's names bound from their kernel",
             "(`notebook.bind`: values cross as data, functions are called in the sandbox), so nothing",
             "the student's code does can change what a test compares with.",
             '"""', "", *imports, "import pytest", ""]
    if uses_doctest:
        lines += ["from grader.api import run_doctest", ""]
    if q.helpers.strip():
        lines += ["", q.helpers.rstrip(), ""]
    for t in q.tests:
        lines += ["", f"@pytest.mark.points({_num(t.points)})"]
        if t.hidden:
            lines.append("@pytest.mark.hidden")
        lines.append(f"def {t.name}(notebook, partial):")
        lines.append(f'    """{t.doc}"""' if '"""' not in t.doc and "\\" not in t.doc else f"    {t.doc!r}")
        lines += ["    " + ln if ln.strip() else "" for ln in t.body.rstrip().splitlines()]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def import_line(alias: str, module: str) -> str:
    parent, _, last = module.rpartition(".")
    if not parent:
        return f"import {module}" if alias == module else f"import {module} as {alias}"
    return f"from {parent} import {last}" if alias == last else f"import {module} as {alias}"


def _names_in(code: str) -> set[str]:
    try:
        return {n.id for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Name)}
    except SyntaxError:
        return set()


def _yaml_number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else round(float(x), 10)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(round(float(x), 10))


def rubric_text(conv: Conversion, test_files: dict[str, str]) -> str:
    doc = {
        "name": conv.name,
        "description": f"Hand in {conv.notebook} (run it top to bottom before you save it).",
        "questions": [
            {"id": q.id, "title": q.title, "points": _yaml_number(q.points),
             "files": [conv.notebook],
             "checks": [{"kind": "pytest", "tests": test_files[q.id], "notebook": conv.notebook}]}
            for q in conv.questions if q.tests
        ],
    }
    head = [f"# Converted by `mlgrade import` from {conv.tool}. Check it with `mlgrade validate` on graded samples."]
    if conv.not_converted:
        head.append("# Not converted (add these by hand; the points above leave them out):")
        head += [f"#   {n}" for n in conv.not_converted]
    return "\n".join(head) + "\n" + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def write_conversion(conv: Conversion, out: Path, force: bool = False) -> list[Path]:
    """Write ``rubric.yaml`` and ``tests/test_<question>.py`` under ``out``; refuse to replace files unless
    ``force``. Returns the files written."""
    if not any(q.tests for q in conv.questions):
        raise ConversionError(f"nothing to convert: no {conv.tool} test was found")
    files: dict[Path, str] = {}
    test_files: dict[str, str] = {}
    for q in conv.questions:
        if not q.tests:
            continue
        rel = f"tests/test_{python_id(q.id)}.py"
        test_files[q.id] = rel
        uses_doctest = any("run_doctest(" in t.body for t in q.tests)
        files[out / rel] = test_file_text(conv, q, uses_doctest)
    files[out / "rubric.yaml"] = rubric_text(conv, test_files)
    existing = [p for p in files if p.exists()]
    if existing and not force:
        raise FileExistsError(f"{existing[0]} exists; choose another --out or add --force")
    for path, text in files.items():
        if path.suffix == ".py":
            compile(text, str(path), "exec")  # a conversion that wrote broken Python is our bug, said here
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)
