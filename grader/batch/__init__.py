"""Batch grading: a class graded by long-lived workers (:mod:`~grader.batch.run`, :mod:`~grader.batch.worker`),
locally or on a Dask cluster (:mod:`~grader.batch.scheduling`), resumable from the record store."""
