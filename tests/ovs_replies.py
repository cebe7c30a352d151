"""OVSDB `monitor` replies (RFC 7047 section 4.1.5, the "initial" table-updates object) for what this
machine's userspace-only Open vSwitch cannot show: a kernel-datapath compute node (`ovs-system`, the
`vxlan_sys_4789` vport, taps on br-int with Nova/Neutron external_ids, a patch pair to br-tun and a vxlan
tunnel) and a DPDK host (`dpdk` and `dpdkvhostuserclient` interfaces, which have no kernel device).

Written in the exact wire shape ovsdb-server sends for vnettop's monitor request (atoms, `["set", …]`,
`["map", …]`, `["uuid", …]`), with the values an `ovs-vsctl show` of an ML2/OVS compute node gives; the
kernel pictures beside them are what rtnetlink shows on such a host. Applied through
`vnettop.ovsdb.monitor.build_view`, the same code a live `Monitor` uses.
"""

from __future__ import annotations

from typing import Any

from vnettop.model import Host, Link, LinkRef, Namespace, Process, Snapshot, TunHolder, TunInfo
from vnettop.ovsdb.monitor import build_view
from vnettop.ovsdb.view import OvsView

ROOT, VMNS, OTHER = 4026531840, 4026532100, 4026532200
PORT_ID = "1ec9dbb7-e7a4-4d1b-9c55-0a2b3c4d5e6f"
VM_ID = "6f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
NET_ID = "ba48a3fc-7a5b-4b31-9c2e-6d8e1f0a2b3c"
TAP = "tap1ec9dbb7-e7"
TAP_MAC = "fe:16:3e:12:34:56"


def _uuid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012x}"


def _row(**cols: Any) -> dict[str, Any]:
    return {"new": cols}


def _map(d: dict[str, str]) -> list[Any]:
    return ["map", [[k, v] for k, v in sorted(d.items())]]


def _refs(*ns: int) -> list[Any]:
    return ["set", [["uuid", _uuid(n)] for n in ns]]


def _iface(name: str, type_: str = "", ofport: int | list[Any] = ["set", []],  # noqa: B006
           mac: str | list[Any] = ["set", []], options: dict[str, str] | None = None,  # noqa: B006
           ids: dict[str, str] | None = None, ifindex: int | list[Any] = ["set", []]) -> dict[str, Any]:  # noqa: B006
    return _row(name=name, type=type_, ofport=ofport, admin_state="up", link_state="up", mac_in_use=mac,
                options=_map(options or {}), external_ids=_map(ids or {}), ifindex=ifindex)


#: A kernel-datapath ML2/OVS compute node: br-int (local port, a VM's tap with tag 5, patch-tun),
#: br-tun (local port, patch-int, a vxlan to 10.0.0.2 with key flow).
KERNEL_DATAPATH: dict[str, dict[str, Any]] = {
    "Open_vSwitch": {_uuid(1): _row(ovs_version="3.1.0", bridges=_refs(10, 11),
                                    external_ids=_map({"system-id": "compute-1-sysid"}))},
    "Bridge": {
        _uuid(10): _row(name="br-int", datapath_type="system", fail_mode="secure", ports=_refs(20, 21, 22),
                        external_ids=_map({})),
        _uuid(11): _row(name="br-tun", datapath_type="", fail_mode="secure", ports=_refs(23, 24, 25),
                        external_ids=_map({})),
    },
    "Port": {
        _uuid(20): _row(name="br-int", tag=["set", []], trunks=["set", []], interfaces=_refs(30),
                        external_ids=_map({}), other_config=_map({})),
        _uuid(21): _row(name=TAP, tag=5, trunks=["set", []], interfaces=_refs(31), external_ids=_map({}),
                        other_config=_map({"net_uuid": NET_ID, "network_type": "vxlan",
                                           "physical_network": "None", "segmentation_id": "1234",
                                           "tag": "5"})),
        _uuid(22): _row(name="patch-tun", tag=["set", []], trunks=["set", []], interfaces=_refs(32),
                        external_ids=_map({}), other_config=_map({})),
        _uuid(23): _row(name="br-tun", tag=["set", []], trunks=["set", []], interfaces=_refs(33),
                        external_ids=_map({}), other_config=_map({})),
        _uuid(24): _row(name="patch-int", tag=["set", []], trunks=["set", [1, 2]], interfaces=_refs(34),
                        external_ids=_map({}), other_config=_map({})),
        _uuid(25): _row(name="vxlan-0a000002", tag=["set", []], trunks=["set", []], interfaces=_refs(35),
                        external_ids=_map({}), other_config=_map({})),
    },
    "Interface": {
        _uuid(30): _iface("br-int", "internal", 65534, "7a:c1:00:00:00:01", ifindex=4),
        _uuid(31): _iface(TAP, "", 12, TAP_MAC, ids={"iface-id": PORT_ID, "attached-mac": "fa:16:3e:12:34:56",
                                                   "vm-uuid": VM_ID, "iface-status": "active"}, ifindex=9),
        _uuid(32): _iface("patch-tun", "patch", 2, options={"peer": "patch-int"}),
        _uuid(33): _iface("br-tun", "internal", 65534, "7a:c1:00:00:00:02", ifindex=5),
        _uuid(34): _iface("patch-int", "patch", 1, options={"peer": "patch-tun"}),
        _uuid(35): _iface("vxlan-0a000002", "vxlan", 3, options={"df_default": "true", "egress_pkt_mark": "0",
                                                                 "in_key": "flow", "local_ip": "10.0.0.1",
                                                                 "out_key": "flow", "remote_ip": "10.0.0.2"}),
    },
}



def _stats(**counts: int) -> list[Any]:
    return ["map", [[k, v] for k, v in sorted(counts.items())]]


#: The statistics monitor's initial reply on that node (`{"Interface": {"columns": ["statistics"]}}`):
#: every interface's counters as ovs-vswitchd last wrote them, br-int's local port not yet written.
KERNEL_DATAPATH_STATS: dict[str, dict[str, Any]] = {
    "Interface": {
        _uuid(30): _row(statistics=["map", []]),
        _uuid(31): _row(statistics=_stats(rx_bytes=1000, rx_packets=10, tx_bytes=2000, tx_packets=20,
                                          rx_dropped=0, tx_dropped=0, rx_errors=0, tx_errors=0)),
        _uuid(32): _row(statistics=_stats(rx_bytes=5000, rx_packets=50, tx_bytes=7000, tx_packets=70)),
        _uuid(33): _row(statistics=_stats(rx_bytes=0, rx_packets=0, tx_bytes=0, tx_packets=0)),
        _uuid(34): _row(statistics=_stats(rx_bytes=7000, rx_packets=70, tx_bytes=5000, tx_packets=50)),
        _uuid(35): _row(statistics=_stats(rx_bytes=90000, rx_packets=300, tx_bytes=80000, tx_packets=250,
                                          rx_errors=0, tx_errors=0, rx_dropped=0, tx_dropped=0)),
    },
}


def stats_update(seconds: int) -> dict[str, dict[str, Any]]:
    """The `update` notification's table-updates after `seconds` more of traffic through the patch pair
    and the tunnel (1000 B/s each way on the patch, 2000 B/s on the vxlan; the tap idle, so absent, as
    ovsdb-server sends only changed rows): "old" holds the previous statistics, "new" the written ones."""
    def both(before: dict[str, int], after: dict[str, int]) -> dict[str, Any]:
        return {"old": {"statistics": _stats(**before)}, "new": {"statistics": _stats(**after)}}

    s = seconds
    return {"Interface": {
        _uuid(32): both(dict(rx_bytes=5000, rx_packets=50, tx_bytes=7000, tx_packets=70),
                        dict(rx_bytes=5000 + 1000 * s, rx_packets=50 + 10 * s, tx_bytes=7000 + 1000 * s,
                             tx_packets=70 + 10 * s)),
        _uuid(34): both(dict(rx_bytes=7000, rx_packets=70, tx_bytes=5000, tx_packets=50),
                        dict(rx_bytes=7000 + 1000 * s, rx_packets=70 + 10 * s, tx_bytes=5000 + 1000 * s,
                             tx_packets=50 + 10 * s)),
        _uuid(35): both(dict(rx_bytes=90000, rx_packets=300, tx_bytes=80000, tx_packets=250),
                        dict(rx_bytes=90000 + 2000 * s, rx_packets=300 + 20 * s, tx_bytes=80000 + 2000 * s,
                             tx_packets=250 + 20 * s, rx_errors=0, tx_errors=0, rx_dropped=0, tx_dropped=0)),
    }}


#: A DPDK host: br-phy with a physical port bound to DPDK and a vhost-user port of a VM.
DPDK: dict[str, dict[str, Any]] = {
    "Open_vSwitch": {_uuid(1): _row(ovs_version="3.1.0", bridges=_refs(10), external_ids=_map({}))},
    "Bridge": {_uuid(10): _row(name="br-phy", datapath_type="netdev", fail_mode=["set", []],
                               ports=_refs(20, 21), external_ids=_map({}))},
    "Port": {
        _uuid(20): _row(name="dpdk-p0", tag=["set", []], trunks=["set", []], interfaces=_refs(30),
                        external_ids=_map({}), other_config=_map({})),
        _uuid(21): _row(name="vhu1ec9dbb7-e7", tag=7, trunks=["set", []], interfaces=_refs(31),
                        external_ids=_map({}), other_config=_map({})),
    },
    "Interface": {
        _uuid(30): _iface("dpdk-p0", "dpdk", 1, "b8:ce:f6:00:00:01", options={"dpdk-devargs": "0000:01:00.0"}),
        _uuid(31): _iface("vhu1ec9dbb7-e7", "dpdkvhostuserclient", 2,
                          options={"vhost-server-path": "/var/run/openvswitch/vhu1ec9dbb7-e7"},
                          ids={"iface-id": PORT_ID, "vm-uuid": VM_ID, "ovn-installed": "true"}),
    },
}


def view_of(reply: dict[str, dict[str, Any]], db: str = "/run/openvswitch/db.sock") -> OvsView:
    """The view a Monitor makes of this initial reply (every row's "new" applied)."""
    tables = {table: {uuid: dict(change["new"]) for uuid, change in rows.items()} for table, rows in reply.items()}
    return build_view(db, tables)


def _link(netns: int, ifindex: int, name: str, kind: str, mac: str, **kw: Any) -> Link:
    return Link(netns, ifindex, name, kind, mac, 1500, True, "up", **kw)


def kernel_datapath_host() -> Snapshot:
    """What rtnetlink shows on the kernel-datapath node: every port's master is `ovs-system`."""
    dp = LinkRef(ROOT, 3, "ovs-system")
    qemu = TunHolder(4242, "qemu-kvm", (31,))
    links = (
        _link(ROOT, 1, "lo", "loopback", "00:00:00:00:00:00"),
        _link(ROOT, 3, "ovs-system", "openvswitch", "6e:00:00:00:00:03"),
        _link(ROOT, 4, "br-int", "openvswitch", "7a:c1:00:00:00:01", master=dp),
        _link(ROOT, 5, "br-tun", "openvswitch", "7a:c1:00:00:00:02", master=dp),
        _link(ROOT, 6, "vxlan_sys_4789", "vxlan", "9e:00:00:00:00:06", master=dp),
        _link(ROOT, 9, TAP, "tap", TAP_MAC, master=dp,
              tun=TunInfo("tap", False, False, True, False, holders=(qemu,))),
        # a device of the same name in another namespace: not the interface
        _link(OTHER, 9, TAP, "veth", "02:00:00:00:00:99"),
    )
    namespaces = (Namespace(ROOT, (), True, (1, 4242), (Process(4242, "qemu-kvm", "qemu-kvm -name vm", "qemu"),)),
                  Namespace(OTHER, ("vntdecoy",), False, ()))
    return Snapshot(Host("compute-1", "6.18.0"), namespaces, links)
