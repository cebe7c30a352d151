"""Helper processes for the benchmark topology: tun/tap holders and idle `sleep` processes.

Run as a script by `topology.py`, never imported by vnettop. Two roles:

* `tun SPEC...` opens /dev/net/tun once per SPEC (`NAME:MODE:NSPATH`, MODE `tun` or `tap`, NSPATH a
  namespace file or `-` for the current one) and attaches it with TUNSETIFF, as qemu or openvpn do. The
  devices are not persistent, so they vanish the moment this process dies: teardown cannot leak them.
* `idle COUNT NSPATH...` forks COUNT `sleep infinity` children, the i-th one inside NSPATH[i] when
  given (so the namespaces are also seen through /proc/PID/ns/net, like containers), to make /proc scans
  as large as on a real host.

Both print `ready` on stdout once done and then block until stdin reaches EOF (the parent closed it or
died), then exit; the parent also kills the process group, so either way nothing outlives the run.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import signal
import struct
import sys

CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000

_libc = ctypes.CDLL(None, use_errno=True)


def setns(path: str) -> None:
    """Move the calling thread into the network namespace at `path` (os.setns is Python 3.12+)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


def open_tun(name: str, mode: str) -> int:
    """Create and attach a non-persistent tun/tap `name` in the current namespace; return the fd."""
    fd = os.open("/dev/net/tun", os.O_RDWR)
    flags = (IFF_TAP if mode == "tap" else IFF_TUN) | IFF_NO_PI
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), flags))
    return fd


def hold_tuns(specs: list[str]) -> list[int]:
    home = f"/proc/{os.getpid()}/task/{os.getpid()}/ns/net"
    home_fd = os.open(home, os.O_RDONLY)
    fds = []
    for spec in specs:
        name, mode, nspath = spec.split(":", 2)
        if nspath != "-":
            setns(nspath)
        fds.append(open_tun(name, mode))
        if nspath != "-" and _libc.setns(home_fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns back")
    os.close(home_fd)
    return fds


def spawn_idlers(count: int, nspaths: list[str]) -> None:
    for i in range(count):
        pid = os.fork()
        if pid == 0:
            try:
                if i < len(nspaths):
                    setns(nspaths[i])
                os.execvp("sleep", ["sleep", "infinity"])
            finally:
                os._exit(127)


def main(argv: list[str]) -> int:
    role = argv[1]
    if role == "tun":
        fds = hold_tuns(argv[2:])
        print(f"ready {len(fds)}", flush=True)
    elif role == "idle":
        # Children would otherwise become zombies we never reap; nobody needs their status.
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)
        spawn_idlers(int(argv[2]), argv[3:])
        print("ready", flush=True)
    else:
        print(f"unknown role {role}", file=sys.stderr)
        return 2
    sys.stdin.read()  # until the parent closes our stdin or dies
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
