"""``mlgrade init assignment`` and ``mlgrade validate``: an instructor's next assignment, from scratch."""

from __future__ import annotations

import shutil

import pytest

from grader.cli.main import EXIT_INVALID, EXIT_OK, EXIT_USAGE, main


@pytest.fixture
def scaffolded(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # rich wraps table cells to the terminal
    folder = tmp_path / "hw_softmax"
    assert main(["init", "assignment", "hw_softmax", "--dir", str(folder)]) == EXIT_OK
    capsys.readouterr()
    return folder


def test_init_writes_a_complete_assignment(scaffolded):
    names = sorted(p.relative_to(scaffolded).as_posix() for p in scaffolded.rglob("*") if p.is_file())
    assert names == ["README.md", "refs.py", "rubric.yaml", "samples/correct/hw_softmax.ipynb",
                     "samples/wrong/hw_softmax.ipynb", "tests/test_hw_softmax.py"]
    text = (scaffolded / "rubric.yaml").read_text()
    assert "tests: tests/test_hw_softmax.py" in text and "__NAME__" not in text


def test_init_refuses_to_overwrite_and_bad_names(scaffolded, capsys):
    assert main(["init", "assignment", "hw_softmax", "--dir", str(scaffolded)]) == EXIT_USAGE
    assert "exists and is not empty" in capsys.readouterr().err
    assert main(["init", "assignment", "9lives", "--dir", str(scaffolded.parent / "x")]) == EXIT_USAGE
    assert "a letter then letters" in capsys.readouterr().err


@pytest.mark.parametrize("iso", ["none", "auto"])
def test_validate_passes_on_the_scaffold(scaffolded, capsys, iso):
    assert main(["validate", str(scaffolded / "rubric.yaml"), "--isolation", iso]) == EXIT_OK
    out = capsys.readouterr().out
    assert "softmax 6/6" in out and "softmax 3/6" in out and "2 samples graded as expected" in out


def test_validate_fails_when_the_wrong_sample_gets_full_marks(scaffolded, capsys):
    shutil.copy(scaffolded / "samples/correct/hw_softmax.ipynb", scaffolded / "samples/wrong/hw_softmax.ipynb")
    assert main(["validate", str(scaffolded / "rubric.yaml"), "--isolation", "none"]) == EXIT_INVALID
    out = capsys.readouterr().out
    assert "the tests do not tell it apart" in out and "validation failed for wrong" in out


def test_validate_fails_when_the_correct_sample_loses_points_and_says_why(scaffolded, capsys):
    refs = scaffolded / "refs.py"
    refs.write_text(refs.read_text().replace("keepdims=True)", "keepdims=True) + 1e-3"))  # an instructor's mistake
    assert main(["validate", str(scaffolded / "rubric.yaml"), "--isolation", "none"]) == EXIT_INVALID
    out = capsys.readouterr().out
    assert "validation failed for correct" in out and "test_softmax_on_the_handout_inputs[x0] failed" in out


def test_validate_shows_why_hidden_tests_failed_to_the_instructor(scaffolded, capsys):
    main(["validate", str(scaffolded / "rubric.yaml"), "--isolation", "none"])
    assert "hidden, for you only: softmax: (hidden) test_softmax_on_hidden_inputs" in capsys.readouterr().out
    assert main(["check", str(scaffolded / "samples/wrong"), "--rubric", str(scaffolded / "rubric.yaml"),
                 "--isolation", "none"]) == EXIT_OK
    student = capsys.readouterr().out
    assert "hidden tests worth 3 points run only when the class is graded" in student
    assert "Mismatched" not in student
    from grader.authoring.assignments import validate

    verdicts = validate(scaffolded / "rubric.yaml", isolation="none")
    wrong = next(v for v in verdicts if v.sample == "wrong")
    assert "(hidden) test_softmax_on_hidden_inputs[0] failed: " in wrong.result.questions[0].reason


def test_validate_checks_listed_expectations_and_grader_errors(scaffolded, capsys):
    (scaffolded / "samples/expected.yaml").write_text("wrong: {total: 3}\ncorrect: {questions: {softmax: 5}}\n")
    assert main(["validate", str(scaffolded / "rubric.yaml"), "--isolation", "none"]) == EXIT_INVALID
    out = capsys.readouterr().out
    assert "softmax: 6, expected 5" in out and "validation failed for correct" in out
    (scaffolded / "samples/expected.yaml").unlink()
    tests = scaffolded / "tests/test_hw_softmax.py"
    tests.write_text(tests.read_text() + "\n\ndef test_typo(notebook):\n    notebook.cal('softmax')\n")
    assert main(["validate", str(scaffolded / "rubric.yaml"), "--isolation", "none"]) == EXIT_INVALID
    assert "grader error" in capsys.readouterr().out


def test_validate_without_samples_says_where_to_put_them(tmp_path, capsys):
    (tmp_path / "rubric.yaml").write_text(
        "name: x\nquestions:\n  - {id: a, title: a, points: 1, checks: [{kind: file_present, file: a.txt}]}\n")
    assert main(["validate", str(tmp_path / "rubric.yaml"), "--isolation", "none"]) == EXIT_USAGE
    assert "put a correct and a wrong submission in" in capsys.readouterr().err
