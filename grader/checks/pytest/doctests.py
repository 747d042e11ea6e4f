"""Doctest cases (Otter's OK format) run in the grader, on names bound from the student's kernel.

Otter runs ``>>> square(x)`` / ``4`` in the student's own kernel, where the student's code could patch
what the comparison uses. A converted test runs the same examples here, with Python's own
:mod:`doctest` and the same options Otter uses (none), against a namespace whose student names came
through :meth:`Notebook.bind_all` (data, or functions called in the sandbox). The text of a case is
the instructor's; nothing of the student's is ever executed here.
"""

from __future__ import annotations

import doctest
import io
from typing import Any

MAX_REPORT = 4_000


def run_doctest(source: str, names: dict[str, Any], case: str = "case") -> None:
    """Run the examples of ``source`` against ``names``; raise ``AssertionError`` with what failed."""
    examples = [e for e in doctest.DocTestParser().parse(source, case) if isinstance(e, doctest.Example)]
    test = doctest.DocTest(examples, dict(names), case, None, None, source)
    report = io.StringIO()
    runner = doctest.DocTestRunner(verbose=False, optionflags=0)
    runner.run(test, out=report.write, clear_globs=True)
    if runner.failures:
        raise AssertionError(_readable(report.getvalue()))


def _readable(report: str) -> str:
    """doctest's report without its banners and ``File "case", line N`` lines, which name nothing the
    student has."""
    keep = [line for line in report.splitlines()
            if not line.startswith("*****") and not line.startswith('File "')]
    text = "\n".join(keep).strip()
    return text if len(text) <= MAX_REPORT else text[:MAX_REPORT] + " …"
