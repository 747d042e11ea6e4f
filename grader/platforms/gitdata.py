"""Git as data: read a student's repository without running anything it (or the instructor's git
configuration) asks for, within a time and a byte budget.

A student controls everything inside their repository: ``.gitattributes`` (filter drivers, which
``git archive`` runs: with git-lfs installed, ``.lfsconfig`` made the grader's git POST to an address
the student chose), ``.gitmodules``, replace refs, and the number and size of its files (a 6 MiB
repository naming one 1 MiB blob 2,000 times was a 2.1 GB ``git archive``). So:

- git runs with no system or global configuration (``GIT_CONFIG_NOSYSTEM``, ``GIT_CONFIG_GLOBAL=
  /dev/null``) and ``-c`` overrides (:data:`SAFE_CONFIG`): no hooks, no fsmonitor, no filter
  driver, no credential helper but the grader's choice, only the transports clone URLs use, no
  automatic gc or maintenance, no replace objects;
- git gets a minimal environment (:func:`git_env`): ``PATH``, ``HOME``, locale C, and what reaching
  the instructor's remotes needs (proxy, ssh agent, ``gh``'s token), nothing else of the
  instructor's;
- nothing is checked out or archived: a snapshot is the commit's tree as ``git ls-tree`` lists it
  (sizes included), checked against the rubric's unpack limits *before* a byte is written, and its
  blobs copied raw from ``git cat-file --batch`` with a byte count: no attribute, filter or
  conversion applies to a raw object;
- every command runs in its own process group under one deadline per student; when it passes the
  whole group is killed (a remote helper holding the pipes included) and that student gets the
  reason, the others are not delayed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from grader.intake.unpack import UnpackLimits

DEFAULT_TIMEOUT = 300.0  # seconds of git per student: fetching, listing and copying the commit
_MAX_RECORD = 64 * 1024  # one ls-tree record (mode, type, id, size, path)

SAFE_CONFIG = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.attributesFile=/dev/null",
    "core.askPass=",
    "credential.helper=",
    "filter.lfs.smudge=",
    "filter.lfs.clean=",
    "filter.lfs.process=",
    "filter.lfs.required=false",
    "protocol.allow=never",
    "protocol.file.allow=always",
    "protocol.git.allow=always",
    "protocol.http.allow=always",
    "protocol.https.allow=always",
    "protocol.ssh.allow=always",
    "protocol.ext.allow=never",
    "submodule.recurse=false",
    "fetch.recurseSubmodules=false",
    "gc.auto=0",
    "maintenance.auto=false",
    "http.lowSpeedLimit=1000",
    "http.lowSpeedTime=60",
)
# The instructor's own ways of reaching remotes; nothing else of their environment reaches git.
_PASSED = ("PATH", "HOME", "TMPDIR", "SUDO_UID", "SSH_AUTH_SOCK", "GIT_SSH", "GIT_SSH_COMMAND",
           "http_proxy", "https_proxy", "no_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
           "ALL_PROXY", "GIT_SSL_CAINFO", "SSL_CERT_FILE", "SSL_CERT_DIR", "GH_TOKEN", "GITHUB_TOKEN", "GH_HOST",
           "GH_CONFIG_DIR", "XDG_CONFIG_HOME")


class GitError(ValueError):
    """git failed on this repository, or it breaks a limit; the message says which, for the report."""


class GitTimeout(GitError):
    """This student's git ran past its deadline (and was killed)."""


class OverLimit(GitError):
    """The commit breaks one of the rubric's unpack limits: nothing of it was written."""


def git_env() -> dict[str, str]:
    env = {k: os.environ[k] for k in _PASSED if k in os.environ}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null", GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="true",
               GIT_NO_REPLACE_OBJECTS="1", GIT_LFS_SKIP_SMUDGE="1", GIT_ATTR_NOSYSTEM="1", GIT_OPTIONAL_LOCKS="0",
               GIT_PAGER="cat", PAGER="cat", LC_ALL="C", LANG="C")
    return env


def config_args() -> list[str]:
    """``-c`` options for every command; private repositories are reached through ``gh``'s credential
    helper when ``gh`` is installed (what ``gh auth setup-git`` would configure)."""
    pairs = list(SAFE_CONFIG)
    if shutil.which("gh"):
        pairs.append("credential.helper=!gh auth git-credential")
    return [a for pair in pairs for a in ("-c", pair)]


@dataclass(frozen=True)
class TreeEntry:
    mode: int
    oid: str
    size: int
    path: str  # as the zip entry will name it


class Git:
    """git for one student: every command shares one deadline, and dies with its process group."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT):
        exe = shutil.which("git")
        if exe is None:
            raise GitError("git is not installed (apt-get install git)")
        self.exe, self.timeout = exe, timeout
        self.deadline = time.monotonic() + timeout
        self.env = git_env()

    def _argv(self, args: list[str]) -> list[str]:
        return [self.exe, "--no-pager", *config_args(), *args]

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self._late()
        return left

    def _late(self) -> GitTimeout:
        return GitTimeout(f"git did not finish within {self.timeout:g} s (a remote that does not answer, or a very "
                        "large repository); this student's repository was not graded")

    def run(self, args: list[str]) -> str:
        """A command with small output (rev-parse, rev-list, clone --quiet); its stdout."""
        p = subprocess.Popen(self._argv(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=self.env, start_new_session=True)
        try:
            out, err = p.communicate(timeout=self._left())
        except subprocess.TimeoutExpired:
            _kill_group(p)
            p.communicate()
            raise self._late() from None
        if p.returncode != 0:
            raise GitError(_last_line(err.decode("utf-8", "replace"), p.returncode))
        return out.decode("utf-8", "replace")

    @contextmanager
    def stream(self, args: list[str], stdin: bool = False) -> Iterator[subprocess.Popen]:
        """A command whose output is read as it comes; killed with its group when the deadline passes
        or the reader stops early (a limit), its exit status checked when the reader finishes."""
        with tempfile.TemporaryFile() as err:
            p = subprocess.Popen(self._argv(args), stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=err, env=self.env, start_new_session=True)
            timer = threading.Timer(self._left(), _kill_group, (p,))
            timer.start()
            try:
                yield p
            except BaseException as e:
                _kill_group(p)
                _reap(p, timer)
                if time.monotonic() >= self.deadline and isinstance(e, GitError | OSError | ValueError):
                    raise self._late() from None  # the reader saw the pipe close when the group was killed
                raise
            code = _reap(p, timer)
            if time.monotonic() >= self.deadline:
                raise self._late()
            if code != 0:
                err.seek(0)
                raise GitError(_last_line(err.read(4096).decode("utf-8", "replace"), code))


def _reap(p: subprocess.Popen, timer: threading.Timer) -> int:
    """Wait for git, then stop its watchdog before reaping it: until it is reaped its process group
    id cannot belong to anyone else, so the watchdog never signals a stranger."""
    for f in (p.stdin, p.stdout):
        if f is not None:
            try:
                f.close()
            except OSError:
                pass
    if hasattr(os, "waitid"):
        try:
            os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            pass
    timer.cancel()
    if timer.is_alive() and timer is not threading.current_thread():
        timer.join()
    return p.wait()


def _kill_group(p: subprocess.Popen) -> None:
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _last_line(text: str, code: int) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if any("dubious ownership" in ln for ln in lines):
        return ("the clone belongs to another user and git refuses to read it (chown it to the user who grades, "
                "or clone it as that user)")
    return (lines[-1] if lines else f"git exited with {code}")[:300]


def _fmt(n: int) -> str:
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def list_tree(git: Git, git_dir: Path, sha: str, limits: UnpackLimits) -> list[TreeEntry]:
    """The commit's files (regular files and symbolic links; submodules are not part of a snapshot),
    stopped at the first limit it breaks: more entries than ``max_entries``, a file over
    ``max_entry_bytes``, or more than ``max_total_bytes`` in all (a blob named many times counts
    every time)."""
    entries: list[TreeEntry] = []
    total = 0
    with git.stream(["-C", str(git_dir), "ls-tree", "-r", "-z", "-l", "--full-tree", sha]) as p:
        assert p.stdout is not None
        buf = b""
        while chunk := p.stdout.read(1 << 16):
            buf += chunk
            *records, buf = buf.split(b"\0")
            for rec in records:
                entry = _parse_record(rec)
                if entry is None:
                    continue
                entries.append(entry)
                total += entry.size
                if len(entries) > limits.max_entries:
                    raise OverLimit(f"the commit has more than {limits.max_entries:,} files (the rubric's limit); "
                                   "nothing was graded")
                if entry.size > limits.max_entry_bytes:
                    raise OverLimit(f"'{entry.path[:200]}' is {_fmt(entry.size)}, over the per-file limit of "
                                   f"{_fmt(limits.max_entry_bytes)}; nothing was graded (remove it from the "
                                   "repository)")
                if total > limits.max_total_bytes:
                    raise OverLimit(f"the commit's files add up to more than {_fmt(limits.max_total_bytes)} (the "
                                   f"rubric's limit; {len(entries):,} files so far); nothing was graded")
            if len(buf) > _MAX_RECORD:
                raise GitError("git listed a path longer than 64 KiB; the repository is malformed")
    return entries


def _parse_record(rec: bytes) -> TreeEntry | None:
    meta, tab, raw_path = rec.partition(b"\t")
    parts = meta.split()
    if not tab or len(parts) != 4:
        raise GitError("git ls-tree gave a line it should not have; the repository is malformed")
    mode, kind, oid, size = parts
    if kind != b"blob":
        return None  # a submodule (a commit): never fetched, not part of the snapshot
    try:
        return TreeEntry(int(mode, 8), oid.decode("ascii"), int(size), raw_path.decode("utf-8", "replace"))
    except ValueError:
        raise GitError("git ls-tree gave a line it should not have; the repository is malformed") from None


def write_snapshot(git: Git, git_dir: Path, entries: list[TreeEntry], dest: Path) -> None:
    """The listed blobs as a stored (uncompressed) zip at ``dest``, every byte counted against the
    listed size; a file that is not whole is removed. Fixed dates make the same commit the same
    bytes, so a rerun regrades nothing."""
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        with git.stream(["-C", str(git_dir), "cat-file", "--batch"], stdin=True) as p, \
                zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED) as zf:
            assert p.stdin is not None and p.stdout is not None
            for e in entries:
                p.stdin.write(e.oid.encode("ascii") + b"\n")
                p.stdin.flush()
                _copy_blob(p.stdout, e, zf)
        os.replace(partial, dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _copy_blob(src: IO[bytes], e: TreeEntry, zf: zipfile.ZipFile) -> None:
    header = src.readline(200).split()
    if len(header) != 3 or header[1] != b"blob" or header[2] != str(e.size).encode():
        raise GitError(f"git gave another object than it listed for '{e.path[:200]}'")
    info = zipfile.ZipInfo(e.path, date_time=(1980, 1, 1, 0, 0, 0))
    info.create_system = 3  # unix: the mode says file, executable or symbolic link (the unpacker skips links)
    info.external_attr = (e.mode & 0xFFFF) << 16
    info.compress_type = zipfile.ZIP_STORED
    left = e.size
    with zf.open(info, "w", force_zip64=e.size >= 1 << 31) as out:
        while left:
            chunk = src.read(min(left, 1 << 20))
            if not chunk:
                raise GitError(f"git stopped in the middle of '{e.path[:200]}'")
            out.write(chunk)
            left -= len(chunk)
    if src.read(1) != b"\n":
        raise GitError(f"git gave more bytes than it listed for '{e.path[:200]}'")
