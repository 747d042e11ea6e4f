"""Run a command the way Docker's default seccomp profile lets a container run it: no user namespaces.

    python tests/no_userns.py COMMAND [ARG...]

Installs a seccomp filter refusing ``unshare`` and ``clone`` with ``CLONE_NEWUSER`` (EPERM) and
``clone3`` (ENOSYS, so libc falls back to ``clone``), as Docker does, then execs the command: bubblewrap
cannot start inside it, exactly as on Gradescope. x86_64 Linux only; root (CAP_SYS_ADMIN) or
``no_new_privs``. Used by the tests of the ``uid`` isolation backend.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
AUDIT_ARCH_X86_64 = 0xC000003E
NR_CLONE, NR_UNSHARE, NR_CLONE3 = 56, 272, 435
CLONE_NEWUSER = 0x10000000
EPERM, ENOSYS = 1, 38
# BPF: ld/jeq/jset/ret opcodes
LD_W_ABS, JEQ_K, JSET_K, RET_K = 0x20, 0x15, 0x45, 0x06


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def program() -> bytes:
    return b"".join([
        _insn(LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        _insn(JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        _insn(RET_K, 0, 0, SECCOMP_RET_ALLOW),
        _insn(LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
        _insn(JEQ_K, 0, 1, NR_UNSHARE),
        _insn(RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM),
        _insn(JEQ_K, 0, 1, NR_CLONE3),
        _insn(RET_K, 0, 0, SECCOMP_RET_ERRNO | ENOSYS),
        _insn(JEQ_K, 0, 3, NR_CLONE),
        _insn(LD_W_ABS, 0, 0, 16),  # args[0], low 32 bits: the clone flags
        _insn(JSET_K, 0, 1, CLONE_NEWUSER),
        _insn(RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM),
        _insn(RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ])


def install() -> None:
    if platform.machine() != "x86_64" or not sys.platform.startswith("linux"):
        raise OSError("the filter is written for x86_64 Linux")
    code = program()
    buf = ctypes.create_string_buffer(code)
    fprog = struct.pack("HL", len(code) // 8, ctypes.addressof(buf))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    if os.geteuid() != 0 and libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "no_new_privs")
    prog = ctypes.create_string_buffer(fprog)
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "seccomp")


if __name__ == "__main__":
    install()
    os.execvp(sys.argv[1], sys.argv[1:])
