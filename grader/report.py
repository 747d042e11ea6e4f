"""Kept for code written against the old module: the renderers live in :mod:`grader.render`."""

from grader.render.common import fmt_points  # noqa: F401
from grader.render.files import write_json_atomic  # noqa: F401
from grader.render.gradescope import to_gradescope  # noqa: F401
from grader.render.terminal import print_result as render_terminal  # noqa: F401
