"""Writing output files so that a reader (or a crash) never sees half a file."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def write_bytes_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Outputs are readable by others (0644); private files (the result store) pass 0o600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def json_text(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def write_json_atomic(path: Path, data: Any, mode: int = 0o644) -> None:
    # "replace": a lone surrogate that reached a record some other way costs one character, not the file
    write_bytes_atomic(path, json_text(data).encode("utf-8", "replace"), mode)


@contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """An exclusive lock between processes (``mlgrade review``, ``mlgrade override``, a regrade) for a
    read-modify-write of a shared file. The lock is a separate file: the data file itself is replaced
    atomically, so its inode changes under any lock held on it."""
    lock_file = Path(lock_file)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(lock_file, flags, 0o600)
    try:
        _lock(fd)
        yield
    finally:
        os.close(fd)  # releases the lock


class Busy(OSError):
    """Another process holds the lock; the message says who."""


@contextmanager
def held_or_refused(lock_file: Path, holder: str) -> Iterator[None]:
    """An exclusive lock taken at once or refused with :class:`Busy` naming who holds it (``holder`` is what
    this process writes into the lock file for the next one to read). Without flock (Windows), no lock."""
    lock_file = Path(lock_file)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(lock_file, flags, 0o644)
    try:
        if sys.platform != "win32":
            import fcntl

            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                who = os.pread(fd, 500, 0).decode("utf-8", "replace").strip() or "another process"
                raise Busy(f"{lock_file.parent.parent} is being graded by {who}; wait for that run to end, or "
                           "grade into another --out") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, holder.encode("utf-8", "replace"), 0)
        yield
    finally:
        os.close(fd)


def _lock(fd: int) -> None:
    """flock where it exists; on Windows (a student's self-check) a byte-range lock, retried."""
    if sys.platform == "win32":  # Windows has no fcntl
        import msvcrt
        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # itself retries for ~10 s before raising
                return
            except OSError:
                continue
    import fcntl
    fcntl.flock(fd, fcntl.LOCK_EX)


def user_cache_dir() -> Path:
    """mlgrade's folder in this user's cache (``XDG_CACHE_HOME``, Windows' ``LOCALAPPDATA``, ``~/.cache``)."""
    base = os.environ.get("XDG_CACHE_HOME") or (
        os.environ.get("LOCALAPPDATA") if sys.platform == "win32" else None) or str(Path.home() / ".cache")
    return Path(base) / "mlgrade"
