"""Memory and process cgroups for the sandboxes: what a notebook or helper may hold, in every form.

An address-space rlimit sees only a process's own mappings: twelve memfds of 255 MiB, written and
unmapped, are 3 GiB the rlimit never counted and the OOM killer finds in no process's RSS. A memory
cgroup counts every page charged to its processes: anonymous memory, tmpfs and memfd pages, SysV and
POSIX shared memory, the page cache of the files they read and write, kernel memory; the pids
controller counts their processes and threads. When a notebook passes its bound the kernel stops it
there (the OOM killer acts inside the cgroup only), and the grader reads why from the cgroup. Where the cpu
controller is there too, each cgroup competes for the processors as one: a notebook's hundred processes, each
in a session of its own (which escapes the kernel's per-session fairness), weigh as much as another
student's model server, never a hundred times as much; nothing is capped while the machine is idle.

One tree per grader process, made by the grader (the sandbox never sees a cgroup file)::

    <base>/mlgrade-<pid>-<pidns>-<token>/   this grader process's; removed when it exits
        kernels-<slot>-<token>              a worker's kernel zygote (its bubblewrap and all)
        models-<slot>-<token>               a worker's model server
        nb-<token>                          one notebook: its init, its kernel, all they start

Where it is made: cgroup v2 with the memory controller (``<base>``: ``$MLGRADE_CGROUP``, a cgroup
delegated to the grader's user that holds no process itself, or the hierarchy's root when the grader
is root); cgroup v1 (the ``memory`` and ``pids`` hierarchies, as on CI and on machines booted with
``systemd.unified_cgroup_hierarchy=0``) when the grader is root: its own cgroup in each. Anywhere
else :func:`tree` returns the reason, and the backend says what that leaves unbounded.
"""

from __future__ import annotations

import atexit
import errno
import os
import secrets
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from grader.core.portable import pid_alive

PREFIX = "mlgrade-"
SWAP_OFF = "0"


@dataclass(frozen=True)
class Bounds:
    """What one cgroup may hold: bytes of memory in all its forms, and tasks (processes and threads)."""

    memory_bytes: int
    pids: int


@dataclass(frozen=True)
class Usage:
    """What a cgroup went through: OOM kills inside it, times it hit its memory bound, its peak."""

    oom_kills: int = 0
    at_limit: int = 0
    peak_bytes: int = 0


@dataclass(frozen=True)
class _Leg:
    """One cgroup directory of one hierarchy, and which of our controllers it carries there."""

    path: Path
    version: int  # 1 or 2
    controllers: frozenset[str]


def _write(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _fields(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            out[key] = int(value)
    return out


class Cgroup:
    """One sandbox's cgroup (a directory per hierarchy it uses), made by :meth:`CgroupTree.new`."""

    def __init__(self, legs: list[_Leg], bounds: Bounds):
        self.legs = legs
        self.bounds = bounds
        self.removed = False

    @property
    def name(self) -> str:
        return self.legs[0].path.name

    def procs_files(self) -> list[str]:
        """Where a launcher writes its own pid to enter this cgroup (one per hierarchy)."""
        return [str(leg.path / "cgroup.procs") for leg in self.legs]

    def add(self, pid: int) -> None:
        for leg in self.legs:
            _write(leg.path / "cgroup.procs", str(pid))

    def pids(self) -> list[int]:
        """The processes in it (pids of the grader's PID namespace)."""
        return [int(p) for p in _read(self.legs[0].path / "cgroup.procs").split() if p.isdigit()]

    def member(self, inner: int) -> int | None:
        """The process of this cgroup that the PID namespace one level below the grader's (a sandbox's)
        numbers ``inner``, as the grader numbers it. ``NSpid`` in ``/proc/PID/status`` lists a process's
        pid in each namespace from the grader's down, written by the kernel; a notebook's processes, a
        namespace deeper, have longer lists."""
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/status") as f:
                    line = next((ln for ln in f if ln.startswith("NSpid:")), "")
            except OSError:
                continue
            if line.split()[1:] == [str(pid), str(inner)]:
                return pid
        return None

    def usage(self) -> Usage:
        memory = next((leg for leg in self.legs if "memory" in leg.controllers), None)
        if memory is None:
            return Usage()
        p = memory.path
        if memory.version == 2:
            events = _fields(_read(p / "memory.events"))
            peak = _read(p / "memory.peak").strip()
            return Usage(events.get("oom_kill", 0), events.get("max", 0), int(peak) if peak.isdigit() else 0)
        oom = _fields(_read(p / "memory.oom_control"))
        fail, peak = _read(p / "memory.failcnt").strip(), _read(p / "memory.max_usage_in_bytes").strip()
        return Usage(oom.get("oom_kill", 0), int(fail) if fail.isdigit() else 0, int(peak) if peak.isdigit() else 0)

    def kill(self) -> None:
        """SIGKILL every process still in it (race-free: each is signalled through a pidfd opened while
        it was listed here, so a recycled pid is never hit)."""
        for leg in self.legs:
            if leg.version == 2 and (leg.path / "cgroup.kill").exists():
                try:
                    _write(leg.path / "cgroup.kill", "1")
                    return
                except OSError:
                    pass
        for pid in self.pids():
            try:
                fd = os.pidfd_open(pid)
            except OSError:
                continue
            try:
                if pid in self.pids():
                    signal.pidfd_send_signal(fd, signal.SIGKILL)
            except OSError:
                pass
            finally:
                os.close(fd)

    def remove(self, wait: float = 3.0, kill: bool = True) -> bool:
        """Remove it once its processes are gone (with ``kill``, they are killed when still there after
        ``wait`` s)."""
        if self.removed:
            return True
        deadline = time.monotonic() + wait
        killed = False
        while True:
            busy = False
            for leg in self.legs:
                try:
                    os.rmdir(leg.path)
                except FileNotFoundError:
                    pass
                except OSError as e:
                    if e.errno != errno.EBUSY:
                        return False
                    busy = True
            if not busy:
                self.removed = True
                return True
            if time.monotonic() >= deadline:
                if killed or not kill:
                    return False
                self.kill()
                killed = True
                deadline = time.monotonic() + wait
            time.sleep(0.01)


class CgroupTree:
    """This grader process's cgroups, under one directory per hierarchy; :meth:`close` removes them all."""

    def __init__(self, bases: list[_Leg]):
        sweep_stale(bases)
        name = f"{PREFIX}{os.getpid()}-{_pid_namespace()}-{secrets.token_hex(6)}"
        self.roots: list[_Leg] = []
        self.children: list[Cgroup] = []
        self.lock = threading.Lock()
        try:
            for base in bases:
                root = _Leg(base.path / name, base.version, base.controllers)
                root.path.mkdir(mode=0o755)
                self.roots.append(root)
                if base.version == 2:
                    _enable(root.path, base.controllers)
        except OSError:
            self.close()
            raise

    def new(self, kind: str, bounds: Bounds) -> Cgroup:
        """A fresh cgroup ``<kind>-<token>`` with ``bounds``; raises OSError when it cannot be made."""
        name = f"{kind}-{secrets.token_hex(6)}"
        legs = [_Leg(root.path / name, root.version, root.controllers) for root in self.roots]
        made = Cgroup([], bounds)
        try:
            for leg in legs:
                leg.path.mkdir(mode=0o755)
                made.legs.append(leg)
                _limit(leg, bounds)
        except OSError:
            made.remove(wait=0.5)
            raise
        with self.lock:
            self.children = [c for c in self.children if not c.removed] + [made]
        return made

    def close(self) -> None:
        with self.lock:
            children, self.children = self.children, []
        for child in children:  # what is left in them is killed now, not after a wait (1 s of every exit)
            child.kill()
            child.remove(wait=1.0)
        for root in self.roots:
            try:
                os.rmdir(root.path)
            except OSError:
                pass
        self.roots = []


def _enable(path: Path, controllers: frozenset[str]) -> None:
    """cgroup v2: let ``path``'s children use ``controllers`` (it must hold no process itself)."""
    have = set(_read(path / "cgroup.subtree_control").split())
    missing = sorted(controllers - have)
    if missing:
        _write(path / "cgroup.subtree_control", " ".join(f"+{c}" for c in missing))


def _limit(leg: _Leg, bounds: Bounds) -> None:
    p = leg.path
    if "memory" in leg.controllers:
        if leg.version == 2:
            _write(p / "memory.max", str(bounds.memory_bytes))
            if (p / "memory.swap.max").exists():  # pages swapped out would be memory outside the bound
                _write(p / "memory.swap.max", SWAP_OFF)
            if (p / "memory.oom.group").exists():  # the whole notebook goes, not one of its processes
                _write(p / "memory.oom.group", "1")
        else:
            _write(p / "memory.limit_in_bytes", str(bounds.memory_bytes))
            if (p / "memory.memsw.limit_in_bytes").exists():  # memory + swap: swap counts too
                try:
                    _write(p / "memory.memsw.limit_in_bytes", str(bounds.memory_bytes))
                except OSError:
                    pass
    if "pids" in leg.controllers:
        _write(p / "pids.max", str(bounds.pids))
    # "cpu": nothing to write. The default weight makes the cgroup one contender for the processors, as much as
    # any other sandbox's, however many processes it holds.


# --------------------------------------------------------------------------- where the tree can go

def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """(mount point, root inside the hierarchy, fstype, super options) of every cgroup mount."""
    out = []
    for line in _read(Path("/proc/self/mountinfo")).splitlines():
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(fields) >= 5 and len(rest) >= 3 and rest[0] in ("cgroup", "cgroup2"):
            point = fields[4].replace("\\040", " ")
            out.append((point, fields[3], rest[0], set(rest[2].split(","))))
    return out


def _own_paths() -> dict[str, str]:
    """This process's cgroup per hierarchy: controller (or "" for v2) -> path."""
    out = {}
    for line in _read(Path("/proc/self/cgroup")).splitlines():
        _hid, controllers, path = line.split(":", 2)
        for c in (controllers.split(",") if controllers else [""]):
            out[c] = path
    return out


def _inside(point: str, root: str, path: str) -> Path | None:
    """The directory of cgroup ``path`` under a mount of the hierarchy's ``root`` at ``point``."""
    if root != "/" and not (path == root or path.startswith(root.rstrip("/") + "/")):
        return None
    rel = path[len(root):] if root != "/" else path
    return Path(point) / rel.lstrip("/")


def find_bases() -> list[_Leg] | str:
    """Where this process may make its tree (one directory per hierarchy), or why nowhere."""
    if not sys.platform.startswith("linux"):
        return "cgroups are a Linux feature"
    mounts = _mounts()
    own = _own_paths()
    as_root = os.geteuid() == 0
    v2 = next(((p, r) for p, r, t, _ in mounts if t == "cgroup2"), None)
    if v2 is not None:
        available = set(_read(Path(v2[0]) / "cgroup.controllers").split())
        if "memory" in available:
            wanted = frozenset({"memory", "pids"} & available)
            delegated = os.environ.get("MLGRADE_CGROUP")
            if delegated:
                base = Path(delegated)
            elif as_root:
                base = Path(v2[0])
            else:
                return ("cgroup v2 is not delegated to this user (run as root, or set MLGRADE_CGROUP to a cgroup "
                        "delegated to you, e.g. a systemd service or scope with Delegate=yes)")
            try:
                _enable(base, wanted)
            except OSError as e:
                return f"the memory controller cannot be enabled below {base} ({e.strerror})"
            if "cpu" in available:  # fairness between sandboxes where it can be had; bounds do not wait for it
                try:
                    _enable(base, frozenset({"cpu"}))
                    wanted |= {"cpu"}
                except OSError:
                    pass
            return [_Leg(base, 2, wanted)]
    if not as_root:
        return "no cgroup v2 memory controller, and cgroup v1 needs root"
    legs = []
    for controller in ("memory", "pids", "cpu"):
        mount = next(((p, r) for p, r, t, opts in mounts if t == "cgroup" and controller in opts), None)
        if mount is None or controller not in own:
            continue
        path = _inside(mount[0], mount[1], own[controller])
        if path is not None and path.is_dir() and os.access(path, os.W_OK):
            legs.append(_Leg(path, 1, frozenset({controller})))
    if not any("memory" in leg.controllers for leg in legs):
        return "no memory cgroup controller is mounted (neither cgroup v2 nor v1)"
    return legs


def _pid_namespace() -> str:
    """This process's PID namespace (an inode number): a pid names a process only within it."""
    try:
        return os.readlink("/proc/self/ns/pid").strip("pid:[]")
    except OSError:
        return "0"


def sweep_stale(bases: list[_Leg]) -> None:
    """Remove the trees of grader processes of this PID namespace that died without removing them
    (``kill -9``). Their sandboxes died with them, so the cgroups are empty; a busy one is left alone."""
    ns = _pid_namespace()
    for base in bases:
        try:
            entries = list(base.path.iterdir())
        except OSError:
            continue
        for entry in entries:
            parts = entry.name[len(PREFIX):].split("-") if entry.name.startswith(PREFIX) else []
            if len(parts) != 3 or not parts[0].isdigit() or parts[1] != ns or pid_alive(int(parts[0])):
                continue
            if entry.is_symlink() or not entry.is_dir():
                continue
            for child in [c for c in entry.iterdir() if c.is_dir() and not c.is_symlink()]:
                Cgroup([_Leg(child, base.version, base.controllers)], Bounds(0, 0)).remove(wait=0.2, kill=False)
            try:
                os.rmdir(entry)
            except OSError:
                pass


def sweep() -> None:
    """Remove the cgroups of dead graders of this PID namespace (a batch's workers killed for their time)."""
    bases = find_bases() if os.environ.get("MLGRADE_NO_CGROUPS") != "1" else "off"
    if not isinstance(bases, str):
        sweep_stale(bases)


_TREE: CgroupTree | str | None = None
_TREE_LOCK = threading.Lock()


def tree() -> CgroupTree | str:
    """This process's cgroup tree, made on first use; a string says why there is none here."""
    global _TREE
    with _TREE_LOCK:
        if _TREE is None:
            if os.environ.get("MLGRADE_NO_CGROUPS") == "1":
                _TREE = "cgroups were turned off (MLGRADE_NO_CGROUPS=1)"
            else:
                bases = find_bases()
                try:
                    _TREE = CgroupTree(bases) if not isinstance(bases, str) else bases
                except OSError as e:
                    _TREE = f"the grader's cgroups could not be made ({e.strerror or e})"
                if isinstance(_TREE, CgroupTree):
                    atexit.register(close_tree)
        return _TREE


def close_tree() -> None:
    """Remove this process's cgroups (killing what is left in them); the next use makes a new tree."""
    global _TREE
    with _TREE_LOCK:
        made, _TREE = _TREE, None
    if isinstance(made, CgroupTree):
        made.close()
