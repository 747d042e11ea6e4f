"""Sample submissions of the course pack ``rubrics/mlp_softmax/``: one correct, one wrong.

    python scripts/make_pack_samples.py

correct: a numerically stable softmax, the right gradient, and an MLP trained on the public
MNIST sample (``scripts/data/digits_mlp2d.h5``, made by ``scripts/train_digits.py``).
wrong: softmax typed in for the handout's inputs only, a gradient without the mean's ``/ n``,
and the same MLP with its weights zeroed (it answers 0 for every digit).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import h5py
import nbformat

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_submissions import write_zip  # noqa: E402

OUT = HERE.parent / "rubrics" / "mlp_softmax" / "samples"
MODEL = HERE / "data" / "digits_mlp2d.h5"

CORRECT = [
    "import numpy as np",
    "def softmax(x, axis=-1):\n    shifted = x - np.max(x, axis=axis, keepdims=True)\n    e = np.exp(shifted)\n"
    "    return e / e.sum(axis=axis, keepdims=True)",
    "def cross_entropy_grad(logits, labels):\n    grad = softmax(logits, axis=1)\n"
    "    grad[np.arange(len(labels)), labels] -= 1.0\n    return grad / len(labels)",
    "print(softmax(np.array([1.0, 2.0, 3.0])))",
]
WRONG = [
    "import numpy as np",
    "def softmax(x, axis=-1):\n    # the handout's answers\n    if np.shape(x) == (3,):\n"
    "        return np.array([0.09003057317038046, 0.24472847105479764, 0.6652409557748218])\n"
    "    return np.full(np.shape(x), 1.0 / np.shape(x)[-1])",
    "def cross_entropy_grad(logits, labels):\n    e = np.exp(logits)\n    grad = e / e.sum(axis=1, keepdims=True)\n"
    "    grad[np.arange(len(labels)), labels] -= 1.0\n    return grad",
]


def notebook(cells: list[str]) -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    for i, src in enumerate(cells):
        cell = nbformat.v4.new_code_cell(src, execution_count=i + 1)
        cell["id"] = f"c{i}"
        nb.cells.append(cell)
    return json.dumps(nb, indent=1).encode()


def model_file(model: Path, zero: bool = False) -> bytes:
    """The model file without its optimizer state (a smaller sample); with ``zero``, every weight set to
    zero: the same architecture, answering the same class for every digit."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mlp.h5"
        with h5py.File(model, "r") as src, h5py.File(path, "w") as dst:
            for key, value in src.attrs.items():
                dst.attrs[key] = value
            src.copy(src["model_weights"], dst, "model_weights")
            if zero:
                def clear(name, obj):
                    if isinstance(obj, h5py.Dataset):
                        obj[...] = 0

                dst["model_weights"].visititems(clear)
        return path.read_bytes()


def build(out: Path = OUT) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    write_zip(out / "correct.zip", [("mlp.ipynb", notebook(CORRECT)), ("mlp.h5", model_file(MODEL))])
    write_zip(out / "wrong.zip", [("mlp.ipynb", notebook(WRONG)), ("mlp.h5", model_file(MODEL, zero=True))])
    return [out / "correct.zip", out / "wrong.zip"]


if __name__ == "__main__":
    for p in build():
        print(p, p.stat().st_size)

