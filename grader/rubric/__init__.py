"""The rubric is data: YAML validated into typed models (:mod:`~grader.rubric.model`), with errors a human can
act on (:mod:`~grader.rubric.yamlerrors`); the one registry check kinds plug into (:mod:`~grader.rubric.kinds`);
the instructor's own Python (:mod:`~grader.rubric.instructor`); architectures and integrity settings as data."""

from grader.rubric.model import CheckSpec, Question, Rubric, RubricError, load_rubric, parse_rubric

__all__ = ["CheckSpec", "Question", "Rubric", "RubricError", "load_rubric", "parse_rubric"]
