"""Orphans: what looks abandoned, and — as important — what must never be called abandoned."""

from __future__ import annotations

import dataclasses

from tests.fixtures_snapshots import PIDNS, QDHCP, ROOT, UNREADABLE, compute_node
from vnettop.model import BridgeInfo, Link, LinkRef, Namespace, Snapshot, TunInfo
from vnettop.orphans import BRIDGE_NEAR_LIMIT, REASONS, bridge_port_counts, find_orphans


def _reasons(snap: Snapshot) -> list[tuple[str, str]]:
    return [(o.reason, o.name) for o in find_orphans(snap)]


def _replace_link(snap: Snapshot, name: str, **changes: object) -> Snapshot:
    links = tuple(dataclasses.replace(link, **changes) if link.name == name and link.netns == ROOT else link
                  for link in snap.links)
    return dataclasses.replace(snap, links=links)


UNATTACHED = [("veth-unattached", "vethc1"), ("veth-unattached", "vethx")]


def test_compute_node_has_its_two_unattached_host_veths() -> None:
    # vethc1 and vethx are host ends on no bridge and with no address (vethx's peer is in a namespace
    # vnettop could not read: unknown, so not "gone"). tap1 is persistent and unheld, but was made for
    # user 1000 to attach: by design. Every other veth is bridged.
    assert _reasons(compute_node()) == UNATTACHED


def test_a_persistent_tap_nobody_holds_and_nobody_was_meant_to() -> None:
    snap = compute_node()
    tap1 = next(link for link in snap.links if link.name == "tap1")
    assert tap1.tun is not None and tap1.tun.owner == 1000
    snap = _replace_link(snap, "tap1", tun=dataclasses.replace(tap1.tun, owner=None))
    found = find_orphans(snap)
    assert [(o.reason, o.name) for o in found] == [("tun-unheld", "tap1"), *UNATTACHED]
    assert found[0].detail == "tap tap1: persistent, held by no process"


def test_a_veth_whose_peer_vanished_from_a_readable_namespace_is_gone() -> None:
    snap = compute_node()
    # veth-b (ifindex 2 in qdhcp) disappears; veth-a still points at it.
    links = tuple(link for link in snap.links if not (link.netns == QDHCP and link.ifindex == 2))
    found = find_orphans(dataclasses.replace(snap, links=links))
    assert [(o.reason, o.name) for o in found] == [("veth-peer-gone", "veth-a"), *UNATTACHED]
    assert "gone" in found[0].detail and "ifindex 2" in found[0].detail


def test_a_peer_in_an_unreadable_namespace_is_not_gone() -> None:
    snap = compute_node()
    vethx = next(link for link in snap.links if link.name == "vethx")
    assert vethx.peer is not None and vethx.peer.netns == UNREADABLE
    assert [o.reason for o in find_orphans(snap) if o.name == "vethx"] == ["veth-unattached"]


def test_host_veth_on_no_bridge_and_without_address_is_unattached() -> None:
    snap = _replace_link(compute_node(), "veth-a", master=None, bridge_port=None)
    assert ("veth-unattached", "veth-a") in _reasons(snap)
    routed = _replace_link(snap, "veth-a", addresses=("169.254.1.1/32",))
    assert ("veth-unattached", "veth-a") not in _reasons(routed)


def test_a_namespace_with_only_lo_and_no_process_is_empty() -> None:
    snap = compute_node()
    links = tuple(link for link in snap.links if not (link.netns == QDHCP and link.kind != "loopback"))
    namespaces = tuple(dataclasses.replace(ns, pids=(), processes=()) if ns.inode == QDHCP else ns
                       for ns in snap.namespaces)
    found = _reasons(dataclasses.replace(snap, links=links, namespaces=namespaces))
    assert ("netns-empty", snap.ns_label(QDHCP)) in found
    # The process-only namespace has its process: never empty, whatever its devices.
    assert all(name != snap.ns_label(PIDNS) for _, name in found)


def test_a_bridge_near_its_port_limit() -> None:
    ns = Namespace(inode=ROOT, names=(), root=True, pids=(1,))
    bridge = Link(ROOT, 2, "vntbig", "bridge", None, 1500, True, "up",
                  bridge=BridgeInfo(False, False, ports=()))
    master = LinkRef(ROOT, 2, "vntbig")
    ports = tuple(Link(ROOT, 10 + i, f"vntp{i}", "tap", None, 1500, True, "up", master=master,
                       tun=TunInfo("tap", True, False, True, False, holders=()))
                  for i in range(BRIDGE_NEAR_LIMIT))
    snap = Snapshot(host=compute_node().host, namespaces=(ns,), links=(bridge, *ports))
    assert bridge_port_counts(snap) == {(ROOT, 2): BRIDGE_NEAR_LIMIT}
    found = find_orphans(snap)
    assert [o.reason for o in found].count("tun-unheld") == BRIDGE_NEAR_LIMIT
    near = [o for o in found if o.reason == "bridge-near-limit"]
    assert [(o.name, o.detail) for o in near] == [("vntbig", f"bridge vntbig: {BRIDGE_NEAR_LIMIT} of 1024 ports used")]
    smaller = dataclasses.replace(snap, links=snap.links[:-1])
    assert all(o.reason != "bridge-near-limit" for o in find_orphans(smaller))


def test_findings_come_in_reason_order() -> None:
    snap = _replace_link(compute_node(), "veth-a", master=None, bridge_port=None)
    order = list(REASONS)
    reasons = [o.reason for o in find_orphans(snap)]
    assert reasons == sorted(reasons, key=order.index)
