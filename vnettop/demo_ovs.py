"""An Open vSwitch compute node as a recorded snapshot: what the OVS views, the trace and the orphans
are shown and tested on without a switch (the kernel datapath cannot run in the test box's containers).

The shape is what an OpenStack compute node on OVS looks like from rtnetlink and OVSDB together:
- the kernel datapath: `ovs-system` is every OVS port's master, `vxlan_sys_4789` its tunnel vport;
- `br-int` (fail_mode secure) with three VMs' taps held by qemu (two on tag 5, one on tag 7) carrying
  Nova/Neutron `external_ids`, the metadata veth `tapba48a3fc-70` (tag 5) whose other end
  `tapba48a3fc-71` lives in `ovnmeta-<network uuid>` where haproxy listens on 169.254.169.254:80, and
  a tap OVSDB still lists but the kernel no longer has (a VM deleted behind OVS's back: an orphan);
- the patch pair `patch-tun` / `patch-int` to `br-tun`, which has a vxlan tunnel to 10.0.0.2 and a
  geneve tunnel to 10.0.0.3, both leaving from 10.0.0.1 on `eth1`.
Addresses are from documentation and private ranges; nothing here describes a real host.
"""

from __future__ import annotations

from datetime import datetime, timezone

from vnettop.model import (
    CollectError,
    Host,
    Link,
    LinkRef,
    Listening,
    Namespace,
    OvsBridgeEntry,
    OvsDatapathDevice,
    OvsIfaceEntry,
    OvsPeer,
    OvsPortEntry,
    OvsSection,
    Process,
    Snapshot,
    Stats,
    TunHolder,
    TunInfo,
)

ROOT = 4026531840
OVNMETA = 4026532610
NET_ID = "ba48a3fc-7a5b-4b31-9c2e-6d8e1f0a2b3c"
OVNMETA_NAME = f"ovnmeta-{NET_ID}"
VM_PORT = "1ec9dbb7-e7a4-4d1b-9c55-0a2b3c4d5e6f"
VM_UUID = "6f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"


def uuid(n: int) -> str:
    """The OVSDB row uuids of this world (fixed, so screens are reproducible)."""
    return f"5e0c{n:04x}-0000-4000-8000-{n:012x}"


def _stats(rx: int, tx: int) -> Stats:
    return Stats(rx_bytes=rx, tx_bytes=tx, rx_packets=rx // 700, tx_packets=tx // 700)


def _tap(ifindex: int, name: str, mac: str, pid: int, fd: int) -> Link:
    tun = TunInfo("tap", False, False, True, False, holders=(TunHolder(pid, "qemu-kvm", (fd,)),))
    return Link(ROOT, ifindex, name, "tap", mac, 1450, True, "up", master=_DP,
                stats=_stats(ifindex * 9_000_000, ifindex * 7_000_000), tun=tun, carrier=True)


_DP = LinkRef(ROOT, 3, "ovs-system")


def _links() -> list[Link]:
    meta_out = Link(ROOT, 10, "tapba48a3fc-70", "veth", "fa:16:3e:00:00:70", 1450, True, "up", master=_DP,
                    peer=LinkRef(OVNMETA, 2, "tapba48a3fc-71"), stats=_stats(81_000, 64_000), carrier=True)
    return [
        Link(ROOT, 1, "lo", "loopback", "00:00:00:00:00:00", 65536, True, "unknown",
             addresses=("127.0.0.1/8",), carrier=True),
        Link(ROOT, 2, "eth1", "device", "52:54:00:12:34:11", 1500, True, "up", addresses=("10.0.0.1/24",),
             stats=_stats(8_100_000_000, 7_300_000_000), carrier=True),
        Link(ROOT, 3, "ovs-system", "openvswitch", "6e:00:00:00:00:03", 1500, False, "down"),
        Link(ROOT, 4, "br-int", "openvswitch", "7a:c1:00:00:00:04", 1450, False, "down", master=_DP),
        Link(ROOT, 5, "br-tun", "openvswitch", "7a:c1:00:00:00:05", 1450, False, "down", master=_DP),
        Link(ROOT, 6, "vxlan_sys_4789", "vxlan", "9e:00:00:00:00:06", 65000, True, "unknown", master=_DP,
             info=(("dstport", "4789"), ("external", "true"))),
        _tap(7, "tap1ec9dbb7-e7", "fe:16:3e:12:34:56", 7748, 26),
        _tap(8, "tap5c2d4e6f-a1", "fe:16:3e:5c:2d:4e", 7802, 31),
        _tap(9, "tap9a8b7c6d-11", "fe:16:3e:9a:8b:7c", 8120, 29),
        meta_out,
        Link(OVNMETA, 1, "lo", "loopback", "00:00:00:00:00:00", 65536, True, "unknown",
             addresses=("127.0.0.1/8",), carrier=True),
        Link(OVNMETA, 2, "tapba48a3fc-71", "veth", "fa:16:3e:00:00:71", 1450, True, "up",
             peer=LinkRef(ROOT, 10, "tapba48a3fc-70"), addresses=("10.0.0.2/24", "169.254.169.254/32"),
             stats=_stats(64_000, 81_000), carrier=True),
    ]


def _iface(n: int, name: str, type_: str, ofport: int | None, link: int | None = None, *,
           options: dict[str, str] | None = None, ids: dict[str, str] | None = None,
           peer: OvsPeer | None = None, mac: str | None = None) -> OvsIfaceEntry:
    return OvsIfaceEntry(name=name, uuid=uuid(n), type=type_, ofport=ofport, admin_state="up",
                         link_state="up" if ofport is not None else None, mac_in_use=mac,
                         options=tuple(sorted((options or {}).items())),
                         external_ids=tuple(sorted((ids or {}).items())),
                         link=LinkRef(ROOT, link, name) if link is not None else None, peer=peer)


def _port(n: int, iface: OvsIfaceEntry, tag: int | None = None, trunks: tuple[int, ...] = (),
          config: dict[str, str] | None = None) -> OvsPortEntry:
    return OvsPortEntry(name=iface.name, uuid=uuid(n), tag=tag, trunks=trunks, interfaces=(iface,),
                        other_config=tuple(sorted((config or {}).items())))


def _nova(port_id: str, mac: str, vm: str) -> dict[str, str]:
    return {"iface-id": port_id, "attached-mac": mac, "vm-uuid": vm, "iface-status": "active"}


def _net(tag: int) -> dict[str, str]:
    return {"net_uuid": NET_ID, "network_type": "vxlan", "segmentation_id": "1234", "tag": str(tag)}


def ovs_section() -> OvsSection:
    """OVSDB of the node, joined to its kernel devices as the `ovs` source would join it."""
    br_int_ports = (
        _port(20, _iface(40, "br-int", "internal", 65534, 4, mac="7a:c1:00:00:00:04")),
        _port(21, _iface(41, "patch-tun", "patch", 2, options={"peer": "patch-int"},
                         peer=OvsPeer("br-tun", "patch-int", "patch-int"))),
        _port(22, _iface(42, "tap1ec9dbb7-e7", "", 12, 7, mac="fe:16:3e:12:34:56",
                         ids=_nova(VM_PORT, "fa:16:3e:12:34:56", VM_UUID)), tag=5, config=_net(5)),
        _port(23, _iface(43, "tap5c2d4e6f-a1", "", 13, 8, mac="fe:16:3e:5c:2d:4e",
                         ids=_nova("5c2d4e6f-a1b2-4c3d-8e4f-5a6b7c8d9e0f", "fa:16:3e:5c:2d:4e",
                                   "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d")), tag=5, config=_net(5)),
        _port(24, _iface(44, "tap9a8b7c6d-11", "", 14, 9, mac="fe:16:3e:9a:8b:7c",
                         ids=_nova("9a8b7c6d-1122-4334-8556-677889900aab", "fa:16:3e:9a:8b:7c",
                                   "7c6d5e4f-3a2b-4c1d-8e0f-9a8b7c6d5e4f")), tag=7),
        _port(25, _iface(45, "tapba48a3fc-70", "", 15, 10, ids={"iface-id": "ba48a3fc-meta",
                                                                  "ovn-installed": "true"}), tag=5,
              config=_net(5)),
        _port(26, _iface(46, "tapdeadbeef-00", "", None, ids=_nova("deadbeef-0000-4000-8000-000000000000",
                                                                     "fa:16:3e:de:ad:be",
                                                                     "d0d0d0d0-0000-4000-8000-000000000000")),
              tag=5),
    )
    br_tun_ports = (
        _port(30, _iface(50, "br-tun", "internal", 65534, 5, mac="7a:c1:00:00:00:05")),
        _port(31, _iface(51, "geneve-0a000003", "geneve", 4,
                         options={"key": "flow", "local_ip": "10.0.0.1", "remote_ip": "10.0.0.3"})),
        _port(32, _iface(52, "patch-int", "patch", 1, options={"peer": "patch-tun"},
                         peer=OvsPeer("br-int", "patch-tun", "patch-tun"))),
        _port(33, _iface(53, "vxlan-0a000002", "vxlan", 3,
                         options={"in_key": "flow", "local_ip": "10.0.0.1", "out_key": "flow",
                                  "remote_ip": "10.0.0.2"})),
    )
    bridges = (
        OvsBridgeEntry("br-int", uuid(10), "system", "secure", br_int_ports),
        OvsBridgeEntry("br-tun", uuid(11), "system", "secure", br_tun_ports),
    )
    devices = (
        OvsDatapathDevice(_DP, "the kernel datapath (openvswitch module): every port's master"),
        OvsDatapathDevice(LinkRef(ROOT, 6, "vxlan_sys_4789"),
                          "the kernel datapath's tunnel vport (one per UDP port)"),
    )
    return OvsSection("/run/openvswitch/db.sock", "3.1.0", "compute-2-sysid", bridges, devices)


def _qemu(pid: int, guest: str, fd: int, mac: str) -> Process:
    return Process(pid, "qemu-kvm", f"/usr/libexec/qemu-kvm -name guest={guest},debug-threads=on -m 4096 "
                   f"-netdev tap,fd={fd},id=hostnet0,vhost=on "
                   f"-device virtio-net-pci,netdev=hostnet0,mac={mac}",
                   "qemu")


def ovs_snapshot() -> Snapshot:
    """The OVS compute node (fixed clock, fixed PIDs and uuids: reproducible screens)."""
    root = Namespace(ROOT, (), True, (1, 7748, 7802, 8120), (
        _qemu(7748, "web-1", 26, "fa:16:3e:12:34:56"),
        _qemu(7802, "db-1", 31, "fa:16:3e:5c:2d:4e"),
        _qemu(8120, "batch-7", 29, "fa:16:3e:9a:8b:7c"),
    ))
    meta = Namespace(OVNMETA, (OVNMETA_NAME,), False, (9100,), (
        Process(9100, "haproxy", f"haproxy -f /var/lib/neutron/ovn-metadata-proxy/{NET_ID}.conf", "root",
                (Listening("tcp", "169.254.169.254", 80),)),
    ))
    gone = CollectError("source ovs", "OVS interface tapdeadbeef-00 (bridge br-int): no kernel device of "
                        "that name (none in the root namespace, none proven moved elsewhere)")
    return Snapshot(Host("compute-2", "6.18.44"), (root, meta), tuple(sorted(_links(), key=lambda x: x.key)),
                    errors=(gone,),
                    taken_at=datetime(2026, 11, 25, 8, 0, 0, tzinfo=timezone.utc), duration_ms=9.0,
                    ovs=ovs_section())
