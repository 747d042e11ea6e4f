"""What one student's fingerprints may cost the class step: per-student caps and a pair budget.

The class step runs on every grade, override and review export, for everyone at once, so its
memory and time must follow the class size, never what one submission ships (issue 25: 30 files
of 400 identical layers made 82 million layer pairs, 6.7 GiB, and nobody got a grades.csv).

- :func:`cap_fingerprints`: at most :data:`MAX_MODEL_FILES` model files and :data:`MAX_LAYERS`
  weighted layers (whole files, in order; only the :data:`MAX_SKETCHED` largest layers keep the
  sketch that near-identical matching uses), :data:`MAX_IMAGES` pictures, :data:`MAX_CODE_PRINTS`
  code fingerprints (whole files) and :data:`MAX_XOR` sets of XOR weights per student; what is
  left out is named in a note. Applied when a record is made and again when it is compared, so a
  record stored by an older version is held to the same caps.
- :class:`PairBudget`: every comparison counts its candidate pairs before building any, never
  pairs a student with themself, and builds at most ``PAIRS_PER_STUDENT x students + PAIRS_BASE``;
  what does not fit is the most widely shared (the least telling), and a note says so.
- :func:`partner_counts`: how many other students each item matches, from a block of matches,
  so that what most of a class shares is set aside before any pair of it is built.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grader.score.fingerprint_caps import MAX_NOTES, cap_fingerprints  # noqa: F401 - the caps, one place

PAIRS_PER_STUDENT = 400
PAIRS_BASE = 50_000
BLOCK_CELLS = 2_000_000  # cells of one all-pairs block (rows x columns), whatever the kind


def block_rows(columns: int) -> int:
    """Rows per block so that a block of ``columns`` columns holds at most :data:`BLOCK_CELLS` cells."""
    return max(1, min(512, BLOCK_CELLS // max(columns, 1)))


@dataclass
class PairBudget:
    """How many pairs one comparison may still build for this class."""

    limit: int
    used: int = 0

    @classmethod
    def for_class(cls, students: int) -> PairBudget:
        return cls(PAIRS_PER_STUDENT * max(students, 1) + PAIRS_BASE)

    @property
    def left(self) -> int:
        return self.limit - self.used

    def take(self, n: int) -> bool:
        """Reserve ``n`` pairs; False (nothing reserved) when they do not fit."""
        if n > self.left:
            return False
        self.used += n
        return True

    def admit(self, costs: list[int]) -> tuple[list[int], int]:
        """The indices of ``costs`` (pairs per group) that fit, cheapest first; and how many did not."""
        order = sorted(range(len(costs)), key=lambda i: (costs[i], i))
        admitted: list[int] = []
        for k, i in enumerate(order):
            if not self.take(costs[i]):
                return sorted(admitted), len(order) - k
            admitted.append(i)
        return sorted(admitted), 0


def cross_pairs(owners: np.ndarray) -> int:
    """Pairs of items of different owners among ``owners`` (one owner id per item): counted, not built."""
    if owners.size < 2:
        return 0
    _, per = np.unique(owners, return_counts=True)
    m = int(owners.size)
    return (m * m - int(np.sum(per.astype(np.int64) ** 2))) // 2


def partner_counts(rows: np.ndarray, partner_owner: np.ndarray, n_rows: int, n_owners: int) -> np.ndarray:
    """For matches ``(rows[k], partner_owner[k])``: how many distinct owners each row matched."""
    if rows.size == 0:
        return np.zeros(n_rows, dtype=np.int64)
    keys = np.unique(rows.astype(np.int64) * n_owners + partner_owner.astype(np.int64))
    return np.bincount(keys // n_owners, minlength=n_rows)


def is_common(partners: int | np.ndarray, students: int, share: float, min_class: int):
    """Shared by more than ``share`` of a class of at least ``min_class``: the course's, not a copy."""
    return (students >= min_class) & (np.asarray(partners) + 1 > share * students)


# --------------------------------------------------------------------------- per-student caps

# --------------------------------------------------------------------------- all-pairs scans, bounded

@dataclass
class Scan:
    """What one bounded all-pairs scan found: partner counts for every item, and candidate pairs."""

    partners: np.ndarray  # how many other owners each item matched
    i: np.ndarray  # candidate pairs: i < j, different owners
    j: np.ndarray
    value: np.ndarray  # the similarity (or distance) of each candidate
    complete: bool  # False: more candidates than ``limit``; the best ``limit`` were kept


def scan(n_items: int, owner: np.ndarray, n_owners: int, match, *, limit: int, larger_is_closer: bool = True,
         keep=None, live: np.ndarray | None = None, width: int = 1) -> Scan:
    """Every pair of items of different owners that ``match`` accepts, block by block.

    ``match(start, stop)`` returns ``(hit, value)``: boolean and numeric arrays of shape
    ``(stop - start, n_items)`` for items ``start..stop`` against all. ``keep(i, j)`` may reject
    candidates further (their partner counts still count); ``live`` leaves items out altogether.
    At most ``limit`` candidates are held at any time: past that, the closest are kept. Memory:
    one block of at most :data:`BLOCK_CELLS` cells (``width`` cells per pair while ``match`` works)
    plus ``limit`` candidates.
    """
    partners = np.zeros(n_items, dtype=np.int64)
    kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    held, complete = 0, True
    step = block_rows(n_items * width)
    for start in range(0, n_items, step):
        stop = min(n_items, start + step)
        hit, value = match(start, stop)
        hit = hit & (owner[start:stop, None] != owner[None, :])
        if live is not None:
            hit &= live[start:stop, None] & live[None, :]
        r, c = np.nonzero(hit)
        partners[start:stop] = partner_counts(r, owner[c], stop - start, n_owners)
        r = r + start
        sel = r < c
        if keep is not None:
            sel &= keep(r, c)
        if not sel.any():
            continue
        kept.append((r[sel], c[sel], value[r[sel] - start, c[sel]]))
        held += int(sel.sum())
        if held > limit:
            i, j, v = (np.concatenate(x) for x in zip(*kept, strict=True))
            best = np.argsort(-v if larger_is_closer else v, kind="stable")[:limit]
            kept, held, complete = [(i[best], j[best], v[best])], int(best.size), False
    if not kept:
        empty = np.zeros(0, dtype=np.int64)
        return Scan(partners, empty, empty, np.zeros(0), complete)
    i, j, v = (np.concatenate(x) for x in zip(*kept, strict=True))
    return Scan(partners, i, j, v, complete)
