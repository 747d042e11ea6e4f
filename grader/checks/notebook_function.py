"""``notebook_function`` and ``notebook_value``: questions about a notebook that need no Python at all.

``notebook_function`` calls the student's function in the sandboxed notebook (a live session,
:mod:`grader.execute.notebooks.session`) on the rubric's listed inputs and on hidden inputs drawn from a
declared spec, and compares every result with the instructor's reference function in the grader.
``notebook_value`` compares a variable or expression with a constant or a reference call.
Hard-coded answers pass the listed cases at best; the hidden ones are drawn from a seed the
student cannot know. A hidden case's inputs are never shown.

.. code-block:: yaml

    - kind: notebook_function
      notebook: softmax.ipynb
      function: softmax
      reference: refs.py:softmax          # FILE:FUNCTION next to the rubric
      rtol: 1.0e-6
      atol: 1.0e-9
      cases:                              # listed inputs: points each (default 1)
        - args: [{array: [1.0, 2.0, 3.0]}]
        - {args: [{array: [[1, 2], [3, 5]]}], kwargs: {axis: 1}, points: 2}
      hidden:                             # inputs drawn by the grader
        count: 4
        points: 4                         # shared by the hidden cases (default: 1 each)
        dims: {n: [2, 50]}                # sizes drawn once per case, shared by the arguments
        args: [{random: {shape: [n, 10], distribution: normal, scale: 3}}]
        kwargs: {axis: 1}

    - kind: notebook_value
      notebook: backprop.ipynb
      expr: L                             # a name or an expression
      expected: 0.1332476222330792        # or reference: refs.py:loss (called with reference_args)
      atol: 1.0e-6
"""

from __future__ import annotations

import copy
import json
from typing import Any, TypedDict

from pydantic import Field, field_validator, model_validator

from grader.checks.notebooks import NotebookLimits, add_session_problems, notebook_session
from grader.checks.values import compare, draw_dims, materialize, validate_spec
from grader.execute.notebooks.session import (
    CallTimeout,
    CannotCross,
    NotDefined,
    NotebookDidNotRun,
    StudentCodeError,
    StudentFailure,
)
from grader.insandbox.wire import decode
from grader.rubric.instructor import InstructorError, reference_function
from grader.rubric.kinds import CheckContext, CheckParams, Outcome, RubricFile, RubricFunction, check_kind

MAX_CASES = 200


class Case(CheckParams):
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    points: float = Field(1.0, ge=0)

    @field_validator("args", "kwargs")
    @classmethod
    def _spec(cls, v):
        return validate_spec(v)


class HiddenCases(CheckParams):
    count: int = Field(3, ge=1, le=MAX_CASES)
    points: float | None = Field(None, ge=0)  # for all hidden cases together; default: 1 each
    dims: dict[str, int | list[int]] = Field(default_factory=dict)
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)

    @field_validator("args", "kwargs")
    @classmethod
    def _spec(cls, v):
        return validate_spec(v)

    @field_validator("dims")
    @classmethod
    def _dims(cls, v):
        for name, d in v.items():
            if isinstance(d, list) and (len(d) != 2 or not 0 <= d[0] <= d[1]):
                raise ValueError(f"dims.{name}: expected a size or [low, high], got {d}")
        return v


class Tolerance(NotebookLimits):
    rtol: float = Field(1e-6, ge=0)
    atol: float = Field(1e-9, ge=0)
    call_timeout: float = Field(20, gt=0)


class FunctionParams(Tolerance):
    notebook: str = Field(min_length=1)
    function: str = Field(min_length=1)
    reference: RubricFunction | None = None
    cases: list[Case] = Field(default_factory=list, max_length=MAX_CASES)
    hidden: HiddenCases | None = None
    # a student build: the listed cases with their expected results, as data (no reference code ships)
    compiled_cases: RubricFile | None = None

    @model_validator(mode="after")
    def _some_case(self):
        if self.reference is None and self.compiled_cases is None:
            raise ValueError("give 'reference' (FILE.py:FUNCTION): the function results are compared with")
        if self.reference is not None and self.compiled_cases is not None:
            raise ValueError("give 'reference' or 'compiled_cases' (a student build's), not both")
        if not self.cases and self.hidden is None and self.compiled_cases is None:
            raise ValueError("give 'cases' (listed inputs), 'hidden' (drawn inputs), or both")
        return self


class ValueParams(Tolerance):
    notebook: str = Field(min_length=1)
    expr: str = Field(min_length=1)
    expected: Any = None
    reference: RubricFunction | None = None
    reference_args: list[Any] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_source(self):
        if (self.reference is None) == ("expected" not in self.model_fields_set):
            raise ValueError("give either 'expected' (a value) or 'reference' (FILE.py:FUNCTION), not both or neither")
        validate_spec(self.expected, "expected")
        validate_spec(self.reference_args, "reference_args")
        return self

    def code_markers(self) -> list[str]:
        return [f"{self.expr} =", f"{self.expr}="] if self.expr.isidentifier() else []


def compiled_cases(path) -> list[dict[str, Any]]:
    """A student build's listed cases: ``[{"args", "kwargs", "points", "expected"}]``, decoded from data."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return [{"args": list(decode(c["args"])), "kwargs": dict(decode(c["kwargs"])), "points": float(c["points"]),
                 "expected": decode(c["expected"])} for c in raw]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InstructorError(f"the student build's compiled cases {path.name} cannot be read: {e}") from None


# a case to run: (name, args, kwargs, points, hidden, dims, expected: the value, or the reference function computing it)
_Case = tuple[str, Any, Any, float, bool, dict[str, int], Any]


class _CaseResult(TypedDict):
    case: str
    passed: bool
    hidden: bool


def _hidden_each(hidden: HiddenCases) -> float:
    return (hidden.points / hidden.count) if hidden.points is not None else 1.0


@check_kind("notebook_function", FunctionParams, uses_notebooks=True)
def notebook_function(ctx: CheckContext, p: FunctionParams) -> Outcome:
    """Calls a notebook's function on listed and hidden inputs and compares with a reference function."""
    session, rel = notebook_session(ctx, p.notebook, p, p.call_timeout)
    rng = ctx.rng(f"notebook_function|{p.function}")
    cases: list[_Case]
    if p.compiled_cases is not None:  # a student build: inputs and expected results recorded at export
        compiled = compiled_cases(ctx.rubric_path(p.compiled_cases))
        cases = [(f"case {i + 1}", c["args"], c["kwargs"], c["points"], False, {}, c["expected"])
                 for i, c in enumerate(compiled)]
    else:
        reference = reference_function(ctx.rubric_dir or ctx.rubric_path("."), p.reference or "")
        cases = [(f"case {i + 1}", c.args, c.kwargs, c.points, False, {}, reference) for i, c in enumerate(p.cases)]
    # hidden cases run when the class is graded only: a self-check says they exist and what they are worth
    later = p.hidden is not None and (ctx.options.self_check or p.compiled_cases is not None)
    if p.hidden is not None and not later:
        for i in range(p.hidden.count):
            dims = draw_dims(p.hidden.dims, rng)
            cases.append((f"hidden case {i + 1}", p.hidden.args, p.hidden.kwargs, _hidden_each(p.hidden), True, dims,
                          reference))
    earned, total = 0.0, sum(case[3] for case in cases)
    if later and p.hidden is not None:
        total += _hidden_each(p.hidden) * p.hidden.count
    notes: list[str] = []
    instructor: list[str] = []  # a hidden case's why: its inputs' shapes and values are the instructor's
    results: list[_CaseResult] = []
    for name, args_spec, kwargs_spec, points, hidden, dims, source in cases:
        if callable(source):
            args = materialize(args_spec, rng, dims)
            kwargs = materialize(kwargs_spec, rng, dims)
            try:
                expected = source(*copy.deepcopy(args), **copy.deepcopy(kwargs))
            except Exception as e:  # the instructor's reference on the rubric's arguments: the assignment's bug
                why = (f"the reference {p.reference} raised {type(e).__name__}: {str(e)[:300]} on {name}'s "
                       "arguments (check the rubric's args and the reference)")
                return Outcome(0.0, f"{rel}: {p.function}: {why}; this is a problem with the assignment, not with "
                                    "the submission", grader_error=why)
        else:
            args, kwargs, expected = args_spec, kwargs_spec, source
        try:
            got = session.call(p.function, tuple(args), kwargs)
            ok, why = compare(got, expected, p.rtol, p.atol, hidden=hidden)
        except NotebookDidNotRun as e:
            if not results:
                raise  # nothing can be asked of this notebook: the check fails with the reason
            notes.append(_without_file(str(e), rel))
            results.append({"case": name, "passed": False, "hidden": hidden})
            break
        except StudentFailure as e:
            ok, why = False, _without_file(str(e), rel)
            if hidden:
                notes.append(f"{name}: {_hidden_failure(e, rel)}")
        earned += points * ok
        results.append({"case": name, "passed": ok, "hidden": hidden})
        if not ok and hidden:
            instructor.append(f"{name}: {why}")
        elif not ok:
            notes.append(f"{name}: {why}")
    hidden_results = [r for r in results if r["hidden"]]
    listed = [r for r in results if not r["hidden"]]
    summary = []
    if listed:
        summary.append(f"{sum(r['passed'] for r in listed)}/{len(listed)} listed cases right")
    if p.hidden is not None and later:
        summary.append(f"{p.hidden.count} hidden cases worth {_hidden_each(p.hidden) * p.hidden.count:g} points "
                       "checked when the class is graded")
    elif p.hidden is not None:
        wrong = [r["case"].removeprefix("hidden case ") for r in hidden_results if not r["passed"]]
        summary.append(f"{sum(r['passed'] for r in hidden_results)}/{p.hidden.count} hidden cases right"
                       + (f" (not right: hidden case {', '.join(wrong)})" if wrong else ""))
    reason = f"{rel}: {p.function}: " + ", ".join(summary) + (f" ({'; '.join(_grouped(notes)[:4])})" if notes else "")
    outcome = Outcome(earned / total if total else 0.0, reason, details={"cases": results},
                      instructor_notes=instructor)
    add_session_problems(ctx, session, outcome)
    return outcome


def _grouped(notes: list[str]) -> list[str]:
    """``case 1: why``, ``case 2: why`` said once: ``case 1, 2: why``."""
    by_why: dict[str, list[str]] = {}
    for note in notes:
        case, sep, why = note.partition(": ")
        by_why.setdefault(why if sep else note, []).append(case if sep else "")
    out = []
    for why, cases in by_why.items():
        named = [c for c in cases if c]
        if len(named) > 1 and all(c.startswith("hidden case ") for c in named):
            out.append("hidden case " + ", ".join(c.removeprefix("hidden case ") for c in named) + f": {why}")
        else:
            out += [f"{c}: {why}" if c else why for c in cases]
    return out

def _hidden_failure(e: StudentFailure, rel: str) -> str:
    """What a student may hear of a hidden case their code failed on: what does not depend on its inputs
    (a missing name, a notebook that did not run, the time, the type and place of an exception), never
    the exception's own words, which may quote the inputs' shapes or values."""
    if isinstance(e, StudentCodeError):
        return f"your code raised {e.ename or 'an exception'}" + (f" at {e.where}" if e.where else "")
    if isinstance(e, CannotCross | CallTimeout | NotDefined | NotebookDidNotRun):
        return _without_file(str(e), rel)
    return "your code failed on it"

@check_kind("notebook_value", ValueParams, uses_notebooks=True)
def notebook_value(ctx: CheckContext, p: ValueParams) -> Outcome:
    """Compares a notebook's variable or expression with a constant or a reference call."""
    session, rel = notebook_session(ctx, p.notebook, p, p.call_timeout)
    rng = ctx.rng(f"notebook_value|{p.expr}")
    if p.reference is not None:
        fn = reference_function(ctx.rubric_dir or ctx.rubric_path("."), p.reference)
        expected = fn(*materialize(p.reference_args, rng))
    else:
        expected = materialize(p.expected, rng)
    try:
        got = session.value(p.expr)
    except StudentFailure as e:
        outcome = Outcome.failed(str(e))
    else:
        ok, why = compare(got, expected, p.rtol, p.atol)
        outcome = Outcome.passed(f"{rel}: {p.expr} is right") if ok else Outcome.failed(f"{rel}: {p.expr}: {why}")
    if session.started:
        add_session_problems(ctx, session, outcome)
    return outcome


def _without_file(message: str, rel: str) -> str:
    return message.removeprefix(f"{rel}: ")
