"""``samples/expected.yaml`` is read against a schema: a typo is an error with the key and a did-you-mean,
never a sample left unchecked; scores compare at the precision the table shows."""

from __future__ import annotations

import pytest

from grader.authoring.assignments import validate
from grader.cli.main import EXIT_INVALID, EXIT_USAGE, main


@pytest.fixture
def assignment(tmp_path):
    folder = tmp_path / "hw"
    assert main(["init", "assignment", "hw", "--dir", str(folder)]) == 0
    return folder


def _expect(folder, text: str):
    (folder / "samples" / "expected.yaml").write_text(text)


@pytest.mark.parametrize(("text", "said"), [
    ("correct: {totl: 10}\n", "correct.totl: unknown key (allowed here: total, questions, path); did you mean 'total'?"),
    ("relu_grad: 1\n", "relu_grad: expected a sample's expected scores"),
    ("corect: {total: 10}\n", "corect: no such sample (samples: correct, wrong); did you mean 'correct'?"),
    ("correct: {questions: {sofmax: 6}}\n", "correct.questions.sofmax: no such question (questions: softmax); did you mean 'softmax'?"),
    ("correct: {total: lots}\n", "correct.total: expected a number, got 'lots'"),
    ("correct: {total: 1}\ncorrect: {total: 2}\n", "duplicate key"),
    ("correct: [\n", "at line"),
])
def test_a_mistake_in_expected_yaml_is_an_error_with_its_key(assignment, capsys, text, said):
    _expect(assignment, text)
    assert main(["validate", str(assignment / "rubric.yaml"), "--isolation", "none"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "expected.yaml" in err and said in err, err


def test_totals_compare_at_the_precision_shown_and_per_question_scores_are_checked(assignment, capsys):
    verdicts = {v.sample: v for v in validate(assignment / "rubric.yaml", isolation="none")}
    total = verdicts["correct"].result.total
    _expect(assignment, f"correct: {{total: {total + 0.004}}}\nwrong: {{questions: {{softmax: 6}}}}\n")
    verdicts = {v.sample: v for v in validate(assignment / "rubric.yaml", isolation="none")}
    assert verdicts["correct"].ok, verdicts["correct"].problems  # 10 and 10.004 both show as 10
    assert not verdicts["wrong"].ok and verdicts["wrong"].problems[0].startswith("softmax: ")
    _expect(assignment, f"correct: {{total: {total - 0.5}}}\n")
    assert main(["validate", str(assignment / "rubric.yaml"), "--isolation", "none"]) == EXIT_INVALID


def test_validate_and_the_student_build_leave_no_folders_behind(assignment, tmp_path, monkeypatch):
    import tempfile

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    assert main(["validate", str(assignment / "rubric.yaml"), "--isolation", "none"]) == 0
    assert main(["export", "student-kit", "--rubric", str(assignment / "rubric.yaml"), "--isolation", "none",
                 "-o", str(tmp_path / "kit.zip")]) == 0
    assert sorted(p.name for p in scratch.iterdir()) == []
