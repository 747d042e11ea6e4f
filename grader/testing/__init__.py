"""The public API for instructors' pytest files (``kind: pytest``).

A test file needs nothing imported from mlgrade: the fixtures are there. Its tests receive

- ``notebook``: the student's notebook, run once in the sandbox and kept alive
  (:class:`~grader.testing.objects.Notebook`): ``notebook.call("softmax", x, axis=1)``,
  ``notebook.value("L")``, ``notebook.has("back_propagation")``, ``notebook.errors``,
  ``notebook.stdout``, ``notebook.stored_outputs``;
- ``notebooks``: more notebooks by the names the check gives them (``notebooks["xor"]``);
- ``files``: the submission's files, read-only (``files.text("answer.txt")``, ``files.names``);
- ``model``: ``model("digits.h5")`` reads a Keras file in the sandboxed model server (``.layers``,
  ``.count_params()``, ``.predict(x)``, ``.evaluate(x, y)``);
- ``hidden_rng``: a numpy Generator seeded by the grading seed, the submission and the test;
- ``reference``: the instructor's reference module named by the check, imported in the grader.

Markers: ``@pytest.mark.points(2)`` (default 1; parametrized cases share the points) and
``@pytest.mark.hidden``. The exceptions below are what the fixtures raise when the student's
work does not give what a test asked for; a test may catch them (``pytest.raises``).
"""

from grader.nbexec.session import (
    CallTimeout,
    CannotCross,
    NotDefined,
    NotebookDidNotRun,
    StudentCodeError,
    StudentFailure,
)
from grader.testing.objects import CellError, Model, Notebook, SubmissionFiles

__all__ = [
    "CallTimeout", "CannotCross", "CellError", "Model", "NotDefined", "Notebook", "NotebookDidNotRun",
    "StudentCodeError", "StudentFailure", "SubmissionFiles",
]
