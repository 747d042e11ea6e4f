"""Per submission, at grading time: the fingerprints the class-level integrity step compares.

Stored in the submission's record (``SubmissionResult.integrity``), so the class step reads records
only: a late submission is fingerprinted when it is graded and compared with everyone's stored
fingerprints, nobody else is graded again. What is collected does not depend on the rubric's
``integrity:`` settings (thresholds, starter code, known images), which the class step applies.

- weights: every ``.h5``/``.hdf5`` file, read in the sandboxed model server (never here);
- images: every picture, hashed in the same server through the safe image path;
- code: every notebook's code cells and every ``.py`` file, normalised and winnowed here
  (:mod:`grader.score.codeprint`: bounded, linear-time);
- XOR weights: the 3x4 and 4x1 weights a notebook printed (:func:`grader.intake.nbparse.find_xor_weights`)
  and those written in an equation (``Y = sigmoid(...)``, :mod:`grader.checks.equation`, never ``eval``).

The record is held to the per-student caps of :mod:`grader.score.fingerprint_caps` (what is left out is
named in its notes), so a submission of many files keeps a small record and a bounded class step.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from grader.checks.equation import EquationError, decimals, parse
from grader.checks.xornet import xor_network
from grader.execute.modelserver import model_request
from grader.intake.nbload import NotebookProblem, read_cells
from grader.intake.nbparse import find_xor_weights, labelled_arrays, stored_outputs
from grader.score.codeprint import fingerprint_cells, notebook_code_cells
from grader.score.fingerprint_caps import cap_fingerprints

FORMAT_VERSION = 1
MODEL_SUFFIXES = (".h5", ".hdf5")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff")
TEXT_SUFFIXES = (".txt", ".md", ".tex")
MAX_FILES = 32  # of each kind
MAX_TEXT_BYTES = 200_000
MAX_PY_BYTES = 1_000_000
_EQUATION_HINT = re.compile(r"sigm|σ|\\sigma|\\frac|exp|e\^", re.I)


def _files(files: list[str], suffixes: tuple[str, ...]) -> list[str]:
    picked = [f for f in files if f.lower().endswith(suffixes) and not f.startswith("__MACOSX/")
              and not Path(f).name.startswith("._")]
    return sorted(picked, key=lambda f: (f.count("/"), f.lower(), f))[:MAX_FILES]


def collect(sub, options, request=None) -> dict[str, Any]:
    """The submission's fingerprints (see the module docstring). ``request(cmd, files)`` sends one
    model-server request (default: this worker's server); a failure there is noted, never raised."""
    out: dict[str, Any] = {"version": FORMAT_VERSION, "models": [], "images": [], "code": [], "xor": [],
                           "notes": []}
    models = _files(sub.files, MODEL_SUFFIXES)
    images = _files(sub.files, IMAGE_SUFFIXES)
    if models or images:
        try:
            answer = (request or _server_request(options))(
                {"op": "fingerprint", "models": [f"@m{i}" for i in range(len(models))], "model_labels": models,
                 "images": [f"@i{i}" for i in range(len(images))], "image_labels": images},
                {**{f"m{i}": sub.root / f for i, f in enumerate(models)},
                 **{f"i{i}": sub.root / f for i, f in enumerate(images)}})
        except Exception as e:  # the grader's failing, not the student's: noted, grading goes on
            out["notes"].append(f"weights and images were not fingerprinted ({type(e).__name__}: {str(e)[:200]})")
            answer = {}
        for rel, item in zip(models, _list(answer.get("models")), strict=False):
            if (clean := _clean_model(item)) is not None:
                out["models"].append({"file": rel, **clean})
        for rel, item in zip(images, _list(answer.get("images")), strict=False):
            if (clean := _clean_image(item)) is not None:
                out["images"].append({"file": rel, **clean})
    out["code"], nb_cells = _code(sub)
    out["xor"] = _xor_weights(sub, nb_cells)
    return cap_fingerprints(out)[0]  # what the class step compares of one student, and no more


# The model server's answer is the sandbox's word: only the expected fields, types and sizes are kept,
# so a server a student's file compromised cannot break the class step or bloat everyone's records.
_HEX = re.compile(r"[0-9a-f]{1,64}")
MAX_LAYERS = 400


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _hex(value: Any) -> str | None:
    return value if isinstance(value, str) and _HEX.fullmatch(value) else None


def _clean_model(item: Any) -> dict | None:
    if not isinstance(item, dict):
        return None
    if isinstance(item.get("problem"), str):
        return {"problem": item["problem"][:300]}
    layers = []
    for layer in _list(item.get("layers"))[:MAX_LAYERS]:
        if not isinstance(layer, dict) or _hex(layer.get("exact")) is None:
            continue
        shapes = [[int(d) for d in s[:8] if isinstance(d, int) and not isinstance(d, bool)]
                  for s in _list(layer.get("shapes"))[:16] if isinstance(s, list)]
        size = layer.get("size")
        clean = {"shapes": shapes, "size": size if isinstance(size, int) and 0 <= size < 2**40 else 0,
                 "exact": layer["exact"], "trivial": layer.get("trivial") is True}
        if isinstance(layer.get("sketch"), str) and len(layer["sketch"]) <= 4096:
            clean["sketch"] = layer["sketch"]
        layers.append(clean)
    return {"format": str(item.get("format", ""))[:40], "keras_version": str(item.get("keras_version", ""))[:40],
            "layers": layers}


def _clean_image(item: Any) -> dict | None:
    if not isinstance(item, dict):
        return None
    if isinstance(item.get("problem"), str):
        return {"problem": item["problem"][:300]}
    clean: dict[str, Any] = {k: item[k] for k in ("phash", "dhash", "phash_mirror", "dhash_mirror", "pixels")
                             if _hex(item.get(k)) is not None}
    if "phash" not in clean:
        return None
    for k in ("width", "height"):
        if isinstance(item.get(k), int):
            clean[k] = item[k]
    return clean


def _server_request(options):
    class _Ctx:  # what model_request reads from a check's context
        def __init__(self, options):
            self.options = options

    def send(cmd: dict, files: dict[str, Path]) -> dict:
        answer, job = model_request(_Ctx(options), cmd, files, timeout=120)
        shutil.rmtree(job, ignore_errors=True)
        return answer

    return send


def _code(sub) -> tuple[list[dict], dict[str, list[dict]]]:
    prints, cells_by_nb = [], {}
    for rel in _files(sub.files, (".ipynb",)):
        try:
            cells = read_cells(sub.root / rel)
        except NotebookProblem:
            continue
        cells_by_nb[rel] = cells
        cp = fingerprint_cells(notebook_code_cells(cells))
        if cp.hashes.size:
            prints.append({"file": rel, **cp.to_dict()})
    for rel in _files(sub.files, (".py",)):
        path = sub.root / rel
        try:
            if path.stat().st_size > MAX_PY_BYTES:
                continue
            text = path.read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        cp = fingerprint_cells([text])
        if cp.hashes.size:
            prints.append({"file": rel, **cp.to_dict()})
    return prints, cells_by_nb


def _xor_weights(sub, nb_cells: dict[str, list[dict]]) -> list[dict]:
    """The XOR network's 16 weights wherever the submission shows them: printed by a notebook,
    written in an equation (a text file, or a notebook's markdown cell)."""
    found: list[dict] = []
    for rel in nb_cells:
        try:
            outputs = stored_outputs(sub.root / rel)
        except ValueError:
            continue
        printed = [p for o in outputs for p in labelled_arrays(o.text, o.where)]
        hit = find_xor_weights(printed)
        if hit:
            w1, w2, _out, first = hit
            found.append({"kind": "notebook", "file": rel, "where": f"{rel}, {first.origin}".rstrip(", "),
                          "w1": w1.tolist(), "w2": w2.ravel().tolist(), "decimals": 8})
    texts: list[tuple[str, str]] = []
    for rel in _files(sub.files, TEXT_SUFFIXES):
        path = sub.root / rel
        try:
            if path.stat().st_size <= MAX_TEXT_BYTES:
                texts.append((rel, _decode(path.read_bytes())))
        except OSError:
            continue
    for rel, cells in nb_cells.items():
        for i, cell in enumerate(cells):
            if cell.get("cell_type") == "markdown":
                src = cell.get("source", "")
                src = "".join(s for s in src if isinstance(s, str)) if isinstance(src, list) else str(src)
                if _EQUATION_HINT.search(src[:MAX_TEXT_BYTES]):
                    texts.append((f"{rel} (markdown cell {i + 1})", src[:MAX_TEXT_BYTES]))
    for where, text in texts[:MAX_FILES]:
        net = _equation_network(text)
        if net is not None:
            found.append({"kind": "equation", "file": where.split(" (")[0], "where": where, "w1": net[0],
                          "w2": net[1], "decimals": net[2]})
    return found


def _decode(raw: bytes) -> str:
    for enc in ("utf-8-sig", "utf-16", "cp1252"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def _equation_network(text: str):
    """``(w1 3x4, w2 4, fewest decimals written)`` of the first XOR equation in ``text``, or None."""
    parts = text.split("$$")
    candidates = [text] + [parts[i] for i in range(1, len(parts) - 1, 2)]
    candidates += [ln for ln in text.splitlines() if _EQUATION_HINT.search(ln)]
    seen: set[str] = set()
    for cand in candidates[:200]:
        cand = cand.strip()
        if not cand or cand in seen:
            continue
        seen.add(cand)
        try:
            net = xor_network(parse(cand))
        except (EquationError, RecursionError, ValueError, OverflowError):
            continue
        if net.w1.shape != (3, 4) or net.w2.size != 4:
            continue
        written = [t for col in net.texts1 for t in col] + list(net.texts2)
        return net.w1.tolist(), net.w2.ravel().tolist(), min(decimals(t) for t in written)
    return None
