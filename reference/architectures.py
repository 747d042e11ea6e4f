"""The seed assignments' architectures, read from the course packs' ``architectures.yaml`` files.

The packs hold them as data (``rubrics/*/architectures.yaml``, named by the rubrics' checks); this
module gives them to the project's tests and scripts by their old Python names.

>>> total_params(CATS_VS_DOGS_CNN, CATS_VS_DOGS_INPUT)
1212513
"""

from __future__ import annotations

from pathlib import Path

from grader.rubric.architectures import Layer, layer_shapes, read_architectures, total_params

PACKS = Path(__file__).resolve().parent.parent / "rubrics"


def _read(pack: str) -> dict:
    table, problems = read_architectures(["architectures.yaml"], PACKS / pack)
    if problems:
        raise RuntimeError(f"rubrics/{pack}/architectures.yaml: {problems}")
    return table


_ALL = {**_read("hw4"), **_read("aml_hw4"), **_read("ml_assignment2")}


def named(name: str) -> tuple[list[Layer], tuple[int, ...]]:
    """An architecture by the name a rubric uses: ``cats_vs_dogs_cnn``, ``cifar_mlp``, ``svhn_cnn``,
    ``mnist_mlp_<depth>_<activation>`` (e.g. ``mnist_mlp_20_tanh``)."""
    arch = _ALL[name]
    return list(arch.layers), tuple(arch.input_shape)


def mnist_mlp(depth: int, activation: str) -> list[Layer]:
    """ML Assignment 2 Ex1B: ``depth`` hidden layers of 32 units, softmax output, on 28x28 inputs."""
    return named(f"mnist_mlp_{depth}_{activation}")[0]


CATS_VS_DOGS_CNN, CATS_VS_DOGS_INPUT = named("cats_vs_dogs_cnn")
CIFAR_MLP, CIFAR_MLP_INPUT = named("cifar_mlp")
SVHN_CNN, SVHN_INPUT = named("svhn_cnn")
MNIST_INPUT = named("mnist_mlp_5_relu")[1]

__all__ = ["CATS_VS_DOGS_CNN", "CATS_VS_DOGS_INPUT", "CIFAR_MLP", "CIFAR_MLP_INPUT", "MNIST_INPUT", "SVHN_CNN",
           "SVHN_INPUT", "Layer", "layer_shapes", "mnist_mlp", "named", "total_params"]
