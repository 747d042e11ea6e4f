"""The XOR network's 16 weights across the class, and against the rubric's ``known_xor`` (the handout's run).

Two sets match when every number agrees within ``xor_tolerance`` (never finer than the precision
written), hidden neurons matched in the best of their 24 orders. The sorted 16 numbers rule out
most pairs first: their largest difference never exceeds the matched one. Bounded like every
comparison (:mod:`grader.classstep.integrity.bounds`): a student's own sets are never paired, weights that
most of a class of ten or more shares (the handout's run handed in by many) are set aside with a
note, and at most the class's pair budget is measured, the closest first.
"""

from __future__ import annotations

import itertools

import numpy as np

from grader.classstep.integrity.bounds import PairBudget, is_common, scan
from grader.classstep.integrity.report import Evidence, IntegrityReport
from grader.rubric.integrity import IntegrityConfig

COMMON_SHARE = 0.5
COMMON_MIN_CLASS = 10
_PERMS = np.array(list(itertools.permutations(range(4))))
_CHUNK = 4096  # candidate pairs measured at once (24 neuron orders each)


def _xor_matrix(item: dict) -> np.ndarray | None:
    try:
        w1 = np.asarray(item["w1"], dtype=float)
        w2 = np.asarray(item["w2"], dtype=float).reshape(4)
    except (KeyError, TypeError, ValueError):
        return None
    if w1.shape != (3, 4) or not np.all(np.isfinite(w1)) or not np.all(np.isfinite(w2)):
        return None
    return np.vstack([w1, w2[None, :]])  # 4x4: column j is hidden neuron j (3 inputs, its output weight)


def tolerance(config: IntegrityConfig, *decimals: int) -> float:
    """Numbers written with 1 decimal can only match to that precision (never coarser than 0.05)."""
    d = min(decimals)
    return max(config.xor_tolerance, 0.5 * 10.0 ** -d) if d >= 1 else config.xor_tolerance


def xor_distance(m1: np.ndarray, m2: np.ndarray) -> np.ndarray:
    """The largest difference of the 16 numbers, hidden neurons matched in the best order; ``m1``, ``m2``
    are (P, 4, 4) stacks of P pairs, or single 4x4 matrices."""
    a, b = np.asarray(m1, float), np.asarray(m2, float)
    single = a.ndim == 2
    a, b = a.reshape(-1, 4, 4), b.reshape(-1, 4, 4)
    diffs = np.abs(a[:, None, :, :] - b[:, :, _PERMS].transpose(0, 2, 1, 3))  # (P, 24, 4, 4)
    out = diffs.max(axis=(2, 3)).min(axis=1)
    return out[0] if single else out


def xor_pairs(prints: dict[str, dict], config: IntegrityConfig, report: IntegrityReport,
              ) -> tuple[list[Evidence], list[Evidence]]:
    known = [(k.label, k.matrix) for k in config.known_xor]  # the handout's sample run, from the rubric
    students = sorted(prints)
    items: list[tuple[int, dict, np.ndarray]] = []  # (student index, item, 4x4)
    flags = []
    for si, student in enumerate(students):
        for item in prints[student].get("xor", []):
            if not isinstance(item, dict):
                continue
            m = _xor_matrix(item)
            if m is None:
                continue
            dec = int(item.get("decimals", 8)) if isinstance(item.get("decimals"), int) else 8
            item = {**item, "decimals": dec}
            items.append((si, item, m))
            for label, matrix in known:
                dist = float(xor_distance(m, matrix))
                if dist <= tolerance(config, dec):
                    flags.append(Evidence("handout-xor", student, str(item.get("where", item.get("file", "?"))), "",
                                          f"{label} ({matrix[0, 0]:.8g}, ...)", round(dist, 6),
                                          "max difference", f"<= {tolerance(config, dec):g}",
                                          f"the {item.get('kind', 'XOR')} weights are {label}"))
                    break
    if len(items) < 2:
        return [], flags
    n = len(prints)
    owner = np.array([si for si, _, _ in items], dtype=np.int64)
    keys = np.sort(np.stack([m.ravel() for _, _, m in items]), axis=1)
    loose = max(tolerance(config, it["decimals"]) for _, it, _ in items)

    def match(start: int, stop: int):
        d = np.max(np.abs(keys[start:stop, None, :] - keys[None, :, :]), axis=2)
        return d <= loose, d

    budget = PairBudget.for_class(n)
    found = scan(len(items), owner, n, match, limit=budget.limit, larger_is_closer=False, width=16)
    common = is_common(found.partners, n, COMMON_SHARE, COMMON_MIN_CLASS)
    if common.any():
        most = int(found.partners[common].max()) + 1
        report.notes.append(f"the same XOR weights are in {most} of {n} submissions (the handout's run, or weights "
                            "shared with the whole class?); they are not counted as evidence between students")
    i, j = found.i, found.j
    if not found.complete:
        report.notes.append(f"more than {budget.limit:,} pairs of XOR weights came near each other; the "
                            f"{budget.limit:,} closest were measured")
    ok = ~common[i] & ~common[j]
    i, j = i[ok], j[ok]
    out: dict[tuple[str, str], Evidence] = {}
    for start in range(0, i.size, _CHUNK):
        ci, cj = i[start:start + _CHUNK], j[start:start + _CHUNK]
        dists = xor_distance(np.stack([items[k][2] for k in ci.tolist()]), np.stack([items[k][2] for k in cj.tolist()]))
        for a, b, d in zip(ci.tolist(), cj.tolist(), dists.tolist(), strict=True):
            (sa, ia, _), (sb, ib, _) = items[a], items[b]
            tol = tolerance(config, ia["decimals"], ib["decimals"])
            if d > tol:
                continue
            (na, ia), (nb, ib) = sorted([(students[sa], ia), (students[sb], ib)], key=lambda t: t[0])
            ev = Evidence("xor", na, str(ia.get("where", "?")), nb, str(ib.get("where", "?")), round(d, 6),
                          "max difference", f"<= {tol:g}",
                          f"the 16 XOR weights ({ia.get('kind')} / {ib.get('kind')}) agree to {d:.2g}")
            if (na, nb) not in out or d < out[(na, nb)].similarity:
                out[(na, nb)] = ev
    return list(out.values()), flags
