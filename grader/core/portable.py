"""What differs between operating systems, in one place: child processes, their limits, files.

Students check their work on Windows, macOS, Linux and Colab; only the bubblewrap backend
may assume Linux. Everything else asks this module instead of calling POSIX-only functions
(``os.killpg``, ``os.fork``, ``resource``, ``os.O_NOFOLLOW``, ``os.fchmod``). Choices are made
by what the platform *has* (``hasattr(os, "killpg")``), except where Windows behaves
differently under the same name: ``os.kill(pid, SIGINT)`` terminates a process there, so
interrupts use ``CTRL_BREAK_EVENT`` in a process group of the child's own.

A child started with :func:`popen_kwargs` and wrapped in :class:`ProcessTree` can be
interrupted, killed with everything it started, and kept within a memory limit: rlimits
applied by the child itself on POSIX (:mod:`grader.insandbox.rlimits`), a job object
applied from outside on Windows (:mod:`grader.core.winjob`, pywin32).
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import time
from typing import NoReturn

from grader.core import winjob

IS_WINDOWS = os.name == "nt"
# 0 where the flag does not exist: Windows has no O_NOFOLLOW (and no symlinks a student can plant
# there without privileges); O_BINARY keeps Windows from translating newlines in os.open files.
O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_BINARY = getattr(os, "O_BINARY", 0)
# Names Windows reserves in every folder (``con.txt`` opens the console, not a file).
_WINDOWS_DEVICES = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
_WINDOWS_BAD_CHARS = set('<>:"|?*') | {chr(i) for i in range(32)}


def exit_after_cleanups(code: int) -> NoReturn:
    """End the process as a normal exit would, without tearing down every imported module (0.1-0.25 s of a
    short command for nothing): the atexit clean-ups (sandboxes, cgroups, services) run in order, the
    output is flushed, then the process exits."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def platform_name() -> str:
    """The student's platform in their words: ``Windows``, ``macOS``, ``Google Colab``, ``Linux``."""
    if os.environ.get("COLAB_RELEASE_TAG") or os.environ.get("COLAB_GPU") is not None:
        return "Google Colab"
    if IS_WINDOWS:
        return "Windows"
    if sys.platform == "darwin":
        return "macOS"
    if sys.platform.startswith("linux"):
        return "Linux"
    return sys.platform


def create_file(path: str | os.PathLike, mode: int = 0o644) -> int:
    """Open a new file for writing: never an existing one, never through a symlink (where the OS can tell)."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW | O_BINARY, mode)


def open_nofollow(path: str | os.PathLike) -> int:
    return os.open(path, os.O_RDONLY | O_NOFOLLOW | O_BINARY)


def fchmod(fd: int, mode: int) -> None:
    """``os.fchmod`` where it exists (not on Windows before Python 3.13, where modes mean little)."""
    if hasattr(os, "fchmod"):
        os.fchmod(fd, mode)


def windows_name_problem(part: str) -> str | None:
    """Why Windows cannot hold a file or folder named ``part``, or None."""
    stem = part.split(".", 1)[0].rstrip(" ").lower()
    if stem in _WINDOWS_DEVICES:
        return f"'{part}' is a device name on Windows"
    if any(c in _WINDOWS_BAD_CHARS for c in part):
        return f"'{part}' contains a character Windows does not allow in names"
    if part.endswith((" ", ".")):
        return f"'{part}' ends with a space or a dot, which Windows drops"
    return None


def pid_alive(pid: int) -> bool:
    """Whether a process exists. (On Windows ``os.kill(pid, 0)`` would send CTRL_C_EVENT, not probe.)"""
    if sys.platform == "win32":  # IS_WINDOWS, spelled so type checkers know ctypes.windll exists here
        import ctypes

        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return ctypes.GetLastError() == 5  # ERROR_ACCESS_DENIED: it exists, it is not ours
        try:
            code = ctypes.c_ulong()
            kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def owned_by_me(st: os.stat_result) -> bool:
    return st.st_uid == os.geteuid() if hasattr(os, "geteuid") else True


def python_for_children() -> tuple[str, dict[str, str]]:
    """The interpreter to start helper processes with, and what to add to their environment.

    On Windows a virtualenv's ``python.exe`` is a redirector that starts the base interpreter as a
    child of its own: its pid would be the wrong one to interrupt or put in a job object, and the real
    interpreter could start before the job holds it. Start the base interpreter directly and tell it
    its virtualenv, as :mod:`multiprocessing` does (bpo-35797)."""
    base = getattr(sys, "_base_executable", sys.executable)
    if IS_WINDOWS and base and os.path.normcase(base) != os.path.normcase(sys.executable):
        return base, {"__PYVENV_LAUNCHER__": sys.executable}
    return sys.executable, {}


def popen_kwargs() -> dict:
    """Start a child in a group of its own, so that it and what it starts can be interrupted and killed
    together: a new session on POSIX, a new process group on Windows (``CTRL_BREAK_EVENT`` reaches it)."""
    if IS_WINDOWS:
        flags = subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
        if not _has_console():
            flags |= subprocess.CREATE_NO_WINDOW  # type: ignore[attr-defined]  # no window flashing up
        return {"creationflags": flags}
    return {"start_new_session": True}


def _has_console() -> bool:
    try:
        import ctypes

        return bool(ctypes.windll.kernel32.GetConsoleWindow())  # type: ignore[attr-defined]
    except Exception:
        return False


class ProcessTree:
    """A child started with :func:`popen_kwargs`, and everything it starts.

    ``memory_bytes``: on Windows, a job object holds the tree to that much memory in all and kills
    it whole when closed (POSIX children apply their own rlimits). ``memory_limit`` says what
    limits memory here, in words, for the report.
    """

    def __init__(self, proc: subprocess.Popen, memory_bytes: int | None = None, processes: int | None = None):
        self.proc = proc
        self.job = None
        self.job_problem = ""
        if IS_WINDOWS:
            self.job, self.job_problem = winjob.contain(proc.pid, memory_bytes, processes)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def interrupt(self) -> None:
        """What Ctrl+C does in a terminal: KeyboardInterrupt in the running cell."""
        try:
            if IS_WINDOWS:
                os.kill(self.proc.pid, signal.CTRL_BREAK_EVENT)  # type: ignore[attr-defined]
            else:
                os.kill(self.proc.pid, signal.SIGINT)
        except (OSError, ValueError):
            pass  # no console to send it through, or gone: the supervisor kills it after the grace period

    def kill(self) -> None:
        """Kill the child and what it started, then reap it."""
        if self.job is not None:
            winjob.terminate(self.job)
            self.job = None
        kill_tree(self.proc)


def exited(proc: subprocess.Popen, timeout: float = 0.0) -> bool:
    """Whether ``proc`` has exited, waiting up to ``timeout`` s, *without reaping it* where the system
    allows (POSIX ``waitid(WNOWAIT)``): until it is reaped its pid, which names its process group, cannot
    be given to another process, so :func:`kill_tree` can still end the group safely."""
    if proc.returncode is not None:
        return True
    if not hasattr(os, "waitid"):
        try:
            proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    deadline = time.monotonic() + timeout
    while True:
        try:
            if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None:
                return True
        except ChildProcessError:  # reaped by someone else
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def kill_tree(proc: subprocess.Popen) -> None:
    """Kill a child started with :func:`popen_kwargs` and its whole group, then reap it.

    The group is signalled only while the child is not reaped: once reaped, its pid may belong to another
    process that leads a group of its own (pids wrap at 32,768 on many machines), and a grader running as
    root would kill that group instead (another sandbox, or anything on the machine)."""
    if hasattr(os, "killpg") and proc.returncode is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, OSError):
            pass
    elif IS_WINDOWS and proc.poll() is None:
        try:  # no job object: what the child started goes with it through taskkill /T
            subprocess.run(["taskkill", "/F", "/T", "/PID", str(proc.pid)], capture_output=True, timeout=20,
                           **popen_kwargs())
        except (OSError, subprocess.SubprocessError):
            pass
    try:
        proc.kill()
    except OSError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def memory_limit_words(memory_bytes: int) -> str:
    """How a child's memory is limited on this machine, for the self-check's note."""
    gib = f"{memory_bytes / 1024**3:g} GiB"
    if IS_WINDOWS:
        return f"memory is limited to {gib} per notebook (a Windows job object)" if winjob.available() else (
            "memory is not limited on this computer (install pywin32 for a limit)")
    if not has_rlimits():
        return "memory is not limited on this computer"
    if sys.platform == "darwin":
        return f"a memory limit of {gib} per notebook is asked for (macOS may not enforce it)"
    return f"memory is limited to {gib} per notebook"


def has_rlimits() -> bool:
    """Whether children can limit themselves with ``resource`` (POSIX)."""
    import importlib.util

    try:
        return importlib.util.find_spec("resource") is not None
    except (ImportError, ValueError):
        return False
