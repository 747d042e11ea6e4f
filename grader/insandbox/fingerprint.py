"""Compact fingerprints of a student's weights and images, for the class-level integrity step.

Runs inside the sandboxed model server on student files (and in the grader only on the
instructor's own list of well-known images). Standalone: numpy, Pillow and imagehash.

Weights. Each weight-bearing layer (names ignored: a renamed layer or another Keras version
stores the same arrays) becomes

- ``exact``: a hash of its arrays as little-endian float32 with their shapes: equal exactly when
  the numbers are (a re-saved copy, whatever the file's layout, names or Keras version);
- ``sketch``: a count-sketch of the flattened layer (kernel and bias together) into
  :data:`SKETCH_DIM` buckets, unit length. Coordinate ``i`` goes to a bucket and a sign drawn
  from a generator seeded by the layer's size only, so two students' layers of one shape use
  the same projection and ``sketch_a . sketch_b`` estimates the cosine of the full arrays
  (the sketch is linear, unbiased for inner products, O(n) time, no n x d matrix in memory).
  Why this is safe: for unrelated weights (two networks trained from their own random starts,
  true cosine ~0) the estimate's spread is about ``1/sqrt(SKETCH_DIM)`` = 0.06, so a cosine
  threshold of 0.97 lies 15 standard deviations away: no false pair in any class. A copy
  that was scaled, fine-tuned a little or saved as float16 keeps a true cosine near 1 and
  its sketch moves with it (the sketch of ``x + e`` is ``sketch(x) + sketch(e)``), so it is
  found; a copy whose hidden units were permuted is not (cosine is not permutation-invariant).
- ``trivial``: all values equal (zeros, an untrained bias): no evidence either way.

Images. ``phash`` and ``dhash`` (64-bit, imagehash) of the upright image and of its mirror
image, plus ``pixels``: a hash of the decoded RGB pixels (the same picture re-saved losslessly
in any format). Re-encoding as JPEG and resizing move pHash/dHash by 0-2 bits; unrelated photos
differ by 20-40 bits. Screenshots of one application window share their perceptual hashes
whatever numbers they show, so the class step trusts only ``pixels`` for them.
"""

from __future__ import annotations

import base64
import hashlib

import numpy as np

SKETCH_DIM = 256
SKETCH_SEED = 0x6D6C6772  # fixed forever: sketches stored by an older run must stay comparable
PROJECTION_CACHE = 8
MAX_LAYER_VALUES = 64_000_000  # a layer larger than this is hashed exactly but not sketched

_projections: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _projection(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Bucket and sign of each of ``n`` coordinates: a function of ``n`` alone."""
    if n not in _projections:
        rng = np.random.default_rng([SKETCH_SEED, n])
        buckets = rng.integers(0, SKETCH_DIM, n, dtype=np.int32)
        signs = rng.integers(0, 2, n, dtype=np.int8).astype(np.float64) * 2.0 - 1.0
        _projections[n] = (buckets, signs)
        while len(_projections) > PROJECTION_CACHE:
            _projections.pop(next(iter(_projections)))
    return _projections[n]


def layer_print(arrays: list) -> dict | None:
    """The fingerprint of one layer's weight arrays (in the layer's own order); None without weights."""
    arrays = [np.asarray(a) for a in arrays]
    arrays = [a for a in arrays if a.size and a.dtype.kind in "fiub"]
    if not arrays:
        return None
    h = hashlib.sha256()
    for a in arrays:
        h.update(repr(tuple(int(d) for d in a.shape)).encode())
        h.update(np.ascontiguousarray(a, dtype="<f4").tobytes())
    flat = np.concatenate([a.astype(np.float64, copy=False).ravel() for a in arrays])
    finite = bool(np.all(np.isfinite(flat)))
    out: dict = {"shapes": [[int(d) for d in a.shape] for a in arrays], "size": int(flat.size),
                 "exact": h.hexdigest()[:32], "trivial": bool(not finite or flat.size < 2 or np.ptp(flat) == 0)}
    if out["trivial"] or flat.size > MAX_LAYER_VALUES:
        return out
    buckets, signs = _projection(flat.size)
    sketch = np.bincount(buckets, weights=flat * signs, minlength=SKETCH_DIM)
    norm = float(np.linalg.norm(sketch))
    if norm > 0:
        out["sketch"] = base64.b64encode((sketch / norm).astype("<f4").tobytes()).decode("ascii")
    return out


def decode_sketch(text: str) -> np.ndarray | None:
    """A stored sketch back as a float32 vector (None if it is not one)."""
    try:
        v = np.frombuffer(base64.b64decode(text, validate=True), dtype="<f4")
    except (ValueError, TypeError):
        return None
    return v if v.size == SKETCH_DIM and np.all(np.isfinite(v)) else None


def image_print(im) -> dict:
    """Perceptual and exact hashes of a decoded (upright RGB) image."""
    import imagehash
    from PIL import ImageOps

    rgb = im.convert("RGB")
    mirror = ImageOps.mirror(rgb)
    pixels = hashlib.sha256(f"{rgb.width}x{rgb.height}".encode() + rgb.tobytes()).hexdigest()[:32]
    return {"phash": str(imagehash.phash(rgb)), "dhash": str(imagehash.dhash(rgb)),
            "phash_mirror": str(imagehash.phash(mirror)), "dhash_mirror": str(imagehash.dhash(mirror)),
            "pixels": pixels, "width": rgb.width, "height": rgb.height}


def image_file_print(path: str, label: str, **limits) -> dict:
    """:func:`image_print` of a file opened through the safe image path (limits before decoding)."""
    try:
        from .safeimage import open_image, to_rgb  # deferred: PIL only for callers that hash files
    except ImportError:  # inside the sandbox this folder is on sys.path, not the grader package
        from safeimage import open_image, to_rgb  # type: ignore[no-redef]

    im, _info = open_image(path, label, **limits)
    try:
        return image_print(to_rgb(im))
    finally:
        im.close()
