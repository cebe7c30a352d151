"""Owners in the TUI: tree labels, the details pane's Owner block, the owner columns, `/`, ctrl+p, `o`
and the trace screen, over the demo world (which carries owners of every kind)."""

from __future__ import annotations

from dataclasses import replace

from textual.command import CommandPalette
from textual.widgets import Input, OptionList

from tests.ui.helpers import SIZE, details_text, make_app, plain, started, wait_for
from vnettop.demo import CONTAINER, POD, PROXY_ID, QDHCP, ROOT, WEB1_PORT, demo_snapshot
from vnettop.ui.changes import changed_namespaces
from vnettop.ui.details_content import render_details
from vnettop.ui.filtering import Filter
from vnettop.ui.jumps import owner_target
from vnettop.ui.rows import NS_COLUMNS, TUN_COLUMNS, VETH_COLUMNS, ns_rows, tun_rows, veth_rows
from vnettop.ui.screens.help import HelpScreen
from vnettop.ui.screens.trace import TraceScreen
from vnettop.ui.targets import Target
from vnettop.ui.tree_model import build, flatten

SNAP = demo_snapshot()
TAP_WEB1 = Target.link(ROOT, 10)
TAP_P2 = Target.link(ROOT, 6)
VETH_PROXY = Target.link(ROOT, 13)
ETH0_PROXY = Target.link(CONTAINER, 2)
EM1 = Target.link(ROOT, 2)


def _labels() -> dict[Target, str]:
    return {node.target: node.label.plain for node in flatten(build(SNAP))}


def test_tree_labels_name_the_owner() -> None:
    labels = _labels()
    assert labels[TAP_WEB1].startswith("tap796091c0-07  tap  web-1 (vm)  qemu-kvm[7802] fd 31")
    assert labels[TAP_P2].startswith("tap0  tap  P2 (vm, qemu command line)  qemu-kvm[7748] fd 26")
    assert labels[VETH_PROXY].startswith("vethd41c2e  veth  → proxy (container)  ⇄ eth0 @ pid 4242")
    assert labels[Target.ns(POD)].startswith("cni-5d1e2f3a-4b6c-4d8e-9f0a-1b2c3d4e5f60  nginx-7d4 (pod default)")
    assert labels[Target.ns(CONTAINER)].startswith("pid 4242  proxy (container)  no name")
    assert labels[Target.ns(QDHCP)].startswith(
        "qdhcp-ba48a3fc-7a5b-4b31-9c2e-6d8e1f0a2…  ba48a3fc-7a5b-4b31-9c2e… (neutron-network, name pattern)")
    assert labels[EM1] == "em1  device  192.0.2.10/24"  # nobody's: nothing added
    # A process names its owner unless its namespace's line does, or qemu's own -name already says it.
    assert labels[Target.proc(ROOT, 7802)].startswith("◆ qemu-kvm[7802]  web-1 (vm)  holds tap796091c0-07")
    assert labels[Target.proc(ROOT, 7748)].startswith("◆ qemu-kvm[7748] P2  holds tap0")
    assert labels[Target.proc(CONTAINER, 4251)] == "◆ nginx[4251]  tcp/80"
    assert "(vm" not in labels[Target.ns(ROOT)]


def test_a_change_of_owners_alone_rebuilds_every_label() -> None:
    renamed = tuple(replace(o, name="db") if o.kind == "container" else o for o in SNAP.owners or ())
    assert changed_namespaces(SNAP, replace(SNAP, owners=renamed)) is None
    assert changed_namespaces(SNAP, replace(SNAP)) == frozenset()


def test_details_have_an_owner_block() -> None:
    text = plain(render_details(SNAP, TAP_WEB1))
    for line in ("Owner web-1 (vm)", "kind         vm", "id           3f1c9a52-8e0d-4b7a-9c61-2d5e7f0a1b24",
                 "runtime      libvirt", "source       /run/libvirt/qemu/P3.xml", "known        exact",
                 "also seen by qemu command line", "flavor       m1.small", "pids         7802",
                 "Owner 796091c0-07 (neutron-port)", f"id           {WEB1_PORT}",
                 "also seen by name pattern", "part of      web-1 (vm)", "mac          fa:16:3e:85:f8:0c"):
        assert line in text, line
    p2 = plain(render_details(SNAP, TAP_P2))
    assert "Owner P2 (vm, qemu command line)" in p2 and "known   inferred from qemu command line" in p2
    assert "Leads into proxy (container)" in plain(render_details(SNAP, VETH_PROXY))
    assert "In proxy (container)" in plain(render_details(SNAP, ETH0_PROXY))
    pod = plain(render_details(SNAP, Target.ns(POD)))
    assert "Owner nginx-7d4 (pod default)" in pod and "namespace default" in pod and "runtime   containerd" in pod
    assert "Owner web-1 (vm)" in plain(render_details(SNAP, Target.proc(ROOT, 7802)))
    assert "Owner" not in plain(render_details(SNAP, EM1))


def test_tables_have_an_owner_column_last() -> None:
    assert VETH_COLUMNS[-1] == TUN_COLUMNS[-1] == NS_COLUMNS[-1] == "owner"
    assert TUN_COLUMNS[5] == "uid/gid"  # the tun device's owner uid is not who the device belongs to
    tun = {r.target: str(r.cells[-1]) for r in tun_rows(SNAP, Filter())}
    assert tun[TAP_WEB1] == "web-1 (vm)" and tun[Target.link(ROOT, 7)] == ""
    veth = {r.target: str(r.cells[-1]) for r in veth_rows(SNAP, Filter())}
    assert veth[VETH_PROXY] == "→ proxy (container)"
    ns = {r.target: str(r.cells[-1]) for r in ns_rows(SNAP, Filter())}
    assert ns[Target.ns(POD)] == "nginx-7d4 (pod default)" and ns[Target.ns(ROOT)] == ""


def test_filter_finds_by_owner_name_id_mac_and_ip() -> None:
    def hits(query: str) -> set[Target]:
        flt = Filter.parse(query)
        return {node.target for node in flatten(build(SNAP, flt)) if flt.matches(SNAP, node.target)}

    assert hits("web-1") == {TAP_WEB1, Target.proc(ROOT, 7802)}
    assert Target.ns(CONTAINER) in hits(PROXY_ID[:10]) and VETH_PROXY in hits(PROXY_ID[:10])
    assert hits(WEB1_PORT) == {TAP_WEB1}
    assert hits("fe:16:3e:85:f8:0c") == {TAP_WEB1}
    assert Target.link(POD, 2) in hits("10.244.1.7")
    assert TAP_WEB1 not in hits("!web-1")


def test_o_cycles_through_the_owners_devices_and_says_why_not() -> None:
    first = owner_target(SNAP, VETH_PROXY)
    assert first == (ETH0_PROXY, "proxy (container): eth0 (2 of 2)")
    assert owner_target(SNAP, ETH0_PROXY) == (VETH_PROXY, "proxy (container): vethd41c2e (1 of 2)")
    assert owner_target(SNAP, Target.ns(CONTAINER)) == (VETH_PROXY, "proxy (container): vethd41c2e (1 of 2)")
    assert owner_target(SNAP, TAP_WEB1) == "web-1 (vm): tap796091c0-07 is its only device"
    assert owner_target(SNAP, Target.proc(ROOT, 7748)) == (TAP_P2, "P2 (vm, qemu command line): tap0 (1 of 1)")
    assert owner_target(SNAP, EM1) == "em1 @ root: no known owner"
    assert owner_target(SNAP.kernel_picture(), EM1).startswith("owner: nothing here names owners")
    assert owner_target(SNAP, None) == "owner: select a device, namespace or process first"


async def test_o_key_jumps_and_notifies() -> None:
    app, _ = make_app(SNAP)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.jump_to(VETH_PROXY)
        await pilot.press("o")
        await wait_for(pilot, lambda: app.current_target() == ETH0_PROXY)
        assert any(n.message == "proxy (container): eth0 (2 of 2)" for n in app._notifications)
        await pilot.press("o")
        await wait_for(pilot, lambda: app.current_target() == VETH_PROXY)
        assert "Leads into proxy (container)" in details_text(app)
        app.jump_to(EM1)
        await pilot.press("o")
        await wait_for(pilot, lambda: any("no known owner" in n.message for n in app._notifications))
        assert app.current_target() == EM1
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert isinstance(app.screen, HelpScreen)
        assert "VM, container or pod" in dict(app.screen.keys)["o"]


async def test_palette_finds_by_owner_and_the_filter_by_pod_name() -> None:
    app, _ = make_app(SNAP)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"web-1")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_target() == TAP_WEB1)
        await pilot.press("slash")
        await wait_for(pilot, lambda: isinstance(app.focused, Input))
        await pilot.press(*"nginx-7d4", "enter")
        await wait_for(pilot, lambda: str(app.filter) == "nginx-7d4")
        shown = {node.target for node in flatten(build(SNAP, app.filter))}
        assert Target.ns(POD) in shown and TAP_WEB1 not in shown


async def test_trace_screen_names_owners() -> None:
    app, _ = make_app(SNAP)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.jump_to(TAP_WEB1)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, TraceScreen))
        options = app.screen.query_one(OptionList)
        lines = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert lines[0].startswith("◆ qemu-kvm[7802] P3  web-1 (vm)  holds tap796091c0-07")
        assert lines[1].startswith("  • tap796091c0-07  web-1 (vm)  tap @ root")
