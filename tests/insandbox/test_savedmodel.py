"""tf.keras 2 SavedModels read as data (:mod:`grader.insandbox.savedmodel`): the Keras config from
``keras_metadata.pb``, the weights from the checkpoint table and shard, every length checked; damaged and
hostile checkpoints are refused with a message, never a crash."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from kerasfiles import tf_table, write_tf_savedmodel

from grader.insandbox import savedmodel
from grader.insandbox.h5read import H5Problem, read_h5

MEMBERS = savedmodel.MEMBERS


def config(*extra: dict) -> dict:
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": {"class_name": "__tuple__", "items": [None, 784]},
                                                "name": "flatten_input"}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 16, "activation": "relu"}},
        {"class_name": "Dense", "config": {"name": "dense_1", "units": 10, "activation": "softmax"}}, *extra]}}


def layers(rng) -> list:
    return [("dense", [("kernel", rng.normal(size=(784, 16)).astype(np.float32)),
                       ("bias", rng.normal(size=16).astype(np.float32))]),
            ("dense_1", [("kernel", rng.normal(size=(16, 10)).astype(np.float32)), ("bias", np.zeros(10, np.float32))])]


def packed(tmp_path: Path, folder: Path, replace: dict[str, bytes] | None = None) -> Path:
    out = tmp_path / "sm.zip"
    with zipfile.ZipFile(out, "w") as zf:
        for m in MEMBERS:
            zf.writestr(m, (replace or {}).get(m, (folder / m).read_bytes()))
    return out


@pytest.fixture
def folder(tmp_path) -> Path:
    write_tf_savedmodel(tmp_path / "digits", config(), layers(np.random.default_rng(0)))
    return tmp_path / "digits"


def test_a_savedmodel_is_read_with_its_weights(tmp_path, folder):
    info, arrays = read_h5(str(packed(tmp_path, folder)), with_arrays=True)
    assert (info.format, info.container, info.keras_version, info.input_shape) == ("keras2-model", "savedmodel",
                                                                                  "2.12.0", [784])
    want = layers(np.random.default_rng(0))
    got = [a for a in arrays if a]
    assert all(np.array_equal(a, w) for g, (_, ws) in zip(got, want, strict=True) for a, (_, w) in zip(g, ws,
                                                                                                        strict=True))


def _entries(folder: Path) -> bytes:
    return (folder / MEMBERS[1]).read_bytes()


@pytest.mark.parametrize("damage, said", [
    ("magic", "not a TensorFlow checkpoint index"),
    ("offset", "does not fit its data file"),
    ("unknown-var", "holds a variable 'secret'"),
    ("extra-layer", "weights of 3 layers, but its config has 2"),
    ("no-root", "no Keras model description"),
    ("lambda", "Lambda layer"),
])
def test_damaged_or_hostile_savedmodels_are_refused(tmp_path, folder, damage, said):
    from kerasfiles import _pb_field

    replace: dict[str, bytes] = {}
    entry = _pb_field(1, 1) + _pb_field(2, _pb_field(2, _pb_field(1, 4))) + _pb_field(4, 0) + _pb_field(5, 16)
    base = {b"": _pb_field(1, 1)}
    key = "layer_with_weights-{}/{}/.ATTRIBUTES/VARIABLE_VALUE"
    good = {key.format(i, v).encode(): entry for i in range(2) for v in ("kernel", "bias")}
    if damage == "magic":
        replace[MEMBERS[1]] = _entries(folder)[:-8] + b"\0" * 8
    elif damage == "offset":
        far = _pb_field(1, 1) + _pb_field(2, _pb_field(2, _pb_field(1, 4))) + _pb_field(4, 10**12) + _pb_field(5, 16)
        replace[MEMBERS[1]] = tf_table({**base, **good, key.format(0, "kernel").encode(): far})
    elif damage == "unknown-var":
        replace[MEMBERS[1]] = tf_table({**base, **good, key.format(1, "secret").encode(): entry})
    elif damage == "extra-layer":
        replace[MEMBERS[1]] = tf_table({**base, **good, key.format(2, "kernel").encode(): entry})
    elif damage == "no-root":
        replace[MEMBERS[0]] = _pb_field(1, _pb_field(3, b"root.layer-0") + _pb_field(5, b"{}"))
    elif damage == "lambda":
        write_tf_savedmodel(tmp_path / "evil", config({"class_name": "Lambda", "config": {
            "name": "lambda", "function": ["4wEAAAAA", None, None]}}), layers(np.random.default_rng(1)))
        folder = tmp_path / "evil"
    with pytest.raises(H5Problem) as e:
        read_h5(str(packed(tmp_path, folder, replace)), with_arrays=True)
    assert said in str(e.value)


def test_random_damage_never_crashes(tmp_path, folder):
    """Every flipped byte of the index, metadata or shard ends in a result or a message, never another error."""
    rng = np.random.default_rng(5)
    originals = {m: (folder / m).read_bytes() for m in MEMBERS}
    for trial in range(150):
        member = MEMBERS[trial % 3]
        data = bytearray(originals[member])
        for _ in range(1 + trial % 4):
            data[int(rng.integers(len(data)))] = int(rng.integers(256))
        if trial % 7 == 0:
            data = data[: int(rng.integers(len(data)))]
        try:
            read_h5(str(packed(tmp_path, folder, {member: bytes(data)})), with_arrays=True)
        except H5Problem:
            pass
