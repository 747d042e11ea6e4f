"""Stage 4, score: one submission graded question by question (:mod:`~grader.score.pipeline`), every record
stored the moment it exists (:mod:`~grader.score.store`), a self-check's reuse of unchanged questions
(:mod:`~grader.score.qcache`), and what each submission leaves for the class step (fingerprints)."""
