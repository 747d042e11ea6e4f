"""The one door for instructors' Python: check kinds (plugins) and pytest files (``kind: pytest``).

**Plugins.** A plugin is a Python file next to a rubric (listed under the rubric's ``plugins:``) or a
module of an installed package (entry point group ``mlgrade.checks``). It registers kinds exactly as
the built-in ones do::

    from pydantic import Field
    from grader.api import CheckContext, CheckParams, Outcome, SubmissionProblem, check_kind

    class WordCountParams(CheckParams):
        file: str = Field(min_length=1)     # a file of the submission (any folder, any case)
        minimum: int = 100

    @check_kind("word_count", WordCountParams)
    def word_count(ctx: CheckContext, p: WordCountParams) -> Outcome:
        \"\"\"The essay has enough words.\"\"\"
        path, rel = ctx.submission.require(p.file)
        words = len(path.read_text(errors="replace").split())
        return Outcome(min(1.0, words / p.minimum), f"{rel}: {words} words, {p.minimum} expected")

A package declares its module in ``pyproject.toml``::

    [project.entry-points."mlgrade.checks"]
    word_count = "my_course.checks"

Rules of the house: a plugin runs in the grader's process, so it must never run student code (use
:func:`notebook_session` for a notebook: the code runs in the sandbox and values cross as data) nor
parse student files without bounds; :class:`SubmissionProblem` is the student's failure with a reason,
any other exception a grader error. ``mlgrade kinds`` lists the kinds and their origin.

**pytest files.** A test file needs nothing imported from mlgrade: the fixtures are there
(:mod:`grader.checks.pytest`): ``notebook`` (``.call``, ``.value``, ``.has``, ``.errors``, ``.stdout``,
``.stored_outputs``), ``notebooks``, ``files``, ``model``, ``hidden_rng``, ``reference``, ``options``,
``feedback``; ``notebook.bind(name)`` gives a name as a test written for the student's kernel expects it
(tests converted by ``mlgrade import``, with :func:`run_doctest` for Otter's doctest cases); markers
``@pytest.mark.points(n)`` and ``@pytest.mark.hidden``. The exceptions below are
what the fixtures raise when the student's work does not give what a test asked for; a test may catch
them (``pytest.raises``).
"""

from grader.checks.notebooks import NotebookLimits, notebook_session
from grader.checks.pytest.doctests import run_doctest
from grader.checks.pytest.fixtures import CellError, KernelFunction, Model, Notebook, SubmissionFiles
from grader.checks.values import compare, materialize
from grader.core.errors import SubmissionProblem
from grader.execute.notebooks.session import (
    CallTimeout,
    CannotCross,
    NotDefined,
    NotebookDidNotRun,
    NotebookSession,
    StudentCodeError,
    StudentFailure,
)
from grader.rubric.kinds import (
    CheckContext,
    CheckParams,
    Outcome,
    RubricFile,
    RubricFunction,
    RubricPath,
    check_kind,
)

__all__ = [
    "CallTimeout", "CannotCross", "CellError", "CheckContext", "CheckParams", "KernelFunction", "Model", "NotDefined",
    "Notebook",
    "NotebookDidNotRun", "NotebookLimits", "NotebookSession", "Outcome", "RubricFile", "RubricFunction", "RubricPath",
    "StudentCodeError", "StudentFailure", "SubmissionFiles", "SubmissionProblem", "check_kind", "compare",
    "materialize", "notebook_session", "run_doctest",
]
