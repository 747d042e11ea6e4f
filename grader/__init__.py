"""mlgrade: an automated grader for machine-learning homework.

A submission flows through named stages, each a small module:
``unpack -> execute -> inspect -> score -> report``. The rubric is data
(:mod:`grader.rubric`), check kinds plug in through one registry
(:mod:`grader.registry`), and every output format renders from the typed
records in :mod:`grader.results`.
"""

__version__ = "0.1.0"
