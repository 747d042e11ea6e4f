"""The check kinds that ship with mlgrade, declared as the entry point ``mlgrade.checks: builtin`` (the way any
package adds kinds): importing this module registers each of them."""

from grader.checks import (  # noqa: F401
    digits,
    file_present,
    graded_by_instructor,
    image,
    keras_models,
    model_accuracy,
    notebook_function,
)
from grader.checks.pytest import kind  # noqa: F401
