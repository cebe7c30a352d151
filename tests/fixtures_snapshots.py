"""Hand-built Snapshots for pure tests, shared by every tier that needs a known topology.

They are written out field by field (no collector, no JSON) so a test failing here points at the code
under test, not at the fixture's source. `compute_node()` is the article's KVM/OpenStack compute node
with the traps a real host has:

root (4026531840)  lo(1)  em2(2, NIC)  br0(3 bridge: em2.100, tap0, veth-a)  tap0(5, held by qemu-kvm)
                   em2.100(6, vlan on em2)  veth-a(7, peer veth-b in qdhcp, *peer ifindex 2 = em2 here*)
                   tun0(8, held by openvpn)  vethc1(9, peer eth0 in the pid-only namespace)
                   vethx(10, peer in an unreadable namespace)  tap1(11, persistent, nobody holds it)
qdhcp-ba48a3fc-... (4026532323)  lo(1)  veth-b(2, peer veth-a)  dnsmasq listening on 53/67
pid 4242 only (4026532400)  lo(1)  eth0(3, peer vethc1 in root; its ifindex 3 collides with br0)

`cyclic()` is a malformed snapshot full of loops (a veth that is its own peer, two devices each the
lower of the other, a bridge that is its own master) for cycle-safety tests.
"""

from __future__ import annotations

from datetime import datetime, timezone

from vnettop.model import (
    BridgeInfo,
    BridgePort,
    CollectError,
    FdbEntry,
    Host,
    Link,
    LinkRef,
    Listening,
    Namespace,
    Process,
    Snapshot,
    Stats,
    TunHolder,
    TunInfo,
)

ROOT = 4026531840
QDHCP = 4026532323
PIDNS = 4026532400
UNREADABLE = 4026532999
QDHCP_NAME = "qdhcp-ba48a3fc-4c4e-4a39-9b8e-b7b6d5f25c3e"
TAKEN_AT = datetime(2026, 11, 25, 8, 0, 0, 123000, tzinfo=timezone.utc)

QEMU = Process(
    pid=7748,
    comm="qemu-kvm",
    cmdline="qemu-kvm -name guest=P2 -netdev tap,fd=26,id=hostnet0",
    user="qemu",
)
OPENVPN = Process(
    pid=3056,
    comm="openvpn",
    cmdline="openvpn --config server.conf",
    user="root",
    listening=(Listening("udp", "0.0.0.0", 9112),),
)
DNSMASQ = Process(
    pid=28795,
    comm="dnsmasq",
    cmdline="dnsmasq --no-hosts --interface=veth-b",
    user="nobody",
    listening=(
        Listening("tcp", "10.0.0.2", 53),
        Listening("udp", "10.0.0.2", 53),
        Listening("udp", "0.0.0.0", 67),
    ),
)


def _link(netns: int, ifindex: int, name: str, kind: str, **kw: object) -> Link:
    """A link with unremarkable defaults (up, a MAC derived from its key, mtu 1500)."""
    defaults: dict[str, object] = {
        "mac": f"02:00:{(netns >> 8) & 0xFF:02x}:{netns & 0xFF:02x}:00:{ifindex:02x}",
        "mtu": 1500,
        "admin_up": True,
        "oper_state": "up",
    }
    defaults.update(kw)
    return Link(netns=netns, ifindex=ifindex, name=name, kind=kind, **defaults)  # type: ignore[arg-type]


def _port(state: str = "forwarding") -> BridgePort:
    return BridgePort(state=state, cost=2, priority=32)


def _br0_ref() -> LinkRef:
    return LinkRef(ROOT, 3, "br0")


def compute_node() -> Snapshot:
    """The article's compute node (see the module docstring for the map)."""
    root_links = (
        _link(ROOT, 1, "lo", "loopback", mac="00:00:00:00:00:00", mtu=65536, oper_state="unknown",
              addresses=("127.0.0.1/8", "::1/128")),
        _link(ROOT, 2, "em2", "device", addresses=("192.0.2.10/24",),
              stats=Stats(rx_bytes=1200, tx_bytes=3400, rx_packets=12, tx_packets=34)),
        _link(ROOT, 3, "br0", "bridge",
              bridge=BridgeInfo(stp=False, vlan_filtering=False, ports=(5, 6, 7),
                                fdb=(FdbEntry("fa:16:3e:85:f8:0c", 5, "learned"),
                                     FdbEntry("d6:4b:5e:69:ff:2d", 7, "permanent")))),
        _link(ROOT, 5, "tap0", "tap", master=_br0_ref(), bridge_port=_port(),
              tun=TunInfo(type="tap", persist=False, multi_queue=False, vnet_hdr=True, pi=False,
                          holders=(TunHolder(pid=7748, comm="qemu-kvm", fds=(26,)),))),
        _link(ROOT, 6, "em2.100", "vlan", master=_br0_ref(), bridge_port=_port(),
              lower=LinkRef(ROOT, 2, "em2"), info=(("id", "100"), ("protocol", "802.1Q"))),
        _link(ROOT, 7, "veth-a", "veth", master=_br0_ref(), bridge_port=_port("learning"),
              peer=LinkRef(QDHCP, 2, "veth-b")),
        _link(ROOT, 8, "tun0", "tun", mac=None, addresses=("10.5.0.1/32",),
              tun=TunInfo(type="tun", persist=False, multi_queue=False, vnet_hdr=False, pi=False,
                          holders=(TunHolder(pid=3056, comm="openvpn", fds=(6,)),))),
        _link(ROOT, 9, "vethc1", "veth", peer=LinkRef(PIDNS, 3, "eth0")),
        _link(ROOT, 10, "vethx", "veth", oper_state="lowerlayerdown",
              peer=LinkRef(UNREADABLE, 4, None)),
        _link(ROOT, 11, "tap1", "tap", admin_up=False, oper_state="down",
              tun=TunInfo(type="tap", persist=True, multi_queue=True, vnet_hdr=True, pi=False,
                          owner=1000, num_queues=2)),
    )
    qdhcp_links = (
        _link(QDHCP, 1, "lo", "loopback", mac="00:00:00:00:00:00", mtu=65536, oper_state="unknown",
              addresses=("127.0.0.1/8",)),
        _link(QDHCP, 2, "veth-b", "veth", addresses=("10.0.0.2/24",), peer=LinkRef(ROOT, 7, "veth-a")),
    )
    pidns_links = (
        _link(PIDNS, 1, "lo", "loopback", mac="00:00:00:00:00:00", mtu=65536, oper_state="unknown"),
        _link(PIDNS, 3, "eth0", "veth", addresses=("172.17.0.2/16",), peer=LinkRef(ROOT, 9, "vethc1")),
    )
    return Snapshot(
        host=Host(hostname="compute01", kernel="6.18.44"),
        namespaces=(
            Namespace(inode=ROOT, names=(), root=True, pids=(1, 3056, 7748), processes=(OPENVPN, QEMU)),
            Namespace(inode=QDHCP, names=(QDHCP_NAME,), root=False, pids=(28795,), processes=(DNSMASQ,)),
            Namespace(inode=PIDNS, names=(), root=False, pids=(4242,)),
        ),
        links=root_links + qdhcp_links + pidns_links,
        errors=(CollectError(f"netns {UNREADABLE}", "permission denied: /proc/4343/ns/net"),),
        taken_at=TAKEN_AT,
        duration_ms=12.5,
    )


def cyclic() -> Snapshot:
    """A malformed snapshot whose references loop; every walker must terminate on it."""
    ns = 4026530001
    br = LinkRef(ns, 1, "brloop")
    links = (
        _link(ns, 1, "brloop", "bridge", master=br, bridge_port=_port(),
              bridge=BridgeInfo(stp=False, vlan_filtering=False, ports=(1, 2, 3, 4))),
        _link(ns, 2, "self-veth", "veth", master=br, bridge_port=_port(), peer=LinkRef(ns, 2, "self-veth")),
        _link(ns, 3, "up-a", "vlan", master=br, bridge_port=_port(), lower=LinkRef(ns, 4, "up-b")),
        _link(ns, 4, "up-b", "vlan", master=br, bridge_port=_port(), lower=LinkRef(ns, 3, "up-a")),
    )
    return Snapshot(
        host=Host(hostname="loops", kernel="6.18.44"),
        namespaces=(Namespace(inode=ns, names=(), root=True, pids=(1,)),),
        links=links,
        taken_at=TAKEN_AT,
    )


def chain(length: int) -> Snapshot:
    """`length` namespaces joined in a line by veth pairs, each hop through a bridge: a deep path."""
    namespaces = []
    links: list[Link] = []
    base = 4026540000
    for i in range(length):
        ns = base + i
        namespaces.append(Namespace(inode=ns, names=(f"n{i}",), root=(i == 0), pids=()))
        br = LinkRef(ns, 1, "br")
        ports = tuple(p for p, cond in ((2, i > 0), (3, i < length - 1)) if cond)
        links.append(_link(ns, 1, "br", "bridge",
                           bridge=BridgeInfo(stp=False, vlan_filtering=False, ports=ports)))
        if i > 0:  # the end coming from the previous namespace
            links.append(_link(ns, 2, "left", "veth", master=br, bridge_port=_port(),
                               peer=LinkRef(ns - 1, 3, "right")))
        if i < length - 1:
            links.append(_link(ns, 3, "right", "veth", master=br, bridge_port=_port(),
                               peer=LinkRef(ns + 1, 2, "left")))
    return Snapshot(
        host=Host(hostname="chain", kernel="6.18.44"),
        namespaces=tuple(namespaces),
        links=tuple(links),
        taken_at=TAKEN_AT,
    )
