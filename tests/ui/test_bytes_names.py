"""Names that are not UTF-8 in the TUI: typing the form the screen shows (`vnt\\xff\\xfe`) confirms a
delete, picks a namespace to move to, and finds the device in the palette (SNAPSHOT-SCHEMA.md "Names
that are not text"; `vnettop.names`). Over the compute-node snapshot with one tap and one namespace
renamed to bytes that are not UTF-8; the mutator records plans, no kernel is touched.
"""

from __future__ import annotations

import dataclasses

from textual.command import CommandPalette
from textual.widgets import Input

from tests.fixtures_snapshots import QDHCP, ROOT, compute_node
from tests.ui.fakes import RecordingMutator
from tests.ui.helpers import SIZE, make_app, started, wait_for
from vnettop import names
from vnettop.actions import plans
from vnettop.model import Snapshot
from vnettop.ui.screens.action_dialog import ActionDialog
from vnettop.ui.targets import Target

TAP = (ROOT, 11)
TAP_NAME = names.from_bytes(b"vnt\xff\xfe")
NS_NAME = names.from_bytes(b"vnt\xfe")


def snapshot() -> Snapshot:
    snap = compute_node()
    links = tuple(dataclasses.replace(link, name=TAP_NAME) if link.key == TAP else link for link in snap.links)
    spaces = tuple(dataclasses.replace(ns, names=(NS_NAME,)) if ns.inode == QDHCP else ns
                   for ns in snap.namespaces)
    return dataclasses.replace(snap, links=links, namespaces=spaces)


def _dialog(app: object) -> ActionDialog:
    screen = app.screen  # type: ignore[attr-defined]
    assert isinstance(screen, ActionDialog)
    return screen


async def test_delete_is_confirmed_by_typing_the_shown_form() -> None:
    mutator = RecordingMutator()
    app, _ = make_app(snapshot(), read_only=False, mutator=mutator)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.jump_to(Target.link(*TAP))
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ActionDialog))
        dialog = _dialog(app)
        assert "ip link del dev $'vnt\\xff\\xfe'" in str(dialog.query_one("#preview").render())
        confirm = dialog.query_one("#confirm", Input)
        confirm.value = "vnt\\xff"  # one byte short: refused, and the message shows what to type
        await pilot.press("enter")
        assert mutator.attempts == []
        assert "type 'vnt\\xff\\xfe' to confirm" in str(dialog.query_one("#result").render())
        confirm.value = ""
        await pilot.press(*"vnt\\xff\\xfe", "enter")  # typed as a user types it, backslashes and all
        await wait_for(pilot, lambda: mutator.applied)
        assert mutator.applied == [plans.DeleteLink(device=TAP_NAME, netns=None, ifindex=11)]


async def test_move_takes_the_shown_form_of_the_destination() -> None:
    mutator = RecordingMutator()
    app, _ = make_app(snapshot(), read_only=False, mutator=mutator)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.jump_to(Target.link(*TAP))
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, ActionDialog))
        dialog = _dialog(app)
        dialog.query_one("#f-to_netns", Input).value = "vnt\\xfe"
        await wait_for(pilot, lambda: dialog.plan is not None and dialog.plan.to_netns == NS_NAME)  # type: ignore[attr-defined]
        assert "netns $'vnt\\xfe'" in str(dialog.query_one("#preview").render())
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: mutator.applied)
        assert mutator.applied == [plans.MoveToNamespace(device=TAP_NAME, netns=None, ifindex=11,
                                                         to_netns=NS_NAME)]


async def test_palette_finds_the_shown_form() -> None:
    app, _ = make_app(snapshot())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        palette = app.screen
        assert isinstance(palette, CommandPalette)
        palette.query_one(Input).value = "vnt\\xff\\xfe"
        await wait_for(pilot, lambda: "jump to vnt\\xff\\xfe @ root" in _hits(palette))
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_target() == Target.link(*TAP))


def _hits(palette: CommandPalette) -> str:
    from textual.widgets import OptionList

    options = palette.query_one(OptionList)
    return "\n".join(str(options.get_option_at_index(i).prompt) for i in range(options.option_count))
