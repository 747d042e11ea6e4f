"""A submission once unpacked: its files, and how rubric file patterns find them.

Patterns are case-insensitive globs matched at any folder depth, with ``{a,b}``
alternatives: ``hdfview.{png,jpg}`` finds ``HW4/HDFView.PNG``. A pattern with a
``/`` matches the end of the path (``data/*.csv``).
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader.core.errors import SubmissionProblem
from grader.intake.nbload import NotebookProblem, read_cells


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

    def find(self, pattern: str) -> list[Path]:
        """All files matching ``pattern``, shallowest first, then by name: deterministic."""
        hits = [f for f in self.files if pattern_matches(pattern, f)]
        hits.sort(key=lambda f: (f.count("/"), f.lower(), f))
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
        close: list[str] = []
        for alt in expand_braces(pattern):
            want = _norm_stem(PurePosixPath(alt).name)
            if not want or any(ch in want for ch in "*?["):
                continue
            for f in self.files:
                have = _norm_stem(PurePosixPath(f).name)
                similar = have == want or (
                    difflib.SequenceMatcher(None, want, have).ratio() >= 0.8 and _digits(want) == _digits(have)
                )
                if similar and f not in close:
                    close.append(f)
        if markers and pattern.lower().endswith(".ipynb"):
            for f, marker in self.notebooks_containing(markers):
                if f not in close:
                    close.append(f)
                    msg += f"; '{f}' contains `{marker.rstrip('(')}`"
        if close:
            msg += "; found " + ", ".join(f"'{c}'" for c in close[:3]) + " — rename it if that is the one"
        return msg

    def notebooks_containing(self, markers: list[str] | tuple[str, ...], limit: int = 20) -> list[tuple[str, str]]:
        """``(relative path, marker)`` for the submission's notebooks whose code cells contain a marker."""
        hits: list[tuple[str, str]] = []
        for f in [f for f in self.files if f.lower().endswith(".ipynb")][:limit]:
            try:
                cells = read_cells(self.root / f)
            except NotebookProblem:
                continue
            code = "\n".join(_source(c) for c in cells if c.get("cell_type") == "code")
            marker = next((m for m in markers if m in code), None)
            if marker is not None:
                hits.append((f, marker))
        return hits
