"""The public API for check kinds written outside the package: plugins.

A plugin is a Python file next to a rubric (listed under the rubric's ``plugins:``) or a module
of an installed package (entry point group ``mlgrade.checks``). It registers kinds exactly as
the built-in ones do::

    from pydantic import Field
    from grader.plugin import CheckContext, CheckParams, Outcome, SubmissionProblem, check_kind

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

Rules of the house: a plugin runs in the grader's process, so it must never run student code
(use :func:`notebook_session` for a notebook: the code runs in the sandbox and values cross as
data) nor parse student files without bounds; :class:`SubmissionProblem` is the student's failure
with a reason, any other exception a grader error. ``mlgrade kinds`` lists the kinds and their origin.
"""

from grader.checks._notebook import NotebookLimits, notebook_session
from grader.checks._values import compare, materialize
from grader.nbexec.session import NotebookSession, StudentFailure
from grader.registry import (
    CheckContext,
    CheckParams,
    Outcome,
    RubricFile,
    RubricFunction,
    RubricPath,
    SubmissionProblem,
    check_kind,
)

__all__ = [
    "CheckContext", "CheckParams", "NotebookLimits", "NotebookSession", "Outcome", "RubricFile", "RubricFunction",
    "RubricPath", "StudentFailure", "SubmissionProblem", "check_kind", "compare", "materialize", "notebook_session",
]
