"""Independent runs of the handout's XOR network, as students' notebooks print them (no seed: each
student's own random start), for the integrity tests' "no false pair" check.

    python scripts/make_xor_runs.py [N]   # writes tests/data/integrity/xor_runs.json

The handout's loop (``reference.xor.train``), run for N seeds at once (batched numpy).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from reference import xor as ref  # noqa: E402


def train_many(seeds: list[int], iterations: int = 10000) -> tuple[np.ndarray, np.ndarray]:
    first = np.stack([np.random.RandomState(s).rand(16) for s in seeds])  # rand(3, 4), then rand(4, 1)
    w1 = first[:, :12].reshape(-1, 3, 4).copy()
    w2 = first[:, 12:].reshape(-1, 4, 1).copy()
    x, y = ref.X, ref.Y
    for _ in range(iterations):
        layer1 = ref.sigmoid(x @ w1)
        out = ref.sigmoid(layer1 @ w2)
        delta = 2 * (y - out) * ref.sigmoid_derivative(out)
        d_w2 = layer1.transpose(0, 2, 1) @ delta
        d_w1 = x.T @ ((delta @ w2.transpose(0, 2, 1)) * ref.sigmoid_derivative(layer1))
        w1 += d_w1
        w2 += d_w2
    return w1, w2


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    w1, w2 = train_many(list(range(n)))
    out = HERE.parent / "tests" / "data" / "integrity" / "xor_runs.json"
    out.write_text(json.dumps({"seeds": n, "w1": np.round(w1, 8).tolist(), "w2": np.round(w2[:, :, 0], 8).tolist()}))
    print(out, n)
