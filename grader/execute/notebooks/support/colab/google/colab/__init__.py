"""A stand-in for Google Colab's ``google.colab`` package while grading.

No ``google/__init__.py`` exists, so ``google`` stays a namespace package and
``google.protobuf`` (TensorFlow) still imports.
"""

from google.colab import drive, files, output, userdata  # noqa: F401

__all__ = ["drive", "files", "output", "userdata"]
