"""No kernel keys for a student's child: ``add_key``, ``request_key`` and ``keyctl`` fail with EPERM.

Keyrings are not namespaced by uid the way files are: every process whose uid maps to
the same user outside sees that user's keys in ``/proc/keys`` (a key's description
included) and is the "user" of every key that user owns. So a student's child, in its
own user namespace, can still reach

* the host's user and user-session keyrings of the grader's uid (``_uid.N``,
  ``_uid_ses.N`` of the initial namespace), which the kernel makes writable by that uid
  (link, clear, setattr): a key linked there outlives the sandbox, the batch and the
  janitor (it is not the sandbox's, so the janitor neither locks nor clears it), and
  every later child reads its description;
* the keys of a student graded at the same time on another worker (same uid), while
  they live.

The janitor (``janitor.py``) cleans the sandbox's own keyrings, but no cleaning after a
job closes a channel that is open during it, nor may it lock keyrings that belong to
the host. A student's code has no use for kernel keys, so the child loses the three
system calls before it reads a notebook: a seccomp filter (irrevocable, inherited by
whatever the child starts). System calls of another ABI (i386's ``int 0x80``, x32) are
refused whole: they would reach the same ``keyctl`` under other numbers, and nothing
the child runs needs them. Docker's default profile refuses these three calls for the
same reason.

Imports only the standard library (it runs in the sandbox).
"""

from __future__ import annotations

import ctypes
import errno
import os

PR_SET_SECCOMP, PR_SET_NO_NEW_PRIVS, SECCOMP_MODE_FILTER = 22, 38, 2
SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO = 0x7FFF0000, 0x00050000
BPF_LD_W_ABS, BPF_JEQ_K, BPF_JGE_K, BPF_RET_K = 0x20, 0x15, 0x35, 0x06  # BPF_LD|BPF_W|BPF_ABS, BPF_JMP|BPF_JEQ|BPF_K, ...
SECCOMP_DATA_NR, SECCOMP_DATA_ARCH = 0, 4  # offsets in struct seccomp_data
X32_SYSCALL_BIT = 0x40000000

# machine -> (AUDIT_ARCH of its native ABI, the numbers of add_key, request_key, keyctl)
KEY_SYSCALLS = {
    "x86_64": (0xC000003E, (248, 249, 250)),
    "aarch64": (0xC00000B7, (217, 218, 219)),
}


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]


def filter_program(arch: int, numbers: tuple[int, ...]) -> list[tuple[int, int, int, int]]:
    """The BPF program (code, jt, jf, k): another ABI or one of ``numbers`` -> EPERM, everything else allowed."""
    deny = SECCOMP_RET_ERRNO | errno.EPERM
    checks = [(BPF_JGE_K, 0, 0, X32_SYSCALL_BIT)] + [(BPF_JEQ_K, 0, 0, n) for n in numbers]
    program = [(BPF_LD_W_ABS, 0, 0, SECCOMP_DATA_ARCH), (BPF_JEQ_K, 1, 0, arch), (BPF_RET_K, 0, 0, deny), (BPF_LD_W_ABS, 0, 0, SECCOMP_DATA_NR)]
    for index, (code, _, _, k) in enumerate(checks):
        program.append((code, len(checks) - index, 0, k))  # a match jumps over the remaining checks and the allow, to the deny
    return program + [(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW), (BPF_RET_K, 0, 0, deny)]


def forbid_keyrings() -> bool:
    """Install the filter in this process (and so in everything it starts); False where it cannot be.

    Where it cannot (another machine, no seccomp), the janitor still cleans the sandbox's
    own keyrings after every job.
    """
    known = KEY_SYSCALLS.get(os.uname().machine)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False
    if known is None:
        return False
    program = filter_program(*known)
    instructions = (SockFilter * len(program))(*(SockFilter(*op) for op in program))
    fprog = SockFprog(len(program), instructions)
    zero = ctypes.c_ulong(0)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), zero, zero, zero) != 0:  # what lets an unprivileged process install a filter
        return False
    return libc.prctl(PR_SET_SECCOMP, ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(fprog), zero, zero) == 0
