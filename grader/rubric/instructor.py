"""The instructor's own Python next to a rubric: reference modules, test helpers, plugin files.

It is trusted code and runs in the grader's process; it never sees a student's object, only
values rebuilt from data. Each import is fresh (a module of its own name, removed when done),
so nothing one submission's grading leaves in a module reaches the next.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from grader.core.errors import InstructorError


def load_module(path: Path, keep: bool = False) -> ModuleType:
    """Import the file at ``path`` as a fresh module under a name of its own. It stays in ``sys.modules``
    only while ``keep`` (dataclasses and ``inspect`` look modules up by name while they are defined)."""
    digest = hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:12]
    stem = "".join(c if c.isalnum() else "_" for c in Path(path).stem)
    name = f"mlgrade_instructor_{stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InstructorError(f"{Path(path).name} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as e:
        raise InstructorError(f"{Path(path).name} failed to import: {type(e).__name__}: {e}") from e
    finally:
        if not keep:
            sys.modules.pop(name, None)
    return module


def reference_function(rubric_dir: Path, spec: str) -> Callable:
    """``refs.py:softmax`` -> the function ``softmax`` of ``refs.py`` in the rubric's folder, freshly imported.
    Raises ``LookupError`` naming what is missing."""
    file, _, name = spec.rpartition(":")
    path = Path(rubric_dir) / file
    try:
        module = load_module(path)
    except InstructorError as e:
        raise LookupError(str(e)) from None
    fn = getattr(module, name, None)
    if not callable(fn):
        raise LookupError(f"{file} has no function {name!r}")
    return fn
