"""``uid``: student code as another, unprivileged user, where bubblewrap cannot start but the grader is root.

That is Gradescope (and most Docker containers): the autograder runs as root, and Docker's default
seccomp profile refuses the user namespaces bubblewrap needs. Without this backend the student's
notebook would run as root beside the autograder's source, the references, the hidden data and the
results file. Here every kernel and the model server run as a sandbox uid (base + 4 x slot + role,
as bubblewrap's), with no supplementary groups, their own rlimits (RLIMIT_NPROC included: the uid is
theirs alone), a private copy of the submission and a private home, both owned by that uid:

- what the autograder keeps root-only (``chmod 700``: Gradescope's ``source/`` and ``results/``, the
  grader's own private folders) the student's code cannot read or write;
- when a notebook ends, every process of its uid is killed, setsid daemons included;
- it is not a sandbox: the student's code sees the rest of the file system as any user does, and has
  the container's network. Gradescope discards the container after each submission, so nothing
  reaches the next student; ``mlgrade grade`` never chooses this backend by itself.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from grader.core.portable import python_for_children
from grader.execute.isolation import INSANDBOX, ROLE_KERNELS, ROLE_MODELS, ServiceSpec, kernel_limits, sandbox_uid
from grader.execute.isolation.none import NoIsolation, _base_env, _Kernel, _memory_of, kernel_env, not_started
from grader.execute.isolation.service import ServiceProcess
from grader.execute.isolation.staging import Staging, closed_on_failure


def kill_uid(uid: int) -> None:
    """Kill every process of ``uid`` (a sandbox uid: nothing else runs as it), twice over for late forks."""
    for _ in range(3):
        found = False
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                if entry.stat().st_uid == uid:
                    os.kill(int(entry.name), signal.SIGKILL)
                    found = True
            except (ProcessLookupError, PermissionError, FileNotFoundError):
                continue
        if not found:
            return
        time.sleep(0.05)


def _as(uid: int) -> dict[str, Any]:
    """Popen arguments that start a child as ``uid``: its own group, no supplementary groups, a private umask."""
    return {"user": uid, "group": uid, "extra_groups": [], "umask": 0o077}


class _Private(Staging):
    """A staging area the sandbox uid can traverse (not list): it reaches only what it is given by name."""

    def __init__(self) -> None:
        super().__init__()
        os.chmod(self.private, 0o711)

    def home(self, uid: int) -> Path:
        d = self.private_dir()
        os.chown(d, uid, uid)
        os.chmod(d, 0o700)
        return d


class UnprivilegedUser(NoIsolation):
    name = "uid"
    isolated = False
    guarantees = ("student code ran as an unprivileged user with time, memory and process limits, unable to read "
                  "the autograder's files; not in a sandbox (this container gives no user namespaces)")

    def problem(self) -> str | None:
        if os.name != "posix":
            return "running student code as another user needs a POSIX system"
        if os.geteuid() != 0:
            return "running student code as another user needs the grader to run as root"
        return None

    @property
    def dedicated_uid(self) -> bool:
        return True

    def start_service(self, spec: ServiceSpec) -> ServiceProcess:
        uid = sandbox_uid(spec.slot, ROLE_MODELS if spec.role == ROLE_MODELS else spec.role)
        staging = _Private()
        scratch = str(staging.home(uid))
        python, extra = python_for_children()
        env = {**_base_env(), **extra, **{k: v.replace("{scratch}", scratch) for k, v in spec.env.items()},
               "HOME": scratch, "TMPDIR": scratch}
        return ServiceProcess([python, str(INSANDBOX / spec.script)], staging, env=env, uid=uid,
                              startup_timeout=spec.startup_timeout,
                              memory_bytes=_memory_of(spec.env.get("MLGRADE_LIMITS", "")),
                              popen_extra=_as(uid), on_close=lambda: kill_uid(uid))

    def _start_kernel(self, slot: int, request: dict[str, Any]) -> _Kernel | dict[str, Any]:
        uid = sandbox_uid(slot, ROLE_KERNELS)
        kill_uid(uid)  # nothing of an earlier notebook of this slot survives into this one
        staging = _Private()
        try:
            with closed_on_failure(staging):
                copy = staging.put_tree(Path(request["submission"]), owner=uid,
                                        aliases=list(request.get("aliases", [])), link_large=False)
                env = kernel_env(copy.host, staging.home(uid))
                env["MLGRADE_LIMITS"] = kernel_limits(request["memory_bytes"], request["notebook_timeout"], True)
        except OSError as e:
            return not_started(e)
        return _Kernel.spawn(request, staging, env, copy.host / request.get("cwd", ""), _as(uid),
                             on_end=lambda: kill_uid(uid))
