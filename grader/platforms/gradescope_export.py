"""Gradescope's "Export Submissions" download, graded as a class: who handed in each folder.

Gradescope's export (an assignment's *Review Grades* > *Export Submissions*) unzips to one
folder, ``assignment_<id>_export/``, holding ``submission_metadata.yml`` and one folder per
submission, ``submission_<id>/``, with the files the student uploaded. The metadata maps each
folder to its submitters (``:submitters``: ``:name``, ``:sid``, ``:email``; several for a group
submission), written by Gradescope's Ruby side, so keys start with ``:`` and values may carry Ruby
tags (read here as plain values). ``mlgrade grade`` grades each submission folder as one student
and this module gives each one's origin (name, SID, email), which the ``gradescope-scores`` CSV
needs to match the student in Gradescope's score import.

Names are what students typed into Gradescope: read as data, bounded, control characters removed.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from grader.core import textsafe
from grader.intake.sources import discover

METADATA = "submission_metadata.yml"
MAX_METADATA_BYTES = 32 * 1024**2  # a few hundred bytes per submission; far more than any class needs
MAX_FIELD = 200  # characters kept of a name, SID or email


class ExportProblem(Exception):
    """An export that cannot be graded as given (a message the instructor can act on)."""


@dataclass(frozen=True)
class Submitter:
    name: str
    sid: str
    email: str

    def origin(self) -> dict[str, str]:
        return {k: v for k, v in (("full_name", self.name), ("sid", self.sid), ("email", self.email)) if v}


class _Loader(yaml.SafeLoader):
    """Safe YAML that reads a tagged value (``!ruby/object:BigDecimal 18:0.8E2``) as its plain content."""


def _untagged(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_Loader.add_multi_constructor("!", _untagged)
_Loader.add_multi_constructor("tag:", _untagged)


def export_folder(path: Path) -> Path | None:
    """The export folder at ``path``: itself, or the one folder inside it (where the zip was unzipped)."""
    if not path.is_dir():
        return None
    if (path / METADATA).is_file():
        return path
    inner = [c for c in path.iterdir() if c.is_dir() and not c.name.startswith(".")]
    if len(inner) == 1 and (inner[0] / METADATA).is_file() and not any(
            c.is_file() and c.suffix.lower() == ".zip" for c in path.iterdir()):
        return inner[0]
    return None


def is_export_zip(path: Path) -> bool:
    """Is ``path`` Gradescope's export zip itself (which would otherwise be graded as one student)?"""
    if not (path.is_file() and path.suffix.lower() == ".zip"):
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n == METADATA or (n.count("/") == 1 and n.endswith("/" + METADATA)) for n in zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def read_metadata(folder: Path) -> dict[str, list[Submitter]]:
    """Submission folder name -> its submitters, from ``folder/submission_metadata.yml``."""
    path = folder / METADATA
    try:
        if path.stat().st_size > MAX_METADATA_BYTES:
            raise ExportProblem(f"{path}: larger than {MAX_METADATA_BYTES // 1024**2} MB; is this Gradescope's export?")
        data = yaml.load(path.read_text(encoding="utf-8", errors="replace"), Loader=_Loader)  # noqa: S506
    except OSError as e:
        raise ExportProblem(f"{path}: cannot be read ({e.strerror or e})") from None
    except yaml.YAMLError as e:
        raise ExportProblem(f"{path}: not Gradescope's submission metadata ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ExportProblem(f"{path}: expected one entry per submission folder, found {type(data).__name__}")
    out: dict[str, list[Submitter]] = {}
    for folder_name, record in data.items():
        if isinstance(folder_name, str) and isinstance(record, dict):
            out[folder_name] = _submitters(record)
    return out


def _submitters(record: dict) -> list[Submitter]:
    found = record.get(":submitters", record.get("submitters"))
    people = []
    for s in found if isinstance(found, list) else []:
        if isinstance(s, dict):
            people.append(Submitter(*(_field(s, k) for k in ("name", "sid", "email"))))
    return people


def _field(s: dict, key: str) -> str:
    value = s.get(":" + key, s.get(key))
    if value is None or isinstance(value, (dict, list)):
        return ""
    return textsafe.terminal(str(value))[:MAX_FIELD].strip()


def stage(paths: list[Path]) -> tuple[list[Path], dict[str, dict[str, Any]]]:
    """``paths`` with each export replaced by its export folder (so that every ``submission_<id>/`` is one
    student, not the download one), and each such student's origin on Gradescope: the first submitter's name,
    SID and email, and every submitter of a group submission. An export zip is refused with what to do."""
    staged: list[Path] = []
    found: dict[str, dict[str, Any]] = {}
    for path in map(Path, paths):
        if is_export_zip(path):
            raise ExportProblem(f"{path}: Gradescope's Export Submissions zip; unzip it and grade the folder "
                                f"(unzip '{path}' -d gradescope-export && mlgrade grade gradescope-export ...)")
        folder = export_folder(path)
        staged.append(folder or path)
        if folder is None:
            continue
        meta = read_metadata(folder)
        for source in discover([folder]):
            sub = source.path if source.path.is_dir() else source.path.parent
            people = meta.get(sub.name, [])
            origin: dict[str, Any] = {"platform": "gradescope", "submission": sub.name}
            if people:
                origin.update(people[0].origin())
                origin["submitters"] = [p.origin() for p in people]
            found[source.student] = origin
    return staged, found
