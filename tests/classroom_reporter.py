"""GitHub Classroom's grading reporter, as documented, written here to test what mlgrade hands it.

The last step of every Classroom autograding workflow is ``classroom-resources/autograding-grading-reporter``
(see ``shared/notes/formats.md``). It is not published to a package registry, and the project carries no
other project's code, so this is mlgrade's own implementation of its documented behaviour:

- ``runners: a,b`` names the runners; each one's result is base64 JSON in ``A_RESULTS``, ``B_RESULTS``
  (the runner id upper-cased); runner ids are letters and digits, comma-separated;
- a runner whose top-level ``max_score`` is falsy (0, missing, null) counts for nothing;
- Classroom's points are the sum of the other runners' ``tests[].score``, the maximum the sum of their
  ``max_score``, announced in two lines that Classroom reads (none when the maximum is 0)::

      ::notice title=Autograding complete::Points X/Y
      ::notice title=Autograding report::{"totalPoints":X,"maxPoints":Y}

  with the numbers written as JavaScript writes them (``2``, ``1.25``, ``0.30000000000000004``);
- the job fails (exit 1, an ``::error::`` line) when any runner's status is ``fail`` or ``error``;
- the console table shows, per runner, passed tests / tests × ``max_score``: its own arithmetic, which
  gives partial credit as 0 and is *not* what Classroom records.

The log also carries what the reporter prints from the results (test names, an error's message, test
code), so a test can check that nothing a student wrote turns into a workflow command.

Stricter than the reporter where mlgrade's output must be clean: base64 is decoded strictly and a score
must be a number (the reporter would add a string by concatenation).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

RUNNERS = re.compile(r"([a-zA-Z0-9]+,)*[a-zA-Z0-9]+")
NOTICE = re.compile(r"^::notice title=Autograding report::(\{.*\})$", re.M)


class ContractError(ValueError):
    """What the grader handed the reporter breaks the contract (the real one would fail the job)."""


@dataclass(frozen=True)
class Report:
    exit_code: int  # 0: the job stays green
    log: str  # what the Actions log shows
    classroom: tuple[float, float] | None  # (points, maximum) from the notice lines; None: no notice
    table: tuple[float, float]  # the console table's own total: not what Classroom records


def js_number(x: float | int) -> str:
    """``x`` as JavaScript's ``String(x)`` and ``JSON.stringify`` write it (ECMAScript Number::toString)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ContractError(f"not a number: {x!r}")
    x = float(x)
    if math.isnan(x) or math.isinf(x):
        return "NaN" if math.isnan(x) else ("-" if x < 0 else "") + "Infinity"
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    t = Decimal(repr(abs(x))).as_tuple()  # repr: the shortest digits that read back as x, as in JS
    digits = "".join(map(str, t.digits)).rstrip("0")
    exp = int(t.exponent) + len(t.digits) - len(digits)
    k, n = len(digits), len(digits) + exp  # x = 0.digits × 10^n
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = f"e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"
    return sign + digits[0] + ("." + digits[1:] if k > 1 else "") + e


def _number(x: Any, what: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ContractError(f"{what} is {x!r}, not a number")
    return float(x)


def _counts(max_score: Any) -> bool:
    """JavaScript's truthiness of the top-level ``max_score``."""
    if isinstance(max_score, float) and math.isnan(max_score):
        return False
    return bool(max_score)


def decode(runner: str, env: Mapping[str, str]) -> dict[str, Any]:
    """The runner's result, read from ``<RUNNER>_RESULTS`` as the reporter reads it."""
    var = f"{runner.strip().upper()}_RESULTS"
    if var not in env:
        raise ContractError(f"{var} is not set")
    try:
        result = json.loads(base64.b64decode(env[var], validate=True).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError) as e:
        raise ContractError(f"{var} is not base64 of JSON: {e}") from None
    if not isinstance(result, dict) or not isinstance(result.get("tests"), list):
        raise ContractError(f"{var}: expected an object with a 'tests' list")
    return result


def run(runners: str, env: Mapping[str, str]) -> Report:
    """The reporter's step with ``with: {runners: <runners>}`` and ``env``."""
    if not RUNNERS.fullmatch(runners):
        return Report(1, "::error::The runners input must be a comma-separated list of strings.\n", None, (0.0, 0.0))
    try:
        results = [(r, decode(r, env)) for r in runners.split(",")]
        log = _console(results)
        classroom = _classroom(results)
    except ContractError as e:
        return Report(1, f"::error::{e}\n", None, (0.0, 0.0))
    table = _table(results)
    log.append(f"Total: {js_number(table[0])}/{js_number(table[1])}")
    if classroom is not None:
        points, maximum = (js_number(v) for v in classroom)
        log.append(f"::notice title=Autograding complete::Points {points}/{maximum}")
        log.append(f'::notice title=Autograding report::{{"totalPoints":{points},"maxPoints":{maximum}}}')
    statuses = {r.get("status") for _, r in results}
    failed = "failed" if "fail" in statuses else "errored" if "error" in statuses else ""
    if failed:
        log.append(f"::error::Some tests {failed}.")
    return Report(1 if failed else 0, "\n".join(log) + "\n", classroom, table)


def _classroom(results: list[tuple[str, dict[str, Any]]]) -> tuple[float, float] | None:
    """Points and maximum as Classroom records them: runners with a max_score, their tests' scores."""
    points = maximum = 0.0
    for runner, r in results:
        if not _counts(r.get("max_score")):
            continue
        maximum += _number(r["max_score"], f"{runner}: max_score")
        for t in r["tests"]:
            points += _number(t.get("score"), f"{runner}: a test's score")
    return (points, maximum) if maximum else None


def _table(results: list[tuple[str, dict[str, Any]]]) -> tuple[float, float]:
    """The console table's totals: per runner, passed tests / tests × max_score."""
    score = maximum = 0.0
    for _, r in results:
        top = float(r["max_score"]) if _counts(r.get("max_score")) else 0.0
        tests = r["tests"]
        passed = sum(t.get("status") == "pass" for t in tests)
        score += passed / len(tests) * top if tests else math.nan
        maximum += top
    return score, maximum


def _console(results: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """What the reporter prints of each runner's tests: names, an error's message, the test code."""
    lines: list[str] = []
    for runner, r in results:
        lines.append(f"Processing: {runner}")
        for t in r["tests"]:
            where = f" - line {t.get('line_no')}" if t.get("line_no") != 0 else ""
            if t.get("status") == "pass":
                lines.append(f"passed: {t.get('name')}{where}")
            elif t.get("status") == "error":
                lines.append(f"Error: {t.get('message') or t.get('name')}")
            else:
                lines.append(f"failed: {t.get('name')}{where}")
            if t.get("test_code"):
                lines.append(f"Test code:\n{t['test_code']}")
    return "\n".join(lines).split("\n")  # as the log shows it: one line per line of student text


def classroom_points(log: str) -> dict[str, Any]:
    """The report notice's JSON, read from the log the way Classroom reads it ({} when there is none)."""
    m = NOTICE.search(log)
    return json.loads(m.group(1)) if m else {}
