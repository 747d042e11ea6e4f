"""Git LFS pointers are named for every file type the grader reads (:mod:`grader.insandbox.lfs`): images,
notebooks, model files, and any required file, instead of "not an image file" or "not valid notebook JSON"."""

from __future__ import annotations

import pytest
from helpers import grade_files

from grader.insandbox.lfs import lfs_pointer, lfs_pointer_file
from grader.intake.nbload import NotebookProblem, read_cells

POINTER = (b"version https://git-lfs.github.com/spec/v1\n"
           b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 4880824\n")
SAID = "is a Git LFS pointer (a small text file standing in for the real file (4,880,824 bytes) in a Git repository)"

RUBRIC = """
name: t
questions:
  - id: shot
    title: screenshot
    points: 1
    checks:
      - {kind: image, file: "hdfview.{png,jpg}"}
  - id: eq
    title: equation
    points: 1
    checks:
      - {kind: file_present, file: xor_equation.txt}
  - id: w
    title: weights
    points: 1
    checks:
      - {kind: file_present, file: weights.h5}
"""


def test_a_pointer_is_recognised_and_its_real_size_named():
    assert lfs_pointer(POINTER).startswith(SAID)
    assert lfs_pointer(b"\xef\xbb\xbf\r\n" + POINTER) is not None  # a BOM or blank lines before it
    assert lfs_pointer(b"Y = sigmoid(w1*x1 + w2*x2 + b)\n") is None
    assert lfs_pointer(b"version https://git-lfs.github.com/spec/v1\n").startswith(
        "is a Git LFS pointer (a small text file standing in for the real file in")


def test_a_large_file_that_starts_like_a_pointer_is_not_one(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_bytes(POINTER + b"x" * 2000)
    assert lfs_pointer_file(p) is None
    p.write_bytes(POINTER)
    assert lfs_pointer_file(p) is not None


def test_images_and_required_files_name_the_pointer(tmp_path):
    r = grade_files(tmp_path, {"HDFView.png": POINTER, "xor_equation.txt": POINTER, "weights.h5": POINTER,
                               "README.md": b"hw"}, RUBRIC)
    assert r.question("shot").reason.startswith(f"HDFView.png: {SAID}"), r.question("shot").reason
    assert r.question("eq").reason.startswith(f"xor_equation.txt {SAID}") and r.question("eq").score == 0
    assert r.question("w").reason.startswith(f"weights.h5 {SAID}") and r.question("w").score == 0


def test_a_notebook_pointer_is_named(tmp_path):
    p = tmp_path / "classify.ipynb"
    p.write_bytes(POINTER)
    with pytest.raises(NotebookProblem) as e:
        read_cells(p)
    assert str(e.value).startswith(f"classify.ipynb: {SAID}")
