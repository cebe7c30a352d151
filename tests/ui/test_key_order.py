"""Keys typed in a burst (fast typing, or keystrokes arriving together over a slow SSH link) reach the
widget that has focus once the key before them was answered (vnettop/ui/key_order.py).

`burst` posts every key at once, as the terminal driver does when they arrive in one read; Textual's
pilot `press` waits for the app to be idle between keys, which hides the problem.
"""

from __future__ import annotations

from typing import Any

from textual import events
from textual.pilot import Pilot
from textual.widgets import Input

from tests.fixtures_snapshots import QDHCP, compute_node
from tests.ui.fakes import RecordingMutator
from tests.ui.helpers import SIZE, make_app, started, wait_for
from vnettop.ui.screens.action_dialog import ActionDialog, NewObjectChooser
from vnettop.ui.targets import Target
from vnettop.ui.widgets.topology_tree import TopologyTree

CHARACTERS = {"tab": "\t", "enter": "\r", "slash": "/"}


def burst(pilot: Pilot[Any], *keys: str) -> None:
    for key in keys:
        pilot.app.post_message(events.Key(key, CHARACTERS.get(key, key if len(key) == 1 else None)))


def _fields(app: Any) -> dict[str, str]:
    return {str(box.id): box.value for box in app.screen.query(Input)}


async def test_characters_typed_right_after_tab_land_in_the_next_field() -> None:
    app, _ = make_app(compute_node(), read_only=False, mutator=RecordingMutator())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.jump_to(Target.ns(QDHCP))
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewObjectChooser))
        await pilot.press("down", "enter")  # veth pair: name, then peer
        await wait_for(pilot, lambda: isinstance(app.screen, ActionDialog))
        burst(pilot, *"vnta", "tab", *"vntb", "tab", "x")
        await wait_for(pilot, lambda: _fields(app).get("f-netns", "").endswith("x"))
        fields = _fields(app)
        assert (fields["f-name"], fields["f-peer"]) == ("vnta", "vntb")


async def test_a_burst_that_opens_a_dialog_types_into_it() -> None:
    """`n`, down, enter, then the names: every key lands where it would have, typed slowly."""
    app, _ = make_app(compute_node(), read_only=False, mutator=RecordingMutator())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.jump_to(Target.ns(QDHCP))
        await pilot.pause()
        burst(pilot, "n", "down", "enter", *"vntx", "tab", *"vnty")
        await wait_for(pilot, lambda: _fields(app).get("f-peer") == "vnty")
        assert _fields(app)["f-name"] == "vntx"
        assert len(app.screen_stack) == 2, "one dialog, no second chooser"


async def test_slash_then_a_filter_typed_fast_filters_and_does_not_quit() -> None:
    """`/qdhcp` typed fast used to send the q to the tree (quit) and the d to delete."""
    app, _ = make_app(compute_node())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        burst(pilot, "slash", *"qdhcp")
        await wait_for(pilot, lambda: app.main_query("#filter", Input).value == "qdhcp")
        assert app.is_running and app.filter.active


async def test_held_arrows_still_move_one_row_each() -> None:
    app, _ = make_app(compute_node())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        tree = app.main_query(TopologyTree)
        start = tree.cursor_line
        burst(pilot, *["down"] * 5)
        await wait_for(pilot, lambda: tree.cursor_line == start + 5)
