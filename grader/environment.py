"""The grading environment, as opposed to the student: which packages it has, and whose fault an error is.

A notebook that imports a package the environment lacks fails with ``ModuleNotFoundError`` in
every cell that needs it. That is not the student's mistake, and a report that lists those cells
as "errors" reads as if it were. This module (1) checks at start that the packages a rubric
``requires:`` import, naming the missing ones and the command that installs them, and (2) tells
apart, in a run's cell errors, the ones caused by a missing package, so reports can say so plainly
and a batch can list the packages to add once.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from collections.abc import Iterable

# Import names that differ from the name pip installs.
PIP_NAMES = {
    "sklearn": "scikit-learn", "cv2": "opencv-python-headless", "PIL": "Pillow", "skimage": "scikit-image",
    "yaml": "PyYAML", "bs4": "beautifulsoup4", "tensorflow": "tensorflow-cpu", "google.colab": "(Colab only)",
}
_MISSING = re.compile(r"No module named '([A-Za-z0-9_.]{1,100})'")


def pip_name(module: str) -> str:
    top = module.split(".")[0]
    return PIP_NAMES.get(module) or PIP_NAMES.get(top) or top.replace("_", "-")


def missing_module(ename: str, evalue: str) -> str | None:
    """The top-level module a cell error says is missing (``seaborn`` for ``No module named
    'seaborn.objects'``), or None when the error is something else."""
    if ename not in ("ModuleNotFoundError", "ImportError"):
        return None
    m = _MISSING.search(evalue or "")
    return m.group(1).split(".")[0] if m else None


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_packages(modules: Iterable[str], timeout: float = 180.0) -> dict[str, str]:
    """The packages among ``modules`` that do not import in this environment, with why.

    Imported in a child process (a broken install imports badly; the grader must not load TensorFlow
    itself), after a cheap ``find_spec`` for the ones that are simply not there."""
    problems: dict[str, str] = {}
    present = []
    for m in dict.fromkeys(modules):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", m):
            problems[m] = "not a module name"
        elif not installed(m):
            problems[m] = "not installed"
        else:
            present.append(m)
    for m in present:
        try:
            res = subprocess.run([sys.executable, "-c", f"import {m}"], capture_output=True, text=True,
                                 timeout=timeout)
        except subprocess.TimeoutExpired:
            problems[m] = f"importing it took longer than {timeout:.0f} s"
            continue
        if res.returncode != 0:
            last = (res.stderr.strip().splitlines() or ["failed"])[-1]
            problems[m] = f"installed but does not import ({last[:200]})"
    return problems


def install_hint(modules: Iterable[str]) -> str:
    names = [pip_name(m) for m in modules if not pip_name(m).startswith("(")]
    return f"{sys.executable} -m pip install " + " ".join(dict.fromkeys(names)) if names else ""
