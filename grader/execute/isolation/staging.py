"""Staging: how files reach a sandbox without the grader ever touching a path a sandbox can write.

The grader makes a private folder (mode 0700, unpredictable name); below it, ``stage``
(0711: enterable, not listable) is what a sandbox sees read-only (bubblewrap binds it
at ``/mlgrade/stage``). Every staged item gets its own ``secrets.token_hex`` name.
Only the grader writes there; a sandbox reads. Answers never come back through it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from grader.core.portable import create_file, owned_by_me, pid_alive

PREFIX = "mlgrade-private-"
LINK_ABOVE = 1024 * 1024  # larger files are hard-linked (read-only in place), smaller ones copied


@dataclass(frozen=True)
class Staged:
    host: Path  # the grader's path
    inside: str  # the same folder as the sandbox sees it


class Staging:
    """A private folder for one service's inputs; removed by :meth:`close`."""

    def __init__(self, inside_root: str | None = None):
        sweep_stale()
        self.private = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
        self.root = self.private / "stage"
        self.root.mkdir(mode=0o711)
        os.chmod(self.root, 0o711)
        self.inside_root = inside_root or str(self.root)

    def new_dir(self, owner: int | None = None) -> Staged:
        """A fresh folder, readable by the sandbox (and owned by ``owner``, when given: a kernel
        may then change its copy through its own writable layer, never the staged bytes)."""
        token = secrets.token_hex(16)
        d = self.root / token
        d.mkdir(mode=0o755)
        os.chmod(d, 0o755)
        if owner is not None:
            os.chown(d, owner, owner)
        return Staged(d, f"{self.inside_root}/{token}")

    def put_file(self, folder: Staged, name: str, source: Path) -> str:
        """Stage ``source`` (a regular file of the grader's) as ``name`` in ``folder``; its inside path."""
        target = folder.host / name
        _link_or_copy(Path(source), target, owner=None, link=True)
        return f"{folder.inside}/{name}"

    def put_bytes(self, folder: Staged, name: str, data: bytes) -> str:
        target = folder.host / name
        fd = create_file(target)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(target, 0o644)
        return f"{folder.inside}/{name}"

    def put_tree(self, source: Path, owner: int | None, aliases: list[str] | None = None,
                 link_large: bool = True) -> Staged:
        """A copy of the grader's folder ``source``: folders and small files owned by ``owner``; large
        files hard-linked (ours, read-only) when ``link_large`` and possible. Symlinks are never
        followed nor copied."""
        folder = self.new_dir(owner)
        for root, dirs, files in os.walk(source, followlinks=False):
            rel = Path(root).relative_to(source)
            for d in dirs:
                src = Path(root) / d
                if src.is_symlink():
                    continue
                target = folder.host / rel / d
                target.mkdir(mode=0o755)
                os.chmod(target, 0o755)
                if owner is not None:
                    os.chown(target, owner, owner)
            for f in files:
                src = Path(root) / f
                if src.is_symlink() or not src.is_file():
                    continue
                _link_or_copy(src, folder.host / rel / f, owner, link=link_large)
        for alias in aliases or []:  # Colab paths like "Colab Notebooks/x" lead back to the top
            if alias and "/" not in alias and not os.path.lexists(folder.host / alias):
                try:
                    os.symlink(".", folder.host / alias, target_is_directory=True)
                except OSError:
                    pass  # Windows without the symlink privilege: the notebook's relative paths still work
        return folder

    def remove(self, folder: Staged) -> None:
        if folder.host.parent == self.root:
            shutil.rmtree(folder.host, ignore_errors=True)

    def private_dir(self) -> Path:
        """A folder for the grader's own use that no sandbox can see (beside, not below, ``stage``)."""
        return Path(tempfile.mkdtemp(prefix="out-", dir=self.private))

    def close(self) -> None:
        shutil.rmtree(self.private, ignore_errors=True)


@contextmanager
def closed_on_failure(staging: Staging) -> Iterator[Staging]:
    """Set up a sandbox in ``staging``: if anything inside fails, its folders go before the failure travels on."""
    try:
        yield staging
    except BaseException:
        staging.close()
        raise


def _link_or_copy(src: Path, target: Path, owner: int | None, link: bool) -> None:
    st = src.stat()
    size = st.st_size
    if link and (size > LINK_ABOVE or owner is None) and st.st_mode & 0o444 == 0o444:
        try:
            os.link(src, target, follow_symlinks=False)
            return  # our inode, mode 0644 from the unpacker: readable, never writable by a sandbox
        except OSError:
            pass
    shutil.copyfile(src, target, follow_symlinks=False)
    os.chmod(target, 0o644)
    if owner is not None and size <= LINK_ABOVE:
        os.chown(target, owner, owner)


def traversable_tmp() -> str:
    """A temporary folder every user can traverse: $TMPDIR when it is one (a private TMPDIR, e.g. under a
    0700 home, is not), else /tmp."""
    for candidate in (tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm"):
        path = Path(candidate)
        try:
            chain = [path, *path.parents]
            if path.is_dir() and all(p.stat().st_mode & 0o001 for p in chain):
                return str(path)
        except OSError:
            continue
    return "/tmp"


def sweep_stale() -> None:
    """Remove private folders of grader processes that died without cleaning up (``kill -9``, or a worker
    killed for its time): when the next service starts, and when a batch ends."""
    entries = []
    for base in dict.fromkeys((tempfile.gettempdir(), traversable_tmp())):
        try:
            entries += list(Path(base).iterdir())
        except OSError:
            continue
    for entry in entries:
        if not entry.name.startswith(PREFIX):
            continue
        pid = entry.name[len(PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or pid_alive(int(pid)):
            continue
        try:
            st = entry.lstat()
        except OSError:
            continue
        import stat

        if stat.S_ISDIR(st.st_mode) and owned_by_me(st):
            shutil.rmtree(entry, ignore_errors=True)
