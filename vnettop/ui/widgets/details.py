"""The details pane: everything known about the selection, drawn from lines rendered once per change.

The content (a Rich renderable from `details_content`) is rendered to lines once, when the selection or
the snapshot changes or the pane's width does, and kept; scrolling and repaints only copy kept lines, and
a new rendering of as many lines repaints only the lines that differ. A rendering lays out again only the
parts that draw something else than last time (`drawn_alike`): on a counters tick, the counters.
A `Static` in a scrolling container (the first version) rendered the whole renderable again to measure
its height, again to draw it, and asked for a layout of the whole screen whenever its height changed:
on a bridge with a long forwarding database that was 30-60 ms of every cursor move and view switch.
Here an update costs one render of the content, and never a layout pass outside this pane.
"""

from __future__ import annotations

from collections.abc import Hashable

from rich.console import Group, RenderableType
from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from vnettop.model import Snapshot
from vnettop.ui.details_content import details_title, render_details
from vnettop.ui.drawn_alike import drawing_key, separable
from vnettop.ui.rates import RateTracker
from vnettop.ui.targets import Target
from vnettop.ui.widgets.lines import set_virtual_size


class DetailsPane(ScrollView, can_focus=True):
    """A scrollable view of pre-rendered lines; its border title names the selection."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.target: Target | None = None
        self.renders = 0
        self.content: RenderableType = ""
        self._title: Text | None = None
        self._strips: list[Strip] = []
        self._width = -1  # the width `_strips` were rendered at (-1: not yet)
        #: The last drawing's parts that had a key, by (key, width): their lines (`_drawn`).
        self._parts: dict[tuple[Hashable, int], list[Strip]] = {}
        #: Whole lists (every device, process, FDB entry) for the current selection; `f` turns it on,
        #: selecting something else turns it off again (long lists are slow to draw on every move).
        self.full = False
        self._other_key: str | None = None  # what `show_other` shows (None: a target, or nothing)

    # -- feeding -----------------------------------------------------------------------------------

    def show_title(self, snap: Snapshot, target: Target | None) -> None:
        """Name the selection in the border at once (cheap); the body may follow a frame later."""
        title = details_title(snap, target)
        if title != self._title:  # the getter gives markup back, so compare with what was set
            self._title = title
            self.border_title = title

    def show(self, snap: Snapshot, target: Target | None, rates: RateTracker | None) -> None:
        """Show `target`: a new selection starts at the top; the same one (a rates tick) keeps the
        scroll position."""
        same = target == self.target and self.renders > 0 and self._other_key is None
        self._other_key = None
        if not same:
            self.full = False
        self.target = target
        self.show_title(snap, target)
        self.content = render_details(snap, target, rates, full=self.full)
        self._render_content()
        if not same:
            self.scroll_to(y=0, animate=False, immediate=True)
        self.renders += 1

    def show_other(self, title: Text, content: RenderableType, key: str | None = None) -> None:
        """Show something that is not an object of a snapshot (a fleet file's host row). `key` names
        it: the same key again keeps the scroll position and `full`, as `show` does for a target."""
        same = key is not None and key == self._other_key
        if not same:
            self.full = False
        self._other_key = key
        self.target = None
        if title != self._title:
            self._title = title
            self.border_title = title
        self.content = content
        self._render_content()
        if not same:
            self.scroll_to(y=0, animate=False, immediate=True)
        self.renders += 1

    # -- drawing -----------------------------------------------------------------------------------

    def _text_width(self) -> int:
        return self.scrollable_content_region.width

    def _render_content(self) -> None:
        """Render the content into lines at the current width (later, on the first resize, if the pane
        has no size yet)."""
        width = self._text_width()
        if width <= 0:
            self._width = -1
            return
        strips = self._drawn(width)
        before, self._strips = self._strips, strips
        if width == self._width and len(strips) == len(before):
            # The same selection a tick later, as a rule: only its counters' lines changed. Repainting
            # only those spares drawing and sending the whole pane every second (a device's pane is
            # ~35 lines; its rates and totals are 4-6 of them).
            for y, (old, new) in enumerate(zip(before, strips, strict=True)):
                if old != new:
                    self.refresh_line(y)
            return
        self._width = width
        set_virtual_size(self, Size(width, len(strips)))
        self.refresh()

    def _drawn(self, width: int) -> list[Strip]:
        """The content's lines at `width`: each part of a Group laid out on its own, and a part that draws
        what the same part drew last time at this width (`drawn_alike.drawing_key`) not laid out again
        (a rates tick lays out the counters' grid, not the device's facts, owner and commands)."""
        console = self.app.console
        options = console.options.update_width(width)
        content = self.content
        parts = content.renderables if isinstance(content, Group) else [content]
        if not all(map(separable, parts)):  # (a part that runs on into the next: the Group whole)
            self._parts = {}
            return [Strip(line) for line in console.render_lines(content, options, pad=False)]
        kept, self._parts = self._parts, {}
        strips: list[Strip] = []
        for part in parts:
            key = drawing_key(part)
            drawn = kept.get((key, width)) if key is not None else None
            if drawn is None:
                drawn = [Strip(line) for line in console.render_lines(part, options, pad=False)]
            if key is not None:
                self._parts[(key, width)] = drawn
            strips += drawn
        return strips

    def on_resize(self, event: events.Resize) -> None:
        if self._text_width() != self._width:
            self._render_content()

    def render_line(self, y: int) -> Strip:
        width = self._text_width()
        style = self.rich_style
        index = y + self.scroll_offset.y
        if not 0 <= index < len(self._strips):
            return Strip.blank(width, style)
        return self._strips[index].crop_extend(0, width, style).apply_style(style)
