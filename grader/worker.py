"""A long-lived grading worker: ``python -m grader.worker CONFIG``.

Grades the submissions its parent sends (one JSON task per line on stdin), each
in a fresh work folder, and stores each result atomically before answering, so
that no grade is lost if anything dies later. Its notebook runner and model
server (with Keras imported once) live as long as it does.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
from pathlib import Path


def _die_with_parent() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def main() -> None:
    _die_with_parent()
    config = json.loads(sys.argv[1])
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    from grader.options import GradeOptions
    from grader.pipeline import grade_submission
    from grader.rubric import parse_rubric
    from grader.store import ResultStore

    rubric = parse_rubric(config["rubric_text"], config["rubric_source"])
    opts = dict(config["options"])
    for name in ("hidden_dir", "preview_dir"):
        opts[name] = Path(opts[name]) if opts.get(name) else None
    options = GradeOptions(**opts)
    store = ResultStore(Path(config["out"]))
    for line in sys.stdin:
        task = json.loads(line)
        result = grade_submission(Path(task["source"]), rubric, Path(task["workdir"]), options,
                                  student=task["student"])
        result.attempts = int(task.get("attempt", 1))
        store.put(task["student"], task["key"], result)
        protocol.write(json.dumps({"student": task["student"], "total": result.total}) + "\n")


if __name__ == "__main__":
    main()
