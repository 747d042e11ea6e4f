"""The real students' model files of ``shared/realmodels`` (read from there, never copied in) score what real
Keras measured on each, or are refused with the reason their expectation names (``scripts/realmodels.py``).

The digits are the exact set the expectations were measured on (:func:`realmodels.hidden_digits`), not the
grader's default hidden set, which may change."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import ROOT
from engines import Server
from realmodels import REALMODELS, Expected, expectations, hidden_digits, measure, model_path

TOLERANCE = 0.001
CASES = expectations() if REALMODELS.is_dir() else []


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("realmodels")
    x, labels = hidden_digits()
    np.save(folder / "digits.npy", x, allow_pickle=False)
    server = Server("keras")
    yield server, folder, labels
    server.close()


def test_the_expectations_cover_every_real_file():
    assert REALMODELS.is_dir(), REALMODELS
    assert not str(REALMODELS.resolve()).startswith(str(ROOT.resolve()) + "/"), "read from shared/, never copied in"
    zips = {p.stem for p in REALMODELS.glob("*/*.zip")}
    assert len(zips) >= 42 and {e.name for e in CASES} == zips


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda e: e.name)
def test_each_real_model_scores_what_keras_measures_or_says_why_not(setup, case: Expected):
    server, folder, labels = setup
    path = model_path(case.source, folder / "files")
    m = measure(server, path, folder / "digits.npy", labels, folder / f"{case.name}.npy")
    if case.any_accuracy:  # scored, but the reason must point at the cause (e.g. input scaling)
        assert m.accuracy is not None and re.search(case.reason, m.hint), (case.name, m)
    elif case.accuracy is not None:
        assert m.accuracy is not None, (case.name, m.problem)
        assert abs(m.accuracy - case.accuracy) <= TOLERANCE, (case.name, m.accuracy, case.accuracy)
    else:
        assert m.accuracy is None and m.problem, (case.name, m)
        assert re.search(case.reason or r"\S", m.problem), (case.name, m.problem)
