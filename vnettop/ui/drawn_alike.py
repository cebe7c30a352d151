"""Which parts of the details pane will draw the very same lines as last time: a key per part (pure).

Why: the pane of a selected device is drawn again on every refresh, for its counters, but its counters
are one part of ~six (the device's facts, its owner, its bridge or tun, the commands to inspect it);
laying out every grid again with Rich cost ~3 ms of each tick's ~7 on the UI thread at 200 namespaces.
A part whose key equals the last drawing's key at the same width is not laid out again: its lines are
reused (`widgets.details.DetailsPane`).

The key of a part is what it draws, never a guess: a Text's characters, spans and settings; a fact grid
(`FactGrid`, whose columns are fixed when it is made) the keys of its cells as they are when it is drawn,
in order; what a `KeyedDrawing` says (a command block: its commands). A part of any other kind, or
holding a cell without a key, has none and is drawn every time; a content with a part that does not end
its own last line (`separable`) is drawn whole.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from rich.table import Table
from rich.text import Text


class KeyedDrawing:
    """A renderable of this project's own that says what it draws (`drawing_key`), by subclassing this."""

    def drawing_key(self) -> Hashable:
        raise NotImplementedError


class FactGrid(Table):
    """The details pane's two-column grid of facts (`labels.fact_grid` makes it), which keeps the cells
    given to it for `drawing_key` (their keys are taken when it is drawn, so a cell changed after it was
    added counts). Its columns and settings are those `fact_grid` gives it: once made, a setting changed,
    a column added, or a row of another width or with settings of its own makes it keyless (drawn every
    time)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.cell_rows: list[tuple[Any, ...]] | None = []
        self._made = False  # (until `fact_grid` has added its columns)
        super().__init__(*args, **kwargs)

    def __setattr__(self, name: str, value: Any) -> None:
        if name != "cell_rows" and getattr(self, "_made", False):
            object.__setattr__(self, "cell_rows", None)
        super().__setattr__(name, value)

    def made(self) -> FactGrid:
        self._made = True
        return self

    def add_column(self, *args: Any, **kwargs: Any) -> None:
        if self._made:
            self.cell_rows = None
        super().add_column(*args, **kwargs)

    def add_row(self, *renderables: Any, **kwargs: Any) -> None:
        if self.cell_rows is not None:
            if kwargs or len(renderables) != len(self.columns):
                self.cell_rows = None
            else:
                self.cell_rows.append(renderables)
        super().add_row(*renderables, **kwargs)


def separable(part: object) -> bool:
    """Whether `part` ends its last line itself, so that laid out alone it draws what it draws within a
    Group (a Text with another `end` would run on into the next part's first line)."""
    if isinstance(part, Text):
        return part.end == "\n"
    return isinstance(part, (str, Table, KeyedDrawing))


def drawing_key(part: object) -> Hashable | None:
    """A value two parts share only if they draw the same lines at any width; None if not known."""
    if isinstance(part, str):
        return ("str", part)
    if type(part) is Text:
        try:
            hash(part.style)
            spans = tuple(part.spans)
            hash(spans)
        except TypeError:  # (a style that is not hashable: drawn every time)
            return None
        return ("text", part.plain, spans, part.style, part.justify, part.overflow, part.no_wrap, part.end,
                part.tab_size)
    if type(part) is FactGrid:
        rows = part.cell_rows
        if rows is None:
            return None
        keys = tuple(tuple(drawing_key(cell) for cell in row) for row in rows)
        return None if any(None in row for row in keys) else ("grid", keys)
    if isinstance(part, KeyedDrawing):
        return (type(part).__qualname__, part.drawing_key())
    return None
