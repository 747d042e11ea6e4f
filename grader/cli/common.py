"""What every command shares: exit codes, the options several commands take, writing an output file, and
the status line while one submission is graded."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from grader.core import progress
from grader.core.errors import UsageError
from grader.core.files import write_bytes_atomic
from grader.execute.isolation import ISOLATION_CHOICES

EXIT_OK = 0
EXIT_INVALID = 1  # mlgrade validate: a sample was not graded as expected
EXIT_USAGE = 2
EXIT_CLUSTER = 3  # --scheduler: the cluster cannot grade (unreachable, no usable worker, connection lost)

__all__ = ["EXIT_CLUSTER", "EXIT_INVALID", "EXIT_OK", "EXIT_USAGE", "UsageError", "add_isolation", "add_rubric",
           "must_be_folder", "os_error_line", "progress_line", "writable_file", "writable_folder", "write_output"]


def add_rubric(p: argparse.ArgumentParser, help: str = "rubric YAML (default: ./rubric.yaml)") -> None:
    p.add_argument("--rubric", type=Path, help=help)


def add_isolation(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--isolation", choices=ISOLATION_CHOICES, default="auto", help=help)


def must_be_folder(option: str, path: Path | None) -> None:
    if path is not None and not path.is_dir():
        raise UsageError(f"{option} {path}: not a folder")


def writable_file(option: str, path: Path | None) -> None:
    """Checked before any work is done: ``path`` can be created or replaced as a file (a folder in its way, a
    file where a folder must be, or a place nobody may write is said now, not after grading)."""
    if path is None:
        return
    if path.is_dir():
        raise UsageError(f"{option} {path}: is a folder; give a file name (e.g. {path / 'report.txt'})")
    _writable_place(option, path, path.parent)


def writable_folder(option: str, path: Path | None) -> None:
    """``path`` is a folder, or can be made one, and files can be written in it."""
    if path is None:
        return
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path}: not a folder (a file of that name is in the way)")
    _writable_place(option, path, path)


def _writable_place(option: str, path: Path, folder: Path) -> None:
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{option} {path}: {existing} is not a folder")
    e = _write_probe(existing)
    if e is not None:
        why = "read-only for you" if isinstance(e, PermissionError) else (e.strerror or str(e)).lower()
        raise UsageError(f"{option} {path}: cannot write in {existing} ({why}); choose a folder you can write")


def _write_probe(folder: Path) -> OSError | None:
    """The only sure test of "can I write here": try it (root passes os.access everywhere, /proc included)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".mlgrade-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        return e
    return None


def class_writable(out: Path) -> None:
    """A graded class whose decisions are about to change: its folder and files must be writable by this user
    (a colleague's class, a read-only share), said before any decision is taken."""
    blocked = [p for p in (out, out / "overrides.yaml", out / "overrides.lock") if p.exists()
               and not os.access(p, os.W_OK)]
    e = None if blocked else _write_probe(out)
    probe_error = "" if e is None else e.strerror or str(e)
    if blocked or probe_error:
        where = blocked[0] if blocked else out
        raise UsageError(f"{where}: the class is read-only for you ({probe_error or 'permission denied'}); decisions "
                         "can be taken only where you can write: ask its owner, or copy the folder")


def cli_text(text: str | None) -> str | None:
    """A word from the command line as text: bytes that are not UTF-8 (a Latin-1 terminal) become what they
    most likely were, never an error."""
    if text is None:
        return None
    raw = os.fsencode(text)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def port_number(text: str) -> int:
    """``--port``: 0 (any free port) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 to 65535)") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0 for any free one, up to 65535)")
    return value


def os_error_line(e: OSError) -> str:
    """An OSError as one line a user can act on: the path, what went wrong, what to do."""
    where = f"{e.filename}: " if e.filename else ""
    if isinstance(e, PermissionError):
        return f"{where}permission denied (read-only for you); choose a place you can write, or ask its owner"
    if isinstance(e, FileNotFoundError):
        return f"{where}no such file or folder"
    return f"{where}{e.strerror.lower() if e.strerror else str(e)}"


def write_output(path: Path, data: str | bytes) -> None:
    write_bytes_atomic(path, data.encode("utf-8") if isinstance(data, str) else data)


@contextmanager
def progress_line(first: str) -> Iterator[None]:
    """A status line on the terminal while one submission is graded (what runs now, for how long); silent
    when stderr is not a terminal, so logs and pipes get the report only."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield
        return
    started = time.monotonic()
    now = [first]
    done = threading.Event()
    with console.status(escape(first)) as status:
        def tick() -> None:  # the seconds go on while one step waits (a cold model server, a long cell)
            while not done.wait(0.5):
                status.update(f"{escape(now[0])}  [dim]({time.monotonic() - started:.0f} s)[/dim]")

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            with progress.listening(lambda text: now.__setitem__(0, text)):
                yield
        finally:
            done.set()
            ticker.join()


def say(message: str) -> None:
    print(message, flush=True)


def note(message: str) -> None:
    print(f"mlgrade: note: {message}", file=sys.stderr)
