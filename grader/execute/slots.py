"""Sandbox slots claimed with a lock, so that two grading workers on one machine never share a uid.

Each grading worker runs its sandboxes as the uids of its *slot* (:func:`grader.execute.isolation.sandbox_uid`),
and ``RLIMIT_NPROC`` counts processes per uid machine-wide: two workers on one slot would eat into
each other's process limit, and could signal each other's sandboxes. Workers started by one
``mlgrade grade`` know each other, but two batches on one machine, or several Dask workers on
one machine, do not: so a slot is claimed by taking an exclusive ``flock`` on
``<slot dir>/<n>.lock``, held for as long as the claiming process lives (the kernel drops it
when the process dies, even by ``kill -9``: no stale claims).

The slot folder also holds each slot's scratch space (``<slot dir>/<n>/``), wiped when the slot
is claimed: whatever is there belonged to a holder that is gone. The folder must be owned by
this user and writable by nobody else (it is made that way; one found otherwise is refused),
since whoever could write there could plant links in a place the grader writes to.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

MAX_SLOTS = 256


class SlotError(RuntimeError):
    pass


def slot_dir() -> Path:
    """Where the locks live: one folder per user and sandbox uid base (``MLGRADE_SLOT_DIR`` overrides)."""
    explicit = os.environ.get("MLGRADE_SLOT_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("MLGRADE_SANDBOX_UID_BASE", "61000")
    return Path(tempfile.gettempdir()) / f"mlgrade-slots-{os.geteuid()}-{base}"


def _private_dir(path: Path) -> None:
    """Create ``path`` (mode 0755), or check that the existing one is ours and only ours to write."""
    try:
        os.mkdir(path, 0o755)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise SlotError(f"{path}: expected a folder for mlgrade's sandbox slots, found something else; remove it")
    if st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise SlotError(
            f"{path}: expected a folder owned by uid {os.geteuid()} and writable by nobody else, found owner "
            f"{st.st_uid} and mode {stat.S_IMODE(st.st_mode):o}; remove it (or set MLGRADE_SLOT_DIR)"
        )
    os.chmod(path, 0o755)  # the sandbox users must be able to traverse to a slot's work folders


@dataclass
class SlotClaim:
    """A claimed slot: its number and its scratch folder, until :meth:`release`."""

    slot: int
    scratch: Path
    _fd: int

    def release(self) -> None:
        if self._fd >= 0:
            shutil.rmtree(self.scratch, ignore_errors=True)
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = -1

    def __enter__(self) -> SlotClaim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def claim_slot(preferred: int = 0) -> SlotClaim:
    """The first free slot from ``preferred`` on (wrapping around).

    A lock is held per open file, so this process's own earlier claims count as taken too."""
    root = slot_dir()
    _private_dir(root)
    for i in range(MAX_SLOTS):
        n = (preferred + i) % MAX_SLOTS
        fd = os.open(root / f"{n}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        scratch = root / str(n)
        if scratch.is_symlink() or scratch.exists():
            # left by a holder that is gone (its lock would still be held otherwise); rmtree never follows links
            if scratch.is_symlink():
                scratch.unlink()
            else:
                shutil.rmtree(scratch)
        os.mkdir(scratch, 0o755)
        os.chmod(scratch, 0o755)
        return SlotClaim(n, scratch, fd)
    raise SlotError(f"all {MAX_SLOTS} sandbox slots in {root} are taken by running grading workers")


def claim_slots(n: int) -> list[SlotClaim]:
    """``n`` distinct slots, the lowest free ones (all or none)."""
    claims: list[SlotClaim] = []
    try:
        for _ in range(n):
            claims.append(claim_slot(len(claims)))
    except BaseException:
        for c in claims:
            c.release()
        raise
    return claims
