"""Record notifications, sock_diag and RTM_GETNSID replies for the lean-decoder tests (root:
`python -m tests.record_netlink_more`).

Why: `events.py`, `sockets.py` and the RTM_GETNSID client (`vnettop.linux.netlink`) read netlink messages with a few struct reads
beside pyroute2. Their pure tests decode these recordings both ways (the lean code and pyroute2's own
message classes) and require the same fields, so the recordings must be what a real kernel sends.
Everything happens in throwaway namespaces (nothing in root); each file holds one datagram per line,
hex-encoded, so datagram boundaries survive (the readers loop over datagrams).
"""

from __future__ import annotations

import os
import select
import socket
import struct
import sys
from collections.abc import Callable

from tests.kernelkit import KernelKit, poll_until, run
from tests.netlink_data import DATA
from vnettop.collect import events, sockets
from vnettop.linux import netlink as linux_netlink
from vnettop.linux import nsenter

OUT = DATA
NETLINK_ROUTE = 0
NSID = 7  # the nsid namespace A gives B (RTM_GETNSID recordings)
EVENT_NSID = 8  # the nsid A gives the namespace a veth end moves to (notification recordings)
LISTEN = (  # (family, address, port) of the listeners opened in namespace A
    (socket.AF_INET, "127.0.0.1", 8081),
    (socket.AF_INET, "0.0.0.0", 8082),
    (socket.AF_INET6, "::1", 8083),
    (socket.AF_INET6, "::", 8084),
)
UDP_BOUND = (  # (family, address, port) of the bound, unconnected udp sockets opened in namespace A
    (socket.AF_INET, "127.0.0.1", 8085),
    (socket.AF_INET6, "::", 8086),
)


def save(name: str, datagrams: list[bytes]) -> None:
    (OUT / f"{name}.hex").write_text("".join(d.hex() + "\n" for d in datagrams))
    print(f"{name}.hex: {len(datagrams)} datagrams", file=sys.stderr)


def drain(sock: socket.socket, into: list[bytes]) -> None:
    while select.select([sock], [], [], 0)[0]:
        into.append(sock.recv(1 << 16))


def ns_fd(name: str) -> int:
    return os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)


def in_ns(name: str, make: Callable[[], socket.socket]) -> socket.socket:
    fd = ns_fd(name)
    try:
        return nsenter.call_in(fd, make)
    finally:
        os.close(fd)


def event_socket() -> socket.socket:
    """The socket events.py listens on: NETLINK_ROUTE bound to EVENT_GROUPS."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.bind((0, events.EVENT_GROUPS))
    return sock


def record_events(kit: KernelKit, a: str, b: str) -> None:
    """Link add/up/master/move/down/delete, v4+v6 addresses, neigh and fdb add/del, nsid add/del."""
    sock = in_ns(a, event_socket)
    got: list[bytes] = []
    ip = kit.ip
    try:
        ip("link", "add", "ev0", "address", "02:00:00:00:ee:00", "type", "veth", "peer", "name", "ev1",
           "address", "02:00:00:00:ee:01", netns=a)
        ip("link", "add", "evbr", "type", "bridge", netns=a)
        ip("link", "set", "ev0", "up", netns=a)
        ip("link", "set", "ev1", "master", "evbr", netns=a)
        ip("addr", "add", "10.5.0.1/24", "dev", "ev0", netns=a)
        ip("addr", "add", "2001:db8:5::1/64", "dev", "ev0", "nodad", netns=a)
        ip("neigh", "add", "10.5.0.9", "lladdr", "02:00:00:00:ee:09", "dev", "ev0", netns=a)
        ip("neigh", "del", "10.5.0.9", "dev", "ev0", netns=a)
        run(["bridge", "-n", a, "fdb", "add", "02:00:00:00:ee:0f", "dev", "ev1", "master", "static"])
        run(["bridge", "-n", a, "fdb", "del", "02:00:00:00:ee:0f", "dev", "ev1", "master", "static"])
        ip("netns", "set", b, str(EVENT_NSID), netns=a)
        ip("link", "set", "ev1", "nomaster", netns=a)
        ip("link", "set", "ev1", "netns", b, netns=a)  # RTM_DELLINK with IFLA_NEW_NETNSID / NEW_IFINDEX
        ip("addr", "del", "10.5.0.1/24", "dev", "ev0", netns=a)
        ip("link", "set", "ev0", "down", netns=a)
        ip("link", "del", "evbr", netns=a)
        ip("link", "del", "ev0", netns=a)  # its peer is in B now: only ev0's RTM_DELLINK here
        run(["ip", "netns", "del", b])  # namespace B dies: RTM_DELNSID in A (asynchronously)

        def saw_delnsid() -> bool:
            drain(sock, got)
            return any(struct.unpack_from("=H", d, 4)[0] == events.RTM_DELNSID for d in got)

        poll_until(saw_delnsid, timeout=10)
        drain(sock, got)
    finally:
        sock.close()
    save("events_a", got)


def read_dump(sock: socket.socket) -> list[bytes]:
    out: list[bytes] = []
    while True:
        data = sock.recv(1 << 16)
        out.append(data)
        pos = 0
        while pos + 16 <= len(data):
            length, kind = struct.unpack_from("=IH", data, pos)
            if kind in (sockets.NLMSG_DONE, sockets.NLMSG_ERROR) or length < 16:
                return out
            pos += (length + 3) & ~3


def udp(family: int, addr: str, port: int,
        connect: tuple[str, int] | None = None) -> Callable[[], socket.socket]:
    def make() -> socket.socket:
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.bind((addr, port))
        if connect is not None:
            s.connect(connect)
        return s
    return make


def record_sockdiag(a: str, only_udp: bool = False) -> None:
    """Replies to dump_listeners' four requests, in A with 4 tcp listeners and one connection, 2 bound udp
    sockets, one connected udp socket and one unbound udp socket (the last two are not listeners)."""
    def listener(family: int, addr: str, port: int) -> Callable[[], socket.socket]:
        def make() -> socket.socket:
            s = socket.socket(family, socket.SOCK_STREAM)
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((addr, port))
            s.listen()
            return s
        return make

    held = [in_ns(a, listener(*spec)) for spec in LISTEN]
    try:
        client = in_ns(a, lambda: socket.create_connection(("127.0.0.1", 8081)))  # ESTABLISHED: not asked
        held.append(client)
        for family, addr, port in UDP_BOUND:
            held.append(in_ns(a, udp(family, addr, port)))
        held.append(in_ns(a, udp(socket.AF_INET, "127.0.0.1", 0, connect=("127.0.0.1", 8081))))
        held.append(in_ns(a, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)))  # unbound
        diag = in_ns(a, lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, sockets.NETLINK_SOCK_DIAG))
        held.append(diag)
        for seq, (family, protocol, states, name) in enumerate(sockets.DIAG_DUMPS, 1):
            if only_udp and protocol != socket.IPPROTO_UDP:
                continue
            diag.send(sockets.diag_request(family, protocol, states, seq))
            save(f"sockdiag_{name}_a", read_dump(diag))
        inodes = {os.fstat(s.fileno()).st_ino: spec for s, spec in zip(held, LISTEN, strict=False)}
        print(f"listener inodes: {inodes}", file=sys.stderr)
    finally:
        for s in held:
            s.close()


def record_nsid(a: str, b: str, c: str) -> None:
    """RTM_GETNSID replies from A (the exact request the client sends): B (nsid 7), C (none), a non-ns fd."""
    sock = in_ns(a, lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE))
    targets = {"assigned": f"/run/netns/{b}", "unassigned": f"/run/netns/{c}",
               "error": "/proc/self/stat"}
    try:
        for seq, (label, path) in enumerate(targets.items(), 1):
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                sock.send(linux_netlink._NSID_REQ.pack(linux_netlink._NSID_REQ.size, linux_netlink.RTM_GETNSID, linux_netlink.NLM_F_REQUEST,
                                                seq, 0, 0, 8, linux_netlink.NETNSA_FD, fd))
                save(f"nsid_{label}", [sock.recv(1 << 16)])
            finally:
                os.close(fd)
    finally:
        sock.close()


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    kit = KernelKit()
    if sys.argv[1:] == ["--udp"]:  # only the udp sock_diag recordings (the others stay as they are)
        try:
            record_sockdiag(kit.netns("eva"), only_udp=True)
        finally:
            kit.cleanup()
        return 0
    try:
        a, b, c = kit.netns("eva"), kit.netns("evb"), kit.netns("evc")
        kit.ip("netns", "set", b, str(NSID), netns=a)
        record_nsid(a, b, c)
        record_sockdiag(a)
        # events: a fresh namespace gets its nsid in A inside the recording, and dies at its end
        b2 = kit.netns("evd")
        record_events(kit, a, b2)
    finally:
        kit.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
