"""The XOR notebook (the hw4 pack's tests/test_xor_notebook.py): re-run with a seed it must train; its saved
outputs must show consistent weights."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import grade_files, notebook_bytes
from make_submissions import XOR_CODE, xor_notebook

from grader.intake.nbparse import find_xor_weights, printed_arrays
from reference import xor as ref

RUBRIC = """
name: t
questions:
  - id: q4a
    title: xor
    points: 1
    checks:
      - kind: pytest
        tests: rubrics/hw4/tests/test_xor_notebook.py
        notebook: xor.ipynb
        reference: reference/xor.py
        options: {tolerance: 0.1}
"""


def grade(tmp_path, nb: bytes):
    return grade_files(tmp_path, {"xor.ipynb": nb}, RUBRIC).question("q4a")


def test_a_trained_notebook_with_its_outputs_passes(tmp_path):
    w1, w2, out = ref.train(11)
    q = grade(tmp_path, xor_notebook(w1, w2, out))
    assert q.score == 1, q.reason
    assert "passed: test_printed_final_weights, test_trains_when_run_again" in q.reason


def test_printed_output_that_the_weights_do_not_give_fails_that_part(tmp_path):
    w1, w2, out = ref.train(11)
    q = grade(tmp_path, xor_notebook(w1, w2, out[::-1]))
    assert q.score == 0.5
    assert "is not what the printed weights give" in q.reason


def test_notebook_without_saved_outputs_fails_the_printed_part(tmp_path):
    q = grade(tmp_path, notebook_bytes(XOR_CODE))
    assert q.score == 0.5
    assert "do not show the final weights1 (3x4) and weights2 (4x1)" in q.reason


def test_the_handouts_indentation_bug_fails_the_rerun(tmp_path):
    buggy = XOR_CODE.replace('if __name__ == "__main__":', '    if __name__ == "__main__":')
    buggy = "\n".join(("    " + ln if i > buggy.splitlines().index('    if __name__ == "__main__":') and ln else ln)
                      for i, ln in enumerate(buggy.splitlines()))
    w1, w2, out = ref.train(3)
    q = grade(tmp_path, notebook_bytes(buggy, outputs={0: f"{w1}\n{w2}\n{out}\n"}))
    assert q.score == 0.5, q.reason
    assert "re-run: no network output" in q.reason
    assert "NameError" in q.reason


def test_a_network_that_does_not_learn_fails_the_rerun(tmp_path):
    lazy = XOR_CODE.replace("range(10000)", "range(3)")
    w1, w2, out = ref.train(3)
    q = grade(tmp_path, notebook_bytes(lazy, outputs={0: f"{w1}\n{w2}\n{out}\n"}))
    assert q.score == 0.5
    assert "not within 0.1 of [0, 1, 1, 0]" in q.reason


@pytest.mark.parametrize(
    "text",
    [
        "{w1}\n{w2}\n{out}\n",  # print(array)
        "array({w1r})\narray({w2r})\narray({outr})\n",  # repr
        "[{w1l}, {w2l}, {outl}]\n",  # one nested list, as the handout shows it
        "iteration 9999\n{w1}\n{w2}\n{out}\nDone\n",
    ],
)
def test_printed_array_formats(text):
    w1, w2, out = ref.train(5)
    fmt = text.format(w1=w1, w2=w2, out=out, w1r=repr(w1.tolist()), w2r=repr(w2.tolist()),
                      outr=repr(out.tolist()), w1l=w1.tolist(), w2l=w2.tolist(), outl=out.tolist())
    found = find_xor_weights(printed_arrays(fmt))
    assert found is not None
    np.testing.assert_allclose(found[0], w1, atol=1e-8)
    np.testing.assert_allclose(found[1], w2, atol=1e-8)
    np.testing.assert_allclose(found[2], out, atol=1e-8)


def test_the_handout_sample_print_is_understood():
    text = """[[[ 7.19328546, 2.81204434, 1.40998559, 4.83853315],
  [ 6.35378132, 4.51126787, 3.38229611, -3.55865088],
  [-3.03899765, -5.5302491, -3.51765491, 2.34739304]],
 [[11.72259331],
  [-8.30218083],
  [-5.14836988],
  [-5.71845324]],
 [[0.00765428],
  [0.9954903 ],
  [0.99146861],
  [0.00676557]]]"""
    w1, w2, out = find_xor_weights(printed_arrays(text))
    np.testing.assert_array_equal(w1, ref.HANDOUT_WEIGHTS1)
    np.testing.assert_array_equal(w2, ref.HANDOUT_WEIGHTS2)
    np.testing.assert_array_equal(out, ref.HANDOUT_PRINTED_OUTPUT)


def test_the_last_printed_weights_win():
    a, b = ref.train(1), ref.train(2)
    text = "".join(f"{w1}\n{w2}\n{out}\n" for w1, w2, out in (a, b))
    w1, _, _ = find_xor_weights(printed_arrays(text))
    np.testing.assert_array_equal(w1, np.array(printed_arrays(str(b[0]))[0]))


def test_text_that_is_not_numbers_is_ignored():
    assert printed_arrays("[note] see [1, 2, 'x'] and [[a, b]]") == []


def test_the_input_matrix_printed_after_training_is_not_taken_for_weights(tmp_path):
    """Real notebooks print X.T (3x4 of 0/1) and y after training: those are data, not learned weights."""
    w1, w2, out = ref.train(7)
    x_t = np.array(ref.X).T
    text = f"{w1}\n{w2}\n{out}\nX.T:\n{x_t}\n{np.array([[0], [1], [1], [0]])}\n"
    found = find_xor_weights(printed_arrays(text))
    np.testing.assert_allclose(found[0], w1, atol=1e-8)
    # and in a graded notebook, the reason names the cell the weights came from
    nb = notebook_bytes(XOR_CODE, "print(X.T)\nprint(y)",
                        outputs={0: f"{w1}\n{w2}\n{out}\n", 1: f"{x_t}\n{np.array([[0], [1], [1], [0]])}\n"})
    q = grade(tmp_path, nb)
    assert q.score == 1, q.reason


def test_only_the_input_matrix_printed_says_so(tmp_path):
    nb = notebook_bytes(XOR_CODE, outputs={0: f"{np.array(ref.X).T}\n{np.array([[0], [1], [1], [0]])}\n"})
    q = grade(tmp_path, nb)
    assert "that is the input X, not learned weights" in q.reason


def test_weights_printed_under_their_names_are_preferred():
    a, b = ref.train(1), ref.train(2)
    # the named final weights come first, an unnamed pair (say, the initial weights) after
    text = f"weights1:\n{b[0]}\nweights2:\n{b[1]}\n\n{a[0]}\n{a[1]}\n"
    w1, w2, _ = find_xor_weights(printed_arrays(text))
    assert find_xor_weights(printed_arrays(text)) is not None
    from grader.intake.nbparse import labelled_arrays

    w1, w2, _, first = find_xor_weights(labelled_arrays(text, "In [5]"))
    np.testing.assert_allclose(w1, b[0], atol=1e-8)
    assert first.origin == "In [5]" and "weights1" in first.label


def test_brackets_nested_past_any_array_are_not_read_and_cost_nothing_else():
    """'[' * 5000 printed by a notebook reached a recursive walk in the grader (RecursionError, half of q4a lost):
    past 32 levels no array is that deep, and the weights printed after it are still found."""
    import time

    from grader.intake.nbparse import labelled_arrays

    w1_printed, w2_printed = np.asarray(ref.HANDOUT_WEIGHTS1), np.asarray(ref.HANDOUT_WEIGHTS2)
    weights = "weights1:\n" + str(w1_printed.tolist()) + "\nweights2:\n" + str(w2_printed.tolist()) + "\n"
    text = "[" * 5000 + "1" + "]" * 5000 + "\n" + weights
    started = time.perf_counter()
    assert printed_arrays("[" * 5000 + "1" + "]" * 5000) == []
    w1, w2, _ = find_xor_weights(printed_arrays(text))
    assert np.allclose(w1, w1_printed) and np.allclose(w2, w2_printed)
    assert len(labelled_arrays(text)) == 2
    assert time.perf_counter() - started < 2.0
