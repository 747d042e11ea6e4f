"""The Keras MLP's architecture, read by the sandboxed model server (its accuracy is the YAML check's)."""

import pytest

MAX_PARAMS = 200_000


@pytest.fixture
def mlp(model):
    return model("mlp.h5")


def test_is_a_dense_network(mlp):
    kinds = [layer["class_name"] for layer in mlp.layers if layer["class_name"] not in ("InputLayer", "Dropout")]
    assert kinds and all(k in ("Dense", "Flatten") for k in kinds), f"an MLP has Dense layers only, found {kinds}"


def test_ends_in_ten_softmax_outputs(mlp):
    last = [layer for layer in mlp.layers if layer["class_name"] == "Dense"][-1]
    assert last["config"].get("units") == 10, "the last Dense layer has one unit per digit (10)"
    assert last["config"].get("activation") == "softmax", "the last Dense layer's activation is softmax"


def test_is_small(mlp):
    assert mlp.count_params() <= MAX_PARAMS, f"{mlp.count_params():,} parameters; at most {MAX_PARAMS:,}"
