"""One small numpy assignment written for Otter-Grader and for nbgrader, and students' answers to it.

Students write ``square(x)``, ``normalize(v)`` (unit length) and set ``answer = 42`` and
``scaled = 2 * np.arange(5)``. Otter's version has an OK-format question (doctests, one hidden) and
an exception-based one (one hidden); nbgrader's has test cells with points, a hidden test block, a
helper defined by one test cell and used by the next, and a partial-credit cell. The students:
right, wrong in ``normalize``, wrong ``answer`` and ``scaled`` partly right, and a cheat who patches
``np.allclose`` and ``np.isclose`` so that every comparison in the kernel passes.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

SETUP = "import numpy as np"
SOLUTIONS = {
    "square": "def square(x):\n    return x * x",
    "normalize": "def normalize(v):\n    return v / np.linalg.norm(v)",
    "values": "answer = 42\nscaled = 2 * np.arange(5)",
}
STUDENTS = {
    "right": dict(SOLUTIONS),
    "wrong_normalize": {**SOLUTIONS, "normalize": "def normalize(v):\n    return v / v.sum()"},
    "wrong_values": {**SOLUTIONS, "values": "answer = 41\nscaled = np.array([0, 2, 4, 0, 0])"},
    "cheat": {**SOLUTIONS, "normalize": "def normalize(v):\n    return v",
              "values": "answer = 42\nscaled = np.zeros(5)\n"
                                                           "np.allclose = np.isclose = lambda *a, **k: True"},
}


def _nb(cells) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = cells
    return nb


def otter_master(path: Path) -> Path:
    """An ``otter assign`` master notebook: q1 in OK format (doctests), q2 exception-based."""
    config = ("# ASSIGNMENT CONFIG\nname: hw\ninit_cell: false\ncheck_all_cell: false\nexport_cell: false\n"
              "run_tests: true\nsolutions_pdf: false\ngenerate: true\ntests:\n    ok_format: {ok}")

    def question(name, points, solution_keys, tests):
        cells = [new_raw_cell(f"# BEGIN QUESTION\nname: {name}\npoints: {points}"),
                 new_markdown_cell(f"**{name}**")]
        for key in solution_keys:
            sol = SOLUTIONS[key].replace("\n    return", "\n    # BEGIN SOLUTION\n    return") + \
                "\n    # END SOLUTION" if key != "values" else "answer = 42 # SOLUTION\nscaled = 2 * np.arange(5) # SOLUTION"
            cells.append(new_code_cell(sol))
        cells += [new_raw_cell("# BEGIN TESTS")] + [_with_output(t, "True") for t in tests]
        cells += [new_raw_cell("# END TESTS"), new_raw_cell("# END QUESTION")]
        return cells

    q1 = question("q1", 3, ["square", "normalize"], [
        "square(3) == 9",
        "bool(np.allclose(normalize(np.array([3.0, 4.0])), [0.6, 0.8]))",
        "# HIDDEN\nbool(np.isclose(np.linalg.norm(normalize(np.arange(1.0, 6.0))), 1.0))",
    ])
    q2 = question("q2", 2, ["values"], [
        "answer == 42",
        "# HIDDEN\nbool(np.allclose(scaled, 2 * np.arange(5)))",
    ])
    nb = _nb([new_raw_cell(config.format(ok="true")), new_code_cell(SETUP), *q1, *q2])
    nbformat.write(nb, path)
    return path


def _with_output(source: str, shown: str):
    """A test cell as ``otter assign`` reads it: its expected output is the output saved in the master."""
    cell = new_code_cell(source)
    cell.execution_count = 1
    cell.outputs = [new_output("execute_result", data={"text/plain": shown}, execution_count=1)]
    return cell


def nbgrader_source(path: Path) -> Path:
    """nbgrader's source notebook (solution cells, test cells with points and a hidden block)."""
    def cell(src, grade_id=None, solution=False, grade=False, points=0):
        c = new_code_cell(src)
        if grade_id:
            meta = {"grade": grade, "solution": solution, "locked": not solution, "grade_id": grade_id,
                    "schema_version": 3}
            if grade:
                meta["points"] = points
            c.metadata["nbgrader"] = meta
        return c

    nb = _nb([
        new_markdown_cell("# HW: numpy warm-up"),
        cell(SETUP),
        cell(_solution_cell(), "answers", solution=True),
        cell("assert square(3) == 9\nassert square(-2) == 4", "test_square", grade=True, points=1),
        cell("def _unit(v):\n    return np.isclose(np.linalg.norm(v), 1.0)\n\n"
             "assert np.allclose(normalize(np.array([3.0, 4.0])), [0.6, 0.8])\n"
             "### BEGIN HIDDEN TESTS\nassert _unit(normalize(np.arange(1.0, 6.0)))\n### END HIDDEN TESTS",
             "test_normalize", grade=True, points=2),
        cell("assert _unit(normalize(np.array([1.0, 1.0, 1.0, 1.0])))", "test_normalize_again", grade=True,
             points=1),
        cell("assert answer == 42", "test_answer", grade=True, points=1),
        cell("sum(bool(np.isclose(s, 2 * i)) for i, s in enumerate(scaled)) * 0.4", "test_scaled", grade=True,
             points=2),
    ])
    nbformat.write(nb, path)
    return path


def _solution_cell() -> str:
    return "\n\n".join(SOLUTIONS[k] for k in ("square", "normalize", "values")).replace(
        "def square(x):\n    return", "def square(x):\n    ### BEGIN SOLUTION\n    return").replace(
        "x * x", "x * x\n    ### END SOLUTION").replace(
        "def normalize(v):\n    return", "def normalize(v):\n    ### BEGIN SOLUTION\n    return").replace(
        "np.linalg.norm(v)", "np.linalg.norm(v)\n    ### END SOLUTION").replace(
        "answer = 42\nscaled = 2 * np.arange(5)", "### BEGIN SOLUTION\nanswer = 42\nscaled = 2 * np.arange(5)\n"
                                                   "### END SOLUTION")


def fill(released: Path, student: str, out: Path) -> Path:
    """The released notebook with ``student``'s answers in place of its solution cells."""
    nb = nbformat.read(released, as_version=4)
    answers = STUDENTS[student]
    markers = {"square": "def square(", "normalize": "def normalize(", "values": "answer ="}
    for c in nb.cells:
        if c.cell_type != "code" or "assert" in c.source or "==" in c.source:
            continue
        keys = [k for k, m in markers.items() if m in c.source]
        if keys and "NotImplementedError" in c.source:  # nbgrader's one answer cell holds all three
            keys = list(markers)
        if keys:
            c.source = "\n\n".join(answers[k] for k in keys)
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)
    return out
