"""Missing-file hints offer the student's own files: never the grader's, never one already named right."""

from __future__ import annotations

from pathlib import Path

from grader.intake.submission import Submission, grader_files


def submission(tmp_path: Path, files: dict[str, bytes], **kw) -> Submission:
    root = tmp_path / "files"
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return Submission(student="s", source=root, root=root, files=sorted(files), **kw)


def test_a_classroom_repositorys_rubric_build_is_never_offered_as_the_students(tmp_path):
    test_file = b"def test_backprop(notebook): ...\n"
    sub = submission(tmp_path, {
        ".github/mlgrade/rubrics/aml_hw4/tests/test_backprop.py": test_file,
        ".github/mlgrade/student_files/backprop.py": b"x",
        "mlgrade-kit/rubrics/aml_hw4/tests/test_backprop.py": test_file,
        "README.md": b"hw4",
    })
    msg = sub.explain_missing("backprop.ipynb")
    assert "rename" not in msg and "test_backprop" not in msg and ".github" not in msg, msg
    sub.files.append("back_prop.ipynb")  # the student's own, under another name: still offered
    assert "found 'back_prop.ipynb' — rename it" in sub.explain_missing("backprop.ipynb")


def test_a_file_already_named_as_the_rubric_expects_is_not_offered(tmp_path):
    sub = submission(tmp_path, {"digit.h5": b"m", "Digits_.h5": b"m"})
    assert "found 'Digits_.h5', 'digit.h5' — rename it" in sub.explain_missing("digits.h5")
    sub.expected = ("digit.h5", "digits.h5")  # digit.h5 is another question's file, in its place
    assert "found 'Digits_.h5' — rename it" in sub.explain_missing("digits.h5")


def test_the_rubrics_files_are_found_by_their_layout_or_their_bytes(tmp_path):
    rubric_dir = tmp_path / "course"
    shipped = {"rubrics/hw/tests/test_backprop.py": b"def test_x(): ...\n", "starter.ipynb": b'{"cells": []}',
               "rubric.yaml": b"name: hw\n"}
    for rel, data in shipped.items():
        (rubric_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (rubric_dir / rel).write_bytes(data)
    sub = submission(tmp_path, {
        "kit/rubrics/hw/tests/test_backprop.py": b"a student build's version of the test\n",  # its layout
        "test_backprop.py": shipped["rubrics/hw/tests/test_backprop.py"],  # a copy, flat
        "my_starter.ipynb": shipped["starter.ipynb"],  # handed back untouched
        "starter.ipynb": b'{"cells": [1]}',  # the student's work in the starter: theirs
        "rubric.yaml": b"name: mine\n",  # a name the rubric has, other bytes: the student's
    })
    found = grader_files(sub.root, sub.files, {rel: rubric_dir / rel for rel in shipped})
    assert found == {"kit/rubrics/hw/tests/test_backprop.py", "test_backprop.py", "my_starter.ipynb"}


def test_of_files_differing_only_in_letter_case_the_one_spelled_as_the_rubric_is_used(tmp_path):
    """weights.h5 and WEIGHTS.H5 side by side (a red-team zip): the garbage WEIGHTS.H5 was chosen, since upper case
    sorts first. The one named exactly as the rubric spells it wins; depth still comes first."""
    sub = submission(tmp_path, {"WEIGHTS.H5": b"junk", "weights.h5": b"model", "deep/weights.h5": b"other"})
    assert sub.rel(sub.find_one("weights.h5")) == "weights.h5"
    assert [sub.rel(p) for p in sub.find("weights.h5")] == ["weights.h5", "WEIGHTS.H5", "deep/weights.h5"]
    assert sub.rel(sub.find_one("Weights.H5")) == "WEIGHTS.H5"  # no exact spelling: by name, as before
