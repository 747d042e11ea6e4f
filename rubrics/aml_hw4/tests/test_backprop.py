"""AML HW4 part 1: the student's back_propagation on the handout's seed-0 data and on hidden problems.

The notebook runs in the sandbox; the grader calls the student's function with inputs it sends
as data and compares every number it gets back with the reference (reference/backprop.py), here. Printing the
right numbers is not enough: the hidden problems (other sizes, non-zero biases, a seed drawn
for each submission) catch hard-coded values.

Points (the question's points scale them): the seed-0 loss 1, the seed-0 gradients 1 (a quarter
each), the hidden problems 1 (shared). Options: `tolerance` (default 1e-6: absolute on seed 0,
relative too on the hidden problems).
"""

import backprop_checks as bc
import pytest

from grader.api import NotebookDidNotRun, StudentFailure

FUNCTION = "back_propagation"
HIDDEN_POINTS = [137, 401]
LOSS_NAMES = ["L", "loss"]  # the notebook's own variables, if the function cannot be used
GRADIENT_NAMES = ["gradients", "grads"]


def _variables(notebook):
    """(gradients, L) from the notebook's variables, or None."""
    try:
        loss = next((notebook.value(n) for n in LOSS_NAMES if notebook.has(n)), None)
        grads = next((bc.gradients_in(notebook.value(n)) for n in GRADIENT_NAMES if notebook.has(n)), None)
    except StudentFailure:
        return None
    arr = bc._numbers(loss)
    if grads is None or arr is None or arr.size != 1:
        return None
    return grads, float(arr.reshape(-1)[0])


@pytest.fixture(scope="session")
def tolerance(options) -> float:
    return float(options.get("tolerance", 1e-6))


@pytest.fixture(scope="module")
def written_at(notebook) -> str:
    """`` (In [6])``: where the student wrote the function, for hints that send them to the cell."""
    try:
        where = notebook.defined_at(FUNCTION)
    except StudentFailure:
        return ""
    return f" ({FUNCTION} is in {where})" if where else ""


@pytest.fixture(scope="module")
def hints_said() -> set[str]:
    """Hints already given for this notebook: each is said once."""
    return set()


def _hint(hints: list[str], written_at: str, said: set[str]) -> str:
    new = [h for h in hints if h not in said]
    said.update(new)
    return f"; hint: {'; '.join(new)}{written_at}" if new else ""


@pytest.fixture(scope="module")
def seed0_hints(seed0, reference, tolerance) -> tuple[str, list[str]]:
    """(the first gradient that is wrong, what its numbers suggest): said once, under that gradient."""
    grads, L, _ = seed0
    weights, X, Y = reference.seed0_problem()
    expected, _ = reference.back_propagation(X, Y, weights)
    wrong = [k for k in bc.GRAD_KEYS if not bc.compare("d" + k, grads.get(k), expected[k], tolerance)[0]]
    if not wrong:
        return "", []
    try:
        return wrong[0], bc.value_hints(reference, grads, L, weights, X, Y, tolerance)
    except Exception:  # a hint is a courtesy: an odd value must not turn the gradient tests into errors
        return wrong[0], []


@pytest.fixture(scope="module")
def seed0(notebook, reference):
    """(gradients, L, where they came from) on the handout's seed-0 data."""
    weights, X, Y = reference.seed0_problem()
    try:
        got = bc.returned(notebook.call(FUNCTION, X, Y, weights))
    except NotebookDidNotRun:
        raise  # nothing can be asked of it: every test says why, once
    except StudentFailure as e:
        got = str(e).removeprefix(f"{notebook.name}: ")
    if not isinstance(got, str):
        return (*got, "")
    fallback = _variables(notebook)
    if fallback is None:
        pytest.fail(f"seed-0: {FUNCTION} could not be used ({got})")
    return (*fallback, "; read from the notebook's variables L and gradients")


def test_seed0_loss(seed0, reference, tolerance):
    grads, L, source = seed0
    weights, X, Y = reference.seed0_problem()
    _, expected_L = reference.back_propagation(X, Y, weights)
    ok, note = bc.compare_scalar("L", L, expected_L, tolerance)
    assert ok, f"seed-0 loss wrong ({note}){source}"


@pytest.mark.parametrize("key", bc.GRAD_KEYS)
def test_seed0_gradient(seed0, seed0_hints, written_at, hints_said, reference, tolerance, key):
    grads, L, source = seed0
    weights, X, Y = reference.seed0_problem()
    expected, _ = reference.back_propagation(X, Y, weights)
    ok, note = bc.compare("d" + key, grads.get(key), expected[key], tolerance)
    first, hints = seed0_hints
    assert ok, f"seed-0 gradient {note}{source}" + (_hint(hints, written_at, hints_said) if key == first else "")


@pytest.mark.parametrize("n", HIDDEN_POINTS)
def test_hidden_data(notebook, reference, hidden_rng, tolerance, written_at, hints_said, n):
    weights, X, Y = bc.hidden_problem(reference, hidden_rng, n)
    expected, expected_L = reference.back_propagation(X, Y, weights)
    differ = (f"hidden data: the hidden problems differ from the handout's: N = {n} points instead of 1000, "
              "non-zero biases b1 and b2, other random data")
    try:
        got = bc.returned(notebook.call(FUNCTION, X, Y, weights))
    except NotebookDidNotRun:
        raise
    except StudentFailure as e:
        got = str(e).removeprefix(f"{notebook.name}: ")
    if isinstance(got, str):
        hints = bc.error_hints(got, n)
        pytest.fail(f"{differ}; N={n}: {got}" + _hint(hints, written_at, hints_said))
    grads, L = got
    checks = [bc.compare_scalar("L", L, expected_L, tolerance, rel=True)] + [
        bc.compare("d" + k, grads.get(k), expected[k], tolerance, rel=True) for k in bc.GRAD_KEYS]
    bad = [note for ok, note in checks if not ok]
    try:
        hints = bc.value_hints(reference, grads, L, weights, X, Y, tolerance) if bad else []
    except Exception:  # a hint is a courtesy, never the reason a test errs
        hints = []
    assert not bad, f"{differ}; N={n}: " + "; ".join(bad[:3]) + _hint(hints, written_at, hints_said)
