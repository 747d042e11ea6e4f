"""Per-notebook namespaces inside the sandbox: a private filesystem view that vanishes with the notebook.

Called in a child of the zygote (already inside bubblewrap, read-only root, uid U):

1. :func:`enter` - new user, mount, IPC and PID namespaces (U mapped to itself);
2. :func:`mount_scratch` - ONE fresh tmpfs of a bounded size holds every writable
   place (``/tmp``, ``/dev/shm``, ``/content``, and the writes to ``/work``, an
   overlay whose read-only lower layer is the submission the grader staged);
3. after a ``fork`` (the child is PID 1 of the new PID namespace, the kernel's init):
   :func:`mount_proc` and :func:`drop_privileges` (capability bounding set, capabilities, no_new_privs).

When PID 1 exits every process of the namespace is killed, and the tmpfs, the
SysV/POSIX IPC objects and the mounts go with the last of them: nothing a student
leaves behind reaches the next notebook.
"""

from __future__ import annotations

import ctypes
import os

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
LINUX_CAPABILITY_VERSION_3 = 0x20080522

SCRATCH = "/mlgrade/scratch"  # an empty mount point bubblewrap created; the tmpfs is mounted here first
WORK = "/work"
WRITABLE = {"/tmp": "tmp", "/dev/shm": "shm", "/content": "content"}

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def enc(s: str | None) -> bytes | None:
        return s.encode() if s is not None else None

    _check(_libc.mount(enc(source), target.encode(), enc(fstype), flags, enc(data)), f"mount {target}")


def enter(uid: int, gid: int) -> None:
    """New user, mount, IPC and PID namespaces; ``uid``/``gid`` keep their numbers inside."""
    _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWPID), "unshare")
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"{uid} {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"{gid} {gid} 1")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)


def mount_scratch(size_bytes: int, lower: str, uid: int) -> str:
    """Mount the notebook's one bounded tmpfs and lay the writable places out on it.

    ``/work`` shows ``lower`` (read-only, staged by the grader) with writes going to the
    tmpfs; returns how: ``"overlay"`` or ``"copy"`` (kernels without unprivileged overlayfs).
    """
    flags = MS_NOSUID | MS_NODEV
    _mount("tmpfs", SCRATCH, "tmpfs", flags, f"size={int(size_bytes)},mode=0755")
    for name in (*WRITABLE.values(), "upper", "ovl"):
        os.mkdir(f"{SCRATCH}/{name}", 0o1777 if name in ("tmp", "shm") else 0o755)
        os.chmod(f"{SCRATCH}/{name}", 0o1777 if name in ("tmp", "shm") else 0o755)
    for target, name in WRITABLE.items():
        _mount(f"{SCRATCH}/{name}", target, None, MS_BIND)
    how = "overlay"
    try:
        _mount("overlay", WORK, "overlay", flags,
               f"lowerdir={lower},upperdir={SCRATCH}/upper,workdir={SCRATCH}/ovl,userxattr")
    except OSError:
        how = "copy"
        _mount(f"{SCRATCH}/upper", WORK, None, MS_BIND)
        _copy_tree(lower, WORK)
    # Only the places above stay reachable: the scratch mount point and the staging root disappear.
    _check(_libc.umount2(SCRATCH.encode(), MNT_DETACH), f"umount {SCRATCH}")
    _mount("tmpfs", "/mlgrade/stage", "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "size=4096,mode=0555")
    return how


def _copy_tree(src: str, dst: str) -> None:
    import shutil

    for entry in os.scandir(src):
        target = os.path.join(dst, entry.name)
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), target)
        elif entry.is_dir():
            shutil.copytree(entry.path, target, symlinks=True)
        else:
            shutil.copyfile(entry.path, target)


def mount_proc() -> None:
    """A /proc that shows only this notebook's processes (call as PID 1 of the new namespace)."""
    try:
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | 8)  # 8: MS_NOEXEC
    except OSError:
        pass  # the sandbox's /proc stays; the zygote is still unreachable (other PID namespace)


def drop_privileges() -> None:
    """No capabilities, now or after any exec; checked, because a failure here must stop the notebook."""
    try:
        last = int(open("/proc/sys/kernel/cap_last_cap").read())
    except (OSError, ValueError):
        last = 63
    for cap in range(last + 1):
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    header = Header(LINUX_CAPABILITY_VERSION_3, 0)
    data = (Data * 2)()
    _check(_libc.capset(ctypes.byref(header), data), "capset")
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("CapEff:", "CapPrm:", "CapBnd:")) and int(line.split()[1], 16) != 0:
                raise OSError(f"capabilities left after dropping them: {line.strip()}")
