"""Stage 2: execute student notebooks in a separate, limited (and on Linux, sandboxed) process.

The worker talks to a long-lived *runner* process (:mod:`grader.nbexec.runner`)
that drives nbclient; each notebook gets a fresh kernel in its own job folder.
The worker enforces the whole-notebook wall clock from outside and kills the
runner (and with it every kernel) when it is exceeded, because nbclient's own
interrupt can hang forever on a cell that ignores SIGINT.
"""

from grader.nbexec.client import NotebookRunner, get_runner
from grader.nbexec.jobs import CellReport, NotebookJob, NotebookRun, ProbeSpec

__all__ = ["CellReport", "NotebookJob", "NotebookRun", "NotebookRunner", "ProbeSpec", "get_runner"]
