"""A submission once unpacked: its files, and how rubric file patterns find them.

Patterns are case-insensitive globs matched at any folder depth, with ``{a,b}``
alternatives: ``hdfview.{png,jpg}`` finds ``HW4/HDFView.PNG``. A pattern with a
``/`` matches the end of the path (``data/*.csv``).

When a file is missing, the reason suggests the student's files that look like it ("found
'HW4 final.ipynb' — rename it if that is the one"). Only the student's own files are offered:
never one under ``.github/`` (a Classroom repository's workflow and rubric build), one the rubric
itself ships (:attr:`Submission.grader_files`), nor one already named as the rubric expects.
"""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader.core.errors import SubmissionProblem
from grader.intake.nbload import NotebookProblem, read_cells

# Folders the grader's own files arrive in: a Classroom repository's workflow and rubric build (.github/),
# a student kit unzipped beside the work (grader.student.kit.KIT_FOLDER). Never offered as the student's.
GRADER_FOLDERS = (".github", "mlgrade-kit")
_COMPARE_BYTES = 16 * 1024**2  # a copy of a larger rubric file is not looked for by content


def expand_braces(pattern: str) -> list[str]:
    """``a.{png,jpg}`` -> ``['a.png', 'a.jpg']`` (nested braces allowed)."""
    m = re.search(r"\{([^{}]*)\}", pattern)
    if not m:
        return [pattern]
    out: list[str] = []
    for alt in m.group(1).split(","):
        out.extend(expand_braces(pattern[: m.start()] + alt + pattern[m.end():]))
    return out


def pattern_matches(pattern: str, relpath: str) -> bool:
    path_parts = relpath.lower().split("/")
    for alt in expand_braces(pattern.lower()):
        alt_parts = alt.strip("/").split("/")
        if len(alt_parts) > len(path_parts):
            continue
        tail = path_parts[-len(alt_parts):]
        if all(fnmatch.fnmatchcase(p, a) for p, a in zip(tail, alt_parts, strict=True)):
            return True
    return False


def _norm_stem(name: str) -> str:
    """'What 1.JPEG' -> 'what1': what a student may have meant, ignoring case, spaces and extension."""
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return re.sub(r"[^a-z0-9*?\[\]]", "", stem.lower())


def _digits(s: str) -> str:
    return "".join(ch for ch in s if ch.isdigit())


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(map(str, src)) if isinstance(src, list) else str(src)


def close_names(pattern: str, candidates: list[str]) -> list[str]:
    """The ``candidates`` whose names look like one ``pattern`` names (``What 1.jpeg`` for ``what1.jpg``:
    case, spaces, punctuation and extension aside, or nearly the same letters with the same digits)."""
    close: list[str] = []
    for alt in expand_braces(pattern):
        want = _norm_stem(PurePosixPath(alt).name)
        if not want or any(ch in want for ch in "*?["):
            continue
        for f in candidates:
            have = _norm_stem(PurePosixPath(f).name)
            similar = have == want or (
                difflib.SequenceMatcher(None, want, have).ratio() >= 0.8 and _digits(want) == _digits(have)
            )
            if similar and f not in close:
                close.append(f)
    return close


def names_files(pattern: str) -> bool:
    """A pattern that names files by more than their extension (``mlp_*_relu.h5``, not ``*.ipynb``)."""
    return any(len(re.sub(r"[^a-z0-9]", "", _norm_stem(PurePosixPath(alt).name).replace("*", "")
                          .replace("?", ""))) >= 3 for alt in expand_braces(pattern))


def describe_pattern(pattern: str) -> str:
    alts = expand_braces(pattern)
    return " or ".join(f"'{a}'" for a in alts)


@dataclass
class Submission:
    student: str
    source: Path
    root: Path
    files: list[str]
    skipped: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    content_hash: str = ""
    # files of the submission that the grader brought, not the student: the rubric's build in a Classroom
    # repository, a student kit unzipped beside the work (:func:`grader_files`)
    grader_files: frozenset[str] = frozenset()
    # every file pattern of the rubric: a file one of them matches is named right, never renamed to another
    expected: tuple[str, ...] = ()

    def hint_candidates(self) -> list[str]:
        """The files a missing-file hint may offer: the student's own, not yet named as the rubric expects."""
        return [f for f in self.files
                if not set(f.lower().split("/")[:-1]) & set(GRADER_FOLDERS) and f not in self.grader_files
                and not any(pattern_matches(p, f) for p in self.expected)]

    def find(self, pattern: str) -> list[Path]:
        """All files matching ``pattern``, shallowest first, then the one named exactly as the rubric spells it
        (``weights.h5`` before ``WEIGHTS.H5`` in one folder), then by name: deterministic."""
        hits = [f for f in self.files if pattern_matches(pattern, f)]
        spelled = pattern.replace("\\", "/").rsplit("/", 1)[-1]
        hits.sort(key=lambda f: (f.count("/"), f.rsplit("/", 1)[-1] != spelled, f.lower(), f))
        return [self.root / f for f in hits]

    def find_one(self, pattern: str) -> Path | None:
        hits = self.find(pattern)
        return hits[0] if hits else None

    def require(self, pattern: str) -> tuple[Path, str]:
        """``(path, relative path)`` of the file matching ``pattern``, or :class:`SubmissionProblem`
        saying which name was expected (and which file looks like it)."""
        path = self.find_one(pattern)
        if path is None:
            raise SubmissionProblem(self.explain_missing(pattern))
        return path, self.rel(path)

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def explain_missing(self, pattern: str, markers: list[str] | tuple[str, ...] = ()) -> str:
        """Why ``pattern`` found nothing, in words a student can act on.

        ``markers``: text the expected file's code holds (``def back_propagation(``); a notebook under
        another name that holds it is suggested, whatever its name."""
        msg = f"missing file: expected {describe_pattern(pattern)} (any folder, any letter case)"
        for entry, why in self.skipped.items():
            if pattern_matches(pattern, entry.replace("\\", "/").rstrip("/")):
                return f"{msg}; '{entry}' was in the submission but {why}"
        candidates = self.hint_candidates()
        close = close_names(pattern, candidates)
        if markers and pattern.lower().endswith(".ipynb"):
            for f, marker in self.notebooks_containing(markers, among=candidates):
                if f not in close:
                    close.append(f)
                    msg += f"; '{f}' contains `{marker.rstrip('(')}`"
        if close:
            msg += "; found " + ", ".join(f"'{c}'" for c in close[:3]) + " — rename it if that is the one"
        return msg

    def notebooks_containing(self, markers: list[str] | tuple[str, ...], limit: int = 20,
                             among: list[str] | None = None) -> list[tuple[str, str]]:
        """``(relative path, marker)`` for the submission's notebooks (of ``among``, default all) whose code
        cells contain a marker."""
        hits: list[tuple[str, str]] = []
        for f in [f for f in (self.files if among is None else among) if f.lower().endswith(".ipynb")][:limit]:
            try:
                cells = read_cells(self.root / f)
            except NotebookProblem:
                continue
            code = "\n".join(_source(c) for c in cells if c.get("cell_type") == "code")
            marker = next((m for m in markers if m in code), None)
            if marker is not None:
                hits.append((f, marker))
        return hits


def grader_files(root: Path, files: list[str], shipped: dict[str, Path]) -> frozenset[str]:
    """The submission's files that the rubric ships, so that no hint offers them as the student's.

    ``shipped`` maps the rubric's files (its YAML, tests, helpers, student files) by their path relative to
    the rubric's folder to the file. A submission file is one of them when its path ends with a shipped path
    of two parts or more (the rubric's layout, wherever it was copied: ``x/rubrics/hw4/tests/test_a.py``)
    or its bytes are a shipped file's (a copy under any name; a starter notebook the student edited is theirs).
    """
    tails = {rel.lower() for rel in shipped if rel.count("/") >= 1}
    by_size: dict[int, list[Path]] = {}
    for path in shipped.values():
        try:
            st = path.stat()
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and 0 < st.st_size <= _COMPARE_BYTES:
            by_size.setdefault(st.st_size, []).append(path)
    found: set[str] = set()
    for f in files:
        parts = f.lower().split("/")
        if any("/".join(parts[i:]) in tails for i in range(len(parts))):
            found.add(f)
            continue
        try:
            st = os.stat(root / f, follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_size in by_size:
            try:
                digest = _sha256(root / f)
                if any(_shipped_sha256(p) == digest for p in by_size[st.st_size]):
                    found.add(f)
            except OSError:  # unreadable here: not shown to be the rubric's, so it stays the student's
                continue
    return frozenset(found)


_DIGESTS: dict[tuple[str, int, int], str] = {}  # the rubric's files, hashed once per process and version


def _shipped_sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        if len(_DIGESTS) >= 4096:
            _DIGESTS.clear()
        _DIGESTS[key] = _sha256(path)
    return _DIGESTS[key]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
