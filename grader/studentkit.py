"""``mlgrade export student-kit``: everything a student needs to self-check, and nothing they must not see.

The kit is one zip with one folder, ``mlgrade-kit/``:

- ``mlgrade-<version>-py3-none-any.whl``: this installation of mlgrade as a wheel, built here from
  the installed files and metadata (no build backend, no network: the same bytes every time);
- ``rubric.yaml``: the instructor's rubric made public: every ``hidden: true`` question keeps its
  id, title, points and files, but its checks become ``graded_by_instructor`` (the self-check shows
  "graded by your instructor"); the instructor's comments are dropped; hidden data never enters;
- ``README.md``: the commands for Windows, macOS/Linux and Colab, with this kit's file names, and
  what differs from the real grading.

The wheel holds the grader and ``reference/`` (the self-check compares with the reference
implementations, as grading does): a student who unpacks it can read them. Hidden *inputs* stay
unpredictable only through the grading seed (``mlgrade grade --seed``).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from grader.rubric import Rubric, parse_rubric

KIT_FOLDER = "mlgrade-kit"
TOP_LEVEL = ("grader", "mlgrade", "reference")
ZIP_TIME = (2020, 1, 1, 0, 0, 0)  # fixed: the same installation gives the same kit, byte for byte
SKIP_DIRS = {"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"}


class KitError(Exception):
    pass


@dataclass
class Kit:
    path: Path
    wheel_name: str
    hidden: list[str]  # question ids shown as "graded by your instructor"
    files: list[str]  # what the zip holds


# --------------------------------------------------------------------------- the wheel

def _distribution():
    from importlib import metadata

    from grader import __version__

    # The installed one (a .dist-info with METADATA), not a source tree's .egg-info that happens to be on sys.path.
    found = sorted(metadata.distributions(name="mlgrade"), key=lambda d: d.read_text("METADATA") is None)
    if not found:
        raise KitError("mlgrade is not installed as a package here (pip install . in its repository)")
    dist = found[0]
    if dist.version != __version__:
        raise KitError(f"the installed metadata says mlgrade {dist.version} but the code is {__version__}; "
                       "reinstall (pip install -e .) so the wheel is what runs here")
    return dist


def _package_dirs() -> list[tuple[str, Path]]:
    import importlib.util

    out = []
    for name in TOP_LEVEL:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise KitError(f"package {name} is not importable here")
        out.append((name, Path(list(spec.submodule_search_locations)[0])))
    return out


def _package_files() -> list[tuple[str, Path]]:
    """(path in the wheel, file) for every file of the installed packages: modules, and the data that
    notebooks see while graded (fake pip, Colab shim); no caches, no links, nothing hidden."""
    files = []
    for name, root in _package_dirs():
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".")
                                 and not (Path(dirpath) / d).is_symlink())
            for f in sorted(filenames):
                p = Path(dirpath) / f
                if f.startswith(".") or f.endswith((".pyc", "~")) or p.is_symlink() or not p.is_file():
                    continue
                files.append((f"{name}/{p.relative_to(root).as_posix()}", p))
    return files


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")


def build_wheel() -> tuple[str, bytes]:
    """This installation of mlgrade as a pure-Python wheel: ``(file name, bytes)``."""
    dist = _distribution()
    version = dist.version
    meta_dir = f"mlgrade-{version}.dist-info"
    entries: list[tuple[str, bytes, int]] = []
    for arcname, path in _package_files():
        mode = 0o755 if path.stat().st_mode & stat.S_IXUSR else 0o644
        entries.append((arcname, path.read_bytes(), mode))
    metadata_text = dist.read_text("METADATA") or dist.read_text("PKG-INFO")
    if not metadata_text:
        raise KitError("the installed mlgrade has no METADATA")
    entries.append((f"{meta_dir}/METADATA", metadata_text.encode("utf-8"), 0o644))
    entries.append((f"{meta_dir}/WHEEL", (
        b"Wheel-Version: 1.0\nGenerator: mlgrade export student-kit\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
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
    return f"mlgrade-{version}-py3-none-any.whl", buf.getvalue()


# --------------------------------------------------------------------------- the rubric

def public_rubric_yaml(text: str, source: str) -> tuple[str, list[str]]:
    """The rubric a student may hold, as YAML, and the ids of the questions graded only by the instructor."""
    base = Path(source).resolve().parent
    rubric = parse_rubric(text, source, base_dir=base)  # refuses a rubric that would not grade, with key paths
    data = yaml.safe_load(text)
    hidden = []
    for q in data.get("questions", []):
        if q.get("hidden") is True:
            hidden.append(str(q["id"]))
            q["checks"] = [{"kind": "graded_by_instructor"}]
    header = (f"# The public rubric of {rubric.name!r}, from the instructor's student kit (mlgrade export "
              "student-kit).\n# Questions marked hidden are graded by your instructor; they are listed so you "
              "know their files and points.\n")
    out = header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    parse_rubric(out, "rubric.yaml", base_dir=base, builtin_packs=False)  # what the student gets must load
    return out, hidden


# --------------------------------------------------------------------------- the README

def readme(rubric: Rubric, wheel: str, kit_zip: str, hidden: list[str], requires_python: str) -> str:
    files = sorted({p for q in rubric.questions for p in q.files})
    python = f"{requires_python[2:]} or newer" if requires_python.startswith(">=") else requires_python or "3"
    hidden_line = (f"- Questions {', '.join(hidden)} are graded by your instructor with hidden tests; the check "
                   "shows them as pending with 0 points.\n") if hidden else ""
    return f"""# Self-check kit: {rubric.name}

This folder lets you check your submission exactly as it will be graded, on your own computer or
in Google Colab. It holds mlgrade (`{wheel}`), the public rubric (`rubric.yaml`) and this README.

What to hand in: one `.zip` holding {', '.join(f'`{f}`' for f in files) or 'the files the rubric lists'}
(any folder layout; names match in any letter case).

You need Python {python} and an internet connection the first time (pip downloads
mlgrade's own dependencies: numpy, Keras, JAX, ...). Put your zip into this folder (here it is called
`my_hw4.zip`: use your file's name), open a terminal in this folder, and run the three commands for
your system. The first two install mlgrade into a folder `mlgrade-env` here, once; afterwards only the
last one is needed.

## Windows (PowerShell or Command Prompt)

```
py -m venv mlgrade-env
.\\mlgrade-env\\Scripts\\python -m pip install {wheel}
.\\mlgrade-env\\Scripts\\mlgrade check my_hw4.zip
```

(If `py` is not found, use `python` instead; Python comes from python.org or the Microsoft Store.)

## macOS and Linux

```
python3 -m venv mlgrade-env
mlgrade-env/bin/python -m pip install {wheel}
mlgrade-env/bin/mlgrade check my_hw4.zip
```

(Debian/Ubuntu: `sudo apt-get install python3-venv` first if `venv` is missing. On Linux,
`sudo apt-get install bubblewrap` makes the check run your notebooks in the grader's sandbox.)

## Google Colab

Upload `{kit_zip}` and your `my_hw4.zip` with the Files pane (the folder icon on the left), then
run in a code cell:

```
!unzip -q -o {kit_zip}
%pip install -q {KIT_FOLDER}/{wheel}
!mlgrade check my_hw4.zip --rubric {KIT_FOLDER}/rubric.yaml
```

## From inside a notebook (Jupyter, VS Code, Colab)

After the install above (in Jupyter: `%pip install {wheel}` in a cell of the notebook):

```python
import mlgrade
mlgrade.check("my_hw4.zip", rubric="rubric.yaml")   # the report as a table
```

`mlgrade.check(rubric="rubric.yaml")` with no zip checks the open notebook's saved copy and the
files next to it (in Colab add `notebook="the_name.ipynb"`). A `mlgrade.check()` left in a notebook
does nothing when that notebook is graded.

## What is the same as the real grading, and what is not

- The same checks, limits and reasons: every question shows its score and why.
- Without Linux and bubblewrap (Windows, macOS, Colab) your notebooks run without the grader's
  sandbox, as you: for a check of your own code that changes nothing, and the report says so. As in
  grading, they get no network and the same time limits.
- Scores relative to the class (for example "your accuracy / the best in the class") are
  provisional here: the real score is known when the whole class is graded.
{hidden_line}- Hidden inputs are drawn from your files and the grading seed: your instructor's may differ from the
  ones shown here, the checks are the same.
- Your computer's packages may differ from the grading environment's; a cell that imports a package
  you lack fails here but not when graded (the report names it).
"""


# --------------------------------------------------------------------------- the kit

def export_student_kit(rubric_path: Path, out: Path) -> Kit:
    try:
        text = Path(rubric_path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise KitError(f"{rubric_path}: cannot read the rubric ({e})") from None
    public, hidden = public_rubric_yaml(text, str(rubric_path))
    rubric = parse_rubric(public, "rubric.yaml", base_dir=Path(rubric_path).resolve().parent)
    wheel_name, wheel = build_wheel()
    requires_python = _distribution().metadata.get("Requires-Python") or ""
    members = {
        f"{KIT_FOLDER}/README.md": readme(rubric, wheel_name, Path(out).name, hidden, requires_python).encode(),
        f"{KIT_FOLDER}/rubric.yaml": public.encode("utf-8"),
        f"{KIT_FOLDER}/{wheel_name}": wheel,
    }
    # the public questions' own files (test files, reference modules, plugins), in place next to the rubric:
    # a self-check runs them as grading does, so students can read them (hidden questions' files stay out)
    try:
        assets = rubric.relative_assets()
    except ValueError as e:
        raise KitError(str(e)) from None
    for path, rel in assets:
        if f"{KIT_FOLDER}/{rel}" not in members:
            members[f"{KIT_FOLDER}/{rel}"] = path.read_bytes()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.compress_type = zipfile.ZIP_STORED if name.endswith(".whl") else zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    os.replace(tmp, out)
    return Kit(out, wheel_name, hidden, list(members))
