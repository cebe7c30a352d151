"""Which device, in which namespace, an fd on /dev/net/tun is attached to.

The `iff:` line of fdinfo names the device but not its namespace: a tap moved to another namespace keeps
its name, and two namespaces may each have a `tap0`. The exact answer asks the kernel about the fd
itself: duplicate it into our process (`pidfd_open` + `pidfd_getfd`, kernel >= 5.6, needs ptrace rights
over the holder, i.e. root in practice), then `TUNGETIFF` gives the name and `TUNGETDEVNETNS` an fd of
the device's namespace, whose nsfs inode is the namespace's identity. Every duplicate is closed at once:
holding a tun fd, even briefly, must not keep a device or namespace alive.

When that is not possible (not permitted, kernel too old, a fake /proc in tests) we fall back to fdinfo
and mark the result `exact=False`.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
from collections.abc import Sequence

from vnettop import names
from vnettop.collect.procfs import ProcFs
from vnettop.collect.types import TunFd
from vnettop.linux.libc import syscall

SYS_PIDFD_OPEN = 434  # same number on every architecture using the unified syscall table (x86_64 too)
SYS_PIDFD_GETFD = 438
TUNGETIFF = 0x800454D2  # _IOR('T', 210, unsigned int)
TUNGETDEVNETNS = 0x54E3  # _IO('T', 227), kernel >= 5.2
IFREQ_SIZE = 40  # struct ifreq: 16-byte name + 24-byte union (ifr_flags is its first short)

def pidfd_open(pid: int) -> int:
    return syscall(SYS_PIDFD_OPEN, pid, 0)


def pidfd_getfd(pidfd: int, fd: int) -> int:
    return syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)


def tun_ifreq(fd: int) -> tuple[str, int] | None:
    """(device name, IFF_* flags) of a tun fd, or None when the fd is attached to no device (EBADFD)."""
    try:
        buf = fcntl.ioctl(fd, TUNGETIFF, bytes(IFREQ_SIZE))
    except OSError as exc:
        if exc.errno == errno.EBADFD:
            return None
        raise
    name = names.from_bytes(buf[:16].split(b"\0", 1)[0])  # as the link dump decodes it: they must match
    (flags,) = struct.unpack_from("H", buf, 16)
    return name, flags


def tun_netns_inode(fd: int) -> int:
    """nsfs inode of the namespace the fd's device is in now (wherever it was when opened)."""
    ns_fd = fcntl.ioctl(fd, TUNGETDEVNETNS, 0)
    try:
        return os.fstat(ns_fd).st_ino
    finally:
        os.close(ns_fd)


#: errnos after which asking again is pointless for the whole run (no such syscall / ioctl here).
_UNSUPPORTED = frozenset({errno.ENOSYS, errno.ENOTTY, errno.EINVAL})
#: errnos that mean the process (or its fd) went away: not a reason to fall back, just skip.
_GONE = frozenset({errno.ESRCH, errno.EBADF, errno.ENOENT})


class TunProber:
    """Resolves tun fds of a process, exactly when it can, by fdinfo name otherwise.

    `last_fallback` says why the last call could not be exact (None when it was); `unsupported` is
    set for the rest of the run once the kernel has shown it lacks the syscalls or ioctls.
    """

    def __init__(self, procfs: ProcFs, exact: bool | None = None) -> None:
        self.procfs = procfs
        self.enabled = procfs.is_live if exact is None else exact
        self.unsupported: str | None = None
        self.last_fallback: str | None = None

    def probe(self, pid: int, fds: Sequence[int]) -> list[TunFd]:
        """One TunFd per fd (fds already known to point at /dev/net/tun); fds that vanished are left out.

        Raises OSError only if the process is gone.
        """
        self.last_fallback = None
        if self.enabled and self.unsupported is None:
            exact = self._probe_exact(pid, fds)
            if exact is not None:
                return exact
        return self._probe_fdinfo(pid, fds)

    def _probe_exact(self, pid: int, fds: Sequence[int]) -> list[TunFd] | None:
        try:
            pidfd = pidfd_open(pid)
        except OSError as exc:
            if exc.errno in _GONE:
                raise
            self._note_failure(exc, "pidfd_open")
            return None
        try:
            out: list[TunFd] = []
            for fd in fds:
                try:
                    dup = pidfd_getfd(pidfd, fd)
                except OSError as exc:
                    if exc.errno == errno.EBADF:  # closed since we listed it
                        continue
                    if exc.errno == errno.ESRCH:
                        raise
                    self._note_failure(exc, "pidfd_getfd")
                    return None
                try:
                    ifr = tun_ifreq(dup)
                    if ifr is None:
                        out.append(TunFd(pid, fd, None, None, True))
                        continue
                    netns = tun_netns_inode(dup)
                except OSError as exc:
                    self._note_failure(exc, "TUNGETIFF/TUNGETDEVNETNS")
                    return None
                finally:
                    os.close(dup)
                out.append(TunFd(pid, fd, ifr[0], netns, True))
            return out
        finally:
            os.close(pidfd)

    def _note_failure(self, exc: OSError, what: str) -> None:
        reason = f"{what}: {exc.strerror or exc}"
        if exc.errno in _UNSUPPORTED:
            self.unsupported = f"{reason} (kernel >= 5.6 needed)"
        self.last_fallback = self.unsupported or reason

    def _probe_fdinfo(self, pid: int, fds: Sequence[int]) -> list[TunFd]:
        out: list[TunFd] = []
        for fd in fds:
            try:
                iff = self.procfs.fdinfo_iff(pid, fd)
            except FileNotFoundError:
                continue  # the fd was closed; if the process is gone the caller finds out
            out.append(TunFd(pid, fd, iff, None, False))
        if self.last_fallback is None and not self.enabled:
            self.last_fallback = "exact tun fd lookup disabled"
        return out
