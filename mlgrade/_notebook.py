"""Which notebook ``mlgrade.check()`` was called from, and the folder to check with it.

Jupyter Server (JupyterLab, Notebook 7) tells the kernel its notebook in ``JPY_SESSION_NAME``
(ipykernel also sets ``__session__``); VS Code sets ``__vsc_ipynb_file__``. What is checked is
the notebook's *saved* copy and the files next to it, as a folder submission. Colab keeps
notebooks in Drive, not beside the files: there the open notebook is fetched from the browser
tab and written, under the name the rubric expects, into a private folder with copies of the
files in the current folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# Colab's own folders in /content that are not the student's files (Drive can be terabytes).
COLAB_SKIP = {"drive", "sample_data", ".config"}


@dataclass
class Located:
    folder: Path  # what is checked, as a folder submission
    notebook: Path  # the notebook file in it
    note: str  # for the report: which copy of the notebook was checked
    cleanup: Callable[[], None] | None = None


def saved_note(path: Path) -> str:
    import time

    saved = time.strftime("%H:%M:%S", time.localtime(path.stat().st_mtime))
    return (f"checked the saved copy of {path.name} (saved at {saved}) with the files next to it; save the "
            "notebook first if you changed it since")


def locate(colab_name: str | None = None) -> Located:
    from mlgrade import CheckError

    if _in_colab():
        if not colab_name:
            raise CheckError("in Colab, say which notebook of the assignment this is: "
                             "mlgrade.check(notebook='backprop.ipynb'), or check the zip you will hand in: "
                             "mlgrade.check('my_hw4.zip')")
        return _colab(colab_name)
    path = open_notebook()
    if path is None:
        raise CheckError(cannot_tell())
    return Located(path.parent, path, saved_note(path))


def cannot_tell(folder: Path | None = None) -> str:
    """One line: which notebook is unknown here (nbconvert, an old Jupyter server), and what to pass instead,
    with this folder's own notebook names where there are some."""
    folder = folder or Path.cwd()
    try:
        names = sorted(p.name for p in folder.iterdir() if p.suffix.lower() == ".ipynb" and p.is_file())[:3]
    except OSError:
        names = []
    example = names[0] if names else "backprop.ipynb"
    return (f"could not tell which notebook this is (jupyter nbconvert and Jupyter servers before 2.0 do not say); "
            f"name it, mlgrade.check({example!r}), or check the zip you will hand in, mlgrade.check('my_hw4.zip')")


def open_notebook() -> Path | None:
    """The notebook file this kernel runs, where the front end says so."""
    candidates: list[str] = []
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is not None:
        for name in ("__vsc_ipynb_file__", "__session__"):
            value = shell.user_ns.get(name)
            if isinstance(value, str):
                candidates.append(value)
    if os.environ.get("JPY_SESSION_NAME"):
        candidates.append(os.environ["JPY_SESSION_NAME"])
    for value in candidates:
        if not value.lower().endswith(".ipynb"):
            continue
        path = Path(value)
        # Jupyter Server names the notebook relative to its root before 2.11 and absolutely after; the
        # kernel runs in the notebook's folder either way.
        for option in (path, Path.cwd() / path.name):
            if option.is_absolute() and option.is_file():
                return option.resolve()
    return None


def _in_colab() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("google.colab") is not None and bool(
            os.environ.get("COLAB_RELEASE_TAG") or os.environ.get("COLAB_GPU") is not None)
    except (ImportError, ValueError):
        return False


def _colab(name: str) -> Located:
    import json

    from mlgrade import CheckError

    if Path(name).name != name or not name.lower().endswith(".ipynb"):
        raise CheckError(f"notebook={name!r}: give the notebook's file name, like 'backprop.ipynb'")
    try:
        from google.colab import _message  # Colab's own front-end channel, also used by its "Download .ipynb"

        reply = _message.blocking_request("get_ipynb", request="", timeout_sec=60)
        notebook = reply["ipynb"]
    except Exception as e:
        raise CheckError(f"could not read this notebook from Colab ({type(e).__name__}: {e}); download it "
                         "(File > Download .ipynb), zip it with your files and check the zip") from None
    folder = Path(tempfile.mkdtemp(prefix="mlgrade-colab-"))
    try:
        _copy_files(Path.cwd(), folder)
        (folder / name).write_text(json.dumps(notebook), encoding="utf-8")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    note = (f"checked this notebook as it is open in Colab, as {name}, with the files of {Path.cwd()} "
            "(not Drive, not sample_data)")
    return Located(folder, folder / name, note, cleanup=lambda: shutil.rmtree(folder, ignore_errors=True))


def _copy_files(src: Path, dest: Path, limit: int = 512 * 1024**2) -> None:
    """The student's files of the current folder (not Drive, not Colab's samples, no links), up to ``limit``
    bytes in all: the unpacker applies the rubric's own limits afterwards."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if not (here == src and d in COLAB_SKIP)
                       and not os.path.ismount(here / d) and not (here / d).is_symlink()]
        for f in filenames:
            p = here / f
            if p.is_symlink() or not p.is_file():
                continue
            total += p.stat().st_size
            if total > limit:
                from mlgrade import CheckError

                raise CheckError(f"the files in {src} add up to more than {limit // 1024**2} MiB; put what you "
                                 "hand in into a zip and check that: mlgrade.check('my_hw4.zip')")
            target = dest / p.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, target)
