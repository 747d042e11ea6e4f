"""Stand-in students for compiling a student build: the reference module answering as a notebook would.

A public test is run at export against three stand-ins, so that the reference answers it asks for
on the paths a real student takes are recorded (:mod:`grader.checks.pytest.recording`):

- ``right``: ``notebook.call("softmax", x)`` is ``reference.softmax(x)``, sent through the sandbox's
  codec as a real answer would be; ``value("L")`` and ``has("L")`` read the reference module;
- ``off``: the same answers with every float changed (x 1.37 + 0.11): the failing paths, hints included;
- ``absent``: a notebook that defines nothing.

Instructor code only (the reference module is trusted); nothing here runs a student's code.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from grader.checks.pytest.fixtures import Notebook
from grader.execute.notebooks.jobs import NotebookRun
from grader.execute.notebooks.session import NotDefined, StudentCodeError
from grader.insandbox.wire import CannotCross, decode, encode

KINDS = ("right", "off", "absent")


def _off(value: Any) -> Any:
    """``value`` with every float moved: a plausible wrong answer of the same shape and type."""
    if isinstance(value, float):
        return value * 1.37 + 0.11
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value * 1.37 + 0.11
    if isinstance(value, np.floating):
        return type(value)(value * 1.37 + 0.11)
    if isinstance(value, list):
        return [_off(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_off(v) for v in value)
    if isinstance(value, dict):
        return {k: _off(v) for k, v in value.items()}
    return value


class StandInSession:
    """The part of :class:`~grader.execute.notebooks.session.NotebookSession` that :class:`Notebook` uses."""

    def __init__(self, module: ModuleType, kind: str, calls: list | None = None):
        self._module = module
        self.kind = kind
        self.started = True
        self.run = NotebookRun(status="ok", code_cells=1)
        self.calls = calls if calls is not None else []  # (function, args, kwargs, the reference's answer) as data

    def _lookup(self, name: str) -> Any:
        if self.kind == "absent" or name.startswith("_") or not hasattr(self._module, name):
            raise NotDefined(f"the notebook does not define {name!r}")
        return getattr(self._module, name)

    def _answer(self, value: Any) -> Any:
        try:
            value = decode(encode(value))  # what the grader would rebuild from a real kernel's answer
        except CannotCross as e:
            raise StudentCodeError(f"the answer cannot cross: {e}") from None
        return _off(value) if self.kind == "off" else value

    def call(self, target: str, args: tuple = (), kwargs: dict | None = None, timeout: float | None = None) -> Any:
        fn = self._lookup(target)
        if not callable(fn):
            raise StudentCodeError(f"{target} is not a function")
        sent_args, sent_kwargs = encode(list(args)), encode(dict(kwargs or {}))
        result = fn(*decode(sent_args), **decode(sent_kwargs))
        try:
            self.calls.append((target, sent_args, sent_kwargs, encode(result)))
        except CannotCross:
            pass
        return self._answer(result)

    def value(self, expr: str, timeout: float | None = None) -> Any:
        if not expr.isidentifier():
            raise NotDefined(f"the stand-in evaluates names only, not {expr!r}")
        return self._answer(self._lookup(expr))

    def has(self, name: str) -> bool:
        return self.kind != "absent" and hasattr(self._module, name) and not name.startswith("_")

    def defined_at(self, name: str) -> str:
        return ""

    def close(self) -> None:
        pass


_EMPTY_NOTEBOOK = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def stand_in(module: ModuleType, kind: str, folder: Path, name: str = "notebook.ipynb",
             calls: list | None = None) -> Notebook:
    """A :class:`Notebook` whose session is the reference module (see the module's docstring). Its file is
    an empty notebook in ``folder``: stored outputs and cells are empty. ``calls`` collects what was called."""
    path = Path(folder) / Path(name).name
    path.write_text(json.dumps(_EMPTY_NOTEBOOK), encoding="utf-8")
    session = StandInSession(module, kind, calls)
    return Notebook(lambda: session, path, Path(name).name)  # type: ignore[arg-type, return-value]
