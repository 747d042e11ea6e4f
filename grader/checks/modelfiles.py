"""The submission's model files as the sandboxed model server inspects them: one file a question names,
or the others beside it (a hint that the right model sits under another name). Answers are cached per
submission; nothing here opens a model file in the grader's process."""

from __future__ import annotations

import math
import shutil
from typing import Any

from grader.core.errors import SubmissionProblem
from grader.execute.modelserver import model_request
from grader.intake.submission import pattern_matches
from grader.rubric.kinds import CheckContext

MODEL_SUFFIXES = (".h5", ".hdf5", ".keras", ".weights.h5")


def weight_counts(info: dict[str, Any]) -> list[int]:
    """Parameters per weight-bearing layer of an inspected file, in order."""
    counts = [sum(math.prod(s) for _, s in la.get("weights", [])) for la in info.get("layers", [])]
    return [c for c in counts if c]


def other_model_files(ctx: CheckContext, pattern: str, limit: int = 6) -> list[tuple[str, dict[str, Any]]]:
    """``(relative path, inspection)`` of the submission's model files that ``pattern`` does not match
    (at most ``limit``; inspected in the sandboxed model server, cached per submission)."""
    found = []
    for rel in ctx.submission.files:
        if not rel.lower().endswith(MODEL_SUFFIXES) or pattern_matches(pattern, rel):
            continue
        key = ("h5-inspect", rel, "weights")
        if key not in ctx.cache:
            try:
                answer, job = model_request(ctx, {"op": "inspect", "path": "@file", "want": "weights", "label": rel},
                                            {"file": ctx.submission.root / rel}, timeout=60)
            except (SubmissionProblem, RuntimeError):
                continue
            shutil.rmtree(job, ignore_errors=True)
            ctx.cache[key] = answer
        answer = ctx.cache[key]
        if "info" in answer:
            found.append((rel, answer["info"]))
        if len(found) >= limit:
            break
    return found


def inspect_file(ctx: CheckContext, pattern: str, want: str = "weights") -> tuple[str, dict[str, Any]]:
    """``(relative path, inspection)`` of the student's model file; cached per submission. ``want``
    ("model" or "weights") is what the question needs: a file that is something else is told
    how to save that instead."""
    path, rel = ctx.submission.require(pattern)
    key = ("h5-inspect", rel, want)
    if key not in ctx.cache:
        answer, job = model_request(ctx, {"op": "inspect", "path": "@file", "want": want, "label": rel},
                                    {"file": path}, timeout=60)
        shutil.rmtree(job, ignore_errors=True)
        ctx.cache[key] = answer
    answer = ctx.cache[key]
    if "problem" in answer:
        raise SubmissionProblem(f"{rel}: {answer['problem']}")
    return rel, answer["info"]
