"""After an action creates or moves a device, the selection goes to it in its new place as soon as a
snapshot shows it (the recording mutator changes nothing: the test feeds the snapshot the kernel
would give)."""

from __future__ import annotations

from dataclasses import replace

from tests.fixtures_snapshots import QDHCP, QDHCP_NAME, ROOT, compute_node
from tests.ui.fakes import RecordingMutator, with_links
from tests.ui.helpers import make_app, started, wait_for
from vnettop.model import Link
from vnettop.ui.screens.action_dialog import ActionDialog, NewObjectChooser
from vnettop.ui.targets import Target


async def test_a_new_bridge_is_selected_once_it_appears() -> None:
    base = compute_node()
    mutator = RecordingMutator()
    app, collector = make_app(base, read_only=False, mutator=mutator)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot)
        app.jump_to(Target.link(ROOT, 2))
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewObjectChooser))
        await pilot.press("enter")  # bridge
        await wait_for(pilot, lambda: isinstance(app.screen, ActionDialog))
        await pilot.press(*"vntbr0", "ctrl+s")
        await wait_for(pilot, lambda: mutator.applied and not isinstance(app.screen, ActionDialog))
        new = Link(ROOT, 42, "vntbr0", "bridge", "02:00:00:00:00:42", 1500, False, "down")
        collector.change(with_links(base, [*base.links, new]))
        await wait_for(pilot, lambda: app.current_target() == Target.link(ROOT, 42))


async def test_a_moved_device_is_selected_in_its_new_namespace() -> None:
    base = compute_node()
    mutator = RecordingMutator()
    app, collector = make_app(base, read_only=False, mutator=mutator)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot)
        app.jump_to(Target.link(ROOT, 8))  # tun0
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, ActionDialog))
        await pilot.press(*QDHCP_NAME, "ctrl+s")
        await wait_for(pilot, lambda: mutator.applied and not isinstance(app.screen, ActionDialog))
        links = [replace(link, netns=QDHCP, ifindex=7) if link.key == (ROOT, 8) else link
                 for link in base.links]
        collector.change(with_links(base, links))
        await wait_for(pilot, lambda: app.current_target() == Target.link(QDHCP, 7))
