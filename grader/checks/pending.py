"""Kinds the default rubric names before they are built; they report "not graded yet".

Each line goes away when its kind is implemented in a module of its own.
"""

from grader.registry import declare_pending

declare_pending("keras_weights", "weights.h5 loads into the course architecture")
declare_pending("architecture", "a Keras model file matches the assignment's architecture")
declare_pending("classify_images", "the student's weights classify the student's own images")
declare_pending("digits", "digit accuracy on a hidden set, relative to the best in class")
