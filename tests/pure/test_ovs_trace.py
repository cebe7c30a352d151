"""Through Open vSwitch, on a recorded OVS compute node (vnettop/demo_ovs.py): the trace crosses OVS hop
by hop and says where OpenFlow decides; jumps, tree, bridges view, details, filter and orphans know OVS."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

from tests.ovs_replies import KERNEL_DATAPATH, kernel_datapath_host, view_of
from tests.ui.helpers import plain
from vnettop import ovsgraph, topology
from vnettop.collect.sources.ovs import join
from vnettop.demo_ovs import OVNMETA, OVNMETA_NAME, ROOT, ovs_snapshot, uuid
from vnettop.model import Namespace, OvsPortEntry, Snapshot
from vnettop.orphans import find_orphans
from vnettop.render.json import snapshot_to_dict
from vnettop.render.prom import render_prom
from vnettop.render.text import render_trace
from vnettop.ui import ovs_rows, tree_model
from vnettop.ui.details_content import render_details
from vnettop.ui.filtering import Filter
from vnettop.ui.jumps import bridge_target, hop_target, peer_target, trace_from
from vnettop.ui.targets import Target, describe

TAP_WEB = Target.link(ROOT, 7)  # tap1ec9dbb7-e7, tag 5, held by qemu web-1
BR_INT, BR_TUN = Target.ovs(uuid(10)), Target.ovs(uuid(11))
PATCH_TUN, PATCH_INT = Target.ovs(uuid(41)), Target.ovs(uuid(52))


def _lines(hops: list[topology.Hop]) -> list[tuple[int, str, str]]:
    return [(h.depth, h.kind, h.label) for h in hops]


def test_trace_from_a_vm_tap_crosses_br_int_patch_br_tun_to_the_tunnels() -> None:
    snap = ovs_snapshot()
    tap = snap.link(ROOT, 7)
    assert tap is not None
    hops = topology.trace(snap, tap)
    got = _lines(hops)
    # VM -> tap -> br-int (tag 5) -> patch-tun -> br-tun -> vxlan to 10.0.0.2
    assert got[:4] == [(0, "process", "qemu-kvm[7748]"), (1, "link", "tap1ec9dbb7-e7"),
                       (2, "ovs-bridge", "br-int (tag 5)"), (3, "link", "br-int")]
    assert (3, "ovs-port", "patch-tun") in got
    assert got.index((4, "ovs-bridge", "br-tun")) > got.index((3, "ovs-port", "patch-tun"))
    assert (5, "ovs-port", "vxlan-0a000002") in got and (5, "ovs-port", "geneve-0a000003") in got
    vxlan = next(h for h in hops if h.label == "vxlan-0a000002")
    assert vxlan.note.startswith("vxlan to 10.0.0.2 key flow (local 10.0.0.1)")
    # never through the datapath's ovs-system (every OVS port's kernel master), never to the other tag
    labels = [h.label for h in hops]
    assert "ovs-system" not in labels and "tap9a8b7c6d-11" not in labels
    # the bridge says plainly that OpenFlow decides, and which ports share the tag
    bridge = next(h for h in hops if h.kind == "ovs-bridge")
    assert ("OpenFlow rules decide here; L2 candidates with the same tag: br-int, patch-tun, tap5c2d4e6f-a1, "
            "tapba48a3fc-70, tapdeadbeef-00") in bridge.note
    # into the ovnmeta namespace through its veth, to haproxy
    assert (5, "namespace", OVNMETA_NAME) in got and (6, "service", "haproxy[9100]") in got
    # a tunnel leads to the device holding its local_ip
    assert (6, "link", "eth1") in got


def test_trace_from_the_metadata_namespace_reaches_the_vms_on_its_tag() -> None:
    snap = ovs_snapshot()
    hops = topology.trace(snap, snap.link(OVNMETA, 2))  # type: ignore[arg-type]
    procs = [h.label for h in hops if h.kind == "process"]
    assert procs == ["qemu-kvm[7748]", "qemu-kvm[7802]"]  # web-1 and db-1 share tag 5; batch-7 (tag 7) not


def test_trace_from_a_patch_port_goes_both_ways_and_json_names_the_uuid() -> None:
    snap = ovs_snapshot()
    hops = topology.trace_ovs(snap, uuid(41))
    assert _lines(hops)[:2] == [(0, "ovs-port", "patch-tun"), (1, "ovs-bridge", "br-tun")]
    assert (1, "ovs-bridge", "br-int") in _lines(hops)
    assert topology.hop_to_dict(hops[0])["uuid"] == uuid(41)
    assert "peer patch-int on br-tun" in hops[0].note


def test_trunk_and_tag_rules_of_the_l2_candidates() -> None:
    def port(name: str, tag: int | None = None, trunks: tuple[int, ...] = ()) -> OvsPortEntry:
        return OvsPortEntry(name, name, tag, trunks, ())

    access5, access7, trunk_all, trunk_12 = port("a5", 5), port("a7", 7), port("t"), port("t12", trunks=(1, 2))
    assert ovsgraph.shares_vlan(access5, trunk_all) and not ovsgraph.shares_vlan(access5, access7)
    assert not ovsgraph.shares_vlan(access5, trunk_12) and ovsgraph.shares_vlan(port("a2", 2), trunk_12)
    assert ovsgraph.shares_vlan(trunk_12, trunk_all) and not ovsgraph.shares_vlan(trunk_12, port("t3", trunks=(3,)))


def test_kernel_datapath_join_then_trace_uses_the_recorded_ovsdb_reply() -> None:
    # The recorded kernel-datapath monitor reply, joined as the live source joins it, then traced.
    base = kernel_datapath_host()
    section, _owners, _errors = join(view_of(KERNEL_DATAPATH), base)
    snap = dataclasses.replace(base, ovs=section)
    tap = next(link for link in snap.links if link.name == "tap1ec9dbb7-e7" and link.netns == base.root.inode)  # type: ignore[union-attr]
    text = render_trace("t", topology.trace(snap, tap))
    assert "br-int (tag 5)" in text and "patch-tun" in text and "vxlan to 10.0.0.2" in text
    assert "ovs-system" not in text


def test_cli_trace_of_an_ovs_bridge_and_of_a_name_nothing_has(tmp_path: Path) -> None:
    path = tmp_path / "ovs.json"
    path.write_text(json.dumps(snapshot_to_dict(ovs_snapshot())))
    run = [sys.executable, "-m", "vnettop", "trace", "--load", str(path)]
    done = subprocess.run([*run, "patch-int"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "trace from OVS interface on br-tun: patch-int"
    assert "vxlan-0a000002  vxlan to 10.0.0.2" in done.stdout
    doc = json.loads(subprocess.run([*run, "br-tun", "-f", "json"], capture_output=True, text=True,
                                    timeout=60).stdout)
    assert [h["kind"] for h in doc["hops"][:2]] == ["link", "ovs-bridge"]
    missing = subprocess.run([*run, "nothere"], capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and missing.stderr.count("\n") == 1 and "no OVS bridge" in missing.stderr


# -- the UI's pure parts ------------------------------------------------------------------------


def test_b_from_a_tap_lands_on_its_ovs_bridge_and_p_crosses_the_patch() -> None:
    snap = ovs_snapshot()
    assert bridge_target(snap, TAP_WEB) == BR_INT
    assert peer_target(snap, PATCH_TUN) == PATCH_INT
    assert peer_target(snap, PATCH_INT) == PATCH_TUN
    assert bridge_target(snap, PATCH_INT) == BR_TUN
    assert "only a patch port has a peer" in str(peer_target(snap, BR_INT))
    assert describe(snap, PATCH_TUN) == "OVS iface patch-tun on br-int"


def test_trace_screen_hops_lead_to_selectable_targets() -> None:
    snap = ovs_snapshot()
    result = trace_from(snap, BR_TUN)
    assert not isinstance(result, str)
    title, hops = result
    assert title == "Trace from OVS bridge br-tun"
    targets = {h.label: hop_target(snap, h) for h in hops if h.kind.startswith("ovs-")}
    assert targets["br-tun"] == BR_TUN and targets["patch-int"] == PATCH_INT
    assert targets["br-int"] == BR_INT  # the bridge reached through the patch pair
    assert hop_target(snap, hops[0]) == BR_TUN and hop_target(snap, hops[1]) == Target.link(ROOT, 5)


def test_tree_nests_ovs_ports_under_their_bridge_and_mutes_the_datapath() -> None:
    snap = ovs_snapshot()
    nodes = tree_model.build(snap)
    root = next(n for n in nodes if n.target == Target.ns(ROOT))
    by_target = {n.target: n for n in root.children}
    br_int = by_target[BR_INT]
    assert [c.label.plain.split()[0] for c in br_int.children] == [
        "br-int", "patch-tun", "tap1ec9dbb7-e7", "tap5c2d4e6f-a1", "tap9a8b7c6d-11", "tapba48a3fc-70", "tapdeadbeef-00"]
    tap = next(c for c in br_int.children if c.target == TAP_WEB)
    assert "web-1" in tap.label.plain and "tag 5 · ofport 12" in tap.label.plain
    # each device once: the taps are not also listed at the top, nor under ovs-system
    flat = [n.target for n in tree_model.flatten(nodes)]
    assert flat.count(TAP_WEB) == 1
    ovs_system = by_target[Target.link(ROOT, 3)]
    assert ovs_system.children == () and "OVS datapath" in ovs_system.label.plain
    tunnel = next(c for c in by_target[BR_TUN].children if "vxlan" in c.label.plain)
    assert "to 10.0.0.2" in tunnel.label.plain
    missing = next(c for c in br_int.children if "tapdeadbeef" in c.label.plain)
    assert "no kernel device" in missing.label.plain


def test_tree_filter_by_ovs_bridge_shows_its_ports_and_reuse_notices_ovs_changes() -> None:
    snap = ovs_snapshot()
    flat = tree_model.flatten(tree_model.build(snap, Filter.parse("br-tun")))
    names = [n.label.plain.split()[0] for n in flat]
    assert "vxlan-0a000002" in names and "tap1ec9dbb7-e7" not in names
    builder = tree_model.TreeBuilder()
    builder.build(snap, Filter())
    # an OVS-only change (a tag set with ovs-vsctl): no kernel device changed, the tree must still show it
    assert snap.ovs is not None
    bridges = list(snap.ovs.bridges)
    ports = tuple(dataclasses.replace(p, tag=9) if p.name == "tap9a8b7c6d-11" else p for p in bridges[0].ports)
    bridges[0] = dataclasses.replace(bridges[0], ports=ports)
    changed = dataclasses.replace(snap, ovs=dataclasses.replace(snap.ovs, bridges=tuple(bridges)))
    labels = [n.label.plain for n in tree_model.flatten(builder.build(changed, Filter()))]
    assert any("tap9a8b7c6d-11" in label and "tag 9" in label for label in labels)


def test_bridges_view_lists_ovs_bridges_after_linux_ones() -> None:
    rows = ovs_rows.all_bridge_rows(ovs_snapshot(), Filter())
    cells = [[c.plain for c in row.cells] for row in rows]
    assert cells[0] == ["br-int", "7 ports", "ovs bridge", "root", "secure", "system datapath", "", "", ""]
    assert ["", "tap1ec9dbb7-e7", "tap", "root", "up", "tag 5 · ofport 12", "", "", ""] in cells
    assert ["", "patch-tun", "patch", "-", "up", "ofport 2 · peer br-tun/patch-int", "", "", ""] in cells
    assert ["", "tapdeadbeef-00", "system", "-", "?", "tag 5 · no ofport", "", "", ""] in cells


def _rows(text: str) -> dict[str, str]:
    """The pane's `label value` rows (the last of a label wins)."""
    out = {}
    for line in text.splitlines():
        for label in ("ovs bridge", "patch peer", "segmentation_id", "iface-status", "iface-id", "vm-uuid",
                      "net_uuid", "vlan", "ofport", "device", "counters"):
            if line.startswith(label + " "):
                out[label] = line[len(label):].strip()
                break
    return out


def test_details_of_an_ovs_port_and_of_a_tap_on_it() -> None:
    snap = ovs_snapshot()
    tap = _rows(plain(render_details(snap, TAP_WEB), 120))
    assert tap["ovs bridge"] == "br-int" and tap["vlan"] == "tag 5" and tap["ofport"] == "12"
    assert tap["iface-id"] == "1ec9dbb7-e7a4-4d1b-9c55-0a2b3c4d5e6f"
    assert tap["vm-uuid"] == "6f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0" and tap["iface-status"] == "active"
    assert tap["net_uuid"] == "ba48a3fc-7a5b-4b31-9c2e-6d8e1f0a2b3c" and tap["segmentation_id"] == "1234"
    text = plain(render_details(snap, PATCH_TUN), 120)
    patch = _rows(text)
    assert patch["patch peer"] == "patch-int on br-tun" and patch["device"] == "peer br-tun/patch-int"
    assert patch["counters"] == "unknown: no kernel device, and OVSDB statistics are not read"
    patch = text
    assert "ovs-ofctl dump-flows br-int" in patch
    gone = plain(render_details(snap, Target.ovs(uuid(46))), 120)
    assert "OVS interface tapdeadbeef-00 (bridge br-int): no kernel device" in gone  # the join's error
    bridge = plain(render_details(snap, BR_INT), 120)
    assert "decided by its OpenFlow rules" in bridge and "7 ports" in bridge
    datapath = plain(render_details(snap, Target.link(ROOT, 3)), 120)
    assert "Open vSwitch datapath: the kernel datapath" in datapath


# -- orphans ------------------------------------------------------------------------------------


def test_ovs_interface_with_no_kernel_device_is_an_orphan_with_a_reason() -> None:
    found = [o for o in find_orphans(ovs_snapshot()) if o.reason == "ovs-no-device"]
    assert [(o.name, o.ifindex, o.netns) for o in found] == [("tapdeadbeef-00", None, ROOT)]
    assert found[0].detail == ("system interface tapdeadbeef-00 (bridge br-int, port tapdeadbeef-00), no ofport "
                               "(OVS could not open it): no kernel device of that name in any namespace")
    prom = render_prom(ovs_snapshot())
    assert 'vnettop_orphans{reason="ovs-no-device"} 1' in prom
    assert 'reason="ovs-no-device"' in prom and 'device="tapdeadbeef-00"' in prom


def test_patch_tunnel_and_unreadable_namespaces_are_not_orphans() -> None:
    snap = ovs_snapshot()
    names = {o.name for o in find_orphans(snap)}
    assert not names & {"patch-tun", "patch-int", "vxlan-0a000002", "geneve-0a000003"}
    # an internal port may have been moved into a namespace vnettop could not read: unknown, not orphan
    assert snap.ovs is not None
    bridge = snap.ovs.bridges[0]
    ports = tuple(dataclasses.replace(p, interfaces=(dataclasses.replace(p.interfaces[0], type="internal"),))
                  if p.name == "tapdeadbeef-00" else p for p in bridge.ports)
    ovs = dataclasses.replace(snap.ovs, bridges=(dataclasses.replace(bridge, ports=ports), *snap.ovs.bridges[1:]))
    blind = Namespace(4026539999, (), False, (), readable=False, unreadable_reason="permission denied")
    unknown = dataclasses.replace(snap, ovs=ovs, namespaces=(*snap.namespaces, blind))
    assert [o for o in find_orphans(unknown) if o.reason == "ovs-no-device"] == []
    known: Snapshot = dataclasses.replace(snap, ovs=ovs)
    assert [o.name for o in find_orphans(known) if o.reason == "ovs-no-device"] == ["tapdeadbeef-00"]


def test_trace_from_ovs_system_shows_the_ovs_bridges_not_every_port_as_its_slave() -> None:
    snap = ovs_snapshot()
    hops = topology.trace(snap, snap.link(ROOT, 3))  # type: ignore[arg-type]
    assert [(h.depth, h.kind, h.label) for h in hops if h.depth <= 1] == [
        (0, "link", "ovs-system"), (1, "ovs-bridge", "br-int")]  # br-tun: reached across the patch pair
    assert ("ovs-bridge", "br-tun") in [(h.kind, h.label) for h in hops]
    tap = next(h for h in hops if h.label == "tap1ec9dbb7-e7")
    assert tap.depth == 2 and "OVS port of br-int, tag 5" in tap.note  # not a flat "(port)" of ovs-system


def test_the_palette_offers_ovs_bridges_and_the_ports_that_are_no_device() -> None:
    from vnettop.ui.palette import everything

    entries = {label: target for label, _help, target in everything(ovs_snapshot())}
    assert entries["OVS bridge br-tun"] == BR_TUN
    assert entries["patch-tun on OVS bridge br-int"] == PATCH_TUN
    assert "tap1ec9dbb7-e7 on OVS bridge br-int" not in entries  # listed as the device it is


def test_a_change_elsewhere_reuses_the_subtree_holding_the_ovs_bridges() -> None:
    snap = ovs_snapshot()
    builder = tree_model.TreeBuilder()
    builder.build(snap, Filter())
    links = tuple(dataclasses.replace(link, admin_up=False) if link.key == (OVNMETA, 1) else link
                  for link in snap.links)
    builder.build(dataclasses.replace(snap, links=links), Filter())
    assert builder.reused == 1  # root, with br-int and br-tun, is not rebuilt for a change in ovnmeta
