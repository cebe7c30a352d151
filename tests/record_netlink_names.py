"""Record a link dump whose device names are not UTF-8 (root: `python -m tests.record_netlink_names`).

Why: the kernel takes any bytes but '/', ':' and whitespace as a device name, and pyroute2 hands a name
that is not UTF-8 over as bytes while the lean parser reads the bytes itself; the pure tests decode this
real reply both ways and require the same internal names (`vnettop.names`). Built in one throwaway
namespace with iproute2 (names passed to it as raw bytes), nothing in root; the file is written the
way `tests.record_netlink` writes its replies (hex, 32 bytes a line) and read by the same
`tests.netlink_data.reply`. Also records the RTM_NEWLINK notifications of the same devices.
"""

from __future__ import annotations

import os
import socket
import sys

from pyroute2 import IPRoute

from tests.kernelkit import KernelKit
from tests.netlink_data import DATA
from tests.record_netlink import Recorder, save
from vnettop.collect import events
from vnettop.linux import nsenter

#: name in the recording -> what it is (device names as raw bytes)
DEVICES = {
    b"br\xff\xfe": "bridge",
    b"ve\xff": "veth end, port of br\\xff\\xfe, peer ve\\xfe",
    b"ve\xfe": "veth end, peer ve\\xff",
    b"tp\xe9": "tap (Latin-1 e-acute: not UTF-8 alone)",
    "t\u00fcn".encode(): "tun, valid UTF-8 (not ASCII)",
    b"a\\xff": "bridge whose name really is a, backslash, x, f, f (ASCII)",
}


def main() -> int:
    kit = KernelKit()
    try:
        ns = kit.netns("nam")
        fd = os.open(f"/run/netns/{ns}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            def listener() -> socket.socket:
                sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
                sock.bind((0, events.EVENT_GROUPS))
                return sock

            sock = nsenter.call_in(fd, listener)
        finally:
            os.close(fd)
        # Devices are built after the listener is bound, so their notifications are recorded too.
        ip = kit.ip
        ip("link", "add", "br\udcff\udcfe", "type", "bridge", netns=ns)  # subprocess passes the bytes on
        ip("link", "add", "ve\udcff", "type", "veth", "peer", "name", "ve\udcfe", netns=ns)
        ip("link", "set", "ve\udcff", "master", "br\udcff\udcfe", netns=ns)
        ip("tuntap", "add", "mode", "tap", "name", "tp\udce9", netns=ns)
        ip("tuntap", "add", "mode", "tun", "name", "t\u00fcn", netns=ns)
        ip("link", "add", "a\\xff", "type", "bridge", netns=ns)
        datagrams: list[bytes] = []
        sock.settimeout(0.5)
        try:
            while True:
                datagrams.append(sock.recv(1 << 16))
        except TimeoutError:
            pass
        sock.close()
        (DATA / "events_names.hex").write_text("".join(d.hex() + "\n" for d in datagrams))
        print(f"events_names.hex: {len(datagrams)} datagrams", file=sys.stderr)
        with IPRoute(netns=f"/run/netns/{ns}", flags=0) as ipr:
            save("links_names", Recorder(ipr).take(lambda: ipr.link("dump")))
    finally:
        kit.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
