"""ML Assignment 2's missing-file hints point the right way: a file another question claims is never offered,
and a model is offered only to a question its input fits (32x32x3 to the SVHN question, 28x28 to digits)."""

from __future__ import annotations

import zipfile

import pytest
from conftest import ROOT
from helpers import grade_files

from grader.checks.modelhints import fits_digits, input_shape, same_input
from grader.intake.submission import close_names, names_files

PACK = ROOT / "rubrics" / "ml_assignment2"


def _sample(name: str, member: str) -> bytes:
    with zipfile.ZipFile(PACK / "samples" / name) as zf:
        return zf.read(member)


@pytest.mark.slow
def test_ex3_is_offered_only_the_digit_model_and_ex2_gets_the_svhn_model(tmp_path):
    """As students name them: an Ex1B model under a near name, the bad sample's SVHN CNN as
    exercise2_a.h5, and a digit MLP of their own under another name."""
    files = {"MLP-20-relu.h5": _sample("good.zip", "mlp_20_relu.h5"),
             "exercise2_a.h5": _sample("bad.zip", "svhn_cnn.h5"),
             "my_digits_model.h5": (ROOT / "tests" / "data" / "models" / "k2_seq_mlp.h5").read_bytes()}
    r = grade_files(tmp_path, files, (PACK / "rubric.yaml").read_text(), base_dir=PACK)
    ex3, ex2 = r.question("ex3").reason, r.question("ex2").reason
    assert "MLP-20-relu.h5" not in ex3 and "exercise2_a.h5" not in ex3, ex3
    assert "'my_digits_model.h5' holds a whole model for 28x28 inputs with 10 outputs (a digit classifier?)" in ex3
    # the bad sample's CNN: its topology is the handout's (padding is the student's choice), so it fits exactly
    assert "'exercise2_a.h5' holds weights of exactly this architecture" in ex2, ex2


def test_input_shapes_from_the_inspection():
    assert input_shape({"input_shapes": [[None, 32, 32, 3]]}) == (32, 32, 3)
    assert input_shape({"input_shape": [28, 28]}) == (28, 28)
    assert input_shape({"input_shape": ["x", 1]}) is None and input_shape({}) is None
    assert fits_digits((784,)) and fits_digits((1, 28, 28)) and not fits_digits((32, 32, 3))
    assert same_input((32, 32, 3), [32, 32, 3]) and same_input((28, 28, 1), [28, 28])
    assert not same_input((28, 28), [32, 32, 3])


def test_globs_that_name_files_claim_them_and_extensions_do_not():
    assert names_files("mlp_*_relu.h5") and not names_files("*.ipynb") and not names_files("*.{png,jpg}")
    assert close_names("mlp_20_relu.h5", ["MLP-20-relu.h5", "mlp_40_relu.h5", "exercise2_a.h5"]) == ["MLP-20-relu.h5"]
