"""What checks put in their result details for the feedback page, graded for real."""

from __future__ import annotations

import pytest
from helpers import grade_files, isolation_modes, notebook_bytes

from grader.core.options import GradeOptions
from grader.render import ClassReport, get_format
from grader.rubric import parse_rubric

RUBRIC = """
name: details
questions:
  - id: nb
    title: notebook
    points: 1
    files: [xor.ipynb]
    checks: [{kind: notebook_value, notebook: xor.ipynb, expr: x, expected: 1, cell_timeout: 30, notebook_timeout: 60}]
"""


@pytest.mark.parametrize("isolation", isolation_modes())
def test_a_failing_cell_reaches_the_page_with_its_source_and_traceback(tmp_path, isolation):
    nb = notebook_bytes("import numpy as np\nx = 1", "def f(a):\n    return a['missing']\n\nf({})  # <b>here</b>",
                        "print('after')")
    r = grade_files(tmp_path, {"xor.ipynb": nb}, RUBRIC, GradeOptions(isolation=isolation))
    errors = r.question("nb").checks[0].details["notebook_errors"]
    assert len(errors) == 1
    e = errors[0]
    assert e["cell"] == "In [2]" and e["notebook"] == "xor.ipynb" and e["ename"] == "KeyError"
    assert "return a['missing']" in e["source"] and "f({})" in e["source"]
    assert "KeyError" in e["traceback"] and "\x1b" not in e["traceback"]
    page = get_format("html").render(r, ClassReport(parse_rubric(RUBRIC), [r]))
    assert "xor.ipynb In [2]: KeyError" in page and "&lt;b&gt;here&lt;/b&gt;" in page
