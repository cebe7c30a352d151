"""Table rows, inspection commands, jumps and plan forms (pure, no terminal)."""

from __future__ import annotations

import pytest

from tests.fixtures_snapshots import PIDNS, QDHCP, QDHCP_NAME, ROOT, UNREADABLE, compute_node
from vnettop.actions import plans
from vnettop.errors import ValidationError
from vnettop.ui.details_content import relevant_errors
from vnettop.ui.filtering import Filter
from vnettop.ui.inspect_commands import commands_for
from vnettop.ui.jumps import bridge_target, holder_target, peer_target, trace_from
from vnettop.ui.plan_form import build_plan, editable_fields
from vnettop.ui.rows import bridge_rows, ns_rows, tun_rows, veth_rows
from vnettop.ui.targets import Target


def _plain(cells: tuple[object, ...]) -> list[str]:
    return [str(c) for c in cells]


def test_bridge_rows_list_the_bridge_then_its_ports_with_learned_macs() -> None:
    rows = bridge_rows(compute_node(), Filter())
    assert [r.target for r in rows] == [Target.link(ROOT, i) for i in (3, 5, 6, 7)]
    assert _plain(rows[0].cells)[:3] == ["br0", "3 ports", "bridge"]
    tap0 = _plain(rows[1].cells)
    assert tap0[1] == "tap0" and tap0[4] == "forwarding" and tap0[8] == "1"  # MACs, after the ovs column
    assert _plain(rows[3].cells)[4] == "learning"


def test_veth_rows_show_each_pair_once_and_an_unreadable_peer_as_such() -> None:
    rows = veth_rows(compute_node(), Filter())
    firsts = [r.target for r in rows]
    assert firsts == [Target.link(ROOT, 7), Target.link(ROOT, 9), Target.link(ROOT, 10)]
    veth_a = _plain(rows[0].cells)
    assert veth_a[0] == "veth-a" and veth_a[2] == "br0" and veth_a[4] == "veth-b"
    assert veth_a[5].startswith("qdhcp-")
    assert "unreadable" in _plain(rows[2].cells)[4]
    # Filtering on the far end keeps the pair.
    assert [r.target for r in veth_rows(compute_node(), Filter.parse("eth0"))] == [Target.link(ROOT, 9)]


def test_tun_rows_and_namespace_rows() -> None:
    snap = compute_node()
    tun = {r.target.ident: _plain(r.cells) for r in tun_rows(snap, Filter()) if r.target}
    assert tun[5][4] == "qemu-kvm[7748] P2 fd 26" and tun[5][3] == "vnet_hdr"
    assert tun[11][4] == "no holder, persist" and "multi_queue(2)" in tun[11][3] and tun[11][5] == "uid 1000"
    ns = {r.target.netns: _plain(r.cells) for r in ns_rows(snap, Filter()) if r.target}
    assert ns[QDHCP][4] == "dnsmasq[28795]" and "tcp/53" in ns[QDHCP][5]
    assert ns[PIDNS][0] == "pid 4242"


def test_inspection_commands_use_the_namespace_name_or_nsenter() -> None:
    snap = compute_node()
    assert commands_for(snap, Target.link(ROOT, 3))[:1] == ["ip -d link show br0"]
    assert "bridge fdb show br br0" in commands_for(snap, Target.link(ROOT, 3))
    assert f"ip -n {QDHCP_NAME} -d link show veth-b" in commands_for(snap, Target.link(QDHCP, 2))
    assert "nsenter -t 4242 -n ip -d link show eth0" in commands_for(snap, Target.link(PIDNS, 3))
    assert f"ip netns pids {QDHCP_NAME}" in commands_for(snap, Target.ns(QDHCP))
    assert "cat /proc/7748/fdinfo/26   # iff: tap0" in commands_for(snap, Target.link(ROOT, 5))


def test_jumps_say_why_when_there_is_nowhere_to_go() -> None:
    snap = compute_node()
    assert peer_target(snap, Target.link(ROOT, 7)) == Target.link(QDHCP, 2)
    assert "not readable" in str(peer_target(snap, Target.link(ROOT, 10)))
    assert bridge_target(snap, Target.link(ROOT, 6)) == Target.link(ROOT, 3)
    assert "not a port" in str(bridge_target(snap, Target.link(ROOT, 2)))
    assert holder_target(snap, Target.link(ROOT, 8)) == Target.proc(ROOT, 3056)
    assert "not a tun/tap" in str(holder_target(snap, Target.link(ROOT, 2)))
    assert isinstance(trace_from(snap, Target.proc(QDHCP, 28795)), (tuple, str))
    assert [e.scope for e in relevant_errors(snap, Target.link(ROOT, 10))] == [f"netns {UNREADABLE}"]
    assert relevant_errors(snap, Target.ns(ROOT)) == []
    assert [e.scope for e in snap.errors] == [f"netns {UNREADABLE}"]


def test_plan_forms_come_from_the_plan_fields() -> None:
    fields = {f.name: f for f in editable_fields(plans.CreateTunTap, {})}
    assert fields["mode"].kind == "choice" and fields["mode"].choices == ("tap", "tun")
    assert fields["owner"].kind == "int" and fields["persist"].kind == "bool"
    assert "ifindex" not in {f.name for f in editable_fields(plans.DeleteLink, {"device": "x"})}
    plan = build_plan(plans.CreateBridge, {}, {"name": "vntbr0", "netns": "", "mtu": "9000", "stp": True})
    assert plan.ip_command() == "ip link add vntbr0 mtu 9000 type bridge stp_state 1"
    with pytest.raises(ValidationError, match="mtu"):
        build_plan(plans.CreateBridge, {}, {"name": "vntbr0", "mtu": "big"})
    with pytest.raises(ValidationError):
        build_plan(plans.CreateBridge, {}, {"name": "a name with spaces"})
