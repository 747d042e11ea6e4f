"""The hand-written XOR equation: every notation students use, and every way it can be wrong or hostile."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from helpers import grade_files, notebook_bytes
from make_submissions import xor_equation as plain_equation
from make_submissions import xor_hand, xor_notebook

from grader.checks.equation import EquationError, evaluate, parse
from grader.checks.xornet import xor_network
from grader.rubric.instructor import load_module
from reference import xor as ref

W1, W2 = ref.HANDOUT_WEIGHTS1, ref.HANDOUT_WEIGHTS2
HANDOUT_OUT = [0.0076539, 0.9954906, 0.9914691, 0.0067652]


def outputs(text: str) -> list[float]:
    tree = parse(text)
    return [evaluate(tree, {1: a, 2: b, 3: c}) for a, b, c in ref.X]


def hidden_terms(fmt_term, join=" + ", w1=W1) -> list[str]:
    out = []
    for j in range(4):
        out.append(join.join(fmt_term(w1[i, j], i + 1) for i in range(3)))
    return out


def build(outer: str, neuron: str, term, sep: str = " + ", coef_sep: str = "*") -> str:
    """outer/neuron are templates with {}; term(w, i) renders one hidden term."""
    hidden = hidden_terms(term, sep)
    inner = sep.join(f"{W2[j, 0]}{coef_sep}{neuron.format(hidden[j])}" for j in range(4))
    return outer.format(inner)


NOTATIONS = {
    "plain sigmoid": build("Y = sigmoid({})", "sigmoid({})", lambda w, i: f"{w}*X{i}"),
    "sigma letter": build("Y = σ({})", "σ({})", lambda w, i: f"{w}·x{i}", coef_sep="·"),
    "1/(1+exp(-(...)))": build("Y = 1/(1+exp(-({})))", "1/(1+exp(-({})))", lambda w, i: f"{w}*X_{i}"),
    "1/(1+e^-(...))": build("1/(1+e^-({}))", "1/(1+e^-({}))", lambda w, i: f"{w}×X{i}", coef_sep="×"),
    "e**(-x)": build("Y = 1/(1 + e**(-({})))", "(1/(1+e**(-({}))))", lambda w, i: f"{w}*x_{i}"),
    "unicode minus": build("Y = σ({})", "σ({})", lambda w, i: f"{w}·X{i}".replace("-", "−"), coef_sep="·")
    .replace("-", "−"),
    "implicit products": build("f(X_1,X_2,X_3) = sigmoid({})", "sigmoid({})", lambda w, i: f"{w}X{i}", coef_sep=" "),
    "latex frac": "$$" + build(r"Y = \frac{{1}}{{1+e^{{-({})}}}}", r"\frac{{1}}{{1+e^{{-({})}}}}",
                               lambda w, i: f"{w} \\cdot x_{{{i}}}", coef_sep=r" \cdot ") + "$$",
    "latex sigma left right": build(r"f(X_1,X_2,X_3) = \sigma\left({}\right)", r"\sigma\left({}\right)",
                                    lambda w, i: f"{w} \\times X_{{{i}}}", coef_sep=r" \times "),
    "latex exp": build(r"Y=\sigma\left({}\right)", r"\frac{{1}}{{1+\exp\left(-\left({}\right)\right)}}",
                       lambda w, i: f"{w}\\,x_{i}", coef_sep=r"\cdot "),
}


@pytest.mark.parametrize("name", sorted(NOTATIONS))
def test_notations_give_the_handout_outputs_and_16_weights(name):
    text = NOTATIONS[name]
    np.testing.assert_allclose(outputs(text), HANDOUT_OUT, atol=5e-7)
    net = xor_network(parse(text))
    np.testing.assert_allclose(net.w1, W1)
    np.testing.assert_allclose(net.w2, W2.ravel())


def test_plus_minus_signs_are_kept():
    text = "Y = sigmoid(-2*sigmoid(1*X1 - 3*X2 + -4*X3) - 5*sigmoid(-X1 + 2*X2 - 1*X3))"
    with pytest.raises(EquationError):  # '-X1' has no number: a weight of 1 must be written
        xor_network(parse(text))
    net = xor_network(parse(text.replace("-X1", "-1*X1")))
    np.testing.assert_array_equal(net.w1[:, 0], [1, -3, -4])
    np.testing.assert_array_equal(net.w1[:, 1], [-1, 2, -1])
    np.testing.assert_array_equal(net.w2, [-2, -5])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os').system('touch /tmp/x')", "unknown name '__import__'"),
        ("().__class__", "unexpected character '.'"),
        ("X1.__class__.__bases__", "unexpected character '.'"),
        ("10**10**10", "only e^(...) or a power up to 10 is allowed"),
        ("2^1000", "only e^(...) or a power up to 10 is allowed"),
        ("open(X1)", "unknown name"),
        ("sigmoid(X1) + os", "unknown name"),
        ("Y = eval(X1)", "unknown name"),
        ("lambda: 1", "unknown name"),
        ("Y = sigmoid(X1", "the equation ends early"),
        ("Y = X1 = X2", "only one '=' is allowed"),
        ("import os = 1", "expected 'Y =' or 'f(X1, X2, X3) ='"),
        ("(" * 100 + "X1" + ")" * 100, "nested more than 60 levels deep"),
        ("1" * 50, "a number of 50 digits"),
        ("", "the equation is empty"),
    ],
)
def test_hostile_or_broken_text_is_refused_with_a_position(text, message):
    with pytest.raises(EquationError) as e:
        parse(text)
    assert message in str(e.value)
    if text and "ends early" not in message and "empty" not in message and "levels deep" not in message:
        assert "column" in str(e.value)


def test_a_megabyte_equation_is_refused_quickly():
    t = time.perf_counter()
    with pytest.raises(EquationError, match="1,048,576 characters long; the limit is 20,000"):
        parse("1+" * 524288)
    assert time.perf_counter() - t < 0.5


def test_long_but_legal_input_parses_fast():
    """500 sigmoids, in 50 bracketed sums (one chain of 500 is too deep: see the chain test below)."""
    text = "+".join("(" + "+".join(["sigmoid(1.5*X1)"] * 10) + ")" for _ in range(50))
    t = time.perf_counter()
    parse(text)
    with pytest.raises(EquationError, match="operations deep"):
        parse("+".join(["sigmoid(1.5*X1)"] * 500))
    assert time.perf_counter() - t < 1.0


def test_huge_values_do_not_raise():
    assert evaluate(parse("exp(1000*X1)"), {1: 1.0, 2: 0, 3: 0}) == float("inf")
    assert evaluate(parse("1/(1+exp(-(1000*X1)))"), {1: -1.0, 2: 0, 3: 0}) == 0.0


# The hw4 course pack's tests of the equation and the hand values, as the default rubric configures them.
RUBRIC = """
name: t
questions:
  - id: q4a
    title: equation
    points: 1
    checks:
      - kind: pytest
        tests: rubrics/hw4/tests/test_xor_equation.py
        notebook: xor.ipynb
        reference: reference/xor.py
        uses: [xor_equation.txt]
  - id: q4b
    title: hand
    points: 1
    checks:
      - kind: pytest
        tests: rubrics/hw4/tests/test_xor_hand.py
        notebook: xor.ipynb
        reference: reference/xor.py
        uses: [xor_equation.txt]
        options: {tolerance: 0.001}
"""
XOR_CHECKS = Path(__file__).resolve().parents[2] / "rubrics" / "hw4" / "tests" / "xor_checks.py"
parse_hand = load_module(XOR_CHECKS).parse_hand


def student_files(seed=11, equation=None, hand=None, notebook=None):
    w1, w2, out = ref.train(seed)
    files = {"xor.ipynb": notebook if notebook is not None else xor_notebook(w1, w2, out)}
    files["xor_equation.txt"] = (equation if equation is not None else plain_equation(w1, w2)).encode()
    files["xor_hand.txt"] = (hand if hand is not None else xor_hand(out.ravel())).encode()
    return files, (w1, w2, out)


def test_own_weights_and_right_hand_values_get_full_marks(tmp_path):
    files, _ = student_files()
    r = grade_files(tmp_path, files, RUBRIC)
    assert r.question("q4a").score == 1, r.question("q4a").reason
    assert r.question("q4b").score == 1, r.question("q4b").reason


def test_fewer_decimals_are_fine_when_they_agree(tmp_path):
    w1, w2, out = ref.train(11)
    files, _ = student_files(equation=plain_equation(w1, w2, digits=3))
    q = grade_files(tmp_path, files, RUBRIC).question("q4a")
    assert q.score == 1, q.reason


def test_hidden_neurons_in_another_order_are_fine(tmp_path):
    w1, w2, out = ref.train(11)
    perm = [2, 0, 3, 1]
    files, _ = student_files(equation=plain_equation(w1[:, perm], w2[perm]))
    q = grade_files(tmp_path, files, RUBRIC).question("q4a")
    assert q.score == 1, q.reason


def test_the_handouts_sample_weights_get_zero(tmp_path):
    files, _ = student_files(equation=plain_equation(W1, W2))
    q = grade_files(tmp_path, files, RUBRIC).question("q4a")
    assert q.score == 0
    assert "handout's sample weights" in q.reason


def test_handout_weights_in_latex_also_get_zero(tmp_path):
    files, _ = student_files(equation=NOTATIONS["latex frac"])
    q = grade_files(tmp_path, files, RUBRIC).question("q4a")
    assert q.score == 0 and "handout's sample weights" in q.reason


def test_wrong_numbers_lose_the_own_weights_half(tmp_path):
    w1, w2, _ = ref.train(11)
    bad = w1.copy()
    bad[0, 0] += 0.5
    files, _ = student_files(equation=plain_equation(bad, w2))
    q = grade_files(tmp_path, files, RUBRIC).question("q4a")
    assert q.score == 0.5, q.reason
    assert "1 of the 16 numbers differ" in q.reason
    printed = str(w1).replace("[", " ").split()[0]  # w1[0, 0] as the notebook's print shows it
    assert f"{bad[0, 0]:.8f} (the notebook prints {printed})" in q.reason, q.reason


def test_a_missing_term_is_named(tmp_path):
    w1, w2, _ = ref.train(11)
    eq = plain_equation(w1, w2)
    term = f"{w1[2, 1]:.8f}*X3"
    eq = eq.replace(f" + {term}", "").replace(f" - {term.lstrip('-')}", "")
    files, _ = student_files(equation=eq)
    q = grade_files(tmp_path, files, RUBRIC).question("q4a")
    assert q.score == 0
    assert "hidden neuron 2 has no X3 term" in q.reason


def test_biases_are_refused(tmp_path):
    w1, w2, _ = ref.train(11)
    eq = plain_equation(w1, w2).replace("*X3)", "*X3 + 0.5)", 1)
    files, _ = student_files(equation=eq)
    q = grade_files(tmp_path, files, RUBRIC).question("q4a")
    assert q.score == 0 and "constant term (the network has no biases)" in q.reason
    eq2 = plain_equation(w1, w2).replace("Y = sigmoid(", "Y = sigmoid(0.3 + ")
    files, _ = student_files(equation=eq2)
    q = grade_files(tmp_path / "b", files, RUBRIC).question("q4a")
    assert q.score == 0 and "a constant (the network has no biases)" in q.reason


def test_15_and_17_weights(tmp_path):
    w1, w2, _ = ref.train(11)
    seventeen = plain_equation(w1, w2).replace("*X1", "*X1 + 1.25*X2", 1)
    files, _ = student_files(equation=seventeen)
    q = grade_files(tmp_path, files, RUBRIC).question("q4a")
    assert q.score == 0 and "has X2 twice" in q.reason
    fifteen = plain_equation(w1, w2).split(" - ")[0]  # cut to fewer neurons/terms
    files, _ = student_files(equation=fifteen + ")")
    q = grade_files(tmp_path / "b", files, RUBRIC).question("q4a")
    assert q.score == 0
    five_neurons = plain_equation(w1, w2).replace("Y = sigmoid(", "Y = sigmoid(1.5*sigmoid(1.0*X1 + 2.0*X2 + 3.0*X3) + ")
    files, _ = student_files(equation=five_neurons)
    q = grade_files(tmp_path / "c", files, RUBRIC).question("q4a")
    assert q.score == 0 and "5 hidden neurons (20 weights); the network has 4 (16 weights)" in q.reason


def test_equation_from_a_markdown_cell_when_there_is_no_text_file(tmp_path):
    import json

    w1, w2, out = ref.train(11)
    nb = json.loads(xor_notebook(w1, w2, out))
    nb["cells"].append({"cell_type": "markdown", "metadata": {}, "id": "eq",
                        "source": ["My equation:\n\n", "$$" + plain_equation(w1, w2).strip() + "$$\n"]})
    files = {"xor.ipynb": json.dumps(nb).encode(), "xor_hand.txt": xor_hand(out.ravel()).encode()}
    r = grade_files(tmp_path, files, RUBRIC)
    assert r.question("q4a").score == 1, r.question("q4a").reason  # there is no xor_equation.txt
    assert r.question("q4b").score == 1


def test_hand_values_off_by_a_tenth_lose_a_quarter_each(tmp_path):
    _, _, out = ref.train(11)
    hand = out.ravel().copy()
    hand[1] -= 0.1
    hand[3] += 0.1
    files, _ = student_files(hand=xor_hand(hand))
    q = grade_files(tmp_path, files, RUBRIC).question("q4b")
    assert q.score == 0.5
    assert "test_hand_value[011] failed: 011: " in q.reason and "test_hand_value[111] failed: 111: " in q.reason
    assert q.reason.count("1.0e-01 apart, more than the 0.001 allowed") == 2


@pytest.mark.parametrize(
    "text",
    [
        "001: {0}\n011: {1}\n101: {2}\n111: {3}\n",
        "{0}\n{1}\n{2}\n{3}\n",
        "X = 0,0,1 -> Y = {0}\nX = 0,1,1 -> Y = {1}\nX = 1,0,1 -> Y = {2}\nX = 1,1,1 -> Y = {3}\n",
        "111 = {3}\n001 = {0}\n101 = {2}\n011 = {1}\n",
        "(0 0 1)  {0}\n(0 1 1)  {1}\n(1 0 1)  {2}\n(1 1 1)  {3}\n",
    ],
)
def test_hand_file_formats(text):
    vals = [0.00765, 0.99549, 0.99147, 0.00677]
    got = parse_hand(text.format(*vals))
    assert got == dict(zip(ref.INPUT_LABELS, vals, strict=True))


def test_injection_attempts_run_nothing(tmp_path):
    marker = Path("/tmp") / f"mlgrade-eq-{uuid.uuid4().hex}"
    for attack in [f"__import__('os').system('touch {marker}')", f"Y = sigmoid(exec('open(\"{marker}\",\"w\")'))"]:
        files, _ = student_files(equation=attack)
        r = grade_files(tmp_path / uuid.uuid4().hex, files, RUBRIC)
        assert r.question("q4a").score == 0
        assert "cannot read the equation" in r.question("q4a").reason
        # q4b still grades against the notebook's printed weights
        assert r.question("q4b").score == 1
    assert not marker.exists()


def test_missing_equation_everywhere(tmp_path):
    w1, w2, out = ref.train(11)
    files = {"xor.ipynb": notebook_bytes("print(1)"), "xor_hand.txt": b"001: 0.1\n"}
    r = grade_files(tmp_path, files, RUBRIC)
    assert "no equation: xor_equation.txt is missing" in r.question("q4a").reason


def _hand_rubric(compare_with: str = "equation") -> str:
    return f"""
name: q4b
questions:
  - id: q4b
    title: hand
    points: 1
    files: [xor_hand.txt]
    checks:
      - {{kind: pytest, tests: rubrics/hw4/tests/test_xor_hand.py, notebook: xor.ipynb, reference: reference/xor.py,
          options: {{compare_with: {compare_with}}}}}
"""


def test_hand_values_against_an_equation_that_is_not_xor_say_so(tmp_path):
    from helpers import grade_files
    from make_submissions import xor_equation, xor_hand, xor_notebook

    from reference import xor as ref

    w1, w2, out = ref.train(4)
    wrong = -w1  # an equation with the wrong signs: it parses, but does not compute XOR
    eq = xor_equation(wrong, w2)
    from grader.checks.equation import evaluate, parse

    tree = parse(eq)
    values = [evaluate(tree, {1: a, 2: b, 3: c}) for a, b, c in ref.X]
    files = {"xor.ipynb": xor_notebook(w1, w2, out), "xor_equation.txt": eq.encode(),
             "xor_hand.txt": xor_hand(values).encode()}
    q = grade_files(tmp_path / "a", files, _hand_rubric()).question("q4b")
    assert q.score == 1, q.reason  # the student's own equation, however wrong, is what the hand values follow
    # compared with the network instead, the same hand values are wrong
    q = grade_files(tmp_path / "b", files, _hand_rubric("network")).question("q4b")
    assert q.score < 1 and "what the network computes from the weights in xor.ipynb, In [" in q.reason, q.reason


def test_the_feedback_page_draws_the_equation_and_the_hand_table(tmp_path):
    from grader.render import ClassReport, get_format
    from grader.rubric import parse_rubric

    files, (w1, w2, out) = student_files()
    r = grade_files(tmp_path, files, RUBRIC)
    eq = r.question("q4a").checks[0].details
    assert eq["equation_tree"][0] == "call" and eq["source"] == "xor_equation.txt" and len(eq["outputs"]) == 4
    hand = r.question("q4b").checks[0].details
    assert set(hand["hand"]) == {"001", "011", "101", "111"} and hand["tolerance"] == 0.001
    page = get_format("html").render(r, ClassReport(parse_rubric(RUBRIC), [r]))
    assert "<math" in page and "your hand value" in page


def test_a_long_chain_is_refused_by_its_depth_and_the_deepest_allowed_tree_can_be_stored():
    """``3*1*1*...*X1`` is a correct equation within the token limit, yet nests one level per term: 300 of them
    made the stored record too deep for pydantic and killed the grading worker (a red-team finding)."""
    from grader.checks.equation import MAX_TREE_DEPTH, tree_data, tree_depth
    from grader.core.results import CheckResult, Status

    with pytest.raises(EquationError, match=r"302 operations deep .* the limit is 120"):
        parse("Y = 3" + "*1" * 300 + "*X1")
    deepest = parse("Y = 3" + "*1" * (MAX_TREE_DEPTH - 2) + "*X1")
    assert tree_depth(deepest) == MAX_TREE_DEPTH
    record = CheckResult(kind="xor_equation", fraction=1.0, status=Status.PASSED, reason="",
                         details={"equation_tree": tree_data(deepest)})
    assert CheckResult.model_validate_json(record.model_dump_json()) == record
