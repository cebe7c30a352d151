"""The few libc calls Python 3.11 does not wrap: setns(2), prctl(2), syscall(2), mount(2).

One loader for the whole program (it was loaded three different ways before). Every call raises
OSError with the errno the kernel gave, except `name_this_thread`, which is best effort.
"""

from __future__ import annotations

import ctypes
import os
import threading

#: Namespace type flag for setns(2) / unshare(2): network namespace.
CLONE_NEWNET = 0x40000000
PR_SET_NAME = 15
PR_SET_PDEATHSIG = 1
#: The kernel keeps 15 bytes of a thread name.
MAX_THREAD_NAME = 15

_lock = threading.Lock()
_libc: ctypes.CDLL | None = None


def _load() -> ctypes.CDLL:
    """glibc by its soname, already mapped into the interpreter (a dlopen that costs ~30 us); only
    where there is none (musl), the search of `ctypes.util`, whose import (subprocess, tempfile...)
    and `ldconfig -p` run cost ~4.5 ms of every process that enters a namespace."""
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        from ctypes.util import find_library

        return ctypes.CDLL(find_library("c") or "libc.so.6", use_errno=True)


def libc() -> ctypes.CDLL:
    """The C library, loaded once, with errno kept for `ctypes.get_errno()`."""
    global _libc
    with _lock:
        if _libc is None:
            lib = _load()
            lib.setns.argtypes = [ctypes.c_int, ctypes.c_int]
            lib.setns.restype = ctypes.c_int
            lib.syscall.restype = ctypes.c_long
            _libc = lib
        return _libc


def check(ret: int, what: str) -> None:
    """Raise OSError(errno) for a libc call that returned non-zero."""
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def setns(fd: int, nstype: int = CLONE_NEWNET) -> None:
    """Move the calling thread into the namespace `fd` refers to; OSError (EPERM, EINVAL...) if refused."""
    check(libc().setns(fd, nstype), "setns")


def syscall(number: int, *args: int) -> int:
    """A raw system call (pidfd_open, pidfd_getfd...); OSError on a negative return."""
    res = libc().syscall(ctypes.c_long(number), *(ctypes.c_long(a) for a in args))
    if res < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(res)


def name_this_thread(name: str) -> None:
    """Name the calling thread for the kernel (`top -H`, `ps -L`, /proc/PID/task/TID/comm).

    Python names its threads only for itself; the kernel sees every thread as `python3`. Best effort:
    a name the kernel refuses (or a libc without prctl) leaves the thread as it was.
    """
    try:
        libc().prctl(PR_SET_NAME, name.encode()[:MAX_THREAD_NAME], 0, 0, 0)
    except (OSError, AttributeError):
        pass


def die_with_parent(sig: int) -> None:
    """Have the kernel send `sig` to this process when the thread that forked it ends (prctl
    PR_SET_PDEATHSIG); OSError if refused. For a forked helper that must never outlive its parent: the
    caller checks `os.getppid()` afterwards, since a parent gone before this call sends nothing."""
    check(libc().prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")
