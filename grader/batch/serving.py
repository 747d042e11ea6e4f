"""A grading worker's loop, inside the worker process: its configuration, then one task after another.

What :mod:`grader.batch.worker` runs once it is started; kept apart so that the parent, which imports that
module for :class:`~grader.batch.worker.WorkerProcess`, does not import the grading stack (the pipeline,
the notebook runner and numpy: 0.2 s of every ``mlgrade grade``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from grader.core.options import GradeOptions
from grader.core.timeline import mark
from grader.rubric import parse_rubric
from grader.score.pipeline import grade_submission, stop_sandbox, warm_notebooks, warm_sandbox
from grader.score.store import ResultStore


def import_test_runner() -> None:
    """pytest and the harness (0.15 s), imported while the worker waits: instructors' test files are most
    rubrics' checks, and the first submission's would otherwise wait for it."""
    from grader.checks.pytest import harness  # noqa: F401  # deferred: pytest, as grader.checks.pytest.kind does


def serve(line: str) -> None:
    """Grade what the parent sends; ``line``: the first line of the input: the configuration, or first
    ``{"warm": {"isolation", "slot"}}`` (start that sandbox now, the configuration follows); empty: started
    ahead and not needed."""
    warmed = None
    config = json.loads(line) if line else None
    if isinstance(config, dict) and "warm" in config:
        warmed = (str(config["warm"]["isolation"]), int(config["warm"]["slot"]))
        warm_sandbox(*warmed)
        import_test_runner()  # while the configuration is on its way
        line = sys.stdin.readline()
        config = json.loads(line) if line else None
    if config is None:
        if warmed is not None:
            stop_sandbox(warmed[0]).result()  # nothing of it is left when the slot is given back
        return
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    opts = dict(config["options"])
    for name in ("hidden_dir", "preview_dir"):
        opts[name] = Path(opts[name]) if opts.get(name) else None
    options = GradeOptions(**opts)
    needed = (options.isolation, options.sandbox_slot) if config.get("notebooks") else None
    if warmed is not None and warmed != needed:
        stop_sandbox(warmed[0])  # not this rubric's: stopped after its start (the notebook thread keeps order)
        mark("worker: the sandbox started ahead is not needed: stopped")
    if needed is not None and warmed != needed:  # the rubric runs notebooks: their sandbox starts while it is read
        warm_notebooks(options)
    rubric = parse_rubric(config["rubric_text"], config["rubric_source"])
    store = ResultStore(Path(config["out"])) if config.get("out") else None
    mark("worker: ready")
    for line in sys.stdin:
        task = json.loads(line)
        mark(f"worker: task {task['student']}")
        result = grade_submission(Path(task["source"]), rubric, Path(task["workdir"]), options,
                                  student=task["student"])
        result.attempts = int(task.get("attempt", 1))
        answer: dict = {"student": task["student"], "total": result.total, "crashed": bool(result.crashed_checks)}
        if store is not None:
            store.put(task["student"], task["key"], result)
        else:
            answer["record"] = result.model_dump(mode="json")
        mark(f"worker: answered {task['student']}")  # before the answer: the driver's next mark comes after
        protocol.write(json.dumps(answer) + "\n")
    mark("worker: no more tasks")
