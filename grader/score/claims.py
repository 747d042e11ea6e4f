"""Files another question of the rubric already claims, so a missing-file hint never offers them.

A file named as the rubric expects is in its place (:attr:`Submission.expected`). So is one that another
question's missing file would be offered by name (``MLP-20-relu.h5`` for ``mlp_20_relu.h5``), one that a
glob naming files matches (``mlp_*_relu.h5``; ``*.ipynb`` names none), and one that another check would
certainly take (weights of exactly its architecture, :meth:`CheckParams.claims`). Offering one of those
to a second question would tell the student to rename a file that a first question needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from grader.intake.submission import close_names, expand_braces, names_files, pattern_matches
from grader.rubric import Question
from grader.rubric.kinds import CheckContext, CheckParams


def question_patterns(q: Question) -> list[str]:
    """Every file pattern a question names: its ``files:`` and its checks' own."""
    found = list(q.files)
    found += [p for c in q.checks if isinstance(c.params, CheckParams) for p in c.params.file_patterns()]
    return list(dict.fromkeys(found))


def own_patterns(params: CheckParams) -> set[str]:
    """The file patterns a check names itself, not through one of its items (``images: [{file: ...}]``)."""
    nested: set[str] = set()
    for _, value in params:
        items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else [value]
        nested.update(p for v in items if isinstance(v, CheckParams) for p in v.file_patterns())
    return set(params.file_patterns()) - nested


def claimed_elsewhere(ctx: CheckContext, others: Sequence[Question]) -> frozenset[str]:
    """The student's unclaimed-by-name files (``hint_candidates``) that a question other than
    ``ctx.question`` claims; cached per submission and question."""
    key = ("claimed-elsewhere", ctx.question.id)
    if key in ctx.cache:
        return ctx.cache[key]
    sub = ctx.submission
    candidates = sub.hint_candidates()
    view = replace(sub, files=candidates)
    claimed: set[str] = set()
    mine = {e.casefold() for p in question_patterns(ctx.question) for e in expand_braces(p)}
    for q in others:
        if q.id == ctx.question.id:
            continue
        for pattern in question_patterns(q):
            if mine & {e.casefold() for e in expand_braces(pattern)}:  # both need this very file: no one takes it
                continue
            if any(ch in pattern for ch in "*?["):
                if names_files(pattern):
                    claimed.update(f for f in candidates if pattern_matches(pattern, f))
                continue
            if sub.find_one(pattern) is not None:
                continue
            claimed.update(close_names(pattern, candidates))
            for c in q.checks:
                # a check claims for its own file (a model), never for one of its items (an image)
                if isinstance(c.params, CheckParams) and pattern in own_patterns(c.params):
                    try:
                        claimed.update(c.params.claims(replace(ctx, submission=view, question=q), pattern))
                    except Exception:  # a hint is a courtesy: it must never cost the student the real reason
                        continue
    ctx.cache[key] = frozenset(claimed)
    return ctx.cache[key]
