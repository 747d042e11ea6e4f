"""Tests for __NAME__: plain pytest, run by mlgrade in the grader's process for every submission.

The student's notebook runs in a sandbox. `notebook.call("softmax", x)` sends `x` there as data
and brings the result back as data (numbers, lists, dicts, numpy arrays), so every comparison
below happens here, against values the student's code cannot fake. Fixtures:

  notebook    the student's notebook: .call(name, *args, **kw), .value("expr"), .has("name"),
              .errors, .stdout, .stored_outputs
  reference   refs.py (the check's `reference:`), imported here
  hidden_rng  a numpy Generator seeded by the grading seed, the submission and the test:
              nobody can know the draws in advance, and a regrade draws the same
  files       the submission's files, read-only (files.text("answer.txt"))
  model       model("net.h5"): a Keras file read in the sandboxed model server

Markers: @pytest.mark.points(n) (default 1; the cases of a parametrized test share its points)
and @pytest.mark.hidden (a student's self-check says the test exists, never what it checks).
A failing assert's message is what the student reads. An error that is not an assertion (a
typo here, say) is reported as a grader error, not as the student's failure.
"""

import numpy as np
import pytest


def test_defines_softmax(notebook):
    assert notebook.has("softmax"), "define a function softmax(x, axis=-1)"


@pytest.mark.points(2)
@pytest.mark.parametrize("x", [[1.0, 2.0, 3.0], [-2.0, 0.0, 0.5, 4.0]])
def test_softmax_on_the_handout_inputs(notebook, reference, x):
    got = notebook.call("softmax", np.array(x))
    assert isinstance(got, np.ndarray), f"softmax should return a numpy array, it returned {type(got).__name__}"
    assert got == pytest.approx(reference.softmax(np.array(x)), rel=1e-6)


@pytest.mark.hidden
@pytest.mark.points(3)
@pytest.mark.parametrize("case", range(3))
def test_softmax_on_hidden_inputs(notebook, reference, hidden_rng, case):
    # Different for every submission, so hard-coded answers fail; large values catch a missing max-shift.
    x = hidden_rng.normal(0, 300, size=(int(hidden_rng.integers(2, 20)), 10))
    got = notebook.call("softmax", x, axis=1)
    assert isinstance(got, np.ndarray) and got.shape == x.shape, "softmax(x, axis=1) keeps the shape of x"
    np.testing.assert_allclose(got, reference.softmax(x, axis=1), rtol=1e-6, atol=1e-12)
