"""Stage 5, the class step: after the batch, on stored records only: class-relative scores
(:mod:`~grader.classstep.classwide`, :mod:`~grader.classstep.classbest`), the instructor's decisions
(:mod:`~grader.classstep.overrides`), integrity evidence (:mod:`~grader.classstep.integrity`), and the
:class:`~grader.classstep.report.ClassReport` every output format renders."""
