"""A kernel zygote: imports what an IPython kernel needs once, then forks a fresh kernel per notebook.

Runs inside the sandbox (or, without isolation, as a plain child of the runner)
and imports nothing of mlgrade but its neighbour :mod:`rlimits`. Protocol: one JSON command per line on stdin,
one JSON answer per line on stdout:

- ``{"op": "spawn", "args": [...], "env": {...}, "cwd": "...", "log": "...", "limits": "..."}``
  -> ``{"pid": N}``: fork, then in the child: new session, limits, environment,
  and ``IPKernelApp`` with ``args`` (``-f connection_file ...``);
- ``{"op": "poll", "pid": N}`` -> ``{"code": None | int}``;
- ``{"op": "signal", "pid": N, "sig": S}`` -> ``{}`` (to the kernel's process group);
- ``{"op": "sweep", "paths": [...]}`` -> ``{"survivors": n}``: kill every other process in
  the sandbox and empty the scratch folders, so nothing of one student is left for the next.

Forking from an already-imported template costs a few milliseconds instead of
the ~0.45 CPU-s of starting Python, IPython and ipykernel from scratch.
"""

import ctypes
import json
import os
import shutil
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rlimits  # noqa: E402

PRELOAD = [
    "numpy", "IPython", "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell",
    "ipykernel.iostream", "ipykernel.comm", "ipykernel.debugger", "jupyter_client.session",
    "jupyter_client.connect", "tornado.ioloop", "zmq", "zmq.eventloop.zmqstream", "comm", "debugpy",
    "pygments", "sqlite3", "psutil", "pickle", "pdb", "asyncio", "uuid", "decimal", "json", "csv",
    "matplotlib", "matplotlib.pyplot",  # most course notebooks plot (MPLBACKEND=Agg is set before)
]
SANDBOXED = os.environ.get("MLGRADE_SANDBOXED") == "1"
PR_SET_DUMPABLE = 4
PR_SET_PDEATHSIG = 1
_EXITED: dict = {}


def _preload() -> None:
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # a module that is missing here is simply imported later by the kernel
            pass


def _prctl(option: int, value: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except Exception:
        pass


def _not_dumpable() -> None:
    """Kernels run as the same uid: forbid them to ptrace or read the memory of the zygote."""
    _prctl(PR_SET_DUMPABLE, 0)


def _child(cmd: dict) -> None:
    try:
        os.setsid()
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # dies with the zygote, even outside a sandbox
        log = os.open(cmd["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.closerange(3, 65536)
        for sig in (signal.SIGTERM, signal.SIGPIPE, signal.SIGCHLD, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        rlimits.apply(cmd.get("limits", "") + ",core=0")
        os.chdir(cmd["cwd"])
        os.environ.clear()
        os.environ.update(cmd["env"])
        sys.path[:0] = [p for p in cmd["env"].get("PYTHONPATH", "").split(":") if p]
        sys.stdout = os.fdopen(1, "w", buffering=1)
        sys.stderr = os.fdopen(2, "w", buffering=1)
        import random

        import numpy

        random.seed()
        numpy.random.seed()  # the template's RNG state must not be shared; the grader seeds later
        from ipykernel.kernelapp import IPKernelApp

        app = IPKernelApp.instance()
        app.initialize(cmd["args"])
        app.start()
    except BaseException as e:  # noqa: BLE001 - whatever happens, the child must not return into the zygote
        try:
            os.write(2, f"kernel start failed: {type(e).__name__}: {e}\n".encode())
        except Exception:
            pass
        os._exit(1)
    os._exit(0)


def _sweep(paths: list, keep: list) -> int:
    """Kill every process of the sandbox but this one; empty the scratch folders."""
    survivors = 0
    if SANDBOXED:  # kill(-1) inside a PID namespace reaches only the sandbox; never do it outside one
        for _ in range(50):
            try:
                os.kill(-1, signal.SIGKILL)
            except ProcessLookupError:
                pass
            while True:
                try:
                    pid, _status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
            others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid())]
            survivors = len(others)
            if not others:
                break
        for path in paths:
            for entry in os.listdir(path) if os.path.isdir(path) else []:
                full = os.path.join(path, entry)
                if full in keep:
                    continue
                if os.path.isdir(full) and not os.path.islink(full):
                    shutil.rmtree(full, ignore_errors=True)
                else:
                    try:
                        os.unlink(full)
                    except OSError:
                        pass
    return survivors


def main() -> None:
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    _preload()
    _not_dumpable()
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    for line in sys.stdin:
        try:
            cmd = json.loads(line)
            op = cmd.get("op")
            if op == "spawn":
                pid = os.fork()
                if pid == 0:
                    _child(cmd)
                answer = {"pid": pid}
            elif op == "poll":
                pid = cmd["pid"]
                if pid not in _EXITED:
                    try:
                        done, status = os.waitpid(pid, os.WNOHANG)
                        if done:
                            _EXITED[pid] = os.waitstatus_to_exitcode(status)
                    except ChildProcessError:
                        _EXITED[pid] = -9
                answer = {"code": _EXITED.get(pid)}
            elif op == "signal":
                try:
                    os.killpg(cmd["pid"], cmd["sig"])
                except (ProcessLookupError, PermissionError):
                    try:
                        os.kill(cmd["pid"], cmd["sig"])
                    except (ProcessLookupError, PermissionError):
                        pass
                answer = {}
            elif op == "sweep":
                answer = {"survivors": _sweep(cmd.get("paths", []), cmd.get("keep", []))}
            elif op == "ping":
                answer = {"pid": os.getpid()}
            else:
                answer = {"error": f"unknown op {op!r}"}
        except Exception as e:
            answer = {"error": f"{type(e).__name__}: {e}"}
        out.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
