"""A parsed equation (as :func:`grader.checks.equation.tree_data` stores it) as MathML, shown in any browser.

The stored tree is plain data: ``["num", text]``, ``["var", i]``, ``["e"]``, ``["neg", x]``,
``["bin", op, a, b]``, ``["call", name, x]``. Anything else, or a tree deeper than
:data:`MAX_DEPTH`, is not rendered (the page shows the student's text instead). Numbers are
shown as the student wrote them; every leaf is escaped.
"""

from __future__ import annotations

import re
from typing import cast

from grader.render.html_page import esc

MAX_DEPTH = 80
MAX_NODES = 5000
_NUMBER = re.compile(r"[0-9]{0,40}(?:\.[0-9]{0,40})?(?:[eE][-+]?[0-9]{1,4})?")
_PREC = {"+": 1, "-": 1, "*": 2, "/": 3, "^": 4}


class NotRenderable(ValueError):
    pass


def equation_mathml(tree: object) -> str:
    """``<math display="block">Y = ...</math>``, or :class:`NotRenderable`. The network's usual shape,
    an outer sigmoid of a sum of three or more terms, is drawn one term per line (MathML does not wrap)."""
    counter = [0]
    terms = _outer_terms(tree)
    if terms is None:
        return f'<math display="block"><mi>Y</mi><mo>=</mo>{_node(tree, 0, counter)}</math>'
    rows = []
    for i, (sign, term) in enumerate(terms):
        body = _node(term, 2, counter)
        if _prec(cast(list, term)) <= 1:  # _node accepted it: a non-empty list
            body = _paren(body)
        lead = "<mi>Y</mi><mo>=</mo><mi>&#963;</mi><mo>(</mo>" if i == 0 else ""
        op = "" if i == 0 and sign == "+" else f"<mo>{'+' if sign == '+' else '&#8722;'}</mo>"
        close = "<mo>)</mo>" if i == len(terms) - 1 else ""
        rows.append(f"<mtr><mtd><mrow>{lead}</mrow></mtd><mtd><mrow>{op}{body}{close}</mrow></mtd></mtr>")
    return f'<math display="block"><mtable columnalign="right left">{"".join(rows)}</mtable></math>'


def _outer_terms(tree: object) -> list[tuple[str, object]] | None:
    """``[(sign, term), ...]`` when ``tree`` is ``sigmoid(t1 ± t2 ± t3 ...)`` with three or more terms."""
    if not (isinstance(tree, list) and len(tree) == 3 and tree[:2] == ["call", "sigmoid"]):
        return None
    out: list[tuple[str, object]] = []
    stack: list[tuple[str, object]] = [("+", tree[2])]
    while stack and len(out) < MAX_NODES:
        sign, node = stack.pop()
        if isinstance(node, list) and len(node) == 4 and node[0] == "bin" and node[1] in ("+", "-"):
            flip = "-" if sign == "+" else "+"
            stack.append((sign if node[1] == "+" else flip, node[3]))
            stack.append((sign, node[2]))
        else:
            out.append((sign, node))
    return out if len(out) >= 3 else None


def _prec(node: list) -> int:
    if node[0] == "bin":
        return _PREC.get(node[1], 0)
    if node[0] == "neg":
        return 1
    return 9


def _paren(inner: str) -> str:
    return f'<mrow><mo stretchy="true">(</mo>{inner}<mo stretchy="true">)</mo></mrow>'


def _node(node: object, depth: int, counter: list[int]) -> str:
    counter[0] += 1
    if depth > MAX_DEPTH or counter[0] > MAX_NODES:
        raise NotRenderable("the equation is too deep to draw")
    if not isinstance(node, list) or not node or not isinstance(node[0], str):
        raise NotRenderable("not an equation tree")
    kind = node[0]
    if kind == "num" and len(node) == 2 and isinstance(node[1], str) and _NUMBER.fullmatch(node[1]):
        return f"<mn>{esc(node[1])}</mn>"
    if kind == "var" and len(node) == 2 and node[1] in (1, 2, 3):
        return f"<msub><mi>X</mi><mn>{node[1]}</mn></msub>"
    if kind == "e" and len(node) == 1:
        return "<mi>e</mi>"
    if kind == "neg" and len(node) == 2:
        arg = _node(node[1], depth + 1, counter)
        return f"<mrow><mo>&#8722;</mo>{_paren(arg) if _prec(node[1]) <= 1 else arg}</mrow>"
    if kind == "call" and len(node) == 3 and node[1] in ("sigmoid", "exp"):
        arg = _node(node[2], depth + 1, counter)
        if node[1] == "exp":
            return f"<msup><mi>e</mi><mrow>{arg}</mrow></msup>"
        return f"<mrow><mi>&#963;</mi>{_paren(arg)}</mrow>"
    if kind == "bin" and len(node) == 4 and node[1] in _PREC:
        op, a, b = node[1], node[2], node[3]
        left, right = _node(a, depth + 1, counter), _node(b, depth + 1, counter)
        if op == "/":
            return f"<mfrac><mrow>{left}</mrow><mrow>{right}</mrow></mfrac>"
        if op == "^":
            base = _paren(left) if _prec(a) < 9 else left
            return f"<msup><mrow>{base}</mrow><mrow>{right}</mrow></msup>"
        p = _PREC[op]
        if _prec(a) < p:
            left = _paren(left)
        if _prec(b) < p or (_prec(b) == p and op in "-/"):
            right = _paren(right)
        sign = {"+": "+", "-": "&#8722;", "*": "&#183;"}[op]
        return f"<mrow>{left}<mo>{sign}</mo>{right}</mrow>"
    raise NotRenderable(f"unknown node {kind!r}")
