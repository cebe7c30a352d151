"""The `ovs` section: OVSDB (recorded monitor replies, tests/ovs_replies.py) joined to kernel pictures.

What the netdev datapath on this machine cannot show is checked here: the kernel datapath's
`ovs-system` and tunnel vport, DPDK interfaces without kernel devices; and each rule of the join
(vnettop.collect.sources.ovs) on pictures built to make the rules disagree.
"""

from __future__ import annotations

import json
import sys
import types
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests import ovs_replies as rec
from tests.sources_fixtures import openstack_snapshot
from vnettop.collect.sources.enrich import apply
from vnettop.collect.sources.neutron_names import NeutronNames
from vnettop.collect.sources.ovs import OvsSource, join
from vnettop.model import Host, Link, Namespace, Snapshot, TunHolder, TunInfo
from vnettop.ovsdb.view import OvsBridge, OvsInterface, OvsPort, OvsView
from vnettop.render.dot import render_dot
from vnettop.render.json import snapshot_from_dict, snapshot_to_dict
from vnettop.render.text import render_text


def _iface(section_bridges: object, name: str) -> object:
    for bridge in section_bridges:  # type: ignore[attr-defined]
        for port in bridge.ports:
            for iface in port.interfaces:
                if iface.name == name:
                    return iface
    raise AssertionError(f"no interface {name}")


def test_kernel_datapath_node_joins_taps_and_explains_ovs_system() -> None:
    base = rec.kernel_datapath_host()
    section, owners, errors = join(rec.view_of(rec.KERNEL_DATAPATH), base)
    assert errors == ()
    tap = _iface(section.bridges, rec.TAP)
    assert tap.link is not None and tap.link.key == (rec.ROOT, 9)  # type: ignore[attr-defined]
    assert _iface(section.bridges, "br-int").link.key == (rec.ROOT, 4)  # type: ignore[attr-defined]
    patch = _iface(section.bridges, "patch-tun")
    assert patch.link is None and patch.peer is not None  # type: ignore[attr-defined]
    assert (patch.peer.bridge, patch.peer.port) == ("br-tun", "patch-int")  # type: ignore[attr-defined]
    vxlan = _iface(section.bridges, "vxlan-0a000002")
    assert vxlan.link is None and vxlan.option("remote_ip") == "10.0.0.2"  # type: ignore[attr-defined]
    roles = {d.link.name: d.role for d in section.datapath_devices}
    assert set(roles) == {"ovs-system", "vxlan_sys_4789"}
    assert "kernel datapath" in roles["ovs-system"]
    br_int = next(b for b in section.bridges if b.name == "br-int")
    tap_port = next(p for p in br_int.ports if p.name == rec.TAP)
    assert tap_port.tag == 5 and dict(tap_port.other_config)["segmentation_id"] == "1234"
    assert section.ovs_version == "3.1.0" and section.system_id == "compute-1-sysid"
    kinds = {(o.kind, o.id): o for o in owners}
    port = kinds[("neutron-port", rec.PORT_ID)]
    assert port.exact and port.source == "ovsdb external_ids" and port.links == ((rec.ROOT, 9),)
    assert owners[port.parent].kind == "vm" and owners[port.parent].id == rec.VM_ID  # type: ignore[index]
    assert dict(kinds[("neutron-network", rec.NET_ID)].details)["segmentation_id"] == "1234"


def test_dpdk_interfaces_have_no_kernel_device_and_no_error() -> None:
    base = Snapshot(Host("h", "k"), (Namespace(rec.ROOT, (), True, ()),), ())
    section, owners, errors = join(rec.view_of(rec.DPDK), base)
    assert errors == ()
    assert _iface(section.bridges, "dpdk-p0").link is None  # type: ignore[attr-defined]
    port = next(o for o in owners if o.kind == "neutron-port")
    assert port.runtime == "ovn" and port.links == ()


def _view(*ifaces: OvsInterface) -> OvsView:
    ports = tuple(OvsPort(i.name, f"p-{i.name}", None, (), (i,)) for i in ifaces)
    return OvsView("/db.sock", "3.1.0", None, (OvsBridge("vntbr", "b-1", "netdev", None, ports),))


def _tap(netns: int, ifindex: int, name: str, mac: str, holder: str | None) -> Link:
    holders = (TunHolder(77, holder, (40,)),) if holder else ()
    return Link(netns, ifindex, name, "tap", mac, 1500, True, "up",
                tun=TunInfo("tap", True, False, False, False, holders=holders))


def _pic(*links: Link) -> Snapshot:
    namespaces = (Namespace(rec.ROOT, (), True, ()), Namespace(rec.VMNS, ("vntmoved",), False, ()),
                  Namespace(rec.OTHER, ("vntdecoy",), False, ()))
    return Snapshot(Host("h", "k"), namespaces, tuple(sorted(links, key=lambda link: link.key)))


def test_a_moved_internal_port_is_found_and_a_same_name_decoy_does_not_fool_it() -> None:
    iface = OvsInterface("vntmv", "i-1", "internal", 3, "up", "up", "02:aa:00:00:00:01", ifindex=7)
    moved = _tap(rec.VMNS, 2, "vntmv", "02:aa:00:00:00:01", "ovs-vswitchd")
    decoy_root = _tap(rec.ROOT, 7, "vntmv", "02:bb:00:00:00:01", None)  # even the OVSDB ifindex, in root
    decoy_other = _tap(rec.OTHER, 3, "vntmv", "02:aa:00:00:00:01", None)  # even the MAC
    section, _o, errors = join(_view(iface), _pic(moved, decoy_root, decoy_other))
    assert errors == ()
    assert _iface(section.bridges, "vntmv").link.key == (rec.VMNS, 2)  # type: ignore[attr-defined]


def test_without_a_holder_the_mac_decides_over_the_namespace() -> None:
    iface = OvsInterface("vntsy", "i-1", "", 3, "up", "up", "02:aa:00:00:00:02")
    real = replace(_tap(rec.VMNS, 2, "vntsy", "02:aa:00:00:00:02", None), kind="veth", tun=None)
    decoy = replace(_tap(rec.ROOT, 5, "vntsy", "02:bb:00:00:00:02", None), kind="veth", tun=None)
    section, _o, errors = join(_view(iface), _pic(real, decoy))
    assert errors == () and _iface(section.bridges, "vntsy").link.key == (rec.VMNS, 2)  # type: ignore[attr-defined]


def test_a_lone_same_name_device_elsewhere_is_not_taken_for_the_interface() -> None:
    iface = OvsInterface("vntlone", "i-1", "internal", 3, "up", "up", "02:aa:00:00:00:03")
    stranger = replace(_tap(rec.OTHER, 4, "vntlone", "02:cc:00:00:00:03", None), kind="veth", tun=None)
    section, _o, errors = join(_view(iface), _pic(stranger))
    assert _iface(section.bridges, "vntlone").link is None  # type: ignore[attr-defined]
    assert len(errors) == 1 and "vntlone" in errors[0].message
    moved = replace(stranger, mac="02:aa:00:00:00:03")  # the MAC OVS read from it: moved there
    section, _o, errors = join(_view(iface), _pic(moved))
    assert errors == () and _iface(section.bridges, "vntlone").link.key == (rec.OTHER, 4)  # type: ignore[attr-defined]


def test_no_device_is_null_and_an_error_naming_it_and_a_tie_is_not_guessed() -> None:
    gone = OvsInterface("vntgone", "i-1", "", None, None, None, None)
    twin = OvsInterface("vnttwin", "i-2", "", 4, None, None, None)
    a = replace(_tap(rec.VMNS, 2, "vnttwin", "02:00:00:00:00:01", None), tun=None)
    b = replace(_tap(rec.OTHER, 2, "vnttwin", "02:00:00:00:00:02", None), tun=None)
    section, _o, errors = join(_view(gone, twin), _pic(a, b))
    assert _iface(section.bridges, "vntgone").link is None  # type: ignore[attr-defined]
    assert _iface(section.bridges, "vnttwin").link is None  # type: ignore[attr-defined]
    text = " | ".join(e.message for e in errors)
    assert "vntgone" in text and "no kernel device" in text and "vnttwin" in text and "2 kernel devices" in text
    assert all(e.scope == "source ovs" for e in errors)


def test_exact_ovsdb_owner_merges_with_the_name_pattern_one() -> None:
    base = openstack_snapshot()  # holds tap1ec9dbb7-e7 in root, claimed by name by neutron_names
    section, owners, errors = join(rec.view_of(rec.KERNEL_DATAPATH), base)
    from vnettop.collect.sources import Enrichment

    pattern = NeutronNames().read(base)
    snap = apply(base, [("neutron_names", pattern), ("ovs", Enrichment(owners=owners, errors=errors, ovs=section))])
    ports = [o for o in snap.owners or () if o.kind == "neutron-port" and (o.id or "").startswith("1ec9dbb7-e7")]
    assert len(ports) == 1, ports
    assert ports[0].exact and ports[0].id == rec.PORT_ID and ports[0].source == "ovsdb external_ids"
    assert dict(ports[0].details)["also"] == "name pattern"
    assert set(ports[0].links) >= {(rec.ROOT, 2)}  # the name pattern's device is kept
    parent = ports[0].parent
    assert parent is not None and (snap.owners or ())[parent].kind == "vm"


def _enriched() -> Snapshot:
    base = rec.kernel_datapath_host()
    section, owners, errors = join(rec.view_of(rec.KERNEL_DATAPATH), base)
    from vnettop.collect.sources import Enrichment

    return apply(base, [("ovs", Enrichment(owners=owners, errors=errors, ovs=section))])


def test_json_has_the_schema_shape_ovs_port_on_links_and_reads_back() -> None:
    snap = _enriched()
    doc = snapshot_to_dict(snap)
    ovs = doc["ovs"]
    assert set(ovs) >= {"db", "ovs_version", "system_id", "bridges"}
    port = next(p for p in ovs["bridges"][0]["ports"] if p["name"] == rec.TAP)
    assert port["tag"] == 5 and port["other_config"]["net_uuid"] == rec.NET_ID
    iface = port["interfaces"][0]
    assert set(iface) >= {"name", "uuid", "type", "ofport", "admin_state", "link_state", "mac_in_use", "options",
                          "external_ids", "link", "peer"}
    assert iface["link"] == {"netns": rec.ROOT, "ifindex": 9, "name": rec.TAP}
    by_name = {(ln["netns"], ln["name"]): ln for ln in doc["links"]}
    assert by_name[(rec.ROOT, rec.TAP)]["ovs_port"] == {"bridge": "br-int", "port": rec.TAP}
    assert by_name[(rec.OTHER, rec.TAP)]["ovs_port"] is None
    back = snapshot_from_dict(json.loads(json.dumps(doc)))
    assert back.ovs == snap.ovs and back.owners == snap.owners
    # no section: no ovs_port key at all (unknown, not "not an OVS port")
    assert "ovs_port" not in snapshot_to_dict(snap.kernel_picture())["links"][0]


def test_text_nests_ports_under_ovs_bridges_and_dot_draws_a_cluster_with_patch_and_tunnel_edges() -> None:
    snap = _enriched()
    text = render_text(snap, ascii=True)
    assert "ovs bridge br-int" in text and "ovs bridge br-tun" in text
    assert "tag 5" in text and "peer br-tun/patch-int" in text and "remote 10.0.0.2" in text
    assert f"{rec.TAP} @ root" in text
    assert "ovs-system" in text and "kernel datapath" in text
    dot = render_dot(snap)
    assert "cluster_ovs_br_int" in dot or 'cluster_ovs_' in dot
    assert "patch" in dot and "10.0.0.2" in dot


def test_an_explicit_socket_that_is_missing_is_one_error_naming_it(tmp_path: Path) -> None:
    base = rec.kernel_datapath_host()
    quiet = OvsSource(str(tmp_path))
    assert not quiet.available()
    sock = str(tmp_path / "nowhere.sock")
    src = OvsSource(str(tmp_path), db=sock)
    assert src.available()
    part = src.read(base)
    assert part.ovs is None and len(part.errors) == 1 and sock in part.errors[0].message
    assert src.fileno() is None
    src.close()


def test_the_cli_hands_ovsdb_to_the_source(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from vnettop import cli
    from vnettop.collect import scan_ahead

    monkeypatch.setattr(scan_ahead, "worth_forking", lambda: False)  # (the collector is a fake here)

    seen: dict[str, list[Any] | None] = {}

    class FakeLive:
        def __init__(self, sources: list[Any] | None = None, one_shot: bool = False, ahead: Any = None) -> None:
            seen["sources"] = sources

        def collect(self) -> Snapshot:
            return rec.kernel_datapath_host()

        def close(self) -> None:
            pass

    monkeypatch.setitem(sys.modules, "vnettop.collect.collector", types.SimpleNamespace(LiveCollector=FakeLive))
    assert cli.main(["dump", "--ovsdb", "/tmp/vnt-x/db.sock", "-f", "json"]) == 0
    ovs = [s for s in seen["sources"] or () if s.name == "ovs"]
    assert len(ovs) == 1 and ovs[0].db == "/tmp/vnt-x/db.sock" and ovs[0].explicit
    assert cli.main(["--ovsdb", "/tmp/vnt-y/db.sock", "dump", "-f", "json"]) == 0
    assert [s.db for s in seen["sources"] or () if s.name == "ovs"] == ["/tmp/vnt-y/db.sock"]
    assert cli.main(["dump", "-f", "json"]) == 0
    assert seen["sources"] is None  # without --ovsdb: every registered source, as found


def test_a_malformed_ovs_section_is_one_format_error_naming_the_field() -> None:
    from vnettop.errors import SnapshotFormatError

    doc = snapshot_to_dict(_enriched())
    doc["ovs"]["bridges"][0]["ports"][0]["tag"] = "five"
    with pytest.raises(SnapshotFormatError, match=r"ovs\.bridges\[0\]\.ports\[0\]\.tag"):
        snapshot_from_dict(doc)
    doc["ovs"] = []
    with pytest.raises(SnapshotFormatError, match="ovs"):
        snapshot_from_dict(doc)
