"""Isolation backends: where student code runs and how student files reach it.

One interface, :class:`Backend`, two implementations:

- ``bwrap`` (:mod:`grader.execute.isolation.bubblewrap`): every helper process (the kernel
  zygote, the model server) runs in bubblewrap with a read-only root, no network and
  an unprivileged uid; each notebook additionally gets its own user, mount, IPC and PID
  namespaces with fresh size-bounded tmpfs, so nothing one student writes reaches the next;
- ``none`` (:mod:`grader.execute.isolation.none`): plain child processes with rlimits and
  timeouts only, for a student checking their own work where bubblewrap is missing.

Run options carry the backend's *name* (``GradeOptions.isolation``); :func:`backend`
turns it into the object, and every guarantee is implemented and tested once, there.
Both backends run notebooks with the same cell executor
(:mod:`grader.insandbox.kernel`) and return the same records.

Files go *in* through a staging folder only the grader can write (names from
:func:`secrets.token_hex`); answers come *back* over pipes as bounded JSON lines. The
privileged side never opens, creates or chowns a path a sandbox can write.
"""

from __future__ import annotations

import os
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from grader.core.errors import UsageError
from grader.core.portable import kill_tree as kill

GiB = 1024**3
MiB = 1024**2

# name -> "module:Class": the one table of backends; a new backend is one module and one line here, and
# --isolation, auto-detection and clean-up all follow it.
BACKENDS = {"bwrap": "grader.execute.isolation.bubblewrap:BubblewrapBackend",
            "uid": "grader.execute.isolation.unprivileged:UnprivilegedUser",
            "none": "grader.execute.isolation.none:NoIsolation"}
AUTO_ORDER = ("bwrap", "none")  # what --isolation auto tries, best first; the last always works
ISOLATION_CHOICES = ("auto", *BACKENDS)
ROLE_KERNELS, ROLE_MODELS = 0, 1
INSANDBOX = Path(__file__).resolve().parents[2] / "insandbox"  # code that runs in the sandbox
SUPPORT = Path(__file__).resolve().parents[1] / "notebooks" / "support"  # files student code may see


class IsolationUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Limits:
    """Resource limits applied inside the sandbox (rlimits), whatever the isolation."""

    memory_bytes: int = 2 * GiB
    cpu_seconds: int = 600
    processes: int | None = 64  # None: no limit (RLIMIT_NPROC is per uid; only a dedicated uid can use it)
    file_bytes: int = 256 * MiB
    open_files: int = 256

    def env_value(self) -> str:
        out = f"as={self.memory_bytes},cpu={self.cpu_seconds},fsize={self.file_bytes},nofile={self.open_files}"
        return out + (f",nproc={self.processes}" if self.processes is not None else "")


@dataclass
class ServiceSpec:
    """A long-lived helper process: a script of :data:`INSANDBOX` spoken to in JSON lines."""

    script: str  # file name inside grader/insandbox
    slot: int  # which concurrent sandbox (worker) this is
    role: int  # ROLE_KERNELS or ROLE_MODELS: each gets its own uid
    env: dict[str, str] = field(default_factory=dict)  # "{scratch}" in a value: the service's own writable folder
    tmp_bytes: int = 64 * MiB  # the service's own writable /tmp (bubblewrap: a bounded tmpfs)
    with_support: bool = False  # bind the notebook support files (Colab shim, fake pip)
    notebook_dirs: bool = False  # mount points for per-notebook tmpfs (/work, /content, ...)
    startup_timeout: float = 120.0
    memory_bytes: int = GiB  # all the helper may hold, its /tmp included (a memory cgroup, where there is one)
    tasks: int = 64  # its processes and threads together (a pids cgroup, where there is one)


def sandbox_uid(slot: int, role: int = ROLE_KERNELS) -> int:
    """A distinct unprivileged uid per concurrent sandbox (RLIMIT_NPROC counts per uid)."""
    base = int(os.environ.get("MLGRADE_SANDBOX_UID_BASE", "61000"))
    return base + slot * 4 + role


class Backend(ABC):
    """How student code is isolated. Stateless: services it starts are owned by the caller."""

    name: str = ""
    isolated: bool = False  # student code cannot reach the grader's machine
    guarantees: str = ""  # one sentence for reports and ``mlgrade check``'s note

    @abstractmethod
    def problem(self) -> str | None:
        """Why this backend cannot be used here, or None when it can."""

    @abstractmethod
    def start_service(self, spec: ServiceSpec):
        """Start ``spec``'s script as a :class:`~grader.execute.isolation.service.ServiceProcess`."""

    @abstractmethod
    def run_notebook(self, slot: int, request: dict[str, Any], deadline_s: float) -> dict[str, Any]:
        """Run one notebook (``request`` as :mod:`grader.insandbox.supervise` defines it, with
        ``submission``: the host folder to show the notebook) and return the supervisor's answer."""

    @abstractmethod
    def open_session(self, slot: int, request: dict[str, Any], deadline_s: float) -> tuple[dict[str, Any], Any]:
        """Run one notebook's cells like :meth:`run_notebook` and keep its kernel alive: ``(answer, handle)``,
        the handle None when the kernel did not survive its cells (the answer says why)."""

    @abstractmethod
    def session_call(self, handle: Any, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        """One live request (:func:`grader.insandbox.supervise.live_request`) in an open session; a status
        of "killed", "died", "wall" or "closed" means the session is over."""

    @abstractmethod
    def close_session(self, handle: Any) -> None:
        """End a session: its kernel and everything it started are killed."""

    def close(self) -> None:  # noqa: B027 - most backends keep nothing
        """Stop the services this backend keeps for notebooks."""

    def warm(self, slot: int) -> None:  # noqa: B027 - most backends start nothing ahead
        """Start now what the first notebook of ``slot`` would wait for (a zygote), so that it starts
        while the submission is unpacked; safe to call from a thread beside the grading one."""

    def unbounded(self) -> str | None:
        """What this backend cannot bound here (said to the instructor when grading starts), or None."""
        return None

    @property
    def dedicated_uid(self) -> bool:
        """True when sandboxes run as uids of their own, so per-uid limits (RLIMIT_NPROC) are safe."""
        return False


_MADE: dict[str, Backend] = {}  # the backends this process started, to close them all


@cache
def backend(name: str) -> Backend:
    """The backend object for a resolved name (``"bwrap"`` or ``"none"``)."""
    import importlib

    if name not in BACKENDS:
        raise ValueError(f"isolation must be one of {', '.join(BACKENDS)}, got {name!r}")
    import atexit

    module, _, cls = BACKENDS[name].partition(":")
    made = getattr(importlib.import_module(module), cls)()
    atexit.register(made.close)  # whatever process used it (a batch worker, pytest, a notebook) leaves no sandbox
    _MADE[name] = made
    return made


def close_backends() -> None:
    """Stop the sandboxes and services every backend this process made keeps (they start again on use)."""
    for made in list(_MADE.values()):
        made.close()


def resolve(requested: str, fallbacks: tuple[str, ...] = ("none",)) -> Backend:
    """``auto`` -> bubblewrap when it works here, else the first of ``fallbacks`` that does (Gradescope asks
    for ``uid`` first: student code as another user); a backend asked for by name fails loudly."""
    if requested not in ISOLATION_CHOICES:
        raise ValueError(f"isolation must be one of {', '.join(ISOLATION_CHOICES)}, got {requested!r}")
    wanted = backend(AUTO_ORDER[0] if requested == "auto" else requested)
    problem = wanted.problem()
    if problem is None:
        return wanted
    if requested != "auto":
        raise IsolationUnavailable(problem)
    for name in (*fallbacks, AUTO_ORDER[-1]):
        if backend(name).problem() is None:
            return backend(name)
    return backend(AUTO_ORDER[-1])


def kill_tree(proc) -> None:
    """Kill a process started with :func:`grader.core.portable.popen_kwargs` (or ``start_new_session=True``) and
    its whole group, then reap it. Sandboxes it started die with it (``--die-with-parent``, ``PR_SET_PDEATHSIG``)."""
    kill(proc)


def notebook_env(support: str, work: str, sandboxed: bool, python_bin: str | None = None) -> dict[str, str]:
    """The environment a notebook's kernel sees (paths as the kernel sees them)."""
    venv_bin = python_bin or os.path.dirname(sys.executable)
    env = {
        "PATH": f"{support}/bin:{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "PYTHONPATH": f"{support}/colab",
        "HOME": "/tmp" if sandboxed else work,
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "MLGRADE_SUBMISSION": work,
    }
    if sandboxed:
        env["MLGRADE_SANDBOXED"] = "1"
        env["MPLCONFIGDIR"] = "/tmp/.matplotlib"
    return env


def kernel_limits(memory_bytes: int, notebook_timeout: float, dedicated_uid: bool) -> str:
    """rlimits of one notebook's kernel. RLIMIT_NPROC counts all processes of a uid: only a
    dedicated sandbox uid can use it; a user's own uid would count their desktop too."""
    return Limits(memory_bytes=int(memory_bytes), cpu_seconds=int(notebook_timeout) + 30,
                  processes=64 if dedicated_uid else None).env_value()


def for_command(requested: str, command: str) -> str:
    """The isolation backend's name; batch grading never falls back to no isolation silently."""
    try:
        # Gradescope runs as root where user namespaces are refused: student code then runs as another user
        chosen = resolve(requested, ("uid", "none") if command == "gradescope" else ("none",))
    except IsolationUnavailable as e:
        raise UsageError(f"--isolation {requested}: {e}") from None
    if not chosen.isolated and requested == "auto":
        why = backend(AUTO_ORDER[0]).problem()
        if command == "grade":
            raise UsageError(
                f"refusing to run student code without isolation: {why}. Install bubblewrap, "
                "or pass --isolation none to grade unisolated (only for code you trust)"
            )
        if command != "check":  # a self-check's report says it itself, once, in plain words
            print(f"mlgrade: note: {chosen.guarantees} ({why})", file=sys.stderr)
    elif command != "check" and (gap := chosen.unbounded()):  # a sandbox without every bound says which
        print(f"mlgrade: note: {gap}", file=sys.stderr)
    return chosen.name


__all__ = [
    "AUTO_ORDER", "BACKENDS", "Backend", "GiB", "INSANDBOX", "ISOLATION_CHOICES", "IsolationUnavailable", "Limits",
    "MiB", "ROLE_KERNELS", "ROLE_MODELS", "SUPPORT", "ServiceSpec", "backend", "close_backends", "for_command",
    "kernel_limits", "kill_tree", "notebook_env", "resolve", "sandbox_uid",
]
