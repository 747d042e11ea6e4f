"""Cell errors that are NumPy's API changes, not the student's mistakes.

Course notebooks were written for NumPy 1.x; the grader runs NumPy 2.x. Code that was right then fails
now with ``np.float_`` / ``np.Inf`` (removed aliases), ``np.reshape(a, newshape=...)`` (a keyword since
removed) or ``np.array(x, copy=False)`` (its meaning changed). Such a failure is an environment difference:
this module recognises it from the error alone (NumPy's own "was removed in the NumPy 2.0 release"
message, or a short list of names and keywords NumPy removed without one) and says what changed.

    >>> numpy_change("AttributeError", "`np.Inf` was removed in the NumPy 2.0 release. Use `np.inf` instead.")
    '`np.Inf` was removed in the NumPy 2.0 release. Use `np.inf` instead.'
"""

from __future__ import annotations

import re
from importlib import metadata

NUMPY2 = "(numpy 2)"  # the key environment_failures files these cells under
MAX_EVALUE = 2000

_REMOVED_2_0 = re.compile(r"`np\.[A-Za-z_]\w{0,40}` was removed in the NumPy 2\.0 release\."
                          r"[^\n]{0,160}?(?:\.(?=\s|$)|$)")
_BUILTIN_ALIAS = re.compile(r"`np\.(\w{1,20})` was a deprecated alias for the builtin `(\w{1,20})`")
_NO_ATTR = re.compile(r"module 'numpy' has no attribute '(\w{1,40})'")
# Removed from NumPy 2.x without a message of their own: the name -> what replaces it.
REMOVED_NAMES = {
    "product": "np.prod", "cumproduct": "np.cumprod", "in1d": "np.isin", "trapz": "np.trapezoid",
    "msort": "np.sort(a, axis=0)", "bool8": "np.bool_", "int0": "np.intp", "uint0": "np.uintp",
    "math": "the math module", "alltrue": "np.all", "sometrue": "np.any",
}
_KEYWORD = re.compile(r"(\w{1,40})\(\) got an unexpected keyword argument '(\w{1,40})'")
# (function, keyword) -> what changed
REMOVED_KEYWORDS = {
    ("reshape", "newshape"): "np.reshape's `newshape=` keyword was renamed `shape=` in NumPy 2.1 and then removed; "
                             "`np.reshape(a, newshape=s)` is `np.reshape(a, s)`",
}
_COPY = "Unable to avoid copy while creating an array as requested"


def numpy_change(ename: str, evalue: str) -> str | None:
    """What NumPy changed, when a cell's error is one of its API changes; None for anything else."""
    text = (evalue or "")[:MAX_EVALUE]
    if ename == "AttributeError":
        if m := _REMOVED_2_0.search(text):
            return m.group(0).strip()
        if m := _BUILTIN_ALIAS.search(text):
            return f"`np.{m.group(1)}` (an alias of the builtin `{m.group(2)}`) was removed in NumPy 1.24; use " \
                   f"`{m.group(2)}`"
        if (m := _NO_ATTR.search(text)) and m.group(1) in REMOVED_NAMES:
            return f"`np.{m.group(1)}` was removed in NumPy 2; use {REMOVED_NAMES[m.group(1)]}"
    if ename == "TypeError" and (m := _KEYWORD.search(text)) and (m.group(1), m.group(2)) in REMOVED_KEYWORDS:
        return REMOVED_KEYWORDS[(m.group(1), m.group(2))]
    if ename == "ValueError" and _COPY in text:
        return ("`np.array(x, copy=False)` means 'never copy' since NumPy 2.0 (it meant 'copy if needed'); "
                "`np.asarray(x)` is what it meant before")
    return None


def grader_numpy() -> str:
    """The NumPy version the grader's notebooks run with (the same environment)."""
    try:
        return metadata.version("numpy")
    except metadata.PackageNotFoundError:
        return "2.x"
