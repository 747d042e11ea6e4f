"""Built-in check kinds. Each module registers itself with :mod:`grader.registry`."""

from grader.checks import (  # noqa: F401
    backprop,
    digits,
    file_present,
    image,
    keras_models,
    model_accuracy,
    notebook_function,
    pytest_tests,
    xor_equation,
    xor_notebook,
)
