"""A live notebook session: the student's cells run once, the kernel stays alive, the grader asks one thing at a time.

This is what an instructor's test reaches through the ``notebook`` fixture
(:mod:`grader.api`): ``call("softmax", x, axis=1)``, ``value("L")``, ``has("nn")``. The kernel
runs in the sandbox as for any notebook (:mod:`grader.execute.isolation`); each request crosses its pipe
as data (:mod:`grader.insandbox.wire`) with its own timeout, and what comes back is decoded here,
from scratch, with limits. Nothing the kernel says is an answer to a question: the caller compares.

Failures are the student's (:class:`StudentFailure`, a :class:`~grader.rubric.kinds.SubmissionProblem`)
with a reason that names the cell as the student sees it (``In [5], line 3: return x / x.sum()``).
A request that kills the kernel (it ignored the interrupt, or exited) costs that request only: the
next one runs the notebook again, up to :data:`MAX_RESTARTS` times.
"""

from __future__ import annotations

import time
from typing import Any

from grader.core import progress
from grader.core.errors import SubmissionProblem
from grader.core.npchanges import grader_numpy, numpy_change
from grader.core.timeline import mark
from grader.execute.isolation import backend
from grader.execute.notebooks.executor import build_request, deadline, death, to_run
from grader.execute.notebooks.jobs import NotebookJob, NotebookRun
from grader.insandbox import wire

MAX_RESTARTS = 2
DEFAULT_SESSION_S = 300.0


class StudentFailure(SubmissionProblem):
    """The student's notebook did not give what a test asked for; the message is the reason shown."""


class NotebookDidNotRun(StudentFailure):
    """The notebook could not be read, or its run did not finish, so nothing can be asked of it."""


class NotDefined(StudentFailure):
    """The notebook does not define the name a test asked for."""


class StudentCodeError(StudentFailure):
    """The student's code raised. ``ename``, ``evalue`` and ``where`` (``In [5], line 3: ...``) tell it."""

    def __init__(self, message: str, ename: str = "", evalue: str = "", where: str = ""):
        super().__init__(message)
        self.ename = ename
        self.evalue = evalue
        self.where = where


class CallTimeout(StudentFailure):
    """The student's code did not return within the request's time."""


class CannotCross(StudentFailure):
    """The student's code returned a value that cannot cross the sandbox as data (its type is named)."""


class NotebookSession:
    """One notebook of one submission, opened on first use and closed by :meth:`close`."""

    def __init__(self, job: NotebookJob, rel: str, call_timeout: float = 20.0,
                 session_timeout: float = DEFAULT_SESSION_S):
        self.job = job
        self.rel = rel  # the notebook as the student named it, for reasons
        self.call_timeout = call_timeout
        self.session_timeout = session_timeout
        self._handle: Any = None
        self._run: NotebookRun | None = None
        self._code: list = []
        self._restarts = 0
        self._ids = 0
        self._lost = ""  # why the last kernel ended, said once by the request after it
        self.errors_said_in = ""  # the question whose reason tells the notebook's cell errors (said once)
        self.numpy_changes: list[str] = []  # NumPy 2 API changes the grader's calls ran into (not the student's)
        self.requests = 0
        self.elapsed_s = 0.0

    # ------------------------------------------------------------------ opening

    @property
    def started(self) -> bool:
        """Whether the notebook has been run (a session is opened on first use only)."""
        return self._run is not None

    @property
    def run(self) -> NotebookRun:
        """The run of the notebook's cells (status, cells with errors, stdout); opens the session."""
        if self._run is None:
            self._open()
        assert self._run is not None
        return self._run

    def _open(self) -> None:
        started = time.monotonic()
        built = build_request(self.job)
        if isinstance(built, NotebookRun):
            self._run = built
            return
        request, self._code = built

        cells = f"{len(self._code)} code cell{'' if len(self._code) == 1 else 's'}"
        progress.say(f"running {self.rel} ({cells})" if self._run is None
                     else f"restarting {self.rel} (its kernel ended)")
        request["session_timeout"] = self.session_timeout
        request["stdout_chars"] = int(self.job.output_chars)
        mark(f"notebook {self.rel}: opening")
        answer, handle = backend(self.job.isolation).open_session(self.job.slot, request, deadline(self.job, request))
        mark(f"notebook {self.rel}: cells run")
        run = to_run(answer, self._code)
        run.elapsed_s = round(time.monotonic() - started, 3)
        if self._run is None:
            self._run = run  # the first run is the one the tests see; a restart only brings the kernel back
        self._handle = handle

    def _usable(self) -> None:
        run = self.run
        if self._handle is not None:
            return
        if run.status != "ok":
            raise NotebookDidNotRun(self._why_not(run))
        if self._restarts >= MAX_RESTARTS:
            raise NotebookDidNotRun(f"{self.rel}: {self._lost or 'the kernel stopped'}; the grader restarted the "
                                    f"notebook {MAX_RESTARTS} times and does not try again")
        self._restarts += 1
        self._open()
        if self._handle is None:
            raise NotebookDidNotRun(f"{self.rel}: {self._lost or 'the kernel stopped'}, and running the "
                                    "notebook again did not succeed")

    def _why_not(self, run: NotebookRun) -> str:
        if run.status == "invalid":
            return run.reason
        return f"{self.rel}: {run.reason or run.status}; the tests need a notebook that runs to the end"

    # ------------------------------------------------------------------ requests

    def call(self, target: str, args: tuple = (), kwargs: dict | None = None, timeout: float | None = None) -> Any:
        """``target(*args, **kwargs)`` in the student's kernel; the returned value, rebuilt here from data."""
        what = f"{target}(...)"
        try:
            payload = {"target": target, "args": wire.encode(list(args), "the arguments"),
                       "kwargs": wire.encode(dict(kwargs or {}), "the keyword arguments")}
        except wire.CannotCross as e:
            raise TypeError(f"notebook.call({target!r}, ...): an argument cannot be sent to the notebook: {e}") \
                from None
        return self._request("call", payload, what, timeout)

    def value(self, expr: str, timeout: float | None = None) -> Any:
        """The value of a name or an expression (``"L"``, ``"nn.output"``, ``"len(history)"``) in the kernel."""
        return self._request("eval", {"expr": expr}, f"`{expr}`", timeout)

    def has(self, name: str) -> bool:
        """Whether the notebook defines ``name`` (a dotted name: ``nn.forward``), without calling anything."""
        return bool(self._request("has", {"name": name}, f"`{name}`", None))

    def defined_at(self, name: str) -> str:
        """The cell that defined function or class ``name`` as the student sees it (``In [6]``), or ""."""
        cell = self._request("where", {"name": name}, f"`{name}`", None)
        cells = self.run.cells
        if isinstance(cell, int) and not isinstance(cell, bool) and 0 <= cell < len(cells):
            return cells[cell].name
        return ""

    def _request(self, op: str, payload: dict, what: str, timeout: float | None) -> Any:
        self._usable()
        lost, self._lost = self._lost, ""
        timeout = float(timeout or self.call_timeout)
        self._ids += 1
        started = time.monotonic()
        answer = backend(self.job.isolation).session_call(self._handle, {"op": op, "id": self._ids, **payload},
                                                          timeout)
        self.requests += 1
        self.elapsed_s += time.monotonic() - started
        status = answer.get("status")
        if status in ("killed", "died", "wall", "closed"):
            self._handle = None
            self._lost = self._ended(answer, what, timeout)
            raise (CallTimeout if status in ("killed", "wall") else StudentFailure)(
                f"{self.rel}: {self._lost}" + (f" (earlier: {lost})" if lost else ""))
        record = answer.get("record")
        rec: dict = record if isinstance(record, dict) else {}
        if status == "interrupted":
            raise CallTimeout(f"{self.rel}: {what} did not finish within {timeout:g} s and was interrupted")
        if rec.get("status") != "ok":
            self._raise(rec, what)
        try:
            return wire.decode(rec.get("value"))
        except wire.WireError as e:
            raise StudentFailure(f"{self.rel}: what {what} returned could not be read ({e})") from None
        except RecursionError:
            raise StudentFailure(f"{self.rel}: what {what} returned is nested too deeply") from None

    def _ended(self, answer: dict, what: str, timeout: float) -> str:
        status = answer.get("status")
        if status == "killed":
            return f"{what} ran longer than {timeout:g} s and did not stop when interrupted, so the kernel was stopped"
        if status == "wall":
            return f"the notebook's time for the grader's requests ({self.session_timeout:g} s) ran out during {what}"
        if status == "closed":
            return "the notebook's kernel was no longer running"
        run = NotebookRun("kernel_died", cells=self.run.cells)
        reason = death({**answer, "died_in": "call"}, run)
        return f"{reason} (during {what})"

    def _raise(self, rec: dict, what: str) -> None:
        ename, evalue, phase = str(rec.get("ename", "")), str(rec.get("evalue", "")), rec.get("phase")
        where = self._where(rec.get("where"))
        if phase == "encode":
            gave = "is" if what.startswith("`") else "returned"
            raise CannotCross(f"{self.rel}: {what} {gave} a value the grader cannot read ({evalue}); use "
                              "numbers, strings, lists, tuples, dicts or numpy arrays")
        if (phase == "resolve" and ename in ("NameError", "AttributeError")) or (
                ename == "NameError" and not where and what.startswith("`")):
            name = what.removesuffix("(...)").strip("`")
            raise NotDefined(f"{self.rel} does not define {name} ({ename}: {evalue}); run every cell and check "
                             "the name")
        if ename == "KeyboardInterrupt":
            raise CallTimeout(f"{self.rel}: {what} was interrupted" + (f" at {where}" if where else ""))
        message = f"{self.rel}: {what} raised {ename}: {evalue}" + (f" at {where}" if where else "")
        if (change := numpy_change(ename, evalue)) is not None:  # right for the course's NumPy 1.x
            self.numpy_changes.append(change)
            message += (f" (an environment difference, not your mistake: the grader runs NumPy {grader_numpy()} and "
                        f"this code was written for NumPy 1.x; {change})")
        raise StudentCodeError(message, ename, evalue, where)

    def _where(self, where: Any) -> str:
        if not isinstance(where, dict):
            return ""
        cell, line, code = where.get("cell"), where.get("line"), str(where.get("code", ""))
        cells = self.run.cells
        if not isinstance(cell, int) or not 0 <= cell < len(cells):
            return ""
        return f"{cells[cell].name}, line {line}" + (f": `{code}`" if code else "")

    def close(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            backend(self.job.isolation).close_session(handle)
