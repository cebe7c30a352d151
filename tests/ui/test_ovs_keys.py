"""The keys through Open vSwitch, driven in the app over a recorded OVS compute node (vnettop/demo_ovs.py):
`b` from a VM's tap lands on its OVS bridge, `p` crosses a patch port, `t` lists the hops through OVS
and `enter` on one jumps to it; the bridges view's OVS rows lead to the tree; a change in OVSDB alone
(a tag set, a port added) reaches the screen."""

from __future__ import annotations

import dataclasses

from tests.ui.helpers import details_text, make_app, started, wait_for
from vnettop.demo_ovs import ROOT, ovs_snapshot, uuid
from vnettop.model import OvsIfaceEntry, OvsPortEntry, Snapshot
from vnettop.ui.screens.trace import TraceScreen
from vnettop.ui.targets import Target
from vnettop.ui.widgets.topology_tree import TopologyTree

SIZE = (140, 44)
TAP_WEB = Target.link(ROOT, 7)
BR_INT, BR_TUN = Target.ovs(uuid(10)), Target.ovs(uuid(11))
PATCH_TUN, PATCH_INT = Target.ovs(uuid(41)), Target.ovs(uuid(52))


async def test_b_lands_on_the_ovs_bridge_and_p_crosses_the_patch_pair() -> None:
    app, _ = make_app(ovs_snapshot())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.jump_to(TAP_WEB)
        await pilot.press("b")
        assert app.current_target() == BR_INT
        assert "OVS bridge br-int" in str(app.main_query("#details").border_title)
        app.jump_to(PATCH_TUN)
        await pilot.press("p")
        assert app.current_target() == PATCH_INT
        await pilot.press("b")
        assert app.current_target() == BR_TUN
        await pilot.press("p")  # a bridge has no peer: it says so and stays
        assert app.current_target() == BR_TUN


async def test_t_through_ovs_and_enter_on_the_far_bridge_jumps_to_it() -> None:
    app, _ = make_app(ovs_snapshot())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.jump_to(TAP_WEB)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, TraceScreen))
        screen = app.screen
        assert isinstance(screen, TraceScreen)
        kinds = [(h.kind, h.label) for h in screen.hops]
        assert kinds[:3] == [("process", "qemu-kvm[7748] web-1"), ("link", "tap1ec9dbb7-e7"),
                             ("ovs-bridge", "br-int (tag 5)")]
        index = kinds.index(("ovs-bridge", "br-tun"))
        for _ in range(index):
            await pilot.press("down")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, TraceScreen))
        assert app.current_target() == BR_TUN
        assert "decided by its OpenFlow rules" in details_text(app)


async def test_enter_on_an_ovs_row_of_the_bridges_view_shows_it_in_the_tree() -> None:
    app, _ = make_app(ovs_snapshot())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("2")
        app.jump_to(Target.ovs(uuid(53)))  # vxlan-0a000002, a row of the bridges view
        assert app.view == "bridges" and app.current_target() == Target.ovs(uuid(53))
        assert "tunnel     vxlan to 10.0.0.2 key flow (local 10.0.0.1)" in details_text(app)
        await pilot.press("enter")
        assert app.view == "topology" and app.current_target() == Target.ovs(uuid(53))


def _with_port(snap: Snapshot, name: str, n: int, tag: int | None) -> Snapshot:
    """OVSDB after `ovs-vsctl add-port br-int NAME tag=TAG -- set Interface NAME type=patch`."""
    assert snap.ovs is not None
    iface = OvsIfaceEntry(name, uuid(n + 100), "patch", None, None, None, None)
    port = OvsPortEntry(name, uuid(n), tag, (), (iface,))
    first = snap.ovs.bridges[0]
    bridge = dataclasses.replace(first, ports=tuple(sorted((*first.ports, port), key=lambda p: p.name)))
    return dataclasses.replace(snap, ovs=dataclasses.replace(snap.ovs, bridges=(bridge, *snap.ovs.bridges[1:])))


async def test_a_port_added_in_ovsdb_alone_shows_in_the_tree() -> None:
    base = ovs_snapshot()
    app, collector = make_app(base)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        tree = app.main_query(TopologyTree)
        added = Target.ovs(uuid(190))  # the new port's one interface
        assert added not in tree.order()
        collector.change(_with_port(base, "patch-new", 90, 12))  # no kernel device changed at all
        await wait_for(pilot, lambda: added in tree.order())
        app.jump_to(added)
        assert "vlan       tag 12" in details_text(app)
