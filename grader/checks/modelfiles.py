"""The submission's model files as the sandboxed model server inspects them: one file a question names,
or the others beside it (a hint that the right model sits under another name). Answers are cached per
submission; nothing here opens a model file in the grader's process.

A question's file is found by its pattern, else (:func:`locate`) under the same name with the other Keras
suffix (``digits.keras`` for ``digits.h5``: what ``model.save`` writes in current courses) or a tf.keras
SavedModel folder of that name (``digits/``: what Keras 2's ``model.save('digits')`` writes), which the reason
then names. The folder's three files the server needs are copied, unread, into one zip for it. Any other
SavedModel folder is named with the line that saves the expected file. The server reads ``.h5``, ``.keras``
and zipped SavedModels by their content."""

from __future__ import annotations

import math
import os
import re
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from grader.core.errors import SubmissionProblem
from grader.execute.modelserver import model_request
from grader.intake.submission import Submission, expand_braces, pattern_matches
from grader.rubric.kinds import CheckContext

MODEL_SUFFIXES = (".h5", ".hdf5", ".keras", ".weights.h5")
KERAS_SUFFIXES = ("h5", "hdf5", "keras")  # one model saved under any of them is the same model
METADATA_BYTES = 1024**2  # of keras_metadata.pb read for the Keras version
SAVEDMODEL_FILES = ("keras_metadata.pb", "variables/variables.index", "variables/variables.data-00000-of-00001")
SAVEDMODEL_BYTES = 600 * 1024**2  # the three files together (the server's own limits are lower, per file)


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
    for folder in folders:
        name = PurePosixPath(folder).name.lower() if folder else sub.root.name.lower()
        stems = {PurePosixPath(alt).name.lower().rpartition(".")[0] for alt in expand_braces(pattern)}
        if name in stems and _keras_version(sub, folder):
            rel = f"{folder}/" if folder else "./"
            return (pack_savedmodel(ctx, folder), rel,
                    f"no '{PurePosixPath(expand_braces(pattern)[0]).name}' was handed in, so the TensorFlow SavedModel "
                    f"folder '{rel}' was read in its place")
    if folders:
        raise SubmissionProblem(f"{sub.explain_missing(pattern)}; {savedmodel_advice(sub, folders[0], pattern)}")
    path, rel = sub.require(pattern)
    return path, rel, ""


def pack_savedmodel(ctx: CheckContext, folder: str) -> Path:
    """The SavedModel's Keras metadata and checkpoint copied, byte for byte and unread, into one uncompressed
    zip for the model server (which reads files, not folders); made once per submission."""
    key = ("savedmodel-zip", folder)
    if key in ctx.cache:
        return ctx.cache[key]
    total = 0
    sources = []
    for member in SAVEDMODEL_FILES:
        src = ctx.submission.root / folder / member
        try:
            st = os.stat(src, follow_symlinks=False)
        except OSError:
            raise SubmissionProblem(f"'{folder}/' is a TensorFlow SavedModel without {member}; save the model "
                                    "with model.save('model.h5') instead") from None
        total += st.st_size
        if not stat.S_ISREG(st.st_mode) or total > SAVEDMODEL_BYTES:
            raise SubmissionProblem(f"'{folder}/{member}' is not a regular file within the size limit")
        sources.append((member, src))
    dest = ctx.scratch("savedmodel").with_suffix(".zip")
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as zf:
        for member, src in sources:
            zf.write(src, member)
    ctx.cache[key] = dest
    return dest


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
        stem = want.rpartition(".")[0] or want
        cause = (f"Keras {version} writes one when the name given to model.save has no .h5 or .keras ending; if "
                 f"it is this question's model, name the folder '{stem}', or run model.save('{want}') in your "
                 f"notebook after training and hand in {want}")
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
