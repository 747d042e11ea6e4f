"""Stage 1: unpack a submission (a .zip or a folder) safely into a fresh work folder.

Whatever the archive holds, nothing lands outside ``dest``: names with ``..``,
absolute paths, drive letters and symlink entries are refused entry by entry;
zip bombs are refused before a byte is extracted; encrypted, corrupt and
non-zip files get a message naming the entry and what was wrong. Junk that
zip tools add (``__MACOSX/``, ``.DS_Store``, ``Thumbs.db``) is ignored, a
single top-level folder is looked through, one level of nested zip is opened,
and names written without the UTF-8 flag are repaired (cp437 mojibake).

Per-entry problems skip that entry and are reported; problems that make the
whole archive untrustworthy (bombs, corruption, not a zip) raise
:class:`UnpackRefused`.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from grader.core import portable

KiB, MiB, GiB = 1024, 1024**2, 1024**3

JUNK_DIRS = {"__macosx", ".ipynb_checkpoints", "__pycache__"}
JUNK_FILES = {".ds_store", "thumbs.db", "desktop.ini", "ehthumbs.db"}
_CHUNK = 1 * MiB
# A whole entry path's bytes: 32 folders of 255 bytes would pass the part and depth limits, yet no file system
# opens a path of 8 KB (Linux: 4,096 with the work folder in front).
MAX_PATH_BYTES = 1024


class UnpackLimits(BaseModel):
    """Limits that keep a hostile archive from filling the disk. Configurable in the rubric."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_archive_bytes: int = Field(1 * GiB, gt=0, description="size of the .zip itself")
    max_total_bytes: int = Field(512 * MiB, gt=0, description="sum of all extracted sizes")
    max_entry_bytes: int = Field(256 * MiB, gt=0, description="size of one extracted file")
    max_entries: int = Field(5000, gt=0, description="number of entries, nested zips included")
    max_ratio: float = Field(200.0, gt=1, description="uncompressed:compressed size of one entry")
    ratio_min_bytes: int = Field(1 * MiB, ge=0, description="entries smaller than this skip the ratio test")
    max_depth: int = Field(32, gt=0, description="folder depth of an entry")


class UnpackRefused(Exception):
    """The whole submission cannot be unpacked; the message says why, for the student."""


@dataclass
class UnpackReport:
    root: Path  # where the submission's files start (after looking through a single top folder)
    files: list[str] = field(default_factory=list)  # relative to root, posix, sorted
    skipped: dict[str, str] = field(default_factory=dict)  # entry name -> why it was not extracted
    ignored: list[str] = field(default_factory=list)  # junk added by zip tools
    notes: list[str] = field(default_factory=list)
    content_hash: str = ""


def unpack(source: Path, dest: Path, limits: UnpackLimits | None = None) -> UnpackReport:
    """Unpack ``source`` (zip or folder) into ``dest``, which must not exist yet."""
    limits = limits or UnpackLimits()
    source = Path(source)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=False)
    os.chmod(dest, 0o755)
    dest = dest.resolve()
    report = UnpackReport(root=dest)
    budget = _Budget(limits)

    if source.is_symlink():
        raise UnpackRefused(f"{source.name}: is a symbolic link; submit the file itself")
    if source.is_dir():
        _copy_folder(source, dest, limits, budget, report)
    elif source.is_file():
        report.content_hash = _file_hash(source)
        _check_is_zip(source, limits)
        _extract_zip(source, source.name, dest, limits, budget, report, level=0)
    else:
        raise UnpackRefused(f"{source}: no such file or folder")

    report.root = _look_through_single_folder(dest, report)
    report.files = sorted(
        p.relative_to(report.root).as_posix()
        for p in report.root.rglob("*")
        if p.is_file() and not p.is_symlink()
    )
    return report


# --------------------------------------------------------------------------- names

class _EntryRefused(Exception):
    pass


def repair_name(info: zipfile.ZipInfo) -> str:
    """Undo cp437 mojibake: zip tools that wrote UTF-8 bytes without setting the UTF-8 flag."""
    name = info.filename
    if info.flag_bits & 0x800:
        return name
    try:
        fixed = name.encode("cp437").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return name
    return fixed


def safe_relpath(name: str, max_depth: int = 32) -> str:
    """The entry's path relative to the work folder, or :class:`_EntryRefused` saying why not."""
    if "\x00" in name:
        raise _EntryRefused("the name contains a NUL character")
    n = name.replace("\\", "/")  # Windows tools write backslashes; treat them as separators
    if n.startswith("/"):
        raise _EntryRefused("absolute path (would be written outside the submission folder)")
    if re.match(r"^[A-Za-z]:", n):
        raise _EntryRefused("path with a drive letter (would be written outside the submission folder)")
    parts = [p for p in n.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _EntryRefused("path contains '..' (would be written outside the submission folder)")
    if not parts:
        raise _EntryRefused("empty name")
    if len(parts) > max_depth:
        raise _EntryRefused(f"folder depth {len(parts)} exceeds the limit of {max_depth}")
    if len("/".join(parts).encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES:
        raise _EntryRefused(f"the path is longer than {MAX_PATH_BYTES:,} bytes")
    for p in parts:
        if len(p.encode("utf-8", "surrogateescape")) > 255:
            raise _EntryRefused("a part of the name is longer than 255 bytes")
        if portable.IS_WINDOWS and (why := portable.windows_name_problem(p)):
            raise _EntryRefused(f"{why}; rename it")
    return "/".join(parts)


def is_junk(relpath: str) -> bool:
    parts = relpath.lower().split("/")
    if any(p in JUNK_DIRS for p in parts[:-1]) or parts[0] in JUNK_DIRS:
        return True
    base = parts[-1]
    return base in JUNK_FILES or base.startswith("._")


# --------------------------------------------------------------------------- budget

class _Budget:
    """Bytes and entries left for this submission, shared by nested zips."""

    def __init__(self, limits: UnpackLimits):
        self.bytes_left = limits.max_total_bytes
        self.entries_left = limits.max_entries
        self.limits = limits

    def take_entries(self, n: int, where: str) -> None:
        if n > self.entries_left:
            raise UnpackRefused(
                f"{where}: {n:,} entries exceed the limit of {self.limits.max_entries:,} entries"
            )
        self.entries_left -= n


def _fmt_bytes(n: float) -> str:
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} bytes"


# --------------------------------------------------------------------------- zips

_MAGIC = [
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"%PDF", "a PDF document"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x1f\x8b", "a gzip/tar.gz archive"),
    (b"\x89HDF", "an HDF5 (.h5) file"),
    (b"GIF8", "a GIF image"),
    (b"{", "a JSON/text file (a notebook?)"),
]


def sniff(head: bytes) -> str:
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "a tar archive"
    return "not a zip archive"


def _check_is_zip(path: Path, limits: UnpackLimits) -> None:
    size = path.stat().st_size
    if size > limits.max_archive_bytes:
        raise UnpackRefused(
            f"{path.name}: the archive is {_fmt_bytes(size)}, over the limit of "
            f"{_fmt_bytes(limits.max_archive_bytes)}"
        )
    if size == 0:
        raise UnpackRefused(f"{path.name}: the file is empty (0 bytes); expected a .zip")
    with open(path, "rb") as f:
        head = f.read(512)
    if not zipfile.is_zipfile(path):
        if head.startswith(b"PK"):
            raise UnpackRefused(f"{path.name}: corrupt or truncated zip (no end-of-archive record)")
        raise UnpackRefused(f"{path.name}: is {sniff(head)}, not a zip; submit one .zip file")


# The central directory: a 46-byte header per entry plus its name, extra field and comment.
_CD_HEADER = 46
_CD_SIGNATURE = b"PK\x01\x02"
MAX_CENTRAL_DIRECTORY_BYTES = 64 * MiB


def _central_directory_guard(path: Path, display: str, limits: UnpackLimits) -> None:
    """Count the entries of the central directory ourselves, stopping at the limit, before zipfile
    reads it: zipfile trusts the directory's declared size and builds an object per entry, so a
    47 MB zip whose end record says "1 entry" but whose directory holds millions cost 466 MiB."""
    try:
        with open(path, "rb") as f:
            rec = zipfile._EndRecData(f)  # type: ignore[attr-defined]  # also reads ZIP64 end records
            if not rec:
                return  # zipfile.ZipFile refuses it with a clear error
            declared = int(rec[zipfile._ECD_ENTRIES_TOTAL])  # type: ignore[attr-defined]
            cd_size = int(rec[zipfile._ECD_SIZE])  # type: ignore[attr-defined]
            cd_offset = int(rec[zipfile._ECD_OFFSET])  # type: ignore[attr-defined]
            end_at = int(rec[zipfile._ECD_LOCATION])  # type: ignore[attr-defined]
            if declared > limits.max_entries:
                raise UnpackRefused(
                    f"{display}: {declared:,} entries exceed the limit of {limits.max_entries:,} entries")
            budget = min(MAX_CENTRAL_DIRECTORY_BYTES, limits.max_entries * (_CD_HEADER + 3 * 1024) + 64 * KiB)
            if cd_size > budget:
                raise UnpackRefused(f"{display}: the zip's directory is {_fmt_bytes(cd_size)}, too large for "
                                    f"{limits.max_entries:,} entries; the archive is malformed")
            # zipfile finds the directory relative to the end record (archives with a prefix): do the same.
            zip64 = rec[zipfile._ECD_SIGNATURE] == zipfile.stringEndArchive64  # type: ignore[attr-defined]
            # the ZIP64 end record and its locator: zipfile's constants, which typeshed does not declare
            zip64_tail = zipfile.sizeEndCentDir64 + zipfile.sizeEndCentDir64Locator  # type: ignore[attr-defined]
            start = end_at - cd_size - (zip64_tail if zip64 else 0)
            if start < 0:
                start = cd_offset
            f.seek(max(start, 0))
            data = f.read(cd_size)
    except UnpackRefused:
        raise
    except Exception:  # unusual end records are left to zipfile, which refuses what it cannot read
        return
    pos = count = 0
    while pos + _CD_HEADER <= len(data) and data[pos : pos + 4] == _CD_SIGNATURE:
        count += 1
        if count > limits.max_entries:
            raise UnpackRefused(f"{display}: more than {limits.max_entries:,} entries (the limit), although the "
                                f"archive declares {declared:,}")
        n, m, k = (int.from_bytes(data[pos + o : pos + o + 2], "little") for o in (28, 30, 32))
        pos += _CD_HEADER + n + m + k


def _extract_zip(
    path: Path,
    display: str,
    target: Path,
    limits: UnpackLimits,
    budget: _Budget,
    report: UnpackReport,
    level: int,
    prefix: str = "",
) -> None:
    _central_directory_guard(path, display, limits)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError) as e:
        raise UnpackRefused(f"{display}: corrupt zip ({e})") from None
    with zf:
        infos = zf.infolist()
        budget.take_entries(len(infos), display)
        _refuse_bombs(infos, display, limits, budget)
        encrypted = [i for i in infos if i.flag_bits & 0x1]
        if infos and len(encrypted) == len(infos):
            raise UnpackRefused(
                f"{display}: the zip is password-protected (encrypted); re-create it without a password"
            )
        written: set[str] = set()
        for info in infos:
            raw_name = repair_name(info)
            label = prefix + raw_name
            if raw_name.endswith(("/", "\\")) or info.filename.endswith("/"):  # a folder (is_dir() fails on "")
                continue
            try:
                rel = safe_relpath(raw_name, limits.max_depth)
            except _EntryRefused as why:
                report.skipped[label] = f"not extracted: {why}"
                continue
            if is_junk(rel):
                report.ignored.append(prefix + rel)
                continue
            mode = info.external_attr >> 16
            if info.create_system == 3 and stat.S_ISLNK(mode):
                report.skipped[label] = "not extracted: symbolic link entries are never followed or created"
                continue
            if info.create_system == 3 and mode and stat.S_IFMT(mode) and not stat.S_ISREG(mode):
                report.skipped[label] = "not extracted: not a regular file"
                continue
            if info.flag_bits & 0x1:
                report.skipped[label] = "not extracted: the entry is encrypted (password-protected)"
                continue
            if rel in written:
                report.skipped[label] = "not extracted: a second entry with the same name"
                continue
            out = target / rel
            if not _inside(out, report.root):
                report.skipped[label] = "not extracted: would be written outside the submission folder"
                continue
            try:
                _make_parents(out, target)
                _stream_entry(zf, info, out, label, limits, budget)
            except _EntryRefused as why:
                report.skipped[label] = f"not extracted: {why}"
                continue
            except OSError as e:
                if e.errno != errno.ENAMETOOLONG:
                    raise  # the disk or the work folder: the grader's problem, said as such by the caller
                report.skipped[label] = "not extracted: the path is too long for this file system"
                continue
            written.add(rel)
            if rel.lower().endswith(".zip"):
                _open_nested(out, rel, label, target, limits, budget, report, level)


def _refuse_bombs(infos: list[zipfile.ZipInfo], display: str, limits: UnpackLimits, budget: _Budget) -> None:
    total = 0
    for info in infos:
        name = repair_name(info)
        if info.file_size > limits.max_entry_bytes:
            raise UnpackRefused(
                f"{display}: entry '{name}' would expand to {_fmt_bytes(info.file_size)}, over the "
                f"per-file limit of {_fmt_bytes(limits.max_entry_bytes)}"
            )
        if info.file_size >= limits.ratio_min_bytes and info.file_size > 0:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_ratio:
                raise UnpackRefused(
                    f"{display}: entry '{name}' expands {ratio:,.0f}:1 ({_fmt_bytes(info.compress_size)} -> "
                    f"{_fmt_bytes(info.file_size)}), over the compression-ratio limit of "
                    f"{limits.max_ratio:,.0f}:1 (a zip bomb?)"
                )
        total += info.file_size
    if total > budget.bytes_left:
        raise UnpackRefused(
            f"{display}: would expand to {_fmt_bytes(total)} in all, over the limit of "
            f"{_fmt_bytes(limits.max_total_bytes)}"
        )


def _stream_entry(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, out: Path, label: str, limits: UnpackLimits, budget: _Budget
) -> None:
    """Copy one entry with a byte counter: declared sizes are checked, not trusted."""
    allowed = min(info.file_size, limits.max_entry_bytes, budget.bytes_left)
    try:
        fd = portable.create_file(out)
    except FileExistsError:
        raise _EntryRefused("a file or folder with that name already exists") from None
    except OSError as e:
        raise _EntryRefused(f"cannot be written ({e.strerror})") from None
    portable.fchmod(fd, 0o644)  # readable by the sandbox user whatever the umask; never executable
    written = 0
    try:
        with os.fdopen(fd, "wb") as dst, zf.open(info) as src:
            while True:
                chunk = src.read(_CHUNK)
                if not chunk:
                    break
                written += len(chunk)
                if written > allowed:
                    raise _EntryRefused(
                        f"expands past its declared size or the limit of {_fmt_bytes(allowed)}"
                    )
                dst.write(chunk)
    except _EntryRefused:
        out.unlink(missing_ok=True)
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as e:
        out.unlink(missing_ok=True)
        raise _EntryRefused(f"corrupt data ({e})") from None
    except NotImplementedError as e:
        out.unlink(missing_ok=True)
        raise _EntryRefused(f"unsupported compression ({e})") from None
    except RuntimeError as e:  # zipfile raises this for encrypted members
        out.unlink(missing_ok=True)
        raise _EntryRefused(f"cannot be read ({e})") from None
    budget.bytes_left -= written


def _open_nested(
    zip_path: Path, rel: str, label: str, target: Path, limits: UnpackLimits,
    budget: _Budget, report: UnpackReport, level: int,
) -> None:
    if level >= 1:
        report.notes.append(f"'{label}' was left as a file: only one level of nested zip is opened")
        return
    if not zipfile.is_zipfile(zip_path):
        report.skipped[label] = "not opened: the nested .zip is corrupt or not a zip"
        zip_path.unlink(missing_ok=True)
        return
    folder = zip_path.with_suffix("")
    n = 1
    while folder.exists():
        n += 1
        folder = zip_path.with_name(f"{zip_path.stem}_{n}")
    size = zip_path.stat().st_size
    folder.mkdir()
    os.chmod(folder, 0o755)
    try:
        _extract_zip(zip_path, label, folder, limits, budget, report, level + 1, prefix=label + "/")
    except UnpackRefused as why:
        report.skipped[label] = f"not opened: {str(why).removeprefix(label + ': ')}"
    finally:
        zip_path.unlink(missing_ok=True)
        budget.bytes_left += size  # the nested archive itself is gone again
    report.notes.append(f"opened the nested zip '{label}' into '{folder.relative_to(target).as_posix()}/'")


def _inside(path: Path, root: Path) -> bool:
    try:
        resolved = path.parent.resolve()
    except OSError:
        return False
    return resolved == root or root in resolved.parents


def _make_parents(out: Path, target: Path) -> None:
    parent = out.parent
    rel_parts = parent.relative_to(target).parts
    cur = target
    for part in rel_parts:
        cur = cur / part
        if cur.is_symlink():
            raise _EntryRefused(f"folder '{part}' is a symbolic link")
        if cur.exists() and not cur.is_dir():
            raise _EntryRefused(f"'{part}' is a file, not a folder")
        if not cur.exists():
            cur.mkdir()
            os.chmod(cur, 0o755)


# --------------------------------------------------------------------------- folders

@dataclass(frozen=True)
class FolderEntry:
    """One thing found in a folder submission. ``kind``: ``file`` (to be copied), ``link``, ``special``
    (a fifo, socket or device), ``junk`` (``__MACOSX``, ``.DS_Store``; ``rel`` ends in ``/`` for a
    folder) or ``too_deep``: only ``file`` entries are ever opened."""

    rel: str
    path: Path
    kind: str
    size: int = 0


def walk_folder(src: Path, limits: UnpackLimits) -> list[FolderEntry]:
    """A folder submission's entries in a fixed order, without following links or reading contents.

    The one walk of a folder submission: the copy here and the parcel a Dask worker receives
    (:mod:`grader.batch.scheduling.transport`) both see exactly these entries."""
    src = src.resolve()
    found: list[FolderEntry] = []
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        dirnames.sort()
        for d in list(dirnames):
            p = Path(dirpath) / d
            rel = p.relative_to(src).as_posix()
            if p.is_symlink():
                found.append(FolderEntry(rel, p, "link"))
                dirnames.remove(d)
            elif d.lower() in JUNK_DIRS:
                found.append(FolderEntry(rel + "/", p, "junk"))
                dirnames.remove(d)
        for name in sorted(filenames):
            p = Path(dirpath) / name
            rel = p.relative_to(src).as_posix()
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                kind = "link"
            elif not stat.S_ISREG(st.st_mode):
                kind = "special"
            elif is_junk(rel):
                kind = "junk"
            elif rel.count("/") + 1 > limits.max_depth:
                kind = "too_deep"
            else:
                kind = "file"
            found.append(FolderEntry(rel, p, kind, st.st_size if kind == "file" else 0))
    return found


def _copy_folder(src: Path, dest: Path, limits: UnpackLimits, budget: _Budget, report: UnpackReport) -> None:
    """Copy a folder submission without following links; the same limits as a zip apply."""
    src = src.resolve()
    digest = hashlib.sha256()
    entries: list[FolderEntry] = []
    for e in walk_folder(src, limits):
        if e.kind == "link":
            report.skipped[e.rel] = "not copied: symbolic links are never followed"
        elif e.kind == "special":
            report.skipped[e.rel] = "not copied: not a regular file"
        elif e.kind == "junk":
            report.ignored.append(e.rel)
        elif e.kind == "too_deep":
            report.skipped[e.rel] = f"not copied: folder depth exceeds the limit of {limits.max_depth}"
        else:
            entries.append(e)
    budget.take_entries(len(entries), src.name + "/")
    total = 0
    for e in entries:
        if e.size > limits.max_entry_bytes:
            raise UnpackRefused(
                f"{src.name}/: '{e.rel}' is {_fmt_bytes(e.size)}, over the per-file limit of "
                f"{_fmt_bytes(limits.max_entry_bytes)}"
            )
        total += e.size
    if total > limits.max_total_bytes:
        raise UnpackRefused(
            f"{src.name}/: {_fmt_bytes(total)} in all, over the limit of {_fmt_bytes(limits.max_total_bytes)}"
        )
    for e in entries:
        rel, p = e.rel, e.path
        out = dest / rel
        _make_parents(out, dest)
        fd_in = portable.open_nofollow(p)
        fd_out = portable.create_file(out)
        portable.fchmod(fd_out, 0o644)
        file_hash = hashlib.sha256()
        with os.fdopen(fd_in, "rb") as fi, os.fdopen(fd_out, "wb") as fo:
            while chunk := fi.read(_CHUNK):
                file_hash.update(chunk)
                fo.write(chunk)
        digest.update(rel.encode("utf-8", "surrogateescape") + b"\0" + file_hash.digest())
        budget.bytes_left -= p.lstat().st_size
        if rel.lower().endswith(".zip"):
            _open_nested(out, rel, rel, dest, limits, budget, report, level=0)
    report.content_hash = digest.hexdigest()


def _look_through_single_folder(dest: Path, report: UnpackReport) -> Path:
    root = dest
    while True:
        children = [c for c in root.iterdir()]
        if len(children) == 1 and children[0].is_dir() and not children[0].is_symlink():
            root = children[0]
            report.notes.append(f"looked through the single top-level folder '{root.relative_to(dest).as_posix()}/'")
        else:
            return root


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()
