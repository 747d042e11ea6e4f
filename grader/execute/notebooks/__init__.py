"""Stage 2: execute student notebooks, each in a fresh kernel, under the run's isolation backend.

:mod:`grader.execute.notebooks.executor` reads the notebook and names the cells as the student
sees them; the backend (:mod:`grader.execute.isolation`) runs the kernel
(:mod:`grader.insandbox.kernel`) and its supervisor (:mod:`grader.insandbox.supervise`),
which enforces the per-cell timeout and the notebook's wall clock from outside the kernel.
"""

from grader.execute.notebooks.executor import NotebookRunner, get_runner, run_notebook
from grader.execute.notebooks.jobs import CellReport, NotebookJob, NotebookRun

__all__ = ["CellReport", "NotebookJob", "NotebookRun", "NotebookRunner", "get_runner", "run_notebook"]
