"""The formats that ship with mlgrade: importing this module registers each of them."""

from grader.render import (  # noqa: F401
    classroom,
    feedback_html,
    gradescope,
    gradescope_scores,
    integrity,
    lms_csv,
    notebook_html,
    summary_html,
    tables,
    terminal,
)
