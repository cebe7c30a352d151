"""The details pane: everything known about the selection, re-rendered when it or the snapshot changes."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from vnettop.model import Snapshot
from vnettop.ui.details_content import details_title, render_details
from vnettop.ui.rates import RateTracker
from vnettop.ui.targets import Target


class DetailsPane(VerticalScroll):
    """A scrollable pane holding one Static; its border title names the selection."""

    can_focus = True

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.target: Target | None = None
        self.renders = 0
        self.content: RenderableType = ""
        self._lines = 0
        self._title: Text | None = None
        #: Whole lists (every device, process, FDB entry) for the current selection; `f` turns it on,
        #: selecting something else turns it off again (long lists are slow to draw on every move).
        self.full = False

    def compose(self) -> ComposeResult:
        yield Static("", id="details-body")

    def show_title(self, snap: Snapshot, target: Target | None) -> None:
        """Name the selection in the border at once (cheap); the body may follow a frame later."""
        title = details_title(snap, target)
        if title != self._title:  # the getter gives markup back, so compare with what was set
            self._title = title
            self.border_title = title

    def show(self, snap: Snapshot, target: Target | None, rates: RateTracker | None) -> None:
        """Show `target`. For the same target (a rates tick) only this pane is repainted, without a
        layout pass over the whole screen, unless the number of lines changed."""
        same = target == self.target and self.renders > 0
        if not same:
            self.full = False
        self.target = target
        self.show_title(snap, target)
        self.content = render_details(snap, target, rates, full=self.full)
        body = self.query_one("#details-body", Static)
        if not same:  # a new selection always gets a layout pass: no need to count its lines first
            body.update(self.content, layout=True)
            self._lines = -1
        else:
            lines = len(self.app.console.render_lines(self.content, self.app.console.options.update_width(
                max(1, body.content_region.width or 40)), pad=False))
            body.update(self.content, layout=lines != self._lines)
            self._lines = lines
        self.renders += 1
