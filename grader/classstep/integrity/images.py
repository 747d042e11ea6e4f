"""Pictures across the class: identical pixels (any picture), perceptual hashes (photos), well-known images.

Screenshots of one application window look alike whatever they show, so they count only when
their pixels are identical; photos count when both 64-bit hashes (pHash and dHash) are within
the rubric's bits, also against the other's mirror image. A picture that most of a class of ten
or more holds is the course's own, named in a note. Bounded like every comparison
(:mod:`grader.classstep.integrity.bounds`): a student's own pictures are never paired, pairs are counted
before they are built, and at most the class's pair budget is built.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from grader.classstep.integrity.bounds import PairBudget, cross_pairs, is_common, scan
from grader.classstep.integrity.report import Evidence, IntegrityReport
from grader.insandbox.fingerprint import image_file_print
from grader.insandbox.safeimage import ImageProblem
from grader.intake.submission import pattern_matches
from grader.rubric.integrity import IntegrityConfig
from grader.score.fingerprints import IMAGE_SUFFIXES

COMMON_SHARE = 0.5
COMMON_MIN_CLASS = 10


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
    return any(pattern_matches(p, rel) for p in patterns)


def known_image_prints(config: IntegrityConfig, base: Path, report: IntegrityReport) -> list[tuple[str, dict]]:
    """The instructor's well-known images (trusted files), hashed here with the sandbox's code."""
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


Picture = tuple[str, str, dict]  # (student, file, stored hashes)


def image_pairs(prints: dict[str, dict], config: IntegrityConfig, shots: list[str], base: Path,
                report: IntegrityReport) -> tuple[list[Evidence], list[Evidence]]:
    photos: list[Picture] = []
    screens: list[Picture] = []
    for student, fp in sorted(prints.items()):
        for item in fp.get("images", []):
            if isinstance(item, dict) and isinstance(item.get("phash"), str):
                rel = str(item.get("file", "?"))
                (screens if is_screenshot(rel, shots) else photos).append((student, rel, item))
    budget = PairBudget.for_class(len(prints))
    pairs, seen = _same_pixels(photos + screens, len(prints), shots, budget, report)
    pairs += _near_photos(photos, len(prints), config, seen, budget, report)
    return pairs, _known(photos, screens, config, shots, base, report)


def _same_pixels(pictures: list[Picture], n: int, shots: list[str], budget: PairBudget,
                 report: IntegrityReport) -> tuple[list[Evidence], set[tuple[str, str, str, str]]]:
    """Identical pixels, any picture: groups counted, the course's own set aside, the rest within the budget."""
    by_pixels: dict[str, list[Picture]] = defaultdict(list)
    for entry in pictures:
        by_pixels[str(entry[2].get("pixels", ""))].append(entry)
    students = {s: k for k, s in enumerate(sorted({p[0] for p in pictures}))}
    groups = []
    for digest, same in sorted(by_pixels.items()):
        who = {s for s, _, _ in same}
        if not digest or len(who) < 2:
            continue
        if is_common(len(who) - 1, n, COMMON_SHARE, COMMON_MIN_CLASS):
            report.notes.append(f"{len(who)} submissions hold the same picture ({same[0][1]}): "
                                "the course's own? it is not counted as evidence")
            continue
        groups.append(sorted(same, key=lambda t: (t[0], t[1])))
    costs = [cross_pairs(np.array([students[s] for s, _, _ in g])) for g in groups]
    admitted, left_out = budget.admit(costs)
    if left_out:
        report.notes.append(f"{left_out} pictures held by many students were not paired (more pairs than the class "
                            "step builds): the most widely shared are left out first")
    pairs: list[Evidence] = []
    seen: set[tuple[str, str, str, str]] = set()
    for k in admitted:
        same = groups[k]
        for a in range(len(same)):
            for b in range(a + 1, len(same)):
                (sa, fa, ia), (sb, fb, _ib) = same[a], same[b]
                if sa == sb:
                    continue
                seen.add((sa, fa, sb, fb))
                kind = "screenshot" if is_screenshot(fa, shots) else "image"
                pairs.append(Evidence(kind, sa, fa, sb, fb, 0.0, "bits differ", "identical pixels",
                                      f"the same picture, pixel for pixel ({ia.get('width')}x{ia.get('height')})"))
    return pairs, seen


def _near_photos(photos: list[Picture], n: int, config: IntegrityConfig, seen: set, budget: PairBudget,
                 report: IntegrityReport) -> list[Evidence]:
    """Photos whose perceptual hashes agree (also mirrored), a student's own never paired."""
    if len(photos) < 2:
        return []
    ph = _bits([p[2]["phash"] for p in photos])
    dh = _bits([str(p[2].get("dhash", "")) for p in photos])
    phm = _bits([str(p[2].get("phash_mirror", "")) for p in photos])
    dhm = _bits([str(p[2].get("dhash_mirror", "")) for p in photos])
    index = {s: k for k, s in enumerate(sorted({p[0] for p in photos}))}
    owner = np.array([index[p[0]] for p in photos], dtype=np.int64)
    pb, db = config.image_phash_bits, config.image_dhash_bits

    def closeness(r: slice):
        dp, dd = _popcount(ph[r, None] ^ ph[None, :]), _popcount(dh[r, None] ^ dh[None, :])
        dpm, ddm = _popcount(ph[r, None] ^ phm[None, :]), _popcount(dh[r, None] ^ dhm[None, :])
        return dp, dd, dpm, ddm

    def match(start: int, stop: int):
        dp, dd, dpm, ddm = closeness(slice(start, stop))
        direct, mirror = (dp <= pb) & (dd <= db), (dpm <= pb) & (ddm <= db)
        return direct | mirror, np.minimum(np.maximum(dp, dd), np.maximum(dpm, ddm))

    found = scan(len(photos), owner, n, match, limit=max(budget.left, 0), larger_is_closer=False, width=8)
    common = is_common(found.partners, n, COMMON_SHARE, COMMON_MIN_CLASS)
    if common.any():
        report.notes.append(f"a photo is nearly the same in {int(found.partners[common].max()) + 1} of {n} "
                            "submissions (the course's own?); it is not counted as evidence")
    if not found.complete:
        report.notes.append(f"more than {budget.left:,} pairs of near-identical photos: the closest were kept")
    ok = ~common[found.i] & ~common[found.j]
    i, j = found.i[ok], found.j[ok]
    bits = [_popcount(x[i] ^ y[j]).tolist() for x, y in ((ph, ph), (dh, dh), (ph, phm), (dh, dhm))]
    pairs = []
    for a, b, dp, dd, dpm, ddm in zip(i.tolist(), j.tolist(), *bits, strict=True):
        (sa, fa, _), (sb, fb, _) = photos[a], photos[b]
        if (sa, fa, sb, fb) in seen:
            continue
        flipped = not (dp <= pb and dd <= db)
        bits_p, bits_d = (dpm, ddm) if flipped else (dp, dd)
        pairs.append(Evidence("image", sa, fa, sb, fb, float(bits_p), "bits differ", f"pHash <= {pb}, dHash <= {db}",
                              f"near-identical picture{' (mirrored)' if flipped else ''}: pHash differs in "
                              f"{bits_p} of 64 bits, dHash in {bits_d}"))
    budget.take(len(pairs))
    return pairs


def _known(photos: list[Picture], screens: list[Picture], config: IntegrityConfig, shots: list[str], base: Path,
           report: IntegrityReport) -> list[Evidence]:
    """Single students flagged for a picture from the instructor's list of well-known images."""
    known = known_image_prints(config, base, report) if config.known_images else []
    if not known:
        return []
    flags = []
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
                                  "a well-known image from the instructor's list" + (" (mirrored)" if r else "")))
    return flags
