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

from grader.core.errors import UsageError
from grader.core.npchanges import NUMPY2, numpy_change

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


# Packages a course notebook may import that a grading environment could lack: a ModuleNotFoundError for
# one of these is the environment's failing; for any other name it may be the student's own module.
KNOWN_PACKAGES = {
    "numpy", "scipy", "pandas", "matplotlib", "seaborn", "sklearn", "tensorflow", "keras", "torch",
    "torchvision", "jax", "cv2", "PIL", "skimage", "plotly", "statsmodels", "xgboost", "lightgbm", "tqdm",
    "h5py", "sympy", "networkx", "nltk", "gensim", "transformers", "datasets", "imageio", "bokeh", "altair",
    "ipywidgets", "mlxtend", "yaml", "requests", "bs4", "tensorflow_datasets", "tensorflow_hub", "google",
    "pydot", "graphviz", "numba", "cupy", "catboost", "optuna", "wandb", "missingno", "wordcloud",
}
_IMPORT = re.compile(r"^[ \t]*import[ \t]+([A-Za-z_][\w.]*)(?:[ \t]+as[ \t]+([A-Za-z_]\w*))?", re.M)
_FROM = re.compile(r"^[ \t]*from[ \t]+([A-Za-z_][\w.]*)[ \t]+import[ \t]+\(?([\w ,\t]{1,2000})", re.M)
_NAME_ERROR = re.compile(r"name '([A-Za-z_]\w{0,100})' is not defined")
MAX_SOURCE_CHARS = 200_000


def imported_names(source: str) -> dict[str, str]:
    """``{name bound by an import: top-level module}`` for the import lines of a cell (linear-time)."""
    source = source[:MAX_SOURCE_CHARS]
    names: dict[str, str] = {}
    for m in _IMPORT.finditer(source):
        module, alias = m.group(1), m.group(2)
        names[alias or module.split(".")[0]] = module.split(".")[0]
    for m in _FROM.finditer(source):
        module = m.group(1).split(".")[0]
        for part in m.group(2).split(","):
            bits = part.split()
            if bits:
                names[bits[-1]] = module
    return names


# Errors of a cell that tried to reach the network (a data set download): grading runs offline.
_NETWORK = re.compile(r"URL fetch failure|Name or service not known|Temporary failure in name resolution|"
                      r"Network is unreachable|getaddrinfo failed|Failed to establish a new connection|"
                      r"No address associated with hostname|urlopen error")
_NETWORK_ENAMES = {"URLError", "gaierror", "ConnectionError", "HTTPError", "ConnectTimeout", "SSLError"}
NETWORK = "(network)"
_ASSIGN = re.compile(r"^[ \t]*([(\[]{0,5}[A-Za-z_][\w \t,()\[\]]{0,300}?)[ \t]*=[^=]", re.M)


def assigned_names(source: str) -> set[str]:
    """Names a cell assigns at top level (``(x_train, y_train), _ = load()`` -> x_train, y_train, _)."""
    names: set[str] = set()
    for m in _ASSIGN.finditer(source[:MAX_SOURCE_CHARS]):
        names.update(re.findall(r"[A-Za-z_]\w*", m.group(1)))
    return names


def is_network_error(ename: str, evalue: str) -> bool:
    return ename in _NETWORK_ENAMES or bool(_NETWORK.search((evalue or "")[:2000]))


def environment_failures(cells, sources: dict[int, str]) -> tuple[dict[str, list], list]:
    """Split failing cells into those the environment caused and the student's own.

    ``cells``: cell reports with ``ename``, ``evalue``, ``index``; ``sources``: cell index -> source.
    Returns ``({missing module: [cell reports that failed because of it]}, [the student's own failures])``.
    A cell fails because of the environment when it imports a known package the environment lacks, or
    uses a name such an import would have defined (``sns`` after ``import seaborn as sns`` failed), or
    when its error is one of NumPy 2's API changes (filed under :data:`NUMPY2`; then the names it
    assigns are lost too)."""
    by_module: dict[str, list] = {}
    own: list = []
    lost: dict[str, str] = {}  # name -> missing module that would have defined it
    for c in cells:
        if is_network_error(c.ename, c.evalue):
            by_module.setdefault(NETWORK, []).append(c)
            for name in assigned_names(sources.get(c.index, "")) | set(imported_names(sources.get(c.index, ""))):
                lost.setdefault(name, NETWORK)
            continue
        if numpy_change(c.ename, c.evalue) is not None:
            by_module.setdefault(NUMPY2, []).append(c)
            for name in assigned_names(sources.get(c.index, "")):
                lost.setdefault(name, NUMPY2)
            continue
        module = missing_module(c.ename, c.evalue)
        if module is not None and module in KNOWN_PACKAGES and not installed(module):
            by_module.setdefault(module, []).append(c)
            for name, mod in imported_names(sources.get(c.index, "")).items():
                lost[name] = mod if mod == module else lost.get(name, mod)
            continue
        m = _NAME_ERROR.search(c.evalue or "") if c.ename == "NameError" else None
        if m and m.group(1) in lost:
            by_module.setdefault(lost[m.group(1)], []).append(c)
            continue
        own.append(c)
    return by_module, own


def check_requirements(requires: list[str], command: str) -> None:
    """The packages the rubric ``requires`` must import here: grading refuses to start without them (every
    notebook that needs one would fail for the environment's reasons); a self-check says so and goes on."""
    if not requires:
        return
    import sys


    missing = missing_packages(requires)
    if not missing:
        return
    listed = "; ".join(f"{m}: {why}" for m, why in missing.items())
    hint = install_hint(missing)
    if command == "grade":
        raise UsageError(f"the rubric requires packages this environment lacks ({listed})"
                         + (f"; install them with: {hint}" if hint else ""))
    print(f"mlgrade: note: the grading environment has {', '.join(missing)}, this one does not ({listed}); "
          "cells that import them fail here but not when graded", file=sys.stderr)
