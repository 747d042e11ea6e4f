"""Code across the class: Jaccard of winnowed fingerprints through an inverted index, as MOSS does.

The handout's starter code and what more than ``max(10, 5%)`` of the class shares are removed
first. Bounded (:mod:`grader.classstep.integrity.bounds`): each fingerprint shared by several files costs
the pairs of files of *different* students that hold it, counted before any is built; within the
class's pair budget the least shared fingerprints are kept and the most widely shared are
treated as common code (named in a note), so a student who ships many copies of one file, or a
group that shares everything, costs the class step a bounded number of pairs.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from grader.classstep.integrity.bounds import PairBudget
from grader.classstep.integrity.report import Evidence, IntegrityReport
from grader.intake.nbload import NotebookProblem, read_cells
from grader.rubric.integrity import IntegrityConfig
from grader.score.codeprint import decode_hashes, fingerprint_cells, notebook_code_cells


def starter_hashes(config: IntegrityConfig, base: Path, report: IntegrityReport) -> np.ndarray:
    """Fingerprints of the handout's released code (notebooks or ``.py`` files next to the rubric)."""
    parts = []
    for entry in config.starter:
        p = base / entry
        paths = sorted(q for q in p.rglob("*") if q.suffix in (".ipynb", ".py")) if p.is_dir() else [p]
        for q in paths:
            try:
                if q.suffix == ".ipynb":
                    cells = notebook_code_cells(read_cells(q))
                else:
                    cells = [q.read_text(encoding="utf-8", errors="replace")]
            except (NotebookProblem, OSError) as e:
                report.notes.append(f"starter code {entry!r}: {e}")
                continue
            parts.append(fingerprint_cells(cells).hashes)
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint64)


def code_pairs(prints: dict[str, dict], config: IntegrityConfig, base: Path, report: IntegrityReport,
               ) -> list[Evidence]:
    files: list[tuple[str, str, np.ndarray]] = []
    for student, fp in sorted(prints.items()):
        for item in fp.get("code", []):
            if isinstance(item, dict):
                h = decode_hashes(item.get("prints"))
                if h.size:
                    files.append((student, str(item.get("file", "?")), h))
    if len(files) < 2:
        return []
    starter = starter_hashes(config, base, report) if config.starter else np.zeros(0, dtype=np.uint64)
    owner = np.concatenate([np.full(h.size, i, dtype=np.int64) for i, (_, _, h) in enumerate(files)])
    allh = np.concatenate([h for _, _, h in files])
    keep = ~np.isin(allh, starter) if starter.size else np.ones(allh.size, dtype=bool)
    ids: dict[str, int] = {}
    student_of = np.array([ids.setdefault(s, len(ids)) for s, _, _ in files], dtype=np.int64)
    # runs: one per fingerprint, its files sorted by student (a file holds each fingerprint once)
    order = np.lexsort((owner, student_of[owner], allh))
    allh, owner, keep = allh[order], owner[order], keep[order]
    stud = student_of[owner]
    new_run = np.r_[True, allh[1:] != allh[:-1]]
    new_student = new_run | np.r_[True, stud[1:] != stud[:-1]]
    run_id = np.cumsum(new_run) - 1
    runs = int(run_id[-1]) + 1
    students_per_run = np.bincount(run_id, weights=new_student.astype(np.float64), minlength=runs).astype(np.int64)
    common = config.code_common if config.code_common is not None else max(10, int(0.05 * len(prints)))
    keep &= students_per_run[run_id] <= common
    kept_common = int(np.sum(students_per_run > common))
    if kept_common:
        report.notes.append(f"{kept_common} code fingerprints are shared by more than {common} students and were "
                            "ignored as common code")
    allowed, paired = _within_budget(run_id, stud, keep, runs, PairBudget.for_class(len(prints)), report)
    keep &= allowed
    size = np.bincount(owner[keep], minlength=len(files))
    pick = keep & paired
    counts = _shared(run_id[pick], owner[pick], stud[pick])
    best: dict[tuple[str, str, str, str], Evidence] = {}
    for (i, j), shared in counts.items():
        (sa, fa, _), (sb, fb, _) = files[i], files[j]
        if shared < config.code_min_shared:
            continue
        union = int(size[i] + size[j] - shared)
        jac = shared / max(union, 1)
        if jac < config.code_similarity:
            continue
        contain = shared / max(min(int(size[i]), int(size[j])), 1)
        (sa, fa, ni), (sb, fb, nj) = sorted([(sa, fa, int(size[i])), (sb, fb, int(size[j]))])
        best[(sa, fa, sb, fb)] = Evidence(
            "code", sa, fa, sb, fb, round(jac, 4), "Jaccard", f">= {config.code_similarity:g}",
            f"{shared} of their code fingerprints are shared ({ni} and {nj} after removing the starter "
            f"and common code; {contain:.0%} of the smaller)")
    return list(best.values())


def _within_budget(run_id: np.ndarray, stud: np.ndarray, keep: np.ndarray, runs: int, budget: PairBudget,
                   report: IntegrityReport) -> tuple[np.ndarray, np.ndarray]:
    """Per fingerprint: may it count (the runs within the budget; the rest are treated as common code), and
    does it pair files of different students. Per run the pairs are counted first; the cheapest runs are kept."""
    r, s = run_id[keep], stud[keep]
    files_in_run = np.bincount(r, minlength=runs).astype(np.int64)
    same: np.ndarray  # float64 pair counts per run (bincount with weights is typed as counting ints)
    if r.size:
        _, first, per_student = np.unique(r * (int(s.max()) + 1) + s, return_index=True, return_counts=True)
        same = np.bincount(r[first], weights=per_student.astype(np.float64) ** 2, minlength=runs)
    else:
        same = np.zeros(runs)
    cost = (files_in_run ** 2 - same.astype(np.int64)) // 2
    order = np.argsort(cost, kind="stable")
    fits = np.cumsum(cost[order]) <= budget.limit
    allowed = np.zeros(runs, dtype=bool)
    allowed[order[fits]] = True
    dropped = int(np.sum((cost > 0) & ~allowed))
    if dropped:
        report.notes.append(f"{dropped} code fingerprints held by many files were ignored as common code (more pairs "
                            "than the class step builds): the most widely shared are left out first")
    budget.take(int(cost[allowed].sum()))
    return allowed[run_id], (cost > 0)[run_id]


def _shared(runs: np.ndarray, files: np.ndarray, students: np.ndarray) -> Counter:
    """For every pair of files of different students: how many fingerprints they share (a run's entries are
    sorted by student, so a student's own files are never paired)."""
    counts: Counter = Counter()
    if not runs.size:
        return counts
    starts = np.flatnonzero(np.r_[True, runs[1:] != runs[:-1]])
    lengths = np.diff(np.r_[starts, runs.size])
    files_l, students_l = files.tolist(), students.tolist()
    for st, n in zip(starts[lengths >= 2].tolist(), lengths[lengths >= 2].tolist(), strict=True):
        blocks: list[list[int]] = []
        last = None
        for k in range(st, st + n):
            if students_l[k] != last:
                blocks.append([])
                last = students_l[k]
            blocks[-1].append(files_l[k])
        for x in range(len(blocks)):
            for y in range(x + 1, len(blocks)):
                for a in blocks[x]:
                    for b in blocks[y]:
                        counts[(a, b) if a < b else (b, a)] += 1
    return counts
