"""Modes: read-only (badge, write keys absent everywhere, actions refused), notice, loaded file, write."""

from __future__ import annotations

from textual.widgets import Static

from tests.fixtures_snapshots import ROOT, compute_node
from tests.ui.fakes import RecordingMutator
from tests.ui.helpers import SIZE, make_app, screen_text, started, wait_for
from vnettop.ui.keys import WRITE_ACTIONS, WRITE_BINDINGS
from vnettop.ui.screens.action_dialog import ActionDialog
from vnettop.ui.screens.help import HelpScreen
from vnettop.ui.targets import Target
from vnettop.ui.widgets.footer import KeyFooter

WRITE_DESCRIPTIONS = {b.description for b in WRITE_BINDINGS}
WRITE_TOOLTIPS = {b.tooltip for b in WRITE_BINDINGS}


def _footer_keys(app: object) -> set[str]:
    footer = app.main_query(KeyFooter)  # type: ignore[attr-defined]
    return {entry.key for entry in footer.shown if entry.key}


def _palette_names(app: object) -> set[str]:
    return {cmd.title for cmd in app.get_system_commands(app.screen)}  # type: ignore[attr-defined]


async def test_read_only_shows_the_badge_and_offers_no_write_action_anywhere() -> None:
    mutator = RecordingMutator(read_only=True)
    app, _ = make_app(compute_node(), read_only=True, mutator=mutator)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        assert "READ-ONLY" in screen_text(app)
        for action in WRITE_ACTIONS:
            assert app.check_action(action, ()) is False
        footer = _footer_keys(app)
        assert footer and not footer & {b.key for b in WRITE_BINDINGS}
        assert not _palette_names(app) & WRITE_DESCRIPTIONS
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        assert not {d for _, d in help_screen.keys} & WRITE_TOOLTIPS
        assert help_screen.mode_line.startswith("READ-ONLY")
        await pilot.press("escape")
        app.jump_to(Target.link(ROOT, 5))
        for key in ("n", "d", "u", "a", "A", "m", "plus", "minus"):
            await pilot.press(key)
            assert not isinstance(app.screen, ActionDialog), key
        # Even when called directly (palette, a stray binding), each action refuses again.
        app.action_delete()
        await pilot.pause()
        assert not isinstance(app.screen, ActionDialog)
        assert mutator.attempts == [] and mutator.checks == []


async def test_write_mode_offers_the_write_keys_in_footer_help_and_palette() -> None:
    app, _ = make_app(compute_node(), read_only=False, mutator=RecordingMutator())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        assert "READ-ONLY" not in screen_text(app)
        assert {"n", "d", "u"} <= _footer_keys(app)
        assert WRITE_DESCRIPTIONS <= _palette_names(app)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert WRITE_TOOLTIPS <= {d for _, d in app.screen.keys}  # type: ignore[attr-defined]


async def test_a_read_only_mutator_forces_read_only_even_if_not_asked() -> None:
    app, _ = make_app(compute_node(), read_only=False, mutator=RecordingMutator(read_only=True))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        assert app.read_only and "READ-ONLY" in screen_text(app)


async def test_no_privilege_notice_is_shown_on_its_own_line() -> None:
    notice = "read-only: this process lacks CAP_NET_ADMIN"
    app, _ = make_app(compute_node(), read_only=True, notice=notice)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        assert notice in str(app.main_query("#notice", Static).render())


async def test_a_loaded_file_is_named_in_the_header_instead_of_live() -> None:
    app, _ = make_app(compute_node(), read_only=True, source_label="file: compute01.json")
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        text = screen_text(app)
        assert "file: compute01.json" in text and "live" not in text


async def test_usable_at_80x24_details_below_and_togglable() -> None:
    app, _ = make_app(compute_node())
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        views, details = app.main_query("#views"), app.main_query("#details")
        assert views.region.width == 80 and details.region.y > views.region.y
        assert details.region.bottom <= 23 and details.region.height >= 6
        await pilot.press("i")
        assert not details.display
        assert app.main_query("#views").region.height > 15
