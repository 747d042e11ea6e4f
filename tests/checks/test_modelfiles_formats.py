"""A question's model file under another Keras name (``digits.keras`` for ``digits.h5``) is read and named; a
TensorFlow SavedModel folder is named with the line that saves the expected file (:mod:`grader.checks.modelfiles`)."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from helpers import grade_files
from kerasfiles import write_keras_archive
from realmodels import REALMODELS

DIGITS_RUBRIC = """
name: t
questions:
  - id: digits
    title: digits
    points: 40
    checks:
      - {kind: digits, model: digits.h5}
"""


def archive_bytes(tmp_path, version="3.2.1", **kw) -> bytes:
    rng = np.random.default_rng(0)
    layers = [("dense", [("kernel", rng.normal(size=(784, 10)).astype(np.float32)), ("bias", np.zeros(10, np.float32))])]
    key = "batch_shape" if version.startswith("3") else "batch_input_shape"
    config = {"module": "keras", "class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {key: [None, 28, 28], "name": "input_layer"}},
        {"class_name": "Flatten", "config": {"name": "flatten"}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 10, "activation": "softmax"}}]}}
    path = tmp_path / "built.keras"
    write_keras_archive(path, config, [("flatten", []), *layers], version, **kw)
    return path.read_bytes()


def test_a_keras_archive_under_the_other_suffix_is_read_and_named(tmp_path):
    r = grade_files(tmp_path, {"hw/digits.keras": archive_bytes(tmp_path), "README.md": b"my work"}, DIGITS_RUBRIC)
    q = r.question("digits")
    assert q.reason.startswith("hw/digits.keras: accuracy "), q.reason
    assert "no 'digits.h5' was handed in, so 'hw/digits.keras' was read in its place" in q.reason
    assert q.score > 0


def test_a_tf_keras_213_archive_named_h5_is_scored(tmp_path):
    data = archive_bytes(tmp_path, "2.13.1", checkpoint_names=["flatten", "dense"])
    q = grade_files(tmp_path, {"digits.h5": data}, DIGITS_RUBRIC).question("digits")
    assert q.reason.startswith("digits.h5: accuracy "), q.reason


def _saved_model(metadata: bytes | None) -> dict[str, bytes]:
    files = {"mnist_model/saved_model.pb": b"\x08\x01\x12\x00", "mnist_model/fingerprint.pb": b"\x08\x01",
             "mnist_model/variables/variables.index": b"\x00" * 16,
             "mnist_model/variables/variables.data-00000-of-00001": b"\x00" * 64, "digits.ipynb": b"{}"}
    if metadata is not None:
        files["mnist_model/keras_metadata.pb"] = metadata
    return files


def test_a_keras2_saved_model_folder_says_what_to_run(tmp_path):
    meta = b'\x0a\x80\x01\x12' + json.dumps({"class_name": "Sequential", "keras_version": "2.12.0"}).encode()
    q = grade_files(tmp_path, _saved_model(meta), DIGITS_RUBRIC).question("digits")
    assert q.reason.startswith("missing file: expected 'digits.h5'"), q.reason
    assert "'mnist_model/' is a TensorFlow SavedModel (saved_model.pb and variables/, written by Keras 2.12.0)" \
        in q.reason
    assert "no .h5 or .keras ending" in q.reason and "run model.save('digits.h5')" in q.reason


def test_a_saved_model_without_keras_metadata_says_not_export(tmp_path):
    q = grade_files(tmp_path, _saved_model(None), DIGITS_RUBRIC).question("digits")
    assert "'mnist_model/' is a TensorFlow SavedModel" in q.reason
    assert "run model.save('digits.h5') in your notebook (not model.export" in q.reason


@pytest.mark.skipif(not (REALMODELS / "mnist2" / "d11_qpj_savedmodel.zip").is_file(), reason="no shared/realmodels")
def test_a_real_saved_model_folder_is_named(tmp_path):
    with zipfile.ZipFile(REALMODELS / "mnist2" / "d11_qpj_savedmodel.zip") as zf:
        files = {n: zf.read(n) for n in zf.namelist() if not n.endswith("/")} | {"digits.ipynb": b"{}"}
    q = grade_files(tmp_path, files, DIGITS_RUBRIC).question("digits")
    assert "'mnist_model/' is a TensorFlow SavedModel (saved_model.pb and variables/, written by Keras 2.12.0)" \
        in q.reason, q.reason


def test_the_named_file_wins_over_the_other_suffix(tmp_path):
    buf = io.BytesIO(b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 9\n")
    q = grade_files(tmp_path, {"digits.h5": buf.getvalue(), "digits.keras": archive_bytes(tmp_path)},
                    DIGITS_RUBRIC).question("digits")
    assert q.reason.startswith("digits.h5: is a Git LFS pointer"), q.reason


def test_a_saved_model_folder_named_for_the_file_is_read_in_its_place(tmp_path):
    from kerasfiles import write_tf_savedmodel

    rng = np.random.default_rng(3)
    cfg = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": {"class_name": "__tuple__", "items": [None, 28, 28]},
                                                "name": "flatten_input"}},
        {"class_name": "Flatten", "config": {"name": "flatten"}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 10, "activation": "softmax"}}]}}
    write_tf_savedmodel(tmp_path / "built" / "digits", cfg,
                        [("dense", [("kernel", rng.normal(size=(784, 10)).astype(np.float32)),
                                    ("bias", np.zeros(10, np.float32))])])
    files = {f"digits/{p.relative_to(tmp_path / 'built' / 'digits').as_posix()}": p.read_bytes()
             for p in (tmp_path / "built" / "digits").rglob("*") if p.is_file()}
    q = grade_files(tmp_path, {**files, "digits.ipynb": b"{}"}, DIGITS_RUBRIC).question("digits")
    assert q.reason.startswith("digits/: accuracy "), q.reason
    assert "the TensorFlow SavedModel folder 'digits/' was read in its place" in q.reason and q.score > 0


@pytest.mark.skipif(not (REALMODELS / "mnist2" / "d11_qpj_savedmodel.zip").is_file(), reason="no shared/realmodels")
def test_a_real_saved_model_renamed_for_the_file_is_scored(tmp_path):
    with zipfile.ZipFile(REALMODELS / "mnist2" / "d11_qpj_savedmodel.zip") as zf:
        files = {n.replace("mnist_model/", "digits/"): zf.read(n) for n in zf.namelist() if not n.endswith("/")}
    q = grade_files(tmp_path, {**files, "digits.ipynb": b"{}"}, DIGITS_RUBRIC).question("digits")
    assert q.reason.startswith("digits/: accuracy "), q.reason
    assert q.score / q.max_score > 0.9, q.reason  # a 784-200-60-10 MLP: 97.675 % on the measured 4,000 digits
