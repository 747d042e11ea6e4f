"""Windows job objects: a memory limit for a child and everything it starts, and one call that kills them all.

Windows has no rlimits and no process groups that can be killed as one. A job object gives
both: ``JobMemoryLimit`` makes allocations beyond the limit fail (numpy raises MemoryError, as
with RLIMIT_AS on Linux), ``ActiveProcessLimit`` stops a fork bomb, and
``JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`` kills every process in the job when the grader closes it
(or dies). The API comes from pywin32 (``win32job``): the maintained, widely used binding of the
Win32 API (a dependency of mlgrade on Windows only, imported here, lazily, on Windows only).
Without it, notebooks still get their time limits, and the report says memory is not limited.
"""

from __future__ import annotations

from typing import Any


def available() -> bool:
    try:
        import win32job  # noqa: F401
    except ImportError:
        return False
    return True


def contain(pid: int, memory_bytes: int | None, processes: int | None) -> tuple[Any, str]:
    """Put process ``pid`` in a new job with the limits; ``(job, "")``, or ``(None, why not)``.

    The child runs for a moment before it is assigned; the kernel starts nothing by itself until
    it has read its first command, so nothing escapes the job."""
    try:
        import win32api
        import win32con
        import win32job
    except ImportError:
        return None, "pywin32 is not installed"
    job = None
    try:
        job = win32job.CreateJobObject(None, "")
        info = win32job.QueryInformationJobObject(job, win32job.JobObjectExtendedLimitInformation)
        flags = win32job.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
        if memory_bytes:
            flags |= win32job.JOB_OBJECT_LIMIT_JOB_MEMORY
            info["JobMemoryLimit"] = int(memory_bytes)
        if processes:
            flags |= win32job.JOB_OBJECT_LIMIT_ACTIVE_PROCESS
            info["BasicLimitInformation"]["ActiveProcessLimit"] = int(processes)
        info["BasicLimitInformation"]["LimitFlags"] |= flags
        win32job.SetInformationJobObject(job, win32job.JobObjectExtendedLimitInformation, info)
        handle = win32api.OpenProcess(win32con.PROCESS_SET_QUOTA | win32con.PROCESS_TERMINATE, False, pid)
        try:
            win32job.AssignProcessToJobObject(job, handle)
        finally:
            handle.Close()
    except Exception as e:  # pywin32 raises pywintypes.error; any failure leaves time limits only
        if job is not None:
            terminate(job, kill=False)
        return None, f"the job object could not be set up ({e})"
    return job, ""


def terminate(job: Any, kill: bool = True) -> None:
    """Kill every process in ``job`` and release it."""
    try:
        import win32job

        if kill:
            win32job.TerminateJobObject(job, 1)
    except Exception:
        pass
    try:
        job.Close()  # KILL_ON_JOB_CLOSE: whatever is left dies with the last handle
    except Exception:
        pass
