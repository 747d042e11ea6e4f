"""``python -m grader`` is the same as the ``mlgrade`` command."""

from grader.cli import main

raise SystemExit(main())
