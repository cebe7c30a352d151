"""Creating a persistent tun/tap the way `ip tuntap add` does: /dev/net/tun + TUNSETIFF.

rtnetlink cannot create a tun/tap (EOPNOTSUPP), so this is the one action that is not a netlink
message. The device is created in the namespace of the *calling thread* (the kernel takes it from the
opener of /dev/net/tun), which is why `create_tuntap` must run on a thread that entered the target
namespace (the mutator runs it through `linux.nsenter.call_in`). pyroute2's tuntap helper is not used:
it turns the packet-information header on by default, where iproute2 leaves it off.

The order follows iproute2: TUNSETIFF (with IFF_TUN_EXCL, so an existing device of that name is an
error instead of being silently attached to), then owner, group, and persist last: until TUNSETPERSIST
the device lives only as long as our fd, so any failure before it leaves nothing behind.
"""

from __future__ import annotations

import fcntl
import os
import struct

from vnettop import names

TUNSETIFF = 0x400454CA
TUNSETPERSIST = 0x400454CB
TUNSETOWNER = 0x400454CC
TUNSETGROUP = 0x400454CE

IFF_TUN = 0x0001
IFF_TAP = 0x0002
IFF_MULTI_QUEUE = 0x0100
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
IFF_TUN_EXCL = 0x8000

IFNAMSIZ = 16


def tun_flags(mode: str, multi_queue: bool = False, vnet_hdr: bool = False, pi: bool = False) -> int:
    """The IFF_* flags for TUNSETIFF."""
    flags = IFF_TAP if mode == "tap" else IFF_TUN
    if not pi:
        flags |= IFF_NO_PI
    if multi_queue:
        flags |= IFF_MULTI_QUEUE
    if vnet_hdr:
        flags |= IFF_VNET_HDR
    return flags


def ifreq(name: str, flags: int) -> bytes:
    """struct ifreq with ifr_name and ifr_flags set (40 bytes)."""
    raw = names.to_bytes(name)  # the raw bytes of a name that is not UTF-8 (vnettop.names)
    if len(raw) >= IFNAMSIZ:
        raise ValueError(f"device name {name!r} is longer than {IFNAMSIZ - 1} bytes")
    return struct.pack("16sH22x", raw, flags)


def create_tuntap(name: str, mode: str, owner: int | None = None, group: int | None = None,
                  multi_queue: bool = False, vnet_hdr: bool = False, pi: bool = False,
                  persist: bool = True) -> None:
    """Create tun/tap `name` in the calling thread's network namespace. OSError on refusal."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, TUNSETIFF, ifreq(name, tun_flags(mode, multi_queue, vnet_hdr, pi) | IFF_TUN_EXCL))
        if owner is not None:
            fcntl.ioctl(fd, TUNSETOWNER, owner)
        if group is not None:
            fcntl.ioctl(fd, TUNSETGROUP, group)
        if persist:
            fcntl.ioctl(fd, TUNSETPERSIST, 1)
    finally:
        os.close(fd)
