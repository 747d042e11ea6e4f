"""Weights across the class, layer by layer: identical (exact hash) or near-identical (sketch cosine).

A pair of files is evidence when the layers that match hold ``weights_min_share`` of the
parameters of both files. A layer that most of a class of ten or more shares is the course's (a
provided pre-trained part, or the handout's fixed seed), named in a note and not evidence.

Bounded by the class, never by one submission (:mod:`grader.classstep.integrity.bounds`): a file's
identical layers are one entry; identical layers are grouped and their pairs of different
students counted before any is built; near-identical layers are compared in blocks of one shape
with a student's own layers masked out, at most :data:`MAX_NEAR_GROUP` per shape (a fair share per
student beyond that); what most of the class shares is set aside before its pairs are built, and
at most the class's pair budget is built, the most widely shared left out first.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from grader.classstep.integrity.bounds import PairBudget, Scan, cross_pairs, is_common, partner_counts, scan
from grader.classstep.integrity.report import Evidence, IntegrityReport
from grader.insandbox.fingerprint import decode_sketch
from grader.rubric.integrity import IntegrityConfig

MAX_NEAR_GROUP = 6000  # layers of one shape compared all-pairs by cosine
COMMON_SHARE = 0.5  # a layer shared by more than half of a class of ...
COMMON_MIN_CLASS = 10  # ... at least this many is the course's, not a copy


@dataclass
class _File:
    student: int
    rel: str
    params: int = 0  # parameters in its weighted layers
    layers: int = 0  # weighted layers


@dataclass
class _Layers:
    """One entry per distinct layer of a file (its identical layers counted, not repeated)."""

    student: list[int] = field(default_factory=list)
    file: list[int] = field(default_factory=list)
    exact: list[int] = field(default_factory=list)  # an id per (hash, shapes); a layer without a hash its own
    shape: list[str] = field(default_factory=list)
    size: list[int] = field(default_factory=list)  # parameters of one such layer
    count: list[int] = field(default_factory=list)  # how many such layers the file holds
    sketch: list[str | None] = field(default_factory=list)


def _collect(prints: dict[str, dict]) -> tuple[list[str], list[_File], _Layers]:
    students = sorted(prints)
    files: list[_File] = []
    rows = _Layers()
    ids: dict[tuple[str, str], int] = {}
    for si, student in enumerate(students):
        for model in prints[student].get("models", []):
            if not isinstance(model, dict) or not isinstance(model.get("layers"), list):
                continue
            f = _File(si, str(model.get("file", "?")))
            mine: dict[int, int] = {}  # exact id -> row, within this file
            for layer in model["layers"]:
                if not isinstance(layer, dict) or layer.get("trivial"):
                    continue
                size = layer.get("size", 0)
                size = size if isinstance(size, int) and 0 <= size < 2**40 else 0
                f.params += size
                f.layers += 1
                shape = repr(layer.get("shapes"))
                digest = str(layer.get("exact", ""))
                key = (digest, shape) if digest else ("#", str(len(ids)))
                eid = ids.setdefault(key, len(ids))
                if eid in mine:
                    rows.count[mine[eid]] += 1
                    continue
                mine[eid] = len(rows.exact)
                rows.student.append(si)
                rows.file.append(len(files))
                rows.exact.append(eid)
                rows.shape.append(shape)
                rows.size.append(size)
                rows.count.append(1)
                sketch = layer.get("sketch")
                rows.sketch.append(sketch if isinstance(sketch, str) else None)
            files.append(f)
    return students, files, rows


def weight_pairs(prints: dict[str, dict], config: IntegrityConfig, report: IntegrityReport) -> list[Evidence]:
    students, files, rows = _collect(prints)
    n = len(prints)
    if not rows.exact:
        return []
    student = np.asarray(rows.student, dtype=np.int64)
    exact = np.asarray(rows.exact, dtype=np.int64)
    # partners: how many other students hold an identical layer, or (below) a near-identical one
    per_exact = partner_counts(exact, student, int(exact.max()) + 1, n)
    partners = per_exact[exact] - 1
    near = _near(rows, student, exact, config, report, n)
    partners = np.maximum(partners, near.partners)
    common = is_common(partners, n, COMMON_SHARE, COMMON_MIN_CLASS)
    for shape in sorted({rows.shape[i] for i in np.flatnonzero(common)}):
        most = int(max(partners[i] for i in np.flatnonzero(common) if rows.shape[i] == shape)) + 1
        report.notes.append(f"a layer of shape {shape} is (nearly) the same in {most} of {n} submissions "
                            "(a pre-trained part the course provides, or the handout's fixed random seed?); it is "
                            "not counted as evidence")
    budget = PairBudget.for_class(n)
    found = _exact_pairs(exact, student, common, budget, report)
    found += near.pairs(student, exact, config.weights_cosine, common, budget, report)
    return _evidence(found, students, files, rows, config)


def _exact_pairs(exact: np.ndarray, student: np.ndarray, common: np.ndarray, budget: PairBudget,
                 report: IntegrityReport) -> list[tuple[int, int, float, bool]]:
    """Identical layers of different students, whole groups within the budget (the smallest first)."""
    keep = np.flatnonzero(~common)
    order = keep[np.lexsort((student[keep], exact[keep]))]
    if order.size < 2:
        return []
    starts = np.flatnonzero(np.r_[True, exact[order][1:] != exact[order][:-1]])
    ends = np.r_[starts[1:], order.size]
    groups = [order[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True) if e - s >= 2]
    costs = [cross_pairs(student[g]) for g in groups]
    admitted, left_out = budget.admit(costs)
    if left_out:
        report.notes.append(f"{left_out} groups of identical layers held by many files were not paired (more pairs "
                            f"than the class step builds for {len(np.unique(student))} students): the most widely "
                            "shared are left out first")
    out = []
    for k in admitted:
        g = groups[k]
        if costs[k] == 0:
            continue
        by_student: dict[int, list[int]] = defaultdict(list)
        for i in g.tolist():
            by_student[int(student[i])].append(i)
        owners = sorted(by_student)
        for a in range(len(owners)):
            for b in range(a + 1, len(owners)):
                out += [(i, j, 1.0, True) for i in by_student[owners[a]] for j in by_student[owners[b]]]
    return out


@dataclass
class _Shape:
    """The near-identical layers of one shape: rows, sketches, and the first scan's candidates."""

    rows: np.ndarray
    mat: np.ndarray
    found: Scan


@dataclass
class _Near:
    """Near-identical layers: partner counts for every row, candidate pairs per shape."""

    partners: np.ndarray
    shapes: list[_Shape] = field(default_factory=list)

    def pairs(self, student: np.ndarray, exact: np.ndarray, threshold: float, common: np.ndarray,
              budget: PairBudget, report: IntegrityReport) -> list[tuple[int, int, float, bool]]:
        """Candidates of layers no class shares, within the budget (the closest first)."""
        parts = []
        for sh in self.shapes:
            live = ~common[sh.rows]
            sc = sh.found
            if not sc.complete:  # a second scan, the common layers now left out, holding at most the budget
                sc = scan(sh.rows.size, student[sh.rows], len(self.partners), _cosines(sh.mat, threshold),
                          limit=max(budget.left, 0), keep=_differ(exact[sh.rows]), live=live)
            ok = live[sc.i] & live[sc.j]
            parts.append((sh.rows[sc.i[ok]], sh.rows[sc.j[ok]], sc.value[ok]))
        if not parts:
            return []
        i, j, cos = (np.concatenate(x) for x in zip(*parts, strict=True))
        if i.size > budget.left:
            report.notes.append(f"{i.size:,} pairs of near-identical layers: the {max(budget.left, 0):,} closest were "
                                "kept (the class step builds at most that many)")
            best = np.argsort(-cos, kind="stable")[: max(budget.left, 0)]
            i, j, cos = i[best], j[best], cos[best]
        budget.take(int(i.size))
        return [(a, b, float(c), False) for a, b, c in zip(i.tolist(), j.tolist(), cos.tolist(), strict=True)]


def _cosines(mat: np.ndarray, threshold: float):
    def match(start: int, stop: int):
        block = mat[start:stop] @ mat.T
        return block >= threshold, block
    return match


def _differ(exact: np.ndarray):
    """Near-identical candidates are layers with different hashes (identical ones are paired as such)."""
    return lambda i, j: exact[i] != exact[j]


def _near(rows: _Layers, student: np.ndarray, exact: np.ndarray, config: IntegrityConfig, report: IntegrityReport,
          n: int) -> _Near:
    near = _Near(np.zeros(len(rows.exact), dtype=np.int64))
    by_shape: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(rows.sketch):
        if s is not None:
            by_shape[rows.shape[i]].append(i)
    store = 4 * PairBudget.for_class(n).limit  # candidates held from the first scans, all shapes together
    size = np.asarray(rows.size, dtype=np.int64)
    for shape, idx in sorted(by_shape.items()):
        idx_a = np.asarray(idx, dtype=np.int64)
        if len(np.unique(student[idx_a])) < 2:
            continue  # one student's layers only: nothing to pair
        if idx_a.size > MAX_NEAR_GROUP:
            idx_a = _fair_share(idx_a, student, size)
            report.notes.append(f"{len(idx)} layers of shape {shape}: near-identical ones were looked for among "
                                f"{idx_a.size} (each student's largest, the same number each); identical ones among "
                                "all")
        sketches = [decode_sketch(rows.sketch[i]) for i in idx_a.tolist()]
        ok = np.array([v is not None for v in sketches], dtype=bool)
        idx_a = idx_a[ok]
        if idx_a.size < 2:
            continue
        mat = np.stack([v for v in sketches if v is not None]).astype(np.float32)
        sc = scan(idx_a.size, student[idx_a], n, _cosines(mat, config.weights_cosine), limit=max(store, 0),
                  keep=_differ(exact[idx_a]))
        near.partners[idx_a] = np.maximum(near.partners[idx_a], sc.partners)
        if sc.complete:
            store -= sc.i.size
        else:
            sc = Scan(sc.partners, sc.i[:0], sc.j[:0], sc.value[:0], False)  # scanned again once common is known
        near.shapes.append(_Shape(idx_a, mat, sc))
    return near


def _fair_share(idx: np.ndarray, student: np.ndarray, size: np.ndarray) -> np.ndarray:
    """At most MAX_NEAR_GROUP rows, the same number from every student (their largest layers first)."""
    owners = student[idx]
    quota = max(1, MAX_NEAR_GROUP // len(np.unique(owners)))
    order = idx[np.lexsort((np.arange(idx.size), -size[idx], owners))]
    owners = student[order]
    rank = np.arange(order.size) - np.searchsorted(owners, owners, side="left")
    return np.sort(order[rank < quota])


def _evidence(found: list[tuple[int, int, float, bool]], students: list[str], files: list[_File], rows: _Layers,
              config: IntegrityConfig) -> list[Evidence]:
    matched: dict[tuple[int, int], dict[int, tuple[float, bool]]] = defaultdict(dict)
    for i, j, cos, exact in found:
        fa, fb = rows.file[i], rows.file[j]
        for x, y, k in ((fa, fb, i), (fb, fa, j)):
            prev = matched[(x, y)].get(k)
            if prev is None or cos > prev[0]:
                matched[(x, y)][k] = (cos, exact)
    out = []
    done = set()
    for (fa, fb), mine in matched.items():
        if (fb, fa) in done:
            continue
        done.add((fa, fb))
        theirs = matched.get((fb, fa), {})
        weight = {k: rows.size[k] * rows.count[k] for k in list(mine) + list(theirs)}
        share = min(sum(weight[k] for k in mine) / max(files[fa].params, 1),
                    sum(weight[k] for k in theirs) / max(files[fb].params, 1))
        if share < config.weights_min_share:
            continue
        exact_n = sum(rows.count[k] for k, (_, e) in mine.items() if e)
        near_n = sum(rows.count[k] for k, (_, e) in mine.items() if not e)
        params = sum(weight[k] for k in mine)
        cos = sum(weight[k] * c for k, (c, _) in mine.items()) / max(params, 1)
        what = []
        if exact_n:
            what.append(f"{exact_n} identical")
        if near_n:
            what.append(f"{near_n} near-identical (cosine {min(c for c, e in mine.values() if not e):.3f} or more)")
        detail = (f"{' and '.join(what)} of {files[fa].layers} weighted layers, {params:,} parameters "
                  f"({share:.0%} of both files)")
        if near_n:
            detail += "; near-identical weights also come from the same random seed and data: look for a seed"
        a, b = (students[files[fa].student], files[fa].rel), (students[files[fb].student], files[fb].rel)
        (sa, rel_a), (sb, rel_b) = sorted([a, b])
        out.append(Evidence("weights", sa, rel_a, sb, rel_b, round(min(1.0, cos), 4), "cosine",
                            f">= {config.weights_cosine:g}", detail))
    return out
