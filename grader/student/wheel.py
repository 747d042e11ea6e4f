"""mlgrade as a wheel built from this installation: for students (light) and for autograders (whole).

No build backend and no network: the installed files and metadata are zipped in a fixed order with a
fixed timestamp, so the same installation gives the same bytes, whatever way it was installed (a
wheel, an editable checkout). Two flavours:

- ``student``: what a self-check needs. The instructor's scaffolding (``grader/templates``) stays out,
  and the dependencies are the light set: the model server runs students' models in numpy when Keras
  is absent (``pip install 'mlgrade[keras]'`` adds Keras and JAX for exact grading behaviour);
- ``grading``: the installation as it is, with its declared dependencies (Gradescope's ``setup.sh``).

Course content is never part of either: ``reference/`` and ``rubrics/`` are not packages of mlgrade.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import stat
import zipfile
from pathlib import Path

from grader import __version__

TOP_LEVEL = ("grader", "mlgrade")
ZIP_TIME = (2020, 1, 1, 0, 0, 0)
SKIP_DIRS = {"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"}
STUDENT_SKIP = ("grader/authoring/templates/",)  # `mlgrade init assignment`'s worked example: an instructor's tool
# The model server's numpy engine: shipped only when the build's checks run models, since its activations (relu,
# softmax, ...) are exactly what some assignments ask students to write.
NUMPY_ENGINE = ("grader/insandbox/npmodel.py", "grader/insandbox/nplayers.py", "grader/insandbox/npact.py")
# What a student's self-check imports (the light set); platform markers as in pyproject.toml.
STUDENT_REQUIRES = [
    "numpy>=1.24", "pydantic>=2.5", "PyYAML>=6.0", "rich>=13.0", "Pillow>=10.0", "h5py>=3.8", "nbformat>=5.9",
    "ipython>=8.0", "matplotlib>=3.7", "pytest>=7.4", "pywin32>=306; sys_platform == 'win32'",
]
STUDENT_EXTRAS = {"keras": ["keras>=3.0", "jax>=0.4"]}


class WheelError(Exception):
    pass


def _distribution():
    from importlib import metadata


    # The installed one (a .dist-info with METADATA), not a source tree's .egg-info that happens to be on sys.path.
    found = sorted(metadata.distributions(name="mlgrade"), key=lambda d: d.read_text("METADATA") is None)
    if not found:
        raise WheelError("mlgrade is not installed as a package here (pip install . in its repository)")
    dist = found[0]
    if dist.version != __version__:
        raise WheelError(f"the installed metadata says mlgrade {dist.version} but the code is {__version__}; "
                         "reinstall (pip install -e .) so the wheel is what runs here")
    return dist


def _package_files(student: bool, skip: tuple[str, ...] = ()) -> list[tuple[str, Path]]:
    """(path in the wheel, file) for every file of the installed packages: modules, and the data that
    notebooks see while graded (fake pip, Colab shim); no caches, no links, nothing hidden."""
    import importlib.util

    files = []
    for name in TOP_LEVEL:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise WheelError(f"package {name} is not importable here")
        root = Path(list(spec.submodule_search_locations)[0])
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".")
                                 and not (Path(dirpath) / d).is_symlink() and not d.endswith(".egg-info"))
            for f in sorted(filenames):
                p = Path(dirpath) / f
                if f.startswith(".") or f.endswith((".pyc", "~")) or p.is_symlink() or not p.is_file():
                    continue
                arcname = f"{name}/{p.relative_to(root).as_posix()}"
                if (student and arcname.startswith(STUDENT_SKIP)) or arcname.startswith(skip):
                    continue
                files.append((arcname, p))
    return files


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")


def _student_metadata(text: str, keras: bool) -> str:
    """The installed METADATA with the light dependencies in place of the grading ones (Keras among them when
    ``keras``: a build that runs models without the numpy engine)."""
    head, _, body = text.partition("\n\n")
    kept = [ln for ln in head.splitlines() if not ln.startswith(("Requires-Dist:", "Provides-Extra:"))]
    kept += [f"Requires-Dist: {r}" for r in STUDENT_REQUIRES + (STUDENT_EXTRAS["keras"] if keras else [])]
    for extra, reqs in ({} if keras else STUDENT_EXTRAS).items():
        kept.append(f"Provides-Extra: {extra}")
        kept += [f"Requires-Dist: {r}; extra == \"{extra}\"" for r in reqs]
    kept = [("Summary: mlgrade for students: self-check your homework as it will be graded"
             if ln.startswith("Summary:") else ln) for ln in kept]
    return "\n".join(kept) + "\n\n" + body


def wheel_name() -> str:
    return f"mlgrade-{_distribution().version}-py3-none-any.whl"


def requires_python() -> str:
    return _distribution().metadata.get("Requires-Python") or ""


def build_wheel(student: bool, models: str = "numpy") -> tuple[str, bytes]:
    """This installation of mlgrade as a pure-Python wheel: ``(file name, bytes)``. For students, ``models`` says
    how model files run: ``numpy`` (the light engine), ``keras`` (Keras and JAX as dependencies, no numpy engine)
    or ``none`` (the build runs no model: neither)."""
    if models not in ("numpy", "keras", "none"):
        raise ValueError(f"models must be numpy, keras or none, got {models!r}")
    dist = _distribution()
    meta_dir = f"mlgrade-{dist.version}.dist-info"
    entries: list[tuple[str, bytes, int]] = []
    skip = NUMPY_ENGINE if student and models != "numpy" else ()
    for arcname, path in _package_files(student, skip):
        mode = 0o755 if path.stat().st_mode & stat.S_IXUSR else 0o644
        entries.append((arcname, path.read_bytes(), mode))
    metadata_text = dist.read_text("METADATA") or dist.read_text("PKG-INFO")
    if not metadata_text:
        raise WheelError("the installed mlgrade has no METADATA")
    if student:
        metadata_text = _student_metadata(metadata_text, keras=models == "keras")
    entries.append((f"{meta_dir}/METADATA", metadata_text.encode("utf-8"), 0o644))
    entries.append((f"{meta_dir}/WHEEL", (
        b"Wheel-Version: 1.0\nGenerator: mlgrade (its own installation)\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    ), 0o644))
    entry_points = dist.read_text("entry_points.txt")
    if entry_points:
        entries.append((f"{meta_dir}/entry_points.txt", entry_points.encode("utf-8"), 0o644))
    entries.append((f"{meta_dir}/top_level.txt", ("\n".join(TOP_LEVEL) + "\n").encode(), 0o644))
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data, _ in entries)
    record += f"{meta_dir}/RECORD,,\n"
    entries.append((f"{meta_dir}/RECORD", record.encode(), 0o644))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return f"mlgrade-{dist.version}-py3-none-any.whl", buf.getvalue()
