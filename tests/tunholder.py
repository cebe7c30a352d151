"""A process that holds a tun/tap device, for real-kernel tests; and helpers to start it.

Run as a script: `python -m tests.tunholder NAME [--mode tap|tun] [--queues N] [--netns NSNAME]`
opens /dev/net/tun N times (N > 1: multi-queue), attaches every fd to NAME with TUNSETIFF (creating the
device, non-persistent, no packet info), prints "ready" and sleeps until killed. With --netns it
first joins /run/netns/NSNAME, so the device is created there. It prints its fds on the "ready" line so
a test can compare them with what the scanner finds.

With --vhost N it then also holds N fds whose link reads `/dev/vhost-net`, as qemu's `vhostfd=` do.
This host has no vhost-net module, so the file is a plain one in a tmpfs mounted on /dev inside the
holder's own private mount namespace (the host's /dev is untouched): from outside, /proc/PID/fd shows
exactly the path a real vhost fd shows, which is all the scanner looks at. Those fds follow the word
"vhost" on the ready line.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import json
import os
import signal
import struct
import subprocess
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from tests.kernelkit import run

if TYPE_CHECKING:
    from tests.kernelkit import KernelKit
    from vnettop.collect.types import Discovery
    from vnettop.model import Link

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_TAP, IFF_NO_PI, IFF_MULTI_QUEUE = 0x0001, 0x0002, 0x1000, 0x0100
CLONE_NEWNET = 0x40000000
CLONE_NEWNS = 0x00020000
MS_REC, MS_PRIVATE = 0x4000, 0x40000


def _setns(path: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), path)
    finally:
        os.close(fd)


def _vhost_lookalikes(count: int) -> list[int]:
    """`count` fds on a file at /dev/vhost-net, in a private mount namespace of this process."""
    libc = ctypes.CDLL(None, use_errno=True)
    for call in (lambda: libc.unshare(CLONE_NEWNS),
                 lambda: libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None),
                 lambda: libc.mount(b"vnttunholder", b"/dev", b"tmpfs", 0, b"size=16k,mode=755")):
        if call() != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"private /dev for vhost fds: {os.strerror(err)}")
    return [os.open("/dev/vhost-net", os.O_RDWR | os.O_CREAT, 0o600) for _ in range(count)]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("--mode", choices=("tap", "tun"), default="tap")
    parser.add_argument("--queues", type=int, default=1)
    parser.add_argument("--netns")
    parser.add_argument("--later", action="store_true", help="attach only when sent SIGUSR1")
    parser.add_argument("--vhost", type=int, default=0, help="also hold this many /dev/vhost-net fds")
    args = parser.parse_args(argv)
    if args.netns:
        _setns(f"/run/netns/{args.netns}")
    flags = (IFF_TAP if args.mode == "tap" else IFF_TUN) | IFF_NO_PI
    if args.queues > 1:
        flags |= IFF_MULTI_QUEUE
    if args.later:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
        print("waiting", flush=True)
        signal.sigwait({signal.SIGUSR1})
    fds = []
    for _ in range(args.queues):
        fd = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", os.fsencode(args.name), flags))
        fds.append(fd)
    vhost = _vhost_lookalikes(args.vhost) if args.vhost else []
    print("ready", *fds, *(["vhost", *vhost] if vhost else []), flush=True)
    while True:
        signal.pause()


# -- helpers for tests -------------------------------------------------------------------------


def start_holder(kit: KernelKit, name: str, mode: str = "tap", queues: int = 1,
                 netns: str | None = None, program: str | None = None) -> tuple[int, tuple[int, ...]]:
    """Start a holder (killed by the kit's cleanup); return its pid and the fds it holds the device by.

    `program` runs the holder under another path to the Python interpreter (a symlink with a long
    name, to test process names)."""
    proc = _spawn(kit, name, mode, queues, netns, later=False, program=program)
    return proc.pid, _wait_ready(proc, name)


def start_vhost_holder(kit: KernelKit, name: str, vhost: int = 1,
                       queues: int = 1) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """A holder that also keeps `vhost` fds linking to /dev/vhost-net: pid, tun fds, vhost fds."""
    proc = _spawn(kit, name, "tap", queues, None, later=False, vhost=vhost)
    vhost_fds: list[int] = []
    fds = _wait_ready(proc, name, vhost_fds)
    return proc.pid, fds, tuple(vhost_fds)


def start_late_holder(kit: KernelKit, name: str, mode: str = "tap") -> tuple[int, Callable[[], tuple[int, ...]]]:
    """Start a process that attaches to `name` only when told: returns its pid and the "attach now" call
    (which returns the fds once attached)."""
    proc = _spawn(kit, name, mode, 1, None, later=True)
    assert proc.stdout is not None
    if proc.stdout.readline().split() != [b"waiting"]:
        raise RuntimeError(f"late tun holder for {name} did not start")

    def attach() -> tuple[int, ...]:
        os.kill(proc.pid, signal.SIGUSR1)
        return _wait_ready(proc, name)

    return proc.pid, attach


def _spawn(kit: KernelKit, name: str, mode: str, queues: int, netns: str | None,
           later: bool, vhost: int = 0, program: str | None = None) -> subprocess.Popen[bytes]:
    argv = [program or sys.executable, "-m", "tests.tunholder", name, "--mode", mode, "--queues", str(queues)]
    argv += ["--netns", netns] if netns else []
    argv += ["--later"] if later else []
    argv += ["--vhost", str(vhost)] if vhost else []
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, cwd=root)
    kit.procs.append(proc)
    return proc


def _wait_ready(proc: subprocess.Popen[bytes], name: str, vhost_out: list[int] | None = None) -> tuple[int, ...]:
    """The tun fds on the holder's ready line; its vhost fds, if any, are appended to `vhost_out`."""
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().split()  # blocks until ready (or the holder died)
    if not line or line[0] != "ready":
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise RuntimeError(f"tun holder for {name} failed: {err.strip()}")
    words = line[1:]
    cut = words.index("vhost") if "vhost" in words else len(words)
    if vhost_out is not None:
        vhost_out.extend(int(fd) for fd in words[cut + 1:])
    return tuple(int(fd) for fd in words[:cut])


def discovery_for_tests() -> Discovery:
    """Every namespace and which pid is in which, read straight from /proc and /run/netns.

    An independent stand-in for the collector's discovery, so these tests check the scanner alone.
    """
    from vnettop.collect.types import Discovery, NsEntry

    root_ino = os.stat("/proc/self/ns/net").st_ino
    pid_netns: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                pid_netns[int(entry)] = os.stat(f"/proc/{entry}/ns/net").st_ino
            except OSError:
                continue
    names: dict[int, list[str]] = {}
    for name in sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else []:
        try:
            names.setdefault(os.stat(f"/run/netns/{name}").st_ino, []).append(name)
        except OSError:
            continue
    by_ns: dict[int, list[int]] = {}
    for pid, ino in pid_netns.items():
        by_ns.setdefault(ino, []).append(pid)
    entries = []
    for ino in sorted(set(by_ns) | set(names), key=lambda i: (i != root_ino, i)):
        pids = tuple(sorted(by_ns.get(ino, ())))
        path = (f"/run/netns/{names[ino][0]}" if ino in names
                else "/proc/self/ns/net" if ino == root_ino else f"/proc/{pids[0]}/ns/net")
        entries.append(NsEntry(ino, tuple(names.get(ino, ())), ino == root_ino, path, pids))
    return Discovery(tuple(entries), pid_netns)


def tun_links(kit: KernelKit, netns: str | None = None) -> list[Link]:
    """The tun/tap devices of a namespace as `ip -j -d link show` describes them, as Links."""
    from vnettop.model import Link, TunInfo

    inode = kit.ns_inode(netns)
    out = []
    for dev in json.loads(kit.ip("-j", "-d", "link", "show", netns=netns)):
        info = dev.get("linkinfo", {})
        if info.get("info_kind") != "tun":
            continue
        data = info.get("info_data", {})
        tun = TunInfo(data["type"], bool(data.get("persist")), bool(data.get("multi_queue")),
                      bool(data.get("vnet_hdr")), bool(data.get("pi")))
        out.append(Link(inode, dev["ifindex"], dev["ifname"], data["type"], dev.get("address"), dev["mtu"],
                        "UP" in dev["flags"], dev["operstate"].lower(), tun=tun))
    return out


def netns_pids(netns: str) -> list[int]:
    """Pids in a named namespace, as iproute2 sees them."""
    return [int(p) for p in run(["ip", "netns", "pids", netns]).stdout.split()]


if __name__ == "__main__":
    main(sys.argv[1:])
