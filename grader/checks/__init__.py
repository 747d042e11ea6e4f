"""Built-in check kinds. Each module registers itself with :mod:`grader.registry`."""

from grader.checks import (  # noqa: F401
    backprop,
    digits,
    file_present,
    graded_by_instructor,
    image,
    keras_models,
    xor_equation,
    xor_notebook,
)
