"""The class best a class-relative question is scored against, robust to an outlier.

``points x accuracy / class best`` lets one student lower everyone: a model that memorised the
scored digits, which are public (a 1-nearest-neighbour over MNIST's test split, allowed layers only,
no training), scores 1.0000 and becomes the best (issue 25, finding 6). The best is therefore the highest
accuracy that is not *far* above the rest of the class:

Sort the accuracies ``a1 >= a2 >= ... >= an`` (one per student; errors ``e = 1 - a``). The top
``k`` students (the smallest such ``k``, at most ``max(1, n // 10)``: a few students working
together are caught as a group) are set aside when ``a_k`` is more than :data:`MIN_GAP` above
``a_(k+1)`` and either

- is near-perfect (at least :data:`NEAR_PERFECT`) with at most a third of the next best's errors
  (``e_k x`` :data:`ERROR_RATIO` ``<= e_(k+1)``): what memorising the scored digits gives, where
  the next best is an honest model; or
- is more than :data:`MARGIN` above it, in a class of :data:`MARGIN_MIN_CLASS` or more (in a
  smaller class one good model can honestly be that far ahead).

A student set aside is flagged for the instructor's review, scores full points (never more),
and does not set the best: ``a_(k+1)`` does. So no score is ever below the handout's formula
(the rule only lowers the best); one student can lower the others only with a model kept just
inside the rule; an honest class is scored by the formula itself. With public default digits
this is what stands between one student and everyone's score; instructors grading for real
stakes supply their own digits (``--hidden``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

MIN_GAP = 0.01  # a point of accuracy: ties and near-ties at the top are never outliers
NEAR_PERFECT = 0.99
ERROR_RATIO = 3.0  # at most a third of the next best's errors
MARGIN = 0.05  # or five points above it ...
MARGIN_MIN_CLASS = 10  # ... in a class of at least this many accuracies
GROUP_SHARE = 0.1  # at most this share of the class is set aside at once (and at least one student)


@dataclass(frozen=True)
class ClassBest:
    best: float | None  # what every score is relative to (None: no accuracy in the class)
    outliers: dict[str, float] = field(default_factory=dict)  # student -> accuracy set aside
    top: float | None = None  # the highest accuracy, set aside or not

    def why(self, student: str) -> str:
        """Why ``student``'s accuracy does not set the best, in words (empty when it is not an outlier)."""
        if student not in self.outliers:
            return ""
        acc = self.outliers[student]
        return (f"flagged for review: {acc:.4f} is far above the rest of the class (the next best is "
                f"{self.best:.4f}), so it does not set the class best; the score is capped at full points")


def far_above(top: float, nxt: float, n: int) -> bool:
    """Is accuracy ``top`` far above the next best ``nxt``, in a class of ``n`` accuracies?"""
    if top - nxt <= MIN_GAP:
        return False
    if top >= NEAR_PERFECT and (1.0 - top) * ERROR_RATIO <= (1.0 - nxt):
        return True
    return n >= MARGIN_MIN_CLASS and top - nxt > MARGIN


def class_best(metrics: dict[str, float]) -> ClassBest:
    """The robust best of ``metrics`` (student -> accuracy), and who was set aside."""
    if not metrics:
        return ClassBest(None)
    ranked = sorted(metrics.items(), key=lambda kv: (-kv[1], kv[0]))
    values = [v for _, v in ranked]
    n = len(values)
    for k in range(1, max(1, int(n * GROUP_SHARE)) + 1):
        if k < n and far_above(values[k - 1], values[k], n):
            return ClassBest(values[k], {s: v for s, v in ranked[:k]}, values[0])
    return ClassBest(values[0], {}, values[0])
