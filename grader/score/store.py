"""Per-submission results on disk, written atomically, keyed so that a rerun redoes only what changed.

``OUT/.mlgrade/records/<student>.json`` holds the full record plus its key: a hash
of the submission's bytes, the rubric's meaning, the grader version and the
grading options (seed, hidden data). A record whose key still matches is reused;
anything missing (a crash, ``kill -9``) or changed is graded again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader import __version__
from grader.core.files import write_json_atomic
from grader.core.hashing import source_hash
from grader.core.results import SubmissionResult


def folder_hash(path: Path | None) -> str:
    return source_hash(path) if path is not None and Path(path).exists() else "-"


def record_key(source: Path, rubric_digest: str, options_digest: str) -> str:
    blob = f"{source_hash(source)}|{rubric_digest}|{__version__}|{options_digest}"
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


class ResultStore:
    def __init__(self, out: Path):
        self.dir = Path(out) / ".mlgrade" / "records"
        self.dir.mkdir(parents=True, exist_ok=True)

    def path(self, student: str) -> Path:
        return self.dir / f"{student}.json"

    def get(self, student: str, key: str | None = None) -> SubmissionResult | None:
        """The stored record, if it exists, is readable and (when given) has this key."""
        p = self.path(student)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
            if key is not None and data.get("key") != key:
                return None
            result = SubmissionResult.model_validate(data["result"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return result if result.student == student else None  # a record is only ever its own student's

    def put(self, student: str, key: str, result: SubmissionResult) -> None:
        write_json_atomic(self.path(student), {"key": key, "result": result.model_dump(mode="json")}, mode=0o600)


CLASS_FILE = "class.json"


@dataclass
class ClassManifest:
    """What the last ``mlgrade grade`` into a folder graded, so that the class can be scored and exported
    again without the submissions (``mlgrade override``, ``mlgrade review``), from any folder: each student's
    record key, the rubric (its text, absolute path and digest), the output formats and where each submission
    came from."""

    keys: dict[str, str]  # student -> record key
    sources: dict[str, str]  # student -> the submission graded (for failed-record stand-ins)
    rubric_text: str
    rubric_source: str = "rubric.yaml"  # absolute (relative in class files of older versions)
    rubric_digest: str = ""  # Rubric.digest() graded with: what it means, its files' contents included
    rubric_files: dict[str, str] = field(default_factory=dict)  # each file it reads -> sha256, to name a change
    formats: list[str] = field(default_factory=list)
    origins: dict[str, dict] = field(default_factory=dict)
    assignment: str = ""
    missing: dict[str, str] = field(default_factory=dict)  # students with nothing to grade, and why


def class_file(out: Path) -> Path:
    return Path(out) / ".mlgrade" / CLASS_FILE


def save_class(out: Path, manifest: ClassManifest) -> None:
    write_json_atomic(class_file(out), asdict(manifest), mode=0o600)


def load_class(out: Path) -> ClassManifest | None:
    """The class last graded into ``out``; None when nothing was graded there (or by an older mlgrade)."""
    try:
        data = json.loads(class_file(out).read_text(encoding="utf-8"))
        return ClassManifest(**data)
    except (OSError, ValueError, TypeError):
        return None
