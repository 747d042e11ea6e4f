"""kgraph: model configs of every Keras major as graphs of allow-listed layers; everything else refused
with a reason, before Keras sees anything."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import h5py
import pytest

from grader.insandbox.kgraph import ConfigProblem, check_config, parse_model

DATA = Path(__file__).resolve().parents[1] / "data" / "models"


def config_of(name: str) -> dict:
    with h5py.File(DATA / name, "r") as f:
        text = f.attrs["model_config"]
    return json.loads(text if isinstance(text, str) else text.decode())


def parsed(cfg: dict):
    check_config(cfg)
    return parse_model(cfg)


def kinds(model) -> list[str]:
    return [layer.class_name for layer in model.layers]


@pytest.mark.parametrize("major", [2, 3])
def test_functional_chain(major):
    m = parsed(config_of(f"k{major}_func_cnn.h5"))
    assert m.model_class == "Functional" and m.input_shape == [28, 28, 1]
    assert kinds(m) == ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense"]
    assert m.graph.is_chain()


@pytest.mark.parametrize("major", [2, 3])
def test_branches_add_and_concatenate(major):
    m = parsed(config_of(f"k{major}_func_branch.h5"))
    g = m.graph
    assert not g.is_chain()
    add = next(n for n in g.nodes if n.layer >= 0 and m.layers[n.layer].class_name == "Add")
    cat = next(n for n in g.nodes if n.layer >= 0 and m.layers[n.layer].class_name == "Concatenate")
    assert [m.layers[g.nodes[i].layer].class_name for i in add.inputs] == ["Conv2D", "Conv2D"]
    assert g.nodes[cat.inputs[1]].layer == -1  # the skip connection from the input itself
    for i, node in enumerate(g.nodes):
        assert all(j < i for j in node.inputs)  # every node's inputs come first


@pytest.mark.parametrize("major", [2, 3])
def test_nested_sequential_is_inlined(major):
    m = parsed(config_of(f"k{major}_nested.h5"))
    names = [layer.name for layer in m.layers]
    assert names == ["gaussian_noise", "block/batch_normalization", "block/dense", "block/batch_normalization_1",
                     "block/activation", "dense_1"]
    assert kinds(m) == ["GaussianNoise", "BatchNormalization", "Dense", "BatchNormalization", "Activation", "Dense"]
    assert set(m.nested_groups.values()) == {"block"}
    assert m.graph.is_chain()


@pytest.mark.parametrize("major", [2, 3])
def test_shared_layer_is_one_layer_with_two_nodes(major):
    m = parsed(config_of(f"k{major}_shared.h5"))
    shared = [i for i, layer in enumerate(m.layers) if layer.name == "shared_dense"]
    assert len(shared) == 1
    assert sum(1 for n in m.graph.nodes if n.layer == shared[0]) == 2


def test_keras3_tensor_arithmetic_becomes_a_merge_layer():
    m = parsed(config_of("k3_ops_add.h5"))
    assert "Add" in kinds(m)


def test_two_outputs_are_kept_for_the_checks_to_refuse():
    assert len(parsed(config_of("k3_two_outputs.h5")).graph.outputs) == 2


@pytest.mark.parametrize(("name", "message"), [
    ("k2_tf_op.h5", "is a TensorFlow operation applied to a tensor"),
    ("k3_ops_relu.h5", "is a keras.ops operation (Relu) applied to tensors"),
])
def test_operations_on_tensors_are_refused(name, message):
    with pytest.raises(ConfigProblem, match=message.replace("(", r"\(").replace(")", r"\)")):
        parsed(config_of(name))


def keras2_functional(layers: list[tuple[str, str, dict, list]], outputs="d2", cls="Model") -> dict:
    """A Keras 2.2-style functional config: (class, name, config, inbound refs of one call)."""
    out = [{"class_name": "InputLayer", "name": "in", "config": {"name": "in", "batch_input_shape": [None, 4]},
            "inbound_nodes": []}]
    for c, name, cfg, refs in layers:
        out.append({"class_name": c, "name": name, "config": {"name": name, **cfg},
                    "inbound_nodes": [[[r, 0, 0, {}] for r in refs]]})
    return {"class_name": cls, "config": {"name": "m", "layers": out, "input_layers": [["in", 0, 0]],
                                          "output_layers": [[outputs, 0, 0]]}}


def test_keras22_model_class_graph():
    cfg = keras2_functional([("Dense", "d1", {"units": 3}, ["in"]), ("Dense", "d2", {"units": 2}, ["d1"])])
    m = parsed(cfg)
    assert m.model_class == "Model" and kinds(m) == ["Dense", "Dense"] and m.input_shape == [4]


def test_layers_listed_out_of_order_are_sorted():
    cfg = keras2_functional([("Dense", "d2", {"units": 2}, ["d1"]), ("Dense", "d1", {"units": 3}, ["in"])])
    m = parsed(cfg)
    assert [layer.name for layer in m.layers] == ["d1", "d2"]


@pytest.mark.parametrize(("layers", "message"), [
    ([("Dense", "d1", {"units": 3}, ["nowhere"]), ("Dense", "d2", {"units": 2}, ["d1"])],
     "takes its input from 'nowhere', which the model does not have"),
    ([("Dense", "d1", {"units": 3}, ["d2"]), ("Dense", "d2", {"units": 2}, ["d1"])], "wait for inputs that never come"),
    ([("Dense", "d1", {"units": 3}, ["in"]), ("Dense", "d2", {"units": 2}, ["d1", "in"])],
     "is called on 2 tensors; only merge layers"),
])
def test_broken_graphs_are_named(layers, message):
    with pytest.raises(ConfigProblem, match=message):
        parsed(keras2_functional(layers))


def test_lambda_inside_a_nested_model_is_refused():
    cfg = config_of("k3_nested.h5")
    nested = next(item for item in cfg["config"]["layers"] if item["class_name"] == "Sequential")
    nested["config"]["layers"].append({"class_name": "Lambda", "config": {"name": "evil", "function": "x"}})
    with pytest.raises(ConfigProblem, match="Lambda layer"):
        check_config(cfg)


@pytest.mark.parametrize("where", ["config", "layer_config", "kwargs"])
def test_tensor_references_outside_inbound_nodes_are_refused(where):
    cfg = config_of("k3_func_cnn.h5")
    ref = copy.deepcopy(cfg["config"]["layers"][1]["inbound_nodes"][0]["args"][0])
    if where == "config":
        cfg["config"]["extra"] = ref
        match = "tensor reference outside a layer's inputs"
    elif where == "layer_config":
        cfg["config"]["layers"][1]["config"]["kernel_initializer"] = ref
        match = "tensor reference outside a layer's inputs"
    else:
        cfg["config"]["layers"][2]["inbound_nodes"][0]["kwargs"]["mask"] = ref
        match = "is called with the argument mask="
    with pytest.raises(ConfigProblem, match=match):
        parsed(cfg)


def test_tensor_reference_with_extra_keys_is_refused():
    cfg = config_of("k3_func_cnn.h5")
    cfg["config"]["layers"][1]["inbound_nodes"][0]["args"][0]["config"]["module"] = "os"
    with pytest.raises(ConfigProblem, match="malformed tensor reference"):
        check_config(cfg)


def test_constant_argument_is_refused():
    cfg = config_of("k3_func_cnn.h5")
    cfg["config"]["layers"][1]["inbound_nodes"][0]["args"].append(2.0)
    with pytest.raises(ConfigProblem, match="is called with the value 2.0 besides tensors"):
        parsed(cfg)


def test_custom_module_in_a_functional_layer_is_refused():
    cfg = config_of("k3_func_branch.h5")
    cfg["config"]["layers"][3]["module"] = "my_layers"
    with pytest.raises(ConfigProblem, match="comes from module 'my_layers', not Keras"):
        check_config(cfg)


def test_deep_nesting_is_refused_without_recursion():
    deep: dict = {"class_name": "Sequential", "config": {"layers": []}}
    node = deep
    for _ in range(20):
        inner = {"class_name": "Sequential", "config": {"name": "s", "layers": []}}
        node["config"]["layers"].append(inner)
        node = inner
    deep["config"]["layers"].insert(0, {"class_name": "InputLayer", "config": {"batch_shape": [None, 4]}})
    check_config(deep)
    with pytest.raises(ConfigProblem, match="nested more than"):
        parse_model(deep)
    very_deep: list = []
    for _ in range(100_000):
        very_deep = [very_deep]
    check_config({"class_name": "Sequential", "config": {"layers": very_deep}})  # iterative: no RecursionError


def test_keras3_sequential_without_input_layer_uses_build_input_shape():
    cfg = {"class_name": "Sequential", "config": {"name": "s", "build_input_shape": [None, 784], "layers": [
        {"class_name": "Dense", "config": {"name": "d", "units": 10}}]}}
    assert parsed(cfg).input_shape == [784]


def test_sequential_starting_with_a_base_model_takes_its_input_shape():
    """Transfer learning: Sequential([base, Flatten(), Dense()]) where only the base knows the input."""
    base = keras2_functional([("Conv2D", "c1", {"filters": 2, "kernel_size": [3, 3]}, ["in"])], outputs="c1",
                             cls="Functional")
    base["config"]["layers"][0]["config"]["batch_input_shape"] = [None, 8, 8, 3]
    base["config"]["name"] = "base"
    cfg = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        base, {"class_name": "Flatten", "config": {"name": "f"}},
        {"class_name": "Dense", "config": {"name": "d", "units": 2}}]}}
    m = parsed(cfg)
    assert m.input_shape == [8, 8, 3]
    assert [layer.name for layer in m.layers] == ["base/c1", "f", "d"]
    assert m.nested_groups == {0: "base"}
