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
