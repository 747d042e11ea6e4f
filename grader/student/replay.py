"""A repeated ``mlgrade check`` of an unchanged submission answers from its last report, before importing anything.

A student checks, reads the table, and checks again: often nothing changed, and the question cache
(:mod:`grader.score.qcache`) still costs the imports (0.4 s of pydantic, numpy and rich), reading the
rubric and rendering. So a check that printed its report to the terminal keeps that report with
everything that decided it, and the next identical command prints it again when all of it is the same:

- the command: its words, the folder it runs in, the environment variables (the terminal's ones decide the
  table's width and colours), whether the output is a terminal and its size;
- mlgrade itself (every file of the installed package, by size and time) and the installed packages
  (their ``*.dist-info`` names carry their versions), and the Python that runs it;
- the sandbox the check would use now (``--isolation auto`` probes bubblewrap again: a computer that lost
  it gets the full check and its note);
- the contents of the files it read: the submission (every file of a folder), the rubric and the files its
  checks read, and the ``rubric.yaml`` of the current folder when the command named no rubric (one appearing
  there would change which rubric is used).

Anything else grades in full. Only the student's own cache folder holds these reports, and only
``mlgrade check`` without output files, ``--keep-work`` or ``--no-cache`` keeps one. The standard library and the
isolation table only: this module runs before the command's imports.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from grader.core.files import user_cache_dir
from grader.core.hashing import source_hash
from grader.execute.isolation import resolve  # light (stdlib only): the command line imports it anyway

FOLDER = "checks"
MAX_ENTRIES = 200
MAX_ENTRY_BYTES = 4 * 1024**2
VOLATILE_ENV = {"_", "OLDPWD", "SHLVL", "PWD", "MLGRADE_TIMELINE"}  # what changes between two identical commands
NOTE = ("note: nothing changed since your last check (your files, the rubric and mlgrade are the same), so this "
        "is its report again (--no-cache grades everything again)\n")


def _folder() -> Path:
    return user_cache_dir() / FOLDER


def _isolation(argv: list[str]) -> str | None:
    """The sandbox ``--isolation`` would resolve to now, or None when it cannot (the full check says why)."""
    requested = "auto"
    for i, word in enumerate(argv):
        if word == "--isolation" and i + 1 < len(argv):
            requested = argv[i + 1]
        elif word.startswith("--isolation="):
            requested = word.partition("=")[2]
    try:
        return resolve(requested).name
    except Exception:  # noqa: BLE001 - unavailable or unknown: the full check says why, in its words
        return None


def _code_stamp() -> list:
    """mlgrade's own files by size and time (a changed checkout or a new install is another grader)."""
    root = Path(__file__).resolve().parents[1]
    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            try:
                st = os.stat(os.path.join(folder, name))
            except OSError:
                continue
            out.append([os.path.relpath(os.path.join(folder, name), root), st.st_size, st.st_mtime_ns])
    return out


def _installed() -> list[str]:
    """The installed distributions with their versions, from the names of their metadata folders."""
    names: list[str] = []
    for entry in sys.path:
        if entry.endswith(("site-packages", "dist-packages")) and os.path.isdir(entry):
            try:
                names += sorted(n for n in os.listdir(entry) if n.endswith((".dist-info", ".egg-info", ".pth")))
            except OSError:
                continue
    return names


def _terminal() -> list:
    out = []
    for stream in (sys.stdout, sys.stderr):
        try:
            tty = stream.isatty()
            size = tuple(os.get_terminal_size(stream.fileno())) if tty else None
        except (OSError, ValueError, AttributeError):
            tty, size = False, None
        out.append([tty, size])
    return out


def command_key(argv: list[str]) -> str | None:
    """Everything about the command and this computer that decides the report, as one hash (None: no replay)."""
    isolation = _isolation(argv)
    if isolation is None:
        return None
    blob = json.dumps({
        "argv": argv, "cwd": os.getcwd(), "python": [sys.executable, sys.version],
        "env": sorted((k, v) for k, v in os.environ.items() if k not in VOLATILE_ENV),
        "terminal": _terminal(), "isolation": isolation, "code": _code_stamp(), "installed": _installed(),
    }, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def content_digest(path: Path) -> str | None:
    """A file's bytes, or a folder's files (names and bytes) as the result store hashes a submission; None when
    it does not exist."""
    return source_hash(path) if path.exists() else None


def replay(argv: list[str]) -> int | None:
    """Print the last report of this very check and return its exit code, or None to grade in full."""
    if any(a in ("-h", "--help", "--no-cache") for a in argv):
        return None
    try:
        key = command_key(argv)
        if key is None:
            return None
        path = _folder() / f"{key}.json"
        st = path.stat() if path.is_file() else None
        # this user's own report only (a cache folder others can write, XDG_CACHE_HOME=/tmp, is not trusted)
        if st is None or st.st_size > MAX_ENTRY_BYTES or (hasattr(os, "geteuid") and st.st_uid != os.geteuid()):
            return None
        entry = json.loads(path.read_text(encoding="utf-8"))
        for name, digest in entry["inputs"]:
            if content_digest(Path(name)) != digest:
                return None
        out = entry["stdout"]
        if not isinstance(out, str):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    sys.stdout.write(out + NOTE)
    sys.stdout.flush()
    os.utime(path)  # recently used: kept when old reports are pruned
    return 0


class Recorder:
    """Takes the key and the inputs' contents as the check starts (a file changed while it runs is read again
    next time), and keeps the report once it is printed."""

    def __init__(self, argv: list[str], inputs: list[Path]):
        self.argv = list(argv)
        try:
            self.key = command_key(self.argv)
            self.inputs = [[str(p.resolve()), content_digest(p)] for p in dict.fromkeys(inputs)]
        except OSError:
            self.key = None

    def keep(self, stdout: str) -> None:
        if self.key is None:
            return
        try:
            folder = _folder()
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{self.key}.{os.getpid()}.tmp"
            tmp.write_text(json.dumps({"inputs": self.inputs, "stdout": stdout}), encoding="utf-8")
            os.replace(tmp, folder / f"{self.key}.json")
            _prune(folder)
        except OSError:
            pass  # a report that cannot be kept makes the next check slower, nothing else


class Tee:
    """``sys.stdout`` as it was, also recording what is written (rich asks it whether it is a terminal)."""

    def __init__(self, stream):
        self._stream = stream
        self.written: list[str] = []

    def write(self, text: str) -> int:
        self.written.append(text)
        return self._stream.write(text)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)

    def text(self) -> str:
        return "".join(self.written)


def _prune(folder: Path) -> None:
    entries = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
    for p in entries[: max(0, len(entries) - MAX_ENTRIES)]:
        p.unlink(missing_ok=True)
