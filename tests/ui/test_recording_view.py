"""The inspector over a recording (`vnettop --load REC [--at TIME]`): stepping with `[` and `]`, the
header naming the moment, the events view listing the recorded changes and `enter` showing one's
moment, keys offered only over a recording, and a line that cannot be read.

The recording is made by vnettop's own recorder (tests/ui/recording_fixture.py); what the app shows at
each moment is compared with what `Recording.snapshot_at` rebuilds for that moment.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.ui.helpers import SIZE, make_app, screen_text, started, wait_for
from tests.ui.recording_fixture import END, at, write_recording
from vnettop.demo import QDHCP, ROOT, demo_snapshot
from vnettop.model import Snapshot
from vnettop.record.reader import Recording
from vnettop.ui.app import VnettopApp, build_app
from vnettop.ui.keys import WRITE_BINDINGS
from vnettop.ui.targets import Target
from vnettop.ui.timeline import RecordingCollector, Timeline
from vnettop.ui.widgets.footer import KeyFooter
from vnettop.ui.widgets.snapshot_table import SnapshotTable
from vnettop.ui.widgets.topology_tree import TopologyTree


@pytest.fixture
def rec(tmp_path: Path) -> Path:
    return write_recording(tmp_path / "vnt.rec")


def recording_app(path: Path, when: datetime | None = None) -> VnettopApp:
    timeline = Timeline.open(str(path), when)
    collector = RecordingCollector(timeline, timeline.snapshot_at(timeline.moment))
    return build_app(collector, None, read_only=True, source_label=timeline.name,
                     notice="browsing a recording: read-only", timeline=timeline)


def picture(snap: Snapshot) -> set[tuple[str, int, int, bool]]:
    """What the views draw of the devices: name, namespace, ifindex, up."""
    return {(link.name, link.netns, link.ifindex, link.admin_up) for link in snap.links}


def expected(path: Path, when: datetime) -> set[tuple[str, int, int, bool]]:
    with Recording.open(str(path)) as recording:
        return picture(recording.snapshot_at(when))


async def shows(pilot: Any, app: VnettopApp, when: datetime) -> None:
    await wait_for(pilot, lambda: app.snapshot is not None and app.moment_shown(app.snapshot) == when)
    await pilot.pause()


def notices(app: VnettopApp) -> str:
    return "\n".join(n.message for n in app._notifications)


async def test_brackets_step_through_every_recorded_change_and_the_header_says_where(rec: Path) -> None:
    app = recording_app(rec)
    async with app.run_test(size=SIZE) as pilot:
        app = await started(pilot)
        assert app.snapshot is not None
        # Opened at the recording's last moment (after the fourth change, the pair removed again).
        assert picture(app.snapshot) == expected(rec, at(END))
        header = screen_text(app)
        assert "recording vnt.rec · 2026-12-04 10:00:10.000 UTC (after change 4 of 4)" in header, header
        assert "NOT LIVE" in header and "READ-ONLY" in header and "live 1s" not in header
        steps_back = [(6, "change 3 of 4"), (4, "change 2 of 4"), (2, "change 1 of 4"),
                      (0, "before change 1 of 4")]
        for second, words in steps_back:
            await pilot.press("left_square_bracket")
            await shows(pilot, app, at(second))
            assert picture(app.snapshot) == expected(rec, at(second)), second
            assert f"2026-12-04 10:00:{second:02d}.000 UTC ({words})" in screen_text(app)
        assert {"vntA", "vntB"}.isdisjoint(name for name, *_ in picture(app.snapshot))
        await pilot.press("left_square_bracket")  # nothing before the start: said, and nothing moves
        await wait_for(pilot, lambda: "already at the recording's start" in notices(app))
        assert app.moment_shown(app.snapshot) == at(0)
        for second in (2, 4, 6, 8):
            await pilot.press("right_square_bracket")
            await shows(pilot, app, at(second))
            assert picture(app.snapshot) == expected(rec, at(second)), second
        assert ("vntB", QDHCP, 7, True) not in picture(app.snapshot)
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: "already at the last change" in notices(app))
        assert "(change 4 of 4)" in screen_text(app)


async def test_a_step_keeps_the_selection_on_the_same_device(rec: Path) -> None:
    app = recording_app(rec, at(4))
    async with app.run_test(size=SIZE) as pilot:
        app = await started(pilot)
        tree = app.main_query(TopologyTree)
        vnta = Target.link(ROOT, 40)
        assert tree.select_target(vnta)
        await pilot.pause()
        await pilot.press("right_square_bracket")  # tap0 goes down; vntA is still there
        await shows(pilot, app, at(6))
        assert app.current_target() == vnta
        await pilot.press("left_square_bracket", "left_square_bracket")
        await shows(pilot, app, at(2))
        assert app.current_target() == vnta


async def test_the_events_view_lists_recorded_changes_and_enter_shows_that_moment(rec: Path) -> None:
    app = recording_app(rec)
    async with app.run_test(size=SIZE) as pilot:
        app = await started(pilot)
        await pilot.press("6")
        table = app.main_query("#events", SnapshotTable)
        await wait_for(pilot, lambda: table.row_count == 7)
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        assert [r[0] for r in rows] == ["▶ 10:00:08.000", "▶ 10:00:08.000", "· 10:00:06.000", "· 10:00:04.000",
                                        "· 10:00:04.000", "· 10:00:02.000", "· 10:00:02.000"]
        assert rows[3][1:4] == ["moved", "vntB", "qdhcp-ba48a3fc-…"]
        assert rows[2][1:3] == ["changed", "tap0"] and "admin_up yes -> no" in rows[2][4]
        assert rows[0][1:3] == ["removed", "vntA"]
        table.move_cursor(3)  # vntB moved into the qdhcp namespace
        await pilot.pause()
        await pilot.press("enter")
        await shows(pilot, app, at(4))
        assert "(change 2 of 4)" in screen_text(app)
        assert picture(app.snapshot) == expected(rec, at(4))
        await wait_for(pilot, lambda: app.view == "topology")
        assert app.current_target() == Target.link(QDHCP, 7)  # the moved device, where it went
        await pilot.press("6")  # the marks follow the moment
        await wait_for(pilot, lambda: str(table.get_row_at(3)[0]) == "▶ 10:00:04.000")
        assert [str(table.get_row_at(i)[0])[0] for i in range(7)] == [" ", " ", " ", "▶", "▶", "·", "·"]
        assert table.cursor_row == 3  # the view opens on the change shown
        await pilot.press("right_square_bracket")  # stepping in the events view: the cursor follows
        await shows(pilot, app, at(6))
        assert str(table.get_row_at(table.cursor_row)[0]) == "▶ 10:00:06.000"


async def test_enter_on_a_removal_shows_its_moment_and_stays_in_the_events_view(rec: Path) -> None:
    app = recording_app(rec, at(2))
    async with app.run_test(size=SIZE) as pilot:
        app = await started(pilot)
        await pilot.press("6")
        table = app.main_query("#events", SnapshotTable)
        await wait_for(pilot, lambda: table.row_count == 7)
        table.move_cursor(0)  # vntA removed at +8 s: not there to select
        await pilot.pause()
        await pilot.press("enter")
        await shows(pilot, app, at(8))
        await pilot.pause()
        assert app.view == "events"
        assert str(table.get_row_at(table.cursor_row)[0]) == "▶ 10:00:08.000"


async def test_bracket_keys_are_offered_only_over_a_recording(rec: Path) -> None:
    app = recording_app(rec)
    async with app.run_test(size=SIZE) as pilot:
        app = await started(pilot)
        await pilot.pause()
        footer = app.query_one(KeyFooter)
        shown = [e.key_display for e in footer.shown]
        assert "[" in shown and "]" in shown, shown
        assert "space" not in [e.key for e in footer.shown] and "r" not in [e.key for e in footer.shown]
        assert not app.check_action("pause", ()) and not app.check_action("refresh", ())
        assert all(app.check_action(b.action, ()) is False for b in WRITE_BINDINGS)  # read-only
        await pilot.press("question_mark")
        await pilot.pause()
        help_keys = [key for key, _ in app.screen.keys]  # type: ignore[attr-defined]
        assert "[" in help_keys and "]" in help_keys
    live, _ = make_app(demo_snapshot())
    async with live.run_test(size=SIZE) as pilot:
        live = await started(pilot)
        await pilot.pause()
        shown = [e.key_display for e in live.query_one(KeyFooter).shown]
        assert "[" not in shown and "]" not in shown
        assert live.check_action("step", ()) is False
        await pilot.press("question_mark")
        await pilot.pause()
        assert "[" not in [key for key, _ in live.screen.keys]  # type: ignore[attr-defined]
        await pilot.press("escape", "left_square_bracket")
        await pilot.pause()
        assert live.snapshot is not None and not live._notifications


async def test_a_line_that_cannot_be_read_is_said_and_the_last_moment_stays(rec: Path) -> None:
    lines = rec.read_bytes().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.startswith(b'{"t":"2026-12-04T10:00:06')
                 and b'"type":"change"' in line)
    lines[index] = lines[index][:60] + b"\n"  # still a line head, no longer JSON
    rec.write_bytes(b"".join(lines))
    app = recording_app(rec, at(2))
    async with app.run_test(size=SIZE) as pilot:
        app = await started(pilot)
        await pilot.press("right_square_bracket")
        await shows(pilot, app, at(4))
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: "not valid JSON" in notices(app))
        assert "cannot show 2026-12-04 10:00:06.000 UTC" in notices(app)
        assert app.moment_shown(app.snapshot) == at(4) and "(change 2 of 4)" in screen_text(app)
        assert app.timeline is not None and app.timeline.moment == at(4)


async def test_a_burst_of_steps_lands_on_the_last_one_asked(rec: Path) -> None:
    app = recording_app(rec, at(0))
    async with app.run_test(size=SIZE) as pilot:
        app = await started(pilot)
        await pilot.press("6")
        table = app.main_query("#events", SnapshotTable)
        await wait_for(pilot, lambda: table.row_count == 7)
        await pilot.press("right_square_bracket", "right_square_bracket", "right_square_bracket")
        await shows(pilot, app, at(6))
        assert "(change 3 of 4)" in screen_text(app)
        assert picture(app.snapshot) == expected(rec, at(6))
        await wait_for(pilot, lambda: str(table.get_row_at(table.cursor_row)[0]) == "▶ 10:00:06.000")
