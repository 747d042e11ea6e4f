"""Stage 1, unpack: a submission as it arrives (a zip, a folder, an LMS download, a repository) made into files
the grader can trust, with ids that never collide, and bounded readers of the notebooks in it."""
