"""``mlgrade export student-kit``: what students install to self-check, and nothing they must not see.

One zip with one folder, ``mlgrade-kit/``:

- ``mlgrade-<version>-py3-none-any.whl``: mlgrade's student wheel (:mod:`grader.student.wheel`): the
  grader without the instructor's scaffolding, with the light dependencies;
- the rubric's student build (:mod:`grader.student.compile`): ``rubric.yaml``, the public tests with
  hidden ones as stubs, the reference's recorded answers, public data; never a reference module, a
  hidden test, hidden data or a sample;
- ``README.md``: what to hand in (every file, by its plain name), which Python, the commands for
  Windows, macOS/Linux and Colab, and what a self-check can and cannot tell.

The whole zip, the wheel inside included, is scanned for leaks before it is written
(:mod:`grader.student.leaks`).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from grader.intake.submission import expand_braces
from grader.rubric import Rubric, parse_rubric
from grader.rubric.kinds import get_kind
from grader.student.compile import BuildError, CheckReport, StudentBuild, compile_student_build
from grader.student.leaks import scan
from grader.student.wheel import WheelError, build_wheel, requires_python

KIT_FOLDER = "mlgrade-kit"
ZIP_TIME = (2020, 1, 1, 0, 0, 0)  # fixed: the same installation and rubric give the same kit, byte for byte


class KitError(Exception):
    pass


@dataclass
class Kit:
    path: Path
    wheel_name: str
    hidden: list[str]  # question ids shown as "graded by your instructor"
    files: list[str]  # what the zip holds
    report: list[CheckReport]


def plain_names(pattern: str) -> str:
    """``hdfview.{png,jpg,jpeg}`` -> ``hdfview.png, hdfview.jpg or hdfview.jpeg``: every name in full, as a
    first-year student reads it, without shell brace syntax."""
    names = [f"`{n}`" for n in dict.fromkeys(expand_braces(pattern))]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _minimum(requires: str) -> tuple[int, ...]:
    """``>=3.11`` -> ``(3, 11)``; anything else (no bound, another operator) -> ``(3,)``."""
    m = re.fullmatch(r"\s*>=\s*(\d+(?:\.\d+)*)\s*", requires or "")
    return tuple(int(x) for x in m.group(1).split(".")) if m else (3,)


def python_check(python: str, requires: str) -> str:
    """One command that says whether ``python`` is new enough, before pip runs (on Python 3.10 pip was seen to
    download every dependency before refusing the wheel). Its quotes work in cmd, PowerShell and sh."""
    least = _minimum(requires)
    need = ".".join(map(str, least))
    return (f"{python} -c \"import sys; v = sys.version.split()[0]; print('Python ' + v + (' is too old: mlgrade "
            f"needs Python {need} or newer; install a newer one and start again' if sys.version_info < {least!r} "
            "else ' is fine'))\"")


def _python(requires: str) -> str:
    least = _minimum(requires)
    return f"{'.'.join(map(str, least))} or newer" if len(least) > 1 else "3"


def readme(rubric: Rubric, wheel: str, kit_zip: str, build: StudentBuild, requires: str) -> str:
    """The kit's README, made from the rubric: its files, its hidden parts, this wheel's Python."""
    files: list[str] = []
    seen: set[str] = set()
    for q in rubric.questions:
        for pattern in [*q.files, *(p for c in q.checks if hasattr(c.params, "file_patterns")
                                    for p in c.params.file_patterns())]:
            key = expand_braces(pattern)[0].lower()
            if key not in seen:
                seen.add(key)
                files.append(f"- {plain_names(pattern)}: {q.id} ({q.title})")
    python = _python(requires)
    later = [f"{r.question} ({r.check})" for r in build.report if r.state in ("graded later", "partly")]
    hidden_line = (f"- Questions {', '.join(build.hidden_questions)} are graded by your instructor with hidden tests; "
                   "the check lists them as pending with their points.\n") if build.hidden_questions else ""
    relative_line = ("- A question scored against the best in the class (your accuracy / the best accuracy) shows "
                     "your own accuracy\n  and the least and most it can score; the score itself is known only when "
                     "the whole class is graded.\n") if any(_class_relative(c) for q in rubric.questions
                                                               for c in q.checks) else ""
    review_line = ("- Screenshots are checked to be images of a sensible size; what they show is judged by your "
                   "instructor, by eye.\n") if any(getattr(c.params, "manual_review", False) for q in rubric.questions
                                                    for c in q.checks) else ""
    notebook = next((n for n in (expand_braces(f)[0] for q in rubric.questions for f in q.files)
                     if n.lower().endswith(".ipynb")), "homework.ipynb")
    later_line = (f"- Some checks compare with your instructor's reference on values only the real grading "
                  f"knows; the report says \"checked when the class is graded\" for them ({', '.join(later)}).\n"
                  ) if later else ""
    return f"""# Self-check kit: {rubric.name}

This folder lets you check your submission as it will be graded, on your own computer or in Google
Colab: `{wheel}` (mlgrade), `rubric.yaml` and the files next to it (the public checks), and this README.

## What to hand in

ONE `.zip` holding these files (any folder layout inside the zip; names match in any letter case):

{chr(10).join(files)}

## Before you start: Python {python}

mlgrade needs Python {python}. Open a terminal in this folder and run the first command for your
system below: it prints your Python's version and whether it is new enough. If it says "too old" (for
example Python 3.10), install a newer Python from python.org (Windows, macOS) or your system's packages,
then start again; do not go on to the install, which would fail after a long download. The install
downloads mlgrade's dependencies (numpy, matplotlib, IPython, ...: about 300 MB, a minute or two).

Put your zip into this folder (below it is called `my_submission.zip`: use your file's name) and run
the four commands for your system, one after the other. The second and third install mlgrade into a
folder `mlgrade-env` here, once; afterwards only the last one is needed.

## Windows (PowerShell or Command Prompt)

```
{python_check("py", requires)}
py -m venv mlgrade-env
.\\mlgrade-env\\Scripts\\python -m pip install {wheel}
.\\mlgrade-env\\Scripts\\mlgrade check my_submission.zip
```

(If `py` is not found, use `python` instead.)

## macOS and Linux

```
{python_check("python3", requires)}
python3 -m venv mlgrade-env
mlgrade-env/bin/python -m pip install {wheel}
mlgrade-env/bin/mlgrade check my_submission.zip
```

(Debian/Ubuntu: `sudo apt-get install python3-venv` first if `venv` is missing. On Linux,
`sudo apt-get install bubblewrap` makes the check run your notebooks in the grader's sandbox.)

## Google Colab

Upload `{kit_zip}` and your zip with the Files pane (the folder icon on the left), then run in a
code cell:

```
!unzip -q -o {kit_zip}
%pip install -q {KIT_FOLDER}/{wheel}
!mlgrade check my_submission.zip --rubric {KIT_FOLDER}/rubric.yaml
```

## From inside a notebook (Jupyter, VS Code, Colab)

After the install above (in Jupyter: `%pip install {wheel}` in a cell of the notebook):

```python
import mlgrade
mlgrade.check("my_submission.zip", rubric="rubric.yaml")   # the report as a table
mlgrade.check("{notebook}", rubric="rubric.yaml")   # that notebook (its saved copy) and the files next to it
```

## What the check tells you, and what only the real grading can

- The same public checks, limits and reasons: every question shows its score and why.
{hidden_line}{later_line}- Hidden tests and hidden inputs are not in this kit: they run when the class is graded, on
  inputs drawn for your submission. The check says what they are worth, never what they contain.
{relative_line}{review_line}- Without Linux and bubblewrap (Windows, macOS, Colab) your notebooks run without the
  grader's sandbox, as you; as in grading they get no network and the same time limits.
- Your Keras model files run in a small numpy engine here, unless Keras is installed
  (`python -m pip install "{wheel}[keras]"` adds it); grading runs them with Keras. Both read the
  same weights and agree to float precision.
- Your computer's packages may differ from the grading environment's; a cell that imports a package
  you lack fails here but not when graded (the report names it).
"""


def _class_relative(check) -> bool:
    kind = get_kind(check.kind)
    return bool(getattr(check.params, "relative", False) or (kind is not None and kind.class_relative))


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in sorted(members.items()):
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.compress_type = zipfile.ZIP_STORED if name.endswith((".whl", ".npz")) else zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


def models_engine(build: StudentBuild, keras: bool) -> str:
    """How the student wheel runs model files: not at all when no public check needs it, with Keras on request,
    else with the light numpy engine."""
    return "none" if not build.uses_models else ("keras" if keras else "numpy")


ENGINE_HINT = ("mlgrade's light model engine defines functions this assignment asks students to write; pass --keras "
               "to ship Keras instead of it (a heavier install)")


def leak_message(what: str, leaks: list) -> str:
    text = f"the {what} would hand out answers, so it was not written:\n  " + "\n  ".join(map(str, leaks))
    if any("grader/insandbox/np" in str(leak) for leak in leaks):
        text += "\n" + ENGINE_HINT
    return text


def export_student_kit(rubric_path: Path, out: Path, samples: Path | None = None, isolation: str = "auto",
                       say: Callable[[str], None] = lambda _: None, keras: bool = False) -> Kit:
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="mlgrade-kit-") as tmp:
        try:
            build = compile_student_build(rubric_path, Path(tmp) / "build", samples, isolation, say)
            wheel_name, wheel = build_wheel(student=True, models=models_engine(build, keras))
            requires = requires_python()
        except (BuildError, WheelError) as e:
            raise KitError(str(e)) from None
        rubric = parse_rubric((build.folder / "rubric.yaml").read_text(encoding="utf-8"), "rubric.yaml",
                              base_dir=build.folder, builtin_packs=False)
        members = {f"{KIT_FOLDER}/{rel}": (build.folder / rel).read_bytes() for rel in build.files}
        members[f"{KIT_FOLDER}/{wheel_name}"] = wheel
        members[f"{KIT_FOLDER}/README.md"] = readme(rubric, wheel_name, out.name, build, requires).encode()
        data = _zip_bytes(members)
        candidate = Path(tmp) / out.name
        candidate.write_bytes(data)
        say("scanning the kit, mlgrade's wheel included, for anything that answers the assignment")
        leaks = scan([candidate], build.secrets)
        if leaks:
            raise KitError(leak_message("kit", leaks))
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(f".{out.name}.partial")
        try:
            shutil.copyfile(candidate, partial)
            os.replace(partial, out)
        finally:
            partial.unlink(missing_ok=True)
    return Kit(out, wheel_name, build.hidden_questions, sorted(members), build.report)
