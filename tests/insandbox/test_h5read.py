"""h5read: what students hand in under ``.h5`` is named for what it is, with what to hand in instead;
HDF5 features that reach outside the file are refused before any data is read."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from helpers import grade_files
from kerasfiles import write_keras2_model, write_keras2_weights

from grader.insandbox.h5read import H5Problem, read_h5

SECRET = "s3cr3t-host-file-do-not-leak"

WEIGHTS_RUBRIC = """
name: t
questions:
  - id: w
    title: weights
    points: 1
    checks:
      - kind: keras_weights
        file: weights.h5
        input_shape: [4]
        layers:
          - {kind: Dense, units: 2}
  - id: digits
    title: digits
    points: 40
    checks:
      - {kind: digits, model: digits.h5}
"""


def problem(path: Path, **kw) -> H5Problem:
    with pytest.raises(H5Problem) as e:
        read_h5(str(path), with_arrays=True, **kw)
    return e.value


def small_weights(path: Path, **dataset_kw) -> Path:
    """A Keras 2 weights file of one Dense(2) on 4 inputs; ``dataset_kw`` go to the kernel's dataset."""
    with h5py.File(path, "w", **({"userblock_size": dataset_kw.pop("userblock")} if "userblock" in dataset_kw
                                 else {})) as f:
        f.attrs["layer_names"] = np.array([b"dense_1"])
        f.attrs["keras_version"] = np.bytes_("2.2.4")
        g = f.create_group("dense_1")
        g.attrs["weight_names"] = np.array([b"dense_1/kernel:0", b"dense_1/bias:0"])
        if "kernel" in dataset_kw:
            dataset_kw.pop("kernel")(g)
        else:
            g.create_dataset("dense_1/kernel:0", data=np.ones((4, 2), np.float32), **dataset_kw)
        g.create_dataset("dense_1/bias:0", data=np.zeros(2, np.float32))
    return path


def test_plain_weights_file_is_read(tmp_path):
    info, arrays = read_h5(str(small_weights(tmp_path / "w.h5")), with_arrays=True)
    assert info.format == "keras2-weights" and arrays[0][0].shape == (4, 2)


# --------------------------------------------------------------------------- reaching outside the file

@pytest.fixture
def decoy(tmp_path) -> Path:
    """A host file holding a secret, laid out as 8 float32 numbers would be."""
    p = tmp_path / "host-secret.bin"
    p.write_bytes(SECRET.encode()[:32].ljust(32, b"\0"))
    return p


def test_external_storage_is_refused_before_reading(tmp_path, decoy):
    def external(g):
        g.create_dataset("dense_1/kernel:0", shape=(4, 2), dtype=np.float32, external=[(str(decoy), 0, 32)])

    path = small_weights(tmp_path / "ext.h5", kernel=external)
    with h5py.File(path, "r") as f:  # the attack works when the data is read: the secret comes back
        assert SECRET[:8].encode() in f["dense_1/dense_1/kernel:0"][()].tobytes()
    e = problem(path)
    assert e.kind == "external-storage"
    assert "keeps its data in an external file" in str(e) and SECRET not in str(e)


def test_external_storage_through_grading_leaks_nothing(tmp_path, decoy):
    def external(g):
        g.create_dataset("dense_1/kernel:0", shape=(4, 2), dtype=np.float32, external=[(str(decoy), 0, 32)])

    data = small_weights(tmp_path / "ext.h5", kernel=external).read_bytes()
    r = grade_files(tmp_path / "g", {"weights.h5": data, "digits.h5": data}, WEIGHTS_RUBRIC)
    for qid in ("w", "digits"):
        q = r.question(qid)
        assert q.score == 0 and "external file (HDF5 external storage)" in q.reason, q.reason
    assert SECRET not in r.model_dump_json()
    assert SECRET[:8] not in r.model_dump_json()


def test_external_link_is_refused(tmp_path, decoy):
    other = small_weights(tmp_path / "other.h5")
    path = tmp_path / "link.h5"
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([b"dense_1"])
        f["dense_1"] = h5py.ExternalLink(str(other), "/dense_1")
    e = problem(path)
    assert e.kind == "external-link" and "'/dense_1' is an external link" in str(e)


def test_soft_link_is_refused(tmp_path):
    path = small_weights(tmp_path / "soft.h5")
    with h5py.File(path, "a") as f:
        f["alias"] = h5py.SoftLink("/dense_1")
    assert problem(path).kind == "soft-link"


def test_virtual_dataset_is_refused(tmp_path):
    src = small_weights(tmp_path / "src.h5")
    path = small_weights(tmp_path / "vds.h5")
    layout = h5py.VirtualLayout(shape=(4, 2), dtype=np.float32)
    layout[:] = h5py.VirtualSource(str(src), "dense_1/dense_1/kernel:0", shape=(4, 2))
    with h5py.File(path, "a") as f:
        del f["dense_1/dense_1/kernel:0"]
        f["dense_1"].create_virtual_dataset("dense_1/kernel:0", layout)
    e = problem(path)
    assert e.kind == "virtual-dataset" and "virtual dataset" in str(e)


def test_user_block_is_refused(tmp_path):
    path = small_weights(tmp_path / "ub.h5", userblock=512)
    with open(path, "r+b") as f:
        f.write(b"#!/bin/sh\necho hidden payload\n")
    with h5py.File(path, "r") as f:  # HDF5 itself opens it happily
        assert f.userblock_size == 512
    e = problem(path)
    assert e.kind == "userblock" and "user block" in str(e)


def test_split_driver_file_is_refused(tmp_path):
    base = tmp_path / "split.h5"
    with h5py.File(base, "w", driver="split") as f:
        f["x"] = np.arange(3)
    e = problem(tmp_path / "split.h5-m.h5")
    assert e.kind == "multi-file"


def test_unknown_filter_is_refused(tmp_path):
    """A filter id HDF5 would look for as a plugin (a shared library) is refused from the metadata.
    h5py cannot write one without the plugin, so an lzf dataset's filter id is patched to lz4's."""
    path = small_weights(tmp_path / "filter.h5", compression="lzf", chunks=(4, 2))
    raw = bytearray(path.read_bytes())
    at = raw.find(b"lzf\0")
    # the patch below relies on this layout; if h5py ever writes it otherwise, the test must be redone, not skipped
    assert at >= 8 and raw[at - 8 : at - 6] == (32000).to_bytes(2, "little"), "filter pipeline layout changed"
    raw[at - 8 : at - 6] = (32004).to_bytes(2, "little")
    path.write_bytes(bytes(raw))
    with h5py.File(path, "r") as f:
        plist = f["dense_1/dense_1/kernel:0"].id.get_create_plist()
        assert plist.get_filter(0)[0] == 32004
    e = problem(path)
    assert e.kind == "filter" and "filter 32004" in str(e)


def test_hard_link_cycle_ends(tmp_path):
    path = small_weights(tmp_path / "cycle.h5")
    with h5py.File(path, "a") as f:
        f["dense_1"]["loop"] = f["dense_1"]  # a hard link to its own parent
        f["dense_1"]["root"] = f
    info, _ = read_h5(str(path))
    assert info.format == "keras2-weights"


def test_huge_declared_weights_are_refused_before_reading(tmp_path, monkeypatch):
    import grader.insandbox.h5read as h5read

    monkeypatch.setattr(h5read, "MAX_WEIGHT_BYTES", 16)
    assert problem(small_weights(tmp_path / "w.h5")).kind == "too-large"


def test_string_weights_are_refused(tmp_path):
    def strings(g):
        g.create_dataset("dense_1/kernel:0", data=np.array([b"a", b"b"]))

    assert "not numbers" in str(problem(small_weights(tmp_path / "s.h5", kernel=strings)))


# --------------------------------------------------------------------------- old and foreign formats

def test_keras0_weights_file_is_named(tmp_path):
    path = tmp_path / "old.h5"
    with h5py.File(path, "w") as f:  # Keras 0.x Sequential.save_weights
        f.attrs["nb_layers"] = 2
        for i, shapes in enumerate([[(784, 32), (32,)], [(32, 10), (10,)]]):
            g = f.create_group(f"layer_{i}")
            g.attrs["nb_params"] = len(shapes)
            for k, s in enumerate(shapes):
                g.create_dataset(f"param_{k}", data=np.zeros(s, np.float32))
    e = problem(path, want="model", label="digits.h5")
    assert e.kind == "keras0-weights"
    assert "an old Keras 0.x weights-only file" in str(e) and "without layer names or an architecture" in str(e)
    assert "model.save('digits.h5')" in str(e)


def test_keras0_file_through_grading_says_what_to_hand_in(tmp_path):
    path = tmp_path / "old.h5"
    with h5py.File(path, "w") as f:
        f.attrs["nb_layers"] = 1
        f.create_group("layer_0").create_dataset("param_0", data=np.zeros((4, 2), np.float32))
    r = grade_files(tmp_path / "g", {"weights.h5": path.read_bytes(), "digits.h5": path.read_bytes()},
                    WEIGHTS_RUBRIC)
    assert "old Keras 0.x weights-only file" in r.question("w").reason
    assert "model.save_weights('weights.h5')" in r.question("w").reason
    assert "model.save('digits.h5')" in r.question("digits").reason


def dense_sequential(version: str, keras1_names: bool = False) -> dict:
    cls = "Convolution2D" if keras1_names else "Dense"
    cfg = {"name": "dense_1", "output_dim": 2, "input_dim": 4, "batch_input_shape": [None, 4]}
    return {"class_name": "Sequential", "config": [{"class_name": cls, "config": cfg}]}


@pytest.mark.parametrize(("version", "keras1_names"), [("1.2.2", False), ("2.0.0", True)])
def test_keras1_model_file_is_named(tmp_path, version, keras1_names):
    path = tmp_path / "k1.h5"
    write_keras2_model(path, [("dense_1", [("dense_1_W", np.zeros((4, 2), np.float32))])],
                       dense_sequential(version, keras1_names), keras_version=version)
    e = problem(path, want="model", label="digits.h5")
    assert e.kind == "keras1-model"
    assert "old Keras 1" in str(e) and "load it with Keras 2 and save the whole trained model" in str(e)


def test_keras1_weights_file_is_read_like_keras2(tmp_path):
    path = tmp_path / "k1w.h5"
    write_keras2_weights(path, [("dense_1", [("dense_1_W", np.zeros((4, 2), np.float32)),
                                             ("dense_1_b", np.zeros(2, np.float32))])], keras_version="1.2.2")
    info, _ = read_h5(str(path))
    assert info.format == "keras2-weights" and info.keras_version == "1.2.2"
    assert info.layers[0].weights == [("dense_1_W", (4, 2)), ("dense_1_b", (2,))]


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def npy_bytes() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.zeros(3))
    return buf.getvalue()


FOREIGN = {
    "keras-zip": (zip_bytes({"metadata.json": b"{}", "config.json": b"{}", "model.weights.h5": b"x"}),
                  "is a .keras archive (a zip of config.json and model.weights.h5), but its config.json does not "
                  "describe a Keras model"),
    "savedmodel": (zip_bytes({"digits/saved_model.pb": b"x", "digits/variables/variables.index": b"x"}),
                   "is a zipped TensorFlow SavedModel folder"),
    "pytorch": (zip_bytes({"archive/data.pkl": b"x", "archive/version": b"3"}), "is a PyTorch file (torch.save)"),
    "pytorch-legacy": (b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.\x80\x02", "PyTorch file"),
    "pickle": (pickle.dumps({"w": [1, 2]}), "is a Python pickle"),
    "npy": (npy_bytes(), "is a NumPy .npy array"),
    "npz": (zip_bytes({"w.npy": npy_bytes(), "b.npy": npy_bytes()}), "is a NumPy .npz archive"),
    "zip-with-h5": (zip_bytes({"hw/digits.h5": b"\x89HDF\r\n\x1a\n"}), "holding 'hw/digits.h5'; hand in that file"),
    "git-lfs": (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n", "is a Git LFS pointer"),
    "html": (b"\n\n<!DOCTYPE html>\n<html lang='en'><head><title>digits.h5 at main</title>", "is a web page (HTML)"),
    "json-architecture": (json.dumps({"class_name": "Sequential", "config": {"layers": []}}).encode(),
                          "model architecture in JSON (model.to_json()) without any weights"),
    "tfjs": (json.dumps({"format": "layers-model", "modelTopology": {}}).encode(), "TensorFlow.js model.json"),
    "onnx": (b"\x08\x07\x12\x07pytorch\x1a\x052.0.1:\x00", "is an ONNX model"),
}


@pytest.mark.parametrize("kind", sorted(FOREIGN))
def test_foreign_files_are_named(tmp_path, kind):
    data, message = FOREIGN[kind]
    p = tmp_path / "digits.h5"
    p.write_bytes(data)
    e = problem(p, want="model", label="digits.h5")
    assert message in str(e), str(e)
    if kind not in ("zip-with-h5", "git-lfs", "html"):
        assert "model.save('digits.h5')" in str(e)


def test_foreign_file_through_grading(tmp_path):
    data, _ = FOREIGN["keras-zip"]
    r = grade_files(tmp_path, {"digits.h5": data, "weights.h5": FOREIGN["git-lfs"][0]}, WEIGHTS_RUBRIC)
    assert r.question("digits").reason.startswith("digits.h5: is a .keras archive (a zip of config.json and "
                                                  "model.weights.h5), but its config.json does not describe")
    assert r.question("w").reason.startswith("weights.h5: is a Git LFS pointer")


def test_data_file_in_hdf5_is_named(tmp_path):
    p = tmp_path / "mnist.h5"
    with h5py.File(p, "w") as f:
        f["x_train"] = np.zeros((2, 28, 28))
        f["y_train"] = np.zeros(2)
    e = problem(p, want="model", label="digits.h5")
    assert e.kind == "not-keras" and "it holds 'x_train', 'y_train': a data file?" in str(e)


def test_config_nested_beyond_any_reason_is_a_problem_not_a_crash(tmp_path):
    p = tmp_path / "deep.h5"
    config = '{"class_name": "Sequential", "config": {"layers": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    with h5py.File(p, "w") as f:
        f.attrs["model_config"] = config
        f.create_group("model_weights").attrs["layer_names"] = np.array([], dtype="S1")
    e = problem(p)
    assert "nested too deeply" in str(e) or "not a mapping" in str(e), str(e)
