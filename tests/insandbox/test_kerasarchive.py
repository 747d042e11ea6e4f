"""``.keras`` archives read as data (:mod:`grader.insandbox.kerasarchive` through ``read_h5``): Keras 3 and
tf.keras 2.13 layouts, Windows-written group names, and hostile archives (code in the config, links out of
the weights file, too many or too large entries, names that try to be paths)."""

from __future__ import annotations

import io
import json
import zipfile

import h5py
import numpy as np
import pytest
from kerasfiles import write_keras_archive

from grader.insandbox import kerasarchive
from grader.insandbox.h5read import H5Problem, read_h5


def dense(name: str, units: int, act: str, **extra) -> dict:
    return {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
            "config": {"name": name, "units": units, "activation": act, "use_bias": True, **extra}}


def sequential(*layers: dict, keras3: bool = True, compile_config: dict | None = None) -> dict:
    shape_key = "batch_shape" if keras3 else "batch_input_shape"
    first = {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
             "config": {shape_key: [None, 784], "dtype": "float32", "name": "input_layer"}}
    cfg = {"module": "keras", "class_name": "Sequential", "registered_name": None,
           "config": {"name": "sequential", "layers": [first, *layers]}}
    if compile_config is not None:
        cfg["compile_config"] = compile_config
    return cfg


def mlp(rng, names=("dense", "dense_1")) -> list:
    shapes = [(784, 16), (16, 10)]
    return [(n, [("kernel", rng.normal(size=s).astype(np.float32)), ("bias", rng.normal(size=s[1:]).astype(np.float32))])
            for n, s in zip(names, shapes, strict=True)]


MLP = sequential(dense("dense", 16, "relu"), dense("dense_1", 10, "softmax"))


def check_arrays(arrays, layers) -> None:
    got = [a for a in arrays if a]
    assert len(got) == len(layers)
    for have, (_, want) in zip(got, layers, strict=True):
        assert [a.shape for a in have] == [w.shape for _, w in want]
        assert all(np.array_equal(a, w) for a, (_, w) in zip(have, want, strict=True))


def test_keras3_archive_is_read_as_a_full_model(tmp_path):
    layers = mlp(np.random.default_rng(0))
    path = tmp_path / "digits.keras"
    write_keras_archive(path, MLP, layers)
    info, arrays = read_h5(str(path), with_arrays=True)
    assert (info.format, info.container, info.keras_version, info.input_shape) == ("keras2-model", "keras", "3.2.1",
                                                                                  [784])
    assert [la.class_name for la in info.layers] == ["Dense", "Dense"]
    check_arrays(arrays, layers)


@pytest.mark.parametrize("windows", [False, True])
def test_tf_keras_213_archive_matches_checkpoint_names_by_position(tmp_path, windows):
    """tf.keras 2.13 named the config's dense, dense_1, dense_2 'dense', 'dense_2', 'dense_4' in the weights file
    (a real Windows archive also wrote '_layer_checkpoint_dependencies\\dense' as one group name)."""
    rng = np.random.default_rng(1)
    layers = [(n, [("kernel", rng.normal(size=s).astype(np.float32)), ("bias", np.zeros(s[1], np.float32))])
              for n, s in (("dense", (784, 12)), ("dense_1", (12, 11)), ("dense_2", (11, 10)))]
    config = sequential(dense("dense", 12, "relu"), dense("dense_1", 11, "relu"), dense("dense_2", 10, "softmax"),
                        keras3=False)
    path = tmp_path / "digits.h5"  # renamed: read by its content
    write_keras_archive(path, config, layers, "2.13.1", checkpoint_names=["dense", "dense_2", "dense_4"],
                        windows=windows)
    info, arrays = read_h5(str(path), with_arrays=True)
    assert info.keras_version == "2.13.1" and info.container == "keras"
    check_arrays(arrays, layers)


def test_a_damaged_keras2_archive_is_not_called_keras3(tmp_path):
    path = tmp_path / "digits.h5"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "2.13.1"}))
        zf.writestr("config.json", json.dumps({"class_name": "Sequential", "config": {"layers": [
            {"class_name": "Dense", "config": {"name": "d", "units": 3, "activation": "swirl"}}]}}))
        zf.writestr("model.weights.h5", b"")
    with pytest.raises(H5Problem) as e:
        read_h5(str(path), with_arrays=True)
    assert str(e.value).startswith("is a .keras archive of Keras 2.13.1, but ") and "Keras 3" not in str(e.value)
    assert "activation 'swirl'" in str(e.value)


def test_compile_config_is_never_interpreted(tmp_path):
    """The optimizer and a custom loss live in compile_config: not part of the model, dropped unread."""
    layers = mlp(np.random.default_rng(2))
    compiled = {"optimizer": {"module": "keras.optimizers", "class_name": "Adam", "config": {}},
                "loss": {"module": "my_losses", "class_name": "FocalLoss", "registered_name": "Custom>FocalLoss"}}
    path = tmp_path / "m.keras"
    write_keras_archive(path, sequential(*MLP["config"]["layers"][1:], compile_config=compiled), layers)
    info, _ = read_h5(str(path))
    assert len(info.layers) == 2


@pytest.mark.parametrize("layer, said", [
    ({"module": "keras.layers", "class_name": "Lambda", "config": {"name": "lambda", "function": "gASV..."}},
     "Lambda layer"),
    ({"module": "evil", "class_name": "Dense", "config": {"name": "d", "units": 3}}, "module 'evil'"),
    ({"module": "keras.layers", "class_name": "Custom>Pwn", "registered_name": "Custom>Pwn", "config": {"name": "p"}},
     "not a built-in Keras layer"),
])
def test_code_in_the_config_is_refused_before_the_weights_are_read(tmp_path, monkeypatch, layer, said):
    monkeypatch.setattr(kerasarchive, "open_weights", lambda data: pytest.fail("weights opened"))
    path = tmp_path / "m.keras"
    write_keras_archive(path, sequential(dense("dense", 16, "relu"), layer), mlp(np.random.default_rng(3))[:1])
    with pytest.raises(H5Problem) as e:
        read_h5(str(path))
    assert said in str(e.value) and e.value.kind == "config"


def test_external_link_in_the_weights_is_refused(tmp_path):
    decoy = tmp_path / "secret.h5"
    with h5py.File(decoy, "w") as f:
        f["vars/0"] = np.arange(10.0)
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.create_group("layers/dense")
        f["layers/dense/vars"] = h5py.ExternalLink(str(decoy), "/vars")
    path = tmp_path / "m.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", json.dumps(sequential(dense("dense", 10, "relu"))))
        zf.writestr("model.weights.h5", buf.getvalue())
    with pytest.raises(H5Problem) as e:
        read_h5(str(path), with_arrays=True)
    assert "external link" in str(e.value)


def test_too_many_entries_are_refused_unread(tmp_path):
    path = tmp_path / "m.keras"
    write_keras_archive(path, MLP, mlp(np.random.default_rng(4)),
                        extra={f"junk/{i}.txt": b"x" for i in range(kerasarchive.MAX_ENTRIES)})
    with pytest.raises(H5Problem) as e:
        read_h5(str(path))
    assert "entries" in str(e.value) and e.value.kind == "too-large"


def test_oversized_weights_are_refused_by_their_header_and_their_bytes(tmp_path, monkeypatch):
    path = tmp_path / "m.keras"
    write_keras_archive(path, MLP, mlp(np.random.default_rng(5)))
    monkeypatch.setattr(kerasarchive, "MAX_WEIGHTS_BYTES", 1000)
    with pytest.raises(H5Problem) as e:
        read_h5(str(path))
    assert "over the limit" in str(e.value)
    # a header that understates the size: reading stops at the limit
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("model.weights.h5")
        info.file_size = 10
        with pytest.raises((kerasarchive.ArchiveProblem, zipfile.BadZipFile)):  # zipfile stops at the header's size
            kerasarchive._member(zf, info, 1000)


def test_entry_names_are_never_paths(tmp_path):
    """'../config.json' is not the archive's config.json: the archive lacks one, and nothing is written."""
    path = tmp_path / "sub" / "m.keras"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("../config.json", json.dumps(MLP))
        zf.writestr("../model.weights.h5", b"\x89HDF\r\n\x1a\n")
        zf.writestr("metadata.json", b"{}")
    with pytest.raises(H5Problem) as e:
        read_h5(str(path))
    assert "no config.json" in str(e.value)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["m.keras", "sub"]


def test_weights_no_layer_takes_are_refused(tmp_path):
    rng = np.random.default_rng(6)
    path = tmp_path / "m.keras"
    write_keras_archive(path, MLP, [*mlp(rng), ("dense_9", [("kernel", np.ones((10, 2), np.float32))])])
    with pytest.raises(H5Problem) as e:
        read_h5(str(path), with_arrays=True)
    assert "dense_9" in str(e.value)


def test_archive_through_the_model_server_predicts(tmp_path):
    """The server rebuilds the archive's model and runs it: outputs are the numpy forward pass of the weights."""
    from engines import Server

    layers = mlp(np.random.default_rng(7))
    path = tmp_path / "digits.keras"
    write_keras_archive(path, MLP, layers)
    x = np.random.default_rng(8).uniform(0, 255, size=(5, 28, 28)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    server = Server("numpy")
    try:
        answer = server.request({"op": "predict", "model": str(path), "label": "digits.keras",
                                 "inputs": str(tmp_path / "x.npy"), "out": str(tmp_path / "y.npy"),
                                 "feed": {"shape": [784]}, "divide": 255.0})
    finally:
        server.close()
    assert answer.get("shape") == [5, 10], answer
    (k1, b1), (k2, b2) = [[w for _, w in ws] for _, ws in layers]
    h = np.maximum(x.reshape(5, 784) / 255 @ k1 + b1, 0) @ k2 + b2
    want = np.exp(h - h.max(1, keepdims=True))
    want /= want.sum(1, keepdims=True)
    assert np.allclose(np.load(tmp_path / "y.npy"), want, atol=1e-5)

