"""Built-in check kinds. Each module registers itself with :mod:`grader.registry`."""

from grader.checks import (  # noqa: F401
    backprop,
    file_present,
    image,
    keras_models,
    pending,
    xor_equation,
    xor_notebook,
)
