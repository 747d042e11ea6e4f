"""The bubblewrap backend: read-only sandboxes, an unprivileged uid, and fresh namespaces per notebook.

Every helper runs as ``bwrap --unshare-all --die-with-parent --new-session --clearenv``
with a read-only root (``--remount-ro /`` last, ``/dev`` read-only too); the only
writable place is its own bounded tmpfs ``/tmp``. It sees the Python environment, its
own code and the staging folder, read-only; not the grader's sources, the rubric, the
hidden data, other students' files or the results.

When the grader runs as root, bwrap is started through ``setpriv`` as a uid of the
worker's own (bwrap started as root would map the sandbox to host root), and the folders
it binds are first bind-mounted onto an empty, traversable *portal* folder in a private
mount namespace of the launcher (``unshare --mount``): so a clone under ``/root`` (mode
0700) works, and no sandbox uid ever needs to traverse the grader's private folders.
(bwrap 0.8's ``--ro-bind-fd`` resolves the descriptor back to its path with ``realpath``
and so fails on exactly those folders.)

Notebooks: one kernel zygote per worker (:mod:`grader.insandbox.zygote`) forks a child per
notebook that enters new user, mount, IPC and PID namespaces; see
:mod:`grader.insandbox.notebook_ns`.

Memory: where the grader can make cgroups (:mod:`grader.execute.isolation.cgroups`), each helper starts in
its own (the launcher writes its pid there before anything else runs), and each notebook gets one
of its own: the zygote's forked child waits until the grader has moved it there, so the notebook's
init, kernel and everything they start are in it from their first instruction.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import grader
from grader.core.timeline import mark
from grader.execute.isolation import (
    INSANDBOX,
    ROLE_KERNELS,
    SUPPORT,
    Backend,
    GiB,
    MiB,
    ServiceSpec,
    cgroups,
    kernel_limits,
    notebook_env,
    sandbox_uid,
)
from grader.execute.isolation.cgroups import Bounds, Cgroup
from grader.execute.isolation.service import ServiceError, ServiceProcess
from grader.execute.isolation.staging import PREFIX as PRIVATE_PREFIX
from grader.execute.isolation.staging import Staged, Staging, closed_on_failure, traversable_tmp
from grader.insandbox.supervise import INTERRUPT_GRACE_S

INSANDBOX_INSIDE = "/mlgrade/insandbox"
SUPPORT_INSIDE = "/mlgrade/support"
STAGE_INSIDE = "/mlgrade/stage"
ENV_INSIDE = "/mlgrade/python"
NOTEBOOK_DIRS = ("/work", "/content", "/mlgrade/scratch")
ZYGOTE_ENV = {
    "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0",
    "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1", "MPLCONFIGDIR": "/tmp/.matplotlib",
}
LAUNCHER = 'while [ "$1" != "--" ]; do mount --bind "$1" "$2" || exit 97; shift 2; done; shift; exec "$@"'
# The first step of a helper in a cgroup: the shell writes its own pid into each hierarchy's cgroup.procs,
# then becomes the helper (exec keeps the pid), so nothing of the sandbox ever runs outside it.
ENTER_CGROUP = 'while [ "$1" != "--" ]; do echo $$ > "$1" || exit 96; shift; done; shift; exec "$@"'
ZYGOTE_MEMORY = GiB  # the zygote: 80 MB after its imports; a 96 MiB record parsed takes a few hundred more
NOTEBOOK_TASKS = 256  # processes and threads of one notebook (a fork storm stops here)


@lru_cache(maxsize=1)
def bwrap_path() -> str | None:
    return shutil.which("bwrap") or (os.path.exists("/usr/bin/bwrap") and "/usr/bin/bwrap") or None


@lru_cache(maxsize=1)
def python_env_binds() -> tuple[tuple[str, str], ...]:
    """(host folder, inside folder) of the interpreter and its packages, bound read-only.

    The environment (``sys.prefix``) appears at :data:`ENV_INSIDE` whatever its host path,
    so it can never collide with the sandbox's own folders (``/tmp``, ``/work``); a base
    installation outside ``/usr`` keeps its own path (the venv's interpreter links to it).
    """
    prefix = os.path.realpath(sys.prefix)
    binds: list[tuple[str, str]] = []
    if not (prefix.startswith("/usr/") or prefix in ("/usr", "/")):
        binds.append((prefix, ENV_INSIDE))
    for p in (sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable))):
        real = os.path.realpath(p)
        if real.startswith("/usr/") or real in ("/usr", "/") or real == prefix or real.startswith(prefix + "/"):
            continue
        if not any(real == h or real.startswith(h + "/") for h, _ in binds):
            binds.append((real, real))
    return tuple(binds)


def inside(host_path: str) -> str:
    """Where a path of the Python environment appears in the sandbox."""
    for prefix in {sys.prefix, os.path.realpath(sys.prefix)}:
        if any(i == ENV_INSIDE for _, i in python_env_binds()) and (
                host_path == prefix or host_path.startswith(prefix + "/")):
            return ENV_INSIDE + host_path[len(prefix):]
    return host_path


def _grader_source_dirs() -> list[str]:
    return [os.path.dirname(os.path.realpath(grader.__file__))]


def _as_root() -> bool:
    return os.geteuid() == 0


class _Portal:
    """Empty folders, traversable by the sandbox uid, onto which the launcher binds private folders."""

    def __init__(self) -> None:
        # named like the staging folders, so a grader killed with -9 has it swept by the next one
        self.root = Path(tempfile.mkdtemp(prefix=f"{PRIVATE_PREFIX}{os.getpid()}-portal-", dir=traversable_tmp()))
        os.chmod(self.root, 0o755)
        self.binds: list[tuple[str, str]] = []

    def via(self, source: str) -> str:
        hole = self.root / str(len(self.binds))
        hole.mkdir(mode=0o755)
        self.binds.append((source, str(hole)))
        return str(hole)

    def launcher(self) -> list[str]:
        args = [a for pair in self.binds for a in pair]
        return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", LAUNCHER, "sh", *args, "--"]

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)  # empty on the host: the binds lived in the launcher only


def command(spec: ServiceSpec, staging: Staging | None, argv: list[str],
            cgroup: Cgroup | None = None) -> tuple[list[str], _Portal | None, int]:
    """The command line that runs ``argv`` in bubblewrap as ``spec`` says, in ``cgroup`` when given:
    (argv, portal to close, uid)."""
    bw = bwrap_path()
    if bw is None:
        raise ServiceError("bubblewrap is not installed")
    portal = _Portal() if _as_root() else None
    uid = sandbox_uid(spec.slot, spec.role) if _as_root() else os.getuid()

    def src(path: str) -> str:
        return portal.via(path) if portal is not None else path

    # Order matters: a later mount hides what an earlier one put at the same place, so the private
    # /tmp comes first and the Python environment (which may live under /tmp) is bound after it;
    # the root becomes read-only last, once every mount point exists.
    cmd = [bw, "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
           "--proc", "/proc", "--dev", "/dev", "--size", str(spec.tmp_bytes), "--tmpfs", "/tmp",
           "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/lib", "/lib64", "/lib32", "/sbin"):
        if os.path.islink(top):
            cmd += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            cmd += ["--ro-bind", top, top]
    for etc in ("/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives", "/etc/fonts"):
        cmd += ["--ro-bind-try", etc, etc]
    for host, where in python_env_binds():
        cmd += ["--ro-bind", src(host), where]
    cmd += ["--ro-bind", src(str(INSANDBOX)), INSANDBOX_INSIDE]
    if spec.with_support:
        cmd += ["--ro-bind", src(str(SUPPORT)), SUPPORT_INSIDE]
    if staging is not None:
        cmd += ["--ro-bind", src(str(staging.root)), STAGE_INSIDE]
    if spec.notebook_dirs:
        for d in NOTEBOOK_DIRS:
            cmd += ["--dir", d]
    # The grader's own code must not be readable from inside, even when it is installed in site-packages.
    for source_dir in _grader_source_dirs():
        for host, where in python_env_binds():
            if source_dir == host or source_dir.startswith(host + "/"):
                masked = where + source_dir[len(host):]
                cmd += ["--size", "4096", "--tmpfs", masked, "--remount-ro", masked]
    cmd += ["--remount-ro", "/dev", "--remount-ro", "/"]
    env = {"HOME": "/tmp", "LANG": "C.UTF-8", "USER": "student", "LOGNAME": "student", "MLGRADE_SANDBOXED": "1",
           **{k: v.replace("{scratch}", "/tmp") for k, v in spec.env.items()}}
    for k, v in env.items():
        cmd += ["--setenv", k, v]
    cmd += ["--chdir", "/tmp", "--", *argv]
    if _as_root():
        cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--", *cmd]
        assert portal is not None
        cmd = [*portal.launcher(), *cmd]
    if cgroup is not None:
        cmd = ["sh", "-c", ENTER_CGROUP, "sh", *cgroup.procs_files(), "--", *cmd]
    return cmd, portal, uid


class _Zygote:
    """The worker's kernel factory in bubblewrap, plus the submission it last staged and the cgroups of
    its notebooks (removed, with whatever is left in them, when it closes)."""

    def __init__(self, backend: BubblewrapBackend, slot: int):
        spec = ServiceSpec("zygote.py", slot, ROLE_KERNELS, env=dict(ZYGOTE_ENV), tmp_bytes=64 * MiB,
                           with_support=True, notebook_dirs=True, memory_bytes=ZYGOTE_MEMORY)
        self.slot = slot
        self.service, self.cgroup = backend.start(spec)
        self.notebooks: set[Cgroup] = set()
        self.staged: tuple[tuple, Staged] | None = None

    def stage(self, submission: Path, aliases: list[str]) -> Staged:
        key = (str(submission), _fingerprint(submission), tuple(aliases))
        if self.staged is not None and self.staged[0] == key:
            return self.staged[1]
        self.unstage()
        owner = self.service.uid if _as_root() else None
        folder = self.service.staging.put_tree(submission, owner, aliases)
        self.staged = (key, folder)
        return folder

    def unstage(self) -> None:
        if self.staged is not None:
            self.service.staging.remove(self.staged[1])
            self.staged = None

    def close(self) -> None:
        self.unstage()
        self.service.close()
        for cg in list(self.notebooks):
            cg.remove()
        self.notebooks.clear()

    def notebook_cgroup(self, request: dict[str, Any]) -> Cgroup | None:
        """A fresh cgroup for one notebook: its address space and its scratch, the two bounds it already
        had, now for all its memory together. None where this zygote has no cgroup."""
        tree = cgroups.tree()
        if self.cgroup is None or isinstance(tree, str):
            return None
        memory = int(request["memory_bytes"]) + int(request.get("scratch_bytes", 512 * MiB))
        try:
            cg = tree.new("nb", Bounds(memory, NOTEBOOK_TASKS))
        except OSError as e:
            raise ServiceError(f"the notebook's memory cgroup could not be made ({e.strerror or e})") from None
        self.notebooks.add(cg)
        return cg

    def drop_cgroup(self, cg: Cgroup | None) -> None:
        if cg is not None:
            cg.remove()
            self.notebooks.discard(cg)

    def placer(self, cg: Cgroup | None):
        """The grader's half of ``{"event": "place"}``: move the zygote's forked child into ``cg``."""
        def place(event: dict) -> dict:
            inner = event.get("pid")
            if event.get("event") != "place" or cg is None or self.cgroup is None or type(inner) is not int:
                return {"placed": False, "reason": "unexpected request"}
            host = self.cgroup.member(inner)
            if host is None:
                return {"placed": False, "reason": "the notebook's process was not found in its sandbox"}
            try:
                cg.add(host)
            except OSError as e:
                return {"placed": False, "reason": f"its memory cgroup could not take it ({e.strerror})"}
            return {"placed": True}

        return place


def memory_reason(limit: int) -> str:
    """What a student reads when their notebook was stopped by its memory cgroup."""
    size = f"{limit / GiB:.3g} GiB" if limit >= GiB else f"{limit // MiB} MiB"
    return (f"your notebook held more than {size} of memory in all (its variables, the files it wrote in /tmp, "
            "/dev/shm or its folder, shared memory and memfd, and the programs it started, together) and was "
            "stopped; keep less in memory at once (smaller arrays, fewer copies, del what you no longer need)")


def _fingerprint(root: Path) -> tuple:
    """Names, sizes and times of a submission's files: a staged copy is reused only for the same files."""
    out = []
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            try:
                st = os.lstat(os.path.join(dirpath, f))
            except OSError:
                continue
            out.append((os.path.relpath(os.path.join(dirpath, f), root), st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(sorted(out))


# a live session, as open_session hands it out: (the zygote it runs in, its id there, its cgroup)
_SessionHandle = tuple[_Zygote, str, Cgroup | None]


class BubblewrapBackend(Backend):
    name = "bwrap"
    isolated = True
    guarantees = (
        "student code ran in bubblewrap: no network, a read-only system, an unprivileged user, and for "
        "each notebook fresh private namespaces and a bounded scratch disk that vanish when it ends"
    )

    def __init__(self) -> None:
        self._zygotes: dict[int, _Zygote] = {}
        self._starting = threading.Lock()  # one zygote start per slot, whether warm() or a notebook asks

    def warm(self, slot: int) -> None:
        self._zygote(slot)

    @property
    def dedicated_uid(self) -> bool:
        return _as_root()

    def problem(self) -> str | None:
        return _problem()

    def start_service(self, spec: ServiceSpec) -> ServiceProcess:
        return self.start(spec)[0]

    def start(self, spec: ServiceSpec) -> tuple[ServiceProcess, Cgroup | None]:
        """``spec``'s helper in bubblewrap, in a cgroup of its own where there can be one."""
        staging = Staging(STAGE_INSIDE)
        cg: Cgroup | None = None
        with closed_on_failure(staging):
            tree = cgroups.tree()
            if not isinstance(tree, str):
                kind = "kernels" if spec.role == ROLE_KERNELS else "models"
                try:
                    cg = tree.new(f"{kind}-{spec.slot}", Bounds(spec.memory_bytes, spec.tasks))
                except OSError as e:
                    raise ServiceError(f"its memory cgroup could not be made ({e.strerror or e})") from None
            try:
                argv, portal, uid = command(spec, staging,
                                            [inside(sys.executable), f"{INSANDBOX_INSIDE}/{spec.script}"], cg)
            except BaseException:
                if cg is not None:
                    cg.remove()
                raise

        def closed() -> None:
            if portal is not None:
                portal.close()
            if cg is not None:
                cg.remove()

        return ServiceProcess(argv, staging, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, uid=uid,
                              startup_timeout=spec.startup_timeout, on_close=closed), cg

    def unbounded(self) -> str | None:
        tree = cgroups.tree()
        if not isinstance(tree, str):
            return None
        return (f"no memory cgroup here ({tree}): what a notebook holds outside its address-space limit (memfd, "
                "shared memory, a tmpfs it mounts itself) and the memory of all its processes together are not "
                "bounded, and its processes are limited per sandbox user only")

    def _zygote(self, slot: int) -> _Zygote | str:
        with self._starting:
            try:
                z = self._zygotes.get(slot)
                if z is None or not z.service.alive():
                    if z is not None:
                        z.close()
                    mark("zygote: starting")
                    z = self._zygotes[slot] = _Zygote(self, slot)
                    mark("zygote: ready")
            except ServiceError as e:
                self._zygotes.pop(slot, None)
                return f"the kernel sandbox did not start ({e})"
            return z

    def _request(self, z: _Zygote, op: str, request: dict[str, Any], cg: Cgroup | None) -> dict[str, Any]:
        folder = z.stage(Path(request["submission"]), list(request.get("aliases", [])))
        req = {k: v for k, v in request.items() if k not in ("submission", "aliases")}
        env = notebook_env(SUPPORT_INSIDE, "/work", True, os.path.dirname(inside(sys.executable)))
        req.update(op=op, stage=folder.inside, env=env, place=cg is not None,
                   limits=kernel_limits(request["memory_bytes"], request["notebook_timeout"], self.dedicated_uid))
        return req

    def _ask(self, z: _Zygote, op: str, request: dict[str, Any], deadline_s: float) -> tuple[dict, Cgroup | None]:
        """Send a notebook to the zygote in a cgroup of its own; the answer says why when its memory
        bound stopped it."""
        cg = z.notebook_cgroup(request)
        try:
            answer = z.service.request(self._request(z, op, request, cg), timeout=deadline_s, on_event=z.placer(cg))
        except BaseException:
            z.drop_cgroup(cg)
            raise
        _account(answer, cg)
        return answer, cg

    def _drop(self, z: _Zygote) -> None:
        """Stop a zygote and remove its staged folders; the next request of its slot starts a new one."""
        z.close()
        if self._zygotes.get(z.slot) is z:
            self._zygotes.pop(z.slot, None)

    def _lost(self, z: _Zygote, request: dict[str, Any]) -> dict[str, Any]:
        self._drop(z)
        return {"status": "timeout", "reason": f"the notebook did not finish within "
                                               f"{float(request['notebook_timeout']):g} s and was stopped"}

    def run_notebook(self, slot: int, request: dict[str, Any], deadline_s: float) -> dict[str, Any]:
        z = self._zygote(slot)
        if isinstance(z, str):
            return {"status": "error", "reason": z}
        try:
            answer, cg = self._ask(z, "run", request, deadline_s)
        except ServiceError as e:  # the zygote stopped answering (it was killed), or no cgroup could be made
            return self._lost(z, request) if not z.service.alive() else {"status": "error", "reason": str(e)}
        z.drop_cgroup(cg)
        return answer

    def open_session(self, slot: int, request: dict[str, Any],
                     deadline_s: float) -> tuple[dict[str, Any], _SessionHandle | None]:
        z = self._zygote(slot)
        if isinstance(z, str):
            return {"status": "error", "reason": z}, None
        try:
            answer, cg = self._ask(z, "open", request, deadline_s)
        except ServiceError as e:
            return (self._lost(z, request) if not z.service.alive() else {"status": "error", "reason": str(e)}), None
        sid = answer.pop("session", None)
        if not isinstance(sid, str):
            z.drop_cgroup(cg)
            return answer, None
        return answer, (z, sid, cg)

    def session_call(self, handle: _SessionHandle, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        z, sid, cg = handle
        if self._zygotes.get(z.slot) is not z or not z.service.alive():
            return {"status": "closed"}
        try:
            answer = z.service.request({"op": "call", "session": sid, "request": request, "timeout": timeout},
                                       timeout=timeout + INTERRUPT_GRACE_S + 15)
        except ServiceError:
            self._drop(z)
            return {"status": "died", "reason": "the notebook sandbox stopped answering"}
        if answer.get("status") in ("killed", "died", "wall"):  # the session is over: so is its cgroup
            _account(answer, cg)
            z.drop_cgroup(cg)
        return answer

    def close_session(self, handle: _SessionHandle) -> None:
        z, sid, cg = handle
        if self._zygotes.get(z.slot) is not z:
            return  # already replaced, and closed then
        if not z.service.alive():  # died meanwhile: its staged folders still go now, not at the next start
            self._drop(z)
            return
        try:
            z.service.request({"op": "close", "session": sid}, timeout=30)
        except ServiceError:
            self._drop(z)
        z.drop_cgroup(cg)

    def close(self) -> None:
        for z in self._zygotes.values():
            z.close()
        self._zygotes.clear()


def _account(answer: dict[str, Any], cg: Cgroup | None) -> None:
    """A kernel the OOM killer stopped in its cgroup died for its memory: the answer says so."""
    if cg is not None and answer.get("status") in ("kernel_died", "died") and cg.usage().oom_kills:
        answer["stopped_for"] = memory_reason(cg.bounds.memory_bytes)


# What the sandbox user must reach to grade anything: the interpreter, its site-packages and numpy's files.
# Found and opened, not imported (an import costs 0.2 s of every run; the zygote imports it anyway).
PROBE = ("import importlib.util, sys\n"
         "s = importlib.util.find_spec('numpy')\n"
         "if s is None or not s.origin:\n"
         "    sys.exit('No such file: numpy is not found here (Permission denied on its folder?)')\n"
         "open(s.origin, 'rb').close()\n"
         "print('ok')\n")


@lru_cache(maxsize=1)
def _problem() -> str | None:
    if not sys.platform.startswith("linux"):
        return "bubblewrap needs Linux"
    if bwrap_path() is None:
        return "bubblewrap is not installed (Debian/Ubuntu: sudo apt-get install bubblewrap)"
    if _as_root():
        missing = [t for t in ("setpriv", "unshare", "mount") if shutil.which(t) is None]
        if missing:
            return f"{', '.join(missing)} not found (util-linux), needed to drop to a sandbox user"
    spec = ServiceSpec("none", slot=0, role=ROLE_KERNELS)
    try:
        argv, portal, _uid = command(spec, None, [inside(sys.executable), "-c", PROBE])
    except ServiceError as e:
        return str(e)
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bubblewrap failed to start: {e}"
    finally:
        if portal is not None:
            portal.close()
    if res.returncode != 0 or res.stdout.strip() != "ok":
        why = res.stderr.strip()[-300:] or f"exit {res.returncode}"
        if "Permission denied" in why or "No such file" in why:
            why += (f" (the sandbox user cannot read the Python environment at {sys.prefix}: make it readable "
                    "by other users, e.g. a virtualenv from /usr/bin/python3)")
        return f"bubblewrap failed: {why}"
    return None
