"""``import mlgrade`` inside a notebook that mlgrade is grading: a student may have left
``mlgrade.check()`` in the notebook, and grading must neither recurse nor fail on it."""

__version__ = "grading"


def check(*args, **kwargs):
    print("mlgrade: mlgrade.check() skipped while mlgrade grades this notebook")
