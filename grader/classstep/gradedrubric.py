"""The rubric a stored class was graded with, found again from any folder, or refused when it changed.

``mlgrade review`` and ``mlgrade override`` rescore a class from its stored records; they need the
rubric it was graded with (its points, its files: tests, references, the starter the integrity step
compares). ``class.json`` keeps the rubric's text, its absolute path, its digest (what it means, its
files' contents included) and a hash of each of its files. Loading parses the stored text against the
recorded folder and compares digests: the same rubric loads wherever the command runs; a changed one is
refused in one line that names the file and what changed, since rescoring against other files would
silently mix two rubrics. Class files written before the path was absolute (a path relative to the
folder the class was graded in, no digest) are tried against the current folder and the grades folder's
parent, and load as they did.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from grader.rubric import Rubric, RubricError, parse_rubric
from grader.score.store import ClassManifest, ResultStore

MAX_NAMED = 3  # changed files named in the refusal; the rest are counted


class RubricChanged(Exception):
    """The rubric (or a file it reads) is not what the class was graded with, or is gone."""


def file_digests(rubric: Rubric) -> dict[str, str]:
    """A sha256 per file the rubric's meaning depends on (folders expanded), named relative to its folder
    where possible: what lets a refusal say *which* file changed."""
    base = rubric.base_dir.resolve()
    out: dict[str, str] = {}
    for path in rubric.graded_files():
        for p in sorted(q for q in path.rglob("*") if q.is_file()) if path.is_dir() else [path]:
            out[_name(p, base)] = _sha256(p)
    return out


def _name(p: Path, base: Path) -> str:
    try:
        return p.resolve().relative_to(base).as_posix()
    except (ValueError, OSError):
        return str(p)


def _sha256(p: Path) -> str:
    h = hashlib.sha256()
    try:
        with open(p, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except OSError:
        return "<missing>"
    return h.hexdigest()


def _candidates(out: Path, source: str) -> list[Path]:
    """Where the rubric file may be: its recorded path when absolute; for an old relative one, against the
    current folder and against the folder holding the grades folder (where `mlgrade grade` usually ran)."""
    recorded = Path(source)
    if recorded.is_absolute():
        return [recorded]
    found = [Path.cwd() / recorded, Path(out).resolve().parent / recorded]
    return list(dict.fromkeys(p.resolve() for p in found))


def _records_digest(out: Path, manifest: ClassManifest) -> str:
    """The digest a stored record was graded with (class files of older versions do not record it)."""
    store = ResultStore(out)
    for student, key in manifest.keys.items():
        r = store.get(student, key)
        if r is not None and r.rubric_hash:
            return r.rubric_hash
    return ""


def graded_rubric(out: Path, manifest: ClassManifest) -> tuple[Rubric, Path]:
    """The rubric ``manifest`` was graded with, and the file it is read against; raises :class:`RubricChanged`
    with one line naming the file and what changed."""
    if not manifest.rubric_digest:
        return _legacy(out, manifest)
    tried: list[tuple[Path, Rubric | None, str]] = []
    for path in _candidates(out, manifest.rubric_source):
        try:
            rubric = parse_rubric(manifest.rubric_text, str(path), base_dir=path.parent)
        except RubricError as e:
            tried.append((path, None, _first_problem(e)))
            continue
        if rubric.digest() != manifest.rubric_digest:
            tried.append((path, rubric, ""))
        elif _edited(path, manifest.rubric_text, rubric.digest()):
            raise RubricChanged(f"{path}: the rubric changed since this class was graded ({path.name} itself was "
                                f"edited); {_again(out)}")
        else:
            return rubric, path
    raise RubricChanged(_refusal(out, manifest, tried))


def _legacy(out: Path, manifest: ClassManifest) -> tuple[Rubric, Path]:
    """A class file of an older version (a relative path, no digest): the candidate whose digest is the stored
    records' wins, else the first that loads, as those versions did; nothing to compare a change against."""
    expected = _records_digest(out, manifest)
    loaded: list[tuple[Rubric, Path]] = []
    problem = ""
    for path in _candidates(out, manifest.rubric_source):
        try:
            rubric = parse_rubric(manifest.rubric_text, str(path), base_dir=path.parent)
        except RubricError as e:
            problem = problem or f"{path}: the rubric this class was graded with no longer loads ({_first_problem(e)})"
            continue
        if expected and rubric.digest() == expected:
            return rubric, path
        loaded.append((rubric, path))
    if loaded:
        return loaded[0]
    raise RubricChanged(f"{problem}; {_again(out)}")


def _first_problem(e: RubricError) -> str:
    key, msg = e.problems[0] if e.problems else ("", str(e))
    return f"{key}: {msg}" if key else msg


def _edited(path: Path, text: str, digest: str) -> bool:
    """Does the rubric file on disk now mean something else than the text graded with (a comment is no change)?
    A file that is gone is no edit: the stored text still says what was graded."""
    try:
        now = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if now == text:
        return False
    try:
        return parse_rubric(now, str(path), base_dir=path.parent).digest() != digest
    except RubricError:
        return True


def _again(out: Path) -> str:
    return (f"grade the class again with it (`mlgrade grade ... --rubric RUBRIC --out {out}` regrades only what "
            "changed), or put back the files it was graded with")


def _refusal(out: Path, manifest: ClassManifest, tried: list[tuple[Path, Rubric | None, str]]) -> str:
    again = _again(out)
    changed = next(((p, r) for p, r, _ in tried if r is not None), None)
    if changed is not None:
        path, rubric = changed
        return f"{path}: the rubric changed since this class was graded ({_what_changed(rubric, manifest)}); " \
               + again
    path, _, problem = tried[0]
    if not path.is_file():
        return f"{path}: the rubric this class was graded with is not there any more; {again}"
    return f"{path}: the rubric this class was graded with no longer loads ({problem}); {again}"


def _what_changed(rubric: Rubric, manifest: ClassManifest) -> str:
    """Which of the rubric's files differ from those graded with (named when class.json recorded them)."""
    now, then = file_digests(rubric), manifest.rubric_files
    diff = sorted(n for n in set(now) | set(then) if now.get(n) != then.get(n)) if then else []
    if not diff:
        return "a file it reads changed"
    more = f" and {len(diff) - MAX_NAMED} more" if len(diff) > MAX_NAMED else ""
    return ", ".join(diff[:MAX_NAMED]) + more + " changed"
