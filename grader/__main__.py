"""``python -m grader`` is the same as the ``mlgrade`` command."""

from grader.cli.main import entry

entry()
