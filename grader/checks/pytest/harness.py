"""Run an instructor's pytest file in the grader's process, once per submission, and read what happened.

The test file is plain pytest. It is run with ``pytest.main`` in this process (instructor code
is trusted) with :class:`Harness` as a plugin that provides the fixtures (``notebook``,
``notebooks``, ``files``, ``model``, ``hidden_rng``, ``reference``, ``options``, ``feedback``), the markers
(``points(n)``, ``hidden``) and records every test's outcome. Student code never runs here:
the fixtures reach it in the sandbox, as data (:mod:`grader.checks.pytest.fixtures`).

Outcomes, per test (a parametrized case is a test):

- *passed*;
- *failed*, the student's: an ``AssertionError`` raised by the test or one of its fixtures (its message,
  pytest's rewritten ``assert 0.1301 == 0.1332 ± 1.0e-06``, is the reason), ``pytest.fail(...)``, or a
  :class:`~grader.execute.notebooks.session.StudentFailure` (the student's code raised, timed out, returned
  something that cannot cross, the notebook does not define the name, the file is missing);
- *error*, the grader's: anything else (a ``TypeError`` in the test, a fixture that fails, a syntax
  error in the file): reported as a grader error naming the test file's line, never as the
  student's failure;
- *skipped*: left out of the score;
- *pending*, in a student build only: the test needed a reference value the build does not hold
  (:class:`~grader.checks.pytest.recorded.NotCompiled`): it is checked when the class is graded.

Each run is fresh: the file, its conftest and the instructor's modules are imported anew
(``--import-mode=importlib``, removed from ``sys.modules`` afterwards), no cache is written,
no third-party pytest plugin is loaded, and nothing is printed.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from grader.checks.pytest.fixtures import RECEIVED
from grader.checks.pytest.recorded import NotCompiled, is_not_compiled
from grader.core.errors import SubmissionProblem
from grader.rubric.instructor import InstructorError

MAX_MESSAGE = 1500
# pytest's own plugins that are not needed here: output, caches, and those that touch process-wide state
# (fd capture, faulthandler, warnings filters, logging handlers) or collect garbage after every test.
DISABLED_PLUGINS = ("cacheprovider", "terminal", "logging", "warnings", "faulthandler", "unraisableexception",
                    "threadexception", "doctest", "junitxml", "pastebin", "stepwise", "legacypath", "nose",
                    "setuponly", "setupplan", "debugging")
_LOCK = threading.Lock()  # pytest.main is not re-entrant across threads


@dataclass
class TestOutcome:
    nodeid: str
    name: str  # as shown: ``test_softmax[2]``
    group: str  # the test function: parametrized cases share its points
    points: float  # this case's share of the function's points
    hidden: bool
    outcome: str = "not run"  # passed | failed | error | skipped | pending | not run (hidden, in a self-check)
    message: str = ""
    fraction: float = 1.0  # partial(...): the share of its points a passing test earns
    partial_why: str = ""

    @property
    def earned(self) -> float:
        return self.points * self.fraction if self.outcome == "passed" else 0.0


@dataclass
class TestRun:
    tests: list[TestOutcome] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # collection errors: the test file's, a grader error
    elapsed_s: float = 0.0


@dataclass
class Fixtures:
    """What the fixtures hand out, made lazily by the check for one submission."""

    notebooks: dict[str, Callable[[], Any]]  # name -> maker of a Notebook ("notebook" is the default one)
    files: Callable[[], Any]
    model: Callable[[str], Any]
    reference: Callable[[], ModuleType | None]
    rng_seed: str  # grading seed | submission hash: with a test's node id, the hidden_rng's seed
    options: Mapping[str, Any] = field(default_factory=dict)  # the check's `options:`, read-only
    hidden_dir: Path | None = None  # `mlgrade grade --hidden DIR`: the hidden_data fixture reads it


class _Notebooks(dict):
    """``notebooks["xor"]``: the notebooks the check names, made on first use."""

    def __init__(self, makers: dict[str, Callable[[], Any]]):
        super().__init__()
        self._makers = makers

    def __missing__(self, key: str):
        if key not in self._makers:
            names = ", ".join(sorted(self._makers)) or "none"
            raise InstructorError(f"no notebook named {key!r} in the check (it names: {names})")
        value = self[key] = self._makers[key]()
        return value


class HiddenData:
    """``hidden_data``: the folder given to ``mlgrade grade --hidden`` (Gradescope: ``source/hidden``), for the
    instructor's test to read; the student's kernel never sees it. In a self-check (no hidden data) a test
    that reads it is "checked when the class is graded"; when grading without ``--hidden``, the test is the
    instructor's error, said as such."""

    def __init__(self, root: Path | None, self_check: bool):
        self._given = root
        self._self_check = self_check

    @property
    def root(self) -> Path:
        if self._given is None:
            if self._self_check:
                raise NotCompiled("the hidden data")
            raise InstructorError("this test reads hidden data: grade with --hidden DIR")
        return self._given.resolve()

    def path(self, name: str) -> Path:
        """The file ``name`` (relative to the hidden folder; it must exist and stay inside it)."""
        root = self.root
        path = (root / name).resolve()
        if root != path and root not in path.parents:
            raise InstructorError(f"hidden_data.path({name!r}) is outside the hidden folder")
        if not path.exists():
            raise InstructorError(f"no {name!r} in the hidden folder {root}")
        return path

    def files(self, pattern: str = "**/*") -> list[str]:
        """The hidden folder's files matching ``pattern``, relative and sorted."""
        root = self.root
        return sorted(p.relative_to(root).as_posix() for p in root.glob(pattern) if p.is_file())

    def read_bytes(self, name: str) -> bytes:
        return self.path(name).read_bytes()

    def read_text(self, name: str) -> str:
        return self.path(name).read_text(encoding="utf-8")


class Feedback(dict):
    """``feedback["equation_tree"] = ...``: data a test leaves for the feedback page (JSON values only). What
    a hidden test records is dropped, so that the page never shows what a hidden test computed."""

    def __init__(self, harness: Harness):
        super().__init__()
        self._harness = harness

    def __setitem__(self, key: str, value: Any) -> None:
        import json

        try:
            json.dumps(value)
        except (TypeError, ValueError) as e:
            raise InstructorError(f"feedback[{key!r}] must be JSON data (numbers, text, lists, dicts): {e}") from None
        current = self._harness.current
        if current is not None and current.hidden and not self._harness.reveal_hidden:
            return
        super().__setitem__(str(key), value)

    def update(self, *args, **kwargs) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value


# Raised by an instructor's own line when the student's value has the wrong type, shape or keys.
WRONG_VALUE_ERRORS = (TypeError, ValueError, AttributeError, IndexError, KeyError, ZeroDivisionError, OverflowError)


class Harness:
    """The pytest plugin of one run: fixtures, markers, and every test's outcome."""

    def __init__(self, fixtures: Fixtures, test_file: Path, self_check: bool, reveal_hidden: bool = False):
        self.fx = fixtures
        self.test_file = test_file
        self.self_check = self_check
        self.reveal_hidden = reveal_hidden
        self.run = TestRun()
        self.current: TestOutcome | None = None  # the test running now
        self.feedback = Feedback(self)
        self._by_id: dict[str, TestOutcome] = {}
        self._notebooks = _Notebooks(fixtures.notebooks)
        self._received_before = 0

    # ------------------------------------------------------------------ what the fixtures hand out

    def notebook(self):
        if "notebook" not in self.fx.notebooks:
            raise InstructorError("the test uses the `notebook` fixture, but the check names no notebook "
                                  "(add `notebook: NAME.ipynb` to the check)")
        return self._notebooks["notebook"]

    def reference(self):
        module = self.fx.reference()
        if module is None:
            raise InstructorError("the test uses the `reference` fixture, but the check names no reference module "
                                  "(add `reference: refs.py` to the check)")
        return module

    def hidden_rng(self, nodeid: str) -> np.random.Generator:
        """Seeded by the grading seed, this submission and the test: unknowable in advance, the same on regrade.
        (A student build seeds it with its own practice seed instead: draws a student can see, recorded.)"""
        digest = hashlib.sha256(f"{self.fx.rng_seed}|{nodeid}".encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))

    # ------------------------------------------------------------------ hooks

    def pytest_configure(self, config) -> None:
        config.addinivalue_line("markers", "points(n): the test's points; parametrized cases share them")
        config.addinivalue_line("markers", "hidden: run only when the class is graded (a self-check says it exists)")

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            self.run.problems.append(_collect_message(report, self.test_file))

    def pytest_collection_modifyitems(self, session, config, items) -> None:
        groups: dict[str, int] = {}
        for item in items:
            groups[_group(item)] = groups.get(_group(item), 0) + 1
        keep: list[pytest.Item] = []
        hidden: list[pytest.Item] = []
        for item in items:
            points = _points(item)
            if isinstance(points, str):
                self.run.problems.append(f"{item.nodeid}: {points}")
                points = 0.0
            out = TestOutcome(item.nodeid, item.name, _group(item), points / groups[_group(item)],
                              item.get_closest_marker("hidden") is not None)
            self.run.tests.append(out)
            self._by_id[item.nodeid] = out
            (hidden if out.hidden and self.self_check else keep).append(item)
        if hidden:
            config.hook.pytest_deselected(items=hidden)
            items[:] = keep

    def pytest_runtest_setup(self, item) -> None:
        self.current = self._by_id.get(item.nodeid)
        self._received_before = RECEIVED[0]

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        result = yield
        report = result.get_result()
        out = self._by_id.get(item.nodeid)
        if out is None or out.outcome in ("failed", "error"):
            return
        if report.skipped:
            if out.outcome != "passed":
                out.outcome, out.message = "skipped", _skip_reason(report)
            return
        if call.excinfo is None:
            if call.when == "call":
                out.outcome = "passed"
            return
        out.outcome, out.message = self._classify(call.excinfo, call.when)

    def _classify(self, excinfo, when: str) -> tuple[str, str]:
        exc = excinfo.value
        if is_not_compiled(exc):  # a student build without this reference value: not the student's, not ours
            return "pending", "checked when the class is graded (it compares with the instructor's reference)"
        if isinstance(exc, SubmissionProblem):
            return "failed", _clip(str(exc))
        if isinstance(exc, InstructorError):
            return "error", f"{exc} ({self._where(excinfo)})"
        # an assertion or pytest.fail() in the test or in one of the file's fixtures is about the student's work
        if when != "teardown" and isinstance(exc, pytest.fail.Exception):
            return "failed", _clip(str(getattr(exc, "msg", "") or exc))
        if when != "teardown" and isinstance(exc, AssertionError):
            return "failed", _assertion_message(exc, excinfo, self.test_file)
        if when == "call" and isinstance(exc, WRONG_VALUE_ERRORS) and RECEIVED[0] > self._received_before:
            # np.allclose(None, expected), got["W1"] on a list: the student's value did not fit the test
            return "failed", (f"the test could not use what your code returned: {type(exc).__name__}: "
                              f"{_clip(str(exc), 300)} ({self._where(excinfo)})")
        phase = {"setup": "while setting up the test", "teardown": "after the test"}.get(when, "in the test")
        return "error", f"{type(exc).__name__}: {_clip(str(exc), 300)} {phase} ({self._where(excinfo)})"

    def _where(self, excinfo) -> str:
        """The deepest line of the test file (or its folder's modules) in the traceback."""
        folder = self.test_file.parent.resolve()
        found = ""
        for entry in traceback.extract_tb(excinfo.tb):
            try:
                path = Path(entry.filename).resolve()
            except (OSError, ValueError):
                continue
            if path == self.test_file.resolve() or folder in path.parents or path.parent == folder:
                found = f"{path.name}, line {entry.lineno}: {(entry.line or '').strip()[:120]}"
        return found or self.test_file.name


# The fixtures are plain functions of this module (registered with the harness as a plugin) that ask the run's
# harness: pytest runs one file at a time here (_LOCK), so there is exactly one.
_CURRENT: list[Harness] = []


def _harness() -> Harness:
    return _CURRENT[-1]


@pytest.fixture(scope="session")  # one run is one submission: a module fixture may build on it
def notebook():
    """The check's notebook, run once in the sandbox and kept alive (grader.checks.pytest.fixtures.Notebook)."""
    return _harness().notebook()


@pytest.fixture(scope="session")
def notebooks():
    """More notebooks by the names the check gives them: ``notebooks["xor"]``."""
    return _harness()._notebooks


@pytest.fixture(scope="session")
def files():
    """The submission's files, read-only (grader.checks.pytest.fixtures.SubmissionFiles)."""
    return _harness().fx.files()


@pytest.fixture(scope="session")
def model():
    """``model("net.h5")``: a Keras file read by the sandboxed model server (grader.checks.pytest.fixtures.Model)."""
    return _harness().fx.model


@pytest.fixture(scope="session")
def reference():
    """The check's reference module, imported in the grader."""
    return _harness().reference()


@pytest.fixture(scope="session")
def feedback() -> Feedback:
    """Data for the student's feedback page (``feedback["hand"] = {...}``), kept in the check's details."""
    return _harness().feedback


@pytest.fixture(scope="session")
def hidden_data() -> HiddenData:
    harness = _harness()
    return HiddenData(harness.fx.hidden_dir, harness.self_check)


@pytest.fixture
def partial() -> Callable[..., None]:
    """``partial(0.5, "the loss is right, the gradient is not")``: if this test passes, it earns that fraction
    of its points, and the student reads why. The last call counts; a test that fails earns nothing."""
    out = _harness().current

    def give(fraction: float, why: str = "") -> None:
        value = float(fraction)
        if not 0.0 <= value <= 1.0:
            raise InstructorError(f"partial({fraction!r}): the fraction must be between 0 and 1")
        if out is not None:
            out.fraction, out.partial_why = value, str(why)[:MAX_MESSAGE]

    return give


@pytest.fixture(scope="session")
def options() -> Mapping[str, Any]:
    """The check's ``options:`` from the rubric (read-only): one test file serves several rubrics."""
    return _harness().fx.options


@pytest.fixture
def hidden_rng(request) -> np.random.Generator:
    """A numpy Generator seeded by the grading seed, the submission and the test."""
    return _harness().hidden_rng(request.node.nodeid)


def _group(item) -> str:
    return item.nodeid.split("[", 1)[0]


def _points(item) -> float | str:
    marker = item.get_closest_marker("points")
    if marker is None:
        return 1.0
    value = marker.args[0] if marker.args else marker.kwargs.get("n", marker.kwargs.get("points"))
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        return f"@pytest.mark.points needs a number of points >= 0, got {value!r}"
    return float(value)


def _clip(text: str, limit: int = MAX_MESSAGE) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _assertion_message(exc: AssertionError, excinfo, test_file: Path) -> str:
    """pytest's rewritten message without its explanation of how each side was computed (``+  where``
    lines name grader objects), or the failing line itself when the assert was not rewritten."""
    lines: list[str] = []
    for line in str(exc).splitlines():
        stripped = line.strip()
        if stripped.startswith(("+", "Use -v", "Full diff")) or not stripped:
            continue
        if lines and line.startswith("assert ") and not lines[0].startswith("assert "):
            break  # the instructor's own message came first: pytest's rendering and diff after it add nothing

        lines.append(line.rstrip()[:MAX_MESSAGE + 1])  # _clip below cuts the whole to MAX_MESSAGE, marked with …
        if len(lines) >= 8:
            break
    if lines:
        return _clip("\n".join(lines))
    for entry in reversed(traceback.extract_tb(excinfo.tb)):
        if entry.line and entry.line.strip().startswith("assert"):
            return _clip(f"failed: {entry.line.strip()}")
    return "assertion failed"


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")[:300]
    return "skipped"


def _collect_message(report, test_file: Path) -> str:
    text = str(report.longrepr or "")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    tail = " | ".join(lines[-4:])
    return f"{test_file.name} could not be collected: {_clip(tail, 800)}"


# ---------------------------------------------------------------------- running

EMPTY_INI = Path(__file__).with_name("pytest.ini")


def run_tests(test_file: Path, root: Path, harness: Harness, collect_only: bool = False) -> TestRun:
    """Run ``test_file`` with ``harness``; instructor modules under ``root`` are fresh for each run.
    ``collect_only``: list the tests (names, points, hidden) without running any."""
    import time

    started = time.perf_counter()
    args = [str(test_file), "--import-mode=importlib", "--rootdir", str(root), "-c", str(EMPTY_INI),
            "--capture=no", "-o", "addopts=", "-o", f"python_files={' '.join(_rewritten_names(test_file))}"]
    if collect_only:
        args.append("--collect-only")
    for name in DISABLED_PLUGINS:
        args += ["-p", f"no:{name}"]
    with _LOCK:
        before = set(sys.modules)
        saved_path = list(sys.path)
        saved_env = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # third-party pytest plugins stay out of grading
        # `from refs import softmax` in a test file works as under plain pytest
        sys.path[:0] = [str(test_file.parent), str(root)]
        _CURRENT.append(harness)
        try:
            code = pytest.main(args, plugins=[harness, sys.modules[__name__]])
        finally:
            _CURRENT.pop()
            sys.path[:] = saved_path
            if saved_env is None:
                os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
            else:
                os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = saved_env
            forget_modules(before, [root, test_file.parent])
    if code in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.INTERNAL_ERROR) and not harness.run.problems:
        harness.run.problems.append(f"pytest could not run {test_file.name} (exit {int(code)})")
    if not harness.run.tests and not harness.run.problems:
        harness.run.problems.append(f"{test_file.name} holds no tests (functions named test_...)")
    harness.run.elapsed_s = round(time.perf_counter() - started, 4)
    return harness.run


def _rewritten_names(test_file: Path) -> list[str]:
    """The file names pytest collects and rewrites asserts in: the test file and the modules beside it (its
    helpers). Never ``*.py``: that pattern matches every module imported during the run, mlgrade's own
    included, which pytest then rewrote and compiled again for every submission (0.2 s each time)."""
    names = [test_file.name]
    try:
        names += sorted(p.name for p in test_file.parent.glob("*.py") if p.name != test_file.name)[:200]
    except OSError:
        pass
    return [n for n in names if " " not in n]


def _installed_places() -> tuple[Path, ...]:
    """mlgrade's own packages and the environment's (its venv may sit inside the rubric's folder, as in a
    checkout): imported once per worker, never "fresh" per submission. Re-importing a third-party package's
    submodule under its loaded parent could even break it (a C extension loaded twice)."""
    import importlib.util
    import site
    import sysconfig

    places = {Path(loc).resolve() for name in ("grader", "mlgrade")  # found, not imported (mlgrade imports us)
              for loc in getattr(importlib.util.find_spec(name), "submodule_search_locations", None) or []}
    for p in [sys.prefix, sys.base_prefix, sys.exec_prefix, *sysconfig.get_paths().values(),
              *getattr(site, "getsitepackages", lambda: [])(), site.getusersitepackages()]:
        try:
            places.add(Path(p).resolve())
        except (OSError, TypeError, ValueError):
            pass
    return tuple(places)


_OWN_PACKAGES = _installed_places()


def forget_modules(before: set[str], folders: list[Path]) -> None:
    """Remove the modules imported since ``before`` from ``folders`` (and their package stubs), so the
    next submission imports them afresh: nothing a test stored in a module reaches another student."""
    roots = [f.resolve() for f in folders]
    doomed = []
    for name in set(sys.modules) - before:
        file = getattr(sys.modules.get(name), "__file__", None)
        if file:
            try:
                path = Path(file).resolve()
            except (OSError, ValueError):
                continue
            if any(own == path.parent or own in path.parents for own in _OWN_PACKAGES):
                continue
            if any(r == path.parent or r in path.parents for r in roots):
                doomed.append(name)
    stubs = [n for n in set(sys.modules) - before
             if getattr(sys.modules.get(n), "__file__", None) is None and any(d.startswith(n + ".") for d in doomed)]
    for name in doomed + stubs:
        sys.modules.pop(name, None)
