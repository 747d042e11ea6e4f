"""The command line: parsing and the command bodies that are not a platform's (:mod:`~grader.cli.main`)."""
