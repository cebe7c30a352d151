"""Pilot tests: every read key over a fake collector serving the compute-node fixture."""

from __future__ import annotations

import pytest
from textual.command import CommandPalette
from textual.widgets import Input

from tests.fixtures_snapshots import PIDNS, QDHCP, ROOT, compute_node
from tests.ui.helpers import SIZE, make_app, screen_text, started, wait_for
from vnettop.ui.screens.errors import ErrorsScreen
from vnettop.ui.screens.help import HelpScreen
from vnettop.ui.screens.trace import TraceScreen
from vnettop.ui.targets import Target
from vnettop.ui.widgets.details import DetailsPane
from vnettop.ui.widgets.snapshot_table import SnapshotTable
from vnettop.ui.widgets.topology_tree import TopologyTree

VETH_A = Target.link(ROOT, 7)
VETH_B = Target.link(QDHCP, 2)
TAP0 = Target.link(ROOT, 5)
BR0 = Target.link(ROOT, 3)


async def test_opens_on_the_topology_with_header_and_details() -> None:
    app, _ = make_app(compute_node())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        text = screen_text(app)
        assert "compute01" in text and "6.18.44" in text and "READ-ONLY" in text
        assert "ns 3 · links 14 · br 1 · veth 5 · tun/tap 3" in text
        assert "1 error" in text
        tree = app.main_query(TopologyTree)
        assert tree.has_focus
        assert tree.current_target == Target.ns(ROOT)
        assert app.main_query(DetailsPane).target == Target.ns(ROOT)


async def test_number_keys_switch_views_and_each_view_has_its_rows() -> None:
    app, _ = make_app(compute_node())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        expected = {"2": ("bridges", 4), "3": ("veths", 3), "4": ("tuntap", 3), "5": ("namespaces", 3),
                    "6": ("events", 0)}
        for key, (view, count) in expected.items():
            await pilot.press(key)
            assert app.view == view
            table = app.main_query(f"#{view}", SnapshotTable)
            assert table.row_count == count, view
            assert table.has_focus
        await pilot.press("1")
        assert app.view == "topology"


async def test_peer_jumps_across_namespaces_and_back() -> None:
    app, _ = make_app(compute_node())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.jump_to(VETH_A)
        await pilot.press("p")
        assert app.current_target() == VETH_B
        assert app.main_query(DetailsPane).target == VETH_B
        await pilot.press("p")
        assert app.current_target() == VETH_A
        app.jump_to(Target.link(ROOT, 6))  # em2.100: a vlan, its lower device is em2
        await pilot.press("p")
        assert app.current_target() == Target.link(ROOT, 2)
        app.jump_to(Target.link(ROOT, 9))  # vethc1 -> eth0 (ifindex 3) in the pid-only namespace
        await pilot.press("p")
        assert app.current_target() == Target.link(PIDNS, 3)


async def test_peer_of_a_device_without_one_says_so_and_stays() -> None:
    app, _ = make_app(compute_node())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.jump_to(BR0)
        await pilot.press("p")
        assert app.current_target() == BR0
        assert any("no peer" in n.message for n in app._notifications)


async def test_peer_works_from_the_veth_table_too() -> None:
    app, _ = make_app(compute_node())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("3")
        table = app.main_query("#veths", SnapshotTable)
        assert table.current_target == VETH_A
        await pilot.press("p")  # veth-b has no row of its own here: shown in the tree
        assert app.view == "topology" and app.current_target() == VETH_B


async def test_bridge_and_holder_keys() -> None:
    app, _ = make_app(compute_node())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.jump_to(TAP0)
        await pilot.press("b")
        assert app.current_target() == BR0
        app.jump_to(TAP0)
        await pilot.press("h")
        assert app.current_target() == Target.proc(ROOT, 7748)
        await pilot.press("h")  # from the process back to the device it holds
        assert app.current_target() == TAP0
        app.jump_to(Target.link(ROOT, 11))  # tap1: persistent, nobody holds it
        await pilot.press("h")
        assert app.current_target() == Target.link(ROOT, 11)


async def test_trace_lists_hops_and_enter_jumps_to_one() -> None:
    app, _ = make_app(compute_node())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.jump_to(TAP0)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, TraceScreen))
        screen = app.screen
        assert isinstance(screen, TraceScreen)
        labels = [h.label for h in screen.hops]
        assert labels[:2] == ["qemu-kvm[7748] P2", "tap0"]
        assert "veth-b" in labels and "dnsmasq[28795]" in labels
        index = labels.index("veth-b")
        for _ in range(index):
            await pilot.press("down")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, TraceScreen))
        assert app.current_target() == VETH_B


async def test_filter_narrows_every_view_inverts_and_esc_clears() -> None:
    app, _ = make_app(compute_node())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        tree = app.main_query(TopologyTree)
        full = len(tree.order())
        await pilot.press("slash")
        assert app.main_query("#filter", Input).has_focus
        await pilot.press(*"dnsmasq")
        assert tree.order() == [Target.ns(QDHCP), Target.link(QDHCP, 1), VETH_B,
                                Target.proc(QDHCP, 28795)]
        assert "filter: dnsmasq" in screen_text(app)
        await pilot.press("enter")
        assert tree.has_focus
        await pilot.press("5")
        assert app.main_query("#namespaces", SnapshotTable).row_count == 1
        await pilot.press("1", "escape")
        assert len(tree.order()) == full
        await pilot.press("slash", "exclamation_mark", *"lo", "enter")
        assert Target.link(ROOT, 1) not in tree.order() and TAP0 in tree.order()
        await pilot.press("escape")
        assert not app.filter.active


async def test_enter_collapses_and_expands_a_namespace() -> None:
    app, _ = make_app(compute_node())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        tree = app.main_query(TopologyTree)
        node = tree.cursor_node
        assert node is not None and node.is_expanded
        await pilot.press("enter")
        assert not node.is_expanded
        await pilot.press("down")
        assert tree.current_target == Target.ns(QDHCP)
        await pilot.press("up", "enter")
        assert node.is_expanded


async def test_help_errors_details_and_quit() -> None:
    app, _ = make_app(compute_node())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        keys = dict(help_screen.keys)
        assert keys["p"].startswith("jump to the other end of a veth") and "inverts" in keys["/"]
        await pilot.press("escape")
        await pilot.press("E")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorsScreen))
        assert "permission denied" in app.screen.errors[0].message  # type: ignore[attr-defined]
        await pilot.press("escape")
        pane = app.main_query(DetailsPane)
        await pilot.press("i")
        assert not pane.display
        await pilot.press("i")
        assert pane.display
        await pilot.press("q")
        await wait_for(pilot, lambda: app.return_value == 0)


async def test_palette_jumps_to_a_device_by_name() -> None:
    app, _ = make_app(compute_node())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"jump to veth-b")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_target() == VETH_B)


async def test_table_enter_shows_the_row_in_the_topology() -> None:
    app, _ = make_app(compute_node())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("4")
        assert app.current_target() == TAP0
        await pilot.press("enter")
        assert app.view == "topology" and app.current_target() == TAP0


@pytest.mark.parametrize("keys", [("ctrl+c",), ("slash", "x", "ctrl+c"), ("question_mark", "ctrl+c")])
async def test_ctrl_c_quits_from_the_main_screen_the_filter_and_a_dialog(keys: tuple[str, ...]) -> None:
    app, _ = make_app(compute_node())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press(*keys[:-1])
        assert app.return_value is None
        await pilot.press(keys[-1])
        await wait_for(pilot, lambda: app.return_value == 0)
