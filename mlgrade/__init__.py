"""mlgrade for students, from Python and from notebooks (Jupyter, JupyterLab, VS Code, Colab).

    import mlgrade
    mlgrade.check("my_hw4.zip")     # the zip you will hand in: the report as a table in the notebook
    mlgrade.check()                 # this notebook (its saved copy) and the files next to it

As the last line of a cell the report is shown as an HTML table; elsewhere ``print()`` it, or
read ``.total`` and ``.result`` (the typed record every output format renders from). It grades
exactly as ``mlgrade check`` does; without bubblewrap (Windows, macOS, Colab) notebooks run
without the sandbox, and the report says so. The command-line tool and the instructor's
features live in the ``grader`` package; this one is the small student-facing API.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from grader import __version__
from grader.student.selfcheck import SelfCheck

__all__ = ["CheckError", "SelfCheck", "__version__", "check"]


class CheckError(Exception):
    """The check could not start (no such file, an unusable rubric): the message says what to do."""


def check(submission: str | os.PathLike | None = None, rubric: str | os.PathLike | None = None, *,
          isolation: str = "auto", notebook: str | None = None, cache: bool = True) -> SelfCheck | None:
    """Check a submission as it will be graded and return the report.

    ``submission``: the ``.zip`` you will hand in, a folder, or a notebook (``"backprop.ipynb"``: its saved
    copy with the files next to it); by default the notebook this is called from, with the files next to
    it. ``rubric``: the rubric file from your instructor (default: ``rubric.yaml`` next to the submission,
    else in the current folder). ``notebook``: in Colab, the name the rubric expects for this notebook
    (``"backprop.ipynb"``): Colab keeps notebooks in Drive, not next to your files, so it is fetched from
    the open tab and checked under that name. ``cache=False``: grade every question again, even those whose
    files did not change since the last check.

    In a notebook a check that cannot start prints why in one line and returns None: a traceback would stop
    the rest of the notebook (``jupyter nbconvert --execute``) for a line the student can act on.
    """
    try:
        return _check(submission, rubric, isolation, notebook, cache)
    except CheckError as e:
        if not _in_kernel():
            raise
        print(f"mlgrade.check: {e}", flush=True)
        return None


def _in_kernel() -> bool:
    """Running in a Jupyter kernel (JupyterLab, VS Code, Colab, nbconvert), not in a script or a terminal."""
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _check(submission, rubric, isolation: str, notebook: str | None, cache: bool) -> SelfCheck:
    from grader.execute.isolation import IsolationUnavailable
    from grader.student.selfcheck import self_check

    if os.environ.get("MLGRADE_SUBMISSION"):  # inside a notebook mlgrade itself is running: never recurse
        raise CheckError("mlgrade.check() does nothing while mlgrade runs this notebook")
    label = note = None
    cleanup = None
    if submission is None:
        from mlgrade import _notebook

        found = _notebook.locate(notebook)
        submission, cleanup, note = found.folder, found.cleanup, found.note
        label = f"{found.notebook.name} and the files next to it"
    source = Path(submission).expanduser()
    if source.suffix.lower() == ".ipynb" and source.is_file():
        from mlgrade import _notebook

        label, note, source = f"{source.name} and the files next to it", _notebook.saved_note(source), source.parent
    try:
        if not source.exists():
            raise CheckError(f"{source}: no such file or folder (give the .zip you will hand in)")
        loaded = _rubric(rubric, source)
        print(f"mlgrade: checking {label or source.name} with {loaded.name!r} (this takes a little while)...",
              flush=True)
        try:
            return self_check(source, loaded, isolation, label=label, first_note=note, remember=cache,
                              again="mlgrade.check(..., cache=False) grades everything again")
        except (IsolationUnavailable, ValueError) as e:
            raise CheckError(f"isolation={isolation!r}: {e}") from None
    finally:
        if cleanup is not None:
            cleanup()


def _rubric(path: str | os.PathLike | None, source: Path):
    from grader.rubric import RubricError, load_rubric

    if path is None:
        near = source if source.is_dir() else source.parent
        candidates = [near / "rubric.yaml", Path("rubric.yaml"), Path(__file__).resolve().parent.parent / "rubric.yaml"]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            raise CheckError("no rubric.yaml next to your submission or in the current folder; pass "
                             "rubric='path/to/rubric.yaml' (your instructor's student kit has one)")
    try:
        return load_rubric(Path(path).expanduser())
    except RubricError as e:
        raise CheckError(f"the rubric cannot be used:\n{e}") from None
