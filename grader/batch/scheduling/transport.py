"""Submissions and hidden data as bytes, for workers that share no file system with the client.

A :class:`Parcel` carries one submission to a worker, which lays it out again in a private
folder under the same name and grades that with the same code as a local run, so the record
is the same:

- a file (a zip, or whatever the student handed in) travels as its bytes;
- a folder travels as a zip made here in memory, which the worker extracts back into a folder;
  the grader then copies that folder as it copies any folder submission (same junk rules, same
  notes, same content hash). Symbolic links and special files travel as markers and come back
  as stand-ins (a dangling link, a FIFO) that the grader skips with its usual note, never
  following them;
- nothing beyond the rubric's unpack limits is read into memory: a file over the archive
  limit, or a folder over the size or entry limits, travels as its sizes only and comes back as
  sparse files of those sizes, which the grader refuses with exactly the local message, before
  reading a byte.

The hidden data folder travels once per worker, as a zip of its files and folders
(:func:`pack_folder_plain`), and is never bound into a sandbox there either. So do the rubric's
own files (instructors' tests, reference modules, plugins, data next to the rubric:
:func:`pack_files`), laid out again around the rubric on the worker, so that a worker machine
needs mlgrade installed but not the course's folder. Back from a worker
come the record (JSON) and the review previews the grader wrote for it (:func:`take_previews`,
:func:`keep_previews`): content-addressed PNGs, checked again on arrival.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from grader.checks.thumbnails import PREVIEW_SIDE
from grader.core.files import write_bytes_atomic
from grader.core.png import png_size
from grader.intake.unpack import UnpackLimits, safe_relpath, walk_folder

MAX_HIDDEN_BYTES = 1024**3
_SIZE_ONLY = b"mlgrade:size="  # entry comment of a file sent as its size only
_DANGLING = "/nonexistent/mlgrade-symlink-stand-in"


class TransportError(ValueError):
    pass


@dataclass(frozen=True)
class Parcel:
    """One submission as bytes: ``kind`` is "file", "folder" (``data`` is a zip) or "symlink"."""

    name: str
    kind: str
    data: bytes = b""
    size: int = -1  # a file sent as its size only (over the archive limit): that size


def pack(source: Path, limits: UnpackLimits) -> Parcel:
    source = Path(source)
    if source.is_symlink():
        return Parcel(source.name, "symlink")
    if source.is_dir():
        return Parcel(source.name, "folder", _pack_submission_folder(source, limits))
    size = source.stat().st_size
    if size > limits.max_archive_bytes:
        return Parcel(source.name, "file", size=size)
    return Parcel(source.name, "file", source.read_bytes())


def _entry(name: str, mode: int, comment: bytes = b"") -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = mode << 16
    info.comment = comment
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _pack_submission_folder(src: Path, limits: UnpackLimits) -> bytes:
    """The folder as :func:`grader.intake.unpack.walk_folder` sees it, so that what the worker copies is what
    a local run would: files with their bytes; links, special files and skipped names as empty markers."""
    markers: list[zipfile.ZipInfo] = []  # junk folders, links, special files, placeholders
    counted: list[tuple[str, Path, int]] = []  # files the grader will copy: (relative name, path, size)
    marker_mode = {"link": stat.S_IFLNK | 0o777, "special": stat.S_IFIFO | 0o644,
                   "too_deep": stat.S_IFREG | 0o644}  # skipped by depth: never read
    for e in walk_folder(src, limits):
        if e.kind == "file":
            counted.append((e.rel, e.path, e.size))
        elif e.kind == "junk":
            markers.append(_entry(e.rel, (stat.S_IFDIR | 0o755) if e.rel.endswith("/") else (stat.S_IFREG | 0o644)))
        else:
            markers.append(_entry(e.rel, marker_mode[e.kind]))
    over = (len(counted) > limits.max_entries or sum(size for *_, size in counted) > limits.max_total_bytes
            or any(size > limits.max_entry_bytes for *_, size in counted))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compresslevel=1) as z:
        for info in markers:
            z.writestr(info, b"")
        for rel, p, size in counted:
            if over:  # the grader refuses it on sizes alone: send no content
                z.writestr(_entry(rel, stat.S_IFREG | 0o644, _SIZE_ONLY + str(size).encode()), b"")
            else:
                with open(p, "rb") as f:
                    z.writestr(_entry(rel, stat.S_IFREG | 0o644), f.read())
    return buf.getvalue()


def pack_folder_plain(folder: Path, max_bytes: int = MAX_HIDDEN_BYTES) -> bytes:
    """Every folder and regular file under ``folder`` (links are not followed), as a zip."""
    folder = Path(folder).resolve()
    buf = io.BytesIO()
    total = 0
    with zipfile.ZipFile(buf, "w", compresslevel=1) as z:
        for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
            dirnames.sort()
            for d in dirnames:
                p = Path(dirpath) / d
                if not p.is_symlink():
                    z.writestr(_entry(p.relative_to(folder).as_posix() + "/", stat.S_IFDIR | 0o755), b"")
            for name in sorted(filenames):
                p = Path(dirpath) / name
                if not stat.S_ISREG(p.lstat().st_mode):
                    continue
                total += p.lstat().st_size
                if total > max_bytes:
                    raise TransportError(f"{folder}: more than {max_bytes // 1024**2} MiB of hidden data; every "
                                         "worker gets a copy, so keep it smaller")
                z.writestr(_entry(p.relative_to(folder).as_posix(), stat.S_IFREG | 0o644), p.read_bytes())
    return buf.getvalue()


def pack_files(files: list[tuple[Path, str]], max_bytes: int = MAX_HIDDEN_BYTES) -> bytes:
    """``(path, relative name)`` pairs (a rubric's own files) as a zip that :func:`extract` lays out again."""
    buf = io.BytesIO()
    total = 0
    with zipfile.ZipFile(buf, "w", compresslevel=1) as z:
        for path, rel in files:
            data = Path(path).read_bytes()
            total += len(data)
            if total > max_bytes:
                raise TransportError(f"the rubric's files are over {max_bytes // 1024**2} MiB; every worker gets a "
                                     "copy, so put large data in --hidden instead")
            z.writestr(_entry(rel, stat.S_IFREG | 0o644), data)
    return buf.getvalue()


def _single_name(name: str) -> str:
    if not name or "/" in name or "\0" in name or name in (".", ".."):
        raise TransportError(f"{name!r}: not a file name")
    return name


def unpack_parcel(parcel: Parcel, into: Path) -> Path:
    """Lay ``parcel`` out in the private, empty folder ``into``; returns the submission's path there."""
    target = Path(into) / _single_name(parcel.name)
    if parcel.kind == "symlink":
        os.symlink(_DANGLING, target)
    elif parcel.kind == "file":
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            if parcel.size >= 0:
                f.truncate(parcel.size)  # sparse: no disk used, only its size is ever looked at
            else:
                f.write(parcel.data)
    elif parcel.kind == "folder":
        os.mkdir(target, 0o700)
        extract(parcel.data, target)
    else:
        raise TransportError(f"unknown parcel kind {parcel.kind!r}")
    return target


def extract(data: bytes, dest: Path) -> None:
    """Extract a zip made by this module into the empty folder ``dest``, never writing outside it."""
    links: set[str] = set()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for info in z.infolist():
            is_dir = info.filename.endswith("/")
            try:
                rel = safe_relpath(info.filename.rstrip("/"), max_depth=1 << 10)
            except Exception as e:  # unpack's own refusal type is private
                raise TransportError(f"{info.filename!r}: {e}") from None
            parents = rel.split("/")[:-1]
            if any("/".join(parents[: i + 1]) in links for i in range(len(parents))):
                raise TransportError(f"{rel}: under a link")
            out = dest / rel
            os.makedirs(out.parent, mode=0o700, exist_ok=True)
            kind = stat.S_IFMT(info.external_attr >> 16)
            if is_dir or kind == stat.S_IFDIR:
                os.makedirs(out, mode=0o700, exist_ok=True)
            elif kind == stat.S_IFLNK:
                os.symlink(_DANGLING, out)
                links.add(rel)
            elif kind == stat.S_IFIFO:
                os.mkfifo(out, 0o600)
            else:
                fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                with os.fdopen(fd, "wb") as f:
                    if info.comment.startswith(_SIZE_ONLY):
                        f.truncate(int(info.comment[len(_SIZE_ONLY):]))
                    else:
                        with z.open(info) as src:
                            while chunk := src.read(1 << 20):
                                f.write(chunk)


_PREVIEW_NAME = re.compile(r"[0-9a-f]{64}\.png")
MAX_PREVIEW_BYTES = 16 * 1024**2


def take_previews(folder: Path) -> dict[str, bytes]:
    """The previews the grader wrote into ``folder`` (a worker's private one) for one submission,
    removed from there."""
    found = {}
    for entry in os.scandir(folder):
        st = entry.stat(follow_symlinks=False)
        if _PREVIEW_NAME.fullmatch(entry.name) and stat.S_ISREG(st.st_mode) and st.st_size <= MAX_PREVIEW_BYTES:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as f:
                found[entry.name] = f.read(MAX_PREVIEW_BYTES + 1)
        os.unlink(entry.path)
    return found


def keep_previews(previews: dict[str, bytes], folder: Path) -> None:
    """Write previews that came from a worker where a local run writes them: only names of the form
    ``<sha256 of the bytes>.png`` holding a PNG of sane size, as the review page serves nothing else."""
    for name, raw in previews.items():
        if not (isinstance(name, str) and isinstance(raw, bytes) and _PREVIEW_NAME.fullmatch(name)):
            continue
        if hashlib.sha256(raw).hexdigest() + ".png" != name or png_size(raw, PREVIEW_SIDE) is None:
            continue
        if not (Path(folder) / name).is_file():
            write_bytes_atomic(Path(folder) / name, raw, mode=0o600)
