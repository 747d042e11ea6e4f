"""Built-in check kinds, generic ones only. Each module registers itself with :mod:`grader.registry`.

What is homework-specific (the backprop notebook, the XOR network, its hand-written equation)
lives in course packs under ``rubrics/``, written on the same public API as any instructor's
assignment: pytest files, reference modules and plugins.
"""

from grader.checks import (  # noqa: F401
    digits,
    file_present,
    graded_by_instructor,
    image,
    keras_models,
    model_accuracy,
    notebook_function,
    pytest_tests,
)
