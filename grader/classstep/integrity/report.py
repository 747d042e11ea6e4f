"""The integrity step's typed records: a piece of evidence, a group of students, the class's report.

Evidence for an instructor to review, never a score: what matched (which file of whom against
which file of whom), how closely and against which threshold, in words.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Evidence:
    kind: str  # weights, xor, image, screenshot, code; single flags: handout-xor, known-image
    student_a: str
    file_a: str
    student_b: str  # "" for a single student's flag
    file_b: str  # the other student's file, or what was matched (the handout's weights, a known image)
    similarity: float
    measure: str  # what ``similarity`` is: cosine, Jaccard, bits differ, max difference
    threshold: str
    detail: str
    group: str = ""


@dataclass
class Group:
    id: str
    students: list[str]
    evidence: list[Evidence]

    @property
    def kinds(self) -> list[str]:
        return sorted({e.kind for e in self.evidence})


@dataclass
class IntegrityReport:
    pairs: list[Evidence] = field(default_factory=list)
    flags: list[Evidence] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    compared: int = 0  # students with fingerprints
    submissions: dict[str, str] = field(default_factory=dict)  # student -> submission hash


def group_pairs(pairs: list[Evidence]) -> list[Group]:
    """Students linked by any evidence (union-find), the groups with the most kinds of evidence first."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for e in pairs:
        a, b = find(e.student_a), find(e.student_b)
        if a != b:
            parent[max(a, b)] = min(a, b)
    members: dict[str, list[str]] = defaultdict(list)
    for s in sorted(parent):
        members[find(s)].append(s)
    evidence: dict[str, list[Evidence]] = defaultdict(list)
    for e in pairs:
        evidence[find(e.student_a)].append(e)
    roots = sorted(members, key=lambda r: (-len({e.kind for e in evidence[r]}), -len(members[r]), members[r][0]))
    return [Group(f"G{i}", members[r], evidence[r]) for i, r in enumerate(roots, start=1)]


def as_rows(report: IntegrityReport) -> list[dict[str, Any]]:
    """Every piece of evidence as one flat row (pairs, then single flags), for CSV and JSON."""
    rows = []
    for e in report.pairs + report.flags:
        rows.append({"group": e.group, "kind": e.kind, "student_a": e.student_a, "file_a": e.file_a,
                     "student_b": e.student_b, "file_b": e.file_b, "similarity": e.similarity,
                     "measure": e.measure, "threshold": e.threshold, "detail": e.detail,
                     "submission_a": report.submissions.get(e.student_a, "")[:16],
                     "submission_b": report.submissions.get(e.student_b, "")[:16] if e.student_b else ""})
    return rows
