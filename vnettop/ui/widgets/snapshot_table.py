"""A DataTable fed with keyed rows, for the bridges, veth, tun/tap, namespaces and events views.

`sync` compares the new rows with what is shown: same keys in the same order -> only changed cells
are written (a refresh that changes nothing costs nothing); otherwise the table is rebuilt and the cursor
goes back to the same key (or its nearest surviving neighbour) and the scroll position is kept.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.widgets import DataTable

from vnettop.ui.rows import Cell, Row
from vnettop.ui.targets import Target, nearest_survivor


class SnapshotTable(DataTable[Cell]):
    """One table view; rows carry the Target the details pane and jumps use."""

    def __init__(self, columns: Sequence[str], **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)  # type: ignore[arg-type]
        self._column_names = tuple(columns)
        self._rows: list[Row] = []
        self._by_key: dict[str, Row] = {}
        self.rebuilds = 0
        self.cell_updates = 0

    def on_mount(self) -> None:
        for i, name in enumerate(self._column_names):
            self.add_column(name, key=f"c{i}")

    # -- what is selected ----------------------------------------------------------------------

    @property
    def current_row(self) -> Row | None:
        if not self._rows or not 0 <= self.cursor_row < len(self._rows):
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
                self.move_cursor(row=i, animate=False)
                return True
        return False

    # -- feeding -----------------------------------------------------------------------------------

    def sync(self, rows: list[Row]) -> Target | None:
        """Show `rows`; returns the target the cursor fell back to if its own row vanished."""
        keys = [r.key for r in rows]
        if keys == [r.key for r in self._rows]:
            for old, new in zip(self._rows, rows, strict=False):
                if old.cells != new.cells:
                    for i, (a, b) in enumerate(zip(old.cells, new.cells, strict=False)):
                        if a != b:
                            self.update_cell(new.key, f"c{i}", b)
                            self.cell_updates += 1
            self._rows = rows
            self._by_key = {r.key: r for r in rows}
            return None
        before = self.current_row
        old_keys = [r.key for r in self._rows]
        scroll_y = self.scroll_y
        self.clear()
        for row in rows:
            self.add_row(*row.cells, key=row.key)
        self._rows = rows
        self._by_key = {r.key: r for r in rows}
        self.rebuilds += 1
        if before is None:
            return None
        index = {k: i for i, k in enumerate(keys)}
        fell_back: Target | None = None
        key = before.key
        if key not in index:
            key = nearest_survivor(old_keys, key, index) or ""
            fell_back = self._by_key[key].target if key in self._by_key else None
        self.scroll_to(y=scroll_y, animate=False, immediate=True)
        if key in index:
            self.move_cursor(row=index[key], animate=False)
        return fell_back

