"""The kernel zygote: imports what a notebook needs once, then forks a fresh, private kernel per notebook.

Runs inside bubblewrap (read-only root, uid U, no network) and imports nothing of
mlgrade but its neighbours. Protocol: one JSON command per line on stdin, one JSON
answer per line on stdout.

- ``{"op": "ping"}`` -> ``{"pid": N, "maxrss": bytes}`` (its own peak memory);
- ``{"op": "run", "stage": dir, "cwd": rel, "env": {...}, "limits": "...", "scratch_bytes": n,
  ...the supervisor's request}`` -> the supervisor's answer (:mod:`supervise`);
- ``{"op": "open", ...as run, "session_timeout": s}`` -> the same answer after the cells, plus
  ``"session": id`` when the kernel is kept alive for a live session;
- ``{"op": "call", "session": id, "request": {...}, "timeout": s}`` -> :func:`supervise.live_request`'s
  answer (the session ends when the kernel was killed, died or ran out of time);
- ``{"op": "close", "session": id}`` -> ``{"status": "closed", "exit": code}``.

With ``"place": true`` in ``run`` or ``open``, the zygote asks before the notebook starts: it writes
``{"event": "place", "pid": n}`` (the forked child, as this sandbox numbers it) and waits for one line
``{"placed": true}`` (the grader has put that process in the notebook's cgroup) or ``{"placed": false,
"reason": ...}``; the child does nothing of the notebook before it is placed.

For each ``run`` the zygote forks a child that enters new user, mount, IPC and PID
namespaces (:mod:`notebook_ns`), mounts one fresh bounded tmpfs for every writable
place and shows the staged submission at ``/work`` (copy-on-write), then forks a small
init as PID 1 of the new PID namespace, which forks the kernel; both drop every capability, applies
its rlimits and only then runs the student's first cell. The zygote supervises it
from outside those namespaces (the kernel can neither see nor signal it, and it is not
dumpable), and kills the init at the end: with PID 1 gone, every process the student
started dies, and the tmpfs and IPC objects vanish with the namespaces.
"""

import ctypes
import json
import os
import signal
import sys
import time
from typing import TextIO

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kernel  # noqa: E402
import notebook_ns  # noqa: E402
import rlimits  # noqa: E402
import supervise  # noqa: E402

PRELOAD = [
    "numpy", "IPython", "pygments", "sqlite3", "pickle", "pdb", "asyncio", "uuid", "decimal", "json", "csv",
    "pexpect",
]
# Imported before the first fork of a notebook that imports them (the grader lists a notebook's top-level
# imports in ``"imports"``), then kept: matplotlib costs 0.5-0.8 s, which a zygote whose notebooks never
# plot (a one-notebook check, a numpy assignment) need not pay at its start.
ON_DEMAND = {
    "matplotlib": ["matplotlib", "matplotlib.pyplot", "matplotlib_inline.backend_inline"],
    "pandas": ["pandas"], "scipy": ["scipy", "scipy.special", "scipy.stats"], "sklearn": ["sklearn"],
    "seaborn": ["seaborn"],
}
PR_SET_DUMPABLE = 4
PR_SET_PDEATHSIG = 1
KERNEL_START_S = 30.0
ZYGOTE_AS = 2 * 1024**3  # its own address space: 230 MB after its imports, a few hundred more for a 96 MiB record


def _import_all(names: list[str]) -> None:
    import importlib

    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # a module that is missing here is simply imported later by the kernel
            pass


def _preload() -> None:
    _import_all(PRELOAD)
    kernel.prepare()


def preload_for(req: dict) -> None:
    """Before forking a notebook: import the on-demand groups its imports name (only names of ON_DEMAND,
    whatever the request lists), once per zygote."""
    wanted = req.get("imports")
    for top in wanted if isinstance(wanted, list) else []:
        group = ON_DEMAND.pop(top, None) if isinstance(top, str) else None
        if group:
            _import_all(group)


def _prctl(option: int, value: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except Exception:
        pass


def _kernel_child(req: dict, cmd_r: int, rec_w: int, log_w: int) -> None:
    """The kernel, PID 2 of the notebook's namespaces: limits, then serve cells. Never returns."""
    try:
        notebook_ns.drop_privileges()  # already done by PID 1: checked again, it must hold
        _prctl(PR_SET_DUMPABLE, 1)  # ptrace/proc of the kernel by its own children, as on any machine
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        os.setsid()
        try:  # in any out-of-memory kill, the notebook's own processes go first (never its init or the zygote)
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write("1000")
        except OSError:
            pass
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log_w, 1)
        os.dup2(log_w, 2)
        for sig in (signal.SIGTERM, signal.SIGPIPE, signal.SIGCHLD, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        rlimits.apply(req.get("limits", "") + ",core=0")
        env = {str(k): str(v) for k, v in req.get("env", {}).items()}
        os.environ.clear()
        os.environ.update(env)
        sys.path[:0] = [p for p in env.get("PYTHONPATH", "").split(":") if p]
        os.chdir(os.path.join(notebook_ns.WORK, req.get("cwd", "")))
        import random

        import numpy

        random.seed()
        numpy.random.seed()  # the template's RNG state must not be shared; the seed cell sets the grader's
        kernel.serve(cmd_r, rec_w, 1, int(req.get("output_chars", 100_000)))
    except BaseException as e:  # noqa: BLE001 - whatever happens, never return into the zygote's loop
        try:
            import traceback

            where = traceback.extract_tb(e.__traceback__)[-1]
            os.write(2, f"kernel start failed: {type(e).__name__}: {e} ({where.filename}:{where.lineno})\n".encode())
        except Exception:
            pass
        os._exit(70)
    os._exit(0)


def _init(req: dict, pipes: dict) -> None:
    """PID 1 of the notebook's namespace: forks the kernel (PID 2, so that signals behave as on any
    machine), forwards the supervisor's SIGINT to it, reaps orphans, and exits with the kernel."""
    try:
        notebook_ns.mount_proc()
        notebook_ns.drop_privileges()
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        kpid = os.fork()
        if kpid == 0:
            _kernel_child(req, pipes["cmd_r"], pipes["rec_w"], pipes["log_w"])
        for fd in (pipes["cmd_r"], pipes["rec_w"], pipes["log_w"]):
            os.close(fd)
        signal.signal(signal.SIGINT, lambda *_: os.kill(kpid, signal.SIGINT))
        while True:
            pid, status = os.waitpid(-1, 0)
            if pid == kpid:
                code = os.waitstatus_to_exitcode(status)
                os._exit(code & 0xFF if code >= 0 else 128 + (-code))
    except BaseException:  # noqa: BLE001
        os._exit(72)


def _namespace_child(req: dict, pipes: dict) -> None:
    """The zygote's child: enters the notebook's namespaces and forks the kernel into them."""
    try:
        # Only the notebook's own pipes survive: above all not the zygote's line to the grader.
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        keep = {0, 1, 2, pipes["cmd_r"], pipes["rec_w"], pipes["log_w"], pipes["ctl_w"], pipes["go_r"]}
        for fd in [int(n) for n in os.listdir("/proc/self/fd")]:
            if fd not in keep:
                try:
                    os.close(fd)
                except OSError:
                    pass
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        # Nothing of the notebook happens before the grader has put this process in the notebook's cgroup
        # (everything forked below is then in it too); without a go, it ends here.
        if os.read(pipes["go_r"], 1) != b"1":
            os._exit(75)
        os.close(pipes["go_r"])
        # The zygote is not dumpable, which makes /proc/self root's: this child must write its own
        # uid_map. It lives outside the kernel's PID namespace, so the kernel cannot reach it.
        _prctl(PR_SET_DUMPABLE, 1)
        uid, gid = os.getuid(), os.getgid()
        notebook_ns.enter(uid, gid)
        notebook_ns.mount_scratch(int(req["scratch_bytes"]), req["stage"], uid)
        pid = os.fork()
        if pid == 0:
            os.close(pipes["ctl_w"])
            _init(req, pipes)
        os.write(pipes["ctl_w"], f"{pid}\n".encode())
        os.close(pipes["ctl_w"])
        for fd in (pipes["cmd_r"], pipes["rec_w"], pipes["log_w"]):
            os.close(fd)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        os._exit(code & 0xFF if code >= 0 else 128 + (-code))
    except BaseException as e:  # noqa: BLE001
        try:
            os.write(pipes["ctl_w"], f"error {type(e).__name__}: {e}\n".encode())
        except Exception:
            pass
        os._exit(71)


def _read_ctl(fd: int, timeout: float) -> str:
    import select

    data = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in data and len(data) < 4096:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data.decode("utf-8", "replace").strip()


class _Notebook:
    """One forked notebook as the zygote holds it: its namespace child, its init, its pipes."""

    def __init__(self, req: dict):
        preload_for(req)
        self.pipes: dict[str, int] = {}
        for name in ("cmd", "rec", "log", "ctl", "go"):
            self.pipes[f"{name}_r"], self.pipes[f"{name}_w"] = os.pipe()
        self.child = os.fork()
        if self.child == 0:
            os.close(self.pipes["go_w"])
            _namespace_child(req, self.pipes)
        for fd in ("cmd_r", "rec_w", "log_w", "ctl_w", "go_r"):
            os.close(self.pipes[fd])
        self.kpid: int | None = None
        self.kernel: supervise.Kernel | None = None
        self.problem = ""
        placed = _ask({"event": "place", "pid": self.child}) if req.get("place") else {"placed": True}
        if placed.get("placed") is True:
            os.write(self.pipes["go_w"], b"1")
        os.close(self.pipes["go_w"])
        if placed.get("placed") is not True:
            self.problem = f"the notebook sandbox did not start ({str(placed.get('reason', 'not placed'))[:300]})"
            return
        ctl = _read_ctl(self.pipes["ctl_r"], KERNEL_START_S)
        if not ctl.isdigit():
            self.problem = f"the notebook sandbox did not start ({ctl[:300] or 'no answer'})"
        else:
            self.kpid = int(ctl)
            self.kernel = supervise.Kernel(self.kpid, self.pipes["cmd_w"], self.pipes["rec_r"], self.pipes["log_r"])

    def end(self, answer: dict) -> None:
        """Kill the notebook (its init: everything in its namespaces dies with it) and record its exit."""
        status = None
        if self.kpid is not None and answer.get("status") in ("kernel_died", "died"):
            # the kernel is gone: let its init exit with the kernel's own status before anything is killed
            deadline = time.monotonic() + 2
            while status is None and time.monotonic() < deadline:
                done, st = os.waitpid(self.child, os.WNOHANG)
                status = st if done else None
                if status is None:
                    time.sleep(0.01)
        if self.kpid is not None and status is None:
            try:
                os.kill(self.kpid, signal.SIGKILL)  # PID 1 of the notebook: everything in it dies with it
            except ProcessLookupError:
                pass
        for fd in ("cmd_w", "rec_r", "log_r", "ctl_r"):
            try:
                os.close(self.pipes[fd])
            except OSError:
                pass
        if status is None:
            _, status = os.waitpid(self.child, 0)
        answer["exit"] = os.waitstatus_to_exitcode(status)


def run(req: dict) -> dict:
    nb = _Notebook(req)
    answer: dict = {"status": "error", "reason": nb.problem}
    try:
        if nb.kernel is not None:
            answer = supervise.supervise(nb.kernel, req)
            supervise.finish(nb.kernel, answer)
    finally:
        nb.end(answer)
    return answer


# Live sessions: a notebook whose kernel stays alive after its cells, for the grader's calls one at a time.
SESSIONS: dict[str, tuple[_Notebook, float]] = {}
MAX_SESSIONS = 4


def open_session(req: dict) -> dict:
    """Run the cells like ``run``; when the kernel is still well, keep it and answer with its ``session`` id."""
    import secrets

    while len(SESSIONS) >= MAX_SESSIONS:  # the grader closes its sessions; a leak is bounded all the same
        close_session({"session": next(iter(SESSIONS))})
    nb = _Notebook(req)
    answer: dict = {"status": "error", "reason": nb.problem}
    keep = False
    try:
        if nb.kernel is not None:
            answer = supervise.supervise(nb.kernel, req)
            keep = answer.get("status") == "ok"
            if not keep:
                supervise.finish(nb.kernel, answer)
    finally:
        if not keep:
            nb.end(answer)
    if keep:
        sid = secrets.token_hex(8)
        SESSIONS[sid] = (nb, time.monotonic() + float(req.get("session_timeout", 300)))
        answer["session"] = sid
    return answer


def call_session(cmd: dict) -> dict:
    entry = SESSIONS.get(str(cmd.get("session")))
    if entry is None:
        return {"status": "closed"}
    nb, wall = entry
    assert nb.kernel is not None
    answer = supervise.live_request(nb.kernel, cmd.get("request") or {}, float(cmd.get("timeout", 20)), wall)
    if answer["status"] in ("killed", "died", "wall"):
        SESSIONS.pop(str(cmd.get("session")), None)
        answer["log_tail"] = nb.kernel.log_tail()[-2000:]
        nb.end(answer)
    return answer


def close_session(cmd: dict) -> dict:
    entry = SESSIONS.pop(str(cmd.get("session")), None)
    if entry is None:
        return {"status": "closed"}
    nb, _ = entry
    answer: dict = {"status": "closed"}
    assert nb.kernel is not None
    supervise.finish(nb.kernel, answer)
    nb.end(answer)
    return answer


def _maxrss() -> int:
    """This process's peak resident memory in bytes: VmHWM, its own (not ru_maxrss, which keeps the peak of
    whatever process forked the launcher before it was exec'd; forked notebooks are not counted either)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(ln.split()[1]) * 1024 for ln in f if ln.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError):
        return 0


_OUT: TextIO | None = None  # the line to the grader (answers and events); stdout itself goes to the log


def _ask(event: dict) -> dict:
    """Ask the grader something in the middle of a request (``{"event": "place", "pid": n}``: put this
    forked child in the notebook's cgroup) and wait for its one-line reply."""
    if _OUT is None:
        raise RuntimeError("asked the grader before main() opened the line to it")
    _OUT.write(json.dumps(event) + "\n")
    line = sys.stdin.readline()
    try:
        reply = json.loads(line)
    except ValueError:
        reply = None
    return reply if isinstance(reply, dict) else {"reason": "the grader did not answer"}


def _limit_self() -> None:
    """The zygote's own limits: a soft address-space limit (a kernel sets its own, higher or lower, since the
    hard limit stays open), no core files. Its memory in all is bounded by its cgroup where there is one."""
    import resource

    for limit, value in ((resource.RLIMIT_AS, ZYGOTE_AS), (resource.RLIMIT_CORE, 0)):
        _soft, hard = resource.getrlimit(limit)
        resource.setrlimit(limit, (value if hard == resource.RLIM_INFINITY else min(value, hard), hard))


def main() -> None:
    global _OUT
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    _prctl(PR_SET_DUMPABLE, 0)  # kernels run as the same uid: forbid them to ptrace or read the zygote
    _limit_self()
    out = _OUT = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    _preload()
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        try:
            cmd = json.loads(line)
            op = cmd.get("op")
            if op == "run":
                answer = run(cmd)
            elif op == "open":
                answer = open_session(cmd)
            elif op == "call":
                answer = call_session(cmd)
            elif op == "close":
                answer = close_session(cmd)
            elif op == "ping":
                answer = {"pid": os.getpid(), "maxrss": _maxrss()}
            else:
                answer = {"error": f"unknown op {op!r}"}
        except Exception as e:
            answer = {"error": f"{type(e).__name__}: {e}"}
        out.write(json.dumps(answer, separators=(",", ":")) + "\n")  # compact: never larger than the kernel's


if __name__ == "__main__":
    main()
