"""A public test file as students receive it: hidden tests reduced to stubs, code only they used removed.

A hidden test keeps its name, its points and its ``hidden`` mark, so a self-check can say it exists
and what it is worth; its body, its parameters (hidden inputs) and its other decorators are gone.
Then every top-level definition, assignment and import that nothing left refers to is dropped, to a
fixed point: a helper, a constant or an instructor-only import used only by hidden tests never
ships. The file is written back with :func:`ast.unparse`, so comments never ship either.

    @pytest.mark.hidden
    @pytest.mark.points(3)
    @pytest.mark.parametrize("x", SECRET_INPUTS)      # ->   @pytest.mark.hidden
    def test_hidden(notebook, reference, x):           #      @pytest.mark.points(3)
        assert notebook.call("f", x) == reference.f(x) #      def test_hidden():
                                                       #          'Graded when the class is graded.'
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field

STUB_DOC = "Hidden: run only when the class is graded."


@dataclass
class Pruned:
    source: str
    hidden: dict[str, float] = field(default_factory=dict)  # test function -> its points (cases together)
    removed: list[str] = field(default_factory=list)  # top-level names dropped because only hidden code used them


def _is_hidden_mark(node: ast.expr) -> bool:
    """``pytest.mark.hidden``, ``mark.hidden``, ``hidden`` (a call of it too)."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr == "hidden"
    return isinstance(node, ast.Name) and node.id == "hidden"


def _marks_hidden(value: ast.expr) -> bool:
    """A ``pytestmark = ...`` value that includes the hidden mark (one mark or a list of them)."""
    items = value.elts if isinstance(value, (ast.List, ast.Tuple)) else [value]
    return any(_is_hidden_mark(v) for v in items)


def _pytestmark_hidden(body: list[ast.stmt]) -> bool:
    for stmt in body:
        if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark"
                                                for t in stmt.targets):
            if _marks_hidden(stmt.value):
                return True
    return False


def _stub(fn: ast.FunctionDef | ast.AsyncFunctionDef, points: float) -> ast.FunctionDef:
    mark = ast.Attribute(ast.Attribute(ast.Name("pytest", ast.Load()), "mark", ast.Load()), "hidden", ast.Load())
    pts = ast.Call(ast.Attribute(ast.Attribute(ast.Name("pytest", ast.Load()), "mark", ast.Load()), "points",
                                 ast.Load()), [ast.Constant(points)], [])
    self_arg = [ast.arg("self")] if fn.args.args and fn.args.args[0].arg == "self" else []
    args = ast.arguments([], self_arg, None, [], [], None, [])
    body: list[ast.stmt] = [ast.Expr(ast.Constant(STUB_DOC))]
    if sys.version_info >= (3, 12):  # type_params: a field of function definitions since Python 3.12 (PEP 695)
        return ast.FunctionDef(name=fn.name, args=args, body=body, decorator_list=[mark, pts], returns=None,
                               type_comment=None, type_params=[], lineno=fn.lineno, col_offset=0)
    return ast.FunctionDef(name=fn.name, args=args, body=body, decorator_list=[mark, pts], returns=None,
                           type_comment=None, lineno=fn.lineno, col_offset=0)


def _is_test(node: ast.stmt) -> bool:
    return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test")


def _stub_hidden(body: list[ast.stmt], points: dict[str, float], all_hidden: bool, hidden: dict[str, float],
                 prefix: str = "") -> list[ast.stmt]:
    out: list[ast.stmt] = []
    for node in body:
        if _is_test(node):
            assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            if all_hidden or any(_is_hidden_mark(d) for d in node.decorator_list):
                name = prefix + node.name
                hidden[name] = points.get(name, 1.0)
                out.append(_stub(node, hidden[name]))
                continue
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            whole = all_hidden or any(_is_hidden_mark(d) for d in node.decorator_list) or \
                _pytestmark_hidden(node.body)
            node.body = _stub_hidden(node.body, points, whole, hidden, f"{node.name}::")
            if whole:
                node.decorator_list = [d for d in node.decorator_list if not _is_hidden_mark(d)]
                node.body = [s for s in node.body if not (isinstance(s, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "pytestmark" for t in s.targets))]
        elif all_hidden and isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
            continue  # every test is a stub now, each marked on its own
        out.append(node)
    return out


def _defined(node: ast.stmt) -> set[str]:
    """Top-level names a statement binds."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return set()


def _used(node: ast.AST, own: set[str]) -> set[str]:
    """Names a statement refers to: loads, attribute roots, fixture parameters, and strings that name a
    definition (``usefixtures("x")``, ``request.getfixturevalue("x")``)."""
    used: set[str] = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Store):
            used.add(n.id)
        elif isinstance(n, ast.arg):
            used.add(n.arg)  # a test's parameter is a fixture of that name
        elif isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value.isidentifier():
            used.add(n.value)
    return used - own


def _keeps_itself(node: ast.stmt) -> bool:
    """Statements kept whatever refers to them: tests, autouse fixtures, ``pytestmark``, the docstring, code
    with effects (an ``if``, a bare call)."""
    if _is_test(node) or (isinstance(node, ast.ClassDef) and node.name.startswith("Test")):
        return True
    if isinstance(node, ast.Expr):
        return True
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return any("autouse" in ast.unparse(d) for d in node.decorator_list)
    if isinstance(node, ast.Assign):
        return any(isinstance(t, ast.Name) and t.id in ("pytestmark", "__all__") for t in node.targets)
    return not isinstance(node, (ast.ClassDef, ast.Import, ast.ImportFrom, ast.AnnAssign, ast.AugAssign,
                                 ast.Assign))


def _drop_unused(body: list[ast.stmt]) -> tuple[list[ast.stmt], list[str]]:
    """``body`` without the definitions nothing kept refers to (to a fixed point), and the names dropped."""
    keep = [n for n in body if _keeps_itself(n) or (isinstance(n, ast.ImportFrom) and n.module == "__future__")]
    needed: set[str] = set().union(*(_used(n, set()) for n in keep)) if keep else set()
    changed = True
    while changed:
        changed = False
        for node in body:
            if not any(node is k for k in keep) and _defined(node) & needed:
                keep.append(node)
                needed |= _used(node, set())
                changed = True
    kept = [n for n in body if any(n is k for k in keep)]
    removed = sorted(name for n in body if not any(n is k for k in keep) for name in _defined(n))
    return kept, removed


def prune_tests(source: str, points: dict[str, float], filename: str = "<tests>") -> Pruned:
    """``source`` with its hidden tests as stubs and what only they used removed. ``points``: each test
    function's points as collected (``test_x`` or ``TestCls::test_x``), so the stubs keep them."""
    tree = ast.parse(source, filename)
    hidden: dict[str, float] = {}
    body = _stub_hidden(tree.body, points, _pytestmark_hidden(tree.body), hidden)
    body, removed = _drop_unused(body)
    if hidden and not any(isinstance(n, ast.Import) and any(a.name == "pytest" and not a.asname for a in n.names)
                          for n in body):
        at = 1 if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None),
                                                                         ast.Constant) else 0
        body.insert(at, ast.Import([ast.alias("pytest")]))
    tree.body = body
    return Pruned(ast.unparse(ast.fix_missing_locations(tree)) + "\n", hidden, removed)


def local_imports(source: str) -> list[tuple[str, int]]:
    """``(top-level module name, line)`` of every import in ``source`` (``from . import x`` as ``.``)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(a.name.split(".")[0], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append(("." if node.level else (node.module or "").split(".")[0], node.lineno))
    return out
