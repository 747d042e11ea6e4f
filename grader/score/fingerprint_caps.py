"""What one student's fingerprints may hold: per-student caps, applied when a record is made and again when
the class step compares it (a record stored by an older version is held to the same caps).

At most :data:`MAX_MODEL_FILES` model files and :data:`MAX_LAYERS` weighted layers (whole files, in order;
only the :data:`MAX_SKETCHED` largest layers keep the sketch near-identical matching uses),
:data:`MAX_IMAGES` pictures, :data:`MAX_CODE_PRINTS` code fingerprints (whole files) and :data:`MAX_XOR`
sets of XOR weights per student; what is left out is named in a note (issue 25: one student's 30 files of
400 identical layers must not exhaust the class step).
"""

from __future__ import annotations

from typing import Any

from grader.score.codeprint import MAX_FINGERPRINTS

MAX_MODEL_FILES = 32
MAX_LAYERS = 1000  # weighted, non-trivial layers per student (one file holds at most 400)
MAX_SKETCHED = 256  # of those, the largest keep their sketch (near-identical matching)
MAX_IMAGES = 32
MAX_CODE_PRINTS = 24_000  # per student (one file holds at most 20,000)
MAX_XOR = 16
MAX_NOTES = 8


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _weighted(layer: Any) -> bool:
    return isinstance(layer, dict) and not layer.get("trivial")


def cap_fingerprints(fp: dict) -> tuple[dict, list[str]]:
    """``fp`` (a record's fingerprints) held to the per-student caps, and what was left out, in words."""
    notes: list[str] = []
    out = dict(fp)
    out["models"] = _cap_models(_list(fp.get("models")), notes)
    images = [i for i in _list(fp.get("images")) if isinstance(i, dict)]
    if len(images) > MAX_IMAGES:
        notes.append(f"{len(images)} pictures; the first {MAX_IMAGES} were compared")
    out["images"] = images[:MAX_IMAGES]
    out["code"] = _cap_code(_list(fp.get("code")), notes)
    xor = [x for x in _list(fp.get("xor")) if isinstance(x, dict)]
    if len(xor) > MAX_XOR:
        notes.append(f"{len(xor)} sets of XOR weights; the first {MAX_XOR} were compared")
    out["xor"] = xor[:MAX_XOR]
    kept = [n for n in _list(fp.get("notes")) if isinstance(n, str)]
    out["notes"] = [n[:300] for n in kept[:MAX_NOTES]] + [n for n in notes if n not in kept]
    return out, notes


def _cap_models(models: list, notes: list[str]) -> list:
    models = [m for m in models if isinstance(m, dict)]
    kept: list[dict] = []
    skipped: list[str] = []
    total = layers_seen = 0
    for model in models:
        n = sum(1 for la in _list(model.get("layers")) if _weighted(la))
        layers_seen += n
        if len(kept) >= MAX_MODEL_FILES or (kept and total + n > MAX_LAYERS):
            skipped.append(str(model.get("file", "?")))
            continue
        total += n
        kept.append(model)
    if skipped:
        notes.append(f"{layers_seen:,} weighted layers in {len(models)} model files; {len(kept)} files "
                     f"({total:,} layers) were compared, not {_names(skipped)}")
    return _keep_largest_sketches(kept)


def _keep_largest_sketches(models: list) -> list:
    """Only the :data:`MAX_SKETCHED` largest layers keep a sketch (ties: the first in file order)."""
    sketched = [(-int(la.get("size", 0) or 0) if isinstance(la.get("size", 0), int) else 0, m, k)
                for m, model in enumerate(models) for k, la in enumerate(_list(model.get("layers")))
                if _weighted(la) and "sketch" in la]
    if len(sketched) <= MAX_SKETCHED:
        return models
    drop = {(m, k) for _, m, k in sorted(sketched)[MAX_SKETCHED:]}
    out = []
    for m, model in enumerate(models):
        layers = [({key: v for key, v in la.items() if key != "sketch"} if (m, k) in drop else la)
                  for k, la in enumerate(_list(model.get("layers")))]
        out.append({**model, "layers": layers})
    return out


def _cap_code(code: list, notes: list[str]) -> list:


    kept: list[dict] = []
    skipped: list[str] = []
    total = 0
    for item in code:
        if not isinstance(item, dict) or not isinstance(item.get("prints"), str):
            continue
        n = len(item["prints"]) * 3 // 32  # base64 of 8-byte hashes: no need to decode to count
        if n > MAX_FINGERPRINTS:  # a record made elsewhere: one file never holds more
            item = {**item, "prints": item["prints"][: MAX_FINGERPRINTS // 3 * 32]}  # whole groups of 3 hashes
            n = MAX_FINGERPRINTS // 3 * 3
        if kept and total + n > MAX_CODE_PRINTS:
            skipped.append(str(item.get("file", "?")))
            continue
        total += n
        kept.append(item)
    if skipped:
        notes.append(f"code fingerprints past {MAX_CODE_PRINTS:,} were not compared: {_names(skipped)}")
    return kept


def _names(files: list[str]) -> str:
    shown = ", ".join(f[:80] for f in files[:5])
    return shown + (f" and {len(files) - 5} more" if len(files) > 5 else "")
