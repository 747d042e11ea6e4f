"""Isolation for everything that touches student files: bubblewrap on Linux, limits everywhere.

A sandboxed command sees only the Python environment (read-only), the support
files it needs (read-only), its own job folder and a private ``/tmp``; no
network, a fresh PID namespace, a cleared environment, and an unprivileged uid
(bwrap started as root would map the sandbox to host root; see
``shared/notes/sandbox.md``). The grader's own sources, the rubric, the hidden
data, other students' files and the results folder are simply not there.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

GiB = 1024**3

ISOLATION_MODES = ("auto", "bwrap", "none")


@dataclass(frozen=True)
class Limits:
    """Resource limits applied inside the sandbox (rlimits), whatever the isolation."""

    memory_bytes: int = 2 * GiB
    cpu_seconds: int = 600
    processes: int | None = 64  # None: no limit (RLIMIT_NPROC is per uid; only a dedicated uid can use it)
    file_bytes: int = 256 * 1024**2
    open_files: int = 256

    def env_value(self) -> str:
        out = f"as={self.memory_bytes},cpu={self.cpu_seconds},fsize={self.file_bytes},nofile={self.open_files}"
        return out + (f",nproc={self.processes}" if self.processes is not None else "")


@dataclass
class SandboxSpec:
    uid: int
    chdir: str
    rw_binds: list[str] = field(default_factory=list)  # host path == path inside
    ro_binds: list[tuple[str, str]] = field(default_factory=list)  # (host, inside)
    tmpfs: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


class IsolationUnavailable(RuntimeError):
    pass


@lru_cache(maxsize=1)
def bwrap_path() -> str | None:
    return shutil.which("bwrap") or (os.path.exists("/usr/bin/bwrap") and "/usr/bin/bwrap") or None


def resolve_isolation(mode: str) -> str:
    """``auto`` -> ``bwrap`` when it works here, else ``none``."""
    if mode not in ISOLATION_MODES:
        raise ValueError(f"isolation must be one of {', '.join(ISOLATION_MODES)}, got {mode!r}")
    if mode == "none":
        return "none"
    problem = bwrap_problem()
    if problem is None:
        return "bwrap"
    if mode == "bwrap":
        raise IsolationUnavailable(problem)
    return "none"


@lru_cache(maxsize=1)
def bwrap_problem() -> str | None:
    """Why bubblewrap cannot be used here, or None when it can."""
    if not sys.platform.startswith("linux"):
        return "bubblewrap needs Linux"
    if bwrap_path() is None:
        return "bubblewrap is not installed (Debian/Ubuntu: sudo apt-get install bubblewrap)"
    for p in python_env_paths():
        if not _world_readable_path(Path(p)):
            return (
                f"the Python environment at {p} is not readable by other users, so the sandbox "
                "cannot run it; create the virtualenv from /usr/bin/python3 in a readable folder"
            )
    import subprocess

    probe = SandboxSpec(uid=sandbox_uid(0), chdir="/tmp")
    try:
        res = subprocess.run(
            wrap(probe, [sys.executable, "-c", "print('ok')"]),
            capture_output=True, text=True, timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bubblewrap failed to start: {e}"
    if res.returncode != 0 or res.stdout.strip() != "ok":
        return f"bubblewrap failed: {res.stderr.strip()[-300:] or res.returncode}"
    return None


def sandbox_uid(slot: int) -> int:
    """A distinct unprivileged uid per concurrent sandbox (RLIMIT_NPROC counts per uid)."""
    base = int(os.environ.get("MLGRADE_SANDBOX_UID_BASE", "61000"))
    return base + slot


def _world_readable_path(p: Path) -> bool:
    p = p.resolve()
    for part in [p, *p.parents]:
        try:
            mode = part.stat().st_mode
        except OSError:
            return False
        if part.is_dir() and not mode & 0o001:
            return False
    return True


@lru_cache(maxsize=1)
def python_env_paths() -> tuple[str, ...]:
    """Folders the interpreter and its packages live in (bound read-only)."""
    paths = []
    for p in {sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable))}:
        real = os.path.realpath(p)
        if real.startswith("/usr") or real == "/":
            continue
        paths.append(real)
    # keep only the outermost folders
    paths.sort()
    out: list[str] = []
    for p in paths:
        if not any(p == o or p.startswith(o + "/") for o in out):
            out.append(p)
    return tuple(out)


def _grader_source_dirs() -> list[str]:
    import grader
    import reference

    return [os.path.dirname(os.path.realpath(m.__file__)) for m in (grader, reference)]


def wrap(spec: SandboxSpec, argv: list[str]) -> list[str]:
    """The command line that runs ``argv`` inside bubblewrap as ``spec`` says."""
    bw = bwrap_path()
    if bw is None:
        raise IsolationUnavailable("bubblewrap is not installed")
    cmd: list[str] = []
    if os.geteuid() == 0:
        # bwrap as root maps the sandbox to host root; drop to the sandbox uid first.
        cmd += ["setpriv", f"--reuid={spec.uid}", f"--regid={spec.uid}", "--clear-groups", "--"]
    cmd += [bw, "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
            "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/lib", "/lib64", "/lib32", "/sbin"):
        if os.path.islink(top):
            cmd += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            cmd += ["--ro-bind", top, top]
    for etc in ("/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives"):
        cmd += ["--ro-bind-try", etc, etc]
    for p in python_env_paths():
        cmd += ["--ro-bind", p, p]
    for host, inside in spec.ro_binds:
        cmd += ["--ro-bind", host, inside]
    cmd += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for t in spec.tmpfs:
        cmd += ["--tmpfs", t]
    for p in spec.rw_binds:
        cmd += ["--bind", p, p]
    # The grader's own code must not be readable from inside, even when it is installed in site-packages.
    for src in _grader_source_dirs():
        if any(src == p or src.startswith(p + "/") for p in python_env_paths()):
            cmd += ["--tmpfs", src]
    env = {"HOME": "/tmp", "LANG": "C.UTF-8", "USER": "student", "LOGNAME": "student", **spec.env}
    for k, v in env.items():
        cmd += ["--setenv", k, v]
    cmd += ["--chdir", spec.chdir, "--"]
    return cmd + argv
