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


ROLE_KERNELS, ROLE_MODELS = 0, 1


def sandbox_uid(slot: int, role: int = ROLE_KERNELS) -> int:
    """A distinct unprivileged uid per concurrent sandbox (RLIMIT_NPROC counts per uid)."""
    base = int(os.environ.get("MLGRADE_SANDBOX_UID_BASE", "61000"))
    return base + slot * 4 + role


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
    # Order matters: a later mount hides what an earlier one put at the same place, so the private
    # /tmp comes first and the Python environment (which may live under /tmp) is bound after it.
    cmd += [bw, "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--ro-bind", "/usr", "/usr"]
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


def kill_tree(proc) -> None:
    """SIGKILL a process started with ``start_new_session=True`` and its whole group, then reap it.
    Sandboxes it started die with it (``--die-with-parent``, ``PR_SET_PDEATHSIG``)."""
    import signal
    import subprocess

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


class ServiceProcess:
    """A long-lived helper process (in the sandbox when ``isolation == "bwrap"``) spoken to in JSON lines.

    It sees one writable folder, ``jobs_root``, where the caller puts the files of
    each request; :meth:`request` enforces a wall clock and restarts nothing by
    itself: a process that stops answering is killed, and the owner makes a new one.
    """

    def __init__(self, script: str, isolation: str, uid: int, env: dict[str, str],
                 ro_binds: list[tuple[str, str]], python_args: list[str] | None = None,
                 startup_timeout: float = 120, tmpfs: list[str] | None = None):
        import subprocess
        import tempfile

        self.isolation = isolation
        self.uid = uid
        self.jobs_root = Path(tempfile.mkdtemp(prefix="mlgj-", dir="/tmp"))
        os.chmod(self.jobs_root, 0o755)
        if isolation == "bwrap" and os.geteuid() == 0:
            os.chown(self.jobs_root, uid, uid)
        self.counter = 0
        env = {k: v.replace("{jobs_root}", str(self.jobs_root)) for k, v in env.items()}
        argv = [sys.executable, *(python_args or []), script]
        if isolation == "bwrap":
            spec = SandboxSpec(uid=uid, chdir=str(self.jobs_root), rw_binds=[str(self.jobs_root)],
                               ro_binds=ro_binds, tmpfs=tmpfs or [], env={**env, "MLGRADE_SANDBOXED": "1"})
            argv = wrap(spec, argv)
            proc_env = None
        else:
            keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
            proc_env = {**keep, **env}
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=None if os.environ.get("MLGRADE_DEBUG") else subprocess.DEVNULL,
                                     env=proc_env, text=True, bufsize=1)
        self.request({"op": "ping"}, timeout=startup_timeout)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def request(self, cmd: dict, timeout: float = 30) -> dict:
        """Send one command, wait at most ``timeout`` s for its answer."""
        import json
        import select

        if not self.alive():
            raise RuntimeError("the helper process is not running")
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps(cmd) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.close()
            raise RuntimeError("the helper process stopped") from None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.close()
            raise RuntimeError("the helper process stopped answering" if not ready else "the helper process died")
        answer = json.loads(line)
        if not isinstance(answer, dict):
            raise RuntimeError("the helper process answered nonsense")
        return answer

    def new_job_dir(self) -> Path:
        """A fresh folder the helper can read and write, for one request's files."""
        self.counter += 1
        d = self.jobs_root / str(self.counter)
        d.mkdir()
        if self.isolation == "bwrap" and os.geteuid() == 0:
            os.chown(d, self.uid, self.uid)
        return d

    def close(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=10)
        except Exception:
            pass
        import shutil

        shutil.rmtree(self.jobs_root, ignore_errors=True)
