"""The line-drawn widgets: the table of the five table views, the details pane, and the tree's resize.

They exist for speed (drawing only the lines on screen from kept lines), so besides what they show and
how the keys move them, these tests pin the cheapness: kept lines are reused, a change redraws only the
rows it touched, and showing a view again does not rebuild the tree or lay out the screen.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widget import Widget

from tests.ui.helpers import SIZE, make_app, started, wait_for
from vnettop.demo import demo_snapshot
from vnettop.ui.rows import Row
from vnettop.ui.targets import Target
from vnettop.ui.widgets.details import DetailsPane
from vnettop.ui.widgets.snapshot_table import SnapshotTable
from vnettop.ui.widgets.topology_tree import TopologyTree

COLUMNS = ("device", "namespace", "state")


def _rows(n: int, state: str = "up", start: int = 0) -> list[Row]:
    return [Row(f"k{i}", Target.link(1, i), (Text(f"dev{i}", style="bold"), f"ns{i % 3}", state))
            for i in range(start, start + n)]


class TableApp(App[None]):
    """One table alone, recording what it announces."""

    def __init__(self, rows: list[Row]) -> None:
        super().__init__()
        self.initial = rows
        self.highlighted: list[Target | None] = []
        self.selected: list[Target | None] = []

    def compose(self) -> ComposeResult:
        yield SnapshotTable(COLUMNS, id="t")

    def on_mount(self) -> None:
        table = self.query_one(SnapshotTable)
        table.sync(self.initial)
        table.focus()

    def on_snapshot_table_row_highlighted(self, message: SnapshotTable.RowHighlighted) -> None:
        self.highlighted.append(message.target)

    def on_snapshot_table_row_selected(self, message: SnapshotTable.RowSelected) -> None:
        self.selected.append(message.target)


def _screen_lines(widget: Widget) -> list[str]:
    return [strip.text for strip in widget.render_lines(widget.size.region)]


async def test_table_draws_header_and_aligned_rows() -> None:
    app = TableApp([*_rows(3), Row("long", Target.link(1, 99), ("a-much-longer-name", "ns", "down"))])
    async with app.run_test(size=(60, 10)) as pilot:
        await pilot.pause()
        table = app.query_one(SnapshotTable)
        lines = _screen_lines(table)
        assert lines[0].split() == list(COLUMNS)
        assert lines[1].split() == ["dev0", "ns0", "up"]
        assert lines[4].split() == ["a-much-longer-name", "ns", "down"]
        # Every row's second column starts where the header's does (widths from the widest cell).
        col = lines[0].index("namespace")
        assert all(line[col:col + 2] == "ns" for line in lines[1:5])
        assert lines[5].strip() == ""  # below the rows: blank
        assert table.row_count == 4 and str(table.get_row_at(3)[0]) == "a-much-longer-name"


async def test_table_keys_move_the_cursor_and_announce_rows() -> None:
    rows = _rows(30)
    app = TableApp(rows)
    async with app.run_test(size=(60, 10)) as pilot:
        await pilot.pause()
        table = app.query_one(SnapshotTable)
        assert table.cursor_row == 0 and app.highlighted[-1] == rows[0].target
        await pilot.press("down", "down")
        assert table.cursor_row == 2 and app.highlighted[-1] == rows[2].target
        await pilot.press("up")
        assert table.current_target == rows[1].target
        await pilot.press("pagedown")
        page = table.scrollable_content_region.height - 1  # the header takes a line
        assert table.cursor_row == 1 + page
        assert table.scroll_y > 0  # the cursor was scrolled into view
        await pilot.press("end")
        assert table.cursor_row == 29
        visible = _screen_lines(table)
        assert visible[0].split() == list(COLUMNS)  # the header stays at the top when scrolled
        assert visible[-1].split()[0] == "dev29"
        await pilot.press("home")
        assert table.cursor_row == 0 and table.scroll_y == 0
        await pilot.press("up")  # at the top: stays
        assert table.cursor_row == 0
        await pilot.press("enter")
        assert app.selected == [rows[0].target]


async def test_table_click_highlights_then_chooses() -> None:
    rows = _rows(5)
    app = TableApp(rows)
    async with app.run_test(size=(60, 10)) as pilot:
        await pilot.pause()
        table = app.query_one(SnapshotTable)
        await pilot.click(SnapshotTable, offset=(2, 3))  # screen line 3 = row 2
        assert table.cursor_row == 2 and app.selected == []
        await pilot.click(SnapshotTable, offset=(2, 3))
        assert app.selected == [rows[2].target]
        await pilot.click(SnapshotTable, offset=(2, 0))  # the header: nothing
        assert table.cursor_row == 2 and app.selected == [rows[2].target]


async def test_table_sync_redraws_only_changed_rows_and_keeps_the_cursor() -> None:
    rows = _rows(10)
    app = TableApp(rows)
    async with app.run_test(size=(60, 14)) as pilot:
        await pilot.pause()
        table = app.query_one(SnapshotTable)
        _screen_lines(table)
        kept = dict(table._lines)
        assert len(kept) >= 9  # every visible row but the cursor's is kept
        changed = list(rows)
        changed[5] = Row("k5", rows[5].target, ("dev5", "ns2", "down"))
        assert table.sync(changed) is None
        assert table.cell_updates == 1 and table.rebuilds == 1  # the first sync built it
        assert 5 not in table._lines and all(table._lines[i] is kept[i] for i in table._lines)
        assert _screen_lines(table)[6].split() == ["dev5", "ns2", "down"]
        # A changed set of rows: the cursor stays on its key; if the key is gone, on a neighbour.
        await pilot.press("down", "down", "down")
        assert table.current_row is not None and table.current_row.key == "k3"
        assert table.sync(_rows(1) + _rows(8, start=2)) is None  # k1 gone, k3 still there
        assert table.current_row is not None and table.current_row.key == "k3"
        fell = table.sync(_rows(3) + _rows(5, start=5))  # k3 gone
        assert fell is not None and table.current_row is not None
        assert table.current_row.key in ("k2", "k5")
        assert table.rebuilds == 3
        table.sync([])
        assert table.current_target is None and _screen_lines(table)[1].strip() == ""


async def test_details_pane_renders_once_per_change_and_rewraps_on_resize() -> None:
    snap = demo_snapshot()
    app, _ = make_app(snap)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        pane = app.main_query(DetailsPane)
        await wait_for(pilot, lambda: pane.renders > 0 and pane._width > 0)
        strips = pane._strips
        narrow_width = pane._width
        first = _screen_lines(pane)
        assert any("inspect with" in line for line in pane_text(pane))
        # Repainting (no change) reuses the kept lines.
        pane.refresh()
        await pilot.pause()
        assert pane._strips is strips and _screen_lines(pane) == first
        # A wider terminal: the same content laid out again at the new width.
        await pilot.resize_terminal(160, 40)
        await wait_for(pilot, lambda: pane._width != narrow_width)
        assert pane._strips is not strips and pane._width == pane.scrollable_content_region.width


def pane_text(pane: DetailsPane) -> list[str]:
    return [strip.text for strip in pane._strips]


async def test_details_pane_scrolls_and_starts_at_the_top_for_a_new_selection() -> None:
    snap = demo_snapshot()
    app, _ = make_app(snap, interval=60.0)
    async with app.run_test(size=(120, 20)) as pilot:
        await started(pilot)
        pane = app.main_query(DetailsPane)
        await wait_for(pilot, lambda: pane._width > 0)
        assert len(pane._strips) > pane.scrollable_content_region.height  # root namespace: long
        pane.focus()
        await pilot.press("pagedown")
        assert pane.scroll_y > 0
        app.main_query(TopologyTree).focus()
        await pilot.press("down")
        await wait_for(pilot, lambda: pane.target != Target.ns(snap.namespaces[0].inode) and pane.renders > 1)
        assert pane.scroll_y == 0


async def test_switching_views_keeps_the_tree_lines_and_details_need_no_layout() -> None:
    snap = demo_snapshot()
    app, _ = make_app(snap, interval=60.0)
    layouts: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        tree = app.main_query(TopologyTree)
        pane = app.main_query(DetailsPane)
        await pilot.press("2")
        await pilot.pause()
        lines_before = tree._tree_lines_cached
        assert lines_before is not None
        renders = pane.renders
        original = Widget.refresh

        def spy(self: Widget, *regions: Any, **kwargs: Any) -> Any:
            if kwargs.get("layout"):
                layouts.append(type(self).__name__)
            return original(self, *regions, **kwargs)

        Widget.refresh = spy  # type: ignore[method-assign]
        try:
            await pilot.press("1")
            await wait_for(pilot, lambda: tree.size.height > 0 and pane.renders > renders)
            await pilot.pause()
        finally:
            Widget.refresh = original  # type: ignore[method-assign]
        # The tree's line list survived being hidden and shown again (Tree's own resize handler
        # rebuilds it and lays out the whole screen again).
        assert tree._tree_lines_cached is lines_before
        assert "TopologyTree" in layouts  # shown again: the switch itself is one layout...
        # ...but the details pane showing the new selection asks for none (its scrollbar is fixed).
        assert pane.target == tree.current_target and "DetailsPane" not in layouts, layouts


async def test_table_grows_its_columns_when_a_cell_gets_longer() -> None:
    rows = _rows(3)
    app = TableApp(rows)
    async with app.run_test(size=(40, 8)) as pilot:
        await pilot.pause()
        table = app.query_one(SnapshotTable)
        width = table.virtual_size.width
        longer = [rows[0], Row("k1", rows[1].target, ("dev1", "a-namespace-with-a-long-name", "up")), rows[2]]
        table.sync(longer)
        assert table.rebuilds == 1  # same keys: no rebuild, but...
        assert table.virtual_size.width == width + len("a-namespace-with-a-long-name") - len("namespace")
        header = _screen_lines(table)[0]
        assert header.split()[:2] == ["device", "namespace"]
        await pilot.press("end")  # scrolling right shows the state column after the long cell
        table.scroll_to(x=table.virtual_size.width, animate=False, immediate=True)
        await pilot.pause()
        assert _screen_lines(table)[2].split()[-1] == "up"
