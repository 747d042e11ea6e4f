"""Reference implementations against the numbers the handouts print (../shared/seeds)."""

from __future__ import annotations

import numpy as np
import pytest

from reference import backprop, xor


def test_seed0_loss_matches_the_handout():
    weights, X, Y = backprop.seed0_problem()
    _, L = backprop.back_propagation(X, Y, weights)
    assert L == pytest.approx(0.1332476222330792, abs=1e-15)


def test_seed0_data_matches_the_handout_print():
    weights, X, Y = backprop.seed0_problem()
    np.testing.assert_allclose(weights["W1"], [[1.76405235, 0.40015721], [0.97873798, 2.2408932], [1.86755799, -0.97727788]], atol=1e-8)
    np.testing.assert_allclose(weights["W2"], [0.95008842, -0.15135721, -0.10321885], atol=1e-8)
    assert X.shape == (1000, 2) and Y.shape == (1000,)


def test_seed0_gradients_match_the_handout():
    weights, X, Y = backprop.seed0_problem()
    g, _ = backprop.back_propagation(X, Y, weights)
    np.testing.assert_allclose(g["b1"], [0.00492577, -0.00058023, -0.00065977], atol=5e-9)
    np.testing.assert_allclose(g["W2"], [0.02216011, 0.02433097, 0.01797174], atol=5e-9)
    assert g["b2"] == pytest.approx(0.029249230265318685, abs=1e-15)
    # The handout prints dL/dW1 transposed, as X.T @ dL/dZ1; ours has W1's shape.
    assert g["W1"].shape == weights["W1"].shape == (3, 2)
    np.testing.assert_allclose(g["W1"].T, [[0.00244596, -0.00030765, -0.00034768], [0.00262019, -0.00024188, -0.000372]], atol=5e-9)


def test_gradients_agree_with_finite_differences():
    weights, X, Y = backprop.make_problem(seed=7, n_points=50)
    g, _ = backprop.back_propagation(X, Y, weights)
    eps = 1e-6
    for key in ("W1", "b1", "W2"):
        arr = weights[key]
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + eps
            lp = backprop.back_propagation(X, Y, weights)[1]
            arr[idx] = old - eps
            lm = backprop.back_propagation(X, Y, weights)[1]
            arr[idx] = old
            assert g[key][idx] == pytest.approx((lp - lm) / (2 * eps), abs=1e-8)


def test_xor_handout_weights_give_the_handout_outputs():
    out = xor.forward(xor.HANDOUT_WEIGHTS1, xor.HANDOUT_WEIGHTS2).ravel()
    np.testing.assert_allclose(out, [0.0076539, 0.9954906, 0.9914691, 0.0067652], atol=5e-7)
    # the handout's printed outputs come from one update earlier; they agree to ~1e-6
    np.testing.assert_allclose(out, xor.HANDOUT_PRINTED_OUTPUT.ravel(), atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_xor_training_learns_xor(seed):
    _, _, out = xor.train(seed)
    np.testing.assert_allclose(out.ravel(), [0, 1, 1, 0], atol=0.1)


def test_xor_training_is_deterministic_per_seed():
    a = xor.train(5)
    b = xor.train(5)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_lecun_activation_and_derivative():
    from reference import activations

    assert activations.lecun(0.0) == 0
    assert activations.lecun(1.0) == pytest.approx(1.7159 * np.tanh(2 / 3) + 0.01)
    x = np.linspace(-3, 3, 13)
    eps = 1e-6
    np.testing.assert_allclose(activations.lecun_derivative(x),
                               (activations.lecun(x + eps) - activations.lecun(x - eps)) / (2 * eps), atol=1e-7)
    assert activations.GRADIENT_RANGE == pytest.approx((0.01, 1.7159 * 2 / 3 + 0.01))


def test_logic_gates_from_the_slides():
    from reference import neurons

    a, b = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
    assert neurons.and_gate(a, b).round().tolist() == [0, 0, 0, 1]
    assert neurons.nand_gate(a, b).round().tolist() == [1, 1, 1, 0]
    assert neurons.or_gate(a, b).round().tolist() == [0, 1, 1, 1]
    assert neurons.xor_gate(a, b).round().tolist() == [0, 1, 1, 0]


def test_one_neuron_learns_2x_plus_1():
    from reference import neurons

    w, b = neurons.train_linear()
    assert w * 13 + b == pytest.approx(27, abs=0.05)
    assert w * -5 + b == pytest.approx(-9, abs=0.05)


def test_parameter_counts_of_the_seed_architectures():
    from reference import architectures as a

    assert [p for _, p in a.layer_shapes(a.CIFAR_MLP, a.CIFAR_MLP_INPUT)] == [393344, 8256, 650]
    assert a.total_params(a.CIFAR_MLP, a.CIFAR_MLP_INPUT) == 402250
    assert a.total_params(a.CATS_VS_DOGS_CNN, a.CATS_VS_DOGS_INPUT) == 1212513
    shapes = a.layer_shapes(a.CATS_VS_DOGS_CNN, a.CATS_VS_DOGS_INPUT)
    assert shapes[6][0] == (18496,)  # flatten: 17 * 17 * 64


def test_reference_cli_prints_json(capsys):
    import json

    from grader.cli.main import main

    assert main(["reference", "--json"]) == 0
    values = json.loads(capsys.readouterr().out)
    assert values["backprop_seed0"]["L"] == 0.1332476222330792
    assert values["parameters"]["cifar_mlp"] == {"per_layer": [393344, 8256, 650], "total": 402250}
    assert values["xor"]["handout_weights_output"] == [0.0076539, 0.9954906, 0.9914691, 0.0067652]
    assert main(["reference"]) == 0
    assert "backprop_seed0" in capsys.readouterr().out
