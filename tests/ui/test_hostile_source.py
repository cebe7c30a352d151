"""A `--load` file's name is a value from outside too: the header, the notice line and the help screen's
mode line show it escaped, never as a terminal control and never as markup.

`vnettop --load $'t\\x1b]2;PWNED\\x07.json'` once retitled the terminal from the header.
"""

from __future__ import annotations

from tests.fixtures_snapshots import compute_node
from tests.ui.helpers import SIZE, make_app, started
from tests.ui.test_hostile_names import assert_clean, on_screen

LABEL = "t\x1b]2;PWNED\x07[b]x\u202e.json"  # what cli.cmd_tui takes from the file name
SHOWN = "t\\x1b]2;PWNED\\x07[b]x\\u202e.json"


async def test_the_source_label_is_shown_escaped_everywhere() -> None:
    notice = f"browsing a saved snapshot ({LABEL}): read-only"  # as cli.cmd_tui words it
    app, _ = make_app(compute_node(), notice=notice, source_label=LABEL)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        text = on_screen(app)
        assert_clean(text)
        assert "\u202e" not in text
        assert text.count(SHOWN) >= 2, text  # the header and the notice line
        await pilot.press("question_mark")
        await pilot.pause()
        text = on_screen(app)
        assert_clean(text)
        assert "\u202e" not in text
        assert f"({SHOWN})" in text  # the help screen's mode line: escaped, and [b] shown, not bold


async def test_an_action_result_stays_two_lines_whatever_the_names() -> None:
    from vnettop.ui.messages import ActionApplied

    app, _ = make_app(compute_node())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.clear_notifications()
        app.post_message(ActionApplied(False, "cannot delete x\nFAKE: done\u202e", "ip link del 'x\nFAKE'"))
        await pilot.pause()
        (note,) = list(app._notifications)
        assert note.message.count("\n") == 1, note.message
        assert note.message == "cannot delete x\\nFAKE: done\\u202e\n$ ip link del 'x\\nFAKE'"
