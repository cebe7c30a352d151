"""The live TUI on the real kernel: peer jumps across namespaces and devices appearing on their own.

Runs the app headless (Textual's pilot) over the live collector against a throwaway topology built with
iproute2: two namespaces of this test joined by a veth pair.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.kernelkit import KernelKit

pytestmark = pytest.mark.kernel


def _ifindex(kit: KernelKit, name: str, netns: str | None) -> int:
    return int(json.loads(kit.ip("-j", "link", "show", "dev", name, netns=netns))[0]["ifindex"])


async def _wait(pilot: Any, condition: Callable[[], object], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await pilot.pause(0.05)


def test_peer_jump_across_namespaces_and_a_new_device_appears_by_itself(kit: KernelKit) -> None:
    from vnettop.collect.collector import LiveCollector
    from vnettop.ui.app import build_app
    from vnettop.ui.targets import Target
    from vnettop.ui.widgets.topology_tree import TopologyTree

    ns_a, ns_b = kit.netns("a"), kit.netns("b")
    end_a, end_b = kit.veth(kit.name("va"), kit.name("vb"), ns_a, ns_b)
    a_index, b_index = _ifindex(kit, end_a, ns_a), _ifindex(kit, end_b, ns_b)
    a_key = Target.link(kit.ns_inode(ns_a), a_index)
    b_key = Target.link(kit.ns_inode(ns_b), b_index)

    async def session() -> None:
        collector = LiveCollector()
        # A one-minute interval: only the collector's change events can show the new device in time.
        app = build_app(collector, None, read_only=True, interval=60.0)
        try:
            async with app.run_test(size=(120, 40)) as pilot:
                tree = app.main_query(TopologyTree)
                await _wait(pilot, lambda: tree.has(a_key) and tree.has(b_key), 15)
                app.jump_to(a_key)
                await pilot.pause()
                assert app.current_target() == a_key
                await pilot.press("p")
                assert app.current_target() == b_key, "p must land on the peer in the other namespace"
                await pilot.press("p")
                assert app.current_target() == a_key

                new = kit.bridge(kit.name("nb"), netns=ns_b)
                new_key = Target.link(kit.ns_inode(ns_b), _ifindex(kit, new, ns_b))
                polls = app.polls
                await _wait(pilot, lambda: tree.has(new_key), 10)
                assert app.polls > polls
                assert app.current_target() == a_key, "the selection survives the refresh"
        finally:
            collector.close()

    asyncio.run(session())


def test_a_bridge_created_from_the_dialog_exists_and_shows_up(kit: KernelKit) -> None:
    from vnettop.actions.mutator import Mutator
    from vnettop.collect.collector import LiveCollector
    from vnettop.ui.app import build_app
    from vnettop.ui.screens.action_dialog import ActionDialog, NewObjectChooser
    from vnettop.ui.targets import Target
    from vnettop.ui.widgets.topology_tree import TopologyTree

    ns = kit.netns("w")
    ns_target = Target.ns(kit.ns_inode(ns))
    name = kit.name("nw")

    async def session() -> None:
        collector = LiveCollector()
        app = build_app(collector, Mutator(read_only=False), read_only=False, interval=60.0)
        try:
            async with app.run_test(size=(120, 40)) as pilot:
                tree = app.main_query(TopologyTree)
                await _wait(pilot, lambda: tree.has(ns_target), 15)
                app.jump_to(ns_target)
                await pilot.press("n")
                await _wait(pilot, lambda: isinstance(app.screen, NewObjectChooser), 5)
                await pilot.press("enter")  # the first choice: a bridge
                await _wait(pilot, lambda: isinstance(app.screen, ActionDialog), 5)
                await pilot.press(*name)
                dialog = app.screen
                assert isinstance(dialog, ActionDialog)
                assert dialog.plan is not None
                assert dialog.plan.ip_command() == f"ip -n {ns} link add {name} type bridge"
                await pilot.press("ctrl+s")
                await _wait(pilot, lambda: not isinstance(app.screen, ActionDialog), 10)
                # Re-collected at once (the interval is a minute), the new bridge is in the tree.
                await _wait(pilot, lambda: any(
                    link.name == name and link.netns == ns_target.netns
                    for link in (app.snapshot.links if app.snapshot else ())), 10)
                assert any(tree.has(Target.link(ns_target.netns, link.ifindex))
                           for link in app.snapshot.links if link.name == name)  # type: ignore[union-attr]
        finally:
            collector.close()

    asyncio.run(session())
    shown = json.loads(kit.ip("-d", "-j", "link", "show", "dev", name, netns=ns))
    assert shown[0]["linkinfo"]["info_kind"] == "bridge"
