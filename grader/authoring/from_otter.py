"""``mlgrade import otter TESTS_DIR``: Otter-Grader's test files as a rubric and pytest files.

Both of Otter's formats are read, without running them (the files are parsed; a file that is not the
literal Otter writes is listed as not converted):

- OK format (``OK_FORMAT = True``): ``test = {"name", "points", "all_or_nothing", "suites": [{"cases":
  [{"code": ">>> ...", "hidden", "points"}]}]}``; each case becomes a test that runs its doctest here
  (:func:`grader.api.run_doctest`) on the student's names.
- exception-based: ``name``, ``points``, ``all_or_nothing`` and ``@test_case(points=, hidden=)``
  functions whose parameters are names of the student's notebook; each becomes a test whose
  parameters are bound from the kernel (modules such as ``np`` are imported here instead).

Points are resolved as Otter documents them: a list gives each case its points; a number is what the
cases without points of their own share equally; no points at all make the file worth 1. A case
without ``hidden`` is hidden in the OK format, public in the exception-based one, as in Otter.
``all_or_nothing`` files become one test holding every case.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path
from typing import Any

from grader.authoring.converting import (
    KNOWN_MODULES,
    Conversion,
    ConversionError,
    ConvertedQuestion,
    ConvertedTest,
    NotConverted,
    doctest_names,
    free_names,
    module_aliases,
    python_id,
    rubric_id,
    unique,
)

MAX_TEST_FILE = 2 * 1024**2


def convert_otter(tests_dir: Path, notebook: str, name: str | None = None,
                  notebook_file: Path | None = None) -> Conversion:
    """The Otter test files of ``tests_dir`` (``q1.py``, ...) as a :class:`Conversion` for ``notebook``."""
    modules = dict(KNOWN_MODULES)
    if notebook_file is not None:
        from grader.authoring.from_nbgrader import notebook_code  # deferred: a notebook's imports, when given

        modules.update(module_aliases("\n".join(notebook_code(notebook_file))))
    conv = Conversion("Otter-Grader", name or tests_dir.resolve().parent.name, notebook, [], modules, [])
    taken: set[str] = set()
    for path in sorted(tests_dir.glob("*.py")):
        if path.name.startswith("__"):
            continue
        where = f"{tests_dir.name}/{path.name}"
        if path.stat().st_size > MAX_TEST_FILE:
            conv.not_converted.append(NotConverted(where, "larger than 2 MB"))
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            tree = ast.parse(text)
        except SyntaxError as e:
            conv.not_converted.append(NotConverted(f"{where}, line {e.lineno}", f"not Python: {e.msg}"))
            continue
        spec = _literal(tree, "test")
        if spec is not None:
            q = _from_ok(spec, where, conv, taken)
        else:
            q = _from_exception_file(tree, text, where, conv, taken)
        if q is not None:
            conv.questions.append(q)
    return conv


def _literal(tree: ast.Module, name: str) -> Any:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            try:
                return ast.literal_eval(node.value)
            except ValueError:
                return None
    return None


def _from_ok(spec: Any, where: str, conv: Conversion, taken: set[str]) -> ConvertedQuestion | None:
    if not isinstance(spec, dict) or not isinstance(spec.get("suites"), list) or not spec["suites"]:
        conv.not_converted.append(NotConverted(where, "`test` has no suites"))
        return None
    if len(spec["suites"]) != 1:
        conv.not_converted.append(NotConverted(where, "more than one suite (Otter runs only one either)"))
        return None
    suite = spec["suites"][0]
    if suite.get("type", "doctest") != "doctest" or suite.get("setup") or suite.get("teardown"):
        conv.not_converted.append(NotConverted(where, "a suite with setup, teardown or a type other than doctest"))
        return None
    qname = str(spec.get("name") or Path(where).stem)
    cases = [c for c in suite.get("cases", []) if isinstance(c, dict) and isinstance(c.get("code"), str)]
    names = [str(c.get("name") or f"{qname} - {i + 1}") for i, c in enumerate(cases)]
    try:
        points = resolve_points(spec.get("points"), [c.get("points") for c in cases])
    except ConversionError as e:
        conv.not_converted.append(NotConverted(where, str(e)))
        return None
    bodies = []
    for case_name, c in zip(names, cases, strict=True):
        source = textwrap.dedent(c["code"])
        used = doctest_names(source)
        modules = [n for n in used if n in conv.modules]
        student = [n for n in used if n not in conv.modules]
        env = ", ".join([f"{a!r}: {a}" for a in modules] + [f"**notebook.bind_all({_args(student)})"])
        bodies.append(f"run_doctest({source!r},\n            {{{env}}}, {case_name!r})")
    hidden = [bool(c.get("hidden", True)) for c in cases]
    return _question(qname, where, names, points, hidden, bodies, bool(spec.get("all_or_nothing")), taken)


def _from_exception_file(tree: ast.Module, text: str, where: str, conv: Conversion,
                         taken: set[str]) -> ConvertedQuestion | None:
    qname = _literal(tree, "name")
    if not isinstance(qname, str):
        conv.not_converted.append(NotConverted(where, "neither an OK-format `test = {...}` nor a file with "
                                                      "`name = ...`"))
        return None
    names: list[str] = []
    given: list[Any] = []
    hidden: list[bool] = []
    bodies: list[str] = []
    for node in tree.body:
        deco = _test_case_decorator(node)
        if deco is None:
            continue
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        kw = {k.arg: k.value for k in deco.keywords if k.arg}
        try:
            opts = {k: ast.literal_eval(v) for k, v in kw.items()}
        except ValueError:
            conv.not_converted.append(NotConverted(f"{where}, line {node.lineno}",
                                                   "@test_case options that are not literals"))
            continue
        params = [a.arg for a in node.args.args]
        if "env" in params:
            conv.not_converted.append(NotConverted(
                f"{where}, line {node.lineno}", f"{node.name}(env, ...) reads the whole notebook environment, which "
                "does not cross the sandbox: name the variables it needs as parameters"))
            continue
        body = textwrap.dedent("\n".join(text.splitlines()[node.body[0].lineno - 1:node.end_lineno]))
        if isinstance(node.body[0], ast.Expr) and isinstance(getattr(node.body[0], "value", None), ast.Constant):
            body = textwrap.dedent("\n".join(text.splitlines()[node.body[0].end_lineno:node.end_lineno])) or "pass"
        binds = [f"{p} = notebook.bind({p!r})" for p in params if p not in conv.modules]
        names.append(str(opts.get("name") or f"{qname} - {len(names) + 1}"))
        given.append(opts.get("points"))
        hidden.append(bool(opts.get("hidden", False)))
        bodies.append("\n".join(binds + [body]))
    try:
        points = resolve_points(_literal(tree, "points"), given)
    except ConversionError as e:
        conv.not_converted.append(NotConverted(where, str(e)))
        return None
    return _question(qname, where, names, points, hidden, bodies, bool(_literal(tree, "all_or_nothing")), taken)


def _test_case_decorator(node: ast.stmt) -> ast.Call | None:
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    for d in node.decorator_list:
        target = d.func if isinstance(d, ast.Call) else d
        label = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if label == "test_case":
            return d if isinstance(d, ast.Call) else ast.Call(func=d, args=[], keywords=[])
    return None


def _question(qname: str, where: str, names: list[str], points: list[float], hidden: list[bool],
              bodies: list[str], all_or_nothing: bool, taken: set[str]) -> ConvertedQuestion | None:
    if not bodies:
        return None
    q = ConvertedQuestion(rubric_id(qname), qname, where)
    used: set[str] = set()
    if all_or_nothing:
        q.tests.append(ConvertedTest(unique(python_id(qname, "test_"), used), sum(points), any(hidden),
                                     "\n".join(bodies), f"{qname}: every case must pass (all_or_nothing)"))
        return q
    for case, pts, hid, body in zip(names, points, hidden, bodies, strict=True):
        q.tests.append(ConvertedTest(unique(python_id(case, "test_"), used), pts, hid, body, case))
    return q


def resolve_points(total: Any, given: list[Any]) -> list[float]:
    """Each case's points as Otter resolves them (see the module's docstring)."""
    if isinstance(total, list):
        if len(total) != len(given):
            raise ConversionError(f"`points` lists {len(total)} values for {len(given)} cases")
        given, total = list(total), None
    if total is not None and not isinstance(total, (int, float)):
        raise ConversionError(f"`points` is {total!r}, not a number")
    if any(p is not None and not isinstance(p, (int, float)) for p in given):
        raise ConversionError("a case's points are not a number")
    fixed = sum(p for p in given if p is not None)
    open_cases = sum(p is None for p in given)
    if total is not None:
        if fixed > total:
            raise ConversionError(f"the cases' points add up to {fixed}, more than the file's {total}")
        share = (total - fixed) / open_cases if open_cases else 0.0
    elif fixed == 0 and all(p in (0, None) for p in given):
        share = 1 / open_cases if open_cases else 0.0
    else:
        share = 0.0
    return [float(p) if p is not None else share for p in given]


def _args(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


__all__ = ["convert_otter", "free_names", "resolve_points"]
