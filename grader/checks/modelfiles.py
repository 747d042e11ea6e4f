"""The submission's model files as the sandboxed model server inspects them: one file a question names,
or the others beside it (a hint that the right model sits under another name). Answers are cached per
submission; nothing here opens a model file in the grader's process.

A question's file is found by its pattern, else (:func:`locate`) under the same name with the other Keras
suffix (``digits.keras`` for ``digits.h5``: what ``model.save`` writes in current courses), which the reason
then names; a TensorFlow SavedModel folder (``saved_model.pb`` + ``variables/``) is named with the line that
saves the expected file instead. The server reads ``.h5`` and ``.keras`` files by their content."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from grader.core.errors import SubmissionProblem
from grader.execute.modelserver import model_request
from grader.intake.submission import Submission, expand_braces, pattern_matches
from grader.rubric.kinds import CheckContext

MODEL_SUFFIXES = (".h5", ".hdf5", ".keras", ".weights.h5")
KERAS_SUFFIXES = ("h5", "hdf5", "keras")  # one model saved under any of them is the same model
METADATA_BYTES = 1024**2  # of keras_metadata.pb read for the Keras version


def weight_counts(info: dict[str, Any]) -> list[int]:
    """Parameters per weight-bearing layer of an inspected file, in order."""
    counts = [sum(math.prod(s) for _, s in la.get("weights", [])) for la in info.get("layers", [])]
    return [c for c in counts if c]


def other_model_files(ctx: CheckContext, pattern: str, limit: int = 6) -> list[tuple[str, dict[str, Any]]]:
    """``(relative path, inspection)`` of the submission's model files that ``pattern`` does not match
    (at most ``limit``; inspected in the sandboxed model server, cached per submission)."""
    found = []
    for rel in ctx.submission.files:
        if not rel.lower().endswith(MODEL_SUFFIXES) or pattern_matches(pattern, rel):
            continue
        key = ("h5-inspect", rel, "weights")
        if key not in ctx.cache:
            try:
                answer, job = model_request(ctx, {"op": "inspect", "path": "@file", "want": "weights", "label": rel},
                                            {"file": ctx.submission.root / rel}, timeout=60)
            except (SubmissionProblem, RuntimeError):
                continue
            shutil.rmtree(job, ignore_errors=True)
            ctx.cache[key] = answer
        answer = ctx.cache[key]
        if "info" in answer:
            found.append((rel, answer["info"]))
        if len(found) >= limit:
            break
    return found


def locate(ctx: CheckContext, pattern: str) -> tuple[Path, str, str]:
    """``(path, relative path, note)`` of the question's model file: the one ``pattern`` names, else the same
    name with another Keras suffix (the note says which was read). A missing file with a SavedModel folder
    in the submission says what to run instead; otherwise the usual missing-file problem."""
    sub = ctx.submission
    hit = sub.find_one(pattern)
    if hit is not None:
        return hit, sub.rel(hit), ""
    for alt in expand_braces(pattern):
        stem, dot, suffix = alt.rpartition(".")
        if not dot or not stem or suffix.lower() not in KERAS_SUFFIXES:
            continue
        for other in KERAS_SUFFIXES:
            found = sub.find_one(f"{stem}.{other}") if other != suffix.lower() else None
            if found is not None:
                rel = sub.rel(found)
                return found, rel, f"no '{PurePosixPath(alt).name}' was handed in, so '{rel}' was read in its place"
    folders = savedmodel_folders(sub)
    if folders:
        raise SubmissionProblem(f"{sub.explain_missing(pattern)}; {savedmodel_advice(sub, folders[0], pattern)}")
    path, rel = sub.require(pattern)
    return path, rel, ""


def savedmodel_folders(sub: Submission) -> list[str]:
    """The submission's TensorFlow SavedModel folders (``''`` for the top), shallowest first."""
    found = [f.rpartition("/")[0] for f in sub.files if PurePosixPath(f).name.lower() == "saved_model.pb"]
    return sorted(found, key=lambda f: (f.count("/"), f))


def _keras_version(sub: Submission, folder: str) -> str:
    """The Keras version a SavedModel's ``keras_metadata.pb`` records (Keras 2 writes one; Keras 3 does not)."""
    meta = sub.root / folder / "keras_metadata.pb" if folder else sub.root / "keras_metadata.pb"
    try:
        with open(meta, "rb") as f:
            head = f.read(METADATA_BYTES)
    except OSError:
        return ""
    m = re.search(rb'"keras_version":\s*"([0-9][0-9a-z.+-]{0,15})"', head)
    return m.group(1).decode() if m else ""


def savedmodel_advice(sub: Submission, folder: str, pattern: str) -> str:
    """Why a SavedModel folder is not read, and the line that saves the file the question wants."""
    want = PurePosixPath(expand_braces(pattern)[0]).name
    if "*" in want or "?" in want or "[" in want:
        want = "model.keras"
    version = _keras_version(sub, folder)
    where = f"'{folder}/'" if folder else "the submission's top folder"
    what = f"{where} is a TensorFlow SavedModel (saved_model.pb and variables/" + (
        f", written by Keras {version})" if version else ")")
    if version.startswith(("1.", "2.")):
        cause = (f"Keras {version} writes one when the name given to model.save has no .h5 or .keras ending; "
                 f"the grader reads Keras files, not TensorFlow graphs: after training, run "
                 f"model.save('{want}') in your notebook and hand in {want}")
    else:
        cause = (f"the grader reads Keras files, not TensorFlow graphs: after training, run model.save('{want}') "
                 f"in your notebook (not model.export or tf.saved_model.save) and hand in {want}")
    return f"{what}; {cause}"


def inspect_file(ctx: CheckContext, pattern: str, want: str = "weights") -> tuple[str, dict[str, Any]]:
    """``(relative path, inspection)`` of the student's model file (:func:`locate`); cached per submission.
    ``want`` ("model" or "weights") is what the question needs: a file that is something else is told
    how to save that instead. ``inspection["read_instead"]`` says when another name was read."""
    path, rel, note = locate(ctx, pattern)
    key = ("h5-inspect", rel, want)
    if key not in ctx.cache:
        answer, job = model_request(ctx, {"op": "inspect", "path": "@file", "want": want, "label": rel},
                                    {"file": path}, timeout=60)
        shutil.rmtree(job, ignore_errors=True)
        ctx.cache[key] = answer
    answer = ctx.cache[key]
    if "problem" in answer:
        raise SubmissionProblem(f"{rel}: {answer['problem']}" + (f" ({note})" if note else ""))
    info = dict(answer["info"])
    if note:
        info["read_instead"] = note
    return rel, info
