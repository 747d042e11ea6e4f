"""``pytest``: the instructor's own tests, a plain pytest file next to the rubric.

The file runs in the grader's process (:mod:`grader.checks.pytest.harness`); the student's notebook
runs in the sandbox and is reached only through fixtures that carry data both ways
(:mod:`grader.checks.pytest.fixtures`). Markers give points (``@pytest.mark.points(2)``, default 1;
the cases of a parametrized test share its points) and hide tests from a student's self-check
(``@pytest.mark.hidden``: the self-check says the test exists, never its inputs or assertion,
and a graded report says whether it passed, never why). The check's fraction is the points
earned over the points of every test; a test that fails for the grader's reasons (a bug in the
test file) marks the question as a grader error instead of costing the student.

.. code-block:: yaml

    - kind: pytest
      tests: tests/test_softmax.py     # relative to the rubric
      notebook: softmax.ipynb          # the `notebook` fixture (a file of the submission)
      reference: refs.py               # the `reference` fixture (optional)
      uses: [answer.txt]               # other files the tests read (named when missing)
      options: {tolerance: 1.0e-6}     # the `options` fixture: settings of this rubric for the tests
      call_timeout: 10                 # each call into the notebook, seconds

A student build of the rubric (``mlgrade export student-kit``) has no ``reference:``: its
``reference_data:`` holds what the reference gave the public tests, recorded at export
(:mod:`grader.checks.pytest.recorded`), and ``practice_seed:`` seeds ``hidden_rng`` the same way on
every machine, so that its draws could be recorded too.
"""

from __future__ import annotations

from functools import cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from pydantic import Field

from grader.checks.notebooks import NotebookLimits, add_session_problems, notebook_session
from grader.checks.pytest import recording
from grader.checks.pytest.fixtures import Model, Notebook, SubmissionFiles
from grader.checks.pytest.recorded import RecordedReference
from grader.rubric.instructor import InstructorError, load_module
from grader.rubric.kinds import CheckContext, Outcome, RubricFile, check_kind

if TYPE_CHECKING:
    from grader.checks.pytest.harness import TestOutcome, TestRun

MAX_LISTED = 6


class PytestParams(NotebookLimits):
    tests: RubricFile
    notebook: str | None = Field(None, min_length=1)
    # more notebooks, by the name the tests use: notebooks["xor"]
    notebooks: dict[str, str] = Field(default_factory=dict)
    reference: RubricFile | None = None
    # a student build: the reference's answers as data (never its code), and the seed hidden_rng draws from
    reference_data: RubricFile | None = None
    practice_seed: str | None = Field(None, min_length=8, max_length=64)
    # other files of the submission the tests read (through `files`), so a report can say which are missing
    uses: list[str] = Field(default_factory=list)
    # text the student's code for this question contains ("def back_propagation("): a notebook handed in under
    # another name is recognised by it, and the report says so
    recognise_by: list[str] = Field(default_factory=list)
    # settings the tests read through the `options` fixture (one test file, several rubrics: a tolerance, a mode)
    options: dict[str, Any] = Field(default_factory=dict)
    call_timeout: float = Field(20, gt=0)
    # all requests of the submission's tests together, per notebook
    session_timeout: float = Field(300, gt=0)

    def file_patterns(self) -> list[str]:
        found = ([self.notebook] if self.notebook else []) + list(self.notebooks.values()) + list(self.uses)
        return list(dict.fromkeys(found))

    def code_markers(self) -> list[str]:
        return list(self.recognise_by)


@check_kind("pytest", PytestParams, uses_notebooks=True)
def pytest_tests(ctx: CheckContext, p: PytestParams) -> Outcome:
    """The instructor's pytest file, run in the grader against the student's sandboxed work."""
    from grader.checks.pytest.harness import (  # deferred: pytest (0.15 s) only where a test file runs
        Fixtures,
        Harness,
        run_tests,
    )
    test_file = ctx.rubric_path(p.tests)
    root = ctx.rubric_dir or test_file.parent

    opened = []

    def notebook_maker(pattern: str):
        def open_session():
            session, _ = notebook_session(ctx, pattern, p, p.call_timeout, p.session_timeout)
            opened.append(session)
            return session

        def make() -> Notebook:
            path = ctx.submission.find_one(pattern)
            return Notebook(open_session, path, ctx.submission.rel(path) if path is not None else pattern)

        return make

    makers = {name: notebook_maker(pattern) for name, pattern in p.notebooks.items()}
    if p.notebook:
        makers["notebook"] = notebook_maker(p.notebook)

    @cache
    def model(pattern: str) -> Model:
        return Model(ctx, pattern)

    recorder = recording.active()  # set while a student build is being compiled

    @cache
    def reference():
        if p.reference_data:
            return recorded_reference(ctx.rubric_path(p.reference_data))
        if not p.reference:
            return None
        module = load_module(ctx.rubric_path(p.reference))
        return recorder.watch(test_file, module) if recorder is not None else module

    seed = p.practice_seed or (recorder.practice_seed if recorder is not None else None)
    rng_seed = f"practice|{seed}" if seed else f"{ctx.options.seed}|{ctx.submission.content_hash}"
    fixtures = Fixtures(notebooks=makers, files=lambda: SubmissionFiles(ctx.submission), model=model,
                        reference=reference, rng_seed=rng_seed, options=MappingProxyType(dict(p.options)),
                        hidden_dir=ctx.options.hidden_dir)
    harness = Harness(fixtures, test_file, self_check=ctx.options.self_check, reveal_hidden=ctx.options.reveal_hidden)
    run = run_tests(test_file, root, harness)
    outcome = score(run, test_file.name, ctx.options.self_check, ctx.options.reveal_hidden)
    for key, value in harness.feedback.items():
        outcome.details.setdefault(key, value)  # what the tests left for the feedback page
    for session in dict.fromkeys(s for s in opened if s.started):  # the student's cells' errors, as they see them
        add_session_problems(ctx, session, outcome)
    return outcome


def _passed_words(passed: list[str], everything: bool) -> str:
    """``passed: test_a, test_b``, or for a long list its count: the names of passing tests tell a student little."""
    if len(passed) <= MAX_LISTED:
        return "passed: " + ", ".join(passed)
    return f"all {len(passed)} tests passed" if everything else f"the other {len(passed)} tests passed"


def recorded_reference(path) -> RecordedReference:
    """The student build's recorded reference; a damaged or missing file is the build's fault, not the student's."""
    try:
        return RecordedReference(path.read_text(encoding="utf-8"), path.name)
    except (OSError, ValueError) as e:
        raise InstructorError(f"the student build's recorded reference {path.name} cannot be read: {e}") from None


def score(run: TestRun, file: str, self_check: bool, reveal_hidden: bool = False) -> Outcome:
    """Points earned over all tests' points, a reason that lists what failed, and the grader's errors apart."""
    details = {"tests": [_detail(t) for t in run.tests]}
    if run.problems:
        why = "; ".join(run.problems[:3])
        return Outcome(0.0, f"the grader could not run the tests: {why}; this is a problem with the "
                            "assignment's tests, not with the submission", details=details, grader_error=why)
    counted = [t for t in run.tests if t.outcome != "skipped"]
    total = sum(t.points for t in counted)
    earned = sum(t.earned for t in counted)
    frac = earned / total if total > 0 else 0.0
    visible = [t for t in counted if not t.hidden]
    hidden = [t for t in counted if t.hidden]
    notes = [f"{_pts(earned)}/{_pts(total)} test points"]
    passed = [t.name for t in visible if t.outcome == "passed" and t.fraction >= 1.0]
    partly = [t for t in visible if t.outcome == "passed" and t.fraction < 1.0]
    failed = [t for t in visible if t.outcome == "failed"]
    pending = [t.name for t in visible if t.outcome == "pending"]
    # what a student must fix comes first and whole; what passed is summed up after it
    for names, message in _grouped(failed):
        notes.append(f"{names} failed: {message}")
    for t in partly:
        notes.append(f"{t.name} partly: {_pts(t.earned)} of {_pts(t.points)} points"
                     + (f" ({t.partial_why})" if t.partial_why else ""))
    if pending:
        notes.append(f"checked when the class is graded (they compare your values with the instructor's "
                     f"reference, which this build does not hold): {', '.join(pending)}")
    if passed:
        notes.append(_passed_words(passed, everything=len(passed) == len(visible)))
    instructor: list[str] = []  # why hidden tests failed: stored for the instructor, never in a student's reason
    if hidden:
        hidden_points = _pts(sum(t.points for t in hidden))
        if self_check:
            groups = sorted({t.group.rsplit("::", 1)[-1] for t in hidden})
            notes.append(f"hidden tests worth {hidden_points} points run only when the class is graded "
                         f"({', '.join(groups)})")
        else:
            ok = sum(t.outcome == "passed" for t in hidden)
            notes.append(f"hidden tests: {ok} of {len(hidden)} passed ({_pts(sum(t.earned for t in hidden))} of "
                         f"{hidden_points} points)")
            wrong = [t for t in hidden if t.outcome == "failed"]
            instructor = [f"(hidden) {t.name} failed: {t.message}" for t in wrong]
            instructor += [f"(hidden) {t.name} partly ({_pts(t.earned)} of {_pts(t.points)}): {t.partial_why}"
                           for t in hidden if t.outcome == "passed" and t.fraction < 1.0]
            if wrong:
                notes.append("hidden tests not passed: " + _hidden_cases(wrong, hidden))
            if reveal_hidden:  # validate: the instructor reads the reason itself
                notes += instructor[:MAX_LISTED]
    skipped = [t.name for t in run.tests if t.outcome == "skipped"]
    if skipped:
        notes.append("skipped by the tests: " + ", ".join(skipped))
    errors = [t for t in run.tests if t.outcome == "error"]
    grader_error = ""
    if errors:
        grader_error = "; ".join(f"{names}: {message}" for names, message in _grouped(errors)[:3])
        notes.append(f"grader error in {file} (not your fault; the instructor is told): {grader_error}")
    # A self-check cannot decide points that only hidden tests give: not failed, checked when graded.
    only_hidden = self_check and hidden and not any(t.points for t in visible)
    if only_hidden and not grader_error:
        notes[0] = f"{_pts(total)} points from hidden tests, checked when the class is graded"
    return Outcome(frac, "; ".join(notes), details=details, grader_error=grader_error,
                   pending=bool(only_hidden and not grader_error), instructor_notes=instructor)


def _hidden_cases(wrong: list[TestOutcome], hidden: list[TestOutcome]) -> str:
    """Which hidden tests failed, by function and case number: a case's own name (``test_x[800.0-0]``) spells
    out the hidden inputs it was made from, which are the instructor's."""
    out: list[str] = []
    failed = {id(t) for t in wrong}
    for group in list(dict.fromkeys(t.group for t in wrong))[:MAX_LISTED]:
        cases = [t for t in hidden if t.group == group]
        name = group.rsplit("::", 1)[-1]
        if len(cases) == 1 and cases[0].name == name:
            out.append(name)
            continue
        numbers = [str(i) for i, t in enumerate(cases, 1) if id(t) in failed]
        out.append(f"{name} (case{'s' if len(numbers) > 1 else ''} {', '.join(numbers)} of {len(cases)})")
    return ", ".join(out)


def _grouped(tests: list[TestOutcome]) -> list[tuple[str, str]]:
    """``("test_a, test_b", message)``: tests that failed for the same reason are named together, once."""
    by_message: dict[str, list[str]] = {}
    for t in tests:
        by_message.setdefault(t.message, []).append(t.name)
    return [(", ".join(names), message) for message, names in by_message.items()]


def _detail(t: TestOutcome) -> dict:
    return {"test": t.nodeid, "points": round(t.points, 4), "earned": round(t.earned, 4),
            "outcome": "partly" if t.outcome == "passed" and t.fraction < 1.0 else t.outcome,
            "hidden": t.hidden,
            "message": "" if t.hidden else (t.partial_why if t.outcome == "passed" and t.fraction < 1.0 else t.message)}


def _pts(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))
