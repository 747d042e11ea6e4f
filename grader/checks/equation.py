"""Hand-written equations: parsed by a small grammar into a tree, never evaluated as code.

Students write the XOR network's equation in many notations. :func:`normalize`
turns LaTeX and Unicode into one plain syntax; :func:`parse` reads it with a
recursive-descent grammar that knows only numbers, ``X1..X3``, ``e``,
``sigmoid``/``exp`` and ``+ - * / ^``. Anything else — another name, a string,
an attribute, a call of something else, a huge exponent, deep nesting, a
megabyte of text — is refused with the position and what was expected.

    >>> tree = parse("Y = sigmoid(2*X1 - 1)")
    >>> round(float(evaluate(tree, {1: 1.0, 2: 0.0, 3: 0.0})), 4)
    0.7311
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import NoReturn, cast

import numpy as np

MAX_CHARS = 20_000
MAX_TOKENS = 4_000
MAX_DEPTH = 60
MAX_TREE_DEPTH = 120  # operations inside one another, brackets or not (a handed-in XOR equation: about 20)
MAX_NUMBER_CHARS = 40
MAX_PLAIN_EXPONENT = 10.0


class EquationError(ValueError):
    """The text is not an acceptable equation; ``str()`` says where and why."""


# --------------------------------------------------------------------------- tree

@dataclass(frozen=True)
class Num:
    value: float
    text: str  # as written, so that the precision the student used is known


@dataclass(frozen=True)
class Var:
    index: int  # 1, 2 or 3


@dataclass(frozen=True)
class E:
    pass


@dataclass(frozen=True)
class Neg:
    arg: object


@dataclass(frozen=True)
class Bin:
    op: str  # + - * / ^
    left: object
    right: object


@dataclass(frozen=True)
class Call:
    name: str  # sigmoid | exp
    arg: object


# --------------------------------------------------------------------------- normalize

_SUBSCRIPTS = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")
_UNICODE = {
    "σ": " sigmoid ", "×": "*", "·": "*", "⋅": "*", "∗": "*", "•": "*", "−": "-", "–": "-", "—": "-",
    "÷": "/", "⁻": "^-", "（": "(", "）": ")", "［": "[", "］": "]", "\u00a0": " ",
}


def normalize(text: str) -> str:
    """LaTeX and Unicode to the plain syntax the grammar reads."""
    if len(text) > MAX_CHARS:
        raise EquationError(f"the equation is {len(text):,} characters long; the limit is {MAX_CHARS:,}")
    s = text.translate(_SUBSCRIPTS)
    for k, v in _UNICODE.items():
        s = s.replace(k, v)
    s = s.replace("$", " ").replace("\\displaystyle", " ").replace("\\,", " ").replace("\\;", " ").replace("\\!", "")
    s = re.sub(r"\\(left|right|big|Big|bigg|Bigg)\s*([()\[\]]|\\\{|\\\})", r"\2", s)
    s = s.replace("\\{", "(").replace("\\}", ")")
    s = re.sub(r"\\(cdot|times|ast)\b", "*", s)
    s = re.sub(r"\\(sigma|sigmoid|operatorname\{sigmoid\}|mathrm\{sigmoid\}|text\{sigmoid\})", " sigmoid ", s)
    s = re.sub(r"\\(exp|mathrm\{exp\}|operatorname\{exp\})", " exp ", s)
    s = re.sub(r"\\(mathrm|text|mathit|operatorname)\{([^{}]*)\}", r"\2", s)
    s = _frac(s)
    s = re.sub(r"([A-Za-z])_\{\s*(\d)\s*\}", r"\1\2", s)  # x_{1} -> x1
    s = re.sub(r"([xX])_(\d)", r"\1\2", s)  # x_1 -> x1
    s = s.replace("{", "(").replace("}", ")").replace("[", "(").replace("]", ")")
    s = s.replace("**", "^")
    return s


def _frac(s: str) -> str:
    """``\\frac{a}{b}`` -> ``((a)/(b))``, innermost first."""
    for _ in range(200):
        i = s.find("\\frac")
        if i < 0:
            return s
        j = i + len("\\frac")
        num, j = _braced(s, j)
        den, j = _braced(s, j)
        if num is None or den is None:
            raise EquationError(f"column {i + 1}: \\frac needs two {{...}} groups")
        s = s[:i] + f"(({num})/({den}))" + s[j:]
    raise EquationError("too many \\frac")


def _braced(s: str, j: int) -> tuple[str | None, int]:
    while j < len(s) and s[j] == " ":
        j += 1
    if j >= len(s) or s[j] != "{":
        return None, j
    depth = 0
    for k in range(j, len(s)):
        if s[k] == "{":
            depth += 1
        elif s[k] == "}":
            depth -= 1
            if depth == 0:
                return s[j + 1 : k], k + 1
    return None, j


# --------------------------------------------------------------------------- tokens and grammar

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z_0-9]*)|(?P<op>[-+*/^()=,]))"
)
_FUNCS = {"sigmoid": "sigmoid", "sig": "sigmoid", "sigma": "sigmoid", "s": "sigmoid", "exp": "exp"}


def _known_name(text: str) -> bool:
    low = text.lower()
    return bool(re.fullmatch(r"x_?[123]", low)) or low in _FUNCS or low in ("e", "y", "f", "yhat", "y_hat")


def _tokenize(s: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(s):
        if s[pos:].strip() == "":
            break
        m = _TOKEN.match(s, pos)
        if not m:
            for kind, text, col in out:  # a name we do not know is the clearer complaint
                if kind == "name" and not _known_name(text):
                    raise EquationError(_at(s, col, f"unknown name {text!r}; only X1, X2, X3, e, sigmoid(...) "
                                                    "and exp(...) are allowed"))
            bad = s[pos:].lstrip()[:1]
            col = len(s) - len(s[pos:].lstrip()) + 1
            raise EquationError(_at(s, col, f"unexpected character {bad!r} (only numbers, X1-X3, e, sigmoid, "
                                             "exp, + - * / ^ and parentheses are allowed)"))
        kind = cast(str, m.lastgroup)  # every alternative of _TOKEN is a named group: one of them matched
        text = m.group(kind)
        col = m.start(kind) + 1
        if kind == "num" and len(text) > MAX_NUMBER_CHARS:
            raise EquationError(_at(s, col, f"a number of {len(text)} digits"))
        out.append((kind, text, col))
        pos = m.end()
        if len(out) > MAX_TOKENS:
            raise EquationError(f"the equation has more than {MAX_TOKENS:,} parts; the limit keeps parsing fast")
    return out


def _at(s: str, col: int, what: str) -> str:
    lo = max(0, col - 25)
    snippet = s[lo : col + 25].replace("\n", " ")
    return f"column {col}: {what}: '...{snippet}...'" if lo > 0 else f"column {col}: {what}: '{snippet}...'"


class _Parser:
    def __init__(self, s: str):
        self.s = s
        self.toks = _tokenize(s)
        self.i = 0
        self.depth = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str, int]:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def fail(self, what: str, tok: tuple[str, str, int] | None = None) -> NoReturn:
        tok = tok or self.peek()
        if tok is None:
            raise EquationError(f"the equation ends early: {what}")
        raise EquationError(_at(self.s, tok[2], f"{what}, found {tok[1]!r}"))

    def expect(self, text: str) -> None:
        tok = self.peek()
        if tok is None or tok[1] != text:
            self.fail(f"expected {text!r}")
        self.take()

    def enter(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail(f"nested more than {MAX_DEPTH} levels deep")

    def parse(self):
        self._skip_lhs()
        tree = self.expr()
        if self.peek() is not None:
            self.fail("expected the end of the equation, or an operator")
        return tree

    def _skip_lhs(self) -> None:
        """Drop ``Y =`` / ``f(X1, X2, X3) =`` / ``y_hat =`` in front."""
        eq = [k for k, t in enumerate(self.toks) if t[1] == "="]
        if len(eq) > 1:
            self.fail("only one '=' is allowed", self.toks[eq[1]])
        if eq:
            lhs = self.toks[: eq[0]]
            if not lhs or lhs[0][0] != "name" or lhs[0][1].lower() not in ("y", "f", "yhat", "y_hat", "output", "out"):
                self.fail("expected 'Y =' or 'f(X1, X2, X3) =' before '='", self.toks[0])
            self.i = eq[0] + 1

    def expr(self):
        self.enter()
        node = self.term()
        while (tok := self.peek()) is not None and tok[1] in "+-" and tok[0] == "op":
            self.take()
            node = Bin(tok[1], node, self.term())
        self.depth -= 1
        return node

    def term(self):
        node = self.unary()
        while (tok := self.peek()) is not None:
            if tok[0] == "op" and tok[1] in "*/":
                self.take()
                node = Bin(tok[1], node, self.unary())
            elif tok[0] in ("num", "name") or tok[1] == "(":
                node = Bin("*", node, self.power())  # implicit product: 7.19X1, 2(...), X1 sigmoid(...)
            else:
                break
        return node

    def unary(self):
        tok = self.peek()
        if tok is not None and tok[0] == "op" and tok[1] in "+-":
            self.take()
            self.enter()
            arg = self.unary()
            self.depth -= 1
            return Neg(arg) if tok[1] == "-" else arg
        return self.power()

    def power(self):
        base = self.atom()
        tok = self.peek()
        if tok is not None and tok[1] == "^":
            self.take()
            self.enter()
            exponent = self.unary()  # e^-x, e^(-x), x^2
            self.depth -= 1
            if not isinstance(base, E):
                if not isinstance(exponent, Num) or abs(exponent.value) > MAX_PLAIN_EXPONENT:
                    self.fail(f"only e^(...) or a power up to {MAX_PLAIN_EXPONENT:g} is allowed", tok)
            return Bin("^", base, exponent)
        return base

    def atom(self):
        tok = self.peek()
        if tok is None:
            self.fail("expected a number, X1, X2, X3, sigmoid(...) or '('")
        kind, text, col = tok
        if kind == "num":
            self.take()
            try:
                value = float(text)
            except ValueError:
                self.fail("not a number", tok)
            if not math.isfinite(value):
                self.fail("a number too large", tok)
            return Num(value, text)
        if text == "(":
            self.take()
            node = self.expr()
            self.expect(")")
            return node
        if kind == "name":
            low = text.lower()
            m = re.fullmatch(r"x_?([123])", low)
            if m:
                self.take()
                return Var(int(m.group(1)))
            if low == "e":
                self.take()
                return E()
            if low in _FUNCS and self.i + 1 < len(self.toks) and self.toks[self.i + 1][1] == "(":
                self.take()
                self.expect("(")
                arg = self.expr()
                self.expect(")")
                return Call(_FUNCS[low], arg)
            self.fail("unknown name; only X1, X2, X3, e, sigmoid(...) and exp(...) are allowed", tok)
        self.fail("expected a number, X1, X2, X3, sigmoid(...) or '('")


def parse(text: str):
    """The equation's tree, or :class:`EquationError`."""
    s = normalize(text)
    if not s.strip():
        raise EquationError("the equation is empty")
    tree = _Parser(s).parse()
    if (depth := tree_depth(tree)) > MAX_TREE_DEPTH:
        # a chain (a*b*c*...) nests one level per term without a bracket: everything that walks the tree
        # (evaluation, drawing, the stored record) recurses, so its depth is bounded as brackets are
        raise EquationError(f"the equation is {depth:,} operations deep (a chain of that many terms); the limit is "
                            f"{MAX_TREE_DEPTH}: a network's equation needs far fewer")
    return tree


def tree_depth(tree) -> int:
    """The tree's depth, walked without recursion (it may be deeper than Python's stack)."""
    deepest, todo = 0, [(tree, 1)]
    while todo:
        node, depth = todo.pop()
        deepest = max(deepest, depth)
        if isinstance(node, Bin):
            todo += [(node.left, depth + 1), (node.right, depth + 1)]
        elif isinstance(node, (Neg, Call)):
            todo.append((node.arg, depth + 1))
    return deepest


# --------------------------------------------------------------------------- evaluation

def evaluate(node, x: dict[int, float]) -> float:
    """The tree's value for ``x = {1: X1, 2: X2, 3: X3}``, in float64 (overflow gives inf, not an error)."""
    with np.errstate(all="ignore"):
        return float(_eval(node, x))


def _eval(node, x):
    if isinstance(node, Num):
        return np.float64(node.value)
    if isinstance(node, Var):
        return np.float64(x[node.index])
    if isinstance(node, E):
        return np.float64(math.e)
    if isinstance(node, Neg):
        return -_eval(node.arg, x)
    if isinstance(node, Call):
        a = _eval(node.arg, x)
        return np.exp(a) if node.name == "exp" else 1.0 / (1.0 + np.exp(-a))
    if isinstance(node, Bin):
        a, b = _eval(node.left, x), _eval(node.right, x)
        if node.op == "+":
            return a + b
        if node.op == "-":
            return a - b
        if node.op == "*":
            return a * b
        if node.op == "/":
            return a / b if b != 0 else np.float64(np.inf if a >= 0 else -np.inf)
        return np.power(a, b)
    raise TypeError(type(node))


def count_numbers(tree) -> int:
    if isinstance(tree, Num):
        return 1
    if isinstance(tree, (Neg, Call)):
        return count_numbers(tree.arg)
    if isinstance(tree, Bin):
        return count_numbers(tree.left) + count_numbers(tree.right)
    return 0


def decimals(text: str) -> int:
    """Digits after the point as written ('7.19' -> 2, '-3' -> 0, '1.5e-3' -> 4)."""
    t = text.lstrip("-+")
    mant, _, exp = t.lower().partition("e")
    d = len(mant.split(".")[1]) if "." in mant else 0
    return max(0, d - int(exp)) if exp else d


def tree_data(node) -> list:
    """A parsed equation as plain JSON data (``["bin", "+", left, right]``...), for the feedback page to
    draw (:mod:`grader.render.mathml`) and for a record to keep."""
    if isinstance(node, Num):
        return ["num", node.text]
    if isinstance(node, Var):
        return ["var", node.index]
    if isinstance(node, E):
        return ["e"]
    if isinstance(node, Neg):
        return ["neg", tree_data(node.arg)]
    if isinstance(node, Bin):
        return ["bin", node.op, tree_data(node.left), tree_data(node.right)]
    if isinstance(node, Call):
        return ["call", node.name, tree_data(node.arg)]
    raise TypeError(f"not an equation node: {type(node).__name__}")

