"""No isolation: helpers and kernels are plain child processes of the grader, with limits and timeouts only.

For a student checking their own work where bubblewrap cannot run: Windows, macOS, Colab and
other containers without user namespaces (their code, their machine). It is chosen
automatically there, and ``--isolation none`` takes the same path on Linux, so CI tests it.
Nothing here is POSIX-only (:mod:`grader.core.portable` holds what differs between systems):

- each notebook gets a fresh Python running :mod:`grader.insandbox.kernel` (no fork, no zygote:
  on macOS forking after imports is unsafe with some frameworks, and Windows has no fork), in a
  private copy of the submission and a private scratch folder (``HOME``, ``TMP``) removed after it;
- the same supervisor as the bubblewrap backend (:mod:`grader.insandbox.supervise`), reading the
  kernel's pipes on threads; a cell over its time is interrupted (SIGINT on POSIX,
  CTRL_BREAK_EVENT on Windows), then killed with everything it started;
- memory: rlimits the kernel sets itself on POSIX, a job object on Windows (pywin32);
- no network inside the notebook (a rehearsal of the sandbox's, not a wall).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from grader.core.portable import ProcessTree, exited, popen_kwargs, python_for_children
from grader.execute.isolation import INSANDBOX, SUPPORT, Backend, ServiceSpec, kernel_limits, notebook_env
from grader.execute.isolation.service import ServiceProcess
from grader.execute.isolation.staging import Staging, closed_on_failure
from grader.insandbox import supervise

# What a child needs of the user's environment to start at all (Windows needs SYSTEMROOT & co).
KEEP_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "SYSTEMROOT", "SYSTEMDRIVE", "WINDIR", "COMSPEC", "PATHEXT",
            "PROGRAMDATA", "PROGRAMFILES", "NUMBER_OF_PROCESSORS", "PROCESSOR_ARCHITECTURE", "TMPDIR",
            "TEMP", "TMP", "USERPROFILE", "APPDATA", "LOCALAPPDATA")


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in KEEP_ENV}


def kernel_env(copy: Path, scratch: Path) -> dict[str, str]:
    """The notebook's environment: the sandbox's, with this machine's paths. Home, temporary files
    and caches are the notebook's own scratch folder, as in the sandbox (a dataset cached in the
    student's home is not there when graded either)."""
    env = {**_base_env(), **notebook_env(str(SUPPORT), str(copy), False)}
    env["PATH"] = os.pathsep.join(p for p in (str(SUPPORT / "bin"), os.path.dirname(sys.executable),
                                               os.environ.get("PATH", "")) if p)
    for name in ("HOME", "USERPROFILE", "TMPDIR", "TEMP", "TMP"):
        env[name] = str(scratch)
    env["IPYTHONDIR"] = str(scratch / ".ipython")
    env["MPLCONFIGDIR"] = str(scratch / ".matplotlib")
    env["PYTHONIOENCODING"] = "utf-8"  # a Windows console code page must not turn output into errors
    return env


def not_started(e: OSError) -> dict[str, Any]:
    """The answer for a kernel whose set-up failed on this machine (a full disk, a missing interpreter)."""
    return {"status": "error", "reason": f"the notebook kernel did not start ({e})"}


def _memory_of(limits: str) -> int | None:
    """The address-space limit of a :class:`~grader.execute.isolation.Limits` string (for a job object)."""
    for item in limits.split(","):
        key, _, value = item.partition("=")
        if key == "as" and value.isdigit():
            return int(value)
    return None


class NoIsolation(Backend):
    name = "none"
    isolated = False
    guarantees = (
        "student code ran without isolation, as your own user, with only time and memory limits "
        "(fine for checking your own work; batch grading uses a sandbox)"
    )

    def __init__(self) -> None:
        self._open: set[_Kernel] = set()  # live sessions, ended by close() (at exit too) if nobody did

    def problem(self) -> str | None:
        return None

    def close(self) -> None:
        for nb in list(self._open):
            self.close_session(nb)

    def start_service(self, spec: ServiceSpec) -> ServiceProcess:
        staging = Staging()
        scratch = str(staging.private_dir())
        python, extra = python_for_children()
        env = {**_base_env(), **extra, **{k: v.replace("{scratch}", scratch) for k, v in spec.env.items()}}
        return ServiceProcess([python, str(INSANDBOX / spec.script)], staging, env=env, uid=None,
                              startup_timeout=spec.startup_timeout,
                              memory_bytes=_memory_of(spec.env.get("MLGRADE_LIMITS", "")))

    def run_notebook(self, slot: int, request: dict[str, Any], deadline_s: float) -> dict[str, Any]:
        nb = self._start_kernel(slot, request)
        if isinstance(nb, dict):
            return nb
        answer: dict[str, Any] = {"status": "error", "reason": "the notebook runner failed"}
        try:
            answer = supervise.supervise(nb.kernel, request)
            supervise.finish(nb.kernel, answer)
        finally:
            nb.end(answer)
        return answer

    def open_session(self, slot: int, request: dict[str, Any], deadline_s: float):
        nb = self._start_kernel(slot, request)
        if isinstance(nb, dict):
            return nb, None
        answer: dict[str, Any] = {"status": "error"}
        try:
            answer = supervise.supervise(nb.kernel, request)
        finally:
            if answer.get("status") != "ok":
                supervise.finish(nb.kernel, answer)
                nb.end(answer)
        if answer.get("status") != "ok":
            return answer, None
        nb.wall = time.monotonic() + float(request.get("session_timeout", 300))
        self._open.add(nb)
        return answer, nb

    def _start_kernel(self, slot: int, request: dict[str, Any]) -> _Kernel | dict[str, Any]:
        return _Kernel.start(request)

    def session_call(self, handle, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        nb: _Kernel = handle
        if nb.closed:
            return {"status": "closed"}
        answer = supervise.live_request(nb.kernel, request, timeout, nb.wall)
        if answer["status"] in ("killed", "died", "wall"):
            answer["log_tail"] = nb.kernel.log_tail()[-2000:]
            nb.end(answer)
            self._open.discard(nb)
        return answer

    def close_session(self, handle) -> None:
        nb: _Kernel = handle
        self._open.discard(nb)
        if not nb.closed:
            answer: dict[str, Any] = {}
            supervise.finish(nb.kernel, answer)
            nb.end(answer)


class _Kernel:
    """A kernel in a plain child process, in a private copy of the submission: for one run of a notebook,
    or kept for a live session."""

    def __init__(self, proc: subprocess.Popen, kernel, tree: ProcessTree, staging: Staging, on_end=None):
        self.proc = proc
        self.kernel = kernel
        self.tree = tree
        self.staging = staging
        self.closed = False
        self.wall = 0.0
        self._on_end = on_end  # more to stop when the kernel ends (the uid backend: every process of its uid)

    @classmethod
    def start(cls, request: dict[str, Any]) -> _Kernel | dict[str, Any]:
        staging = Staging()
        try:
            with closed_on_failure(staging):
                copy = staging.put_tree(Path(request["submission"]), owner=None,
                                        aliases=list(request.get("aliases", [])), link_large=False)
                env = kernel_env(copy.host, staging.private_dir())
                env["MLGRADE_LIMITS"] = kernel_limits(request["memory_bytes"], request["notebook_timeout"], False)
        except OSError as e:
            return not_started(e)
        return cls.spawn(request, staging, env, copy.host / request.get("cwd", ""), {})

    @classmethod
    def spawn(cls, request: dict[str, Any], staging: Staging, env: dict[str, str], cwd: Path,
              popen_extra: dict[str, Any], on_end=None) -> _Kernel | dict[str, Any]:
        """Start ``kernel.py`` in ``cwd`` with ``env`` (plus the interpreter's own) and wrap it; the staged
        copy is removed when it cannot start. ``popen_extra``: the uid backend's switch to the sandbox user."""
        try:
            with closed_on_failure(staging):
                python, extra = python_for_children()
                proc = subprocess.Popen(
                    [python, str(INSANDBOX / "kernel.py"), str(int(request.get("output_chars", 100_000)))],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
                    cwd=cwd, env={**env, **extra}, **popen_kwargs(), **popen_extra,
                )
        except OSError as e:
            return not_started(e)
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        tree = ProcessTree(proc, memory_bytes=int(request["memory_bytes"]), processes=64)
        kernel = supervise.ThreadedKernel(proc.pid, proc.stdin.fileno(), proc.stdout.fileno(),
                                          proc.stderr.fileno(), interrupt_fn=tree.interrupt)
        return cls(proc, kernel, tree, staging, on_end=on_end)

    def end(self, answer: dict[str, Any]) -> None:
        if self.closed:
            return
        self.closed = True
        ended = False
        try:
            # a kernel that died: let its own exit status settle, unreaped so that its group is still its own
            ended = exited(self.proc, 2 if answer.get("status") in ("kernel_died", "died") else 0)
        finally:
            self.tree.kill()  # with everything it started in the background
            answer["exit"] = self.proc.returncode if ended else None
            if self._on_end is not None:
                self._on_end()
            self.kernel.close()
            for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                try:
                    if stream is not None:
                        stream.close()
                except OSError:
                    pass
            self.staging.close()
