"""Finding the submissions of a batch and giving each student an id that no other can take.

A student id names the student's row in ``grades.csv``, their folder in the output and their
stored record, so two submissions must never share one: not ``a b.zip`` and ``a_b.zip`` (which
make the same safe name), not ``Alice.zip`` and ``alice.zip`` (one folder on a case-insensitive
disk), not two ``alice.zip`` in two section folders. The rules, stable from run to run:

- a name made only of safe characters (letters, digits, ``_ . @ + -``, not starting with a dot
  or dash) is its own id: ``alice.zip`` -> ``alice``;
- any other name keeps its safe characters and gets a short hash of the original name:
  ``a b.zip`` -> ``a_b-8c1a2f``, so it can never become another student's plain name;
- ids that still collide (ignoring case) all get a hash of their path in the batch, in a
  deterministic order, until every id is unique;
- a name that is the name of an output (:data:`RESERVED_NAMES`: ``grades.csv``, ``summary.html``,
  ``students``, ...; ignoring case) is not plain either: ``grades.csv.zip`` -> ``grades.csv-<hash>``.
  Students' folders live apart from the class files (:mod:`grader.render.layout`), so no id
  could overwrite one; an id that reads like one would still confuse a person.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MAX_ID_CHARS = 100
_SAFE = re.compile(r"[A-Za-z0-9_.@+-]+")
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9_.@+-]+")
# Names Windows refuses as folder names, whatever the extension (a student kit may unpack there).
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
# Every name a run writes into OUT (lower case): the built-in formats' files (a test checks the
# registry against this list), the per-student folder and files, the instructor's decisions, the
# grader's own folder and the class manifest.
RESERVED_NAMES = frozenset({
    "grades.csv", "summary.html", "summary.json", "canvas.csv", "moodle.csv", "blackboard.csv", "nbgrader.csv",
    "integrity.csv", "integrity.json", "feedback.html", "results.json", "report.txt", "classroom.txt",
    "gradescope_scores.csv",
    "overrides.yaml", "class.json", "students", ".mlgrade", "instructor-notes.csv", "report-fragment.html",
})


@dataclass(frozen=True)
class Source:
    """One submission of a batch: its unique student id and where its bytes are."""

    student: str
    path: Path


def submission_name(path: Path) -> str:
    """What the student called their submission: the zip's stem, or the folder's name."""
    name = path.name if path.is_dir() else path.stem
    if name.lower().endswith(".zip"):
        name = name[:-4]
    return name


def _short_hash(text: str, n: int = 6) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:n]


def is_plain_id(name: str) -> bool:
    """True when ``name`` can be used as an id unchanged."""
    return (
        0 < len(name) <= MAX_ID_CHARS
        and _SAFE.fullmatch(name) is not None
        and not name.startswith((".", "-"))
        and not name.endswith(".")
        and name.split(".")[0].lower() not in _RESERVED
        and name.lower() not in RESERVED_NAMES
    )


def safe_id(name: str) -> str:
    """The id for a submission called ``name`` (before batch-wide collisions are resolved)."""
    if is_plain_id(name):
        return name
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    base = _UNSAFE_RUN.sub("_", folded).strip("._-")[: MAX_ID_CHARS - 8] or "submission"
    if base.split(".")[0].lower() in _RESERVED:
        base = "_" + base
    return f"{base}-{_short_hash(name)}"


def student_id(source: Path) -> str:
    """The id of a single submission graded on its own (``mlgrade check``)."""
    return safe_id(submission_name(Path(source)))


def unique_ids(candidates: list[tuple[str, str]]) -> list[str]:
    """Ids for ``(name, path key)`` pairs, unique ignoring case, in the same order.

    ``path key`` tells apart submissions with the same name (their place in the batch)."""
    ids = [safe_id(name) for name, _ in candidates]
    for round_ in range(8):
        groups: dict[str, list[int]] = {}
        for i, sid in enumerate(ids):
            groups.setdefault(sid.casefold(), []).append(i)
        clashes = [idx for idx in groups.values() if len(idx) > 1]
        if not clashes:
            return ids
        for idx in clashes:
            for i in idx:
                name, key = candidates[i]
                ids[i] = f"{ids[i][: MAX_ID_CHARS - 9]}-{_short_hash(f'{round_}|{key}|{name}', 8)}"
    # Eight rounds of sha256 suffixes cannot all collide unless two candidates are identical.
    raise ValueError("two submissions have the same name and the same place in the batch")


def discover(paths: list[Path], exclude: Sequence[Path] = ()) -> list[Source]:
    """Zips and folders of zips, or an LMS bulk download (a folder per student holding one zip). ``exclude``:
    folders never read as submissions wherever they are (the output folder inside the submissions' folder)."""
    skip = {Path(e).resolve() for e in exclude}
    found: list[tuple[str, Path, str]] = []  # (name, path, key)
    for arg_index, path in enumerate(paths):
        path = Path(path)
        if path.is_file():
            found.append((submission_name(path), path, f"{arg_index}:{path.name}"))
            continue
        children = sorted((c for c in path.iterdir() if c.resolve() not in skip), key=lambda c: c.name)
        zips = [c for c in children if c.is_file() and c.suffix.lower() == ".zip"]
        dirs = [c for c in children if c.is_dir() and not c.name.startswith(".")]
        if not zips and not dirs:
            found.append((submission_name(path), path, f"{arg_index}:"))  # the folder itself is one submission
            continue
        found += [(submission_name(z), z, f"{arg_index}:{z.name}") for z in zips]
        for d in dirs:
            inner = sorted(c for c in d.iterdir() if c.is_file() and c.suffix.lower() == ".zip")
            found.append((submission_name(d), inner[0] if len(inner) == 1 else d, f"{arg_index}:{d.name}/"))
    ids = unique_ids([(name, key) for name, _, key in found])
    return [Source(sid, p) for sid, (_, p, _) in zip(ids, found, strict=True)]
