"""A student's self-check: the notes it adds (once, in plain words) and its HTML table (escaped)."""

from __future__ import annotations

import html.parser

from conftest import ROOT

from grader.core.results import CheckResult, QuestionResult, Status, SubmissionResult
from grader.execute.isolation import backend
from grader.render.notebook_html import fragment
from grader.rubric import load_rubric, parse_rubric
from grader.student.relative import in_words
from grader.student.selfcheck import SelfCheck, notes, self_check

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>\x1b[2J"


def _result(**kw) -> SubmissionResult:
    q = QuestionResult(id="q1", title="Title " + HOSTILE, score=1, max_score=2, status=Status.PARTIAL,
                       reason="found " + HOSTILE, checks=[CheckResult(kind="x", fraction=0.5,
                                                                      status=Status.PARTIAL, reason="r")])
    rel = QuestionResult(id="digits", title="digits", score=39.6, max_score=40, status=Status.PARTIAL, reason="r",
                         relative=0.99)
    return SubmissionResult(student="s", source=HOSTILE, total=40.6, max_total=42, questions=[q, rel],
                            warnings=["entry " + HOSTILE], **kw)


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_the_html_table_escapes_everything_from_the_submission():
    rubric = load_rubric(ROOT / "rubric.yaml")
    check = SelfCheck(_result(), rubric, HOSTILE, backend("none"), notes=["note " + HOSTILE])
    page = fragment(check.result, check.title(), check.notes)
    parser = _Tags()
    parser.feed(page)
    tags = {t for t, _ in parser.tags}
    assert "script" not in tags and "img" not in tags
    assert not any(k.startswith("on") for _, attrs in parser.tags for k in attrs)
    assert "\x1b" not in page and "&lt;script&gt;" in page
    assert "table" in tags and page.count("<tr>") == 4  # header, one row per question, total
    assert "40.6/42" in page and check._repr_html_() == page


def test_notes_say_once_that_there_was_no_sandbox():
    rubric = load_rubric(ROOT / "rubric.yaml")
    said = notes(_result(files=["HW4/backprop.ipynb", "digits.h5"]), rubric, backend("none"), requested="none")
    assert len(said) == 1
    assert said[0].startswith("your notebooks ran without the sandbox") and "your own code" in said[0]
    assert "no network" in said[0] and "no sandbox was asked for" in said[0]
    assert notes(_result(files=["backprop.ipynb"]), rubric, backend("bwrap")) == []  # sandboxed: no such note


def test_no_sandbox_note_for_a_submission_without_a_notebook():
    rubric = load_rubric(ROOT / "rubric.yaml")
    assert notes(_result(files=["weights.h5", "xor_hand.txt"]), rubric, backend("none"), requested="none") == []
    assert notes(_result(), rubric, backend("none")) == []


def test_a_class_relative_question_says_the_accuracy_and_the_score_range_in_plain_words():
    """Not '39.44/40 partial': the student's own accuracy, the score if theirs is the best and at the least,
    against the best so far where that is known; the question's points are pending, not lost."""
    said = in_words(_result(), {})
    q = said.question("digits")
    assert q.status is Status.PENDING and q.score == 0 and said.total == 1  # q1's point alone is scored
    assert q.reason.startswith("Your accuracy on the public digits in this kit: 99.00 %. Your score will be 40 x "
                               "your accuracy / the best accuracy in the class, known only when the whole class is "
                               "graded: 40 if yours is the best, at least 39.6 whatever the best."), q.reason
    best = in_words(_result(), {"digits": 0.995}).question("digits")
    assert "Against the best so far (99.50 %) it would be 39.8 of 40." in best.reason
    assert in_words(_result(), {}).question("q1") == _result().question("q1")  # others untouched


def test_hidden_questions_are_graded_by_the_instructor_never_run(tmp_path):
    small = parse_rubric(
        "name: t\nquestions:\n"
        "  - {id: backprop, title: numpy backprop, points: 3, hidden: true, files: [backprop.ipynb],\n"
        "     checks: [{kind: pytest, tests: rubrics/aml_hw4/tests/test_backprop.py, notebook: backprop.ipynb}]}\n"
        "  - {id: hand, title: hand values, points: 1, files: [xor_hand.txt], checks: [{kind: file_present, "
        "file: xor_hand.txt}]}\n", str(ROOT / "t.yaml"))
    check = self_check(ROOT / "submissions" / "alice_complete.zip", small, isolation="none")
    assert check.result.question("hand").score == 1
    got = check.result.question("backprop")
    assert got.status is Status.PENDING and got.score == 0 and got.max_score == 3
    assert got.reason.startswith("graded by your instructor")
    assert not got.checks  # its notebook never ran
    assert check.result.max_total == 4
    assert any(n.startswith("graded by your instructor with hidden tests: backprop") for n in check.notes)


def test_the_cli_says_nothing_of_the_sandbox_when_no_notebook_ran(samples_dir, capsys):
    from grader.cli.main import main

    assert main(["check", str(samples_dir / "dave_not_a_zip.zip"), "--isolation", "none"]) == 0
    out = capsys.readouterr()
    # no notebook was handed in (a PDF named .zip), so nothing ran without the sandbox: no note says it did
    assert "sandbox" not in out.out and "without isolation" not in out.err


def test_a_self_check_runs_model_files_on_the_numpy_engine_even_where_keras_is_installed(monkeypatch):
    """Keras' import is 4-6 s of a student's first check; the numpy engine gives the same predictions (within
    1e-5 on the real models) and starts in 0.3 s. Batch grading keeps Keras where it is installed; the
    environment variable still decides when set."""
    from grader.execute import modelserver
    from grader.execute.isolation.service import ServiceError

    started: list[dict] = []

    class Refuse:
        dedicated_uid = False

        def start_service(self, spec):
            started.append(dict(spec.env))
            raise ServiceError("not in this test")

    monkeypatch.setattr(modelserver, "backend", lambda name: Refuse())
    monkeypatch.delenv("MLGRADE_MODEL_ENGINE", raising=False)
    small = parse_rubric("name: t\nquestions:\n  - {id: digits, title: digits, points: 1, files: [digits.h5],\n"
                         "     checks: [{kind: digits, model: digits.h5}]}\n",
                         str(ROOT / "t.yaml"))
    self_check(ROOT / "submissions" / "alice_complete.zip", small, isolation="none", remember=False)
    assert started and started[-1].get("MLGRADE_MODEL_ENGINE") == "numpy"
    for engine, forced, expected in (("", None, None), ("", "keras", "keras"), ("numpy", "keras", "keras")):
        started.clear()
        if forced:
            monkeypatch.setenv("MLGRADE_MODEL_ENGINE", forced)
        try:
            modelserver.ModelServer("none", 0, engine)
        except ServiceError:
            pass
        assert started[-1].get("MLGRADE_MODEL_ENGINE") == expected
