"""The class-level integrity step: everyone's stored fingerprints compared, evidence grouped.

Input: the stored records (``SubmissionResult.integrity``, made by :mod:`grader.integrity.collect`)
and the rubric's ``integrity:`` settings. Output: an :class:`IntegrityReport` of pairs of
students whose files match, each with what matched and how closely, single students flagged
for the handout's own XOR weights or a well-known image, and groups (students linked by any
evidence). Evidence for an instructor to review: no score is changed here.

Cost for a class of n students: weights, images and XOR weights are compared all-pairs with
numpy (n x n matrices per layer shape, chunked); code through an inverted index of
fingerprints, after dropping the starter code's and those shared by many (like MOSS).
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grader.integrity.codeprint import decode_hashes, fingerprint_cells, notebook_code_cells
from grader.integrity.config import IntegrityConfig

MAX_NEAR_GROUP = 6000  # layers of one shape compared all-pairs by cosine; beyond, exact matches only
COMMON_SHARE = 0.5  # a layer or screenshot shared by more than half of a class of ...
COMMON_MIN_CLASS = 10  # ... at least this many is the course's (a provided base model), not a copy
CHUNK = 512


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

    def group_of(self, student: str) -> str:
        return next((g.id for g in self.groups if student in g.students), "")


# --------------------------------------------------------------------------- entry point

def compare_class(results: list, config: IntegrityConfig | None = None, *, base_dir: Path | None = None,
                  screenshot_patterns: list[str] | None = None) -> IntegrityReport:
    """Compare every stored record's fingerprints. ``base_dir``: where the rubric's ``starter`` and
    ``known_images`` paths are; ``screenshot_patterns``: used when the config names none."""
    config = config or IntegrityConfig()
    report = IntegrityReport()
    prints = {r.student: r.integrity for r in results if isinstance(getattr(r, "integrity", None), dict)
              and r.integrity.get("version")}
    report.compared = len(prints)
    report.submissions = {r.student: r.submission_hash for r in results if r.student in prints}
    missing = sorted(r.student for r in results if r.student not in prints and not getattr(r, "errors", None))
    if missing:
        report.notes.append(f"{len(missing)} graded submission(s) have no fingerprints (graded by an older "
                            f"version?), so they were not compared: {', '.join(missing[:10])}"
                            + (" ..." if len(missing) > 10 else "") + "; grade them again with --force to include them")
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    shots = config.screenshots if config.screenshots is not None else (screenshot_patterns or [])
    report.pairs += _weights(prints, config, report)
    xor_pairs, xor_flags = _xor(prints, config)
    report.pairs += xor_pairs
    report.flags += xor_flags
    img_pairs, img_flags = _images(prints, config, shots, base, report)
    report.pairs += img_pairs
    report.flags += img_flags
    report.pairs += _code(prints, config, base, report)
    report.pairs.sort(key=lambda e: (e.kind, e.student_a, e.student_b, e.file_a, e.file_b))
    report.flags.sort(key=lambda e: (e.kind, e.student_a, e.file_a, e.file_b))
    report.groups = _groups(report.pairs)
    for g in report.groups:
        for e in g.evidence:
            e.group = g.id
    in_group = {s: g.id for g in report.groups for s in g.students}
    for e in report.flags:
        e.group = in_group.get(e.student_a, "")
    for r in results:
        for note in (r.integrity or {}).get("notes", []) if isinstance(getattr(r, "integrity", None), dict) else []:
            report.notes.append(f"{r.student}: {note}")
    return report


def _groups(pairs: list[Evidence]) -> list[Group]:
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


# --------------------------------------------------------------------------- weights

def _weights(prints: dict[str, dict], config: IntegrityConfig, report: IntegrityReport) -> list[Evidence]:
    from grader.insandbox.fingerprint import decode_sketch

    layers = []  # (student, file index key, layer size, exact, sketch or None, shapes key)
    files: dict[tuple[str, str], int] = {}  # (student, file) -> parameters in non-trivial layers
    for student, fp in sorted(prints.items()):
        for model in fp.get("models", []):
            if not isinstance(model, dict) or not isinstance(model.get("layers"), list):
                continue
            rel = str(model.get("file", "?"))
            for layer in model["layers"]:
                if not isinstance(layer, dict) or layer.get("trivial"):
                    continue
                size = int(layer.get("size", 0) or 0)
                sketch = decode_sketch(layer["sketch"]) if isinstance(layer.get("sketch"), str) else None
                layers.append((student, rel, size, str(layer.get("exact", "")), sketch,
                               repr(layer.get("shapes"))))
                files[(student, rel)] = files.get((student, rel), 0) + size
    by_shape: dict[str, list[int]] = defaultdict(list)
    for i, item in enumerate(layers):
        by_shape[item[5]].append(i)
    n_students = len(prints)
    found: list[tuple[int, int, float, bool]] = []  # layer pairs of two students that match
    for shape, idx in by_shape.items():
        groups: dict[str, list[int]] = defaultdict(list)
        for i in idx:
            groups[layers[i][3]].append(i)
        for same in groups.values():
            found += [(i, j, 1.0, True) for i, j in itertools.combinations(same, 2)]
        near = [i for i in idx if layers[i][4] is not None]
        if len(near) > MAX_NEAR_GROUP:
            report.notes.append(f"{len(near)} layers of shape {shape}: only identical ones were looked for")
            continue
        if len(near) < 2:
            continue
        mat = np.stack([layers[i][4] for i in near]).astype(np.float32)
        for start in range(0, len(near), CHUNK):
            block = mat[start:start + CHUNK] @ mat.T
            rows, cols = np.nonzero(block >= config.weights_cosine)
            for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
                i, j = near[start + r], near[c]
                if i < j and layers[i][3] != layers[j][3]:
                    found.append((i, j, float(block[r, c]), False))
    # A layer that matches most of a class is the course's (a provided pre-trained part, or the
    # handout's fixed random seed and data, which give everyone near-identical weights): not evidence.
    partners: dict[int, set[str]] = defaultdict(set)
    for i, j, _, _ in found:
        if layers[i][0] != layers[j][0]:
            partners[i].add(layers[j][0])
            partners[j].add(layers[i][0])
    common = {i for i, who in partners.items()
              if n_students >= COMMON_MIN_CLASS and len(who) + 1 > COMMON_SHARE * n_students}
    for shape in sorted({layers[i][5] for i in common}):
        most = max(len(partners[i]) + 1 for i in common if layers[i][5] == shape)
        report.notes.append(f"a layer of shape {shape} is (nearly) the same in {most} of {n_students} submissions "
                            "(a pre-trained part the course provides, or the handout's fixed random seed?); it is "
                            "not counted as evidence")
    matched: dict[tuple[str, str, str, str], dict[int, tuple[float, bool]]] = defaultdict(dict)
    for i, j, cos, exact in found:
        sa, fa, sb, fb = layers[i][0], layers[i][1], layers[j][0], layers[j][1]
        if sa == sb or i in common or j in common:
            continue
        for (x, y, u, v, k) in ((sa, fa, sb, fb, i), (sb, fb, sa, fa, j)):
            prev = matched[(x, y, u, v)].get(k)
            if prev is None or cos > prev[0]:
                matched[(x, y, u, v)][k] = (cos, exact)
    out = []
    done = set()
    for (sa, fa, sb, fb), mine in matched.items():
        key = (min((sa, fa), (sb, fb)), max((sa, fa), (sb, fb)))
        if key in done:
            continue
        done.add(key)
        theirs = matched.get((sb, fb, sa, fa), {})
        share_a = sum(layers[i][2] for i in mine) / max(files[(sa, fa)], 1)
        share_b = sum(layers[j][2] for j in theirs) / max(files[(sb, fb)], 1)
        share = min(share_a, share_b)
        if share < config.weights_min_share:
            continue
        exact = sum(1 for c, e in mine.values() if e)
        total_layers = sum(1 for item in layers if (item[0], item[1]) == (sa, fa))
        params = sum(layers[i][2] for i in mine)
        cos = sum(layers[i][2] * c for i, (c, _) in mine.items()) / max(params, 1)
        near_n = len(mine) - exact
        what = []
        if exact:
            what.append(f"{exact} identical")
        if near_n:
            what.append(f"{near_n} near-identical (cosine {min(c for c, e in mine.values() if not e):.3f} or more)")
        detail = (f"{' and '.join(what)} of {total_layers} weighted layers, {params:,} parameters "
                  f"({share:.0%} of both files)")
        if near_n:
            detail += "; near-identical weights also come from the same random seed and data: look for a seed"
        (a, x), (b, y) = key
        out.append(Evidence("weights", a, x, b, y, round(min(1.0, cos), 4), "cosine",
                            f">= {config.weights_cosine:g}", detail))
    return out


# --------------------------------------------------------------------------- XOR weights

_PERMS = np.array(list(itertools.permutations(range(4))))


def _xor_matrix(item: dict) -> np.ndarray | None:
    try:
        w1 = np.asarray(item["w1"], dtype=float)
        w2 = np.asarray(item["w2"], dtype=float).reshape(4)
    except (KeyError, TypeError, ValueError):
        return None
    if w1.shape != (3, 4) or not np.all(np.isfinite(w1)) or not np.all(np.isfinite(w2)):
        return None
    return np.vstack([w1, w2[None, :]])  # 4x4: column j is hidden neuron j (3 inputs, its output weight)


def _tolerance(config: IntegrityConfig, *decimals: int) -> float:
    """Numbers written with 1 decimal can only match to that precision (never coarser than 0.05)."""
    d = min(decimals)
    return max(config.xor_tolerance, 0.5 * 10.0 ** -d) if d >= 1 else config.xor_tolerance


def _xor_distance(m1: np.ndarray, m2: np.ndarray) -> float:
    """The largest difference of the 16 numbers, hidden neurons matched in the best order."""
    return float(np.min(np.max(np.abs(m1[None, :, :] - m2[:, _PERMS].transpose(1, 0, 2)), axis=(1, 2))))


def _xor(prints: dict[str, dict], config: IntegrityConfig) -> tuple[list[Evidence], list[Evidence]]:
    known = [(k.label, k.matrix) for k in config.known_xor]  # the handout's sample run, from the rubric
    items = []  # (student, item, 4x4)
    flags = []
    for student, fp in sorted(prints.items()):
        for item in fp.get("xor", []):
            if not isinstance(item, dict):
                continue
            m = _xor_matrix(item)
            if m is None:
                continue
            dec = int(item.get("decimals", 8)) if isinstance(item.get("decimals"), int) else 8
            item = {**item, "decimals": dec}
            items.append((student, item, m))
            for label, matrix in known:
                dist = _xor_distance(m, matrix)
                if dist <= _tolerance(config, dec):
                    first = f"{matrix[0, 0]:.8g}"
                    flags.append(Evidence("handout-xor", student, str(item.get("where", item.get("file", "?"))), "",
                                          f"{label} ({first}, ...)", round(dist, 6),
                                          "max difference", f"<= {_tolerance(config, dec):g}",
                                          f"the {item.get('kind', 'XOR')} weights are {label}"))
                    break
    out: dict[tuple[str, str], Evidence] = {}
    if len(items) < 2:
        return [], flags
    # The sorted 16 numbers: their largest difference never exceeds the matched one, so it rules
    # out most pairs with one vectorised comparison before the 24 neuron orders are tried.
    keys = np.sort(np.stack([m.ravel() for _, _, m in items]), axis=1)
    loose = max(_tolerance(config, it["decimals"]) for _, it, _ in items)
    for start in range(0, len(items), CHUNK):
        d = np.max(np.abs(keys[start:start + CHUNK, None, :] - keys[None, :, :]), axis=2)
        for r, c in zip(*np.nonzero(d <= loose), strict=True):
            i, j = start + int(r), int(c)
            (sa, ia, ma), (sb, ib, mb) = items[i], items[j]
            if i >= j or sa == sb:
                continue
            tol = _tolerance(config, ia["decimals"], ib["decimals"])
            dist = _xor_distance(ma, mb)
            if dist > tol:
                continue
            (sa, ia), (sb, ib) = sorted([(sa, ia), (sb, ib)], key=lambda t: t[0])
            ev = Evidence("xor", sa, str(ia.get("where", "?")), sb, str(ib.get("where", "?")), round(dist, 6),
                          "max difference", f"<= {tol:g}",
                          f"the 16 XOR weights ({ia.get('kind')} / {ib.get('kind')}) agree to {dist:.2g}")
            key = (sa, sb)
            if key not in out or dist < out[key].similarity:
                out[key] = ev
    return list(out.values()), flags


# --------------------------------------------------------------------------- images

def _bits(values: list[str]) -> np.ndarray:
    out = np.zeros(len(values), dtype=np.uint64)
    for i, v in enumerate(values):
        try:
            out[i] = np.uint64(int(v, 16) & 0xFFFFFFFFFFFFFFFF)
        except (TypeError, ValueError):
            out[i] = np.uint64(0)
    return out


def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x).astype(np.int16)
    b = x.view(np.uint8).reshape(*x.shape, 8)  # pragma: no cover - numpy < 2
    return np.unpackbits(b, axis=-1).sum(axis=-1).astype(np.int16)


def is_screenshot(rel: str, patterns: list[str]) -> bool:
    from grader.submission import pattern_matches

    return any(pattern_matches(p, rel) for p in patterns)


def known_image_prints(config: IntegrityConfig, base: Path, report: IntegrityReport) -> list[tuple[str, dict]]:
    """The instructor's well-known images (trusted files), hashed here with the sandbox's code."""
    from grader.insandbox.fingerprint import image_file_print
    from grader.insandbox.safeimage import ImageProblem

    from .collect import IMAGE_SUFFIXES

    paths: list[Path] = []
    for entry in config.known_images:
        p = base / entry
        if p.is_dir():
            paths += sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
        elif p.is_file():
            paths.append(p)
        else:
            report.notes.append(f"known image {entry!r} not found (looked for {p})")
    out = []
    for p in paths[:2000]:
        try:
            out.append((p.relative_to(base).as_posix() if p.is_relative_to(base) else p.name,
                        image_file_print(str(p), p.name)))
        except ImageProblem as e:
            report.notes.append(f"known image {p.name}: {e}")
    return out


def _images(prints: dict[str, dict], config: IntegrityConfig, shots: list[str], base: Path,
            report: IntegrityReport) -> tuple[list[Evidence], list[Evidence]]:
    photos, screens = [], []
    for student, fp in sorted(prints.items()):
        for item in fp.get("images", []):
            if isinstance(item, dict) and isinstance(item.get("phash"), str):
                rel = str(item.get("file", "?"))
                (screens if is_screenshot(rel, shots) else photos).append((student, rel, item))
    pairs: list[Evidence] = []
    # identical pixels: any picture, screenshots included
    by_pixels: dict[str, list[tuple[str, str, dict]]] = defaultdict(list)
    for entry in photos + screens:
        by_pixels[str(entry[2].get("pixels", ""))].append(entry)
    n_students = len(prints)
    seen: set[tuple[str, str, str, str]] = set()
    for digest, same in by_pixels.items():
        who = {s for s, _, _ in same}
        if not digest or len(who) < 2:
            continue
        if n_students >= COMMON_MIN_CLASS and len(who) > COMMON_SHARE * n_students:
            report.notes.append(f"{len(who)} submissions hold the same picture ({same[0][1]}): "
                                "the course's own? it is not counted as evidence")
            continue
        for (sa, fa, ia), (sb, fb, _ib) in itertools.combinations(sorted(same, key=lambda t: (t[0], t[1])), 2):
            if sa == sb:
                continue
            seen.add((sa, fa, sb, fb))
            kind = "screenshot" if is_screenshot(fa, shots) else "image"
            pairs.append(Evidence(kind, sa, fa, sb, fb, 0.0, "bits differ", "identical pixels",
                                  f"the same picture, pixel for pixel ({ia.get('width')}x{ia.get('height')})"))
    # photos: perceptual hashes, also against the other's mirror image
    if len(photos) >= 2:
        ph = _bits([p[2]["phash"] for p in photos])
        dh = _bits([str(p[2].get("dhash", "")) for p in photos])
        phm = _bits([str(p[2].get("phash_mirror", "")) for p in photos])
        dhm = _bits([str(p[2].get("dhash_mirror", "")) for p in photos])
        for start in range(0, len(photos), CHUNK):
            sl = slice(start, start + CHUNK)
            dp = _popcount(ph[sl, None] ^ ph[None, :])
            dd = _popcount(dh[sl, None] ^ dh[None, :])
            dpm = _popcount(ph[sl, None] ^ phm[None, :])
            ddm = _popcount(dh[sl, None] ^ dhm[None, :])
            direct = (dp <= config.image_phash_bits) & (dd <= config.image_dhash_bits)
            mirror = (dpm <= config.image_phash_bits) & (ddm <= config.image_dhash_bits)
            for r, c in zip(*np.nonzero(direct | mirror), strict=True):
                i, j = start + int(r), int(c)
                (sa, fa, _), (sb, fb, _) = photos[i], photos[j]
                if sa >= sb:
                    continue
                if (sa, fa, sb, fb) in seen:
                    continue
                flipped = not bool(direct[r, c])
                bits_p = int(dpm[r, c] if flipped else dp[r, c])
                bits_d = int(ddm[r, c] if flipped else dd[r, c])
                pairs.append(Evidence("image", sa, fa, sb, fb, float(bits_p), "bits differ",
                                      f"pHash <= {config.image_phash_bits}, dHash <= {config.image_dhash_bits}",
                                      f"near-identical picture{' (mirrored)' if flipped else ''}: pHash differs in "
                                      f"{bits_p} of 64 bits, dHash in {bits_d}"))
    flags: list[Evidence] = []
    known = known_image_prints(config, base, report) if config.known_images else []
    if known:
        kp = _bits([k[1]["phash"] for k in known])
        kd = _bits([k[1]["dhash"] for k in known])
        kpix = {k[1]["pixels"]: k[0] for k in known}
        for student, rel, item in photos + screens:
            if item.get("pixels") in kpix:
                flags.append(Evidence("known-image", student, rel, "", kpix[item["pixels"]], 0.0, "bits differ",
                                      "identical pixels", "a well-known image from the instructor's list"))
                continue
            if is_screenshot(rel, shots):
                continue
            a_p = _bits([item["phash"], str(item.get("phash_mirror", ""))])
            a_d = _bits([str(item.get("dhash", "")), str(item.get("dhash_mirror", ""))])
            dp = _popcount(a_p[:, None] ^ kp[None, :])
            dd = _popcount(a_d[:, None] ^ kd[None, :])
            ok = (dp <= config.image_phash_bits) & (dd <= config.image_dhash_bits)
            if ok.any():
                r, c = (int(v[0]) for v in np.nonzero(ok))
                flags.append(Evidence("known-image", student, rel, "", known[c][0], float(dp[r, c]), "bits differ",
                                      f"pHash <= {config.image_phash_bits}, dHash <= {config.image_dhash_bits}",
                                      "a well-known image from the instructor's list"
                                      + (" (mirrored)" if r else "")))
    return pairs, flags


# --------------------------------------------------------------------------- code

def starter_hashes(config: IntegrityConfig, base: Path, report: IntegrityReport) -> np.ndarray:
    """Fingerprints of the handout's released code (notebooks or ``.py`` files next to the rubric)."""
    from grader.nbload import NotebookProblem, read_cells

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


def _code(prints: dict[str, dict], config: IntegrityConfig, base: Path, report: IntegrityReport) -> list[Evidence]:
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
    student_of = np.array(_student_index(files), dtype=np.int64)
    # how many students hold each fingerprint (a student's two copies of one notebook count once)
    order = np.lexsort((student_of[owner], allh))
    allh, owner, keep = allh[order], owner[order], keep[order]
    pair_key = allh.astype(np.uint64)
    stud = student_of[owner]
    new_run = np.ones(allh.size, dtype=bool)
    new_run[1:] = pair_key[1:] != pair_key[:-1]
    distinct = np.ones(allh.size, dtype=bool)
    distinct[1:] = new_run[1:] | (stud[1:] != stud[:-1])
    run_id = np.cumsum(new_run) - 1
    students_per_run = np.bincount(run_id, weights=distinct.astype(np.float64)).astype(np.int64)
    common = config.code_common if config.code_common is not None else max(10, int(0.05 * len(prints)))
    keep &= students_per_run[run_id] <= common
    kept_common = int(np.sum(students_per_run > common))
    if kept_common:
        report.notes.append(f"{kept_common} code fingerprints are shared by more than {common} students and were "
                            "ignored as common code")
    size = np.bincount(owner[keep], minlength=len(files))
    counts: Counter = Counter()
    runs, own = run_id[keep], owner[keep]
    if runs.size:
        starts = np.flatnonzero(np.r_[True, runs[1:] != runs[:-1]])
        lengths = np.diff(np.r_[starts, runs.size])
        for s, n in zip(starts[lengths >= 2].tolist(), lengths[lengths >= 2].tolist(), strict=True):
            for i, j in itertools.combinations(sorted(set(own[s:s + n].tolist())), 2):
                counts[(i, j)] += 1
    best: dict[tuple[str, str, str, str], Evidence] = {}
    for (i, j), shared in counts.items():
        (sa, fa, _), (sb, fb, _) = files[i], files[j]
        if sa == sb or shared < config.code_min_shared:
            continue
        union = int(size[i] + size[j] - shared)
        jac = shared / max(union, 1)
        if jac < config.code_similarity:
            continue
        contain = shared / max(min(int(size[i]), int(size[j])), 1)
        (sa, fa, ni), (sb, fb, nj) = sorted([(sa, fa, int(size[i])), (sb, fb, int(size[j]))])
        ev = Evidence("code", sa, fa, sb, fb, round(jac, 4), "Jaccard", f">= {config.code_similarity:g}",
                      f"{shared} of their code fingerprints are shared ({ni} and {nj} after removing the starter "
                      f"and common code; {contain:.0%} of the smaller)")
        best[(sa, fa, sb, fb)] = ev
    return list(best.values())


def _student_index(files: list[tuple[str, str, np.ndarray]]) -> list[int]:
    ids: dict[str, int] = {}
    return [ids.setdefault(s, len(ids)) for s, _, _ in files]


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
