"""A table of keyed rows for the bridges, veth, tun/tap, namespaces and events views.

Drawn line by line (Textual's line API): each row is one Rich Text laid out at the column widths and
kept as a ready line until its cells change, so showing the view, moving the cursor or scrolling
draws only the lines on screen from kept lines. (Textual's DataTable, used first, renders every cell
through Rich again after each focus change and measures every cell on `add_row`: 40-70 ms to show the
bridges view at 200 namespaces, more to rebuild the 800-row veth table.)

`sync` compares new rows with what is shown: same keys in the same order -> only the rows whose cells
changed are redrawn; otherwise the rows are replaced and the cursor stays on the same key (or its nearest
surviving neighbour), the scroll position kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from vnettop.ui.rows import Row
from vnettop.ui.targets import Target, nearest_survivor
from vnettop.ui.widgets.lines import set_virtual_size

#: Blank cells left and right of every cell.
PAD = 1


class _RowMessage(Message):
    """A message about one row of a table: the table and the row's target."""

    def __init__(self, table: SnapshotTable, target: Target | None) -> None:
        super().__init__()
        self.table = table
        self.target = target

    @property
    def control(self) -> SnapshotTable:
        return self.table


class SnapshotTable(ScrollView, can_focus=True):
    """One table view: a fixed header line, then one line per row; rows carry the Target the details
    pane and jumps use."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Select", show=False),
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "Top", show=False),
        Binding("end", "last", "Bottom", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {"snapshot-table--header", "snapshot-table--cursor"}

    DEFAULT_CSS = """
    SnapshotTable {
        background: $surface;
        color: $foreground;
        & > .snapshot-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .snapshot-table--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .snapshot-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .snapshot-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
    }
    """

    class RowHighlighted(_RowMessage):
        """The cursor moved onto a row (also when the rows under it were replaced)."""

    class RowSelected(_RowMessage):
        """`enter` (or a click on the highlighted row) chose a row."""

    #: Called before the next frame when the cursor is put on a row (the app names its target).
    cursor_moved: Callable[[], None] | None = None

    def __init__(self, columns: Sequence[str], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._header = tuple(Text(name) for name in columns)
        self._rows: list[Row] = []
        self._by_key: dict[str, Row] = {}
        self._widths = [cell.cell_len for cell in self._header]
        self._row_widths: dict[str, tuple[Row, list[int]]] = {}  # key -> (row, its cells' widths)
        self._lines: dict[int, Strip] = {}  # row index -> its line (without the cursor's style)
        self._header_line: Strip | None = None
        self._styles: tuple[Style, Style, Style] | None = None  # base, header, cursor
        self.cursor_row = 0
        self.rebuilds = 0
        self.cell_updates = 0

    # -- what is shown -------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._rows)

    def get_row_at(self, index: int) -> tuple[Text, ...]:
        """The cells of the row at `index` (as Text)."""
        return tuple(cell if isinstance(cell, Text) else Text(cell) for cell in self._rows[index].cells)

    def row_at(self, index: int) -> Row | None:
        return self._rows[index] if 0 <= index < len(self._rows) else None

    @property
    def current_row(self) -> Row | None:
        if not 0 <= self.cursor_row < len(self._rows):
            return None
        return self._rows[self.cursor_row]

    @property
    def current_target(self) -> Target | None:
        row = self.current_row
        return row.target if row is not None else None

    def row_for(self, key: str) -> Row | None:
        return self._by_key.get(key)

    def has(self, target: Target) -> bool:
        return any(row.target == target for row in self._rows)

    def select_target(self, target: Target) -> bool:
        for i, row in enumerate(self._rows):
            if row.target == target:
                self.move_cursor(i)
                return True
        return False

    # -- feeding -------------------------------------------------------------------------------

    def sync(self, rows: list[Row]) -> Target | None:
        """Show `rows`; returns the target the cursor fell back to if its own row vanished."""
        old_rows = self._rows
        same_keys = len(rows) == len(old_rows) and all(
            a.key == b.key for a, b in zip(old_rows, rows, strict=True))
        widths = self._measure(rows)
        if widths != self._widths:
            self._widths = widths
            self._lines.clear()
            self._header_line = None
            self._resize()
            self.refresh()
        if same_keys:
            for i, (old, new) in enumerate(zip(old_rows, rows, strict=True)):
                if old is not new and old.cells != new.cells:
                    self._lines.pop(i, None)
                    self.cell_updates += 1
                    self._refresh_row(i)
            self._rows = rows
            self._by_key = {r.key: r for r in rows}
            return None
        before = self.current_row
        old_keys = [r.key for r in old_rows]
        self._rows = rows
        self._by_key = {r.key: r for r in rows}
        self._lines.clear()
        self.rebuilds += 1
        self._resize()
        self.refresh()
        fell_back: Target | None = None
        index = {r.key: i for i, r in enumerate(rows)}
        key = before.key if before is not None else None
        if key is not None and key not in index:
            key = nearest_survivor(old_keys, key, index)
            fell_back = self._by_key[key].target if key in self._by_key else None
        self._set_cursor(index.get(key, 0) if key is not None else 0, announce=True)
        return fell_back

    def _measure(self, rows: list[Row]) -> list[int]:
        """Column widths: the widest cell of each column (a row handed over again as the same object,
        as the veth table's builder does for unchanged pairs, is not measured again)."""
        widths = [cell.cell_len for cell in self._header]
        known = self._row_widths
        fresh: dict[str, tuple[Row, list[int]]] = {}
        for row in rows:
            kept = known.get(row.key)
            if kept is not None and kept[0] is row:
                own = kept[1]
            else:
                measured = row.cells[:row.spill]  # a spilled text widens no column
                own = [cell.cell_len if isinstance(cell, Text) else len(cell) for cell in measured]
            fresh[row.key] = (row, own)
            for i, n in enumerate(own[:len(widths)]):
                if n > widths[i]:
                    widths[i] = n
        self._row_widths = fresh
        return widths

    def _resize(self) -> None:
        width = sum(w + 2 * PAD for w in self._widths)
        set_virtual_size(self, Size(width, len(self._rows) + 1))

    # -- cursor --------------------------------------------------------------------------------

    def move_cursor(self, row: int) -> None:
        """Put the cursor on `row` (clamped), scroll it into view and announce the new row."""
        self._set_cursor(row, announce=True)

    def _set_cursor(self, row: int, announce: bool) -> None:
        row = max(0, min(row, len(self._rows) - 1))
        if row != self.cursor_row:
            self._refresh_row(self.cursor_row)
            self.cursor_row = row
            self._refresh_row(row)
        self._cursor_into_view()
        if announce and self._rows:
            if self.cursor_moved is not None:
                self.cursor_moved()  # before the frame that draws the move (see TopologyTree's)
            self.post_message(self.RowHighlighted(self, self.current_target))

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _on_resize(self, event: events.Resize) -> None:
        """A shorter table (the details pane shown under it) keeps its cursor row in view."""
        self.call_after_refresh(self._cursor_into_view)

    def _cursor_into_view(self) -> None:
        top = round(self.scroll_y)
        page = self._page()
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row >= top + page:
            self.scroll_to(y=self.cursor_row - page + 1, animate=False, immediate=True)

    def action_cursor_up(self) -> None:
        self.move_cursor(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor_row + 1)

    def action_page_up(self) -> None:
        self.move_cursor(self.cursor_row - self._page())

    def action_page_down(self) -> None:
        self.move_cursor(self.cursor_row + self._page())

    def action_first(self) -> None:
        self.move_cursor(0)

    def action_last(self) -> None:
        self.move_cursor(len(self._rows) - 1)

    def action_select_cursor(self) -> None:
        if self._rows:
            self.post_message(self.RowSelected(self, self.current_target))

    def on_click(self, event: events.Click) -> None:
        """A click highlights a row; a click on the highlighted row chooses it (like `enter`)."""
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return
        row = round(self.scroll_y) + offset.y - 1
        if not 0 <= row < len(self._rows):
            return
        if row == self.cursor_row:
            self.action_select_cursor()
        else:
            self.move_cursor(row)

    # -- drawing -------------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        """Focus and theme changes restyle the header and the cursor line: drop the kept styles."""
        super().notify_style_update()
        self._styles = None
        self._header_line = None
        self._lines.clear()
        self.refresh()

    def _refresh_row(self, index: int) -> None:
        self.refresh_line(index + 1)  # the header is virtual line 0

    def _line_styles(self) -> tuple[Style, Style, Style]:
        if self._styles is None:
            self._styles = (self.rich_style,
                            self.get_component_rich_style("snapshot-table--header"),
                            self.get_component_rich_style("snapshot-table--cursor"))
        return self._styles

    def _layout(self, cells: Sequence[str | Text], style: Style | None, spill: int | None = None) -> Strip:
        """One line: every cell padded to its column's width (cells from `spill` on run free), `style`
        over the whole line."""
        line = Text(end="", no_wrap=True)
        pad = " " * PAD
        fixed = cells[:spill] if spill is not None else cells
        for cell, width in zip(fixed, self._widths, strict=False):
            text = cell if isinstance(cell, Text) else Text(cell)
            if "\n" in text.plain:
                text = text.split("\n")[0]
            line.append(pad)
            line.append_text(text)
            line.append(" " * (width - text.cell_len + PAD))
        for cell in cells[len(fixed):]:
            text = cell if isinstance(cell, Text) else Text(cell)
            line.append(pad)
            line.append_text(text.split("\n")[0] if "\n" in text.plain else text)
        if style is not None:
            line.stylize(style)
        segments = [seg for seg in line.render(self.app.console) if seg.text]
        return Strip(segments, line.cell_len)

    def render_line(self, y: int) -> Strip:
        base, header, cursor = self._line_styles()
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        if y == 0:
            if self._header_line is None:
                self._header_line = self._layout(self._header, header)
            strip = self._header_line
        else:
            index = scroll_y + y - 1
            if index >= len(self._rows):
                return Strip.blank(width, base)
            if index == self.cursor_row:
                row = self._rows[index]
                strip = self._layout(row.cells, cursor, row.spill)
            else:
                kept = self._lines.get(index)
                if kept is None:
                    row = self._rows[index]
                    kept = self._lines[index] = self._layout(row.cells, None, row.spill)
                strip = kept
        return strip.crop_extend(scroll_x, scroll_x + width, base).apply_style(base)

