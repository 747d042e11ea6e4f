"""What an instructor's test receives from its fixtures: the student's work, reachable only as data.

- :class:`Notebook` (``notebook``): the student's notebook, run once in the sandbox and kept alive;
  ``call``, ``value`` and ``has`` cross the sandbox one at a time as plain data.
- :class:`SubmissionFiles` (``files``): the submission's files, read-only, as bytes or text with a size cap.
- :class:`Model` (``model("digits.h5")``): a model file as the sandboxed model server sees it.

None of these ever runs student code in the grader's process, and none hands back a student
object: every value is rebuilt here from bytes (:mod:`grader.insandbox.wire`).
"""

from __future__ import annotations

import io
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from grader.checks.modelfiles import inspect_file
from grader.core.errors import SubmissionProblem
from grader.execute.modelserver import model_request
from grader.execute.notebooks.jobs import NotebookRun
from grader.execute.notebooks.session import (
    CannotCross,
    NotDefined,
    NotebookDidNotRun,
    NotebookSession,
    StudentFailure,
)
from grader.intake.nbload import NotebookProblem, read_cells
from grader.intake.nbparse import StoredOutput, stored_outputs
from grader.intake.submission import Submission
from grader.rubric.kinds import CheckContext

MAX_FILE_BYTES = 16 * 1024**2
MAX_PREDICT_BYTES = 256 * 1024**2


# Values received from students' code so far (call and value): a test that received one and then raised a
# TypeError or the like was most likely handed a value of the wrong kind (the student's, not a grader error).
RECEIVED = [0]


@dataclass(frozen=True)
class CellError:
    """A cell that raised when the notebook ran: ``cell`` is named as the student sees it (``In [8]``)."""

    cell: str
    ename: str
    evalue: str

    def __str__(self) -> str:
        return f"{self.cell}: {self.ename}: {self.evalue}"


class Notebook:
    """The student's notebook in a live sandboxed kernel.

    ``notebook.call("softmax", x, axis=1)`` calls the student's function with ``x`` sent as data and
    returns what it returned, rebuilt in the grader (numbers, strings, lists, tuples, dicts, numpy
    arrays). ``notebook.value("L")`` evaluates a name or expression. A failure of the student's code
    raises a :class:`~grader.execute.notebooks.session.StudentFailure` whose message is shown to the student
    (``softmax(...) raised ZeroDivisionError: ... at In [5], line 3: `return x / x.sum()```).
    """

    def __init__(self, opener: Callable[[], NotebookSession], path: Path | None, name: str):
        self._opener = opener  # the session is made on first use: reading stored outputs runs nothing
        self._opened: NotebookSession | None = None
        self._path_found = path
        self.name = name  # the file as the student named it (the rubric's pattern when it is missing)

    @property
    def _session(self) -> NotebookSession:
        if self._opened is None:
            self._opened = self._opener()
        return self._opened

    @property
    def _path(self) -> Path:
        if self._path_found is None:
            self._session  # raises the missing file's reason  # noqa: B018
        assert self._path_found is not None
        return self._path_found

    @property
    def exists(self) -> bool:
        return self._path_found is not None

    def call(self, name: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        got = self._session.call(name, args, kwargs, timeout)
        RECEIVED[0] += 1
        return got

    def value(self, expr: str, timeout: float | None = None) -> Any:
        got = self._session.value(expr, timeout)
        RECEIVED[0] += 1
        return got

    def has(self, name: str) -> bool:
        return self._session.has(name)

    def bind(self, name: str) -> Any:
        """The student's global ``name`` as a test written for the student's own kernel expects it (tests
        converted from Otter or nbgrader): its value, rebuilt here as data, or, for a function or class, a
        stand-in that calls it in the sandbox. Raises :class:`NotDefined` when the notebook lacks it."""
        if not name.isidentifier():
            raise ValueError(f"not a Python name: {name!r}")
        try:
            return self.value(name)
        except CannotCross:
            # a function is not data; anything else that cannot cross is said as it was
            if self._session.value(f"callable({name})") is True:
                return KernelFunction(self, name)
            raise

    def bind_all(self, *names: str) -> dict[str, Any]:
        """:meth:`bind` for each of ``names`` the notebook defines; names it lacks are left out, so the test
        meets them as Python would (a ``NameError``)."""
        return {n: self.bind(n) for n in names if self.has(n)}

    def defined_at(self, name: str) -> str:
        """Where the student wrote function or class ``name``, as they see it (``In [6]``); "" when unknown.

        For feedback that sends the student to the right cell (a name the notebook lacks gives "")."""
        try:
            return self._session.defined_at(name)
        except NotDefined:
            return ""

    @property
    def run(self) -> NotebookRun:
        return self._session.run

    @property
    def ran(self) -> bool:
        """True when every cell was run (errors in cells included); False when the run was stopped."""
        return self._session.run.status == "ok"

    @property
    def errors(self) -> list[CellError]:
        """Cells that raised (or timed out) when the grader ran the notebook, in order."""
        run = self._session.run
        if run.status == "invalid":
            raise NotebookDidNotRun(run.reason)
        return [CellError(c.name, c.ename, c.evalue) for c in run.errors]

    @property
    def stdout(self) -> str:
        """What the cells printed when the grader ran the notebook (within the output budget)."""
        return self._session.run.stdout_tail

    @cached_property
    def cells(self) -> list[dict[str, str]]:
        """The submitted file's cells, in order, as ``{"cell_type": "code" | "markdown" | ..., "source": text}``
        (read from the file, bounded, never run)."""
        try:
            raw = read_cells(self._path)
        except NotebookProblem as e:
            raise NotebookDidNotRun(str(e)) from None
        out = []
        for cell in raw:
            src = cell.get("source", "")
            out.append({"cell_type": str(cell.get("cell_type", "")),
                        "source": "".join(map(str, src)) if isinstance(src, list) else str(src)})
        return out

    @cached_property
    def stored_outputs(self) -> list[StoredOutput]:
        """What the cells printed in the student's own run, as saved in the file (``.where``: ``In [7]``,
        ``.text``). Read from the file, never by running it."""
        try:
            return stored_outputs(self._path)
        except NotebookProblem as e:
            raise NotebookDidNotRun(str(e)) from None

    def __repr__(self) -> str:
        return f"<notebook {self.name}>"


class KernelFunction:
    """A student's function, called in the sandbox: arguments cross as data and so does what it returns."""

    def __init__(self, notebook: Notebook, name: str):
        self._notebook = notebook
        self.__name__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._notebook.call(self.__name__, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<function {self.__name__} of {self._notebook.name}>"


class SubmissionFiles:
    """The submission's files, read-only: names, and contents as bytes or text (capped)."""

    def __init__(self, submission: Submission):
        self._sub = submission

    @property
    def names(self) -> list[str]:
        """Every file's path inside the submission (``HW4/xor.ipynb``), sorted."""
        return sorted(self._sub.files)

    def find(self, pattern: str) -> str | None:
        """The submission's file matching ``pattern`` (case-insensitive glob, any folder), or None."""
        hit = self._sub.find_one(pattern)
        return None if hit is None else self._sub.rel(hit)

    def exists(self, pattern: str) -> bool:
        return self.find(pattern) is not None

    def bytes(self, pattern: str, max_bytes: int = MAX_FILE_BYTES) -> bytes:
        path, rel = self._sub.require(pattern)
        size = path.stat().st_size
        if size > max_bytes:
            raise StudentFailure(f"{rel}: {size:,} bytes is over the {max_bytes:,}-byte limit")
        return path.read_bytes()

    def text(self, pattern: str, max_bytes: int = MAX_FILE_BYTES) -> str:
        raw = self.bytes(pattern, max_bytes)
        for enc in ("utf-8-sig", "utf-16"):
            try:
                return raw.decode(enc)
            except UnicodeDecodeError:
                continue
        return raw.decode("cp1252", errors="replace")

    def __contains__(self, pattern: str) -> bool:
        return self.exists(pattern)

    def __repr__(self) -> str:
        return f"<{len(self._sub.files)} submitted files>"


class Model:
    """A student's Keras model file, read by the sandboxed model server (never by Keras in the grader).

    ``layers``: one dict per layer (``class_name``, ``name``, ``config``, ``weights`` as ``[name, shape]``);
    ``count_params()``; ``predict(x)`` -> the outputs as a float64 array; ``evaluate(x, y)`` -> accuracy
    (and cross-entropy when the outputs are probabilities), computed here from the predictions.
    """

    def __init__(self, ctx: CheckContext, pattern: str):
        self._ctx = ctx
        self._pattern = pattern
        self.name, self.info = inspect_file(ctx, pattern)

    @property
    def format(self) -> str:
        return str(self.info.get("format", ""))

    @property
    def layers(self) -> list[dict[str, Any]]:
        return [dict(layer) for layer in self.info.get("layers", [])]

    @property
    def input_shape(self) -> tuple | None:
        shape = self.info.get("input_shape")
        return tuple(shape) if shape else None

    def count_params(self) -> int:
        layers = self.info.get("layers", [])
        return int(sum(math.prod(shape) for layer in layers for _, shape in layer.get("weights", [])))

    def predict(self, x: Any, timeout: float = 300) -> np.ndarray:
        if self.format != "keras2-model":
            raise StudentFailure(f"{self.name} holds weights only; save the whole model with model.save('{self.name}')")
        arr = np.asarray(x, dtype=np.float32)
        if arr.nbytes > MAX_PREDICT_BYTES:
            raise ValueError(f"model.predict: {arr.nbytes:,} bytes of inputs is over {MAX_PREDICT_BYTES:,}")
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        scratch = self._ctx.scratch("predict-inputs")
        scratch.mkdir(parents=True)
        try:
            (scratch / "x.npy").write_bytes(buf.getvalue())
            model, _ = self._ctx.submission.require(self._pattern)  # the file inspected in __init__
            answer, job = model_request(
                self._ctx, {"op": "predict", "model": "@model", "label": self.name, "inputs": "@x",
                            "feed": {"shape": list(arr.shape[1:])}, "out": "@job/out.npy"},  # fed as given
                {"model": model, "x": scratch / "x.npy"}, timeout=timeout)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        try:
            if "problem" in answer:
                raise SubmissionProblem(f"{self.name}: {answer['problem']}")
            out = job / "out.npy"
            if not out.is_file() or out.is_symlink() or out.stat().st_size > MAX_PREDICT_BYTES * 2:
                raise StudentFailure(f"{self.name}: the model produced no usable output")
            y = np.load(out, allow_pickle=False)
        finally:
            shutil.rmtree(job, ignore_errors=True)
        if y.dtype.kind not in "biuf" or len(y) != len(arr):
            raise StudentFailure(f"{self.name}: the model's output has shape {y.shape}")
        return y

    def evaluate(self, x: Any, y: Any) -> dict[str, float]:
        """``{"accuracy": ..., "loss": ...}``: labels ``y`` as class numbers or one-hot rows."""
        out = self.predict(x)
        labels = np.asarray(y)
        if labels.ndim == 2:
            labels = labels.argmax(axis=1)
        scores = out.reshape(len(out), -1)
        if scores.shape[1] == 1:
            pred = (scores[:, 0] > 0.5).astype(int)
            probs = np.stack([1 - scores[:, 0], scores[:, 0]], axis=1)
        else:
            pred = scores.argmax(axis=1)
            probs = scores
        result = {"accuracy": float(np.mean(pred == labels.astype(int)))}
        is_distribution = np.all(probs >= 0) and np.allclose(probs.sum(axis=1), 1, atol=1e-3)
        if is_distribution and labels.max(initial=0) < probs.shape[1]:
            picked = probs[np.arange(len(probs)), labels.astype(int)]
            result["loss"] = float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))
        return result

    def __repr__(self) -> str:
        return f"<model {self.name}>"
