"""The demo snapshot: the article's compute node, so anyone can see vnettop without root.

It is the world of an OpenStack/KVM compute node (see the project's design notes):
- a VM (`qemu-kvm -name guest=P2`) holding `tap0` on fd 26, `tap0` a port of `br0`, which leaves through the
  VLAN device `em2.100` on the NIC `em2`;
- an OpenVPN server holding `tun0` on fd 6 with its UDP socket on port 9112;
- the DHCP namespace `qdhcp-<network uuid>` with dnsmasq inside, joined by the veth pair
  `ns-ba48a3fc-7a` (inside) / `tapba48a3fc-7a` (outside, a port of the bridge `brqba48a3fc-7a`);
- VM taps on that bridge (one multi-queue, held with two fds);
- a container (a namespace with no name) whose `eth0` has ifindex 2, like the host's `em1`: the collision
  that makes "look the peer's index up locally" wrong;
- a Kubernetes pod sandbox in its `cni-<uuid>` namespace, joined to the bridge `cni0` by a veth.

Owners (`Snapshot.owners`) of several kinds and sources, so every view shows them: the VM on
`tap796091c0-07` read from libvirt with Nova's metadata (exact) and its Neutron port (exact, from the
same metadata; the name pattern also saw it); the other two VMs inferred from qemu's command line; the
Neutron network and DHCP port inferred from names alone; the Docker container `proxy`; the pod
`nginx-7d4` (Kubernetes namespace `default`).

`vnettop/data/demo.json` is this snapshot written by `vnettop.render.json`; a test keeps the two in step.
Addresses are from documentation ranges; nothing here describes a real host.
"""

from __future__ import annotations

from datetime import datetime, timezone

from vnettop.model import (
    BridgeInfo,
    BridgePort,
    FdbEntry,
    Host,
    Link,
    LinkRef,
    Listening,
    Namespace,
    Owner,
    Process,
    Snapshot,
    Stats,
    TunHolder,
    TunInfo,
)

ROOT = 4026531840
QDHCP = 4026532323
CONTAINER = 4026532401
POD = 4026532512
QDHCP_NAME = "qdhcp-ba48a3fc-7a5b-4b31-9c2e-6d8e1f0a2b3c"
POD_NS_NAME = "cni-5d1e2f3a-4b6c-4d8e-9f0a-1b2c3d4e5f60"
#: Nova's instance uuid of the VM `web-1` (libvirt domain P3) and its Neutron port's uuid.
WEB1_UUID = "3f1c9a52-8e0d-4b7a-9c61-2d5e7f0a1b24"
WEB1_PORT = "796091c0-07e1-4c55-9a3b-8f2d6e1c0a77"
PROXY_ID = "9c2d4e6f8a0b1c3d5e7f9a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d"
POD_UID = "b7e4c1d2-3a5f-4e6b-8c9d-0e1f2a3b4c5d"

FWD = BridgePort(state="forwarding", cost=2, priority=32)


def _stats(rx: int, tx: int) -> Stats:
    return Stats(rx_bytes=rx, tx_bytes=tx, rx_packets=rx // 700, tx_packets=tx // 700)


def _qemu(pid: int, guest: str, fds: str, mac: str) -> Process:
    return Process(
        pid=pid,
        comm="qemu-kvm",
        cmdline=(f"/usr/libexec/qemu-kvm -name guest={guest},debug-threads=on -machine pc-i440fx-rhel7.0.0 "
                 f"-m 4096 -smp 2 -netdev tap,{fds},id=hostnet0,vhost=on -device virtio-net-pci,"
                 f"netdev=hostnet0,id=net0,mac={mac}"),
        user="qemu",
    )


def _root_links() -> list[Link]:
    br0 = LinkRef(ROOT, 5, "br0")
    brq = LinkRef(ROOT, 8, "brqba48a3fc-7a")
    docker0 = LinkRef(ROOT, 12, "docker0")
    tap = dict(persist=False, multi_queue=False, vnet_hdr=True, pi=False)
    return [
        Link(ROOT, 1, "lo", "loopback", "00:00:00:00:00:00", 65536, True, "unknown",
             addresses=("127.0.0.1/8", "::1/128"), stats=_stats(88_000, 88_000), carrier=True),
        Link(ROOT, 2, "em1", "device", "52:54:00:12:34:01", 1500, True, "up",
             addresses=("192.0.2.10/24",), stats=_stats(9_400_000_000, 1_200_000_000), carrier=True),
        Link(ROOT, 3, "em2", "device", "52:54:00:12:34:02", 1500, True, "up",
             stats=_stats(51_000_000_000, 48_000_000_000), carrier=True),
        Link(ROOT, 4, "em2.100", "vlan", "52:54:00:12:34:02", 1500, True, "up", master=br0,
             lower=LinkRef(ROOT, 3, "em2"), stats=_stats(50_000_000_000, 47_000_000_000),
             bridge_port=FWD, carrier=True, info=(("protocol", "802.1Q"), ("vlan_id", "100"))),
        Link(ROOT, 5, "br0", "bridge", "52:54:00:12:34:02", 1500, True, "up",
             stats=_stats(1_300_000, 0), carrier=True,
             bridge=BridgeInfo(stp=False, vlan_filtering=False, ports=(4, 6), fdb=(
                 FdbEntry("52:54:00:12:34:02", 4, "permanent"),
                 FdbEntry("52:54:00:77:10:01", 4, "learned"),
                 FdbEntry("fa:16:3e:b1:70:52", 6, "learned"),
                 FdbEntry("fe:16:3e:b1:70:52", 6, "permanent"),
             ))),
        Link(ROOT, 6, "tap0", "tap", "fe:16:3e:b1:70:52", 1500, True, "up", master=br0,
             stats=_stats(2_100_000_000, 3_400_000_000), bridge_port=FWD, carrier=True,
             tun=TunInfo(type="tap", **tap, holders=(TunHolder(7748, "qemu-kvm", (26,), vhost_fds=(28,)),))),
        Link(ROOT, 7, "tun0", "tun", None, 1500, True, "unknown", addresses=("10.5.0.1/32",),
             stats=_stats(480_000_000, 310_000_000), carrier=True,
             tun=TunInfo(type="tun", persist=False, multi_queue=False, vnet_hdr=False, pi=False,
                         holders=(TunHolder(3056, "openvpn", (6,)),)),
             info=(("peer_address", "10.5.0.2"),)),
        Link(ROOT, 8, "brqba48a3fc-7a", "bridge", "fa:16:3e:4c:2b:10", 1450, True, "up",
             stats=_stats(640_000, 0), carrier=True,
             bridge=BridgeInfo(stp=False, vlan_filtering=False, ports=(9, 10, 11), fdb=(
                 FdbEntry("fa:16:3e:4c:2b:10", 9, "permanent"),
                 FdbEntry("fa:16:3e:85:f8:0c", 10, "learned"),
                 FdbEntry("fa:16:3e:9d:01:77", 11, "learned"),
                 FdbEntry("fa:16:3e:e4:55:02", 9, "learned"),
             ))),
        Link(ROOT, 9, "tapba48a3fc-7a", "veth", "fa:16:3e:4c:2b:10", 1450, True, "up", master=brq,
             peer=LinkRef(QDHCP, 2, "ns-ba48a3fc-7a"), stats=_stats(91_000, 430_000),
             bridge_port=FWD, carrier=True),
        Link(ROOT, 10, "tap796091c0-07", "tap", "fe:16:3e:85:f8:0c", 1450, True, "up", master=brq,
             stats=_stats(730_000_000, 920_000_000), bridge_port=FWD, carrier=True,
             tun=TunInfo(type="tap", **tap, holders=(TunHolder(7802, "qemu-kvm", (31,)),))),
        Link(ROOT, 11, "tapa1b2c3d4-5e", "tap", "fe:16:3e:9d:01:77", 1450, True, "up", master=brq,
             stats=_stats(120_000_000, 95_000_000), bridge_port=BridgePort("forwarding", 2, 32), carrier=True,
             tun=TunInfo(type="tap", persist=False, multi_queue=True, vnet_hdr=True, pi=False, num_queues=2,
                         holders=(TunHolder(8120, "qemu-kvm", (29, 30)),))),
        Link(ROOT, 12, "docker0", "bridge", "02:42:7c:1e:3a:55", 1500, True, "up",
             addresses=("172.17.0.1/16",),
             stats=_stats(5_600_000, 7_100_000), carrier=True,
             bridge=BridgeInfo(stp=False, vlan_filtering=False, ports=(13,), fdb=(
                 FdbEntry("02:42:ac:11:00:02", 13, "learned"),
             ))),
        Link(ROOT, 13, "vethd41c2e", "veth", "6a:0e:51:d4:1c:2e", 1500, True, "up", master=docker0,
             peer=LinkRef(CONTAINER, 2, "eth0"), stats=_stats(7_100_000, 5_600_000),
             bridge_port=FWD, carrier=True),
        Link(ROOT, 14, "cni0", "bridge", "0a:58:0a:f4:01:01", 1450, True, "up",
             addresses=("10.244.1.1/24",), stats=_stats(310_000, 290_000), carrier=True,
             bridge=BridgeInfo(stp=False, vlan_filtering=False, ports=(15,), fdb=(
                 FdbEntry("0a:58:0a:f4:01:07", 15, "learned"),
             ))),
        Link(ROOT, 15, "veth5d1e2f3a", "veth", "8e:21:5d:1e:2f:3a", 1450, True, "up",
             master=LinkRef(ROOT, 14, "cni0"), peer=LinkRef(POD, 2, "eth0"), stats=_stats(290_000, 310_000),
             bridge_port=FWD, carrier=True),
    ]


def _other_links() -> list[Link]:
    return [
        Link(QDHCP, 1, "lo", "loopback", "00:00:00:00:00:00", 65536, True, "unknown",
             addresses=("127.0.0.1/8",), carrier=True),
        Link(QDHCP, 2, "ns-ba48a3fc-7a", "veth", "fa:16:3e:e4:55:02", 1450, True, "up",
             peer=LinkRef(ROOT, 9, "tapba48a3fc-7a"), addresses=("10.0.0.2/24", "169.254.169.254/32"),
             stats=_stats(430_000, 91_000), carrier=True),
        Link(CONTAINER, 1, "lo", "loopback", "00:00:00:00:00:00", 65536, True, "unknown",
             addresses=("127.0.0.1/8",), carrier=True),
        Link(CONTAINER, 2, "eth0", "veth", "02:42:ac:11:00:02", 1500, True, "up",
             peer=LinkRef(ROOT, 13, "vethd41c2e"), addresses=("172.17.0.2/16",),
             stats=_stats(5_600_000, 7_100_000), carrier=True),
        Link(POD, 1, "lo", "loopback", "00:00:00:00:00:00", 65536, True, "unknown",
             addresses=("127.0.0.1/8",), carrier=True),
        Link(POD, 2, "eth0", "veth", "0a:58:0a:f4:01:07", 1450, True, "up",
             peer=LinkRef(ROOT, 15, "veth5d1e2f3a"), addresses=("10.244.1.7/24",),
             stats=_stats(310_000, 290_000), carrier=True),
    ]


def _owners() -> tuple[Owner, ...]:
    """The demo's owners, sorted by (kind, name, id) as a snapshot keeps them (`parent` is an index)."""
    libvirt = "/run/libvirt/qemu/P3.xml"
    pattern = "name pattern"
    return (
        Owner("container", "proxy", PROXY_ID, "docker", "docker.sock", True,
              details=(("image", "nginx:1.27"),), namespaces=(CONTAINER,), pids=(4242, 4251)),
        Owner("neutron-network", QDHCP_NAME[6:], QDHCP_NAME[6:], "neutron", pattern, False,
              details=(("role", "DHCP namespace, network bridge"),), links=((ROOT, 8),), namespaces=(QDHCP,)),
        Owner("neutron-port", "796091c0-07", WEB1_PORT, "neutron", libvirt, True,
              details=(("also", pattern), ("mac", "fa:16:3e:85:f8:0c"), ("role", "tap")),
              links=((ROOT, 10),), parent=8),
        Owner("neutron-port", "a1b2c3d4-5e", "a1b2c3d4-5e", "neutron", pattern, False,
              details=(("role", "tap"),), links=((ROOT, 11),), parent=7),
        Owner("neutron-port", "ba48a3fc-7a", "ba48a3fc-7a", "neutron", pattern, False,
              details=(("role", "DHCP port, tap"),), links=((ROOT, 9), (QDHCP, 2)), parent=1),
        Owner("pod", "nginx-7d4", POD_UID, "containerd", "containerd sandbox annotations", True,
              details=(("namespace", "default"),), namespaces=(POD,), pids=(5120, 5188)),
        Owner("vm", "P2", None, "qemu", "qemu command line", False, links=((ROOT, 6),), pids=(7748,)),
        Owner("vm", "vm-web", None, "qemu", "qemu command line", False, links=((ROOT, 11),), pids=(8120,)),
        Owner("vm", "web-1", WEB1_UUID, "libvirt", libvirt, True,
              details=(("also", "qemu command line"), ("domain", "P3"), ("flavor", "m1.small"),
                       ("project", "demo"), ("user", "admin")),
              links=((ROOT, 10),), pids=(7802,)),
    )


def demo_snapshot() -> Snapshot:
    """The article's compute node as a Snapshot (fixed clock, fixed PIDs: reproducible screens)."""
    root = Namespace(
        inode=ROOT, names=(), root=True, pids=(1, 3056, 7748, 7802, 8120),
        processes=(
            Process(3056, "openvpn", "/usr/sbin/openvpn --config /etc/openvpn/server.conf --dev tun0",
                    "root", (Listening("udp", "0.0.0.0", 9112),)),
            _qemu(7748, "P2", "fd=26", "fa:16:3e:b1:70:52"),
            _qemu(7802, "P3", "fd=31", "fa:16:3e:85:f8:0c"),
            _qemu(8120, "vm-web", "fds=29:30", "fa:16:3e:9d:01:77"),
        ),
    )
    qdhcp = Namespace(
        inode=QDHCP, names=(QDHCP_NAME,), root=False, pids=(28795,),
        processes=(
            Process(28795, "dnsmasq",
                    "dnsmasq --no-hosts --no-resolv --pid-file=/var/lib/neutron/dhcp/ba48a3fc/pid "
                    "--interface=ns-ba48a3fc-7a --bind-interfaces --dhcp-range=set:subnet,10.0.0.0,static,"
                    "255.255.255.0,86400s",
                    "nobody",
                    (Listening("tcp", "10.0.0.2", 53), Listening("udp", "0.0.0.0", 67),
                     Listening("udp", "10.0.0.2", 53))),
        ),
    )
    container = Namespace(
        inode=CONTAINER, names=(), root=False, pids=(4242, 4251),
        processes=(Process(4251, "nginx", "nginx: master process nginx -g daemon off;", "root",
                           (Listening("tcp", "0.0.0.0", 80),)),),
    )
    pod = Namespace(
        inode=POD, names=(POD_NS_NAME,), root=False, pids=(5120, 5188),
        processes=(Process(5188, "nginx", "nginx: master process nginx -g daemon off;", "root",
                           (Listening("tcp", "0.0.0.0", 8080),)),),
    )
    links = sorted(_root_links() + _other_links(), key=lambda link: link.key)
    return Snapshot(
        host=Host(hostname="compute01", kernel="6.18.44"),
        namespaces=(root, qdhcp, container, pod),
        links=tuple(links),
        errors=(),
        taken_at=datetime(2026, 11, 25, 8, 0, 0, tzinfo=timezone.utc),
        duration_ms=12.0,
        owners=_owners(),
    )


def load_demo() -> Snapshot:
    """The demo as shipped in the package (`vnettop/data/demo.json`), read like any saved snapshot."""
    import json
    from importlib.resources import files

    from vnettop.render.json import snapshot_from_dict

    text = files("vnettop").joinpath("data/demo.json").read_text(encoding="utf-8")
    return snapshot_from_dict(json.loads(text), source="demo.json")
