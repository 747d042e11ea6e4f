"""``mlgrade import nbgrader SOURCE_NOTEBOOK``: nbgrader's autograder test cells as a rubric and pytest files.

Every autograder test cell (``metadata.nbgrader``: ``grade: true``, ``solution: false``, code) becomes a
question worth the cell's ``points``, graded by one test whose body is the cell's code, run in the
grader on the student's names bound from their kernel. As nbgrader grades it, the test passes when
the code raises nothing, and a cell ending in a number between 0 and its points gives that many
points (nbgrader's partial credit). A cell with ``### BEGIN HIDDEN TESTS`` is a hidden test: the whole
cell, as nbgrader runs it at autograding. Definitions an earlier test cell made (a reference helper)
are repeated in the later tests that use them, since nbgrader ran the cells in one kernel.

Not converted, and listed: manually graded cells (answers and tasks, for ``mlgrade review``) and test
cells with IPython magics or shell commands, which only a kernel can run. Unlike nbgrader, a warning
the student's code prints to stderr does not cost the cell its points.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from grader.authoring.converting import (
    KNOWN_MODULES,
    Conversion,
    ConversionError,
    ConvertedQuestion,
    ConvertedTest,
    NotConverted,
    free_names,
    module_aliases,
    python_id,
    rubric_id,
    unique,
)

MAX_NOTEBOOK = 32 * 1024**2
_HIDDEN_MARK = re.compile(r"^\s*###\s*(BEGIN|END)\s+HIDDEN\s+TESTS\s*$", re.MULTILINE)
_MAGIC = re.compile(r"^\s*[%!]", re.MULTILINE)


def _cells(path: Path) -> list[dict]:
    if path.stat().st_size > MAX_NOTEBOOK:
        raise ConversionError(f"{path}: larger than 32 MB")
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConversionError(f"{path}: not a notebook ({e})") from None
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise ConversionError(f"{path}: not a notebook (no cells)")
    return [c for c in cells if isinstance(c, dict)]


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(map(str, src)) if isinstance(src, list) else str(src)


def notebook_code(path: Path) -> list[str]:
    """The code cells' sources of the notebook at ``path``."""
    return [_source(c) for c in _cells(path) if c.get("cell_type") == "code"]


def convert_nbgrader(source: Path, notebook: str | None = None, name: str | None = None) -> Conversion:
    """nbgrader's source notebook at ``source`` as a :class:`Conversion`; students hand in ``notebook``
    (default: the source's file name, as nbgrader releases it)."""
    cells = _cells(source)
    code = [_source(c) for c in cells if c.get("cell_type") == "code"]
    modules = dict(KNOWN_MODULES)
    modules.update(module_aliases("\n".join(code)))
    conv = Conversion("nbgrader", name or source.parent.name, notebook or source.name, [], modules, [])
    taken: set[str] = set()
    earlier: dict[str, str] = {}  # name -> the statement an earlier test cell bound it with
    for number, cell in enumerate(cells, 1):
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        if not isinstance(meta, dict) or not (meta.get("grade") or meta.get("task")):
            continue
        grade_id = str(meta.get("grade_id") or f"cell{number}")
        where = f"{source.name}, cell {number} ({grade_id})"
        if meta.get("solution") or meta.get("task") or cell.get("cell_type") != "code":
            conv.not_converted.append(NotConverted(where, "graded by hand: review it with `mlgrade review` and "
                                                          "`mlgrade override`"))
            continue
        text = _HIDDEN_MARK.sub("", _source(cell))
        if _MAGIC.search(text):
            line = 1 + text[:_MAGIC.search(text).start()].count("\n")  # type: ignore[union-attr]
            conv.not_converted.append(NotConverted(f"{where}, line {line}", "an IPython magic or shell command"))
            continue
        try:
            tree = ast.parse(text)
        except SyntaxError as e:
            conv.not_converted.append(NotConverted(f"{where}, line {e.lineno}", f"not Python: {e.msg}"))
            continue
        try:
            points = float(meta.get("points", 0))
        except (TypeError, ValueError):
            conv.not_converted.append(NotConverted(where, f"points {meta.get('points')!r} is not a number"))
            continue
        hidden = bool(_HIDDEN_MARK.search(_source(cell)))
        body = _test_body(tree, text, points, conv, earlier)
        qid = unique(rubric_id(grade_id), taken)
        q = ConvertedQuestion(qid, grade_id, where)
        q.tests.append(ConvertedTest(python_id(grade_id, "test_"), points, hidden, body,
                                     f"nbgrader test cell {grade_id} ({_pts(points)} points)"))
        if "_nbgrader_partial_credit(" in body:
            q.helpers = partial_credit_helper()
        conv.questions.append(q)
        for stmt in tree.body:
            if isinstance(stmt, (ast.FunctionDef, ast.ClassDef, ast.Assign, ast.Import, ast.ImportFrom)):
                for bound in _bound_names(stmt):
                    earlier[bound] = ast.get_source_segment(text, stmt) or ""
    return conv


def _test_body(tree: ast.Module, text: str, points: float, conv: Conversion, earlier: dict[str, str]) -> str:
    names = free_names(text)
    prelude: list[str] = []
    for n in names:  # what an earlier test cell defined, in the order this cell needs it
        if n in earlier and earlier[n] not in prelude:
            prelude.append(earlier[n])
    needed = free_names("\n".join(prelude + [text])) if prelude else names
    binds = [f"{n} = notebook.bind({n!r})" for n in needed if n not in conv.modules]
    lines = text.rstrip().splitlines()
    last = tree.body[-1] if tree.body else None
    if isinstance(last, ast.Expr):
        # nbgrader's partial credit: a cell whose last line is a number gives that many points
        start, end = last.lineno - 1, last.end_lineno or last.lineno
        expr = "\n".join(lines[start:end])
        lines = lines[:start] + [f"_cell_result = ({expr})",
                                 f"_nbgrader_partial_credit(_cell_result, {_pts(points)}, partial)"] + lines[end:]
    return "\n".join(binds + prelude + lines)


def partial_credit_helper() -> str:
    return '''def _nbgrader_partial_credit(result, points, partial):
    """nbgrader's rule: a test cell whose value is a number from 0 to its points gives that many points."""
    if result is None:
        return
    try:
        got = float(repr(result))  # what nbgrader reads: the value as the notebook displays it
    except ValueError:
        return
    if 0 <= got < points:
        partial(got / points, f"the cell gave {got:g} of {points:g} points")'''


def _bound_names(stmt: ast.stmt) -> list[str]:
    if isinstance(stmt, (ast.FunctionDef, ast.ClassDef)):
        return [stmt.name]
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return [a.asname or a.name.split(".")[0] for a in stmt.names]
    return [n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]


def _pts(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)
