"""Named network namespaces, made and removed the way iproute2 does it, and opened without creating.

`ip netns add NAME` is: make /run/netns a shared mount point, create an empty file /run/netns/NAME,
`unshare(CLONE_NEWNET)`, bind-mount the new namespace (its /proc nsfs file) onto that file. `ip netns
del` is: `umount2(MNT_DETACH)` and unlink. pyroute2 has `pyroute2.netns.create/remove`; we do not use
them because `create` forks a child process (costly in a process with a large RSS and a Textual app),
and leaves the empty mount-point file behind when the mount fails. Here `unshare` runs on a throwaway
thread (CLONE_NEWNET moves only the calling thread), the bind mount takes that thread's namespace from
/proc/thread-self/ns/net, and the mount-point file is removed again if anything fails.

`open_netns` is the only way the actions open a namespace: it never creates one (pyroute2's
`IPRoute(netns=...)` and `NetNS()` default to O_CREAT and would silently create a mistyped namespace).
"""

from __future__ import annotations

import ctypes
import errno
import os

from vnettop.errors import NotFoundError
from vnettop.linux.libc import CLONE_NEWNET, check, libc
from vnettop.linux.nsenter import on_throwaway_thread

NETNS_RUN_DIR = "/run/netns"
MS_BIND = 4096
MS_REC = 16384
MS_SHARED = 1 << 20
MNT_DETACH = 2

def _mount(source: str, target: str, fstype: str, flags: int) -> None:
    # os.fsencode: a namespace name that is not UTF-8 is a file name like any other (vnettop.names)
    ret = libc().mount(os.fsencode(source), os.fsencode(target), fstype.encode(), ctypes.c_ulong(flags), None)
    check(ret, f"mount {target}")


def netns_path(name: str) -> str:
    return os.path.join(NETNS_RUN_DIR, name)


def _nsfs_dev() -> int:
    return os.stat("/proc/self/ns/net").st_dev


def open_netns(name: str | None) -> int:
    """An O_RDONLY fd on a namespace: the root one (vnettop's own) for None, else /run/netns/NAME.

    Raises NotFoundError if there is no such namespace (never creates one), or if the file is not a
    mounted namespace (an empty leftover of an interrupted `ip netns add`).
    """
    if name is None:
        return os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        fd = os.open(netns_path(name), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotFoundError(f"namespace {name} does not exist (no /run/netns/{name})") from None
    if os.fstat(fd).st_dev != _nsfs_dev():
        os.close(fd)
        raise NotFoundError(f"/run/netns/{name} is not a mounted namespace (left over from an "
                            f"interrupted 'ip netns add'? remove it with 'ip netns del {name}')")
    return fd


def netns_exists(name: str) -> bool:
    try:
        os.close(open_netns(name))
    except NotFoundError:
        return False
    return True


def _share_run_dir() -> None:
    """Make /run/netns a shared mount point (as iproute2 does) so the bind mounts propagate."""
    os.makedirs(NETNS_RUN_DIR, mode=0o755, exist_ok=True)
    try:
        _mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC)
        return
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
    # Not a mount point yet: bind it onto itself, then make it shared.
    _mount(NETNS_RUN_DIR, NETNS_RUN_DIR, "none", MS_BIND | MS_REC)
    _mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC)


def _unshare_and_bind(path: str) -> None:
    """On a fresh thread: unshare a new network namespace and bind-mount it onto `path`.

    The thread ends there, in the new namespace: nobody else ever runs on it.
    """
    def unshare_here() -> None:
        check(libc().unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
        _mount("/proc/thread-self/ns/net", path, "none", MS_BIND)

    on_throwaway_thread(unshare_here, "vnettop-netns-add")


def create_netns(name: str) -> int:
    """Create /run/netns/NAME holding a new, empty network namespace; return its nsfs inode.

    EEXIST if the name is taken. On any failure nothing is left behind.
    """
    _share_run_dir()
    path = netns_path(name)
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0)
    os.close(fd)
    try:
        _unshare_and_bind(path)
    except BaseException:
        try:
            os.unlink(path)
        except OSError:
            pass
        raise
    return os.stat(path).st_ino


def delete_netns(name: str) -> None:
    """Unmount and remove /run/netns/NAME (the namespace itself lives on while anything uses it).

    NotFoundError if there is no such name.
    """
    path = netns_path(name)
    if not os.path.lexists(path):
        raise NotFoundError(f"namespace {name} does not exist (no /run/netns/{name})")
    # As iproute2: a failed unmount (EINVAL: not a mount point, a half-made entry) is not an error.
    libc().umount2(os.fsencode(path), MNT_DETACH)
    os.unlink(path)
