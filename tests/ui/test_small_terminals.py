"""Small terminals: the main view gets the room, the footer shows only whole keys, `?` help always.

At 80x24 the details pane goes under the main view with at most a third of the rows; at 60x15 it
hides until `i`; at every width the footer's last key is whole and `? Help` is the first.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures_snapshots import compute_node
from tests.ui.fakes import RecordingMutator
from tests.ui.helpers import make_app, started, wait_for
from vnettop.ui.keys import ALL_BINDINGS
from vnettop.ui.screens.help import HelpScreen
from vnettop.ui.widgets.details import DetailsPane
from vnettop.ui.widgets.footer import KeyFooter

ENDINGS = {b.description for b in ALL_BINDINGS} | {"views", "palette"}


def _screen_lines(app: Any) -> list[str]:
    strips = app.screen._compositor.render_strips()
    return ["".join(seg.text for seg in strip) for strip in strips]


@pytest.mark.parametrize("size", [(60, 15), (80, 24), (100, 30), (120, 40)])
@pytest.mark.parametrize("write", [False, True])
async def test_the_footer_shows_whole_keys_help_first(size: tuple[int, int], write: bool) -> None:
    app, _ = make_app(compute_node(), read_only=not write, mutator=RecordingMutator() if write else None)
    async with app.run_test(size=size) as pilot:
        await started(pilot)
        await pilot.pause()
        footer = _screen_lines(app)[-1].rstrip()
        assert footer.split()[0] == "?", footer
        assert any(footer.endswith(" " + end) for end in ENDINGS), f"a key cut off: {footer!r}"


async def test_at_80x24_the_details_go_under_the_view_with_a_third_of_the_rows() -> None:
    app, _ = make_app(compute_node())
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        pane = app.main_query(DetailsPane)
        views = app.main_query("#views")
        assert pane.display
        assert pane.region.y >= views.region.bottom, "under the main view"
        assert pane.region.height <= 24 // 3
        assert views.region.height > 2 * pane.region.height


async def test_at_60x15_the_details_hide_until_i() -> None:
    app, _ = make_app(compute_node())
    async with app.run_test(size=(60, 15)) as pilot:
        await started(pilot)
        pane = app.main_query(DetailsPane)
        assert not pane.display
        assert "i details" in str(app.main_query("#views").border_subtitle)
        await pilot.press("i")
        await wait_for(pilot, lambda: pane.display and pane.region.height > 0)
        assert pane.region.height <= 15 // 3 + 1
        await pilot.press("i")
        await wait_for(pilot, lambda: not pane.display)


async def test_at_60x15_help_scrolls_to_its_last_key() -> None:
    app, _ = make_app(compute_node())
    async with app.run_test(size=(60, 15)) as pilot:
        await started(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        box = app.screen.query_one("#help-box")
        assert box.region.right <= 60 and box.region.bottom <= 15
        assert box.max_scroll_y > 0
        await pilot.press("end")
        await wait_for(pilot, lambda: box.scroll_y == box.max_scroll_y)
        assert "command palette" in " ".join(_screen_lines(app))


async def test_a_click_on_a_footer_key_presses_it() -> None:
    app, _ = make_app(compute_node())
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.click(KeyFooter, offset=(2, 0))  # "? Help"
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
