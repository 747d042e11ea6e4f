"""Writing an assignment: ``mlgrade init assignment`` (a worked example in :mod:`~grader.authoring.templates`)
and ``mlgrade validate`` (the samples graded as a small class), in :mod:`~grader.authoring.assignments`."""
