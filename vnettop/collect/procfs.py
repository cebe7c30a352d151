"""Low-level reads of /proc, rooted anywhere so tests can point them at a fake tree.

Each function reads one small fact about one process (on the live /proc, names, command lines and
users come from psutil instead: see `procfacts`; these readers serve fake trees). They raise `OSError`
when the process is gone or unreadable (ENOENT, ESRCH, EACCES...): a process may vanish between two
reads, and deciding whether that matters is the caller's business, not this module's. Nothing here
caches: the scanner above does.
"""

from __future__ import annotations

import errno
import os
import pwd
import stat
from dataclasses import dataclass

#: What `readlink /proc/PID/fd/N` says for an fd on the tun/tap character device.
TUN_PATH = "/dev/net/tun"
#: ... and for an fd on the vhost-net accelerator (qemu `-netdev tap,...,vhost=on,vhostfd=N`).
VHOST_PATH = "/dev/vhost-net"
#: The `flags` bit of /proc/PID/stat that marks a kernel thread (include/linux/sched.h).
PF_KTHREAD = 0x00200000
#: Errors that mean "not permitted" (another user's process, not root) rather than "gone".
DENIED_ERRNOS = frozenset({errno.EACCES, errno.EPERM})


def _own_fd_targets() -> dict[int, str]:
    """`fd_targets` of this very process, with one fstat per socket instead of a readlink.

    Why: a collector at 1000 namespaces holds ~3000 netlink sockets of its own, and its own process
    is swept like any other (a tun or listening socket it holds must be seen). A readlink through
    /proc costs ~7 us, an fstat of one's own fd ~2.4 us; a socket's link reads `socket:[INODE]` with
    INODE its st_ino, so the text is the same. Anything but a socket is read by readlink as before.
    """
    out: dict[int, str] = {}
    readlink, fstat = os.readlink, os.fstat
    for name in os.listdir("/proc/self/fd/"):
        try:
            fd = int(name)
            st = fstat(fd)
            if stat.S_ISSOCK(st.st_mode):
                out[fd] = f"socket:[{st.st_ino}]"
            else:
                out[fd] = readlink("/proc/self/fd/" + name)
        except (OSError, ValueError):
            continue
    return out


@dataclass(frozen=True, slots=True)
class ProcFs:
    """A /proc tree: the real one by default, or a directory laid out like it (tests)."""

    root: str = "/proc"

    @property
    def is_live(self) -> bool:
        """True when this is the kernel's own /proc, so pids name real processes (pidfd works)."""
        return os.path.realpath(self.root) == "/proc"

    def path(self, pid: int, *parts: str) -> str:
        return "/".join((self.root, str(pid), *parts))

    def pids(self) -> list[int]:
        """Every numeric entry of the root, i.e. every visible process (unsorted)."""
        return [int(name) for name in os.listdir(self.root) if name.isdigit()]

    def fd_targets(self, pid: int) -> dict[int, str]:
        """fd number -> link target (`/dev/net/tun`, `socket:[123]`, ...) of one process.

        Raises OSError if the fd directory itself cannot be listed (gone, or permission denied);
        fds closed while we read are skipped silently.
        """
        if pid == os.getpid() and self.is_live:
            return _own_fd_targets()
        fd_dir = f"{self.root}/{pid}/fd/"
        out: dict[int, str] = {}
        readlink = os.readlink
        for name in os.listdir(fd_dir):
            try:
                out[int(name)] = readlink(fd_dir + name)
            except (OSError, ValueError):
                continue
        return out

    def fdinfo_iff(self, pid: int, fd: int) -> str | None:
        """The `iff:` line of a tun fd's fdinfo: the attached device's name, None if not attached.

        Decoded as the link dump decodes device names (`vnettop.names`), so a name that is not UTF-8
        still matches its device.
        """
        with open(self.path(pid, "fdinfo", str(fd)), encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                if line.startswith("iff:"):
                    return line[4:].strip() or None
        return None

    def start_time(self, pid: int) -> int:
        """Field 22 of /proc/PID/stat (clock ticks since boot): with the pid, a process's identity.

        The comm field (2) may hold spaces and parentheses, so the fields are counted after the last ')'.
        """
        with open(self.path(pid, "stat"), "rb") as f:
            data = f.read()
        rest = data[data.rindex(b")") + 2 :].split()
        return int(rest[19])  # rest[0] is field 3 (state), so field 22 is rest[19]

    def stat_facts(self, pid: int) -> tuple[int, bool]:
        """(start time, whether it is a kernel thread) from one read of /proc/PID/stat: field 22, and
        PF_KTHREAD in field 9 (flags). A kernel thread never holds a file of its own (its fd directory
        is empty for its whole life), so the scanner reads it once and never again."""
        with open(self.path(pid, "stat"), "rb") as f:
            data = f.read()
        rest = data[data.rindex(b")") + 2 :].split()
        return int(rest[19]), bool(int(rest[6]) & PF_KTHREAD)

    def comm(self, pid: int) -> str:
        with open(self.path(pid, "comm"), encoding="utf-8", errors="surrogateescape") as f:  # as psutil
            return f.read().rstrip("\n")

    def cmdline(self, pid: int) -> str:
        """The command line, arguments joined by spaces ("" for kernel threads and zombies)."""
        with open(self.path(pid, "cmdline"), "rb") as f:
            data = f.read()
        return " ".join(p.decode("utf-8", "surrogateescape") for p in data.split(b"\0") if p)  # as psutil

    def uid(self, pid: int) -> int | None:
        """The real uid, from the `Uid:` line of /proc/PID/status."""
        with open(self.path(pid, "status"), encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("Uid:"):
                    fields = line.split()
                    return int(fields[1]) if len(fields) > 1 else None
        return None

    def netns_inode(self, pid: int) -> int:
        """The nsfs inode of the process's network namespace."""
        return os.stat(self.path(pid, "ns", "net")).st_ino

    def net_table(self, pid: int, table: str) -> str:
        """/proc/PID/net/<table> (tcp, udp, tcp6, udp6): the table of *that process's* namespace."""
        with open(self.path(pid, "net", table), encoding="utf-8", errors="replace") as f:
            return f.read()


_USERS: dict[int, str] = {}


def user_name(uid: int | None) -> str | None:
    """The login name of a uid, or the uid as a string when it has none (containers' uids)."""
    if uid is None:
        return None
    name = _USERS.get(uid)
    if name is None:
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            name = str(uid)
        _USERS[uid] = name
    return name


def socket_inode(target: str) -> int | None:
    """The inode of an fd link target `socket:[12345]`, or None for anything else."""
    if target.startswith("socket:[") and target.endswith("]"):
        try:
            return int(target[8:-1])
        except ValueError:
            return None
    return None
